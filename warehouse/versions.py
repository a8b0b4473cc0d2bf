"""Which classifier version the trend queries read: the latest one activated, else the configured classifier's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from learnstream.errors import UsageError, WarehouseError
from warehouse.dsn import check_identifier


def active_version(client: Any, database: str, configured: str) -> str:
    """The latest activated classifier version, or `configured` when none was ever activated."""
    db = check_identifier(database, "database")
    try:
        rows = client.query(
            f"SELECT classifier_version FROM {db}.classifier_activations ORDER BY activated_at DESC LIMIT 1"
        ).result_rows
    except ClickHouseError as exc:
        raise WarehouseError(f"cannot read the active classifier version: {exc}") from exc
    return str(rows[0][0]) if rows else configured


def stored_versions(client: Any, database: str) -> list[tuple[str, int, datetime]]:
    """Each classifier version with events stored: its event count and when its newest row arrived."""
    db = check_identifier(database, "database")
    sql = (
        f"SELECT classifier_version, count(), max(ingested_at) FROM {db}.learning_events "
        "GROUP BY classifier_version ORDER BY max(ingested_at)"
    )
    try:
        return [(str(version), int(count), at) for version, count, at in client.query(sql).result_rows]
    except ClickHouseError as exc:
        raise WarehouseError(f"cannot list the classifier versions: {exc}") from exc


def activate(client: Any, database: str, version: str, now: datetime | None = None) -> None:
    """Make every trend query read `version` (which must have events stored: reprocess into it first)."""
    if version not in {stored for stored, _, _ in stored_versions(client, database)}:
        raise UsageError(
            f"no events of classifier version {version!r} are stored; reprocess into it first "
            "(`learnstream reprocess`), then activate it"
        )
    client.insert(
        "classifier_activations",
        [[version, now or datetime.now(UTC)]],
        column_names=["classifier_version", "activated_at"],
        database=database,
    )
