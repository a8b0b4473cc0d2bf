"""Statement comparison (xAPI 1.0.3 Data 2.3.1, Statement Comparison Requirements; the same in 2.0). Pure.

Several scenarios need two Statements compared: a signed Statement against its JWS payload (lrs/signature.py), a
re-sent id against the stored Statement (lrs/statements.py). Differences that LRS processing or serialization may
cause are ignored: the properties the LRS assigns, Activity Definitions, a Verb's display, a timestamp's zone, the
order of a Group's members, case where it does not matter; every other difference counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

# Properties the LRS assigns or overwrites (Data 2.3.1.b1) or that are not part of the Statement (2.3.1.b6).
ALWAYS_IGNORED = ("authority", "stored", "attachments")
# Properties the LRS assigns only when a Statement has none: a difference counts only when both sides have one.
ASSIGNED_IF_MISSING = ("id", "timestamp", "version")


def statement_differences(signed: Mapping[str, Any], received: Mapping[str, Any]) -> list[str]:
    """The top-level properties in which two Statements differ by the Data 2.3.1 comparison rules; [] if none."""
    left, right = dict(signed), dict(received)
    for key in ASSIGNED_IF_MISSING:
        if key not in left or key not in right:
            left.pop(key, None)
            right.pop(key, None)
    left_normal, right_normal = normal_form(left), normal_form(right)
    keys = sorted(set(left_normal) | set(right_normal))
    return [key for key in keys if canonical(left_normal.get(key)) != canonical(right_normal.get(key))]


def normal_form(statement: Mapping[str, Any]) -> dict[str, Any]:
    """A Statement or SubStatement without what Data 2.3.1 excepts from immutability, in a comparable form."""
    normal = {key: value for key, value in statement.items() if key not in ALWAYS_IGNORED}
    if isinstance(normal.get("id"), str):
        normal["id"] = normal["id"].lower()  # a UUID compares by value (2.3.1.b7 case sensitivity)
    if isinstance(normal.get("timestamp"), str):
        normal["timestamp"] = _instant(normal["timestamp"])
    if "actor" in normal:
        normal["actor"] = _actor(normal["actor"])
    if isinstance(normal.get("verb"), dict):
        normal["verb"] = {key: value for key, value in normal["verb"].items() if key != "display"}  # 2.3.1.b3
    if "object" in normal:
        normal["object"] = _object(normal["object"])
    if isinstance(normal.get("context"), dict):
        normal["context"] = _context(normal["context"])
    return normal


def _object(target: object) -> object:
    """A Statement's object: an Activity without its definition (2.3.1.b2), an actor, a reference, a SubStatement."""
    if not isinstance(target, dict):
        return target
    kind = target.get("objectType", "Activity")
    if kind == "Activity":
        return _activity(target)
    if kind in ("Agent", "Group"):
        return _actor(target)
    if kind == "SubStatement":
        return normal_form(target)
    if kind == "StatementRef" and isinstance(target.get("id"), str):
        return target | {"id": target["id"].lower()}
    return target


def _activity(activity: object) -> object:
    """An Activity as compared: its id only matters, its definition is not part of the Statement (2.3.1.b2)."""
    if not isinstance(activity, dict):
        return activity
    return {key: value for key, value in activity.items() if key != "definition"} | {"objectType": "Activity"}


def _actor(actor: object) -> object:
    """An Agent or Group: objectType defaulted, the mbox domain in lower case, Group members in any order (2.3.1.b5)."""
    if not isinstance(actor, dict):
        return actor
    normal = dict(actor)
    normal.setdefault("objectType", "Agent")
    mbox = normal.get("mbox")
    if isinstance(mbox, str) and "@" in mbox:
        local, _, domain = mbox.rpartition("@")
        scheme, colon, address = local.partition(":")
        normal["mbox"] = f"{scheme.lower()}{colon}{address}@{domain.lower()}"  # 2.3.1.b7: the domain is not cased
    if isinstance(normal.get("mbox_sha1sum"), str):
        normal["mbox_sha1sum"] = normal["mbox_sha1sum"].lower()
    if isinstance(normal.get("member"), list):
        normal["member"] = sorted((_actor(member) for member in normal["member"]), key=canonical)
    return normal


def _context(context: Mapping[str, Any]) -> dict[str, Any]:
    """A Context with its Activities, Agents and Groups, registration and StatementRef compared as above."""
    normal = dict(context)
    for key in ("instructor", "team"):
        if key in normal:
            normal[key] = _actor(normal[key])
    if isinstance(normal.get("registration"), str):
        normal["registration"] = normal["registration"].lower()
    if isinstance(normal.get("statement"), dict):
        normal["statement"] = _object(normal["statement"])
    activities = normal.get("contextActivities")
    if isinstance(activities, dict):
        normal["contextActivities"] = {
            kind: [_activity(item) for item in value] if isinstance(value, list) else [_activity(value)]
            for kind, value in activities.items()  # a single Activity and a one-element array are the same (2.4.6.2)
        }
    for key, role in (("contextAgents", "agent"), ("contextGroups", "group")):  # xAPI 2.0
        if isinstance(normal.get(key), list):
            normal[key] = [
                item | {role: _actor(item[role])} if isinstance(item, dict) and role in item else item
                for item in normal[key]
            ]
    return normal


def _instant(timestamp: str) -> str:
    """The UTC instant of an ISO 8601 timestamp (2.3.1.b4: its serialization may change); the text if unreadable."""
    try:
        moment = datetime.fromisoformat(timestamp.upper())
    except ValueError:
        return timestamp
    return moment.astimezone(UTC).isoformat() if moment.tzinfo else moment.isoformat()


def canonical(value: object) -> str:
    """One text per JSON value: keys sorted, 1.0 written as 1, true never equal to 1 (as Python's == would have it)."""
    numbers = _numbers(value)
    try:
        return orjson.dumps(numbers, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, which JSON allows and orjson does not write
        return json.dumps(numbers, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _numbers(value: object) -> object:
    """`value` with integral floats as integers, so that 1.0 and 1 (one JSON number) compare equal."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_numbers(item) for item in value]
    return value
