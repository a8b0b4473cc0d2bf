"""What the worker exports about itself: its per-message counters, the consumer lag of its group, its readiness."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

from prometheus_client import REGISTRY

from learnstream.settings import Settings
from schemas.taxonomy import LearningCategory
from streams import app
from streams.classify import default_classifier
from streams.processing import MessageOrigin, decide

ORIGIN = MessageOrigin("unit.activity.raw", 0, 1, None)
NOW = datetime(2026, 11, 29, tzinfo=UTC)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_classified_activity_counts_under_its_source_and_its_event_under_its_category(make_activity):
    activity = make_activity(text="how do I rotate the kafka credentials?")
    before = (
        value("learnstream_worker_activities_total", source="slack"),
        value("learnstream_worker_events_total", category="asked"),
    )
    outcome = decide(activity.to_bytes(), ORIGIN, NOW, default_classifier())
    assert outcome.event.category is LearningCategory.ASKED  # type: ignore[union-attr]

    app.DecisionCounters().count(outcome)

    assert value("learnstream_worker_activities_total", source="slack") == before[0] + 1
    assert value("learnstream_worker_events_total", category="asked") == before[1] + 1


def test_a_dead_letter_counts_under_its_reason_and_the_source_it_names_or_unknown(make_activity):
    names_slack = json.dumps({**json.loads(make_activity().to_bytes()), "actor": None}).encode()
    before = {
        "unknown": value("learnstream_worker_activities_total", source="unknown"),
        "slack": value("learnstream_worker_activities_total", source="slack"),
        "invalid_json": value("learnstream_worker_dead_letters_total", reason="invalid_json"),
        "schema_invalid": value("learnstream_worker_dead_letters_total", reason="schema_invalid"),
        "events": sum(value("learnstream_worker_events_total", category=c.value) for c in LearningCategory),
    }
    counters = app.DecisionCounters()

    counters.count(decide(b"{ not json", ORIGIN, NOW, default_classifier()))
    counters.count(decide(names_slack, ORIGIN, NOW, default_classifier()))

    assert value("learnstream_worker_activities_total", source="unknown") == before["unknown"] + 1
    assert value("learnstream_worker_activities_total", source="slack") == before["slack"] + 1
    assert value("learnstream_worker_dead_letters_total", reason="invalid_json") == before["invalid_json"] + 1
    assert value("learnstream_worker_dead_letters_total", reason="schema_invalid") == before["schema_invalid"] + 1
    assert sum(value("learnstream_worker_events_total", category=c.value) for c in LearningCategory) == before["events"]


class TP(NamedTuple):
    topic: str
    partition: int


class FakeConsumer:
    """The parts of faust's consumer the lag measurement uses."""

    def __init__(self, assigned: set[TP], ends: dict[TP, int], earliest: dict[TP, int], committed: dict) -> None:
        self.assigned, self.ends, self.earliest, self._committed_offset = assigned, ends, earliest, committed

    def assignment(self) -> set[TP]:
        return self.assigned

    async def highwaters(self, *partitions: TP) -> dict[TP, int]:
        return {tp: self.ends[tp] for tp in partitions}

    async def earliest_offsets(self, *partitions: TP) -> dict[TP, int]:
        return {tp: self.earliest[tp] for tp in partitions}


def lag(group: str, topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(
        "learnstream_consumer_lag_messages", {"group": group, "topic": topic, "partition": str(partition)}
    )


def test_lag_is_the_end_offset_minus_the_committed_one_per_assigned_partition_of_the_raw_topic():
    raw, other = TP("unit-lag.raw", 0), TP("unit-lag.other", 0)
    uncommitted, caught_up = TP("unit-lag.raw", 1), TP("unit-lag.raw", 2)
    consumer = FakeConsumer(
        assigned={raw, other, uncommitted, caught_up},
        ends={raw: 10, other: 99, uncommitted: 7, caught_up: 4},
        earliest={uncommitted: 3, caught_up: 0},
        committed={raw: 6, caught_up: 4},  # faust keeps None (or nothing) for a partition the group never committed
    )
    worker = SimpleNamespace(consumer=consumer, conf=SimpleNamespace(id="unit-lag-group"))
    shown: set[tuple[str, str, str]] = set()

    asyncio.run(app.refresh_consumer_lag(worker, "unit-lag.raw", shown))  # type: ignore[arg-type]

    assert lag("unit-lag-group", "unit-lag.raw", 0) == 4
    assert lag("unit-lag-group", "unit-lag.raw", 1) == 4  # from the earliest offset: nothing committed yet
    assert lag("unit-lag-group", "unit-lag.raw", 2) == 0
    assert lag("unit-lag-group", "unit-lag.other", 0) is None  # only the raw topic is the worker's

    consumer.assigned = {raw}  # a rebalance took partitions 1 and 2 elsewhere
    consumer._committed_offset[raw] = 10
    asyncio.run(app.refresh_consumer_lag(worker, "unit-lag.raw", shown))  # type: ignore[arg-type]

    assert lag("unit-lag-group", "unit-lag.raw", 0) == 0
    assert lag("unit-lag-group", "unit-lag.raw", 1) is None  # another worker reports it now
    assert lag("unit-lag-group", "unit-lag.raw", 2) is None
    assert shown == {("unit-lag-group", "unit-lag.raw", "0")}


def test_the_worker_is_ready_once_faust_assigned_it_partitions(tmp_path: Path):
    faust_app = app.build_faust_app(Settings(data_dir=tmp_path))
    readiness = app.worker_readiness(faust_app)
    assert "assign" in readiness()

    asyncio.run(faust_app.on_partitions_assigned.send(set()))  # a spare worker of its group is ready too

    assert readiness() == ""
