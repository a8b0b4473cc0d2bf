"""The people/teams dimension in the warehouse, loaded from the people directory topic.

The directory topic (`<ns>.directory`) is compacted and keyed by pseudonym: its latest record of each person
holds their whole membership history. A load reads the topic to its end, keeps each person's latest record, and
inserts every membership with the load's time; `current_team_memberships` shows each person's latest load only
(migration 0003), and `learning_events_with_team` joins each event to the team its actor was in that day.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from learnstream.errors import WarehouseError
from learnstream.kafka import read_latest
from learnstream.settings import KafkaSettings
from schemas.directory import DirectoryRecord
from warehouse.dsn import check_identifier
from warehouse.erasure import erased_people
from warehouse.rollup import days_of, mark_days

logger = logging.getLogger(__name__)

COLUMNS = ("person", "valid_from", "team", "department", "manager", "record_at")
READ_TIMEOUT_S = 120.0


def membership_rows(records: Iterable[DirectoryRecord], record_at: datetime) -> list[tuple[Any, ...]]:
    """One row per membership of each person, stamped with the load's time."""
    return [
        (record.person, membership.valid_from, membership.team, membership.department, membership.manager, record_at)
        for record in records
        for membership in record.memberships
    ]


def read_directory(kafka: KafkaSettings, topic: str) -> list[DirectoryRecord]:
    """Each person's latest record on the directory topic; an unreadable record is skipped with a warning (the
    person keeps what an earlier load knew), a tombstone forgets the person."""
    missing = f"the directory topic {topic} does not exist: run `learnstream topics create`"
    return list(
        read_latest(kafka, topic, "warehouse-directory", READ_TIMEOUT_S, missing, DirectoryRecord.from_bytes).values()
    )


def changed_people(stored: Iterable[tuple[Any, ...]], loaded: Iterable[tuple[Any, ...]]) -> set[str]:
    """The people whose memberships differ between what is stored and what was loaded (rows without record_at)."""
    by_person: dict[str, tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]] = {}
    for row in stored:
        by_person.setdefault(row[0], (set(), set()))[0].add(tuple(row))
    for row in loaded:
        by_person.setdefault(row[0], (set(), set()))[1].add(tuple(row))
    return {person for person, (before, after) in by_person.items() if after and before != after}


def load_directory(kafka: KafkaSettings, topic: str, client: Any, database: str, now: datetime | None = None) -> int:
    """Load the directory's memberships into `team_memberships`, leaving erased people out, and mark the days
    of the events of everyone whose teams changed for a rebuild; returns the people whose memberships changed."""
    records = read_directory(kafka, topic)
    db = check_identifier(database, "database")
    table = f"{db}.team_memberships"
    try:
        erased = erased_people(client, database)
        rows = [row for row in membership_rows(records, now or datetime.now(UTC)) if row[0] not in erased]
        stored = client.query(
            f"SELECT person, valid_from, team, department, manager FROM {db}.current_team_memberships"
        ).result_rows
        changed = changed_people(stored, (row[:-1] for row in rows))
        if not changed:
            return 0
        client.insert(table, [row for row in rows if row[0] in changed], column_names=list(COLUMNS))
        days = days_of(
            client,
            database,
            "actor IN {people:Array(String)} OR counterpart IN {people:Array(String)}",
            {"people": sorted(changed)},
        )
        mark_days(client, database, days)
    except ClickHouseError as exc:
        raise WarehouseError(f"loading the directory into {table} failed: {exc}") from exc
    logger.info("loaded the memberships of %d changed people into %s (%d days due)", len(changed), table, len(days))
    return len(changed)
