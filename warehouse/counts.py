"""Operator counts: exact numbers of stored events, not trend figures (no suppression: they name no one and are
for checking the pipeline, as the fault tests and `learnstream warehouse counts` do)."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class EventIdCounts:
    """Exact figures of `learning_events` by event id, for checking that each event is stored once.

    `rows`: every row stored, merged or not (a re-delivered event may still be two rows until a merge); `events`:
    the current rows (`FINAL`: the latest of each classifier version and id); `event_ids`: distinct ids among them;
    `stored_twice`: versions and ids with more than one current row, which must be 0; `ids`: the ids, when asked."""

    rows: int
    events: int
    event_ids: int
    stored_twice: int
    ids: tuple[str, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON (`ids` only when they were read)."""
        document: dict[str, Any] = {
            "rows": self.rows,
            "events": self.events,
            "event_ids": self.event_ids,
            "stored_twice": self.stored_twice,
        }
        if self.ids is not None:
            document["ids"] = list(self.ids)
        return document

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> EventIdCounts:
        """The figures from `as_dict`'s JSON; KeyError or TypeError when it is not that."""
        ids = document.get("ids")
        return cls(
            int(document["rows"]),
            int(document["events"]),
            int(document["event_ids"]),
            int(document["stored_twice"]),
            tuple(str(i) for i in ids) if isinstance(ids, list) else None,
        )


def event_id_counts(client: Any, database: str, with_ids: bool = False) -> EventIdCounts:
    """Rows, current events, distinct ids and ids stored twice in `learning_events` (and the ids, if asked)."""
    db = check_identifier(database, "database")
    sql = f"""
SELECT
    (SELECT count() FROM {db}.learning_events),
    count(),
    uniqExact(event_id),
    (SELECT count() FROM (
        SELECT classifier_version, event_id FROM {db}.learning_events FINAL
        GROUP BY classifier_version, event_id HAVING count() > 1))
FROM {db}.learning_events FINAL"""
    try:
        rows, events, event_ids, stored_twice = client.query(sql).result_rows[0]
        ids = None
        if with_ids:
            found = client.query(f"SELECT DISTINCT event_id FROM {db}.learning_events FINAL").result_rows
            ids = tuple(sorted(str(event_id) for (event_id,) in found))
    except ClickHouseError as exc:
        raise WarehouseError(
            f"counting stored events failed: {exc}; run `learnstream warehouse migrate` first"
        ) from exc
    return EventIdCounts(int(rows), int(events), int(event_ids), int(stored_twice), ids)


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
