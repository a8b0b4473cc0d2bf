"""The trend tables, rebuilt month by month from the current learning events.

The trend tables hold sums of events and uniqExact states of people per cell of a day. A state cannot be
subtracted, so when an event changes (an edit reclassifies it, a deletion or a voided statement retracts it, an
erasure removes a person, the directory moves someone to another team) the cells it was counted in cannot be
corrected in place. Instead every change marks the month it belongs to in `rollup_log`, and a rebuild recomputes
each marked month from `learning_events FINAL` (latest row of each event, retracted rows and erased people left
out) into staging tables, then swaps each month in whole with `ALTER TABLE … REPLACE PARTITION`. A re-delivered
event is one row after FINAL, so it is counted once; a month counts only the rows it holds when its rebuild starts,
and a mark made during a rebuild keeps the month due for the next one.

The loader marks the months of every batch it inserts and rebuilds the due months every
`LEARNSTREAM_WAREHOUSE__ROLLUP_INTERVAL_S` and when it stops, so the trend tables trail the events by at most that
interval plus one rebuild. The SQL builders are pure; `rebuild_month` and friends are the thin I/O around them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from learnstream.errors import WarehouseError
from warehouse.cluster import local_table
from warehouse.dsn import check_identifier

logger = logging.getLogger(__name__)

#: The trend tables, each rebuilt through `<table>_staging`.
CELL_TABLES: tuple[str, ...] = ("activity_cells", "topic_cells", "flow_cells", "question_cells", "reuse_cells")
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


def events_staging_sql(database: str) -> str:
    """One month of current events, with the team of the actor and of the counterpart on the day they acted.

    Parameters: month (UInt32). A retraction is final: an event with a retracted row anywhere is left out, even
    if a row of it arrived later (a voided statement loaded before the statement it voids). Erased people are
    left out as actors and as counterparts."""
    db = check_identifier(database, "database")
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
    FROM {db}.learning_events FINAL
    WHERE toYYYYMM(occurred_at) = {{month:UInt32}}
      AND NOT retracted
      AND event_id NOT IN (SELECT event_id FROM {db}.learning_events WHERE retracted)
      AND actor NOT IN (SELECT person FROM {db}.erased_people)
) AS e
ASOF LEFT JOIN {db}.current_team_memberships AS a
    ON e.actor = a.person AND toDate(e.occurred_at) >= a.valid_from
ASOF LEFT JOIN {db}.current_team_memberships AS c
    ON e.counterpart_key = c.person AND toDate(e.occurred_at) >= c.valid_from
"""


def cell_staging_sql(database: str, table: str) -> str:
    """The INSERT that builds one trend table's staging month from the staged events (no parameters but `month`
    for question_cells, whose answers may come in the following weeks)."""
    db = check_identifier(database, "database")
    staged = f"{db}.{EVENTS_STAGING}"
    into = f"INSERT INTO {db}.{table}_staging"
    if table == "activity_cells":
        return f"""{into}
SELECT classifier_version, day, team, department, category, source, count() AS events, uniqExactState(actor)
FROM {staged}
GROUP BY classifier_version, day, team, department, category, source"""
    if table == "topic_cells":
        return f"""{into}
SELECT classifier_version, day, topic, team, department, category, source, count() AS events,
    uniqExactState(actor)
FROM {staged}
ARRAY JOIN topics AS topic
GROUP BY classifier_version, day, topic, team, department, category, source"""
    if table == "flow_cells":
        return f"""{into}
SELECT classifier_version, day, counterpart_team, counterpart_department, team, department, source,
    count() AS answers, uniqExactState(assumeNotNull(counterpart)), uniqExactState(actor)
FROM {staged}
WHERE category = 'answered' AND counterpart IS NOT NULL
GROUP BY classifier_version, day, counterpart_team, counterpart_department, team, department, source"""
    if table == "reuse_cells":
        return f"""{into}
SELECT classifier_version, day, page, team, department, source, count() AS answers, uniqExactState(actor)
FROM {staged}
ARRAY JOIN arrayPushFront(page_refs, '{ANY_PAGE}') AS page
WHERE category = 'answered' AND notEmpty(page_refs)
GROUP BY classifier_version, day, page, team, department, source"""
    if table == "question_cells":
        # Each question's first answer by someone else in its conversation, after it and within the window.
        return f"""{into}
SELECT
    q.classifier_version, q.day, q.team, q.department, if(empty(q.topics), '', q.topics[1]) AS topic, q.source,
    count() AS questions,
    countIf(f.first_answer_at IS NOT NULL) AS answered,
    uniqExactState(q.actor),
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
        FROM {db}.learning_events FINAL
        WHERE category = 'answered' AND NOT retracted
          AND occurred_at >= {{first:Date}} AND occurred_at < {{answers_until:Date}}
          AND conversation_key IN (SELECT conversation_key FROM {staged} WHERE category = 'asked')
    ) AS answer
        ON answer.conversation_key = question.conversation_key
        AND answer.classifier_version = question.classifier_version
        AND answer.counterpart = question.actor
    WHERE answer.occurred_at > question.occurred_at
      AND answer.occurred_at <= question.occurred_at + toIntervalDay({ANSWER_WINDOW_DAYS})
    GROUP BY question.event_id, question.classifier_version
) AS f ON f.question_id = q.event_id AND f.version = q.classifier_version
GROUP BY q.classifier_version, q.day, q.team, q.department, topic, q.source
SETTINGS join_use_nulls = 1"""
    raise WarehouseError(f"no trend table named {table!r}")


STAGING_TABLES: tuple[str, ...] = (EVENTS_STAGING, *(f"{table}_staging" for table in CELL_TABLES))


def truncate_sql(database: str, table: str, cluster: str | None = None) -> str:
    """Empty a staging table (its local tables on every shard in cluster mode)."""
    return f"TRUNCATE TABLE IF EXISTS {database}.{local_table(table, cluster)}{on_cluster(cluster)}"


def swap_sql(database: str, table: str, month: int, cluster: str | None = None, empty: bool = False) -> str:
    """Put a trend table's rebuilt month in place of the old one (or drop the month when nothing is left)."""
    target = f"{database}.{local_table(table, cluster)}{on_cluster(cluster)}"
    if empty:
        return f"ALTER TABLE {target} DROP PARTITION {int(month)}"
    staging = f"{database}.{local_table(f'{table}_staging', cluster)}"
    return f"ALTER TABLE {target} REPLACE PARTITION {int(month)} FROM {staging}"


def on_cluster(cluster: str | None) -> str:
    """The ON CLUSTER clause of a statement on local tables, or nothing on a single server."""
    return f" ON CLUSTER {check_identifier(cluster, 'cluster')}" if cluster else ""


@dataclass(frozen=True)
class RebuildReport:
    """What one rebuild did."""

    months: tuple[int, ...]
    events: int
    seconds: float


def mark_months(client: Any, database: str, months: Iterable[int]) -> None:
    """Record that these months' events changed (their trend cells are due for a rebuild)."""
    distinct = sorted(set(months))
    if not distinct:
        return
    db = check_identifier(database, "database")
    values = ", ".join(f"({int(month)}, '{MARKED}', now64(3, 'UTC'))" for month in distinct)
    _run(client, f"INSERT INTO {db}.rollup_log (month, kind, at) VALUES {values}", "marking months for a rebuild")


def due_months(client: Any, database: str) -> list[int]:
    """The months whose latest mark is newer than their latest rebuild, oldest first."""
    db = check_identifier(database, "database")
    sql = (
        f"SELECT month FROM {db}.rollup_log GROUP BY month "
        f"HAVING maxIf(at, kind = '{MARKED}') > maxIf(at, kind = '{REBUILT}') ORDER BY month"
    )
    try:
        return [int(row[0]) for row in client.query(sql).result_rows]
    except ClickHouseError as exc:
        raise WarehouseError(f"cannot read which trend months are due: {exc}") from exc


def rebuild_month(client: Any, database: str, month: int, cluster: str | None = None) -> int:
    """Recompute every trend table's partition for one month and swap it in; returns the events counted."""
    db = check_identifier(database, "database")
    first, following = month_bounds(month)
    started = client.query("SELECT now64(3, 'UTC')").result_rows[0][0]
    for table in STAGING_TABLES:
        _run(client, truncate_sql(db, table, cluster), f"clearing {table}")
    # On a cluster, an insert into a Distributed table must reach the shards before the swap reads them.
    sync = {"insert_distributed_sync": 1} if cluster else None
    _run(client, events_staging_sql(db), f"staging the events of {month}", {"month": month}, sync)
    counted = int(client.query(f"SELECT count() FROM {db}.{EVENTS_STAGING}").result_rows[0][0])
    parameters = {"first": first, "answers_until": following + timedelta(days=ANSWER_WINDOW_DAYS)}
    for table in CELL_TABLES:
        _run(client, cell_staging_sql(db, table), f"building {table} for {month}", parameters, sync)
    for table in CELL_TABLES:
        # nothing left in the month (all retracted or erased): the engine refuses to replace from nothing
        empty = not int(client.query(f"SELECT count() FROM {db}.{table}_staging").result_rows[0][0])
        _run(client, swap_sql(db, table, month, cluster, empty), f"swapping {table}")
    client.insert("rollup_log", [[month, REBUILT, started]], column_names=["month", "kind", "at"], database=database)
    for table in STAGING_TABLES:  # the staged rows name people: keep them no longer than the rebuild
        _run(client, truncate_sql(db, table, cluster), f"clearing {table}")
    return counted


def rebuild_due(client: Any, database: str, cluster: str | None = None) -> RebuildReport:
    """Rebuild every due month."""
    began = time.monotonic()
    months = due_months(client, database)
    events = sum(rebuild_month(client, database, month, cluster) for month in months)
    report = RebuildReport(tuple(months), events, time.monotonic() - began)
    if months:
        logger.info(
            "rebuilt the trend tables of %d month(s) (%s) from %d events in %.2f s",
            len(months),
            ", ".join(str(month) for month in months),
            events,
            report.seconds,
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


def retention_sql(database: str, table: str, days: int, cluster: str | None = None) -> str:
    """The statement that makes a table keep its rows `days` days (by occurrence), or for ever with 0."""
    db = check_identifier(database, "database")
    change = f"MODIFY TTL {RETAINED[table]} + toIntervalDay({int(days)})" if days else "REMOVE TTL"
    return f"ALTER TABLE {db}.{local_table(table, cluster)}{on_cluster(cluster)} {change}"


def apply_retention(client: Any, database: str, days: int, cluster: str | None = None) -> list[str]:
    """Set every retained table's TTL to `days` where it differs (the events and their trend cells expire
    together); returns the tables changed."""
    db = check_identifier(database, "database")
    wanted = f"toIntervalDay({int(days)})"
    changed: list[str] = []
    for table in RETAINED:
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
        changed.append(table)
    return changed
