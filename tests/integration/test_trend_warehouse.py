"""The trend tables and named queries on the real engine, fed through the real loader: a re-delivered event is
counted once, an edit moves its event without counting it twice, a deletion takes it out of every figure, an
erased person leaves every table and does not come back, and a person who moves team is counted in the new team
from the day of the move."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kafka import KafkaProducer

from learnstream.settings import Settings
from schemas.activity import activity_id_for
from schemas.directory import DirectoryRecord, TeamMembership
from schemas.learning_event import LearningEvent
from tests.integration.test_loader import run_loader
from tests.integration.test_team_dimension import publish_directory
from warehouse.counts import cell_events, stored_events
from warehouse.directory import load_directory
from warehouse.erasure import erase_person, erased_people, purge_erased
from warehouse.events_table import COLUMNS, event_row
from warehouse.queries import Filters, Granularity, run_trend
from warehouse.rollup import RETAINED, apply_retention, due_days, rebuild_due

VERSION = "rules-test"
DAY = datetime(2024, 3, 5, 9, tzinfo=UTC)
PLATFORM = [f"p_{'1' * 22}{n:02d}" for n in range(6)]
DATA = [f"p_{'2' * 22}{n:02d}" for n in range(5)]
MARCH = Filters(date(2024, 3, 1), date(2024, 3, 31), Granularity.MONTH)


def learning_event(native: str, actor: str, category: str, at: datetime, **fields: Any) -> LearningEvent:
    activity_id = activity_id_for("slack", "acme", native)
    thread = fields.pop("thread", native)
    document = {
        "event_id": fields.pop("event_id", activity_id),
        "activity_id": activity_id,
        "source": "slack",
        "source_instance": "acme",
        "conversation_key": f"slack:acme:thread:{thread}",
        "activity_kind": fields.pop("kind", "message"),
        "occurred_at": at.isoformat(),
        "actor": actor,
        "category": category,
        "formal": False,
        "confidence": 0.8,
        "decided_by": "test",
        "classifier_version": fields.pop("version", VERSION),
        **fields,
    }
    return LearningEvent.from_bytes(json.dumps(document).encode())


def question(n: int) -> LearningEvent:
    return learning_event(f"q{n}", PLATFORM[n], "asked", DAY, topics=["kafka"])


def answer(n: int, asker: int) -> LearningEvent:
    return learning_event(
        f"a{n}",
        DATA[n],
        "answered",
        DAY + timedelta(minutes=10),
        thread=f"q{asker}",
        counterpart=PLATFORM[asker],
        response_delay_seconds=600.0,
        page_refs=["wiki.example.org/wiki/Kafka"] if n < 2 else [],
    )


def publish(settings: Settings, events: list[LearningEvent]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    for event in events:
        producer.send(
            settings.topics.names.learning_events, key=event.conversation_key.encode(), value=event.to_bytes()
        )
    producer.flush()
    producer.close()


def load(settings: Settings, client: Any, database: str, events: list[LearningEvent]) -> None:
    publish(settings, events)
    run_loader(settings, client, database, idle_s=2.0)
    rebuild_due(client, database)


def cell(client: Any, database: str, query: str, filters: Filters = MARCH, **dims: str) -> dict[str, Any]:
    result = run_trend(client, database, query, filters, VERSION, 5)
    (row,) = [row for row in result.rows if all(row.dims.get(name) == value for name, value in dims.items())]
    return {**row.values, "withheld": row.withheld}


def test_figures_follow_redelivery_edits_deletions_moves_and_erasure(settings: Settings, warehouse) -> None:
    client, database = warehouse
    publish_directory(
        settings,
        [
            DirectoryRecord(person=p, memberships=(TeamMembership(valid_from=date(2024, 1, 1), team="platform"),))
            for p in PLATFORM
        ]
        + [
            DirectoryRecord(person=p, memberships=(TeamMembership(valid_from=date(2024, 1, 1), team="data"),))
            for p in DATA
        ],
    )
    load_directory(settings.kafka, settings.topics.names.directory, client, database)
    first = [question(n) for n in range(6)] + [answer(n, n) for n in range(5)]
    load(settings, client, database, first)

    assert cell(client, database, "activity", team="platform", category="asked")["events"] == 6
    assert cell(client, database, "activity", team="data", category="answered")["events"] == 5
    waits = cell(client, database, "time-to-answer", team="platform")
    assert (waits["questions"], waits["unanswered_rate"], waits["median_wait_s"]) == (6, round(1 / 6, 3), 600.0)
    assert cell(client, database, "knowledge-flow", asker_team="platform", answerer_team="data")["answers"] == 5
    reuse = run_trend(client, database, "knowledge-reuse", MARCH, VERSION, 2).rows
    assert [(row.dims["page"], row.values["answers"]) for row in reuse] == [
        ("(any page)", 2),
        ("wiki.example.org/wiki/Kafka", 2),
    ]

    # Everything delivered again, in other batches: the same figures.
    load(settings, client, database, first)
    assert sum(stored_events(client, database).values()) == 11
    assert cell_events(client, database) == stored_events(client, database)
    assert cell(client, database, "activity", team="platform", category="asked")["events"] == 6

    # An edit a month later turns question 0 into small talk: it leaves `asked` and stays in March.
    edited = learning_event(
        "e0", PLATFORM[0], "none", DAY + timedelta(days=28), event_id=question(0).event_id, kind="message_edited"
    )
    load(settings, client, database, [edited])
    assert cell(client, database, "activity", team="platform", category="asked")["events"] == 5
    rows = client.query(
        f"SELECT toYYYYMM(occurred_at), category FROM {database}.learning_events FINAL WHERE event_id = %(id)s",
        parameters={"id": question(0).event_id},
    ).result_rows
    assert rows == [(202403, "none")]  # kept the item's time: one month partition, one row

    # Answer 1 deleted: out of every figure (data's answers now count four people: withheld at k=5).
    deleted = learning_event(
        "d1", DATA[1], "none", DAY + timedelta(days=1), event_id=answer(1, 1).event_id, kind="item_deleted"
    )
    load(settings, client, database, [deleted])
    answered = cell(client, database, "activity", team="data", category="answered")
    assert answered["events"] is None and "events" in answered["withheld"]
    assert (
        sum(count for (_, _, category), count in stored_events(client, database).items() if category == "answered") == 4
    )
    assert cell(client, database, "time-to-answer", team="platform")["unanswered_rate"] == round(2 / 5, 3)

    # Erasure: platform person 5 leaves every table; the figures are rebuilt before erase returns.
    report = erase_person(client, database, PLATFORM[5])
    assert (report.events_deleted, report.memberships_deleted, report.days_rebuilt) == (1, 1, (DAY.date(),))
    assert cell(client, database, "activity", team="platform", category="asked")["events"] is None  # 4 < k
    for table, column in (("learning_events", "actor"), ("team_memberships", "person")):
        found = client.query(
            f"SELECT count() FROM {database}.{table} WHERE {column} = %(p)s", parameters={"p": PLATFORM[5]}
        )
        assert found.result_rows == [(0,)]
    # A replay brings the question back to the events table; the upkeep removes it again and no figure moved.
    load(settings, client, database, [question(5)])
    erased = erased_people(client, database)
    assert PLATFORM[5] in erased
    assert purge_erased(client, database, erased) == 1
    rebuild_due(client, database)
    assert cell_events(client, database) == stored_events(client, database)
    assert sum(count for (_, _, category), count in cell_events(client, database).items() if category == "asked") == 4
    assert not due_days(client, database)


def test_a_move_between_teams_rebuilds_the_months_of_the_person(settings: Settings, warehouse) -> None:
    client, database = warehouse
    everyone = PLATFORM + DATA
    publish_directory(
        settings,
        [
            DirectoryRecord(person=p, memberships=(TeamMembership(valid_from=date(2024, 1, 1), team="platform"),))
            for p in everyone
        ],
    )
    load_directory(settings.kafka, settings.topics.names.directory, client, database)
    load(settings, client, database, [learning_event(f"s{n}", p, "shared", DAY) for n, p in enumerate(everyone)])
    assert cell(client, database, "activity", team="platform", category="shared")["events"] == 11

    # HR: the five data people were in data since January; only their months are due, then rebuilt.
    publish_directory(
        settings,
        [
            DirectoryRecord(person=p, memberships=(TeamMembership(valid_from=date(2024, 1, 1), team="data"),))
            for p in DATA
        ],
    )
    assert load_directory(settings.kafka, settings.topics.names.directory, client, database) == 5
    assert due_days(client, database) == [DAY.date()]
    assert load_directory(settings.kafka, settings.topics.names.directory, client, database) == 0  # nothing changed
    rebuild_due(client, database)
    assert cell(client, database, "activity", team="platform", category="shared")["events"] == 6
    assert cell(client, database, "activity", team="data", category="shared")["events"] == 5


def test_queries_read_one_classifier_version(settings: Settings, warehouse) -> None:
    client, database = warehouse
    events = [learning_event(f"v{n}", PLATFORM[n], "shared", DAY) for n in range(6)]
    again = [learning_event(f"v{n}", PLATFORM[n], "documented", DAY, version="rules-next") for n in range(6)]
    load(settings, client, database, events + again)
    old = run_trend(client, database, "activity", MARCH, VERSION, 5).rows
    new = run_trend(client, database, "activity", MARCH, "rules-next", 5).rows
    assert {row.dims["category"] for row in old} == {"shared", "(all)"}
    assert {row.dims["category"] for row in new} == {"documented", "(all)"}
    assert all(row.values["events"] == 6 for row in old + new)


def test_retention_is_set_from_the_setting_on_events_and_trend_tables(warehouse) -> None:
    client, database = warehouse
    old = learning_event("old", PLATFORM[0], "shared", datetime.now(UTC) - timedelta(days=90))
    recent = learning_event("recent", PLATFORM[1], "shared", datetime.now(UTC) - timedelta(days=3))
    rows = [event_row(event, 0, offset) for offset, event in enumerate((old, recent))]
    client.insert(f"{database}.learning_events", rows, column_names=list(COLUMNS))
    assert apply_retention(client, database, 30) == list(RETAINED)
    deadline = time.monotonic() + 60  # the rows already stored expire in a background mutation
    while time.monotonic() < deadline and stored_ids(client, database) != [recent.event_id]:
        time.sleep(0.5)
    assert stored_ids(client, database) == [recent.event_id]
    assert apply_retention(client, database, 30) == []  # already so: nothing rewritten
    engines = dict(
        client.query(f"SELECT name, engine_full FROM system.tables WHERE database = '{database}'").result_rows
    )
    assert "TTL toDate(occurred_at) + toIntervalDay(30)" in engines["learning_events"]
    assert "TTL day + toIntervalDay(30)" in engines["activity_cells"]
    assert apply_retention(client, database, 0) == list(RETAINED)
    engines = dict(
        client.query(f"SELECT name, engine_full FROM system.tables WHERE database = '{database}'").result_rows
    )
    assert all("TTL" not in engines[table] for table in RETAINED)


def stored_ids(client: Any, database: str) -> list[str]:
    return [str(row[0]) for row in client.query(f"SELECT event_id FROM {database}.learning_events").result_rows]


def test_week_and_month_rows_hold_what_their_days_hold(settings: Settings, warehouse) -> None:
    client, database = warehouse
    # A week that spans two months (Mon 2024-04-29 .. Sun 2024-05-05), loaded in two steps: April, then May.
    april = [
        learning_event(f"w{n}", PLATFORM[n], "shared", datetime(2024, 4, 29 + n % 2, 9, tzinfo=UTC)) for n in range(6)
    ]
    may = [
        learning_event(f"m{n}", PLATFORM[n], "shared", datetime(2024, 5, 2 + n % 3, 9, tzinfo=UTC)) for n in range(6)
    ]
    load(settings, client, database, april)
    load(settings, client, database, may)
    by_grain = dict(
        client.query(
            f"SELECT grain, sum(events) FROM {database}.activity_cells GROUP BY grain",
        ).result_rows
    )
    assert by_grain == {"day": 12, "week": 12, "month": 12}
    week = Filters(date(2024, 4, 29), date(2024, 5, 5), Granularity.WEEK)
    assert cell(client, database, "activity", week, team="(unresolved)", category="shared")["events"] == 12
    for month, events in ((date(2024, 4, 1), 6), (date(2024, 5, 1), 6)):
        filters = Filters(month, month, Granularity.MONTH)
        assert cell(client, database, "activity", filters, team="(unresolved)", category="shared")["events"] == events
