"""The wire formats of the simulated MediaWiki: a change as the Action API and EventStreams render it, and the
parameters they read (timestamps, limits, directions, continuation), as pure functions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

ChangeType = Literal["edit", "new", "log"]

STREAM_TOPIC = "eqiad.mediawiki.recentchange"
RC_DEFAULT_PROPS = ("title", "timestamp", "ids")
ARV_DEFAULT_PROPS = ("ids", "timestamp", "flags", "comment", "user")
MAX_LIMIT = 500
DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class WikiChange:
    """One row of the wiki's recent changes: an edit, a page creation or a log entry.

    `server_name` None means the simulated wiki itself; another name puts the change only on the event stream
    (which carries every wiki). `extra` is merged over the change as the API and the stream render it, to play
    a malformed record (`{"title": None}`); `userhidden` plays a revision-deleted user (no `user` field).
    """

    rcid: int
    revid: int
    old_revid: int
    type: ChangeType
    namespace: int
    title: str
    user: str
    timestamp: datetime
    bot: bool = False
    minor: bool = False
    oldlen: int = 0
    newlen: int = 0
    comment: str = ""
    anon: bool = False
    userhidden: bool = False
    server_name: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class ApiError(Exception):
    """A request the API refuses: answered with MediaWiki's error object."""

    def __init__(self, code: str, info: str) -> None:
        super().__init__(info)
        self.code = code
        self.info = info


def render_change(change: WikiChange, page_ids: Mapping[tuple[int, str], int], props: set[str]) -> dict[str, Any]:
    """A `list=recentchanges` row in formatversion=2, with the fields `rcprop` asks for, in the API's order."""
    row: dict[str, Any] = {"type": change.type}
    if "title" in props:
        row["ns"] = change.namespace
        row["title"] = change.title
    if "ids" in props:
        row["pageid"] = page_ids[(change.namespace, change.title)]
        row["revid"] = change.revid
        row["old_revid"] = change.old_revid
        row["rcid"] = change.rcid
    if "user" in props or "userid" in props:
        if change.userhidden:
            row["userhidden"] = True
        else:
            if "user" in props:
                row["user"] = change.user
            row["anon"] = change.anon
    if "flags" in props:
        row["bot"] = change.bot
        row["new"] = change.type == "new"
        row["minor"] = change.minor
    if "sizes" in props:
        row["oldlen"] = change.oldlen
        row["newlen"] = change.newlen
    if "timestamp" in props:
        row["timestamp"] = iso_timestamp(change.timestamp)
    if "comment" in props:
        row["comment"] = change.comment
    return row


def render_revision(change: WikiChange, props: set[str]) -> dict[str, Any]:
    """An `allrevisions` revision in formatversion=2, with the fields `arvprop` asks for."""
    revision: dict[str, Any] = {}
    if "ids" in props:
        revision["revid"] = change.revid
        revision["parentid"] = change.old_revid
    if "flags" in props:
        revision["minor"] = change.minor
    if "user" in props:
        if change.userhidden:
            revision["userhidden"] = True
        else:
            revision["user"] = change.user
            if change.anon:
                revision["anon"] = True
    if "timestamp" in props:
        revision["timestamp"] = iso_timestamp(change.timestamp)
    if "size" in props:
        revision["size"] = change.newlen
    if "comment" in props:
        revision["comment"] = change.comment
    return revision


def stream_event(change: WikiChange, own_server: str, offset: int) -> dict[str, Any]:
    """The EventStreams `mediawiki.recentchange` event for a change, as in the recorded stream."""
    server = change.server_name or own_server
    title_url = f"https://{server}/wiki/{quote(change.title.replace(' ', '_'))}"
    event: dict[str, Any] = {
        "$schema": "/mediawiki/recentchange/1.0.0",
        "meta": {
            "uri": title_url,
            "request_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{server}/request/{change.rcid}")),
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{server}/event/{change.rcid}")),
            "dt": iso_timestamp(change.timestamp),
            "domain": server,
            "stream": "mediawiki.recentchange",
            "topic": STREAM_TOPIC,
            "partition": 0,
            "offset": offset,
        },
        "id": change.rcid,
        "type": change.type,
        "namespace": change.namespace,
        "title": change.title,
        "title_url": title_url,
        "comment": change.comment,
        "timestamp": int(change.timestamp.timestamp()),
        "user": change.user,
        "bot": change.bot,
    }
    if change.type == "log":
        event.update({"log_id": change.rcid, "log_type": "create", "log_action": "create", "log_params": []})
    else:
        event["notify_url"] = f"https://{server}/w/index.php?diff={change.revid}&oldid={change.old_revid}"
        event["minor"] = change.minor
        event["length"] = (
            {"new": change.newlen} if change.type == "new" else {"old": change.oldlen, "new": change.newlen}
        )
        event["revision"] = (
            {"new": change.revid} if change.type == "new" else {"old": change.old_revid, "new": change.revid}
        )
    event.update(
        {
            "server_url": f"https://{server}",
            "server_name": server,
            "server_script_path": "/w",
            "wiki": server.split(".")[0] + "wiki",
            "parsedcomment": change.comment,
        }
    )
    return event


def iso_timestamp(moment: datetime) -> str:
    """ISO 8601 as the API writes it: `2023-07-29T12:00:00Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def mw_timestamp(moment: datetime) -> str:
    """MediaWiki's database timestamp (TS_MW), as continuation tokens carry it: `20230729120000`."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def parse_timestamp(value: str, name: str) -> datetime:
    """A timestamp parameter: TS_MW (14 digits), ISO 8601, or Unix seconds."""
    text = value.strip()
    try:
        if len(text) == 14 and text.isdigit():
            return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        if text.isdigit():
            return datetime.fromtimestamp(int(text), tz=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError("badtimestamp", f'Invalid value "{value}" for timestamp parameter "{name}".') from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def split(value: str | None) -> list[str]:
    """A multi-value parameter (`a|b|c`) as a list."""
    return [part for part in (value or "").split("|") if part]


def direction(value: str | None) -> bool:
    """True for `newer` (oldest first), False for `older` (the default)."""
    if value not in (None, "newer", "older"):
        raise ApiError("badvalue", f'Unrecognized value for parameter "dir": {value}.')
    return value == "newer"


def parse_limit(value: str | None, prefix: str) -> int:
    """A limit parameter: a number from 1 to 500, or `max`."""
    if value is None:
        return DEFAULT_LIMIT
    if value == "max":
        return MAX_LIMIT
    if not value.isdigit() or int(value) < 1:
        raise ApiError("badinteger", f'Invalid value "{value}" for integer parameter "{prefix}limit".')
    return min(int(value), MAX_LIMIT)


def in_range(
    rows: list[WikiChange],
    moment: Callable[[WikiChange], datetime],
    start: str | None,
    end: str | None,
    newer: bool,
    prefix: str,
) -> list[WikiChange]:
    """The rows between start and end (both inclusive); with `older`, start is the later one."""
    first = parse_timestamp(start, f"{prefix}start") if start else None
    last = parse_timestamp(end, f"{prefix}end") if end else None
    if not newer:
        first, last = last, first
    if first is not None and last is not None and first > last:
        raise ApiError(f"{prefix}start-before-end" if newer else f"{prefix}end-before-start", "start/end out of order")
    return [row for row in rows if (first is None or moment(row) >= first) and (last is None or moment(row) <= last)]


def after_continue(
    rows: list[WikiChange],
    token: str | None,
    key: Callable[[WikiChange], tuple[datetime, int]],
    newer: bool,
    prefix: str,
) -> list[WikiChange]:
    """The rows from the continuation point on (inclusive): `timestamp|id`, in the order of enumeration."""
    if token is None:
        return rows
    parts = token.split("|")
    if len(parts) != 2 or not parts[1].isdigit():
        raise ApiError("badcontinue", f'Invalid continue param "{prefix}continue". You should pass the original value.')
    point = (parse_timestamp(parts[0], f"{prefix}continue"), int(parts[1]))
    return [row for row in rows if (key(row) >= point if newer else key(row) <= point)]


def show_flag(change: WikiChange, flag: str) -> bool:
    """Whether a change has an `rcshow` flag (bot, minor, anon; others count as absent)."""
    return {"bot": change.bot, "minor": change.minor, "anon": change.anon}.get(flag, False)
