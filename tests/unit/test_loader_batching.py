"""The loader's batching: full batches under load, a bounded wait under a trickle, commit only after the insert.

The consumer and the warehouse client here are scripted stand-ins; the real broker and chDB are exercised by
tests/integration/test_loader.py.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from kafka import TopicPartition

from schemas.headers import sent_at_headers
from tests.unit.test_warehouse_pure import make_event
from warehouse.loader import EventLoader

TOPIC = "events"


@dataclass
class Record:
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class ScriptedConsumer:
    """Answers each poll with the next scripted result; notes commits and seeks in one log."""

    def __init__(self, polls: list[dict[TopicPartition, list[Record]]], log: list[tuple[object, ...]]) -> None:
        self.polls = deque(polls)
        self.log = log

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Record]]:
        self.log.append(("poll", max_records))
        if self.polls:
            return self.polls.popleft()
        time.sleep(timeout_ms / 1000)
        return {}

    def commit(self) -> None:
        self.log.append(("commit",))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.log.append(("seek", tp.partition, offset))


class RecordingClient:
    def __init__(self, log: list[tuple[object, ...]], fail: int = 0, error: Exception | None = None) -> None:
        self.log = log
        self.fail = fail
        self.error = error or DatabaseError("warehouse down")
        self.marks: list[str] = []

    def insert(self, table, rows, column_names, database, settings) -> None:
        if self.fail:
            self.fail -= 1
            raise self.error
        self.log.append(("insert", len(rows), settings["insert_deduplication_token"]))

    def command(self, sql, parameters=None, settings=None) -> None:
        """The months marked for a rebuild after each insert (kept apart from the insert log)."""
        assert "rollup_log" in sql
        self.marks.append(sql)


class NoDeadLetters:
    def send(self, *args, **kwargs) -> None:
        raise AssertionError("no dead letter expected")

    def flush(self) -> None:
        pass


def records(partition: int, first: int, count: int, sent_at: float | None = None) -> dict[TopicPartition, list[Record]]:
    headers = sent_at_headers(sent_at) if sent_at is not None else []
    batch = [
        Record(offset, b"k", make_event(f"C01/{partition}-{offset}").to_bytes(), headers)
        for offset in range(first, first + count)
    ]
    return {TopicPartition(TOPIC, partition): batch}


def loader(consumer, client, batch_size: int, max_wait_s: float) -> EventLoader:
    return EventLoader(consumer, client, "db", NoDeadLetters(), "dlq", "g", batch_size, 0.05, 0.01, max_wait_s)


def test_polls_fill_one_batch_and_one_insert_covers_every_partition():
    log: list[tuple[object, ...]] = []
    consumer = ScriptedConsumer([records(0, 0, 4), records(1, 10, 4), records(0, 4, 2)], log)
    event_loader = loader(consumer, RecordingClient(log), batch_size=10, max_wait_s=60)

    stored = [event_loader.load_once() for _ in range(3)]

    assert stored == [0, 0, 10]
    inserts = [entry for entry in log if entry[0] == "insert"]
    assert inserts == [("insert", 10, "g/events/0/0-5,g/events/1/10-13")]
    assert log[-2:] == [inserts[0], ("commit",)]
    assert [entry[1] for entry in log if entry[0] == "poll"] == [10, 6, 2]  # never more than the batch has room for


def test_a_trickle_is_stored_once_its_oldest_record_waited_max_wait():
    log: list[tuple[object, ...]] = []
    consumer = ScriptedConsumer([records(0, 0, 3, sent_at=time.time())], log)
    event_loader = loader(consumer, RecordingClient(log), batch_size=1000, max_wait_s=0.3)

    started = time.monotonic()
    assert event_loader.load_once() == 0
    while not event_loader.load_once():
        assert time.monotonic() - started < 5, "the pending batch was never stored"

    assert time.monotonic() - started >= 0.3
    assert [entry for entry in log if entry[0] != "poll"] == [("insert", 3, "g/events/0/0-2"), ("commit",)]
    assert event_loader.stats.latency.total == 3
    assert 0.25 <= event_loader.stats.latency.quantile(0.5) < 5


def test_a_failed_insert_commits_nothing_and_seeks_every_partition_back():
    log: list[tuple[object, ...]] = []
    polls = [records(0, 0, 2), records(2, 7, 3)]
    event_loader = loader(ScriptedConsumer(polls, log), RecordingClient(log, fail=1), batch_size=5, max_wait_s=60)

    assert [event_loader.load_once() for _ in range(2)] == [0, 0]

    assert ("commit",) not in log
    assert {entry for entry in log if entry[0] == "seek"} == {("seek", 0, 0), ("seek", 2, 7)}
    assert event_loader.stats.insert_failures == 1
    assert not event_loader.pending.records


def test_a_clickhouse_server_refusing_connections_costs_retries_and_nothing_else():
    """What clickhouse-connect raises when the server is down or restarting (no server runs where the suite runs:
    this is the only test of a server outage; the fault suite fails chDB's disk instead)."""
    refused = OperationalError("HTTPConnectionPool(host='127.0.0.1', port=8123): Connection refused")
    log: list[tuple[object, ...]] = []
    polls = [records(0, 0, 3)] * 3  # each seek back re-delivers the batch (this consumer only plays a script)
    client = RecordingClient(log, fail=2, error=refused)
    event_loader = loader(ScriptedConsumer(polls, log), client, batch_size=3, max_wait_s=60)

    stored = [event_loader.load_once() for _ in range(4)]

    assert stored == [0, 0, 3, 0]  # twice refused (seek back, back off), then the same batch stored once
    assert [entry for entry in log if entry[0] == "seek"] == [("seek", 0, 0), ("seek", 0, 0)]
    assert [entry for entry in log if entry[0] in ("insert", "commit")] == [
        ("insert", 3, "g/events/0/0-2"),
        ("commit",),
    ]
    assert log.index(("commit",)) > log.index(("insert", 3, "g/events/0/0-2"))
    assert event_loader.stats.insert_failures == 2


def test_stopping_stores_what_is_pending():
    log: list[tuple[object, ...]] = []
    event_loader = loader(ScriptedConsumer([records(0, 0, 2)], log), RecordingClient(log), 100, max_wait_s=60)
    polls = iter(range(3))

    stats = event_loader.run(lambda: next(polls, None) is None)

    assert stats.rows_inserted == 2
    assert log[-1] == ("commit",)
