"""xAPI statements as activities. Full LRS validation comes with the Statement API endpoint."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from learnstream.errors import ConnectorError
from producers.pseudonymise import Pseudonymiser
from schemas.activity import Activity, ActivityKind, ConversationKind, ConversationRef, SourceSystem

#: The verb of a voiding statement: its object, a StatementRef, names the statement it takes back.
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def voided_statement(verb: str, target: dict[str, Any]) -> str | None:
    """The id of the statement a voiding statement voids, or None for any other statement."""
    if verb == VOIDED and target.get("objectType") == "StatementRef" and target.get("id"):
        return str(target["id"])
    return None


def actor_identifier(actor: dict[str, Any]) -> str:
    """The inverse functional identifier of an xAPI agent (mbox, mbox_sha1sum, openid or account)."""
    for field in ("mbox", "mbox_sha1sum", "openid"):
        if actor.get(field):
            return f"{field}:{actor[field]}"
    account = actor.get("account")
    if isinstance(account, dict) and account.get("homePage") and account.get("name"):
        return f"account:{account['homePage']}|{account['name']}"
    for member in actor.get("member") or []:  # an anonymous Group acts through its first identified member
        if isinstance(member, dict):
            try:
                return actor_identifier(member)
            except ConnectorError:
                continue
    raise ConnectorError("xAPI actor has no inverse functional identifier (mbox, mbox_sha1sum, openid, account)")


def display_name(definition: dict[str, Any] | None) -> str | None:
    """The activity's name, preferring en-US, else any language map entry."""
    names = (definition or {}).get("name") or {}
    return str(names.get("en-US") or next(iter(names.values()), "")) or None


#: Activity types that name a course (ADL's, and cmi5's course structure).
COURSE_TYPES = frozenset(
    {"http://adlnet.gov/expapi/activities/course", "https://w3id.org/xapi/cmi5/activitytype/course"}
)


def course_of(statement: dict[str, Any]) -> str:
    """The conversation of a statement: the course among its context activities (or its object, when that is the
    course), else its first grouping, parent or category activity, else its object. Moodle puts the site first in
    `grouping`, so the course must be looked for by its type."""
    context_activities = (statement.get("context") or {}).get("contextActivities") or {}
    relations = context_activities.items()
    target = statement.get("object") or {}
    if _is_course(target):
        return str(target["id"])
    for _, items in relations:
        for activity in items if isinstance(items, list) else (items,):
            if _is_course(activity):
                return str(activity["id"])
    for relation in ("grouping", "parent", "category"):
        items = context_activities.get(relation)
        first = (items[0] if items else None) if isinstance(items, list) else items
        if isinstance(first, dict) and first.get("id"):
            return str(first["id"])
    if isinstance(target, dict) and target.get("id"):
        return str(target["id"])
    if isinstance(target, dict) and target.get("objectType") == "SubStatement":
        return course_of(target)  # a SubStatement's own activity
    return str(statement.get("id") or "")  # an Agent or Group as the object: the Statement stands alone


def _is_course(activity: Any) -> bool:
    return isinstance(activity, dict) and bool(activity.get("id")) and _activity_type(activity) in COURSE_TYPES


def _activity_type(activity: dict[str, Any]) -> str | None:
    definition = activity.get("definition")
    return str(definition.get("type")) if isinstance(definition, dict) and definition.get("type") else None


@lru_cache(maxsize=4096)  # the same courses again and again; a ConversationRef is immutable, so it can be shared
def course_conversation(course: str) -> ConversationRef:
    """The conversation of a course's statements."""
    return ConversationRef(kind=ConversationKind.COURSE, id=course)


def activity_from_statement(statement: dict[str, Any], instance: str, pseudonymise: Pseudonymiser) -> Activity:
    """The activity for one xAPI statement; raises ConnectorError when required parts are missing."""
    try:
        statement_id = str(statement["id"])
        verb = str(statement["verb"]["id"])
        target = statement["object"]
        when = datetime.fromisoformat(str(statement.get("timestamp") or statement["stored"]))
        if when.tzinfo is None:  # xAPI timestamps should carry a zone; read one without as UTC
            when = when.replace(tzinfo=UTC)
        actor = pseudonymise(actor_identifier(statement["actor"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConnectorError(f"xAPI statement {statement.get('id', '?')} lacks a required part: {exc!r}") from exc
    attributes: dict[str, str | int | float | bool] = {"verb": verb, "object": str(target.get("id", ""))}
    voided = voided_statement(verb, target)
    object_type = (target.get("definition") or {}).get("type")
    if object_type:
        attributes["object_type"] = str(object_type)
    return Activity.create(
        source=SourceSystem.XAPI,
        source_instance=instance,
        native_id=statement_id,
        kind=ActivityKind.ITEM_DELETED if voided else ActivityKind.STATEMENT,
        in_reply_to=voided,
        occurred_at=when,
        actor=actor,
        conversation=course_conversation(course_of(statement)),
        subject=display_name(target.get("definition")),
        attributes=attributes,
    )
