"""From raw activity bytes to a learning event or a dead letter: the worker's whole decision, as a pure function."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from schemas.activity import SUPPORTED_ACTIVITY_SCHEMA_VERSIONS, Activity
from schemas.dead_letter import DeadLetter, DeadLetterReason, encode_bytes
from schemas.learning_event import LearningEvent
from streams.classify import CLASSIFIER_VERSION, classify_activity, tag_topics

STAGE = "worker"
MAX_DETAIL_CHARS = 2000


@dataclass(frozen=True)
class MessageOrigin:
    """Where a message was read: enough to find it again and to describe it in a dead letter."""

    topic: str
    partition: int
    offset: int
    key: bytes | None


@dataclass(frozen=True)
class Classified:
    event: LearningEvent


@dataclass(frozen=True)
class Rejected:
    dead_letter: DeadLetter


Outcome = Classified | Rejected


def learning_event_for(activity: Activity) -> LearningEvent:
    """Classify an activity and tag its topics; the event keeps no text of the activity."""
    decision = classify_activity(activity)
    return LearningEvent(
        event_id=activity.activity_id,
        activity_id=activity.activity_id,
        source=activity.source,
        source_instance=activity.source_instance,
        conversation_key=activity.conversation_key,
        activity_kind=activity.kind,
        occurred_at=activity.occurred_at,
        actor=activity.actor,
        counterpart=activity.counterpart,
        category=decision.category,
        formal=decision.category.formal,
        confidence=decision.confidence,
        decided_by=decision.rule,
        classifier_version=CLASSIFIER_VERSION,
        topics=tag_topics(activity.subject, activity.text),
    )


def dead_letter(
    origin: MessageOrigin, value: bytes, reason: DeadLetterReason, detail: str, now: datetime, stage: str = STAGE
) -> DeadLetter:
    """A dead letter for a message that could not be processed, keeping its original bytes."""
    return DeadLetter(
        reason=reason,
        detail=detail[:MAX_DETAIL_CHARS],
        stage=stage,
        source_topic=origin.topic,
        partition=origin.partition,
        offset=origin.offset,
        key_base64=encode_bytes(origin.key),
        original_base64=encode_bytes(value) or "",
        failed_at=now,
    )


def describe_validation_error(exc: ValidationError) -> str:
    """`field.path: message` for each problem, without echoing the (possibly personal) input values."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or '<root>'}: {error['msg']}" for error in exc.errors()
    )


def process_raw_activity(value: bytes | None, origin: MessageOrigin, now: datetime) -> Outcome:
    """Validate and classify one raw message; anything wrong becomes a dead letter with its reason."""
    if not value:
        return Rejected(dead_letter(origin, b"", DeadLetterReason.EMPTY_MESSAGE, "message has no value", now))
    try:
        document = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Rejected(dead_letter(origin, value, DeadLetterReason.INVALID_JSON, f"not JSON: {exc}", now))
    if isinstance(document, dict):
        version = document.get("schema_version")
        if isinstance(version, int) and version not in SUPPORTED_ACTIVITY_SCHEMA_VERSIONS:
            supported = ", ".join(str(v) for v in SUPPORTED_ACTIVITY_SCHEMA_VERSIONS)
            detail = f"schema_version {version} is not supported by this worker (supported: {supported})"
            return Rejected(dead_letter(origin, value, DeadLetterReason.UNSUPPORTED_SCHEMA_VERSION, detail, now))
    try:
        activity = Activity.from_bytes(value)
    except ValidationError as exc:
        detail = f"not a valid Activity: {describe_validation_error(exc)}"
        return Rejected(dead_letter(origin, value, DeadLetterReason.SCHEMA_INVALID, detail, now))
    try:
        return Classified(learning_event_for(activity))
    except Exception as exc:  # a rule's bug must cost one message, not the stream; the message is kept aside
        return Rejected(dead_letter(origin, value, DeadLetterReason.PROCESSING_ERROR, failure_detail(exc), now))


def failure_detail(exc: Exception) -> str:
    """What failed, by exception type and field, never by value: values may be pieces of a person's message."""
    if isinstance(exc, ValidationError):
        return f"classification failed: {describe_validation_error(exc)}"
    return f"classification failed: {type(exc).__name__}"
