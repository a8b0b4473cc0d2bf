"""The k rule as a property, on the real engine: random small teams, random activity, random filter combinations.

For every released figure, the distinct people behind it (recomputed here from the generated events, not read
from the warehouse) number at least k; no family with a released total has withheld members that together count
fewer than k people; and a change between periods is released only when both periods are.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from warehouse.events_table import COLUMNS, TABLE
from warehouse.privacy import TOTAL, derivable
from warehouse.queries import QUERIES, Filters, Granularity, period_start, run_trend
from warehouse.rollup import FLOW_PEOPLE_CAP, mark_days, rebuild_due

K = 5
VERSION = "rules-prop"
CATEGORIES = ["asked", "answered", "shared", "documented", "completed"]
SOURCES = ["slack", "mediawiki", "xapi"]
TOPICS = ["kafka", "python", "sales"]
START = date(2024, 4, 1)


@dataclass(frozen=True)
class Generated:
    event_id: str
    actor: str
    team: str
    day: date
    category: str
    source: str
    topic: str
    #: whom an answer answers (someone of another team or the same one)
    counterpart: str | None = None


def organisation(rng: random.Random) -> dict[str, str]:
    """Four teams of 2 to 9 people: person -> team."""
    people: dict[str, str] = {}
    for team in range(4):
        for member in range(rng.randint(2, 9)):
            people[f"p_{team:02d}{member:022d}"] = f"team{team}"
    return people


def activity(rng: random.Random, people: dict[str, str], count: int) -> list[Generated]:
    events = [
        Generated(
            f"{n:032x}",
            actor,
            people[actor],
            START + timedelta(days=rng.randrange(42)),
            rng.choice(CATEGORIES),
            rng.choice(SOURCES),
            rng.choice(TOPICS),
        )
        for n, actor in enumerate(rng.choice(list(people)) for _ in range(count))
    ]
    asked = random.Random(count)  # a stream of its own: the draws above stay as they were
    return [
        replace(event, counterpart=asked.choice(list(people))) if event.category == "answered" else event
        for event in events
    ]


def store(client: Any, database: str, people: dict[str, str], events: list[Generated]) -> None:
    client.command(f"TRUNCATE TABLE {database}.learning_events")
    client.command(f"TRUNCATE TABLE {database}.team_memberships")
    client.insert(
        f"{database}.team_memberships",
        [
            [person, date(2024, 1, 1), team, "eng", None, datetime(2024, 1, 1, tzinfo=UTC)]
            for person, team in people.items()
        ],
        column_names=["person", "valid_from", "team", "department", "manager", "record_at"],
    )
    rows = []
    for offset, event in enumerate(events):
        values = {
            "event_id": event.event_id,
            "activity_id": event.event_id,
            "schema_version": 2,
            "source": event.source,
            "source_instance": "x",
            "conversation_key": event.event_id,
            "activity_kind": "message",
            "occurred_at": datetime(event.day.year, event.day.month, event.day.day, 12, tzinfo=UTC),
            "actor": event.actor,
            "counterpart": event.counterpart,
            "category": event.category,
            "formal": event.category == "completed",
            "confidence": 1.0,
            "decided_by": "test",
            "classifier_version": VERSION,
            "topics": [event.topic],
            "response_delay_seconds": None,
            "retracted": False,
            "page_refs": [],
            "kafka_partition": 0,
            "kafka_offset": offset,
        }
        rows.append([values[column] for column in COLUMNS])
    client.insert(f"{database}.{TABLE}", rows, column_names=list(COLUMNS))
    mark_days(client, database, {event.day for event in events})
    rebuild_due(client, database)


def people_of(events: Iterable[Generated]) -> int:
    return len({event.actor for event in events})


def random_filters(rng: random.Random, people: dict[str, str]) -> Filters:
    granularity = rng.choice([Granularity.DAY, Granularity.WEEK, Granularity.MONTH])
    since = START + timedelta(days=rng.randrange(30))
    teams = tuple(sorted(rng.sample(sorted(set(people.values())), rng.randint(1, 3)))) if rng.random() < 0.5 else ()
    sources = (rng.choice(SOURCES),) if rng.random() < 0.3 else ()
    topics = (rng.choice(TOPICS),) if rng.random() < 0.3 else ()
    return Filters(since, since + timedelta(days=rng.randrange(1, 20)), granularity, teams, (), topics, sources)


def matching(events: list[Generated], filters: Filters) -> list[Generated]:
    return [
        event
        for event in events
        if filters.since <= event.day <= filters.until
        and (not filters.teams or event.team in filters.teams)
        and (not filters.sources or event.source in filters.sources)
        and (not filters.topics or event.topic in filters.topics)
    ]


@pytest.mark.parametrize("seed", range(6))
def test_no_released_figure_counts_fewer_than_k_people(warehouse, seed: int) -> None:
    client, database = warehouse
    rng = random.Random(seed)
    people = organisation(rng)
    events = activity(rng, people, rng.randint(80, 400))
    store(client, database, people, events)
    checked = 0
    for _ in range(12):
        filters = random_filters(rng, people)
        for name in ("activity", "source-mix", "formal-ratio"):
            if set(filters.named()) - QUERIES[name].filters:
                continue  # refused with a clear error, tested elsewhere
            result = run_trend(client, database, name, filters, VERSION, K)
            aligned = result.filters
            assert derivable(result.rows, "events", K) == []
            for row in result.rows:
                start = date.fromisoformat(row.dims["period"])
                period_end = {
                    Granularity.DAY: start,
                    Granularity.WEEK: start + timedelta(days=6),
                    Granularity.MONTH: (start + timedelta(days=32)).replace(day=1) - timedelta(days=1),
                }[aligned.granularity]
                within = [
                    event
                    for event in matching(events, aligned)
                    if start <= event.day <= period_end and period_start(event.day, aligned.granularity) == start
                ]
                if "team" in row.dims:
                    within = [event for event in within if event.team == row.dims["team"]]
                if row.dims.get("category", TOTAL) != TOTAL:
                    within = [event for event in within if event.category == row.dims["category"]]
                if row.dims.get("source", TOTAL) != TOTAL:
                    within = [event for event in within if event.source == row.dims["source"]]
                if name == "formal-ratio":
                    formal = [event for event in within if event.category == "completed"]
                    informal = [event for event in within if event.category != "completed"]
                    if row.values["formal_events"] is not None:
                        assert people_of(formal) >= K and row.values["formal_events"] == len(formal)
                    if row.values["informal_events"] is not None:
                        assert people_of(informal) >= K and row.values["informal_events"] == len(informal)
                    continue
                if row.values["events"] is not None:
                    checked += 1
                    assert people_of(within) >= K, (name, row.dims)
                    assert row.values["events"] == len(within), (name, row.dims)
                else:
                    assert "events" in row.withheld
                if name == "activity" and row.values.get("change") is not None:
                    assert row.values["events"] is not None  # a change only between released figures
    assert checked > 0, "the random organisation released nothing at all: the property was not exercised"


@pytest.mark.parametrize("seed", range(3))
def test_the_team_summaries_answer_as_the_full_tables(warehouse, seed: int) -> None:
    """activity, participation and knowledge-flow read team_activity and team_flow unless filtered by more than
    team; asked for every source (every event has one), they read the full tables: the answers must be the same."""
    client, database = warehouse
    rng = random.Random(100 + seed)
    people = organisation(rng)
    events = activity(rng, people, rng.randint(150, 400))
    store(client, database, people, events)
    compared = 0
    for granularity in (Granularity.DAY, Granularity.WEEK, Granularity.MONTH):
        for teams in ((), ("team0", "team2")):
            summary = Filters(START, START + timedelta(days=41), granularity, teams)
            full = replace(summary, sources=tuple(SOURCES))
            for name in ("activity", "participation", "knowledge-flow"):
                fast, slow = (run_trend(client, database, name, chosen, VERSION, K).rows for chosen in (summary, full))
                assert [(row.dims, row.values, row.withheld) for row in fast] == [
                    (row.dims, row.values, row.withheld) for row in slow
                ], (name, granularity, teams)
                compared += sum(value is not None for row in fast for value in row.values.values())
    assert compared > 0


def test_knowledge_flow_tells_groups_above_the_cap_of_team_flow_apart(warehouse) -> None:
    """team_flow counts askers and answerers up to FLOW_PEOPLE_CAP; a larger k reads the exact flow_cells."""
    client, database = warehouse
    size = FLOW_PEOPLE_CAP + 5
    people = {f"p_a{member:023d}": "askers" for member in range(size)}
    people |= {f"p_b{member:023d}": "helpers" for member in range(size)}
    askers, helpers = (
        sorted(person for person in people if people[person] == "askers"),
        sorted(person for person in people if people[person] == "helpers"),
    )
    answers = [
        Generated(
            f"{n:032x}", helpers[n], "helpers", START + timedelta(days=n), "answered", "slack", "kafka", askers[n]
        )
        for n in range(size)
    ]
    store(client, database, people, answers)
    month = Filters(START, START + timedelta(days=40), Granularity.MONTH)

    def flow(k: int) -> dict[str, Any]:
        rows = run_trend(client, database, "knowledge-flow", month, VERSION, k).rows
        (pair,) = [row for row in rows if row.dims == {"asker_team": "askers", "answerer_team": "helpers"}]
        return pair.values

    assert flow(K) == {"answers": size}
    assert flow(FLOW_PEOPLE_CAP + 2) == {"answers": size}  # 25 askers and 25 answerers: above the cap, still >= k
    assert flow(size) == {"answers": size}
    assert flow(size + 1) == {"answers": None}
