"""xAPI statements as activities. Full LRS validation comes with the Statement API endpoint."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from learnstream.errors import ConnectorError
from producers.contracts import OutgoingRecord
from producers.pseudonymise import Pseudonymiser
from schemas.activity import Activity, ActivityKind, ConversationKind, ConversationRef, SourceSystem
from schemas.activity_json import activity_record

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
    fields = _StatementFields(statement, instance, pseudonymise)
    return Activity.create(
        source=SourceSystem.XAPI,
        source_instance=instance,
        native_id=fields.statement_id,
        kind=fields.kind,
        in_reply_to=fields.voided,
        occurred_at=fields.when,
        actor=fields.actor,
        conversation=course_conversation(fields.course),
        subject=fields.subject,
        attributes=fields.attributes,
    )


def statement_record(statement: dict[str, Any], instance: str, pseudonymise: Pseudonymiser) -> OutgoingRecord:
    """The Kafka record of `activity_from_statement`, the same bytes without building the model (the LRS publishes
    thousands a second: schemas/activity_json.py); ConnectorError or ValueError as the model would refuse it."""
    fields = _StatementFields(statement, instance, pseudonymise)
    key, value = activity_record(
        SourceSystem.XAPI,
        instance,
        fields.statement_id,
        fields.kind,
        fields.when,
        fields.actor,
        ConversationKind.COURSE,
        fields.course,
        in_reply_to=fields.voided,
        subject=fields.subject,
        attributes=fields.attributes,
    )
    return OutgoingRecord(key, value)


class _StatementFields:
    """What an activity takes from a statement; ConnectorError when required parts are missing."""

    def __init__(self, statement: dict[str, Any], instance: str, pseudonymise: Pseudonymiser) -> None:
        try:
            self.statement_id = str(statement["id"])
            verb = str(statement["verb"]["id"])
            target = statement["object"]
            when = datetime.fromisoformat(str(statement.get("timestamp") or statement["stored"]))
            if when.tzinfo is None:  # xAPI timestamps should carry a zone; read one without as UTC
                when = when.replace(tzinfo=UTC)
            self.actor = pseudonymise(actor_identifier(statement["actor"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConnectorError(f"xAPI statement {statement.get('id', '?')} lacks a required part: {exc!r}") from exc
        self.when = when
        self.attributes: dict[str, str | int | float | bool] = {"verb": verb, "object": str(target.get("id", ""))}
        self.voided = voided_statement(verb, target)
        self.kind = ActivityKind.ITEM_DELETED if self.voided else ActivityKind.STATEMENT
        object_type = (target.get("definition") or {}).get("type")
        if object_type:
            self.attributes["object_type"] = str(object_type)
        self.course = course_of(statement)
        self.subject = display_name(target.get("definition"))
