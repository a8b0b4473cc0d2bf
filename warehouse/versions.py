"""Which classifier version the trend queries read: the latest one activated, else the configured classifier's."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Revision:
    """What a trend answer depends on besides its request: the classifier version read and when the trend tables
    last changed (the start of their latest rebuild; None before the first)."""

    version: str
    rebuilt_at: datetime | None


def trends_revision(client: Any, database: str, configured: str) -> Revision:
    """The active classifier version (else `configured`) and the time of the latest rebuild, in one query."""
    db = check_identifier(database, "database")
    sql = (
        f"SELECT (SELECT count() FROM {db}.classifier_activations), "
        f"(SELECT argMax(classifier_version, activated_at) FROM {db}.classifier_activations), "
        f"(SELECT max(at) FROM {db}.rollup_log WHERE kind = 'rebuilt'), "
        f"(SELECT count() FROM {db}.rollup_log WHERE kind = 'rebuilt')"
    )
    try:
        activations, latest, rebuilt_at, rebuilds = client.query(sql).result_rows[0]
    except ClickHouseError as exc:
        raise WarehouseError(f"cannot read the trend tables' revision: {exc}") from exc
    when = None
    if rebuilds:
        when = rebuilt_at if rebuilt_at.tzinfo else rebuilt_at.replace(tzinfo=UTC)
    return Revision(str(latest) if activations else configured, when)
