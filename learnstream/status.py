"""`learnstream status`, the part without I/O: lag from offsets, connector health records, the verdict from the
figures and the thresholds (`StatusSettings`), and the table and JSON renderings. cli/status.py reads the figures.

Connector health records share the compacted `<ns>.connector.state` topic with the cursors: key
`health:<connector name>`, value `{"last_error": "...", "at": <epoch seconds>, "ok": bool}`. A connector's name
matches `NAME_PATTERN` (producers/instance_config.py), which has no ':', so no cursor's key starts with `health:`;
the cursor store skips these keys when it folds the topic.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaError

from learnstream.consumer_lag import lag_messages
from learnstream.errors import WarehouseError
from learnstream.settings import StatusSettings

logger = logging.getLogger(__name__)

HEALTH_KEY_PREFIX = "health:"
#: A health record keeps this much of an error's text (it is read by people, not parsed).
MAX_ERROR_CHARS = 500


# --- connector health records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectorHealth:
    """What a following connector last reported: whether its last poll succeeded, its error if not, and when."""

    ok: bool
    last_error: str
    at: float


def health_key(name: str) -> bytes:
    """The key of a connector's health record on the connector-state topic."""
    return f"{HEALTH_KEY_PREFIX}{name}".encode()


def health_name(key: bytes | None) -> str | None:
    """The connector a health record's key names, or None when the key is not a health record's (a cursor's)."""
    if key is None or not key.startswith(HEALTH_KEY_PREFIX.encode()):
        return None
    return key[len(HEALTH_KEY_PREFIX) :].decode("utf-8", errors="replace")


def health_record(name: str, error: str, at: float) -> tuple[bytes, bytes]:
    """The key and value of a health record: `error` empty when the poll succeeded."""
    value = {"last_error": error[:MAX_ERROR_CHARS], "at": round(at, 3), "ok": not error}
    return health_key(name), json.dumps(value).encode("utf-8")


def parse_health(value: bytes) -> ConnectorHealth:
    """A health record's value; raises ValueError if it is not one."""
    try:
        document = json.loads(value)
        return ConnectorHealth(
            ok=bool(document["ok"]), last_error=str(document["last_error"]), at=float(document["at"])
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a health record: {exc}") from exc


def health_reporter(
    producer: Any, topic: str, name: str, clock: Callable[[], float] = time.time, timeout_s: float = 10.0
) -> Callable[[str], None]:
    """What `follow` calls after a poll ("" when it succeeded, else its error): sends the connector's health record
    and waits for the broker. A failed send is logged, not raised: the connector goes on, the next report retries."""

    def report(error: str) -> None:
        key, value = health_record(name, error, clock())
        try:
            producer.send(topic, key=key, value=value).get(timeout=timeout_s)
        except KafkaError as exc:
            logger.warning("health of connector %s not recorded on %s: %s", name, topic, exc)

    return report


# --- consumer lag ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionLag:
    """One partition of a group's topic: its committed offset (None: no commit), end offset, how many messages the
    group has yet to read and how long the oldest of them has waited (0 when none)."""

    partition: int
    committed: int | None
    end: int
    messages: int
    seconds: float


@dataclass(frozen=True)
class GroupLag:
    """How far a consumer group (`role`: worker or loader) is behind on its topic."""

    role: str
    group: str
    topic: str
    partitions: tuple[PartitionLag, ...]

    @property
    def has_commits(self) -> bool:
        return any(partition.committed is not None for partition in self.partitions)

    @property
    def messages(self) -> int:
        return sum(partition.messages for partition in self.partitions)

    @property
    def seconds(self) -> float:
        return max((partition.seconds for partition in self.partitions), default=0.0)


def group_lags(
    committed: Mapping[int, int],
    beginnings: Mapping[int, int],
    ends: Mapping[int, int],
    first_timestamps: Mapping[int, float],
    now: float,
) -> tuple[PartitionLag, ...]:
    """The lag of every partition of `ends`. `committed`: the group's offsets (a partition missing: no commit);
    `first_timestamps`: the Kafka timestamp (epoch seconds) of the first unconsumed record, where one was read."""
    lags = []
    for partition in sorted(ends):
        offset = committed.get(partition)
        messages = lag_messages(ends[partition], offset, beginnings.get(partition, 0))
        waited = first_timestamps.get(partition)
        seconds = max(0.0, now - waited) if messages and waited is not None else 0.0
        lags.append(PartitionLag(partition, offset, ends[partition], messages, seconds))
    return tuple(lags)


# --- connectors, dead letters, warehouse ----------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectorStatus:
    """A connector as status sees it: whether it follows its source live (a cursor age is then judged), when it
    last saved its cursor (epoch seconds), and its last health record."""

    name: str
    follows: bool
    cursor_saved_at: float | None
    health: ConnectorHealth | None


@dataclass(frozen=True)
class DeadLetterCounts:
    """The dead-letter topic: how many by reason, and when the newest was written (epoch seconds)."""

    topic: str
    by_reason: Mapping[str, int]
    newest_at: float | None

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())


@dataclass(frozen=True)
class WarehouseFigures:
    """The learning_events table: its rows (every row, superseded ones not yet merged away included) and the
    newest times stored (epoch seconds; None while it is empty)."""

    rows: int
    newest_stored_at: float | None
    newest_occurred_at: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "newest_stored_at": self.newest_stored_at,
            "newest_occurred_at": self.newest_occurred_at,
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> WarehouseFigures:
        """Figures from `as_dict`'s document (serve's answer); raises ValueError if it is not one."""
        try:
            return cls(
                rows=int(document["rows"]),
                newest_stored_at=_optional_float(document["newest_stored_at"]),
                newest_occurred_at=_optional_float(document["newest_occurred_at"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not warehouse figures: {exc}") from exc


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def warehouse_figures(client: Any, database: str) -> WarehouseFigures:
    """Count learning_events and read its newest stored and occurred times (one cheap statement, no FINAL)."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from warehouse.dsn import check_identifier

    db = check_identifier(database, "database")
    sql = (
        "SELECT count(), toUnixTimestamp64Milli(max(ingested_at)), toUnixTimestamp64Milli(max(occurred_at)) "
        f"FROM {db}.learning_events"
    )
    try:
        rows, stored_ms, occurred_ms = client.query(sql).result_rows[0]
    except ClickHouseError as exc:
        raise WarehouseError(
            f"reading {db}.learning_events failed: {exc}; run `learnstream warehouse migrate` first"
        ) from exc
    if not rows:
        return WarehouseFigures(0, None, None)
    return WarehouseFigures(int(rows), int(stored_ms) / 1000, int(occurred_ms) / 1000)


@dataclass(frozen=True)
class WarehouseStatus:
    """How the warehouse was read (`serve`: through the serve that owns the embedded engine, `direct`), and its
    figures or the error that kept them out of reach."""

    via: str
    figures: WarehouseFigures | None = None
    error: str | None = None


# --- the verdict ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineStatus:
    """Every figure `learnstream status` read at `at` (epoch seconds), and what went wrong reading them (`notes`:
    a missing topic, an unreadable connector file), each of which counts as a problem."""

    at: float
    lag: tuple[GroupLag, ...]
    connectors: tuple[ConnectorStatus, ...]
    dead_letters: DeadLetterCounts
    warehouse: WarehouseStatus
    notes: tuple[str, ...] = field(default=())


def problems(status: PipelineStatus, limits: StatusSettings) -> list[str]:
    """One line per reason the pipeline is unhealthy; empty when it is healthy. A figure at its threshold passes."""
    found = list(status.notes)
    for group in status.lag:
        if group.messages > limits.max_lag_messages:
            found.append(
                f"lag: the {group.role} group {group.group} is {group.messages} messages behind on {group.topic} "
                f"(max {limits.max_lag_messages})"
            )
        if group.seconds > limits.max_lag_seconds:
            found.append(
                f"lag: the oldest message the {group.role} group {group.group} has yet to read on {group.topic} "
                f"waited {format_duration(group.seconds)} (max {format_duration(limits.max_lag_seconds)})"
            )
    for connector in status.connectors:
        health = connector.health
        if health is not None and not health.ok:
            found.append(
                f"connector {connector.name}: its last poll failed {format_duration(status.at - health.at)} ago: "
                f"{health.last_error}"
            )
        if connector.follows and connector.cursor_saved_at is not None:
            age = status.at - connector.cursor_saved_at
            if age > limits.max_cursor_age_s:
                found.append(
                    f"connector {connector.name}: its cursor was last saved {format_duration(age)} ago "
                    f"(max {format_duration(limits.max_cursor_age_s)})"
                )
    warehouse = status.warehouse
    if warehouse.error is not None:
        found.append(f"warehouse: {warehouse.error}")
    elif warehouse.figures is not None and warehouse.figures.newest_stored_at is not None:
        freshness = status.at - warehouse.figures.newest_stored_at
        if freshness > limits.max_freshness_s:
            found.append(
                f"warehouse: the newest learning event was stored {format_duration(freshness)} ago "
                f"(max {format_duration(limits.max_freshness_s)})"
            )
    return found


def format_duration(seconds: float) -> str:
    """A duration for people: `42 s`, `12 min`, `3.5 h`, `2.0 d`."""
    if math.isnan(seconds):
        return "?"
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _age(now: float, at: float | None) -> float | None:
    return None if at is None else round(max(0.0, now - at), 3)


def status_document(status: PipelineStatus, limits: StatusSettings) -> dict[str, Any]:
    """The JSON document of `learnstream status --json`: lag, connectors, dead_letters, warehouse, problems and
    healthy (times in epoch seconds, ages in seconds)."""
    found = problems(status, limits)
    figures = status.warehouse.figures
    return {
        "at": round(status.at, 3),
        "lag": [
            {
                "role": group.role,
                "group": group.group,
                "topic": group.topic,
                "has_commits": group.has_commits,
                "messages": group.messages,
                "seconds": round(group.seconds, 3),
                "partitions": [
                    {
                        "partition": lag.partition,
                        "committed": lag.committed,
                        "end": lag.end,
                        "messages": lag.messages,
                        "seconds": round(lag.seconds, 3),
                    }
                    for lag in group.partitions
                ],
            }
            for group in status.lag
        ],
        "connectors": [
            {
                "name": connector.name,
                "follows": connector.follows,
                "cursor_saved_at": connector.cursor_saved_at,
                "cursor_age_s": _age(status.at, connector.cursor_saved_at),
                "ok": None if connector.health is None else connector.health.ok,
                "last_error": connector.health.last_error if connector.health and connector.health.last_error else None,
                "reported_at": None if connector.health is None else connector.health.at,
            }
            for connector in status.connectors
        ],
        "dead_letters": {
            "topic": status.dead_letters.topic,
            "total": status.dead_letters.total,
            "by_reason": dict(sorted(status.dead_letters.by_reason.items())),
            "newest_at": status.dead_letters.newest_at,
            "newest_age_s": _age(status.at, status.dead_letters.newest_at),
        },
        "warehouse": {
            "via": status.warehouse.via,
            "reachable": status.warehouse.error is None,
            "error": status.warehouse.error,
            **(figures.as_dict() if figures else {"rows": None, "newest_stored_at": None, "newest_occurred_at": None}),
            "freshness_s": _age(status.at, figures.newest_stored_at) if figures else None,
        },
        "problems": found,
        "healthy": not found,
    }


def _columns(rows: Iterable[tuple[str, ...]], indent: str = "  ") -> list[str]:
    """Rows as left-aligned columns."""
    table = list(rows)
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    return [
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in table
    ]


def _ago(now: float, at: float | None, never: str) -> str:
    return never if at is None else f"{format_duration(now - at)} ago"


def render_table(status: PipelineStatus, limits: StatusSettings) -> str:
    """The screen of `learnstream status`: lag, connectors, dead letters, warehouse, then the verdict and every
    problem on a line of its own."""
    now = status.at
    lines = [f"learnstream status at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(now))}", "", "consumer lag"]
    lag_rows = [("role", "group", "topic", "partition", "committed", "end", "behind", "waited")]
    for group in status.lag:
        for lag in group.partitions:
            committed = "no commits" if lag.committed is None else str(lag.committed)
            waited = format_duration(lag.seconds) if lag.messages else "-"
            row = (group.role, group.group, group.topic, str(lag.partition), committed, str(lag.end))
            lag_rows.append((*row, str(lag.messages), waited))
        if not group.partitions:
            lag_rows.append((group.role, group.group, group.topic, "-", "-", "-", "-", "-"))
    lines += _columns(lag_rows)
    lines += ["", "connectors"]
    if status.connectors:
        connector_rows = [("name", "follows", "cursor saved", "last poll")]
        for connector in status.connectors:
            health = connector.health
            if health is None:
                poll = "-"
            elif health.ok:
                poll = f"ok ({_ago(now, health.at, '')})"
            else:
                poll = f"FAILED {_ago(now, health.at, '')}: {health.last_error}"
            saved = _ago(now, connector.cursor_saved_at, "never")
            connector_rows.append((connector.name, "yes" if connector.follows else "no", saved, poll))
        lines += _columns(connector_rows)
    else:
        lines.append("  none known (no connector file, cursor or health record)")
    dead = status.dead_letters
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(dead.by_reason.items()))
    newest = f" (newest {_ago(now, dead.newest_at, '')})" if dead.newest_at is not None else ""
    lines += ["", f"dead letters on {dead.topic}: {dead.total}{newest}" + (f": {reasons}" if reasons else "")]
    warehouse = status.warehouse
    if warehouse.error is not None:
        lines += ["", f"warehouse ({warehouse.via}): unreachable"]
    elif warehouse.figures is not None:
        figures = warehouse.figures
        stored = _ago(now, figures.newest_stored_at, "never")
        occurred = (
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(figures.newest_occurred_at))
            if figures.newest_occurred_at is not None
            else "-"
        )
        lines += [
            "",
            f"warehouse ({warehouse.via}): {figures.rows:,} rows in learning_events, newest stored {stored}, "
            f"newest occurred {occurred}",
        ]
    found = problems(status, limits)
    lines += ["", "healthy" if not found else f"UNHEALTHY: {len(found)} problem{'s' if len(found) > 1 else ''}"]
    lines += [f"  - {problem}" for problem in found]
    return "\n".join(lines)
