"""The file-replay connector: a JSONL file of activities, one per line, replayed onto the raw topic.

Lines are forwarded as they are. A valid activity is keyed by its conversation; a line that is not a valid
activity is forwarded unkeyed, so the worker sets it aside in the dead-letter topic with its reason: the one
place where the raw contract is enforced. The cursor is the byte offset after the last published line.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from learnstream.errors import ConnectorError
from producers.runtime import Batch, OutgoingRecord
from schemas.activity import Activity

logger = logging.getLogger(__name__)


def record_for_line(line: bytes) -> OutgoingRecord:
    """The Kafka record for one JSONL line: keyed by conversation when the line is a valid activity."""
    try:
        key: bytes | None = Activity.from_bytes(line).conversation_key.encode("utf-8")
    except ValidationError:
        key = None
    return OutgoingRecord(key=key, value=line)


class FileReplay:
    """Replays a JSONL file of activities from a byte-offset cursor, in batches."""

    def __init__(self, path: Path, batch_size: int = 500) -> None:
        self.path = path
        self.batch_size = batch_size
        digest = hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:12]
        self.name = f"file-replay-{digest}"

    def read(self, cursor: str | None) -> Iterator[Batch]:
        """Batches of records from the cursor's byte offset (the start for None) to the end of the file."""
        offset = int(cursor) if cursor else 0
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
                    yield Batch(records, str(offset))
                    records = []
            if records:
                yield Batch(records, str(offset))
        if unkeyed:
            logger.warning(
                "%d line(s) of %s are not valid activities; the worker will dead-letter them", unkeyed, self.path
            )
