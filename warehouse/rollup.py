"""The trend tables, rebuilt day by day from the current learning events.

The trend tables hold sums of events and uniqExact states of people per cell of a day, a week and a month. A state
cannot be subtracted, so when an event changes (an edit reclassifies it, a deletion or a voided statement retracts
it, an erasure removes a person, the directory moves someone to another team) the cells it was counted in cannot be
corrected in place. Instead every change marks its day in `rollup_log`, and a rebuild recomputes each marked day
from the current rows (the latest row of each event, retracted events and erased people left out) into staging
tables and swaps the day in whole with `ALTER TABLE … REPLACE PARTITION`; then the weeks and months holding those
days are merged again from their day rows and swapped the same way. A re-delivered event is one current row, so it
is counted once; a day counts only the rows it holds when its rebuild starts, and a mark made during a rebuild
keeps the day due for the next one.

The loader marks the days of every batch it inserts and rebuilds the due days every
`LEARNSTREAM_WAREHOUSE__ROLLUP_INTERVAL_S` and when it stops (oldest first, within a time budget, so a large
change such as a directory correction never stops loading for long), so the trend tables trail the events by at
most that interval plus the rebuild. The SQL builders are pure; `rebuild_days` and friends are the I/O around them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from learnstream.errors import WarehouseError
from warehouse.cluster import local_table
from warehouse.dsn import check_identifier
from warehouse.trend_tables import TREND_TABLES

logger = logging.getLogger(__name__)

#: The trend tables, each rebuilt through `<table>_staging`, a summary after the table it summarises.
CELL_TABLES = TREND_TABLES
EVENTS_STAGING = "rollup_events_staging"
#: A question counts as answered when its first answer came within this many days.
ANSWER_WINDOW_DAYS = 30
#: The page of the reuse_cells rows that count every answer linking any wiki page (each answer once).
ANY_PAGE = "*"
MARKED = "marked"
REBUILT = "rebuilt"


def month_of(day: date | datetime) -> int:
    """The partition id of a day: YYYYMM."""
    return day.year * 100 + day.month


def month_bounds(month: int) -> tuple[date, date]:
    """The first day of a YYYYMM month and the first day of the next."""
    year, number = divmod(month, 100)
    first = date(year, number, 1)
    following = date(year + (number == 12), number % 12 + 1, 1)
    return first, following


def current_events_sql(database: str, where: str, columns: Sequence[str]) -> str:
    """The current row of each event matching `where` (a filter on columns every row of an event shares, such as
    its occurrence time): the latest by `ingested_at` of each column, and whether any row of it was retracted.

    What `FINAL` does, at a tenth of its cost on unmerged parts (measured: 0.27 s against 3.3 s for a month of
    800,000 events), because the loader gives every row of an event the same occurrence time."""
    db = check_identifier(database, "database")
    latest = ", ".join(f"argMax({column}, ingested_at) AS {column}" for column in columns)
    return f"""SELECT classifier_version, event_id, {latest}, max(retracted) AS ever_retracted
FROM (SELECT * FROM {db}.learning_events WHERE {where})
GROUP BY classifier_version, event_id"""


STAGED_COLUMNS = (
    "occurred_at",
    "actor",
    "counterpart",
    "category",
    "source",
    "topics",
    "conversation_key",
    "page_refs",
)


def events_staging_sql(database: str) -> str:
    """The current events of some days, with the team of the actor and of the counterpart on the day they acted.

    Parameters: days (Array(Date)), and first and until (Date) bounding them for partition pruning. A retraction
    is final: an event with a retracted row anywhere is left out, even if a row of it arrived later (a voided
    statement loaded before the statement it voids). Erased people are left out as actors and as counterparts."""
    db = check_identifier(database, "database")
    current = current_events_sql(
        db,
        "occurred_at >= {first:Date} AND occurred_at < {until:Date} AND toDate(occurred_at) IN {days:Array(Date)}",
        STAGED_COLUMNS,
    )
    return f"""
INSERT INTO {db}.{EVENTS_STAGING}
SELECT
    e.event_id, e.classifier_version, e.occurred_at, toDate(e.occurred_at) AS day, e.actor,
    nullIf(e.counterpart_key, '') AS counterpart, e.category, e.source, e.topics, e.conversation_key, e.page_refs,
    a.team AS team, ifNull(a.department, '') AS department,
    c.team AS counterpart_team, ifNull(c.department, '') AS counterpart_department
FROM
(
    SELECT
        event_id, classifier_version, occurred_at, actor,
        if(counterpart IN (SELECT person FROM {db}.erased_people), '', ifNull(counterpart, '')) AS counterpart_key,
        category, source, topics, conversation_key, page_refs
    FROM ({current})
    WHERE NOT ever_retracted
      AND event_id NOT IN (SELECT event_id FROM {db}.learning_events WHERE retracted)
      AND actor NOT IN (SELECT person FROM {db}.erased_people)
) AS e
ASOF LEFT JOIN {db}.current_team_memberships AS a
    ON e.actor = a.person AND toDate(e.occurred_at) >= a.valid_from
ASOF LEFT JOIN {db}.current_team_memberships AS c
    ON e.counterpart_key = c.person AND toDate(e.occurred_at) >= c.valid_from
"""


@dataclass(frozen=True)
class CellTable:
    """One trend table: its dimensions besides classifier_version, grain and day, and its measures with how each
    merges from day rows into week and month rows (or, in a summary, from the rows of the table it summarises)."""

    name: str
    dims: tuple[str, ...]
    measures: tuple[tuple[str, str], ...]
    #: the trend table whose rows of the same day, week or month this one summarises (None: built from events)
    summarises: str | None = None

    @property
    def columns(self) -> list[str]:
        return ["classifier_version", "grain", "day", *self.dims, *(name for name, _ in self.measures)]


SUM = "sum({0})"
PEOPLE = "uniqExactMergeState({0})"
#: team_flow counts people only up to this (uniqUpTo: exact below, the cap + 1 above): enough to withhold a pair
#: below any minimum group size up to the cap, and its small states merge at about half the cost of exact ones.
FLOW_PEOPLE_CAP = 20
PEOPLE_UP_TO_CAP = f"uniqUpToMergeState({FLOW_PEOPLE_CAP})({{0}})"
CELLS: dict[str, CellTable] = {
    table.name: table
    for table in (
        CellTable(
            "activity_cells",
            ("team", "department", "category", "source"),
            (("events", SUM), ("people", PEOPLE)),
        ),
        CellTable(
            "team_activity",
            ("team", "category"),
            (("events", SUM), ("people", "uniqExactMerge({0})")),
            summarises="activity_cells",
        ),
        CellTable(
            "topic_cells",
            ("topic", "team", "department", "category", "source"),
            (("events", SUM), ("people", PEOPLE)),
        ),
        CellTable(
            "flow_cells",
            ("topic", "asker_team", "asker_department", "answerer_team", "answerer_department", "source"),
            (("answers", SUM), ("askers", PEOPLE), ("answerers", PEOPLE)),
        ),
        CellTable(
            "team_flow",
            ("asker_team", "answerer_team"),
            (("answers", SUM), ("askers", PEOPLE_UP_TO_CAP), ("answerers", PEOPLE_UP_TO_CAP)),
        ),
        CellTable(
            "question_cells",
            ("topic", "team", "department", "source"),
            (
                ("questions", SUM),
                ("answered", SUM),
                ("askers", PEOPLE),
                ("first_answer_s", "quantilesExactMergeState(0.5, 0.9)({0})"),
            ),
        ),
        CellTable(
            "reuse_cells",
            ("topic", "page", "team", "department", "source"),
            (("answers", SUM), ("answerers", PEOPLE)),
        ),
    )
}
#: The periods of the trend rows: 'day' rows from the events, 'week' and 'month' rows merged from the day rows.
GRAINS: dict[str, str] = {"day": "day", "week": "toMonday(day)", "month": "toStartOfMonth(day)"}
#: The topic of the rows of flow, question and reuse cells that count every event once, whatever its topics.
ALL_TOPICS = "*"
#: The category of the team_activity rows that count a team's learning events of every category.
ALL_CATEGORIES = "*"


def day_cells_sql(database: str, table: str) -> str:
    """The INSERT that builds one trend table's day rows of a month from the staged events (parameters: `first`
    and `answers_until` for question_cells, whose answers may come in the following weeks)."""
    db = check_identifier(database, "database")
    staged = f"{db}.{EVENTS_STAGING}"
    cells = CELLS.get(table)
    if cells is None or cells.summarises is not None:
        raise WarehouseError(f"no trend table built from events named {table!r}")
    into = f"INSERT INTO {db}.{table}_staging ({', '.join(cells.columns)})"
    every = f"arrayPushFront(topics, '{ALL_TOPICS}')"
    if table == "activity_cells":
        return f"""{into}
SELECT classifier_version, 'day', day, team, department, category, source, count(), uniqExactState(cityHash64(actor))
FROM {staged}
GROUP BY classifier_version, day, team, department, category, source"""
    if table == "topic_cells":
        return f"""{into}
SELECT classifier_version, 'day', day, topic, team, department, category, source, count(),
    uniqExactState(cityHash64(actor))
FROM {staged}
ARRAY JOIN topics AS topic
GROUP BY classifier_version, day, topic, team, department, category, source"""
    if table == "flow_cells":
        return f"""{into}
SELECT classifier_version, 'day', day, topic, counterpart_team, counterpart_department, team, department, source,
    count(), uniqExactState(cityHash64(assumeNotNull(counterpart))), uniqExactState(cityHash64(actor))
FROM {staged}
ARRAY JOIN {every} AS topic
WHERE category = 'answered' AND counterpart IS NOT NULL
GROUP BY classifier_version, day, topic, counterpart_team, counterpart_department, team, department, source"""
    if table == "team_flow":
        return f"""{into}
SELECT classifier_version, 'day', day, counterpart_team, team, count(),
    uniqUpToState({FLOW_PEOPLE_CAP})(cityHash64(assumeNotNull(counterpart))),
    uniqUpToState({FLOW_PEOPLE_CAP})(cityHash64(actor))
FROM {staged}
WHERE category = 'answered' AND counterpart IS NOT NULL
GROUP BY classifier_version, day, counterpart_team, team"""
    if table == "reuse_cells":
        return f"""{into}
SELECT classifier_version, 'day', day, topic, page, team, department, source, count(), uniqExactState(cityHash64(actor))
FROM {staged}
ARRAY JOIN {every} AS topic
ARRAY JOIN arrayPushFront(page_refs, '{ANY_PAGE}') AS page
WHERE category = 'answered' AND notEmpty(page_refs)
GROUP BY classifier_version, day, topic, page, team, department, source"""
    # question_cells: each question's first answer by someone else in its conversation, after it and in the window
    answers = current_events_sql(
        db,
        "occurred_at >= {first:Date} AND occurred_at < {answers_until:Date}",
        ("occurred_at", "counterpart", "category", "conversation_key"),
    )
    return f"""{into}
SELECT
    q.classifier_version, 'day', q.day, topic, q.team, q.department, q.source,
    count() AS questions,
    countIf(f.first_answer_at IS NOT NULL) AS answered,
    uniqExactState(cityHash64(q.actor)),
    quantilesExactStateIf(0.5, 0.9)(
        toFloat64(dateDiff('millisecond', q.occurred_at, assumeNotNull(f.first_answer_at))) / 1000,
        f.first_answer_at IS NOT NULL)
FROM (SELECT * FROM {staged} WHERE category = 'asked') AS q
LEFT JOIN
(
    SELECT question.event_id AS question_id, question.classifier_version AS version,
        min(answer.occurred_at) AS first_answer_at
    FROM (SELECT event_id, classifier_version, conversation_key, actor, occurred_at
          FROM {staged} WHERE category = 'asked') AS question
    INNER JOIN
    (
        SELECT classifier_version, conversation_key, counterpart, occurred_at
        FROM ({answers})
        WHERE category = 'answered' AND NOT ever_retracted
          AND conversation_key IN (SELECT conversation_key FROM {staged} WHERE category = 'asked')
    ) AS answer
        ON answer.conversation_key = question.conversation_key
        AND answer.classifier_version = question.classifier_version
        AND answer.counterpart = question.actor
    WHERE answer.occurred_at > question.occurred_at
      AND answer.occurred_at <= question.occurred_at + toIntervalDay({ANSWER_WINDOW_DAYS})
    GROUP BY question.event_id, question.classifier_version
) AS f ON f.question_id = q.event_id AND f.version = q.classifier_version
ARRAY JOIN arrayPushFront(q.topics, '{ALL_TOPICS}') AS topic
GROUP BY q.classifier_version, q.day, topic, q.team, q.department, q.source
SETTINGS join_use_nulls = 1"""


def summary_cells_sql(database: str, table: str) -> str:
    """The INSERT that builds a summary table's rows of the rebuilt days, weeks and months (parameters `days`,
    `weeks` and `months`, each an Array(Date)) from the rows of the table it summarises, already swapped in."""
    db = check_identifier(database, "database")
    if table != "team_activity":  # the only summary
        raise WarehouseError(f"no summary table named {table!r}")
    cells = CELLS[table]
    into = f"INSERT INTO {db}.{table}_staging ({', '.join(cells.columns)})"
    rebuilt = (
        "((grain = 'day' AND day IN {days:Array(Date)}) OR (grain = 'week' AND day IN {weeks:Array(Date)})"
        " OR (grain = 'month' AND day IN {months:Array(Date)}))"
    )
    return f"""{into}
SELECT classifier_version, grain, day, team, if(grouping(category) = 1, '{ALL_CATEGORIES}', category), sum(events),
    uniqExactMerge(people)
FROM {db}.{cells.summarises}
WHERE {rebuilt} AND category != 'none'
GROUP BY GROUPING SETS ((classifier_version, grain, day, team, category), (classifier_version, grain, day, team))"""


def period_cells_sql(database: str, table: str, grain: str) -> str:
    """The INSERT that merges a trend table's day rows into `grain` ('week' or 'month') rows for the periods
    starting on `{periods:Array(Date)}`, reading the day rows from `{first:Date}` to before `{until:Date}`."""
    db = check_identifier(database, "database")
    cells = CELLS[table]
    period = GRAINS[grain]
    dims = ", ".join(cells.dims)
    merged = ", ".join(template.format(name) for name, template in cells.measures)
    return f"""INSERT INTO {db}.{table}_staging ({", ".join(cells.columns)})
SELECT classifier_version, '{grain}', {period} AS period, {dims}, {merged}
FROM {db}.{table}
WHERE grain = 'day' AND day >= {{first:Date}} AND day < {{until:Date}} AND {period} IN {{periods:Array(Date)}}
GROUP BY classifier_version, period, {dims}"""


STAGING_TABLES: tuple[str, ...] = (EVENTS_STAGING, *(f"{table}_staging" for table in CELL_TABLES))


def truncate_sql(database: str, table: str, cluster: str | None = None) -> str:
    """Empty a staging table (its local tables on every shard in cluster mode)."""
    return f"TRUNCATE TABLE IF EXISTS {database}.{local_table(table, cluster)}{on_cluster(cluster)}"


def swap_sql(
    database: str, table: str, period: date, cluster: str | None = None, empty: bool = False, grain: str = "day"
) -> str:
    """Put a trend table's rebuilt rows of one day, week or month in place of the old ones (or drop them when
    nothing is left: the engine refuses to replace from nothing)."""
    if grain not in GRAINS:
        raise WarehouseError(f"no grain named {grain!r}")
    target = f"{database}.{local_table(table, cluster)}{on_cluster(cluster)}"
    partition = f"('{grain}', '{period.isoformat()}')"
    if empty:
        return f"ALTER TABLE {target} DROP PARTITION {partition}"
    staging = f"{database}.{local_table(f'{table}_staging', cluster)}"
    return f"ALTER TABLE {target} REPLACE PARTITION {partition} FROM {staging}"


def on_cluster(cluster: str | None) -> str:
    """The ON CLUSTER clause of a statement on local tables, or nothing on a single server."""
    return f" ON CLUSTER {check_identifier(cluster, 'cluster')}" if cluster else ""


@dataclass(frozen=True)
class RebuildReport:
    """What one rebuild did: the days rebuilt, the events they hold, and the days still due (over the budget)."""

    days: tuple[date, ...]
    events: int
    seconds: float
    still_due: int = 0


def mark_days(client: Any, database: str, days: Iterable[date]) -> None:
    """Record that these days' events changed (their trend cells are due for a rebuild)."""
    distinct = sorted(set(days))
    if not distinct:
        return
    db = check_identifier(database, "database")
    sql = (
        f"INSERT INTO {db}.rollup_log (day, kind, at) "
        f"SELECT arrayJoin({{days:Array(Date)}}), '{MARKED}', now64(3, 'UTC')"
    )
    _run(client, sql, "marking days for a rebuild", {"days": distinct})


def days_of(client: Any, database: str, where: str, parameters: dict[str, Any]) -> list[date]:
    """The days of the stored events matching `where` (for marking what an erasure or a move changes)."""
    db = check_identifier(database, "database")
    sql = f"SELECT DISTINCT toDate(occurred_at) FROM {db}.learning_events WHERE {where}"
    try:
        return [row[0] for row in client.query(sql, parameters=parameters).result_rows]
    except ClickHouseError as exc:
        raise WarehouseError(f"cannot read the days of events: {engine_message(exc)}") from exc


def due_days(client: Any, database: str) -> list[date]:
    """The days whose latest mark is newer than their latest rebuild, oldest first."""
    db = check_identifier(database, "database")
    sql = (
        f"SELECT day FROM {db}.rollup_log GROUP BY day "
        f"HAVING maxIf(at, kind = '{MARKED}') > maxIf(at, kind = '{REBUILT}') ORDER BY day"
    )
    try:
        return [row[0] for row in client.query(sql).result_rows]
    except ClickHouseError as exc:
        raise WarehouseError(f"cannot read which trend days are due: {engine_message(exc)}") from exc


def rebuild_days(client: Any, database: str, days: Sequence[date], cluster: str | None = None) -> int:
    """Recompute every trend table's rows of these days, then of the weeks and months holding them, and swap them
    in; returns the events counted."""
    if not days:
        return 0
    db = check_identifier(database, "database")
    chosen = sorted(set(days))
    started = client.query("SELECT now64(3, 'UTC')").result_rows[0][0]
    # On a cluster, an insert into a Distributed table must reach the shards before the swap reads them.
    sync = {"insert_distributed_sync": 1} if cluster else None
    first, until = chosen[0], chosen[-1] + timedelta(days=1)
    _run(client, truncate_sql(db, EVENTS_STAGING, cluster), "clearing the staged events")
    staged = {"days": chosen, "first": first, "until": until}
    _run(client, events_staging_sql(db), f"staging the events of {len(chosen)} day(s)", staged, sync)
    counted = int(client.query(f"SELECT count() FROM {db}.{EVENTS_STAGING}").result_rows[0][0])
    day_parameters = {"first": first, "answers_until": until + timedelta(days=ANSWER_WINDOW_DAYS)}
    weeks = sorted({day - timedelta(days=day.weekday()) for day in chosen})
    months = sorted({day.replace(day=1) for day in chosen})
    week_parameters = {"periods": weeks, "first": weeks[0], "until": weeks[-1] + timedelta(days=7)}
    month_parameters = {"periods": months, "first": months[0], "until": month_bounds(month_of(months[-1]))[1]}
    summary_parameters = {"days": chosen, "weeks": weeks, "months": months}
    for table in CELL_TABLES:
        staging = f"{table}_staging"
        _run(client, truncate_sql(db, staging, cluster), f"clearing {staging}")
        if CELLS[table].summarises is not None:
            _run(client, summary_cells_sql(db, table), f"summarising {table}", summary_parameters, sync)
            for grain, periods in (("day", chosen), ("week", weeks), ("month", months)):
                _swap(client, db, table, grain, periods, cluster)
            continue
        _run(client, day_cells_sql(db, table), f"building the days of {table}", day_parameters, sync)
        _swap(client, db, table, "day", chosen, cluster)
        _run(client, truncate_sql(db, staging, cluster), f"clearing {staging}")
        _run(client, period_cells_sql(db, table, "week"), f"merging the weeks of {table}", week_parameters, sync)
        _run(client, period_cells_sql(db, table, "month"), f"merging the months of {table}", month_parameters, sync)
        _swap(client, db, table, "week", weeks, cluster)
        _swap(client, db, table, "month", months, cluster)
    client.insert(
        "rollup_log", [[day, REBUILT, started] for day in chosen], column_names=["day", "kind", "at"], database=db
    )
    for table in STAGING_TABLES:  # the staged rows name people: keep them no longer than the rebuild
        _run(client, truncate_sql(db, table, cluster), f"clearing {table}")
    return counted


def _swap(client: Any, db: str, table: str, grain: str, periods: Sequence[date], cluster: str | None) -> None:
    staged = dict(
        client.query(
            f"SELECT day, count() FROM {db}.{table}_staging WHERE grain = {{grain:String}} GROUP BY day",
            parameters={"grain": grain},
        ).result_rows
    )
    for period in periods:
        empty = not staged.get(period)
        _run(client, swap_sql(db, table, period, cluster, empty, grain), f"swapping {table} ({grain} {period})")


#: Days rebuilt together (one pass over their events, one swap per day): a month at most.
CHUNK_DAYS = 31


def rebuild_due(client: Any, database: str, cluster: str | None = None, budget_s: float | None = None) -> RebuildReport:
    """Rebuild the due days, oldest first, a month's worth at a time; with `budget_s`, start no further chunk once
    that much time has passed (the rest stays due for the next call)."""
    began = time.monotonic()
    due = due_days(client, database)
    done: list[date] = []
    events = 0
    chunks = [due[index : index + CHUNK_DAYS] for index in range(0, len(due), CHUNK_DAYS)]
    for chunk in chunks:
        if budget_s is not None and done and time.monotonic() - began >= budget_s:
            break
        events += rebuild_days(client, database, chunk, cluster)
        done.extend(chunk)
    report = RebuildReport(tuple(done), events, time.monotonic() - began, len(due) - len(done))
    if done:
        logger.info(
            "rebuilt the trend tables of %d day(s) (%s to %s) from %d events in %.2f s%s",
            len(done),
            done[0],
            done[-1],
            events,
            report.seconds,
            f"; {report.still_due} day(s) still due" if report.still_due else "",
        )
    return report


def _run(
    client: Any, sql: str, what: str, parameters: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
) -> None:
    try:
        client.command(sql, parameters=parameters, settings=settings)
    except ClickHouseError as exc:
        raise WarehouseError(f"{what} failed: {engine_message(exc)}") from exc


def engine_message(exc: Exception) -> str:
    """The engine's own message without the SQL text it quotes back (that can be pages long)."""
    message = str(exc).split(" In query ", 1)[0].strip()
    return message[:500]


#: The tables that hold events or figures about them, with the date their retention counts from.
RETAINED: dict[str, str] = {"learning_events": "toDate(occurred_at)", **dict.fromkeys(CELL_TABLES, "day")}
#: The LRS's Statement store, kept `LRS__RETENTION_DAYS` from when each row was stored.
LRS_RETAINED: dict[str, str] = dict.fromkeys(("xapi_statements", "xapi_voided", "xapi_attachments"), "toDate(stored)")


def retention_sql(database: str, table: str, days: int, cluster: str | None = None) -> str:
    """The statement that makes a table keep its rows `days` days (by occurrence), or for ever with 0. It only
    changes the table's definition: new parts and merges follow it at once, and `materialize_ttl_sql` removes
    the rows already stored past it, in the background."""
    db = check_identifier(database, "database")
    since = {**RETAINED, **LRS_RETAINED}[table]
    change = f"MODIFY TTL {since} + toIntervalDay({int(days)})" if days else "REMOVE TTL"
    return (
        f"ALTER TABLE {db}.{local_table(table, cluster)}{on_cluster(cluster)} {change} "
        "SETTINGS materialize_ttl_after_modify = 0"
    )


def materialize_ttl_sql(database: str, table: str, cluster: str | None = None) -> str:
    """A background mutation that applies a table's TTL to the parts already stored (never waited for)."""
    db = check_identifier(database, "database")
    return (
        f"ALTER TABLE {db}.{local_table(table, cluster)}{on_cluster(cluster)} MATERIALIZE TTL "
        "SETTINGS mutations_sync = 0"
    )


def apply_retention(
    client: Any, database: str, days: int, cluster: str | None = None, tables: Mapping[str, str] = RETAINED
) -> list[str]:
    """Set the TTL of `tables` (every retained table of the events by default: they and their trend cells expire
    together) to `days` where it differs; returns the tables changed.

    Rows already stored past a new TTL are removed by a background mutation, not before this returns: applied
    synchronously, as chDB does by default (`mutations_sync = 1`), a first TTL on 10M stored events took 8
    minutes, during which `serve` or the loader could not start (bench/README.md)."""
    db = check_identifier(database, "database")
    wanted = f"toIntervalDay({int(days)})"
    changed: list[str] = []
    for table in tables:
        try:
            engine = client.query(
                "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {table:String}",
                parameters={"db": db, "table": local_table(table, cluster)},
            ).result_rows
        except ClickHouseError as exc:
            raise WarehouseError(f"cannot read the retention of {table}: {engine_message(exc)}") from exc
        current = str(engine[0][0]).replace(" ", "") if engine else ""
        if (wanted in current) if days else ("TTL" not in current):
            continue
        _run(client, retention_sql(db, table, days, cluster), f"setting the retention of {table}")
        if days:
            _run(client, materialize_ttl_sql(db, table, cluster), f"expiring the old rows of {table}")
        changed.append(table)
    return changed
