"""MediaWiki changes as activities: EventStreams `mediawiki.recentchange` events, Action API `list=recentchanges`
rows and `list=allrevisions` revisions (formatversion=2).

Every path gives an edit or a page creation the native id `rev/<revid>`, so a revision read twice (by the event
stream and the API, or by the revision backfill and recent changes) is one activity.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard, TypeVar

from producers.pseudonymise import Pseudonymiser
from schemas.activity import Activity, ActivityKind, ConversationKind, ConversationRef, SourceSystem

KINDS = {"edit": ActivityKind.PAGE_EDITED, "new": ActivityKind.PAGE_CREATED}


def activity_from_recentchange(event: dict[str, Any], pseudonymise: Pseudonymiser) -> Activity | None:
    """The activity for an edit or a page creation; None for log entries, categorisation and other changes."""
    kind = KINDS.get(str(event.get("type")))
    if kind is None:
        return None
    revision = event.get("revision") or {}
    length = event.get("length") or {}
    attributes: dict[str, str | int | float | bool] = {
        "namespace": int(event.get("namespace", 0)),
        "minor": bool(event.get("minor", False)),
        "bot": bool(event.get("bot", False)),
    }
    if isinstance(length.get("new"), int):
        attributes["bytes_changed"] = int(length["new"]) - int(length.get("old") or 0)
    title = str(event["title"])
    return Activity.create(
        source=SourceSystem.MEDIAWIKI,
        source_instance=str(event["server_name"]),
        native_id=f"rev/{revision['new']}" if revision.get("new") else f"rc/{event['id']}",
        kind=kind,
        occurred_at=datetime.fromtimestamp(int(event["timestamp"]), tz=UTC),
        actor=pseudonymise(str(event["user"])),
        conversation=ConversationRef(kind=ConversationKind.PAGE, id=f"{event.get('namespace', 0)}:{title}"),
        subject=title,
        text=str(event.get("comment") or ""),
        attributes=attributes,
    )


class UnusableChange(ValueError):
    """A wiki record the mappers cannot use; the message names the field and what is wrong with it."""


def checked_recentchange(event: Mapping[str, Any], pseudonymise: Pseudonymiser) -> Activity | None:
    """`activity_from_recentchange` for an event read off the wire: a field it needs that is missing or of the
    wrong type is an UnusableChange naming it, not a KeyError."""
    if not isinstance(event.get("type"), str):
        raise UnusableChange(f"type is {describe(event.get('type'))}, expected text")
    if event["type"] not in KINDS:
        return None
    for name, kind in (("title", str), ("user", str), ("server_name", str), ("timestamp", int), ("namespace", int)):
        field_of(event, name, kind)
    revision = event.get("revision")
    new = revision.get("new") if isinstance(revision, dict) else None
    if not is_int(new) or new <= 0:
        raise UnusableChange(f"revision.new is {describe(new)}, expected a revision id")
    return activity_from_recentchange(dict(event), pseudonymise)


def activity_from_api_change(
    change: Mapping[str, Any], server_name: str, pseudonymise: Pseudonymiser
) -> Activity | None:
    """The activity for a `list=recentchanges` row (formatversion=2): an edit or a page creation, None for the
    rest. Its native id is `rev/<revid>`, the same as the event stream's and the revision backfill's."""
    change_type = field_of(change, "type", str)
    kind = KINDS.get(change_type)
    if kind is None:
        return None
    attributes: dict[str, str | int | float | bool] = {
        "namespace": field_of(change, "ns", int),
        "minor": change.get("minor") is True,
        "bot": change.get("bot") is True,
    }
    new_length, old_length = change.get("newlen"), change.get("oldlen")
    if is_int(new_length):
        attributes["bytes_changed"] = new_length - (old_length if is_int(old_length) else 0)
    return page_activity(
        server_name=server_name,
        revid=revision_id(change, "revid"),
        kind=kind,
        occurred_at=api_timestamp(field_of(change, "timestamp", str)),
        user=field_of(change, "user", str),
        namespace=int(attributes["namespace"]),
        title=field_of(change, "title", str),
        comment=change.get("comment"),
        attributes=attributes,
        pseudonymise=pseudonymise,
    )


def activity_from_api_revision(
    page: Mapping[str, Any],
    revision: Mapping[str, Any],
    server_name: str,
    pseudonymise: Pseudonymiser,
    bot: bool = False,
) -> Activity:
    """The activity for one revision of a `list=allrevisions` page (formatversion=2): a creation when it has no
    parent, else an edit. Revisions carry no bot flag (the caller gives it) and no parent size, so only a
    creation has `bytes_changed` (its size)."""
    namespace = field_of(page, "ns", int)
    parent = revision.get("parentid")
    if not is_int(parent):
        raise UnusableChange(f"parentid is {describe(parent)}, expected a revision id or 0")
    kind = ActivityKind.PAGE_CREATED if parent == 0 else ActivityKind.PAGE_EDITED
    attributes: dict[str, str | int | float | bool] = {
        "namespace": namespace,
        "minor": revision.get("minor") is True,
        "bot": bot,
    }
    if kind is ActivityKind.PAGE_CREATED and is_int(revision.get("size")):
        attributes["bytes_changed"] = int(revision["size"])
    return page_activity(
        server_name=server_name,
        revid=revision_id(revision, "revid"),
        kind=kind,
        occurred_at=api_timestamp(field_of(revision, "timestamp", str)),
        user=field_of(revision, "user", str),
        namespace=namespace,
        title=field_of(page, "title", str),
        comment=revision.get("comment"),
        attributes=attributes,
        pseudonymise=pseudonymise,
    )


def page_activity(
    *,
    server_name: str,
    revid: int,
    kind: ActivityKind,
    occurred_at: datetime,
    user: str,
    namespace: int,
    title: str,
    comment: object,
    attributes: dict[str, str | int | float | bool],
    pseudonymise: Pseudonymiser,
) -> Activity:
    """The activity for one revision of a page, built the same way by every MediaWiki path."""
    return Activity.create(
        source=SourceSystem.MEDIAWIKI,
        source_instance=server_name,
        native_id=f"rev/{revid}",
        kind=kind,
        occurred_at=occurred_at,
        actor=pseudonymise(user),
        conversation=ConversationRef(kind=ConversationKind.PAGE, id=f"{namespace}:{title}"),
        subject=title,
        text=comment if isinstance(comment, str) else "",
        attributes=attributes,
    )


T = TypeVar("T")


def field_of(record: Mapping[str, Any], name: str, kind: type[T]) -> T:
    """A field that must be present with the given type (an int is never a bool here)."""
    value = record.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = "text" if kind is str else "an integer"
        hidden = " (hidden: revision-deleted)" if record.get(f"{name}hidden") is True else ""
        raise UnusableChange(f"{name} is {describe(value)}{hidden}, expected {expected}")
    if kind is str and not value:
        raise UnusableChange(f"{name} is empty")
    return value


def revision_id(record: Mapping[str, Any], name: str) -> int:
    """A revision id: a positive integer (0 means the record is not a revision)."""
    value = field_of(record, name, int)
    if value <= 0:
        raise UnusableChange(f"{name} is {value}, expected a revision id")
    return value


def api_timestamp(value: str) -> datetime:
    """An API timestamp (`2023-07-29T12:00:00Z`) as an aware datetime."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UnusableChange(f"timestamp {value!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        raise UnusableChange(f"timestamp {value!r} has no time zone")
    return moment.astimezone(UTC)


def is_int(value: object) -> TypeGuard[int]:
    """An integer that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def describe(value: object) -> str:
    """A value for an error message: missing, or its type and a short repr."""
    if value is None:
        return "missing"
    return f"{type(value).__name__} {value!r:.40}"
