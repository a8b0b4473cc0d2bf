"""What the LRS does to a valid Statement before it stores it, and how two Statements are compared. Pure.

The LRS assigns `id` when the client gave none, `stored` (now), `timestamp` (= stored when absent), `version`
(1.0.0, or 2.0.0 for a 2.0 request, when absent) and `authority` (the credentials the Statement came with; the
spec lets an LRS overwrite a submitted authority and asks it to, Data 2.4.9). A re-sent Statement with an id
already stored is compared with the stored one by its `content_hash` (worked out from both as stored, only then)
and the instant of its timestamp.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lrs.comparison import ALWAYS_IGNORED, ASSIGNED_IF_MISSING, canonical_bytes, normal_form
from lrs.iso8601 import parse_timestamp

#: The properties a content hash leaves out: those the comparison ignores and those the LRS assigns when missing.
NOT_HASHED = frozenset(ALWAYS_IGNORED + ASSIGNED_IF_MISSING)


def iso_utc(moment: datetime) -> str:
    """An instant as the LRS writes it: UTC, milliseconds, `Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _LastStored:
    """`iso_utc` of the last `stored` instant: every Statement of a request is stored at the same one."""

    def __init__(self) -> None:
        self.last: tuple[datetime, str] | None = None

    def __call__(self, moment: datetime) -> str:
        last = self.last  # one read: another thread may replace it, never change it
        if last is not None and last[0] is moment:  # the same object (a datetime cannot change), kept alive here
            return last[1]
        text = iso_utc(moment)
        self.last = (moment, text)
        return text


_stored_text = _LastStored()


def authority_for(credential: str, home_page: str) -> dict[str, Any]:
    """The authority of Statements sent with one set of credentials: an Agent with an account on this LRS."""
    return {"objectType": "Agent", "name": credential, "account": {"homePage": home_page, "name": credential}}


def prepared(
    statement: dict[str, Any],
    *,
    stored: datetime,
    authority: dict[str, Any],
    version_2: bool,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> dict[str, Any]:
    """The Statement as the LRS stores and returns it: a copy with id, stored, timestamp, version and authority."""
    result = with_listed_context_activities(statement)
    result["id"] = str(statement["id"]).lower() if "id" in statement else new_id()
    result["stored"] = _stored_text(stored)
    result.setdefault("timestamp", result["stored"])
    result.setdefault("version", "2.0.0" if version_2 else "1.0.0")
    result["authority"] = authority
    return result


def with_listed_context_activities(statement: dict[str, Any]) -> dict[str, Any]:
    """A copy whose contextActivities hold lists (a single Activity sent is returned as a list of one, Data
    2.4.6.2), in a SubStatement too."""
    result = dict(statement)
    context = result.get("context")
    if isinstance(context, dict) and isinstance(context.get("contextActivities"), dict):
        listed = {
            kind: items if isinstance(items, list) else [items] for kind, items in context["contextActivities"].items()
        }
        result["context"] = {**context, "contextActivities": listed}
    target = result.get("object")
    if isinstance(target, dict) and target.get("objectType") == "SubStatement":
        result["object"] = with_listed_context_activities(target)
    return result


def content_hash(statement: dict[str, Any]) -> str:
    """A digest of a Statement as sent, by the comparison rules (lrs/comparison.py), without the properties the LRS
    assigns when they are missing (id, timestamp, version): those are compared apart, only where both have one.
    A Statement as stored (`prepared`) has the digest of the Statement as sent: all the LRS adds is left out."""
    return hashlib.sha256(canonical_bytes(normal_form(statement, NOT_HASHED))).hexdigest()


def stored_content_hash(stored: str) -> str:
    """`content_hash` of a Statement stored as JSON (integers beyond 64 bits and all: `json` reads what it wrote)."""
    return content_hash(json.loads(stored))


def sent_instant(statement: dict[str, Any]) -> datetime | None:
    """The instant of the timestamp a client sent, if it sent one."""
    value = statement.get("timestamp")
    return parse_timestamp(value) if isinstance(value, str) else None
