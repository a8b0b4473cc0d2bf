"""From raw activity bytes to a learning event or a dead letter: the worker's whole decision, as a pure function."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from pydantic import ValidationError

from schemas.activity import (
    SUPPORTED_ACTIVITY_SCHEMA_VERSIONS,
    Activity,
    ActivityKind,
    ConversationRef,
    SourceSystem,
)
from schemas.dead_letter import DeadLetter, DeadLetterReason
from schemas.ids import activity_id_for
from schemas.learning_event import LearningEvent
from schemas.topics import Topics
from streams.classify import Classifier, ThreadContext
from streams.classify.page_refs import page_refs_in

logger = logging.getLogger(__name__)

STAGE = "worker"
SOURCE_SYSTEMS = frozenset(system.value for system in SourceSystem)
#: Kinds whose event is the event of the item they change: an edit is classified again under the message's event
#: id (the latest decision wins), a deletion takes the item's event back.
REPLACING_KINDS = frozenset({ActivityKind.MESSAGE_EDITED, ActivityKind.ITEM_DELETED})
#: Sources whose conversation is a wiki page: their events link to no page (the page is their conversation).
WIKI_SOURCES = frozenset({SourceSystem.MEDIAWIKI, SourceSystem.CONFLUENCE})
#: The keys of an activity's `conversation` object (both required, no others allowed).
CONVERSATION_KEYS = len(ConversationRef.model_fields)


# Named tuples rather than frozen dataclasses: the worker builds several per message, and they cost a third.
class MessageOrigin(NamedTuple):
    """Where a message was read: enough to find it again and to describe it in a dead letter."""

    topic: str
    partition: int
    offset: int
    key: bytes | None


class Classified(NamedTuple):
    """The activity became this learning event."""

    event: LearningEvent


class Rejected(NamedTuple):
    """The message was set aside with this dead letter."""

    dead_letter: DeadLetter


Outcome = Classified | Rejected


class ThreadLookup(Protocol):
    """What the decision may ask of the worker's memory of conversations (`streams/threads.py`)."""

    def context_for(self, conversation_key: str, at: datetime) -> ThreadContext | None: ...


class Outgoing(NamedTuple):
    """Where an outcome goes: the topic, the key and the bytes of the record the worker writes."""

    topic: str
    key: bytes | None
    value: bytes


def route(outcome: Outcome, topics: Topics, raw_key: bytes | None) -> Outgoing:
    """A learning event goes on keyed by its conversation, whatever the raw key was (a thread's events share a
    partition downstream); a dead letter goes aside under the raw message's key."""
    if isinstance(outcome, Classified):
        event = outcome.event
        return Outgoing(topics.learning_events, event.conversation_key.encode("utf-8"), event.to_bytes())
    return Outgoing(topics.activity_dlq, raw_key, outcome.dead_letter.to_bytes())


#: `LearningEvent(**fields)` without the constructor's keyword arguments and Python frame: the same validation, a
#: third cheaper (the event is the worker's second most expensive step after reading the activity).
validate_event = LearningEvent.__pydantic_validator__.validate_python


def event_id_for(activity: Activity) -> str:
    """The activity's own id, or for an edit or a deletion the id of the item it changes."""
    if activity.kind in REPLACING_KINDS and activity.in_reply_to:
        return activity_id_for(activity.source, activity.source_instance, activity.in_reply_to)
    return activity.activity_id


def learning_event_for(
    activity: Activity,
    classifier: Classifier,
    thread: ThreadContext | None = None,
    conversation_key: str | None = None,
) -> LearningEvent:
    """Classify an activity and tag its subjects and the wiki pages it links to; the event keeps no text of the
    activity. `conversation_key` is the activity's, when the caller has computed it already."""
    decision = classifier.classify(activity, thread)
    text = activity.text
    page_refs = page_refs_in(text) if text and activity.source not in WIKI_SOURCES else ()
    event: LearningEvent = validate_event(
        {
            "event_id": event_id_for(activity),
            "activity_id": activity.activity_id,
            "source": activity.source,
            "source_instance": activity.source_instance,
            "conversation_key": conversation_key or activity.conversation_key,
            "activity_kind": activity.kind,
            "occurred_at": activity.occurred_at,
            "actor": activity.actor,
            "counterpart": decision.counterpart or activity.counterpart,
            "category": decision.category,
            "formal": decision.category.formal,
            "confidence": decision.confidence,
            "decided_by": decision.rule,
            "classifier_version": classifier.version,
            "topics": classifier.subjects_of(activity),
            "response_delay_seconds": decision.response_delay_seconds,
            "page_refs": page_refs,
        }
    )
    return event


def dead_letter(
    origin: MessageOrigin,
    value: bytes,
    reason: DeadLetterReason,
    detail: str,
    now: datetime,
    stage: str = STAGE,
    source_system: SourceSystem | None = None,
) -> DeadLetter:
    """A dead letter for a message this stage could not process, keeping its original bytes."""
    return DeadLetter.for_message(
        reason=reason,
        detail=detail,
        stage=stage,
        topic=origin.topic,
        partition=origin.partition,
        offset=origin.offset,
        key=origin.key,
        value=value,
        failed_at=now,
        source_system=source_system,
    )


def describe_validation_error(exc: ValidationError) -> str:
    """`field.path: message` for each problem, without echoing the (possibly personal) input values."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or '<root>'}: {error['msg']}" for error in exc.errors()
    )


def process_raw_activity(
    value: bytes | None,
    origin: MessageOrigin,
    now: datetime,
    classifier: Classifier,
    threads: ThreadLookup | None = None,
) -> Outcome:
    """Validate and classify one raw message, in the context of its conversation when `threads` remembers it;
    anything wrong becomes a dead letter with its reason."""
    if not value:
        return Rejected(dead_letter(origin, b"", DeadLetterReason.EMPTY_MESSAGE, "message has no value", now))
    try:
        activity = Activity.from_bytes(value)  # one parse on the happy path; the reasons are sorted out below
    except ValidationError as exc:
        reason, detail, source = why_invalid(value, exc)
        return Rejected(dead_letter(origin, value, reason, detail, now, source_system=source))
    if (problem := duplicate_key_problem(value, activity)) is not None:  # the parser kept the last value of a key
        detail = f"not a valid Activity: {problem}"
        reason = DeadLetterReason.SCHEMA_INVALID
        return Rejected(dead_letter(origin, value, reason, detail, now, source_system=activity.source))
    try:
        key = activity.conversation_key  # a property that formats a string: computed once per message
        thread = threads.context_for(key, activity.occurred_at) if threads is not None else None
        return Classified(learning_event_for(activity, classifier, thread, key))
    except Exception as exc:  # a rule's bug must cost one message, not the stream; the message is kept aside
        reason = DeadLetterReason.PROCESSING_ERROR
        return Rejected(dead_letter(origin, value, reason, failure_detail(exc), now, source_system=activity.source))


def why_invalid(value: bytes, exc: ValidationError) -> tuple[DeadLetterReason, str, SourceSystem | None]:
    """The reason code, a detail naming the fields at fault, and the source system if the message names one."""
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return DeadLetterReason.INVALID_JSON, f"not JSON: {first['msg']}", None
    try:
        document, twice = parse_keeping_keys_twice(value)
    except ValueError:  # pydantic's parser and the standard one disagree on some edge of JSON
        return DeadLetterReason.INVALID_JSON, "not JSON the standard library can read", None
    if not isinstance(document, dict):
        return DeadLetterReason.SCHEMA_INVALID, f"not a valid Activity: a JSON {type(document).__name__}", None
    source = document.get("source")
    source_system = SourceSystem(source) if source in SOURCE_SYSTEMS else None
    if twice is not None:  # which of the values was meant is unknown, so what else is wrong may be beside the point
        detail = f"not a valid Activity: {key_twice_detail(twice)}; {describe_validation_error(exc)}"
        return DeadLetterReason.SCHEMA_INVALID, detail, source_system
    version = document.get("schema_version")
    if isinstance(version, int) and version not in SUPPORTED_ACTIVITY_SCHEMA_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_ACTIVITY_SCHEMA_VERSIONS)
        detail = f"schema_version {version} is not supported by this worker (supported: {supported})"
        return DeadLetterReason.UNSUPPORTED_SCHEMA_VERSION, detail, source_system
    return DeadLetterReason.SCHEMA_INVALID, f"not a valid Activity: {describe_validation_error(exc)}", source_system


def duplicate_key_problem(value: bytes, activity: Activity) -> str | None:
    """What is wrong with the keys of `value` (an object holds a key twice), or None; `activity` is what `value`
    validated to.

    The parser keeps the last of a key's values, so a second `actor` would silently override the first. Cheap
    first: each member of a JSON object is a key, perhaps whitespace, and a colon, so without the whitespace every
    member shows as `":` (a text quoting JSON adds its escaped ones). The validated activity has one member per
    distinct key: its fields given, the conversation's two and its attributes (attribute values are scalars: no
    other object can be in a valid activity). No more `":` than that, no key twice; more (a duplicate, or a text
    quoting JSON: a message in a hundred of the synthetic ones), and the standard parser reads each object's keys.
    About 1.5 µs a message on the bench machine, 7 % of the decision (`bench/duplicate_keys.py`).
    """
    # the fields set, read directly: `model_fields_set` is a property around it, and this runs for every message
    distinct = len(activity.__pydantic_fields_set__) + CONVERSATION_KEYS + len(activity.attributes)
    if without_whitespace(value).count(b'":') <= distinct:
        return None
    try:
        twice = parse_keeping_keys_twice(value)[1]
    except ValueError:  # pydantic read it, the standard parser cannot: its keys cannot be vouched for
        return "its keys cannot be checked (the standard JSON parser cannot read it)"
    return None if twice is None else key_twice_detail(twice)


def without_whitespace(value: bytes) -> bytes:
    """`value` without JSON's whitespace (inside strings too). Four replaces copy it once (a byte not there costs a
    scan and no copy): a third of what `bytes.translate` takes to delete the same four bytes."""
    return value.replace(b" ", b"").replace(b"\n", b"").replace(b"\t", b"").replace(b"\r", b"")


def parse_keeping_keys_twice(value: bytes) -> tuple[Any, str | None]:
    """The JSON document of `value` (the last value of a key held twice, as every parser here keeps), and the first
    key an object holds twice, if any. Raises ValueError for what is not JSON."""
    twice: list[str] = []

    def members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        if len(found) < len(pairs) and not twice:
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    twice.append(key)
                    break
                seen.add(key)
        return found

    document = json.loads(value, object_pairs_hook=members)
    return document, (twice[0] if twice else None)


def key_twice_detail(key: str) -> str:
    """Names the key held twice (shortened), never its values: either may be a piece of someone's message."""
    shown = key if len(key) <= 64 else key[:64] + "..."
    return f"the key {shown!r} appears twice in one object (which value holds is ambiguous)"


def decide(
    value: bytes | None,
    origin: MessageOrigin,
    now: datetime,
    classifier: Classifier,
    threads: ThreadLookup | None = None,
) -> Outcome:
    """`process_raw_activity`, guarded: an unexpected error costs one message (a dead letter), never the stream."""
    try:
        return process_raw_activity(value, origin, now, classifier, threads)
    except Exception as exc:  # a bug in a rule must not stop the stream: the message goes aside
        logger.exception("unexpected error at %s[%d]@%d", origin.topic, origin.partition, origin.offset)
        letter = dead_letter(origin, value or b"", DeadLetterReason.PROCESSING_ERROR, failure_detail(exc), now)
        return Rejected(letter)


def failure_detail(exc: Exception) -> str:
    """What failed, by exception type and field, never by value: values may be pieces of a person's message."""
    if isinstance(exc, ValidationError):
        return f"classification failed: {describe_validation_error(exc)}"
    return f"classification failed: {type(exc).__name__}"
