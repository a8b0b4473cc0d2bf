"""Where connectors keep their cursors: local files (the default) or a compacted Kafka topic.

Both behave the same: `load(name)` gives the last cursor saved under a connector's name (None if none was), and
`save(name, cursor)` returns only once the cursor is durable. On the topic, a connector can move to another
machine and resume where it stopped. The topic also holds the following connectors' health records (key
`health:<name>`, learnstream/status.py), which the cursor store skips: a connector's name cannot contain ':'
(`NAME_PATTERN`), so no cursor's key looks like one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from kafka.errors import KafkaError

from learnstream.errors import BrokerUnavailable, ConnectorError
from learnstream.kafka import make_producer, read_to_end
from learnstream.settings import KafkaSettings, Settings
from learnstream.status import HEALTH_KEY_PREFIX


class CursorStore(Protocol):
    """Cursors by connector name."""

    def load(self, name: str) -> str | None:
        """The last cursor saved for a connector, or None if it never saved one."""
        ...

    def save(self, name: str, cursor: str) -> None:
        """Save a cursor durably before returning."""
        ...

    def close(self) -> None:
        """Release what the store holds open (a producer), if anything."""
        ...


def cursor_store_from_settings(settings: Settings) -> CursorStore:
    """The cursor store `LEARNSTREAM_CURSOR_STORE` names: `file` (the default) or `kafka`."""
    if settings.cursor_store == "kafka":
        return KafkaCursorStore(settings.kafka, settings.topics.names.connector_state)
    return FileCursorStore(settings.data_dir / "cursors")


def cursor_document(cursor: str) -> bytes:
    """How a cursor is stored, in a file or a record: `{"cursor": "..."}`."""
    return json.dumps({"cursor": cursor}).encode("utf-8")


def cursor_from_document(data: bytes) -> str:
    """The cursor of a stored document; raises ValueError, KeyError or TypeError if it is not one."""
    return str(json.loads(data)["cursor"])


class FileCursorStore:
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
            return cursor_from_document(path.read_bytes())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConnectorError(f"cursor file {path} is unreadable ({exc}); delete it to start over") from exc

    def save(self, name: str, cursor: str) -> None:
        """Save a cursor so a crash leaves either the old or the new one, never half of one."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(name)
        temporary = path.with_suffix(".json.tmp")
        temporary.write_bytes(cursor_document(cursor))
        temporary.replace(path)

    def close(self) -> None:
        """Nothing to release: every save is a closed file."""


class KafkaCursorStore:
    """Cursors on a compacted topic (`<ns>.connector.state`), keyed by connector name; the last record wins.

    The topic is read once, from the beginning to its end offsets, on the first `load`; a save is sent with the
    idempotent `acks=all` producer and waited for, so a saved cursor survives this process and this machine.
    """

    def __init__(self, kafka: KafkaSettings, topic: str, timeout_s: float = 30.0) -> None:
        self.kafka = kafka
        self.topic = topic
        self.timeout_s = timeout_s
        self._cursors: dict[str, str] | None = None
        self._producer: Any = None

    def load(self, name: str) -> str | None:
        """The last cursor saved under `name` on the topic, by any process."""
        if self._cursors is None:
            self._cursors = read_cursors(self.kafka, self.topic, self.timeout_s)
        return self._cursors.get(name)

    def save(self, name: str, cursor: str) -> None:
        """Send the cursor and wait until the broker acknowledged it."""
        if self._producer is None:
            self._producer = make_producer(self.kafka, "cursor-store", linger_ms=0)
        try:
            self._producer.send(self.topic, key=name.encode("utf-8"), value=cursor_document(cursor)).get(
                timeout=self.timeout_s
            )
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot save the cursor of {name} on {self.topic}: {exc}") from exc
        if self._cursors is not None:
            self._cursors[name] = cursor

    def close(self) -> None:
        """Close the producer, if a cursor was saved."""
        if self._producer is not None:
            self._producer.close()
            self._producer = None


def read_cursors(kafka: KafkaSettings, topic: str, timeout_s: float) -> dict[str, str]:
    """Every connector's last cursor on the topic; a tombstone (no value) forgets the connector's cursor."""
    cursors: dict[str, str] = {}
    missing = f"the cursor topic {topic} does not exist: run `learnstream topics create`"
    for key, value in read_to_end(kafka, topic, "cursor-store", timeout_s, missing):
        apply_cursor_record(cursors, topic, key, value)
    return cursors


def apply_cursor_record(cursors: dict[str, str], topic: str, key: bytes | None, value: bytes | None) -> None:
    """Fold one record of the cursor topic into `cursors` (the later record of a name wins); a connector's health
    record (key `health:<name>`) is no cursor and is skipped."""
    if key is None:
        raise ConnectorError(f"a record on the cursor topic {topic} has no key (connector name)")
    if key.startswith(HEALTH_KEY_PREFIX.encode()):
        return
    name = key.decode("utf-8", errors="replace")
    if value is None:
        cursors.pop(name, None)
        return
    try:
        cursors[name] = cursor_from_document(value)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConnectorError(f"the cursor of {name} on {topic} is unreadable ({exc})") from exc
