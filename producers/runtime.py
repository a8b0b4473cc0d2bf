"""The connector runtime: read batches from a source, publish them, flush, and only then save the cursor.

A connector is anything with a `name` and `read(cursor) -> Iterator[Batch]`: each batch carries the cursor to
resume from *after* it, so state is always derived from the saved cursor and never pre-built.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from kafka.errors import KafkaError

from learnstream.errors import BrokerUnavailable
from producers.cursors import CursorStore
from schemas.headers import sent_at_headers

logger = logging.getLogger(__name__)

SEND_TIMEOUT_S = 60.0


class OutgoingRecord(NamedTuple):
    """One message for the raw topic: its conversation key (None if unknown) and its bytes.

    A named tuple rather than a frozen dataclass: one is built per activity, and it costs a third as much.
    """

    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class Batch:
    """Records read from a source, and the cursor that resumes after the last of them."""

    records: list[OutgoingRecord]
    cursor: str


class Connector(Protocol):
    """A source of activities that can resume from a cursor."""

    name: str

    def read(self, cursor: str | None) -> Iterator[Batch]:
        """Batches from the cursor on (from the start for None); never blocks waiting for new data."""
        ...


@dataclass
class RunStats:
    """What a connector run published."""

    batches: int = 0
    records: int = 0


def run_connector(
    connector: Connector, producer: Any, topic: str, cursors: CursorStore, max_batches_in_flight: int = 8
) -> RunStats:
    """Publish every batch the connector has from its saved cursor; save a batch's cursor once it is confirmed.

    Batches are confirmed in order: a cursor is saved only when the broker acknowledged every record of its
    batch and of every batch before it. Sending goes on while earlier batches wait for their acknowledgements
    (at most `max_batches_in_flight` of them), so the connector never stalls on a flush between batches; the
    last batches are flushed and confirmed at the end. Each record carries the time it was handed to Kafka
    (the sent-at header), so latency can be told downstream.
    """
    stats = RunStats()
    in_flight: deque[tuple[Batch, list[Any]]] = deque()

    def confirm_oldest() -> None:
        batch, futures = in_flight.popleft()
        for future in futures:
            future.get(timeout=SEND_TIMEOUT_S)
        cursors.save(connector.name, batch.cursor)
        stats.batches += 1
        stats.records += len(batch.records)
        logger.info("published %d records to %s (connector=%s)", len(batch.records), topic, connector.name)

    try:
        for batch in connector.read(cursors.load(connector.name)):
            futures = [
                producer.send(topic, key=record.key, value=record.value, headers=sent_at_headers(time.time()))
                for record in batch.records
            ]
            in_flight.append((batch, futures))
            while in_flight and (len(in_flight) > max_batches_in_flight or acknowledged(in_flight[0][1])):
                confirm_oldest()
        producer.flush(timeout=SEND_TIMEOUT_S)
        while in_flight:
            confirm_oldest()
    except KafkaError as exc:
        raise BrokerUnavailable(
            f"publishing to {topic} failed after {stats.records} confirmed records ({exc}); the cursor was not "
            "advanced past them, so running again resumes where this run stopped"
        ) from exc
    return stats


def acknowledged(futures: list[Any]) -> bool:
    """Whether the broker has answered every send of a batch (successfully or not)."""
    return all(future.is_done for future in futures)
