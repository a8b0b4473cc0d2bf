"""The loader: learning events from Kafka into ClickHouse, in batches, committing offsets only after the insert.

Per poll: decode each record (bad ones go to the dead-letter topic, flushed), insert one batch per partition
with a deterministic deduplication token, then commit. If the insert fails, nothing is committed: the consumer
seeks back to the batch start and tries again after a pause, so the loader never loses an event and never dies
of a warehouse outage. Rows are idempotent by event_id, so a re-delivered batch is harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError
from kafka import TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from pydantic import ValidationError

from learnstream.errors import NothingToLoad
from schemas.dead_letter import DeadLetter, DeadLetterReason
from schemas.learning_event import LearningEvent
from warehouse.events_table import COLUMNS, TABLE, event_row, insert_token

logger = logging.getLogger(__name__)

STAGE = "loader"


@dataclass
class LoaderStats:
    """What a loader run did, for logs and tests."""

    polls: int = 0
    rows_inserted: int = 0
    batches_inserted: int = 0
    dead_letters: int = 0
    insert_failures: int = 0
    commit_failures: int = 0
    partitions_seen: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class PartitionBatch:
    """The decoded rows of one partition from one poll, with the offsets they span."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    rows: list[list[Any]]


def decode_records(
    topic: str, partition: int, records: list[Any], now: datetime
) -> tuple[PartitionBatch | None, list[DeadLetter]]:
    """Split one partition's records into insert rows and dead letters; pure, so it is tested without Kafka."""
    rows: list[list[Any]] = []
    letters: list[DeadLetter] = []
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
                )
            )
            continue
        rows.append(event_row(event, partition, record.offset))
    if not records:
        return None, letters
    batch = PartitionBatch(topic, partition, records[0].offset, records[-1].offset, rows)
    return batch, letters


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
    ) -> None:
        self.consumer = consumer
        self.client = client
        self.database = database
        self.dlq_producer = dlq_producer
        self.dlq_topic = dlq_topic
        self.group_id = group_id
        self.batch_size = batch_size
        self.poll_timeout_ms = int(poll_timeout_s * 1000)
        self.retry_backoff_s = retry_backoff_s
        self.stats = LoaderStats()

    def load_once(self) -> int:
        """Poll once and make what was polled durable; returns how many records were stored (0 if idle or failed)."""
        polled = self.consumer.poll(timeout_ms=self.poll_timeout_ms, max_records=self.batch_size)
        self.stats.polls += 1
        if not polled:
            return 0
        now = datetime.now(UTC)
        batches: list[PartitionBatch] = []
        letters: list[DeadLetter] = []
        handled = 0
        for tp, records in polled.items():
            handled += len(records)
            batch, bad = decode_records(tp.topic, tp.partition, records, now)
            letters.extend(bad)
            if batch is not None:
                batches.append(batch)
        try:
            self._publish_dead_letters(letters)
            for batch in batches:
                self._insert(batch)
        except (ClickHouseError, KafkaError) as exc:
            self.stats.insert_failures += 1
            logger.error("batch not stored, will retry in %.1fs: %s", self.retry_backoff_s, exc)
            for batch in batches:
                self.consumer.seek(TopicPartition(batch.topic, batch.partition), batch.first_offset)
            time.sleep(self.retry_backoff_s)
            return 0
        self._commit()
        return handled

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

    def _insert(self, batch: PartitionBatch) -> None:
        if not batch.rows:
            return
        token = insert_token(self.group_id, batch.topic, batch.partition, batch.first_offset, batch.last_offset)
        self.client.insert(
            TABLE,
            batch.rows,
            column_names=list(COLUMNS),
            database=self.database,
            settings={"insert_deduplication_token": token},
        )
        self.stats.rows_inserted += len(batch.rows)
        self.stats.batches_inserted += 1
        self.stats.partitions_seen.add(batch.partition)
        logger.debug("inserted %d rows from %s[%d]", len(batch.rows), batch.topic, batch.partition)

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
    ) -> LoaderStats:
        """Load until `should_stop()`, or until idle for `exit_when_idle_s` after having loaded something.

        With `first_event_timeout_s`, raises NothingToLoad if no record at all arrived in that time.
        """
        started = last_activity = time.monotonic()
        loaded_any = False
        while not should_stop():
            if self.load_once():
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
        return self.stats
