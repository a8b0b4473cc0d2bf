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

Operations: every decision is counted (`DecisionCounters`), a timer keeps the consumer lag of the worker's group
on the raw topic current (`refresh_consumer_lag`), and `worker_readiness` says when the worker is ready; the
`worker` command serves them (learnstream/observability.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn

import faust
from aiokafka import AIOKafkaProducer

from learnstream.collection import freeze_what_exists, tune_for_throughput
from learnstream.consumer_lag import lag_messages
from learnstream.errors import BrokerUnavailable
from learnstream.kafka_security import faust_credentials
from learnstream.metrics import CONSUMER_LAG, WORKER_ACTIVITIES, WORKER_DEAD_LETTERS, WORKER_EVENTS
from learnstream.observability import Readiness
from learnstream.partitioning import MemoisedAiokafkaPartitioner
from learnstream.settings import Settings
from schemas.activity import SourceSystem
from schemas.dead_letter import DeadLetterReason
from schemas.headers import Headers, forwarded_headers, read_replay_of
from schemas.taxonomy import LearningCategory
from schemas.topics import Topics
from streams.classify import Classifier, load_classifier
from streams.processing import Classified, MessageOrigin, Outcome, Outgoing, Rejected, decide, route
from streams.thread_state import read_thread_entries
from streams.threads import ThreadMemory, entry_to_bytes

logger = logging.getLogger(__name__)

#: How long a shutdown that interrupts a batch waits for the batch's acknowledgements.
SHUTDOWN_ACK_TIMEOUT_S = 30.0
#: How often the consumer lag of the worker's group is measured (one offsets request to the broker each time).
LAG_REFRESH_INTERVAL_S = 5.0
#: The source an activity is counted under when its message names none the worker knows (it could not be parsed).
UNKNOWN_SOURCE = "unknown"


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
    tune_for_throughput()

    async def freeze_startup_objects() -> None:
        freeze_what_exists()

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


class DecisionCounters:
    """The worker's per-message counters: activities read by source, events written by category, dead letters by
    reason. Every label's child is bound once here, since `.labels(...)` per message costs four times an `inc()`."""

    def __init__(self) -> None:
        self.activities = {source.value: WORKER_ACTIVITIES.labels(source.value) for source in SourceSystem}
        self.activities[UNKNOWN_SOURCE] = WORKER_ACTIVITIES.labels(UNKNOWN_SOURCE)
        self.events = {category.value: WORKER_EVENTS.labels(category.value) for category in LearningCategory}
        self.dead_letters = {reason.value: WORKER_DEAD_LETTERS.labels(reason.value) for reason in DeadLetterReason}

    def count(self, outcome: Outcome) -> None:
        """Count one decided message: its activity, and the learning event or the dead letter it became."""
        if isinstance(outcome, Classified):
            self.activities[outcome.event.source].inc()
            self.events[outcome.event.category].inc()
        else:
            letter = outcome.dead_letter
            self.activities[letter.source_system or UNKNOWN_SOURCE].inc()
            self.dead_letters[letter.reason].inc()


#: The counters of this process (Prometheus metrics are process-wide).
DECISIONS = DecisionCounters()


def outgoing_for(
    message: Any,
    topics: Topics,
    now: datetime,
    classifier: Classifier,
    threads: ThreadMemory,
    counters: DecisionCounters = DECISIONS,
) -> tuple[Outgoing, Headers | None, Outgoing | None]:
    """The record the worker writes for a raw message it read, the headers it carries on, and the thread-state
    record when the message changed what the worker remembers of its thread; never raises on input."""
    origin = MessageOrigin(message.topic, message.partition, message.offset, message.key)
    outcome = decide(message.value, origin, now, classifier, threads)
    counters.count(outcome)
    state = None
    if isinstance(outcome, Rejected):
        if (replay_of := read_replay_of(message.headers)) is not None:  # failed again after `dlq replay`
            outcome = Rejected(outcome.dead_letter.model_copy(update={"replay_of": replay_of}))
        log_dead_letter(outcome)
    elif (entry := threads.remember(outcome.event)) is not None:
        key = outcome.event.conversation_key.encode("utf-8")
        state = Outgoing(topics.thread_state, key, entry_to_bytes(entry))
    return route(outcome, topics, message.key), forwarded_headers(message.headers), state


def worker_readiness(app: faust.App) -> Readiness:
    """Ready ("") once faust has assigned the worker its partitions (an empty share of a group's partitions is an
    assignment too), until it stops; otherwise why not. Called on the endpoint's thread."""
    assigned = threading.Event()

    def on_partitions_assigned(sender: Any, /, *_: Any, signal: Any, **__: Any) -> None:
        assigned.set()

    app.on_partitions_assigned.connect(on_partitions_assigned)

    def readiness() -> str:
        if app.should_stop:
            return "the worker is stopping"
        if not assigned.is_set():
            return "waiting for the broker to assign the worker its partitions of the raw topic"
        return ""

    return readiness


def committed_offsets(consumer: Any) -> Mapping[Any, int | None]:
    """The offsets faust last committed for the worker's group (or read back at assignment), by partition.

    faust-streaming 0.15 keeps them only in its consumer's `_committed_offset`; this is the one place that reads
    it, and tests/integration/test_worker_metrics.py fails first if an upgrade moves it.
    """
    offsets = getattr(consumer, "_committed_offset", None)
    if not isinstance(offsets, Mapping):
        raise TypeError(f"faust's {type(consumer).__name__} does not expose its committed offsets")
    return offsets


async def refresh_consumer_lag(app: faust.App, topic: str, shown: set[tuple[str, str, str]]) -> None:
    """Set the lag of the worker's group on each partition of `topic` it is assigned (`lag_messages`: the end
    offset minus the group's committed offset, or its earliest offset when it committed none yet). Partitions the
    worker no longer holds are dropped from `shown`, the label sets it set before, and from the gauge."""
    consumer = app.consumer
    partitions = [tp for tp in consumer.assignment() if tp.topic == topic]
    current: set[tuple[str, str, str]] = set()
    if partitions:
        ends = await consumer.highwaters(*partitions)
        committed = committed_offsets(consumer)
        uncommitted = [tp for tp in partitions if not committed.get(tp)]
        earliest = await consumer.earliest_offsets(*uncommitted) if uncommitted else {}
        for tp in partitions:
            labels = (app.conf.id, tp.topic, str(tp.partition))
            CONSUMER_LAG.labels(*labels).set(lag_messages(ends[tp], committed.get(tp), earliest.get(tp, 0)))
            current.add(labels)
    for labels in shown - current:
        CONSUMER_LAG.remove(*labels)
    shown.clear()
    shown.update(current)


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
    lag_shown: set[tuple[str, str, str]] = set()

    @app.timer(interval=LAG_REFRESH_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def measure_consumer_lag() -> None:
        """Keep learnstream_consumer_lag_messages current; a failed measurement is logged, never fatal."""
        try:
            await refresh_consumer_lag(app, topics.activity_raw, lag_shown)
        except Exception as exc:  # the broker or a rebalance got in the way: the next tick measures again
            logger.warning("consumer lag not measured: %r", exc)

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
