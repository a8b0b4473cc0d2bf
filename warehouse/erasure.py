"""Erasure: everything of one person leaves every warehouse table, and stays out.

`erase_person` records a tombstone in `erased_people` first (so the loader stops storing the person's events and
every rebuild leaves them out, whatever arrives meanwhile), then deletes the person's events, forgets them as the
counterpart of other people's events (the event stays, without them), deletes their team memberships and clears
them as a manager, and rebuilds the trend days they appeared in. Distinct-count states cannot be subtracted, so
those days (and their weeks and months) are recomputed whole from the remaining rows (warehouse/rollup.py): when
`erase_person` returns, every figure already reflects the erasure. A loader running elsewhere picks the tombstone
up at its next rebuild (LEARNSTREAM_WAREHOUSE__ROLLUP_INTERVAL_S) and removes anything of the person it stored in
between.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from learnstream.errors import WarehouseError
from warehouse.cluster import local_table
from warehouse.dsn import check_identifier
from warehouse.rollup import days_of, engine_message, mark_days, on_cluster, rebuild_days

logger = logging.getLogger(__name__)

#: Mutations wait until every replica has applied them, so the figures are right when erase returns.
SYNC = "SETTINGS mutations_sync = 2"


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure removed."""

    person: str
    events_deleted: int
    counterpart_cleared: int
    memberships_deleted: int
    days_rebuilt: tuple[date, ...]
    seconds: float
    statements_deleted: int = 0  # xAPI Statements naming the person, kept by the LRS

    def as_dict(self) -> dict[str, Any]:
        """The report as the CLI prints it and serve answers it."""
        return {
            "person": self.person,
            "events_deleted": self.events_deleted,
            "counterpart_cleared": self.counterpart_cleared,
            "memberships_deleted": self.memberships_deleted,
            "statements_deleted": self.statements_deleted,
            "days_rebuilt": [day.isoformat() for day in self.days_rebuilt],
            "seconds": round(self.seconds, 3),
        }


def erasure_statements(database: str, cluster: str | None = None) -> list[str]:
    """The mutations that remove the person `{person:String}` from every table (their local tables on a cluster)."""
    where = on_cluster(cluster)
    events = f"{database}.{local_table('learning_events', cluster)}{where}"
    memberships = f"{database}.{local_table('team_memberships', cluster)}{where}"
    statements = f"{database}.{local_table('xapi_statements', cluster)}{where}"
    attachments = f"{database}.{local_table('xapi_attachments', cluster)}{where}"
    theirs = f"SELECT arrayJoin(attachments) FROM {database}.xapi_statements WHERE has(people, {{person:String}})"
    others = f"SELECT arrayJoin(attachments) FROM {database}.xapi_statements WHERE NOT has(people, {{person:String}})"
    return [
        # the attachments only their Statements hold, before the Statements that say which those are
        f"ALTER TABLE {attachments} DELETE WHERE sha2 IN ({theirs}) AND sha2 NOT IN ({others}) {SYNC}",
        f"ALTER TABLE {statements} DELETE WHERE has(people, {{person:String}}) {SYNC}",
        f"ALTER TABLE {events} DELETE WHERE actor = {{person:String}} {SYNC}",
        f"ALTER TABLE {events} UPDATE counterpart = NULL WHERE counterpart = {{person:String}} {SYNC}",
        f"ALTER TABLE {memberships} DELETE WHERE person = {{person:String}} {SYNC}",
        f"ALTER TABLE {memberships} UPDATE manager = NULL WHERE manager = {{person:String}} {SYNC}",
    ]


def _count(client: Any, sql: str, person: str) -> int:
    return int(client.query(sql, parameters={"person": person}).result_rows[0][0])


def erase_person(
    client: Any, database: str, person: str, cluster: str | None = None, now: datetime | None = None
) -> ErasureReport:
    """Erase one pseudonymous person from every table, record the tombstone, and rebuild the affected days."""
    began = time.monotonic()
    db = check_identifier(database, "database")
    try:
        client.insert(
            "erased_people", [[person, now or datetime.now(UTC)]], column_names=["person", "erased_at"], database=db
        )
        days = days_of(client, db, "actor = {person:String} OR counterpart = {person:String}", {"person": person})
        deleted = _count(client, f"SELECT count() FROM {db}.learning_events WHERE actor = {{person:String}}", person)
        cleared = _count(
            client, f"SELECT count() FROM {db}.learning_events WHERE counterpart = {{person:String}}", person
        )
        removed = _count(client, f"SELECT count() FROM {db}.team_memberships WHERE person = {{person:String}}", person)
        statements = _count(
            client, f"SELECT count() FROM {db}.xapi_statements WHERE has(people, {{person:String}})", person
        )
        for statement in erasure_statements(db, cluster):
            client.command(statement, parameters={"person": person})
        mark_days(client, db, days)
    except ClickHouseError as exc:
        raise WarehouseError(
            f"erasing {person} failed part way: {engine_message(exc)}; the tombstone is recorded if this came after "
            "it, and running erase again completes the rest"
        ) from exc
    rebuild_days(client, db, days, cluster)
    logger.info(
        "erased %s: %d events, %d counterpart references, %d memberships, %d xAPI Statements",
        *(person, deleted, cleared, removed, statements),
    )
    return ErasureReport(person, deleted, cleared, removed, tuple(sorted(days)), time.monotonic() - began, statements)


def erased_people(client: Any, database: str) -> frozenset[str]:
    """The pseudonyms of everyone erased."""
    db = check_identifier(database, "database")
    try:
        return frozenset(str(row[0]) for row in client.query(f"SELECT person FROM {db}.erased_people").result_rows)
    except ClickHouseError as exc:
        raise WarehouseError(f"cannot read the erased people: {exc}") from exc


def purge_erased(client: Any, database: str, erased: frozenset[str], cluster: str | None = None) -> int:
    """Delete any events of erased people stored after their erasure (by a loader that had not yet seen the
    tombstone) and forget them as counterparts; returns the rows found. Cheap when there are none."""
    if not erased:
        return 0
    db = check_identifier(database, "database")
    people = {"people": sorted(erased)}
    try:
        by_day = client.query(
            f"SELECT toDate(occurred_at), count() FROM {db}.learning_events "
            "WHERE actor IN {people:Array(String)} OR counterpart IN {people:Array(String)} GROUP BY 1",
            parameters=people,
        ).result_rows
        found = sum(int(rows) for _, rows in by_day)
        if not found:
            return 0
        events = f"{db}.{local_table('learning_events', cluster)}{on_cluster(cluster)}"
        client.command(f"ALTER TABLE {events} DELETE WHERE actor IN {{people:Array(String)}} {SYNC}", parameters=people)
        client.command(
            f"ALTER TABLE {events} UPDATE counterpart = NULL WHERE counterpart IN {{people:Array(String)}} {SYNC}",
            parameters=people,
        )
        mark_days(client, db, (day for day, _ in by_day))
    except ClickHouseError as exc:
        raise WarehouseError(f"removing late events of erased people failed: {engine_message(exc)}") from exc
    logger.warning("removed %d late rows of erased people", found)
    return found
