"""Cursors and the connector runtime's ordering: publish, flush, confirm every send, and only then save the cursor."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from kafka.errors import KafkaTimeoutError
from prometheus_client import REGISTRY

from learnstream.errors import BrokerUnavailable, ConnectorError, SourceUnavailable
from producers.contracts import Batch, CheckReport, Cursor, OutgoingRecord
from producers.cursors import FileCursorStore, apply_cursor_record, cursor_document
from producers.file_replay import ByteOffset, FileReplay
from producers.runtime import Health, follow, run_connector
from schemas.headers import read_sent_at

TOPIC = "test.activity.raw"


class SendFuture:
    """A send result: done once the producer flushed, then `get()` returns metadata or raises the broker's error."""

    def __init__(self, log: list[tuple[object, ...]], error: Exception | None, producer: RecordingProducer) -> None:
        self.log = log
        self.error = error
        self.producer = producer

    @property
    def is_done(self) -> bool:
        return self.producer.flushed

    def get(self, timeout: float | None = None) -> str:
        self.log.append(("get",))
        if self.error is not None:
            raise self.error
        return "metadata"


class RecordingProducer:
    """Stands in for KafkaProducer: records sends and flushes; sends fail from `fail_from` on (0-based)."""

    def __init__(
        self, log: list[tuple[object, ...]], fail_from: int | None = None, flush_error: Exception | None = None
    ) -> None:
        self.log = log
        self.fail_from = fail_from
        self.flush_error = flush_error
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.headers: list[list[tuple[str, bytes]] | None] = []
        self.flushed = False

    def send(
        self, topic: str, key: bytes | None = None, value: bytes = b"", headers: list[tuple[str, bytes]] | None = None
    ) -> SendFuture:
        failing = self.fail_from is not None and len(self.sent) >= self.fail_from
        self.sent.append((topic, key, value))
        self.headers.append(headers)
        self.log.append(("send", value))
        return SendFuture(self.log, KafkaTimeoutError("batch expired") if failing else None, self)

    def flush(self, timeout: float | None = None) -> None:
        self.log.append(("flush",))
        self.flushed = True
        if self.flush_error is not None:
            raise self.flush_error


class RecordingCursorStore(FileCursorStore):
    """A real cursor store that also notes when it saves, in the same log as the producer."""

    def __init__(self, directory, log: list[tuple[object, ...]]) -> None:
        super().__init__(directory)
        self.log = log

    def save(self, name: str, cursor: str) -> None:
        self.log.append(("save", cursor))
        super().save(name, cursor)


@pytest.fixture
def replay_file(tmp_path, make_activity):
    path = tmp_path / "replay.jsonl"
    lines = [make_activity(native_id=f"C01/{index}").to_bytes() for index in range(5)]
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path, lines


class TestCursorStore:
    def test_round_trip(self, tmp_path):
        store = FileCursorStore(tmp_path / "cursors")
        store.save("file-replay-abc", "1234")
        assert store.load("file-replay-abc") == "1234"
        assert FileCursorStore(tmp_path / "cursors").load("file-replay-abc") == "1234"

    def test_save_replaces_the_previous_cursor(self, tmp_path):
        store = FileCursorStore(tmp_path)
        store.save("c", "10")
        store.save("c", "20")
        assert store.load("c") == "20"
        assert sorted(path.name for path in tmp_path.iterdir()) == ["c.json"]

    def test_missing_cursor_is_none(self, tmp_path):
        assert FileCursorStore(tmp_path / "never-created").load("anything") is None

    def test_cursors_are_per_connector(self, tmp_path):
        store = FileCursorStore(tmp_path)
        store.save("a", "1")
        store.save("b", "2")
        assert (store.load("a"), store.load("b")) == ("1", "2")

    @pytest.mark.parametrize(
        "content",
        [b"{not json", b'{"position": 12}', b"\xff\xfe", b"", b"null", b"[]", b'"12"'],
        ids=["broken-json", "no-cursor-key", "not-utf8", "empty", "null", "list", "string"],
    )
    def test_corrupt_file_is_a_connector_error(self, tmp_path, content):
        (tmp_path / "c.json").write_bytes(content)
        with pytest.raises(ConnectorError, match="delete it to start over"):
            FileCursorStore(tmp_path).load("c")


class TestRunConnector:
    def test_publishes_every_line_then_saves_the_cursor(self, tmp_path, replay_file):
        path, lines = replay_file
        log: list[tuple[object, ...]] = []
        producer = RecordingProducer(log)
        cursors = RecordingCursorStore(tmp_path / "cursors", log)
        connector = FileReplay(path, batch_size=2)
        before = time.time() - 0.001  # the header keeps whole milliseconds
        stats = run_connector(connector, producer, TOPIC, cursors)
        assert (stats.batches, stats.records) == (3, 5)
        assert [value for _, _, value in producer.sent] == lines
        assert {topic for topic, _, _ in producer.sent} == {TOPIC}
        assert all(key is not None for _, key, _ in producer.sent)
        sent_at = [read_sent_at(headers) for headers in producer.headers]
        assert all(sent is not None and before <= sent <= time.time() for sent in sent_at)
        saved = FileCursorStore(tmp_path / "cursors").load(connector.name)
        assert saved == ByteOffset(offset=path.stat().st_size).to_text()

    def test_cursor_is_saved_only_after_its_batch_and_every_earlier_one_is_confirmed(self, tmp_path, replay_file):
        path, _ = replay_file
        log: list[tuple[object, ...]] = []
        cursors = RecordingCursorStore(tmp_path / "cursors", log)
        run_connector(FileReplay(path, batch_size=2), RecordingProducer(log), TOPIC, cursors)
        steps = [entry[0] for entry in log]
        assert steps.count("save") == 3
        batch_sizes = [2, 2, 1]
        for batch, index in enumerate(i for i, step in enumerate(steps) if step == "save"):
            assert steps[:index].count("get") == sum(batch_sizes[: batch + 1])  # every record so far confirmed
        assert [entry[1] for entry in log if entry[0] == "save"][-1] == ByteOffset(offset=path.stat().st_size).to_text()

    def test_sending_goes_on_while_earlier_batches_await_acknowledgement(self, tmp_path, replay_file):
        path, _ = replay_file
        log: list[tuple[object, ...]] = []
        cursors = RecordingCursorStore(tmp_path / "cursors", log)
        run_connector(FileReplay(path, batch_size=1), RecordingProducer(log), TOPIC, cursors, max_batches_in_flight=2)
        steps = [entry[0] for entry in log]
        # two batches in flight: the third send waits for nothing, the first save comes before the fourth send
        assert steps[:4] == ["send", "send", "send", "get"]
        assert steps.index("save") < [i for i, step in enumerate(steps) if step == "send"][3]
        assert steps.count("flush") == 1

    def test_failed_send_does_not_advance_the_cursor(self, tmp_path, replay_file):
        path, lines = replay_file
        log: list[tuple[object, ...]] = []
        cursors = RecordingCursorStore(tmp_path / "cursors", log)
        connector = FileReplay(path, batch_size=2)
        with pytest.raises(BrokerUnavailable, match="cursor was not advanced") as caught:
            run_connector(connector, RecordingProducer(log, fail_from=3), TOPIC, cursors)
        assert isinstance(caught.value.__cause__, KafkaTimeoutError)
        assert TOPIC in str(caught.value)
        first_batch_end = ByteOffset(offset=len(lines[0]) + len(lines[1]) + 2).to_text()
        assert [entry for entry in log if entry[0] == "save"] == [("save", first_batch_end)]
        assert cursors.load(connector.name) == first_batch_end

    def test_rerun_after_a_failure_resumes_where_it_stopped(self, tmp_path, replay_file):
        path, lines = replay_file
        cursors = FileCursorStore(tmp_path / "cursors")
        connector = FileReplay(path, batch_size=2)
        with pytest.raises(BrokerUnavailable):
            run_connector(connector, RecordingProducer([], fail_from=3), TOPIC, cursors)
        retry = RecordingProducer([])
        stats = run_connector(connector, retry, TOPIC, cursors)
        assert [value for _, _, value in retry.sent] == lines[2:]
        assert (stats.batches, stats.records) == (2, 3)
        assert cursors.load(connector.name) == ByteOffset(offset=path.stat().st_size).to_text()

    def test_failure_in_the_first_batch_saves_nothing(self, tmp_path, replay_file):
        path, _ = replay_file
        cursors = FileCursorStore(tmp_path / "cursors")
        connector = FileReplay(path, batch_size=2)
        with pytest.raises(BrokerUnavailable, match="after 0 confirmed records"):
            run_connector(connector, RecordingProducer([], fail_from=0), TOPIC, cursors)
        assert cursors.load(connector.name) is None

    def test_flush_timeout_is_broker_unavailable_and_keeps_the_cursor(self, tmp_path, replay_file):
        # KafkaProducer.flush(timeout=...) raises KafkaTimeoutError when the broker does not answer in time.
        path, _ = replay_file
        cursors = FileCursorStore(tmp_path / "cursors")
        connector = FileReplay(path, batch_size=2)
        producer = RecordingProducer([], flush_error=KafkaTimeoutError("Timeout waiting for future"))
        with pytest.raises(BrokerUnavailable):
            run_connector(connector, producer, TOPIC, cursors)
        assert cursors.load(connector.name) is None

    def test_nothing_new_publishes_nothing(self, tmp_path, replay_file):
        path, _ = replay_file
        cursors = FileCursorStore(tmp_path / "cursors")
        connector = FileReplay(path)
        cursors.save(connector.name, ByteOffset(offset=path.stat().st_size).to_text())
        producer = RecordingProducer([])
        stats = run_connector(connector, producer, TOPIC, cursors)
        assert (stats.batches, stats.records) == (0, 0)
        assert producer.sent == []


def test_cursor_file_is_json_with_the_cursor(tmp_path):
    FileCursorStore(tmp_path).save("c", "42")
    assert json.loads((tmp_path / "c.json").read_text(encoding="utf-8")) == {"cursor": "42"}


class TestCursorTopicRecords:
    def test_the_later_record_of_a_name_wins_and_a_tombstone_forgets_it(self):
        cursors: dict[str, str] = {}
        apply_cursor_record(cursors, "t", b"a", cursor_document("1"))
        apply_cursor_record(cursors, "t", b"b", cursor_document("x"))
        apply_cursor_record(cursors, "t", b"a", cursor_document("2"))
        apply_cursor_record(cursors, "t", b"b", None)
        assert cursors == {"a": "2"}

    @pytest.mark.parametrize(("key", "value"), [(None, b'{"cursor": "1"}'), (b"a", b"not json"), (b"a", b"{}")])
    def test_an_unreadable_record_is_a_connector_error(self, key, value):
        with pytest.raises(ConnectorError, match=r"(cursor topic t has no key|on t is unreadable)"):
            apply_cursor_record({}, "t", key, value)


class Position(Cursor):
    index: int = 0


class FlakySource:
    """Six records, two per batch; the first read fails after its first batch, as a source down for a while."""

    name = "flaky"
    cursor_type = Position

    def __init__(self) -> None:
        self.reads: list[int] = []

    def start_cursor(self, since: datetime | None) -> Position:
        return Position(index=2 if since else 0)  # a backfill "from a time" starts at record 2 here

    def check(self) -> CheckReport:
        return CheckReport([])

    def read(self, cursor: Position) -> Iterator[Batch[Position]]:
        self.reads.append(cursor.index)
        for start in range(cursor.index, 6, 2):
            yield Batch([OutgoingRecord(None, f"r{i}".encode()) for i in (start, start + 1)], Position(index=start + 2))
            if len(self.reads) == 1:
                raise SourceUnavailable("the source kept failing")


def test_follow_survives_a_source_that_is_down_for_a_round_and_resumes_from_the_saved_cursor(tmp_path):
    log: list[tuple[object, ...]] = []
    source, rounds = FlakySource(), iter(range(100))
    stats = follow(
        source,
        RecordingProducer(log),
        TOPIC,
        FileCursorStore(tmp_path),
        poll_interval_s=0.2,
        should_stop=lambda: next(rounds) >= 8,
        sleep=lambda _s: None,
        backfill_from=datetime(2026, 1, 1, tzinfo=UTC),
    )
    # the failed round saved nothing (its batch was not yet confirmed), so the next round starts at the backfill
    # start again; once saved, the cursor is where every later round resumes
    assert source.reads[:2] == [2, 2]
    assert all(index == 6 for index in source.reads[2:])
    assert stats.records == 4
    assert [value for kind, *rest in log if kind == "send" for value in rest].count(b"r2") == 2


def test_follow_keeps_the_connectors_health_and_metrics(tmp_path):
    source, rounds, health = FlakySource(), iter(range(100)), Health()
    errors_before = sample("learnstream_connector_errors_total", connector="flaky")
    published_before = sample("learnstream_connector_activities_total", connector="flaky", topic=TOPIC)
    seen: list[str] = []

    def stop() -> bool:
        seen.append(health.readiness())
        return next(rounds) >= 8

    follow(
        source,
        RecordingProducer([]),
        TOPIC,
        FileCursorStore(tmp_path),
        poll_interval_s=0.2,
        should_stop=stop,
        sleep=lambda _s: None,
        health=health,
    )
    assert any("the source kept failing" in why for why in seen)  # not ready while the last poll had failed
    assert health.readiness() == ""  # ready again once a poll succeeded
    assert sample("learnstream_connector_errors_total", connector="flaky") == errors_before + 1
    assert sample("learnstream_connector_activities_total", connector="flaky", topic=TOPIC) == published_before + 6
    assert sample("learnstream_connector_up", connector="flaky") == 1
    assert sample("learnstream_connector_last_error_timestamp_seconds", connector="flaky") > 0


def sample(name: str, **labels: str) -> float:
    """A metric's current value in this process (0 before its first change)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
