"""Statement comparison (xAPI 1.0.3 Data 2.3.1, Statement Comparison Requirements; the same in 2.0). Pure.

Several scenarios need two Statements compared: a signed Statement against its JWS payload (lrs/signature.py), a
re-sent id against the stored Statement (lrs/statements.py). Differences that LRS processing or serialization may
cause are ignored: the properties the LRS assigns, Activity Definitions, a Verb's display, a timestamp's zone, the
order of a Group's members, case where it does not matter; every other difference counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

# Properties the LRS assigns or overwrites (Data 2.3.1.b1) or that are not part of the Statement (2.3.1.b6).
ALWAYS_IGNORED = ("authority", "stored", "attachments")
# Properties the LRS assigns only when a Statement has none: a difference counts only when both sides have one.
ASSIGNED_IF_MISSING = ("id", "timestamp", "version")

#: The end of an integral float as orjson writes it below 1e16 ("1.0", "-0.0"): `.0` and the end of the number.
#: From 1e16 on it writes floats with an exponent ("1e+16"), and those are all integral. Either may be found in a
#: string too, which costs only the slower way; searched for as text, since a search is faster than a walk.
_WHOLE_FLOAT_END = re.compile(rb"\.0(?![^,}\]])")


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


def normal_form(statement: Mapping[str, Any], ignored: Collection[str] = ALWAYS_IGNORED) -> dict[str, Any]:
    """A Statement or SubStatement without what Data 2.3.1 excepts from immutability, in a comparable form.
    `ignored`: the top-level properties left out (a caller may leave out more than ALWAYS_IGNORED)."""
    normal = {key: value for key, value in statement.items() if key not in ignored}
    if isinstance(normal.get("id"), str):
        normal["id"] = normal["id"].lower()  # a UUID compares by value (2.3.1.b7 case sensitivity)
    if isinstance(normal.get("timestamp"), str):
        normal["timestamp"] = _instant(normal["timestamp"])
    if "actor" in normal:
        normal["actor"] = _actor(normal["actor"])
    verb = normal.get("verb")
    if isinstance(verb, dict):
        normal["verb"] = verb = dict(verb)  # a copy, as the other parts: the caller's Statement is left as it was
        verb.pop("display", None)  # 2.3.1.b3
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
    normal = dict(activity)
    normal.pop("definition", None)
    normal["objectType"] = "Activity"  # where the Activity had it, else last
    return normal


def _actor(actor: object) -> object:
    """An Agent or Group: objectType defaulted, the mbox domain in lower case, Group members in any order (2.3.1.b5)."""
    if not isinstance(actor, dict):
        return actor
    normal = dict(actor)
    normal.setdefault("objectType", "Agent")
    mbox = normal.get("mbox")
    if isinstance(mbox, str) and "@" in mbox:
        normal["mbox"] = _mbox(mbox)
    if isinstance(normal.get("mbox_sha1sum"), str):
        normal["mbox_sha1sum"] = normal["mbox_sha1sum"].lower()
    if isinstance(normal.get("member"), list):
        normal["member"] = sorted((_actor(member) for member in normal["member"]), key=canonical)
    return normal


@lru_cache(maxsize=4096)  # the same actors send Statement after Statement
def _mbox(mbox: str) -> str:
    """An mbox with its scheme and domain in lower case (2.3.1.b7: the domain is not cased)."""
    local, _, domain = mbox.rpartition("@")
    scheme, colon, address = local.partition(":")
    return f"{scheme.lower()}{colon}{address}@{domain.lower()}"


def _context(context: Mapping[str, Any]) -> dict[str, Any]:
    """A Context with its Activities, Agents and Groups, registration and StatementRef compared as above."""
    normal = dict(context)
    if "instructor" in normal:
        normal["instructor"] = _actor(normal["instructor"])
    if "team" in normal:
        normal["team"] = _actor(normal["team"])
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
    if "contextAgents" in normal or "contextGroups" in normal:  # xAPI 2.0
        for key, role in (("contextAgents", "agent"), ("contextGroups", "group")):
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
    written = _sorted_json(value)
    return written.decode() if written is not None else _canonical_numbers(value)


def canonical_bytes(value: object) -> bytes:
    """`canonical(value)` as UTF-8, without decoding orjson's bytes to encode them again (to hash them)."""
    written = _sorted_json(value)
    return written if written is not None else _canonical_numbers(value).encode()


def _sorted_json(value: object) -> bytes | None:
    """orjson's JSON of `value` with sorted keys when that is already canonical (no integral float in it), else None.

    Most Statements hold no integral float: then the value need not be rebuilt (`_numbers`) before it is written.
    """
    try:
        written = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return None
    if _WHOLE_FLOAT_END.search(written) is not None or (b"+" in written and b"e+" in written):
        return None
    return written


def _canonical_numbers(value: object) -> str:
    """`canonical` the long way: integral floats as integers first."""
    numbers = _numbers(value)
    try:
        return orjson.dumps(numbers, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, which JSON allows and orjson does not write
        return json.dumps(numbers, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _numbers(value: object) -> object:
    """`value` with integral floats as integers, so that 1.0 and 1 (one JSON number) compare equal."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):  # no call for a string or an integer: they are most of a Statement
        return {key: _numbers(item) if isinstance(item, _REWRITTEN) else item for key, item in value.items()}
    if isinstance(value, list):
        return [_numbers(item) if isinstance(item, _REWRITTEN) else item for item in value]
    return value


#: What `_numbers` may change: a float, or what may hold one.
_REWRITTEN = (float, dict, list)
