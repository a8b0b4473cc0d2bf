"""The connector runtime: read batches from a source, publish them, flush, and only then save the cursor.

A connector is anything with a `name` and `read(cursor) -> Iterator[Batch]`: each batch carries the cursor to
resume from *after* it, so state is always derived from the saved cursor and never pre-built.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kafka.errors import KafkaError

from learnstream.errors import BrokerUnavailable, ConnectorError
from schemas.headers import sent_at_headers

logger = logging.getLogger(__name__)

SEND_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class OutgoingRecord:
    """One message for the raw topic: its conversation key (None if unknown) and its bytes."""

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


class CursorStore:
    """Cursors as small JSON files, one per connector, replaced atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def load(self, name: str) -> str | None:
        """The saved cursor for a connector, or None if it never saved one."""
        path = self._path(name)
        if not path.exists():
            return None
        try:
            return str(json.loads(path.read_text(encoding="utf-8"))["cursor"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConnectorError(f"cursor file {path} is unreadable ({exc}); delete it to start over") from exc

    def save(self, name: str, cursor: str) -> None:
        """Save a cursor so a crash leaves either the old or the new one, never half of one."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(name)
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps({"cursor": cursor}), encoding="utf-8")
        temporary.replace(path)


@dataclass
class RunStats:
    """What a connector run published."""

    batches: int = 0
    records: int = 0


def run_connector(connector: Connector, producer: Any, topic: str, cursors: CursorStore) -> RunStats:
    """Publish every batch the connector has from its saved cursor; save the cursor after each flushed batch.

    Each record carries the time it was handed to Kafka (the sent-at header), so latency can be told downstream.
    """
    stats = RunStats()
    for batch in connector.read(cursors.load(connector.name)):
        try:
            futures = [
                producer.send(topic, key=record.key, value=record.value, headers=sent_at_headers(time.time()))
                for record in batch.records
            ]
            producer.flush(timeout=SEND_TIMEOUT_S)
            for future in futures:
                future.get(timeout=SEND_TIMEOUT_S)
        except KafkaError as exc:
            raise BrokerUnavailable(
                f"publishing to {topic} failed after {stats.records} records ({exc}); the cursor was not advanced, "
                "so running again resumes where this run stopped"
            ) from exc
        cursors.save(connector.name, batch.cursor)
        stats.batches += 1
        stats.records += len(batch.records)
        logger.info("published %d records to %s (connector=%s)", len(batch.records), topic, connector.name)
    return stats
