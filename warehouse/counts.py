"""Operator counts: exact numbers of stored events, not trend figures (no suppression: they name no one and are
for checking the pipeline, as the fault tests and `learnstream warehouse counts` do)."""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from learnstream.errors import WarehouseError
from warehouse.dsn import check_identifier


def stored_events(client: Any, database: str) -> dict[tuple[str, str, str], int]:
    """Current events (latest row of each id, none retracted, no erased actor) by classifier version, source and
    category."""
    db = check_identifier(database, "database")
    sql = f"""
SELECT classifier_version, source, category, count()
FROM {db}.learning_events FINAL
WHERE NOT retracted
  AND event_id NOT IN (SELECT event_id FROM {db}.learning_events WHERE retracted)
  AND actor NOT IN (SELECT person FROM {db}.erased_people)
GROUP BY classifier_version, source, category"""
    return _counts(client, sql)


def cell_events(client: Any, database: str) -> dict[tuple[str, str, str], int]:
    """The events the trend tables count (activity_cells' day rows), by classifier version, source and category:
    equal to `stored_events` once every due month is rebuilt."""
    db = check_identifier(database, "database")
    sql = f"""
SELECT classifier_version, source, category, sum(events)
FROM {db}.activity_cells
WHERE grain = 'day'
GROUP BY classifier_version, source, category"""
    return _counts(client, sql)


def _counts(client: Any, sql: str) -> dict[tuple[str, str, str], int]:
    try:
        rows = client.query(sql).result_rows
    except ClickHouseError as exc:
        raise WarehouseError(
            f"counting stored events failed: {exc}; run `learnstream warehouse migrate` first"
        ) from exc
    return {(str(version), str(source), str(category)): int(total) for version, source, category, total in rows}
