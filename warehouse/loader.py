"""The loader: learning events from Kafka into ClickHouse, in batches, committing offsets only after the insert.

Polls add decoded rows to a pending batch until it holds `batch_size` rows or its oldest record has waited
`max_wait_s` (full batches under load, a bounded wait under a trickle: chDB pays tens of milliseconds per
insert whatever its size). Then: dead letters to their topic (flushed), one insert with a deterministic
deduplication token, and only then the offset commit. If the insert fails, nothing is committed: the consumer
seeks back to the batch start and tries again after a pause, so the loader never loses an event and never dies
of a warehouse outage. Rows are idempotent by event_id, so a re-delivered batch is harmless.

Prometheus metrics (learnstream/metrics.py): events stored, dead letters and events left out by reason, each
insert's rows and duration, failed inserts, the freshness of the newest stored event (warehouse/freshness.py) and,
when built with `lag_every_s` (as `from_settings` does), the group's consumer lag (learnstream/consumer_lag.py).

Inserts use clickhouse-connect's Native format, which a ClickHouse server and chDB both take: measured with
the bench, building rows plus a Native insert costs less per row than building and inserting JSONEachRow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError
from kafka import TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from pydantic import ValidationError

from learnstream.consumer_lag import ConsumerLag
from learnstream.errors import NothingToLoad
from learnstream.failpoints import failpoint
from learnstream.latency import LatencyHistogram
from learnstream.metrics import (
    LOADER_BATCH_ROWS,
    LOADER_DEAD_LETTERS,
    LOADER_DROPPED,
    LOADER_EVENTS,
    LOADER_INSERT_ERRORS,
    LOADER_INSERT_SECONDS,
)
from learnstream.settings import Settings
from schemas.dead_letter import DeadLetter, DeadLetterReason
from schemas.headers import read_replay_of, read_sent_at
from schemas.learning_event import LearningEvent
from warehouse.events_table import (
    COLUMNS,
    TABLE,
    batch_insert_token,
    days_touched,
    event_row,
    keep_item_times,
    replacing_ids,
    without_erased,
    without_expired,
)
from warehouse.freshness import FRESHNESS
from warehouse.rollup import mark_days

logger = logging.getLogger(__name__)

STAGE = "loader"
#: How often the loader refreshes its group's consumer lag (end offsets are a round-trip to the broker).
LAG_REFRESH_S = 5.0


@dataclass
class LoaderStats:
    """What a loader run did, for logs and tests."""

    polls: int = 0
    rows_inserted: int = 0
    batches_inserted: int = 0
    dead_letters: int = 0
    #: events of erased people dropped, and edits or deletions given their item's time
    erased_dropped: int = 0
    #: events older than the warehouse's retention, not stored
    expired_dropped: int = 0
    times_kept: int = 0
    insert_failures: int = 0
    commit_failures: int = 0
    partitions_seen: set[int] = field(default_factory=set)
    #: send time (connector) to insert returned, for rows whose record carries the sent-at header
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)


@dataclass(frozen=True)
class PartitionBatch:
    """The decoded rows of one partition from one poll, with the offsets they span."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    rows: list[list[Any]]
    sent_at: list[float] = field(default_factory=list)


def decode_records(
    topic: str, partition: int, records: list[Any], now: datetime
) -> tuple[PartitionBatch | None, list[DeadLetter]]:
    """Split one partition's records into insert rows and dead letters; pure, so it is tested without Kafka."""
    rows: list[list[Any]] = []
    letters: list[DeadLetter] = []
    sent_at: list[float] = []
    for record in records:
        try:
            event = LearningEvent.from_bytes(record.value or b"")
        except ValidationError as exc:
            letters.append(
                DeadLetter.for_message(
                    reason=DeadLetterReason.SCHEMA_INVALID,
                    detail=f"not a valid LearningEvent: {exc.errors()[0]['msg']} ({len(exc.errors())} problem(s))",
                    stage=STAGE,
                    topic=topic,
                    partition=partition,
                    offset=record.offset,
                    key=record.key,
                    value=record.value,
                    failed_at=now,
                    replay_of=read_replay_of(getattr(record, "headers", None)),
                )
            )
            continue
        rows.append(event_row(event, partition, record.offset))
        sent = read_sent_at(getattr(record, "headers", None))
        if sent is not None:
            sent_at.append(sent)
    if not records:
        return None, letters
    batch = PartitionBatch(topic, partition, records[0].offset, records[-1].offset, rows, sent_at)
    return batch, letters


class PendingBatch:
    """Decoded rows and dead letters polled but not yet stored, with each partition's offset span."""

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self.letters: list[DeadLetter] = []
        self.sent_at: list[float] = []
        self.spans: dict[tuple[str, int], tuple[int, int]] = {}
        self.records = 0
        self.oldest_polled_at: float | None = None

    def add(self, batch: PartitionBatch, letters: list[DeadLetter], polled_at: float) -> None:
        """Add one partition's decoded records from a poll."""
        self.rows.extend(batch.rows)
        self.letters.extend(letters)
        self.sent_at.extend(batch.sent_at)
        tp = (batch.topic, batch.partition)
        first, _ = self.spans.get(tp, (batch.first_offset, batch.last_offset))
        self.spans[tp] = (first, batch.last_offset)
        self.records += len(batch.rows) + len(letters)
        if self.oldest_polled_at is None:
            self.oldest_polled_at = polled_at

    def age(self, now: float) -> float:
        """Seconds since the oldest pending record was polled (0 when empty)."""
        return 0.0 if self.oldest_polled_at is None else now - self.oldest_polled_at


class EventLoader:
    """Consumes learning events and loads them into `<database>.learning_events`."""

    def __init__(
        self,
        consumer: Any,
        client: Any,
        database: str,
        dlq_producer: Any,
        dlq_topic: str,
        group_id: str,
        batch_size: int,
        poll_timeout_s: float,
        retry_backoff_s: float,
        max_wait_s: float = 0.0,
        poll_records: int | None = None,
        retention_days: int | None = None,
        cluster: str | None = None,
        lag_every_s: float | None = None,
    ) -> None:
        self.consumer = consumer
        self.client = client
        self.database = database
        self.dlq_producer = dlq_producer
        self.dlq_topic = dlq_topic
        self.group_id = group_id
        self.batch_size = batch_size
        self.max_wait_s = max_wait_s
        self.poll_records = poll_records or batch_size
        self.poll_timeout_s = poll_timeout_s
        self.retry_backoff_s = retry_backoff_s
        self.retention_days = retention_days
        #: on a cluster, inserts into the Distributed table reach the shards before the offsets are committed
        self.insert_settings: dict[str, Any] = {"insert_distributed_sync": 1} if cluster else {}
        self.stats = LoaderStats()
        self.pending = PendingBatch()
        #: pseudonyms of erased people (their events are never stored again); kept current by the upkeep
        self.erased: frozenset[str] = frozenset()
        #: the group's lag on the partitions this consumer holds, refreshed from the polling loop (None: not shown)
        self.lag = ConsumerLag(consumer, group_id, lag_every_s) if lag_every_s is not None else None

    @classmethod
    def from_settings(
        cls, settings: Settings, consumer: Any, client: Any, database: str, dlq_producer: Any
    ) -> EventLoader:
        """A loader with the batch, wait and retry settings of `settings.loader`."""
        loader = settings.loader
        return cls(
            consumer=consumer,
            client=client,
            database=database,
            dlq_producer=dlq_producer,
            dlq_topic=settings.topics.names.activity_dlq,
            group_id=loader.group_id,
            batch_size=loader.batch_size,
            poll_timeout_s=loader.poll_timeout_s,
            retry_backoff_s=loader.retry_backoff_s,
            max_wait_s=loader.max_wait_s,
            poll_records=loader.poll_records,
            retention_days=settings.warehouse.retention_days,
            cluster=settings.warehouse.cluster,
            lag_every_s=LAG_REFRESH_S,
        )

    def readiness(self) -> str:
        """Why the loader is not ready ("" once a poll of the events topic has succeeded), for /ready."""
        return "" if self.stats.polls else "the loader has not polled the events topic yet"

    def load_once(self) -> int:
        """Poll once, and store the pending batch if it is full or old enough.

        Returns how many records were made durable by this call (0 if it only polled, was idle, or failed).
        """
        room = max(1, self.batch_size - len(self.pending.rows))
        timeout_s = self.poll_timeout_s
        if self.pending.records:
            timeout_s = min(timeout_s, max(0.0, self.max_wait_s - self.pending.age(time.monotonic())))
        polled = self.consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=min(room, self.poll_records))
        self.stats.polls += 1
        if self.lag is not None:
            self.lag.refresh()
        if polled:
            now = datetime.now(UTC)
            polled_at = time.monotonic()
            for tp, records in polled.items():
                batch, bad = decode_records(tp.topic, tp.partition, records, now)
                if batch is not None:
                    self.pending.add(batch, bad, polled_at)
        if not self.pending.records:
            return 0
        if len(self.pending.rows) < self.batch_size and self.pending.age(time.monotonic()) < self.max_wait_s:
            return 0
        return self.flush()

    def flush(self) -> int:
        """Store what is pending: dead letters, one insert, then the offset commit. Returns the records stored."""
        pending, self.pending = self.pending, PendingBatch()
        if not pending.records:
            return 0
        try:
            self._publish_dead_letters(pending.letters)
            failpoint("loader.before_insert")
            self._insert(pending)
        except (ClickHouseError, KafkaError) as exc:
            self.stats.insert_failures += 1
            LOADER_INSERT_ERRORS.inc()
            logger.error("batch not stored, will retry in %.1fs: %s", self.retry_backoff_s, exc)
            for (topic, partition), (first, _) in pending.spans.items():
                self.consumer.seek(TopicPartition(topic, partition), first)
            time.sleep(self.retry_backoff_s)
            return 0
        stored_at = time.time()
        for sent_at in pending.sent_at:
            self.stats.latency.record(stored_at - sent_at)
        FRESHNESS.record(pending.sent_at)
        failpoint("loader.after_insert")
        self._commit()
        return pending.records

    def _publish_dead_letters(self, letters: list[DeadLetter]) -> None:
        for letter in letters:
            logger.warning(
                "dead letter: %s at %s[%d]@%d",
                letter.reason.value,
                letter.source_topic,
                letter.partition,
                letter.offset,
            )
            self.dlq_producer.send(self.dlq_topic, value=letter.to_bytes(), key=letter.key)
        if letters:
            self.dlq_producer.flush()
        self.stats.dead_letters += len(letters)
        for letter in letters:  # counted once flushed: the reason is a code of DeadLetterReason, never the detail
            LOADER_DEAD_LETTERS.labels(letter.reason.value).inc()

    def _insert(self, pending: PendingBatch) -> None:
        rows, dropped = without_erased(pending.rows, self.erased)
        self.stats.erased_dropped += dropped
        if dropped:
            LOADER_DROPPED.labels("erased").inc(dropped)
        days = self.retention_days
        oldest = datetime.now(UTC) - timedelta(days=days) if days else None
        rows, expired = without_expired(rows, oldest)
        if expired:
            self.stats.expired_dropped += expired
            LOADER_DROPPED.labels("expired").inc(expired)
            logger.warning(
                "%d events older than the retention (%d days, LEARNSTREAM_WAREHOUSE__RETENTION_DAYS) not stored",
                expired,
                self.retention_days,
            )
        if not rows:
            return
        replaced = replacing_ids(rows)
        if replaced:
            self.stats.times_kept += keep_item_times(rows, self._stored_times(replaced))
        token = batch_insert_token(self.group_id, pending.spans)
        started = time.perf_counter()
        self.client.insert(
            TABLE,
            rows,
            column_names=list(COLUMNS),
            database=self.database,
            settings={"insert_deduplication_token": token, **self.insert_settings},
        )
        LOADER_INSERT_SECONDS.observe(time.perf_counter() - started)
        LOADER_BATCH_ROWS.observe(len(rows))
        # After the insert, so a rebuild that starts later sees these rows. If marking fails, the batch is retried
        # (its insert then dropped by the token) and marked then.
        mark_days(self.client, self.database, days_touched(rows))
        self.stats.rows_inserted += len(rows)
        self.stats.batches_inserted += 1
        LOADER_EVENTS.inc(len(rows))  # once the batch is marked too: a retried batch is counted when it lands
        self.stats.partitions_seen.update(partition for _, partition in pending.spans)
        logger.debug("inserted %d rows from %d partitions", len(rows), len(pending.spans))

    def _stored_times(self, event_ids: set[str]) -> dict[str, datetime]:
        """The earliest stored occurrence time of each of these events (those stored at all)."""
        result = self.client.query(
            f"SELECT event_id, min(occurred_at) FROM {self.database}.{TABLE} "
            "WHERE event_id IN {ids:Array(String)} GROUP BY event_id",
            parameters={"ids": sorted(event_ids)},
        )
        return {  # the engine may hand DateTime64 back without its zone: the column is UTC
            str(event_id): occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)
            for event_id, occurred_at in result.result_rows
        }

    def _commit(self) -> None:
        try:
            self.consumer.commit()
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance took the partitions away: the new owner re-reads from the last commit; rows are idempotent.
            self.stats.commit_failures += 1
            logger.warning("offset commit failed, the batch will be re-delivered: %s", exc)

    def run(
        self,
        should_stop: Callable[[], bool],
        exit_when_idle_s: float | None = None,
        first_event_timeout_s: float | None = None,
        tasks: Sequence[PeriodicTask] = (),
    ) -> LoaderStats:
        """Load until `should_stop()`, or until idle for `exit_when_idle_s` after having loaded something; run each
        of `tasks` (the directory's refresh, the trend tables' rebuild) when due, between batches, and those marked
        `at_stop` once more after the last batch.

        What is pending when it stops is stored first. With `first_event_timeout_s`, raises NothingToLoad if no
        record at all arrived in that time.
        """
        started = last_activity = time.monotonic()
        last_run = {task.name: started for task in tasks}
        loaded_any = False
        while not should_stop():
            for task in tasks:
                if time.monotonic() - last_run[task.name] >= task.period_s:
                    task.run()
                    last_run[task.name] = time.monotonic()
            had_pending = self.pending.records
            if self.load_once() or self.pending.records > had_pending:
                loaded_any = True
                last_activity = time.monotonic()
                continue
            idle = time.monotonic() - last_activity
            if exit_when_idle_s is not None and loaded_any and idle >= exit_when_idle_s:
                break
            if (
                first_event_timeout_s is not None
                and not loaded_any
                and time.monotonic() - started > first_event_timeout_s
            ):
                raise NothingToLoad(
                    f"no learning event arrived within {first_event_timeout_s:.0f} s; is the worker running? "
                    "(its log says why not)"
                )
        self.flush()
        if self.lag is not None:
            self.lag.refresh(force=True)  # the lag as the loader leaves it
        for task in tasks:
            if task.at_stop:
                task.run()
        return self.stats


@dataclass(frozen=True)
class PeriodicTask:
    """Upkeep the loader runs between batches every `period_s`, and (if `at_stop`) once when it stops."""

    name: str
    period_s: float
    run: Callable[[], object]
    at_stop: bool = False
