"""The bi_* views on the real engine (chDB, no Kafka): the same answers as the named queries.

Random small organisations and activity (test_trend_privacy.py's generator and `store()`, plus question threads
with answers and wiki links of our own, so time-to-answer waits and knowledge reuse have figures). For every
view, granularity and a spread of periods, the rows of `grain = G AND period = P` must be exactly what
`run_trend` releases for that single period with no filters: the same rows, the same released figures, NULL and
named in `withheld` where it withholds. Also: applying again changes nothing, k changes what is withheld, and
activating another classifier version switches what the views read.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_trend_privacy import (
    SOURCES,
    START,
    TOPICS,
    VERSION,
    Generated,
    activity,
    organisation,
    store,
)
from warehouse.bi import VIEWS, BiView, apply_bi_views, bi_view_statements, complete_families, python_round
from warehouse.connection import connect
from warehouse.dsn import WarehouseTarget
from warehouse.events_table import COLUMNS, TABLE
from warehouse.migrations import migrate
from warehouse.privacy import Row, suppress
from warehouse.queries import QUERIES, Filters, Granularity, period_start, run_trend
from warehouse.rollup import mark_days, rebuild_due
from warehouse.versions import activate

K = 5
OTHER_VERSION = "rules-other"
PAGES = ("wiki/Onboarding", "wiki/Kafka_consumers", "wiki/Release_checklist")
GRANULARITIES = (Granularity.DAY, Granularity.WEEK, Granularity.MONTH)
VIEW_OF: dict[str, BiView] = {view.query: view for view in VIEWS if view.query}

Figures = dict[tuple[str, ...], tuple[dict[str, Any], list[str]]]


@pytest.fixture
def bi_warehouse(warehouse_path: Path) -> Iterator[tuple[Any, str]]:
    """A migrated, fresh database in the session's chDB engine (no Kafka needed), dropped afterwards."""
    database = f"bi_{uuid.uuid4().hex[:10]}"
    client = connect(WarehouseTarget(engine="chdb", database=database, path=warehouse_path))
    migrate(client, database)
    yield client, database
    client.command(f"DROP DATABASE IF EXISTS {database}")


def event_row(event_id: str, actor: str, counterpart: str | None, category: str, at: datetime, **fields: Any) -> list:
    values: dict[str, Any] = {
        "event_id": event_id,
        "activity_id": event_id,
        "schema_version": 2,
        "source": fields.get("source", "slack"),
        "source_instance": "x",
        "conversation_key": fields.get("conversation", event_id),
        "activity_kind": "message",
        "occurred_at": at,
        "actor": actor,
        "counterpart": counterpart,
        "category": category,
        "formal": category == "completed",
        "confidence": 1.0,
        "decided_by": "test",
        "classifier_version": fields.get("version", VERSION),
        "topics": [fields.get("topic", "kafka")],
        "response_delay_seconds": None,
        "retracted": False,
        "page_refs": list(fields.get("pages", [])),
        "kafka_partition": 0,
        "kafka_offset": 0,
    }
    return [values[column] for column in COLUMNS]


def add_events(client: Any, database: str, rows: list[list]) -> None:
    """Insert more events (after `store()`) and rebuild the days they touch."""
    client.insert(f"{database}.{TABLE}", rows, column_names=list(COLUMNS))
    occurred = COLUMNS.index("occurred_at")
    mark_days(client, database, {row[occurred].date() for row in rows})
    rebuild_due(client, database)


def threads(rng: random.Random, people: dict[str, str], count: int) -> list[list]:
    """Questions, three in four answered by someone else within four days, some answers linking wiki pages."""
    persons = sorted(people)
    rows = []
    for n in range(count):
        asker = rng.choice(persons)
        day = START + timedelta(days=rng.randrange(42))
        asked_at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC) + timedelta(minutes=rng.randrange(480))
        topic, source, conversation = rng.choice(TOPICS), rng.choice(SOURCES), f"thread-{n}"
        rows.append(event_row(f"q{n:031d}", asker, None, "asked", asked_at, topic=topic, conversation=conversation))
        if rng.random() < 0.75:
            answerer = rng.choice([person for person in persons if person != asker])
            answered_at = asked_at + timedelta(minutes=rng.randrange(5, 4 * 24 * 60))
            pages = rng.sample(PAGES, rng.randint(0, 2))
            rows.append(
                event_row(
                    f"a{n:031d}",
                    answerer,
                    asker,
                    "answered",
                    answered_at,
                    topic=topic,
                    source=source,
                    conversation=conversation,
                    pages=pages,
                )
            )
    return rows


def fill(client: Any, database: str, seed: int) -> None:
    rng = random.Random(seed)
    people = organisation(rng)
    store(client, database, people, activity(rng, people, rng.randint(200, 400)))
    add_events(client, database, threads(rng, people, rng.randint(120, 200)))


def periods_to_check(granularity: Granularity) -> list[date]:
    """A spread of periods over the data (six weeks from START, answers up to four days later) and its edges."""
    if granularity is Granularity.DAY:
        return [START - timedelta(days=1), *(START + timedelta(days=offset) for offset in range(0, 47, 3))]
    if granularity is Granularity.WEEK:
        first = period_start(START, granularity) - timedelta(days=7)
        return [first + timedelta(days=7 * week) for week in range(9)]
    return [date(2024, month, 1) for month in (3, 4, 5, 6)]


def dims_and_measures(name: str) -> tuple[list[str], list[str]]:
    query = QUERIES[name]
    return [dim for dim in query.dims if dim != "period"], list(query.measures)


def view_figures(client: Any, database: str, name: str, granularity: Granularity) -> dict[date, Figures]:
    """A view's rows of one grain: period -> row key -> (measures, withheld)."""
    dims, measures = dims_and_measures(name)
    result = client.query(
        f"SELECT * FROM {database}.{VIEW_OF[name].name} WHERE grain = {{grain:String}}",
        parameters={"grain": granularity.value},
    )
    found: dict[date, Figures] = {}
    for values in result.result_rows:
        row = dict(zip(result.column_names, values, strict=True))
        key = tuple(row[dim] for dim in dims)
        assert key not in found.setdefault(row["period"], {}), (name, row)
        found[row["period"]][key] = ({measure: row[measure] for measure in measures}, list(row["withheld"]))
    return found


def trend_figures(
    client: Any, database: str, name: str, period: date, granularity: Granularity, version: str, k: int
) -> Figures:
    """What run_trend releases for this one period, unfiltered."""
    dims, measures = dims_and_measures(name)
    result = run_trend(client, database, name, Filters(period, period, granularity), version, k)
    found: Figures = {}
    for row in result.rows:
        assert row.dims.get("period", period.isoformat()) == period.isoformat()
        key = tuple(row.dims[dim] for dim in dims)
        found[key] = ({measure: row.values.get(measure) for measure in measures}, sorted(row.withheld))
    return found


def compare_with_run_trend(client: Any, database: str, version: str, k: int) -> Counter[str]:
    """Assert every view equals run_trend for every checked period and grain; count released and withheld
    figures per query."""
    counted: Counter[str] = Counter()
    for granularity in GRANULARITIES:
        for name in VIEW_OF:
            viewed = view_figures(client, database, name, granularity)
            for period in periods_to_check(granularity):
                expected = trend_figures(client, database, name, period, granularity, version, k)
                got = viewed.get(period, {})
                where = (name, granularity.value, period.isoformat())
                if name == "participation" and not got:
                    # the view lists periods with learning events only; the query lists team sizes, all withheld
                    assert all(value is None for values, _ in expected.values() for value in values.values()), where
                    continue
                assert got == expected, where
                for values, withheld in got.values():
                    counted[f"{name} released"] += sum(value is not None for value in values.values())
                    counted[f"{name} withheld"] += len(withheld)
    return counted


@pytest.mark.parametrize("seed", range(3))
def test_every_view_releases_what_run_trend_releases(bi_warehouse, seed: int) -> None:
    client, database = bi_warehouse
    fill(client, database, seed)
    assert apply_bi_views(client, database, K, VERSION) == [view.name for view in VIEWS]
    counted = compare_with_run_trend(client, database, VERSION, K)
    for name in VIEW_OF:  # the comparison saw figures of both kinds for every query
        assert counted[f"{name} withheld"] > 0, (name, counted)
    assert sum(count for label, count in counted.items() if label.endswith("released")) > 0, counted


def test_every_view_releases_figures_somewhere(bi_warehouse) -> None:
    """With more activity than the property test's small organisations, every view releases figures."""
    client, database = bi_warehouse
    fill(client, database, 7)
    add_events(client, database, threads(random.Random(8), organisation(random.Random(7)), 300))
    apply_bi_views(client, database, K, VERSION)
    counted = compare_with_run_trend(client, database, VERSION, K)
    for name in VIEW_OF:
        assert counted[f"{name} released"] > 0, (name, counted)


def test_complementary_suppression_in_sql(bi_warehouse) -> None:
    """One month, three teams, the families built so that each rule of privacy.py decides a figure."""
    client, database = bi_warehouse
    teams = ("alpha", "gamma", "beta")
    people = {f"p_a{n:023d}": "alpha" for n in range(11)}
    people |= {f"p_g{n:023d}": "gamma" for n in range(11)}
    people |= {f"p_b{n:023d}": "beta" for n in range(3)}
    alpha, gamma, beta = (sorted(person for person in people if people[person] == team) for team in teams)
    plan = [
        # alpha: documented (2 people) is below k; shared (5 people) is the smallest released, withheld to complete
        *((person, "alpha", "asked") for person in alpha[:6]),
        *((person, "alpha", "shared") for person in alpha[6:11]),
        *((person, "alpha", "documented") for person in alpha[:2]),
        # gamma: answered and shared tie on (people, events); answered comes first, as in privacy.py's order
        *((person, "gamma", "answered") for person in gamma[:5]),
        *((person, "gamma", "shared") for person in gamma[5:10]),
        (gamma[10], "gamma", "documented"),
        # beta: a total of three people withholds the family
        *((person, "beta", "asked") for person in beta),
    ]
    events = [
        Generated(f"{n:032x}", person, team, START + timedelta(days=n % 20), category, "slack", "kafka")
        for n, (person, team, category) in enumerate(plan)
    ]
    store(client, database, people, events)
    apply_bi_views(client, database, K, VERSION)
    rows = client.query(
        f"SELECT team, category, events, withheld FROM {database}.bi_activity "
        "WHERE grain = 'month' AND period = '2024-04-01'"
    ).result_rows
    shown = {(team, category): (events, list(withheld)) for team, category, events, withheld in rows}
    assert shown == {
        ("alpha", "(all)"): (13, []),
        ("alpha", "asked"): (6, []),
        ("alpha", "shared"): (None, ["events"]),
        ("alpha", "documented"): (None, ["events"]),
        ("gamma", "(all)"): (11, []),
        ("gamma", "answered"): (None, ["events"]),
        ("gamma", "shared"): (5, []),
        ("gamma", "documented"): (None, ["events"]),
        ("beta", "(all)"): (None, ["events"]),
        ("beta", "asked"): (None, ["events"]),
    }
    assert shown == {
        key: (values["events"], withheld)
        for key, (values, withheld) in trend_figures(
            client, database, "activity", date(2024, 4, 1), Granularity.MONTH, VERSION, K
        ).items()
    }


@pytest.mark.parametrize("seed", range(4))
def test_family_completion_in_sql_is_privacy_suppress(bi_warehouse, seed: int) -> None:
    """The SQL of complete_families against privacy.suppress on random families, including those real data never
    makes (a total with more people than its siblings together, families without a total, ties)."""
    client, _ = bi_warehouse
    rng = random.Random(seed)
    rows: list[Row] = []
    for family in range(60):
        siblings = [
            Row({"label": f"c{n}"}, {"events": rng.randint(1, 4)}, {"events": rng.randint(0, 9)}, family)
            for n in range(rng.randint(0, 5))
        ]
        if rng.random() < 0.9:
            siblings.append(Row({"label": "*"}, {"events": 99}, {"events": rng.randint(0, 14)}, family, True))
        rows.extend(sorted(siblings, key=lambda row: (row.is_total, row.dims["label"])))  # run_trend's order
    literal = ", ".join(
        f"({row.family}, '{row.dims['label']}', {int(row.is_total)}, {row.values['events']}, {row.people['events']})"
        for row in rows
    )
    base = (
        "SELECT tupleElement(cell, 1) AS family, tupleElement(cell, 2) AS label, "
        "tupleElement(cell, 3) = 1 AS is_total, toUInt64(tupleElement(cell, 4)) AS figure, "
        "toUInt64(tupleElement(cell, 5)) AS people_count "
        f"FROM (SELECT arrayJoin([{literal}]) AS cell)"
    )
    for k in (2, 5, 8):
        sql = f"SELECT family, label, figure_withheld FROM ({complete_families(base, 'family', 'label', k)})"
        in_sql = {(family, label): bool(withheld) for family, label, withheld in client.query(sql).result_rows}
        copies = [Row(dict(row.dims), dict(row.values), dict(row.people), row.family, row.is_total) for row in rows]
        suppress(copies, k, ("events",))
        assert in_sql == {(row.family, row.dims["label"]): "events" in row.withheld for row in copies}, k


def test_change_is_against_the_period_just_before(bi_warehouse) -> None:
    """A team active in weeks one, three and four: week three has no change (week two has no row), week four has."""
    client, database = bi_warehouse
    people = {f"p_c{n:023d}": "crew" for n in range(6)}
    plan = [(week, person) for week, repeat in ((0, 1), (2, 1), (3, 2)) for person in people for _ in range(repeat)]
    events = [
        Generated(f"{n:032x}", person, "crew", START + timedelta(days=7 * week + n % 5), "asked", "slack", "kafka")
        for n, (week, person) in enumerate(plan)
    ]
    store(client, database, people, events)
    apply_bi_views(client, database, K, VERSION)
    found = client.query(
        f"SELECT period, events, change, change_pct FROM {database}.bi_activity "
        "WHERE grain = 'week' AND team = 'crew' AND category = 'asked' ORDER BY period"
    ).result_rows
    weeks = [START + timedelta(days=7 * week) for week in (0, 2, 3)]
    assert [tuple(row) for row in found] == [
        (weeks[0], 6, None, None),
        (weeks[1], 6, None, None),
        (weeks[2], 12, 6, 100.0),
    ]
    for week in weeks:
        expected = trend_figures(client, database, "activity", week, Granularity.WEEK, VERSION, K)
        assert expected[("crew", "asked")][0]["change"] == (6 if week == weeks[2] else None)


def test_ratios_are_rounded_as_python_rounds(bi_warehouse) -> None:
    """Every fraction n/d with d up to 400, and the percentages of the change, rounded by the views' SQL and by
    Python's round: the same floats (ClickHouse's round differs at halves such as 1/80 = 0.0125)."""
    client, _ = bi_warehouse
    sql = (
        f"SELECT n, d, {python_round('n / d', 3)}, {python_round('1 - n / d', 3)}, "
        f"{python_round('100.0 * (toInt64(n) - toInt64(d)) / d', 1)} "
        "FROM (SELECT number AS n FROM numbers(401)) AS a CROSS JOIN (SELECT number + 1 AS d FROM numbers(400)) AS b "
        "WHERE n <= d"
    )
    for n, d, share, rest, change in client.query(sql).result_rows:
        assert (share, rest, change) == (round(n / d, 3), round(1 - n / d, 3), round(100.0 * (n - d) / d, 1)), (n, d)


def test_applying_again_changes_nothing(bi_warehouse) -> None:
    client, database = bi_warehouse
    fill(client, database, 11)

    def state() -> tuple[list[tuple[Any, ...]], dict[str, list[tuple[Any, ...]]]]:
        definitions = client.query(
            "SELECT name, create_table_query FROM system.tables WHERE database = {db:String} AND name LIKE 'bi\\_%' "
            "ORDER BY name",
            parameters={"db": database},
        ).result_rows
        contents = {
            view.name: sorted(map(repr, client.query(f"SELECT * FROM {database}.{view.name}").result_rows))
            for view in VIEWS
        }
        return [tuple(row) for row in definitions], contents

    apply_bi_views(client, database, K, VERSION)
    first = state()
    assert [name for name, _ in first[0]] == sorted(view.name for view in VIEWS)
    apply_bi_views(client, database, K, VERSION)
    assert state() == first


def test_every_column_is_typed_and_commented(bi_warehouse) -> None:
    """The stable interface BI tools see: the columns declared in warehouse/bi.py, each with a comment, and no
    column beyond a query's dimensions, measures and `withheld` (no people counts)."""
    client, database = bi_warehouse
    apply_bi_views(client, database, K, VERSION)
    for view in VIEWS:
        found = client.query(
            "SELECT name, type, comment FROM system.columns WHERE database = {db:String} AND table = {view:String} "
            "ORDER BY position",
            parameters={"db": database, "view": view.name},
        ).result_rows
        assert [tuple(row) for row in found] == [(column.name, column.type, column.comment) for column in view.columns]
        if view.query:
            dims, measures = dims_and_measures(view.query)
            assert [column.name for column in view.columns] == ["grain", "period", *dims, *measures, "withheld"]


def test_k_changes_what_is_withheld(bi_warehouse) -> None:
    client, database = bi_warehouse
    fill(client, database, 3)
    apply_bi_views(client, database, K, VERSION)
    at_k = compare_with_run_trend(client, database, VERSION, K)
    apply_bi_views(client, database, 2, VERSION)
    at_2 = compare_with_run_trend(client, database, VERSION, 2)
    withheld = {
        k: sum(count for label, count in counted.items() if label.endswith("withheld"))
        for k, counted in ((K, at_k), (2, at_2))
    }
    assert withheld[2] < withheld[K], withheld
    (version, k) = client.query(f"SELECT classifier_version, min_group_size FROM {database}.bi_about").result_rows[0]
    assert (version, k) == (VERSION, 2)


def test_activating_another_version_switches_the_views(bi_warehouse) -> None:
    client, database = bi_warehouse
    fill(client, database, 5)
    # the other version: two events in three of this one, so its figures differ
    client.command(
        f"INSERT INTO {database}.{TABLE} SELECT * REPLACE ('{OTHER_VERSION}' AS classifier_version) FROM "
        f"(SELECT * FROM {database}.{TABLE} WHERE classifier_version = '{VERSION}' AND cityHash64(event_id) % 3 != 0)"
    )
    stored = client.query(f"SELECT classifier_version, count() FROM {database}.{TABLE} GROUP BY 1").result_rows
    assert {version for version, count in stored if count > 0} == {VERSION, OTHER_VERSION}
    mark_days(client, database, [START + timedelta(days=offset) for offset in range(47)])
    rebuild_due(client, database)

    def totals() -> list[tuple[Any, ...]]:
        return [
            tuple(row)
            for row in client.query(
                f"SELECT grain, period, source, events FROM {database}.bi_source_mix ORDER BY grain, period, source"
            ).result_rows
        ]

    # the views read the version they are applied with (the configured one while nothing is activated); that
    # they then equal run_trend is the other tests' subject, so here only after the activations
    apply_bi_views(client, database, K, VERSION)
    configured = totals()
    apply_bi_views(client, database, K, OTHER_VERSION)
    other = totals()
    assert other != configured
    activate(client, database, VERSION, now=datetime(2024, 7, 1, tzinfo=UTC))  # wins over the configured version
    assert totals() == configured
    activate(client, database, OTHER_VERSION, now=datetime(2024, 7, 2, tzinfo=UTC))  # the latest activation wins
    assert totals() == other
    compare_with_run_trend(client, database, OTHER_VERSION, K)
    about = client.query(f"SELECT classifier_version FROM {database}.bi_about").result_rows
    assert about == [(OTHER_VERSION,)]


def test_cluster_statements_run_on_cluster_over_the_distributed_tables(bi_warehouse) -> None:
    """No cluster runs here: the statements are checked for ON CLUSTER and parsed by the engine."""
    client, _ = bi_warehouse
    for name, statement in bi_view_statements("ls", K, VERSION, cluster="c1"):
        assert statement.startswith(f"CREATE OR REPLACE VIEW ls.{name} ON CLUSTER c1\n")
        assert "_local" not in statement  # views read the Distributed tables, as warehouse/cluster.py lays them out
        formatted = client.query("SELECT formatQuery({sql:String})", parameters={"sql": statement}).result_rows
        assert "ON CLUSTER c1" in formatted[0][0]
