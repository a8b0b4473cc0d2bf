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


def load_directory(kafka: KafkaSettings, topic: str, client: Any, database: str, now: datetime | None = None) -> int:
    """Load the directory's memberships into `team_memberships`; returns the people loaded."""
    records = read_directory(kafka, topic)
    if not records:
        return 0
    rows = membership_rows(records, now or datetime.now(UTC))
    table = f"{check_identifier(database, 'database')}.team_memberships"
    try:
        client.insert(table, rows, column_names=list(COLUMNS))
    except ClickHouseError as exc:
        raise WarehouseError(f"loading the directory into {table} failed: {exc}") from exc
    logger.info("loaded %d people (%d memberships) into %s", len(records), len(rows), table)
    return len(records)
