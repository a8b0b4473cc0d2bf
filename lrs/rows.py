"""A Statement's row of xapi_statements in ClickHouse's RowBinary format. Pure.

A drafting process (lrs/workers.py) encodes each row, and serve's process inserts a group's rows as they are
(`StatementStore.write`): the row crosses the process boundary as one bytes object instead of a 15-field tuple,
and serve no longer converts rows into the engine's Native columns itself. Both cost serve's process 20-25 µs per
Statement before (bench/README.md, issue 11).

RowBinary, as the engine reads it: a String is its UTF-8 length as a LEB128 varint, then the bytes; an
Array(String) its length as a varint, then each String; a DateTime64(3) the milliseconds since the epoch as a
little-endian Int64; a Nullable a byte (1 for NULL, then nothing; 0, then the value).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple


class Record(NamedTuple):
    """One Statement as stored: its JSON (with what the LRS assigned) and the columns the filters read, in the
    table's column order."""

    id: str
    stored: datetime
    sent_at: datetime | None
    verb: str
    ref: str
    voids: str
    actors: list[str]
    agents: list[str]
    activity: str
    activities: list[str]
    registration: str
    people: list[str]
    attachments: list[str]
    statement: str


#: The columns of xapi_statements, in order, and their types as encoded here (a test checks them against the table).
COLUMNS = Record._fields
COLUMN_TYPES = (
    "String",
    "DateTime64(3, 'UTC')",
    "Nullable(DateTime64(3, 'UTC'))",
    "String",
    "String",
    "String",
    "Array(String)",
    "Array(String)",
    "String",
    "Array(String)",
    "String",
    "Array(String)",
    "Array(String)",
    "String",
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
#: The varints of every length under 16,384 (one or two bytes), so most lengths are a list lookup.
_VARINTS = [bytes([n]) if n < 128 else bytes([(n & 0x7F) | 0x80, n >> 7]) for n in range(16_384)]


def milliseconds(moment: datetime) -> int:
    """Milliseconds since the epoch, rounded down (a naive datetime is UTC, as the engine returns it)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MILLISECOND


def encode_row(record: Record) -> bytes:
    """The record's row, its columns in `COLUMNS` order (the parts are gathered in a list and joined once)."""
    parts: list[bytes] = []
    put = parts.append
    _put_string(put, record.id)
    put(_datetime(record.stored))
    if record.sent_at is None:
        put(b"\x01")
    else:
        put(b"\x00")
        put(_datetime(record.sent_at))
    _put_string(put, record.verb)
    _put_string(put, record.ref)
    _put_string(put, record.voids)
    _put_strings(put, record.actors)
    _put_strings(put, record.agents)
    _put_string(put, record.activity)
    _put_strings(put, record.activities)
    _put_string(put, record.registration)
    _put_strings(put, record.people)
    _put_strings(put, record.attachments)
    _put_string(put, record.statement)
    return b"".join(parts)


def decode_row(data: bytes) -> Record:
    """The record a row holds (the inverse of `encode_row`)."""
    reader = _Reader(data)
    record = Record(
        id=reader.string(),
        stored=reader.datetime(),
        sent_at=None if reader.byte() else reader.datetime(),
        verb=reader.string(),
        ref=reader.string(),
        voids=reader.string(),
        actors=reader.strings(),
        agents=reader.strings(),
        activity=reader.string(),
        activities=reader.strings(),
        registration=reader.string(),
        people=reader.strings(),
        attachments=reader.strings(),
        statement=reader.string(),
    )
    if reader.position != len(data):
        raise ValueError(f"a row of xapi_statements has {len(data) - reader.position} bytes too many")
    return record


def _varint(number: int) -> bytes:
    if number < 16_384:
        return _VARINTS[number]
    out = bytearray()
    while number >= 0x80:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _put_string(put: Callable[[bytes], None], text: str) -> None:
    data = text.encode("utf-8")
    size = len(data)
    put(_VARINTS[size] if size < 16_384 else _varint(size))
    put(data)


def _put_strings(put: Callable[[bytes], None], texts: Sequence[str]) -> None:
    put(_varint(len(texts)))
    for text in texts:
        _put_string(put, text)


def _datetime(moment: datetime) -> bytes:
    return milliseconds(moment).to_bytes(8, "little", signed=True)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def byte(self) -> int:
        value = self.data[self.position]
        self.position += 1
        return value

    def varint(self) -> int:
        number, shift = 0, 0
        while True:
            byte = self.byte()
            number |= (byte & 0x7F) << shift
            if byte < 0x80:
                return number
            shift += 7

    def string(self) -> str:
        size = self.varint()
        start = self.position
        self.position += size
        if self.position > len(self.data):
            raise ValueError("a row of xapi_statements ends inside a string")
        return self.data[start : self.position].decode("utf-8")

    def strings(self) -> list[str]:
        return [self.string() for _ in range(self.varint())]

    def datetime(self) -> datetime:
        start = self.position
        self.position += 8
        return _EPOCH + int.from_bytes(self.data[start : self.position], "little", signed=True) * _MILLISECOND
