"""The pending-notification queue of answer-first receivers, read by their fetch half (`connect run <name>`).

A receiver whose source posts ids only answers at once and leaves one record per notification on
`<ns>.connector.pending` (`schemas/pending.py`); the fetch half reads its own records back (their key names it) from
a `PendingCursor`, the next offset of each partition, which the runtime saves only after the activities made of
them were confirmed: a crash reads them again, never skips them. The topic is time-retained; a cursor older than the
retention resumes at the oldest record left, and the log says how many notifications expired unread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from kafka import TopicPartition
from kafka.errors import KafkaError

from learnstream.errors import BrokerUnavailable, ConnectorError
from learnstream.kafka import make_reader
from learnstream.settings import KafkaSettings
from producers.contracts import Cursor
from schemas.pending import is_for

logger = logging.getLogger(__name__)

#: How long a read waits for records it knows are there (end offsets) before calling the broker unavailable.
STALL_TIMEOUT_S = 30.0


class PendingCursor(Cursor):
    """The next offset to read in each partition of the pending topic (keys are partition numbers as text, as JSON
    keys are); a partition it does not name is read from its oldest record."""

    offsets: dict[str, int] = {}


@dataclass(frozen=True)
class PendingRecord:
    """One of the receiver's pending records: where it sits and its bytes."""

    partition: int
    offset: int
    value: bytes


@dataclass(frozen=True)
class PendingRead:
    """The receiver's records of one bounded poll, and the offsets that resume after everything the poll returned
    (other receivers' records included)."""

    records: list[PendingRecord]
    offsets: dict[str, int]


class PendingQueue(Protocol):
    """A receiver's pending notifications, read in bounded batches from given offsets until caught up."""

    topic: str

    def read(self, offsets: Mapping[str, int], max_records: int) -> Iterator[PendingRead]:
        """Bounded batches after `offsets`, up to the end the queue had when the read began."""
        ...

    def offsets_at(self, since: datetime) -> dict[str, int]:
        """The offsets of the first records written at or after `since` (for `--backfill-from`)."""
        ...

    def check(self) -> str:
        """What the queue is, as a line for `connect check`; raise what is wrong."""
        ...


class KafkaPendingQueue:
    """The pending topic as one receiver's queue: a group-less consumer assigned every partition, seeking to the
    cursor's offsets, keeping only records whose key names the receiver."""

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        receiver: str,
        poll_timeout_s: float = 0.5,
        stall_timeout_s: float = STALL_TIMEOUT_S,
    ) -> None:
        self.kafka = kafka
        self.topic = topic
        self.receiver = receiver
        self.poll_timeout_s = poll_timeout_s
        self.stall_timeout_s = stall_timeout_s

    def partitions(self, consumer: Any) -> list[TopicPartition]:
        """Every partition of the topic; a ConnectorError saying how to create it if it is missing."""
        numbers = consumer.partitions_for_topic(self.topic)
        if not numbers:
            raise ConnectorError(f"the pending topic {self.topic} does not exist: run `learnstream topics create`")
        return [TopicPartition(self.topic, number) for number in sorted(numbers)]

    def read(self, offsets: Mapping[str, int], max_records: int) -> Iterator[PendingRead]:
        """Polls of at most `max_records` from `offsets` until every partition reached its end at the start."""
        consumer = make_reader(self.kafka, f"pending-{self.receiver}")
        try:
            partitions = self.partitions(consumer)
            consumer.assign(partitions)
            oldest, ends = consumer.beginning_offsets(partitions), consumer.end_offsets(partitions)
            for tp in partitions:
                consumer.seek(tp, self.start_of(tp, offsets.get(str(tp.partition)), oldest[tp], ends[tp]))
            positions = {tp: consumer.position(tp) for tp in partitions}
            progressed = time.monotonic()
            while any(positions[tp] < ends[tp] for tp in partitions):
                polled = consumer.poll(timeout_ms=int(self.poll_timeout_s * 1000), max_records=max_records)
                now = {tp: consumer.position(tp) for tp in partitions}
                if now == positions:
                    if time.monotonic() - progressed > self.stall_timeout_s:
                        raise BrokerUnavailable(
                            f"no record of {self.topic} arrived in {self.stall_timeout_s:.0f} s although the broker "
                            "reported some; the cursor was not advanced, so running again resumes here"
                        )
                    continue
                positions, progressed = now, time.monotonic()
                mine = [
                    PendingRecord(tp.partition, record.offset, record.value)
                    for tp, records in polled.items()
                    for record in records
                    if is_for(record.key, self.receiver)
                ]
                yield PendingRead(mine, {str(tp.partition): position for tp, position in positions.items()})
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot read the pending notifications on {self.topic}: {exc}") from exc
        finally:
            consumer.close()

    def start_of(self, tp: TopicPartition, saved: int | None, oldest: int, end: int) -> int:
        """Where a partition is read from: the saved offset, or the oldest record when there is none or it is gone."""
        if saved is None:
            return oldest
        if saved < oldest:
            logger.warning(
                "%s: %d pending notifications expired unread (topic=%s partition=%d offset=%d); they are lost: "
                "backfill their channels",
                self.receiver,
                oldest - saved,
                self.topic,
                tp.partition,
                saved,
            )
            return oldest
        if saved > end:
            logger.warning(
                "%s: the cursor is past the end of the pending topic (topic=%s partition=%d offset=%d end=%d), which "
                "was probably recreated; reading it from its oldest record",
                self.receiver,
                self.topic,
                tp.partition,
                saved,
                end,
            )
            return oldest
        return saved

    def offsets_at(self, since: datetime) -> dict[str, int]:
        """The first offset written at or after `since` in each partition (the end where none was)."""
        consumer = make_reader(self.kafka, f"pending-{self.receiver}")
        try:
            partitions = self.partitions(consumer)
            found = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
            ends = consumer.end_offsets(partitions)
            return {str(tp.partition): found[tp].offset if found.get(tp) is not None else ends[tp] for tp in partitions}
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot look up offsets on {self.topic}: {exc}") from exc
        finally:
            consumer.close()

    def check(self) -> str:
        """The topic exists; how many partitions it has."""
        consumer = make_reader(self.kafka, f"pending-{self.receiver}")
        try:
            return f"pending notifications on {self.topic} ({len(self.partitions(consumer))} partitions)"
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot read the pending topic {self.topic}: {exc}") from exc
        finally:
            consumer.close()
