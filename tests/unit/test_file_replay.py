"""The file-replay connector: JSONL lines as records, keyed by conversation, resumable from a byte offset."""

from __future__ import annotations

from pathlib import Path

import pytest

from learnstream.errors import ConnectorError
from producers.file_replay import ByteOffset, FileReplay, record_for_line
from schemas.activity import Activity

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "activities.jsonl"


@pytest.fixture
def activities(make_activity):
    return [make_activity(native_id=f"C01/17000000{index:02d}.000100") for index in range(5)]


def write_lines(path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_valid_line_is_keyed_by_conversation(make_activity):
    activity = make_activity()
    record = record_for_line(activity.to_bytes())
    assert record.key == b"slack:acme:thread:C01/1700000000.000100"
    assert record.value == activity.to_bytes()


@pytest.mark.parametrize(
    "line", [b"garbage", b'{"schema_version": 9}', b"\xff\xfe", b"[" * 100_000, b'{"text": "\\ud800"}']
)
def test_invalid_line_is_forwarded_unkeyed(line):
    record = record_for_line(line)
    assert record.key is None
    assert record.value == line


def test_reads_every_line_in_order_and_skips_blank_ones(tmp_path, activities):
    path = tmp_path / "replay.jsonl"
    lines = [activities[0].to_bytes(), b"", b"not json at all", b"   ", activities[1].to_bytes()]
    write_lines(path, lines)
    batches = list(FileReplay(path).read(ByteOffset()))
    assert len(batches) == 1
    records = batches[0].records
    assert [record.value for record in records] == [
        activities[0].to_bytes(),
        b"not json at all",
        activities[1].to_bytes(),
    ]
    assert [record.key for record in records] == [
        activities[0].conversation_key.encode(),
        None,
        activities[1].conversation_key.encode(),
    ]
    assert batches[0].cursor == ByteOffset(offset=path.stat().st_size)


def test_batches_carry_the_byte_offset_after_their_last_line(tmp_path, activities):
    path = tmp_path / "replay.jsonl"
    lines = [activity.to_bytes() for activity in activities]
    write_lines(path, lines)
    batches = list(FileReplay(path, batch_size=2).read(ByteOffset()))
    assert [len(batch.records) for batch in batches] == [2, 2, 1]
    ends = [sum(len(line) + 1 for line in lines[:count]) for count in (2, 4, 5)]
    assert [batch.cursor for batch in batches] == [ByteOffset(offset=end) for end in ends]


def test_resuming_from_a_batch_cursor_yields_only_the_rest(tmp_path, activities):
    path = tmp_path / "replay.jsonl"
    write_lines(path, [activity.to_bytes() for activity in activities])
    replay = FileReplay(path, batch_size=2)
    first = next(iter(replay.read(ByteOffset())))
    rest = list(replay.read(first.cursor))
    assert [record.value for batch in rest for record in batch.records] == [a.to_bytes() for a in activities[2:]]


def test_resuming_at_the_end_yields_nothing(tmp_path, activities):
    path = tmp_path / "replay.jsonl"
    write_lines(path, [activity.to_bytes() for activity in activities])
    assert list(FileReplay(path).read(ByteOffset(offset=path.stat().st_size))) == []


def test_lines_appended_later_are_read_from_the_cursor(tmp_path, activities):
    path = tmp_path / "replay.jsonl"
    write_lines(path, [activities[0].to_bytes()])
    replay = FileReplay(path)
    (first,) = list(replay.read(ByteOffset()))
    with path.open("ab") as handle:
        handle.write(activities[1].to_bytes() + b"\n")
    (second,) = list(replay.read(first.cursor))
    assert [record.value for record in second.records] == [activities[1].to_bytes()]


def test_last_line_without_newline_is_read(tmp_path, activities):
    path = tmp_path / "replay.jsonl"
    path.write_bytes(activities[0].to_bytes() + b"\n" + activities[1].to_bytes())
    (batch,) = list(FileReplay(path).read(ByteOffset()))
    assert len(batch.records) == 2
    assert batch.cursor == ByteOffset(offset=path.stat().st_size)


def test_name_is_stable_per_file(tmp_path):
    assert FileReplay(tmp_path / "a.jsonl").name == FileReplay(tmp_path / "a.jsonl").name
    assert FileReplay(tmp_path / "a.jsonl").name != FileReplay(tmp_path / "b.jsonl").name
    assert FileReplay(tmp_path / "a.jsonl").name.startswith("file-replay-")


def test_missing_file_is_a_connector_error(tmp_path):
    with pytest.raises(ConnectorError, match="cannot read replay file"):
        list(FileReplay(tmp_path / "missing.jsonl").read(ByteOffset()))


def test_the_key_read_from_json_is_the_activity_conversation_key():
    for line in SAMPLE.read_bytes().splitlines():
        if line.strip():
            assert record_for_line(line).key == Activity.from_bytes(line).conversation_key.encode()


@pytest.mark.parametrize(
    "line",
    [
        b"[1, 2]",
        b'{"source": "slack", "source_instance": "acme", "conversation": "C01"}',
        b'{"source": "slack", "source_instance": "", "conversation": {"kind": "thread", "id": "1"}}',
        b'{"source": 7, "source_instance": "acme", "conversation": {"kind": "thread", "id": "1"}}',
    ],
)
def test_a_line_that_names_no_whole_conversation_is_unkeyed(line):
    assert record_for_line(line).key is None
