"""The faust worker: a thin agent around `decide`, handling activities in batches.

Delivery: faust `at_least_once` with `concurrency=1` (faust-streaming #606 loses messages with more). The agent
takes up to `batch_size` messages (or what arrived within `batch_within_s`), hands every learning event and
dead letter of the batch to the producer at once, and waits until the broker has acknowledged all of them
before it asks for the next batch. `take_events` acks a batch's messages only when the agent asks for the next
one, and faust commits only acked offsets, so no offset is committed before its outputs are durable: a crash
re-reads rather than loses, and the deterministic `event_id` makes the re-read harmless downstream.

Sends go straight to the aiokafka producer faust started, rather than `Topic.send` or faust's `Producer.send`:
per message that skips faust's channel, future and callback machinery (which cost more than the classification
itself) and the wrapper's signal and `typing.Mapping` check of the headers.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from datetime import UTC, datetime
from typing import Any, NoReturn

import faust
from aiokafka import AIOKafkaProducer

from learnstream.errors import BrokerUnavailable
from learnstream.kafka_security import faust_credentials
from learnstream.partitioning import MemoisedAiokafkaPartitioner
from learnstream.settings import Settings
from schemas.headers import Headers, forwarded_headers
from schemas.topics import Topics
from streams.classify import Classifier, load_classifier
from streams.processing import MessageOrigin, Outgoing, Rejected, decide, route
from streams.thread_state import read_thread_entries
from streams.threads import ThreadMemory, entry_to_bytes

logger = logging.getLogger(__name__)

#: How long a shutdown that interrupts a batch waits for the batch's acknowledgements.
SHUTDOWN_ACK_TIMEOUT_S = 30.0
#: Allocations between young-generation collections. A worker allocates a few hundred objects per message, almost
#: all freed by reference counting; with CPython's default (700) the collector ran every few messages and took
#: about 5 % of the worker's CPU (1.3 s of 28 s for 150,000 activities; 0.1 s with this and the freeze below).
GC_GEN0_THRESHOLD = 50_000


def build_faust_app(settings: Settings) -> faust.App:
    """A faust app for the configured broker, with the worker's delivery and producer settings, and no agent."""
    worker = settings.worker
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)  # faust creates only the last level itself
    return faust.App(
        worker.app_id,
        broker=[f"kafka://{server}" for server in settings.kafka.bootstrap_servers.split(",")],
        broker_credentials=faust_credentials(settings.kafka),
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
        # the dead letter of the largest raw record must fit in one request
        producer_max_request_size=settings.topics.dlq_max_message_bytes,
    )


def tune_garbage_collection(app: faust.App) -> None:
    """For a worker process: collect young objects less often, and freeze what exists once the worker started.

    Frozen objects (modules, faust's services, settings) are never scanned again; only the process's entry point
    calls this, since it changes the whole process.
    """
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 10)

    async def freeze_startup_objects() -> None:
        gc.freeze()

    app.on_startup_finished = freeze_startup_objects


def aiokafka_producer(app: faust.App) -> AIOKafkaProducer:
    """The started aiokafka producer under faust's producer: the one the worker's sends go to.

    faust-streaming 0.15 hands it out only through its driver's `_ensure_producer` (which raises faust's
    `NotReady` before the producer started); this is the one place that reaches for it, and the worker's
    integration tests fail here first if an upgrade moves it.
    """
    producer = getattr(app.producer, "_ensure_producer", None)
    if producer is None:
        raise TypeError(f"faust's {type(app.producer).__name__} does not expose its aiokafka producer")
    underlying = producer()
    if not isinstance(underlying, AIOKafkaProducer):
        raise TypeError(f"faust's producer runs a {type(underlying).__name__}, not an AIOKafkaProducer")
    return underlying


async def acknowledged(deliveries: list[asyncio.Future[Any]]) -> None:
    """Wait until the broker acknowledged every send; a failed one stops the worker before anything is committed."""
    await all_done(deliveries)
    failed = [future for future in deliveries if future.cancelled() or future.exception() is not None]
    if failed:
        first = "cancelled" if failed[0].cancelled() else repr(failed[0].exception())
        stop_without_commit(f"the broker did not acknowledge {len(failed)} of {len(deliveries)} sends: {first}")


async def all_done(futures: list[asyncio.Future[Any]]) -> None:
    """Return once every future is done, without cancelling any of them if this wait is cancelled.

    One callback per pending future and one waiter: `asyncio.wait` costs several times more per future
    (measured: 7 % of the worker's samples for 1,000-message batches), and `gather` would cancel the
    deliveries when cancelled.
    """
    pending = [future for future in futures if not future.done()]
    if not pending:
        return
    waiter = asyncio.get_running_loop().create_future()
    remaining = len(pending)

    def one_done(_: asyncio.Future[Any]) -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0 and not waiter.done():
            waiter.set_result(None)

    for future in pending:
        future.add_done_callback(one_done)
    await waiter


def stop_without_commit(reason: str) -> NoReturn:
    """Exit at once, committing nothing: the batch is re-read on restart, never acknowledged unsent.

    faust acks a `take_events` batch whenever its generator closes, also when the agent failed or was
    cancelled half way through the batch, and then commits what was acked; so a batch whose outputs are not
    all acknowledged must end the process rather than return to faust.
    """
    logger.critical("%s; stopping without committing, the batch is processed again on restart", reason)
    logging.shutdown()
    os._exit(BrokerUnavailable.exit_code)


async def settle_on_cancel(deliveries: list[asyncio.Future[Any]], sent_all: bool) -> None:
    """On shutdown mid-batch: let the batch be acked only if it was wholly sent and is acknowledged in time."""
    if not sent_all:
        stop_without_commit("stopped while sending a batch")
    try:
        await asyncio.wait_for(all_done(deliveries), timeout=SHUTDOWN_ACK_TIMEOUT_S)
    except TimeoutError:
        stop_without_commit(f"sends still unacknowledged {SHUTDOWN_ACK_TIMEOUT_S:.0f} s into the shutdown")
    await acknowledged(deliveries)


def log_dead_letter(outcome: Rejected) -> None:
    """One warning per dead letter, with its reason and coordinates (never the message's content)."""
    letter = outcome.dead_letter
    logger.warning(
        "dead letter: %s at %s[%d]@%d: %s",
        letter.reason.value,
        letter.source_topic,
        letter.partition,
        letter.offset,
        letter.detail,
    )


def outgoing_for(
    message: Any, topics: Topics, now: datetime, classifier: Classifier, threads: ThreadMemory
) -> tuple[Outgoing, Headers | None, Outgoing | None]:
    """The record the worker writes for a raw message it read, the headers it carries on, and the thread-state
    record when the message changed what the worker remembers of its thread; never raises on input."""
    origin = MessageOrigin(message.topic, message.partition, message.offset, message.key)
    outcome = decide(message.value, origin, now, classifier, threads)
    state = None
    if isinstance(outcome, Rejected):
        log_dead_letter(outcome)
    elif (entry := threads.remember(outcome.event)) is not None:
        key = outcome.event.conversation_key.encode("utf-8")
        state = Outgoing(topics.thread_state, key, entry_to_bytes(entry))
    return route(outcome, topics, message.key), forwarded_headers(message.headers), state


def create_app(settings: Settings) -> faust.App:
    """Build the faust app and its classification agent for the configured broker and topics."""
    app = build_faust_app(settings)
    topics = settings.topics.names
    raw_topic = app.topic(topics.activity_raw, key_type=bytes, value_type=bytes)
    batch_size, within_s = settings.worker.batch_size, settings.worker.batch_within_s
    classifier = load_classifier(settings.classifier.vocabulary_files)
    logger.info("classifier %s", classifier.version)
    threads = ThreadMemory(settings.topics.thread_retention_ms / 1000, settings.worker.thread_max_entries)
    reload_threads = asyncio.Event()  # set: read the thread memory back before deciding the next batch
    reload_threads.set()

    def on_partitions_assigned(sender: Any, /, *_: Any, signal: Any, **__: Any) -> None:
        """Other partitions bring threads another worker remembered: read the memory back first."""
        reload_threads.set()

    app.on_partitions_assigned.connect(on_partitions_assigned)

    async def read_threads_back() -> None:
        entries = await asyncio.get_running_loop().run_in_executor(
            None, read_thread_entries, settings.kafka, topics.thread_state
        )
        threads.replace(entries)
        logger.info("thread memory read back: %d question threads", len(threads))

    async def classify_activities(stream: Any) -> None:
        """Classify each raw activity; send the learning event on, or the dead letter aside. Never raises on input."""
        async for batch in stream.take_events(batch_size, within=within_s):
            now = datetime.now(UTC)
            deliveries: list[asyncio.Future[Any]] = []
            sent_all = False
            if reload_threads.is_set():
                reload_threads.clear()
                await read_threads_back()
            try:
                # the whole batch is decided before any of it is sent, so each loop's code stays warm in the CPU's
                # caches: in four alternating runs of 200,000 activities this used 1-17 % less CPU per message
                # (median 8 %) than deciding and sending each message in turn
                outgoing = [outgoing_for(event.message, topics, now, classifier, threads) for event in batch]
                producer = aiokafka_producer(app)
                for out, headers, state in outgoing:
                    deliveries.append(await producer.send(out.topic, out.value, key=out.key, headers=headers))
                    if state is not None:
                        deliveries.append(await producer.send(state.topic, state.value, key=state.key))
                sent_all = True
                await acknowledged(deliveries)
            except asyncio.CancelledError:
                await settle_on_cancel(deliveries, sent_all)
                raise
            except Exception as exc:  # the producer refused a send: nothing of this batch may be acked
                stop_without_commit(f"sending failed: {exc!r}")

    app.agent(raw_topic, name="classify_activities", concurrency=1)(classify_activities)
    return app
