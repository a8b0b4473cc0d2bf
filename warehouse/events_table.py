"""The `learning_events` table as rows: column order, the mapping from LearningEvent, and what a batch of rows
touches; all pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import Any

from schemas.activity import ActivityKind
from schemas.learning_event import LearningEvent

TABLE = "learning_events"
COLUMNS: tuple[str, ...] = (
    "event_id",
    "activity_id",
    "schema_version",
    "source",
    "source_instance",
    "conversation_key",
    "activity_kind",
    "occurred_at",
    "actor",
    "counterpart",
    "category",
    "formal",
    "confidence",
    "decided_by",
    "classifier_version",
    "topics",
    "response_delay_seconds",
    "retracted",
    "page_refs",
    "kafka_partition",
    "kafka_offset",
)


#: The columns that are the event's fields of the same name, in COLUMNS order (all but the last four).
_EVENT_FIELDS = attrgetter(*COLUMNS[: COLUMNS.index("retracted")])


def event_row(event: LearningEvent, partition: int, offset: int) -> list[Any]:
    """One insert row for an event read at a Kafka partition and offset, in COLUMNS order.

    Enum members go in as they are (each is its str value) and tuples as arrays: the row is built in two C calls,
    at half the cost of reading each field and converting it (bench/stages.py --only loader)."""
    row = list(_EVENT_FIELDS(event))
    row += (event.activity_kind is ActivityKind.ITEM_DELETED, event.page_refs, partition, offset)
    return row


def insert_token(group_id: str, topic: str, partition: int, first_offset: int, last_offset: int) -> str:
    """A deterministic insert_deduplication_token: a retried insert of the same batch is dropped by ClickHouse."""
    return f"{group_id}/{topic}/{partition}/{first_offset}-{last_offset}"


def batch_insert_token(group_id: str, spans: Mapping[tuple[str, int], tuple[int, int]]) -> str:
    """The token of one insert covering offset spans `{(topic, partition): (first, last)}` of several partitions."""
    return ",".join(
        insert_token(group_id, topic, partition, first, last)
        for (topic, partition), (first, last) in sorted(spans.items())
    )


#: Positions in a row of the columns the loader reads back.
EVENT_ID = COLUMNS.index("event_id")
ACTIVITY_KIND = COLUMNS.index("activity_kind")
OCCURRED_AT = COLUMNS.index("occurred_at")
ACTOR = COLUMNS.index("actor")
COUNTERPART = COLUMNS.index("counterpart")
CATEGORY = COLUMNS.index("category")
RESPONSE_DELAY = COLUMNS.index("response_delay_seconds")
#: The kinds whose event replaces the event of the item they change (an edit, a deletion).
REPLACING_KINDS = frozenset({ActivityKind.MESSAGE_EDITED.value, ActivityKind.ITEM_DELETED.value})


def replacing_ids(rows: Sequence[list[Any]]) -> set[str]:
    """The event ids that rows of editing or deleting activities replace."""
    return {row[EVENT_ID] for row in rows if row[ACTIVITY_KIND] in REPLACING_KINDS}


def keep_item_times(rows: Sequence[list[Any]], stored: Mapping[str, datetime]) -> int:
    """Give each edit or deletion the occurrence time of the item it changes, in place; returns how many changed.

    The time comes from the rows already stored (`stored`: event id -> earliest occurrence time) or from an earlier
    row of the same id in this batch. So every row of an event lies in one month partition, where the newest
    replaces the others, and the event keeps counting on the day the item was written.
    """
    first_seen: dict[str, datetime] = dict(stored)
    changed = 0
    for row in rows:
        event_id, occurred_at = row[EVENT_ID], row[OCCURRED_AT]
        known = first_seen.get(event_id)
        if known is None or occurred_at < known:
            first_seen[event_id] = occurred_at
            continue
        if row[ACTIVITY_KIND] in REPLACING_KINDS and occurred_at != known:
            row[OCCURRED_AT] = known
            changed += 1
    return changed


def days_touched(rows: Iterable[list[Any]]) -> set[date]:
    """The days whose trend cells these rows change: each row's own, and for an answer also the day of the
    question it answers (whose time to first answer it may set)."""
    days: set[date] = set()
    for row in rows:
        occurred_at: datetime = row[OCCURRED_AT]
        days.add(occurred_at.date())
        delay = row[RESPONSE_DELAY]
        if delay is not None:
            days.add((occurred_at - timedelta(seconds=delay)).date())
    return days


def without_erased(rows: list[list[Any]], erased: frozenset[str]) -> tuple[list[list[Any]], int]:
    """The rows without those of erased people, and an erased counterpart forgotten; returns (rows, dropped)."""
    if not erased:
        return rows, 0
    kept: list[list[Any]] = []
    for row in rows:
        if row[ACTOR] in erased:
            continue
        if row[COUNTERPART] in erased:
            row[COUNTERPART] = None
        kept.append(row)
    return kept, len(rows) - len(kept)


def without_expired(rows: list[list[Any]], oldest: datetime | None) -> tuple[list[list[Any]], int]:
    """The rows that happened at or after `oldest` (the retention's start); returns (rows, dropped). The engine's
    TTL would remove older rows at insert without a trace; the loader drops and counts them instead."""
    if oldest is None:
        return rows, 0
    kept = [row for row in rows if row[OCCURRED_AT] >= oldest]
    return kept, len(rows) - len(kept)
