"""The loader's Prometheus metrics without a broker: consumer lag, freshness, and what one batch counts.

The loader on the real broker and chDB, scraped over HTTP, is in tests/integration/test_loader_metrics.py.
"""

from __future__ import annotations

import math
import time

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from prometheus_client import REGISTRY, CollectorRegistry, Gauge

from learnstream.consumer_lag import ConsumerLag, first_unconsumed, lag_messages
from tests.unit.test_loader_batching import TOPIC, Record, RecordingClient, ScriptedConsumer, records
from tests.unit.test_warehouse_pure import make_event
from warehouse.freshness import StoredFreshness
from warehouse.loader import EventLoader

P0, P1, P2 = (TopicPartition(TOPIC, p) for p in range(3))


def lag_gauge() -> tuple[Gauge, CollectorRegistry]:
    registry = CollectorRegistry()
    gauge = Gauge("lag", "lag", ["group", "topic", "partition"], registry=registry)
    return gauge, registry


class OffsetsConsumer:
    """Answers assignment, end, beginning and committed offsets from dictionaries; counts the end-offset
    round-trips."""

    def __init__(self, ends: dict[TopicPartition, int], committed: dict[TopicPartition, int | None]) -> None:
        self.ends = ends
        self.commits = committed
        self.beginnings = dict.fromkeys(ends, 0)
        self.end_reads = 0
        self.fail = False

    def assignment(self) -> set[TopicPartition]:
        return set(self.commits)

    def end_offsets(self, partitions: list[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        self.end_reads += 1
        if self.fail:
            raise KafkaTimeoutError("no answer")
        return {tp: self.ends[tp] for tp in partitions}

    def beginning_offsets(self, partitions: list[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        return {tp: self.beginnings[tp] for tp in partitions}

    def committed(self, tp: TopicPartition, timeout_ms: int) -> int | None:
        return self.commits[tp]


def test_lag_is_end_minus_the_committed_offset_or_the_beginning_without_one():
    assert lag_messages(10, 4, beginning=0) == 6
    assert lag_messages(5, 6, beginning=0) == 0  # a commit past a stale end offset is no lag
    assert lag_messages(7, None, beginning=2) == 5  # no commit yet: everything retained is lag
    assert lag_messages(7, 1, beginning=3) == 4  # a commit retention has deleted since
    assert first_unconsumed(None, beginning=5) == 5


def test_a_partition_without_a_commit_counts_from_its_beginning():
    gauge, _ = lag_gauge()
    consumer = OffsetsConsumer({P0: 10, P1: 8}, {P0: 4, P1: None})
    consumer.beginnings[P1] = 3
    assert ConsumerLag(consumer, "g", every_s=0, gauge=gauge).refresh() == {P0: 6, P1: 5}


def test_lag_is_refreshed_at_most_every_period_and_labelled_with_the_group():
    now = [100.0]
    gauge, registry = lag_gauge()
    consumer = OffsetsConsumer({P0: 10, P1: 3}, {P0: 4, P1: 3})
    lag = ConsumerLag(consumer, "loaders", every_s=5.0, gauge=gauge, clock=lambda: now[0])

    assert lag.refresh() == {P0: 6, P1: 0}
    consumer.commits[P0] = 10
    now[0] += 4.9
    assert lag.refresh() is None  # not due: no round-trip to the broker
    now[0] += 0.1
    assert lag.refresh() == {P0: 0, P1: 0}

    assert consumer.end_reads == 2
    assert registry.get_sample_value("lag", {"group": "loaders", "topic": TOPIC, "partition": "0"}) == 0


def test_a_partition_taken_away_loses_its_series_and_a_failed_read_keeps_the_last_values():
    gauge, registry = lag_gauge()
    consumer = OffsetsConsumer({P0: 10, P1: 8}, {P0: 4, P1: 2})
    lag = ConsumerLag(consumer, "g", every_s=0, gauge=gauge)
    lag.refresh()

    del consumer.commits[P1]  # a rebalance gave partition 1 to another process of the group
    lag.refresh()
    consumer.fail = True
    assert lag.refresh() is None

    assert registry.get_sample_value("lag", {"group": "g", "topic": TOPIC, "partition": "0"}) == 6
    assert registry.get_sample_value("lag", {"group": "g", "topic": TOPIC, "partition": "1"}) is None


def test_freshness_is_unknown_before_any_event_then_grows_from_the_newest_send_time():
    registry = CollectorRegistry()
    newest = Gauge("newest", "newest", registry=registry)
    age = Gauge("age", "age", registry=registry)
    now = [1_000.0]
    freshness = StoredFreshness(newest, age, clock=lambda: now[0])

    assert math.isnan(registry.get_sample_value("age") or 0.0)
    freshness.record([])  # a batch without sent-at headers changes nothing
    assert registry.get_sample_value("newest") == 0
    freshness.record([990.0, 995.0, 993.0])
    freshness.record([980.0])  # an older event landing later does not make the warehouse look fresher
    now[0] = 1_002.5

    assert registry.get_sample_value("newest") == 995.0
    assert registry.get_sample_value("age") == pytest.approx(7.5)


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


class CountingDeadLetters:
    def __init__(self) -> None:
        self.sent = 0

    def send(self, *args, **kwargs) -> None:
        self.sent += 1

    def flush(self) -> None:
        pass


def test_one_batch_counts_events_dead_letters_insert_rows_and_duration_and_the_newest_send_time():
    log: list[tuple[object, ...]] = []
    sent_at = time.time()
    poll = records(0, 0, 4, sent_at=sent_at)
    poll[P0].append(Record(4, b"k", b"not an event"))
    dead_letters = CountingDeadLetters()
    event_loader = EventLoader(
        ScriptedConsumer([poll], log), RecordingClient(log), "db", dead_letters, "dlq", "g", 5, 0.05, 0.01
    )
    before = {
        "events": sample("learnstream_loader_events_total"),
        "letters": sample("learnstream_loader_dead_letters_total", {"reason": "schema_invalid"}),
        "inserts": sample("learnstream_loader_insert_seconds_count"),
        "rows": sample("learnstream_loader_batch_rows_sum"),
    }

    assert event_loader.load_once() == 5

    assert sample("learnstream_loader_events_total") - before["events"] == 4
    assert sample("learnstream_loader_dead_letters_total", {"reason": "schema_invalid"}) - before["letters"] == 1
    assert sample("learnstream_loader_insert_seconds_count") - before["inserts"] == 1
    assert sample("learnstream_loader_batch_rows_sum") - before["rows"] == 4
    assert sample("learnstream_loader_newest_event_sent_timestamp_seconds") >= sent_at - 0.001
    assert dead_letters.sent == 1


def test_a_failed_insert_is_counted_and_stores_no_event():
    log: list[tuple[object, ...]] = []
    event_loader = EventLoader(
        ScriptedConsumer([records(1, 0, 3)], log), RecordingClient(log, fail=1), "db", None, "dlq", "g", 3, 0.05, 0.01
    )
    errors, events = sample("learnstream_loader_insert_errors_total"), sample("learnstream_loader_events_total")

    assert event_loader.load_once() == 0

    assert sample("learnstream_loader_insert_errors_total") - errors == 1
    assert sample("learnstream_loader_events_total") == events


def test_the_loader_is_ready_once_it_polled():
    event_loader = EventLoader(ScriptedConsumer([], []), RecordingClient([]), "db", None, "dlq", "g", 3, 0.01, 0.01)

    assert "not polled" in event_loader.readiness()
    event_loader.load_once()
    assert event_loader.readiness() == ""


def test_an_event_of_an_erased_person_is_counted_as_dropped():
    log: list[tuple[object, ...]] = []
    event = make_event("C01/erased")
    poll = {P0: [Record(0, b"k", event.to_bytes())]}
    event_loader = EventLoader(
        ScriptedConsumer([poll], log), RecordingClient(log), "db", None, "dlq", "g", 1, 0.05, 0.01
    )
    event_loader.erased = frozenset({event.actor})
    dropped = sample("learnstream_loader_dropped_events_total", {"reason": "erased"})

    assert event_loader.load_once() == 1

    assert sample("learnstream_loader_dropped_events_total", {"reason": "erased"}) - dropped == 1
