"""A Statement's row in RowBinary (lrs/rows.py): the bytes the engine reads, and back. The engine reading them is
tested on chDB in tests/integration/test_xapi_store.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from lrs.rows import Record, decode_row, encode_row, milliseconds

STORED = datetime(2026, 11, 30, 9, 0, 0, 123_456, tzinfo=UTC)


def record(**changes: object) -> Record:
    base = Record(
        id="id-1",
        stored=STORED,
        sent_at=None,
        verb="v",
        ref="",
        voids="",
        actors=["a"],
        agents=[],
        activity="act",
        activities=[],
        registration="",
        people=[],
        attachments=[],
        statement="{}",
    )
    return base._replace(**changes)


def test_the_bytes_are_rowbinary_column_by_column() -> None:
    row = encode_row(record())
    ms = (1_796_029_200_123).to_bytes(8, "little", signed=True)  # 2026-11-30T09:00:00.123Z, rounded down
    expected = (
        b"\x04id-1" + ms + b"\x01" + b"\x01v" + b"\x00" + b"\x00" + b"\x01\x01a" + b"\x00" + b"\x03act"
        b"\x00" + b"\x00" + b"\x00" + b"\x00" + b"\x02{}"
    )
    assert row == expected


@pytest.mark.parametrize(
    ("length", "prefix"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
    ],
)
def test_lengths_are_leb128_varints(length: int, prefix: bytes) -> None:
    row = encode_row(record(id="x" * length))
    assert row.startswith(prefix + b"x" * length)


def test_every_record_comes_back_whole() -> None:
    made = record(
        sent_at=datetime(1969, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
        actors=["Agent|mbox|mailto:zoë@example.com", "Group|account|https://x|ü"],
        agents=["y" * 20_000],
        people=["p"] * 200,
        statement='{"text": "' + "日本語" * 5000 + '"}',
    )
    back = decode_row(encode_row(made))
    assert back == made._replace(stored=STORED.replace(microsecond=123_000))
    assert decode_row(encode_row(record())).sent_at is None


def test_instants_are_milliseconds_rounded_down_and_naive_ones_are_utc() -> None:
    assert milliseconds(datetime(1970, 1, 1, 0, 0, 0, 1_999, tzinfo=UTC)) == 1
    assert milliseconds(datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC)) == -1
    assert milliseconds(datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == 0
    assert milliseconds(datetime(1970, 1, 1, 0, 0, 1)) == 1000


def test_a_cut_or_padded_row_is_refused() -> None:
    row = encode_row(record())
    with pytest.raises(ValueError, match="too many"):
        decode_row(row + b"\x00")
    with pytest.raises((ValueError, IndexError)):
        decode_row(row[:-1])
