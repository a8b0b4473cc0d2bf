"""Reprocessing: the raw topic decided again with the current classifier, its thread memory warmed first.

A reprocess reads every partition of `<ns>.activity.raw` from a warm-up start (the thread retention before the
first activity to decide again, so answers find their questions) to the end offsets it saw when it began. Records
before the decide-from point only feed the thread memory; records from it on become learning events of the
current classifier version, on the learning-event topic keyed by conversation as the worker writes them. Invalid
raw records were set aside when the worker first read them, so a reprocess counts and skips them. The live
worker's thread memory (`<ns>.thread.state`) is left alone.

Idempotent: a reprocess run twice, or stopped and run again, writes the same events (the same ids and version).
The warehouse keeps what a version decided (the warehouse issue keys events by version); an "active version"
setting decides what trends read, switched once a reprocess caught up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from learnstream.errors import BrokerUnavailable
from learnstream.kafka import make_producer, make_reader, partitions_of
from learnstream.progress import Progress
from learnstream.settings import Settings
from schemas.topics import Topics
from streams.classify import Classifier
from streams.processing import Classified, MessageOrigin, Outgoing, decide, route
from streams.threads import ThreadMemory

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawRecord:
    """One record of the raw topic, as a reprocess reads it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class ReprocessStats:
    """What a reprocess did."""

    warmed: int = 0  # read before the decide-from point, remembered only
    decided: int = 0  # written as learning events
    skipped: int = 0  # invalid raw records (set aside the first time)
    categories: dict[str, int] = field(default_factory=dict)


def reprocess_records(
    records: Iterable[RawRecord],
    decide_from: Mapping[int, int],
    classifier: Classifier,
    memory: ThreadMemory,
    topics: Topics,
    now: datetime,
    stats: ReprocessStats,
) -> Iterator[Outgoing]:
    """The learning events of the records at or after each partition's decide-from offset; every valid record feeds
    the thread memory, in the order given (a partition's order is its conversations' order)."""
    for record in records:
        origin = MessageOrigin(topics.activity_raw, record.partition, record.offset, record.key)
        outcome = decide(record.value, origin, now, classifier, memory)
        if not isinstance(outcome, Classified):
            stats.skipped += 1
            continue
        memory.remember(outcome.event)
        if record.offset < decide_from.get(record.partition, 0):
            stats.warmed += 1
            continue
        stats.decided += 1
        category = outcome.event.category.value
        stats.categories[category] = stats.categories.get(category, 0) + 1
        yield route(outcome, topics, record.key)


@dataclass(frozen=True)
class ReprocessPlan:
    """Where each partition is read from (warm-up), decided from, and read up to (its end when the plan was made)."""

    read_from: dict[int, int]
    decide_from: dict[int, int]
    end: dict[int, int]

    @property
    def records_to_read(self) -> int:
        """The offsets the plan reads, warm-up included (the records, unless compaction or transactions left gaps)."""
        return sum(max(0, end - self.read_from[partition]) for partition, end in self.end.items())


def plan_from_time(settings: Settings, since: datetime, warmup: timedelta) -> ReprocessPlan:
    """Decide from the first record at or after `since`; warm up from `warmup` before it."""
    topic = settings.topics.names.activity_raw
    reader = make_reader(settings.kafka, "reprocess-plan")
    try:
        partitions = raw_partitions(reader, topic)
        end = {tp.partition: offset for tp, offset in reader.end_offsets(partitions).items()}
        decide_from = offsets_at(reader, partitions, since, end)
        read_from = offsets_at(reader, partitions, since - warmup, end)
        return ReprocessPlan(read_from, decide_from, end)
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot plan the reprocess of {topic}: {exc}") from exc
    finally:
        reader.close()


def plan_from_offset(settings: Settings, offset: int, warmup: timedelta) -> ReprocessPlan:
    """Decide from `offset` in every partition; warm up from `warmup` before that record's time."""
    topic = settings.topics.names.activity_raw
    reader = make_reader(settings.kafka, "reprocess-plan")
    try:
        partitions = raw_partitions(reader, topic)
        end = {tp.partition: offset_ for tp, offset_ in reader.end_offsets(partitions).items()}
        oldest = {tp.partition: offset_ for tp, offset_ in reader.beginning_offsets(partitions).items()}
        decide_from = {p: min(max(offset, oldest[p]), end[p]) for p in end}
        read_from = {}
        for tp in partitions:
            first = record_time(reader, tp, decide_from[tp.partition], end[tp.partition])
            read_from[tp.partition] = (
                decide_from[tp.partition]
                if first is None
                else offsets_at(reader, [tp], first - warmup, end)[tp.partition]
            )
        return ReprocessPlan(read_from, decide_from, end)
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot plan the reprocess of {topic}: {exc}") from exc
    finally:
        reader.close()


def raw_partitions(reader: KafkaConsumer, topic: str) -> list[TopicPartition]:
    return partitions_of(
        reader,
        topic,
        f"the raw topic {topic} does not exist, or Kafka's ACLs hide it from this user: run `learnstream topics "
        "create`, or grant LEARNSTREAM_KAFKA__SASL_USERNAME READ and DESCRIBE on it (README: Kafka ACLs)",
    )


def offsets_at(
    reader: KafkaConsumer, partitions: list[TopicPartition], moment: datetime, end: Mapping[int, int]
) -> dict[int, int]:
    """The offset of each partition's first record at or after `moment` (its end when there is none)."""
    millis = max(0, int(moment.timestamp() * 1000))
    found = reader.offsets_for_times(dict.fromkeys(partitions, millis))
    return {tp.partition: (found[tp].offset if found.get(tp) else end[tp.partition]) for tp in partitions}


def record_time(reader: KafkaConsumer, tp: TopicPartition, offset: int, end: int) -> datetime | None:
    """The timestamp of the record at `offset` (None past the end)."""
    if offset >= end:
        return None
    reader.assign([tp])
    reader.seek(tp, offset)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for records in reader.poll(timeout_ms=500, max_records=1).values():
            return datetime.fromtimestamp(records[0].timestamp / 1000, UTC)
    raise BrokerUnavailable(f"no record arrived from {tp.topic}[{tp.partition}]@{offset} in 30 s")


def read_partition(settings: Settings, plan: ReprocessPlan, partition: int) -> Iterator[RawRecord]:
    """The raw records of one partition of the plan, from its read-from to its end offset."""
    topic = settings.topics.names.activity_raw
    if plan.read_from[partition] >= plan.end[partition]:
        return
    reader = make_reader(settings.kafka, "reprocess")
    try:
        tp = TopicPartition(topic, partition)
        reader.assign([tp])
        reader.seek(tp, plan.read_from[partition])
        deadline = time.monotonic() + 60
        while reader.position(tp) < plan.end[partition]:
            polled = reader.poll(timeout_ms=500, max_records=5000).get(tp, [])
            if polled:
                deadline = time.monotonic() + 60
            elif time.monotonic() > deadline:
                raise BrokerUnavailable(f"no record arrived from {topic}[{partition}] in 60 s")
            for record in polled:
                if record.offset >= plan.end[partition]:
                    break
                yield RawRecord(partition, record.offset, record.key, record.value)
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot read {topic}: {exc}") from exc
    finally:
        reader.close()


def run_reprocess(
    settings: Settings, plan: ReprocessPlan, classifier: Classifier, progress: Progress | None = None
) -> ReprocessStats:
    """Decide the plan's records again, partition by partition (a conversation lives in one partition, so each has
    its own thread memory), and write the events, waiting until the broker acknowledged every one of them;
    `progress` counts every record read."""
    stats = ReprocessStats()
    names = settings.topics.names
    failures: list[BaseException] = []
    producer = make_producer(settings.kafka, "reprocess", settings.producer)
    try:
        for partition in sorted(plan.end):
            memory = ThreadMemory(settings.topics.thread_retention_ms / 1000, settings.worker.thread_max_entries)
            records: Iterable[RawRecord] = read_partition(settings, plan, partition)
            if progress is not None:
                records = progress.track(records)
            now = datetime.now(UTC)
            for out in reprocess_records(records, plan.decide_from, classifier, memory, names, now, stats):
                producer.send(out.topic, key=out.key, value=out.value).add_errback(failures.append)
        producer.flush()
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot write the reprocessed events to {names.learning_events}: {exc}") from exc
    finally:
        producer.close()
    if failures:
        raise BrokerUnavailable(f"the broker did not acknowledge {len(failures)} reprocessed events: {failures[0]!r}")
    return stats
