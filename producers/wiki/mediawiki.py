"""MediaWiki recent changes (EventStreams `mediawiki.recentchange` events) as activities."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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
