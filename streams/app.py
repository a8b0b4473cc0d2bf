"""The faust worker: a thin agent around `decide`, handling activities in batches.

Delivery: faust `at_least_once` with `concurrency=1` (faust-streaming #606 loses messages with more). The agent
takes up to `batch_size` messages (or what arrived within `batch_within_s`), hands every learning event and
dead letter of the batch to the producer at once, and waits until the broker has acknowledged all of them
before it asks for the next batch. `take_events` acks a batch's messages only when the agent asks for the next
one, and faust commits only acked offsets, so no offset is committed before its outputs are durable: a crash
re-reads rather than loses, and the deterministic `event_id` makes the re-read harmless downstream.

Sends go through faust's underlying producer rather than `Topic.send`: per message that skips faust's
channel, future and callback machinery, which cost more than the classification itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import faust

from learnstream.partitioning import MemoisedAiokafkaPartitioner
from learnstream.settings import Settings
from schemas.headers import forwarded_headers
from streams.processing import MessageOrigin, Rejected, decide, route

logger = logging.getLogger(__name__)


def build_faust_app(settings: Settings, app_id: str | None = None) -> faust.App:
    """A faust app for the configured broker, with the worker's delivery and producer settings, and no agent."""
    worker = settings.worker
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)  # faust creates only the last level itself
    return faust.App(
        app_id or worker.app_id,
        broker=[f"kafka://{server}" for server in settings.kafka.bootstrap_servers.split(",")],
        processing_guarantee="at_least_once",
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        datadir=str(settings.data_dir / "faust"),  # faust's default is a folder in the working directory
        web_enabled=False,
        topic_partitions=settings.topics.partitions,
        topic_replication_factor=settings.topics.replication_factor,
        topic_disable_leader=True,
        broker_commit_interval=worker.commit_interval_s,
        broker_session_timeout=worker.session_timeout_s,
        broker_heartbeat_interval=min(3.0, worker.session_timeout_s / 3),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=worker.producer_linger_ms / 1000,
        producer_max_batch_size=worker.producer_batch_bytes,
        producer_partitioner=MemoisedAiokafkaPartitioner(settings.kafka.partitioner_cache_size),
    )


async def acknowledged(deliveries: list[Awaitable[Any]]) -> None:
    """Wait until the broker acknowledged every send; the first failure raises (and stops the worker uncommitted)."""
    if deliveries:
        await asyncio.gather(*deliveries)


def create_app(settings: Settings) -> faust.App:
    """Build the faust app and its classification agent for the configured broker and topics."""
    app = build_faust_app(settings)
    topics = settings.topics.names
    raw_topic = app.topic(topics.activity_raw, key_type=bytes, value_type=bytes)
    batch_size, within_s = settings.worker.batch_size, settings.worker.batch_within_s

    async def classify_activities(stream: Any) -> None:
        """Classify each raw activity; send the learning event on, or the dead letter aside. Never raises on input."""
        async for batch in stream.take_events(batch_size, within=within_s):
            now = datetime.now(UTC)
            deliveries: list[Awaitable[Any]] = []
            for event in batch:
                message = event.message
                origin = MessageOrigin(message.topic, message.partition, message.offset, message.key)
                outcome = decide(message.value, origin, now)
                if isinstance(outcome, Rejected):
                    letter = outcome.dead_letter
                    logger.warning(
                        "dead letter: %s at %s[%d]@%d: %s",
                        letter.reason.value,
                        origin.topic,
                        origin.partition,
                        origin.offset,
                        letter.detail,
                    )
                out = route(outcome, topics, message.key)
                headers = forwarded_headers(message.headers)
                deliveries.append(await app.producer.send(out.topic, out.key, out.value, None, None, headers))
            await acknowledged(deliveries)

    app.agent(raw_topic, name="classify_activities", concurrency=1)(classify_activities)
    return app
