"""The faust worker: a thin agent around `process_raw_activity`.

Delivery: faust `at_least_once` with `concurrency=1` (faust-streaming #606 loses messages with more). Sends made
while handling a message are flushed by faust before it commits that message's offset, so a crash re-reads
rather than loses; the deterministic `event_id` makes the re-read harmless downstream.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import faust

from learnstream.settings import Settings
from schemas.dead_letter import DeadLetterReason
from streams.processing import (
    Classified,
    MessageOrigin,
    Rejected,
    dead_letter,
    failure_detail,
    process_raw_activity,
)

logger = logging.getLogger(__name__)


def create_app(settings: Settings) -> faust.App:
    """Build the faust app and its agent for the configured broker and topics."""
    topics = settings.topics.names
    app = faust.App(
        settings.worker.app_id,
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
        broker_commit_interval=settings.worker.commit_interval_s,
        broker_session_timeout=settings.worker.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.worker.session_timeout_s / 3),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=settings.worker.producer_linger_ms / 1000,
    )
    raw_topic = app.topic(topics.activity_raw, key_type=bytes, value_type=bytes)
    events_topic = app.topic(topics.learning_events, key_type=bytes, value_type=bytes)
    dlq_topic = app.topic(topics.activity_dlq, key_type=bytes, value_type=bytes)

    async def classify_activities(stream: Any) -> None:
        """Classify each raw activity; send the learning event on, or the dead letter aside. Never raises."""
        async for event in stream.events():
            message = event.message
            origin = MessageOrigin(message.topic, message.partition, message.offset, message.key)
            now = datetime.now(UTC)
            try:
                outcome = process_raw_activity(message.value, origin, now)
            except Exception as exc:  # a bug in a rule must not stop the stream: the message goes aside
                logger.exception("unexpected error at %s[%d]@%d", origin.topic, origin.partition, origin.offset)
                reason = DeadLetterReason.PROCESSING_ERROR
                outcome = Rejected(dead_letter(origin, message.value or b"", reason, failure_detail(exc), now))
            if isinstance(outcome, Classified):
                # keyed by conversation whatever the raw key was, so a thread's events share a partition downstream
                key = outcome.event.conversation_key.encode("utf-8")
                await events_topic.send(key=key, value=outcome.event.to_bytes())
            else:
                letter = outcome.dead_letter
                logger.warning(
                    "dead letter: %s at %s[%d]@%d: %s",
                    letter.reason.value,
                    origin.topic,
                    origin.partition,
                    origin.offset,
                    letter.detail,
                )
                await dlq_topic.send(key=message.key, value=letter.to_bytes())

    app.agent(raw_topic, name="classify_activities", concurrency=1)(classify_activities)
    return app
