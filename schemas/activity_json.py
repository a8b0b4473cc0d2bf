"""An activity's Kafka record without building the `Activity` model: for a producer of many activities per second.

`Activity.create(...).to_bytes()` validates every field and serializes the model: 11.5 µs per activity, an eighth
of what drafting an xAPI Statement costs (bench/README.md, issue 11). `activity_record` writes the same bytes from
the same fields for about 1.5 µs, checking what a field can get wrong at run time as the model does (lengths, the
pseudonym pattern, an aware time, the attribute types) and raising ValueError where the model would. What it cannot
write exactly as the model does (a float attribute, an integer beyond 64 bits, text orjson refuses) goes through
the model. The model stays the contract: tests/unit/test_activity_json.py holds the two to the same bytes and the
same refusals, field by field, and every consumer still validates what it reads (`Activity.from_bytes`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

import orjson

from schemas.activity import (
    ACTIVITY_SCHEMA_VERSION,
    PSEUDONYM_RE,
    Activity,
    ActivityKind,
    AttributeValue,
    ConversationKind,
    ConversationRef,
    SourceSystem,
)
from schemas.ids import activity_id_for

#: The model's limits (schemas/activity.py): NonEmpty strings, subject, text and attribute names.
NON_EMPTY_MAX = 512
SUBJECT_MAX = 1000
TEXT_MAX = 40_000
ATTRIBUTE_NAME_MAX = 64
_PSEUDONYM = re.compile(PSEUDONYM_RE)
_ATTRIBUTE_TYPES = (str, int, float)


def activity_record(
    source: SourceSystem,
    source_instance: str,
    native_id: str,
    kind: ActivityKind,
    occurred_at: datetime,
    actor: str,
    conversation_kind: ConversationKind,
    conversation_id: str,
    *,
    in_reply_to: str | None = None,
    counterpart: str | None = None,
    subject: str | None = None,
    text: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> tuple[bytes, bytes]:
    """The Kafka record (conversation key, JSON) of `Activity.create(...)` with these fields; ValueError naming the
    field where the model would refuse them. (Enum members are used as the strings they are: their `.value` is a
    Python property, a third of a microsecond each.)"""
    _check_text("source_instance", source_instance)
    _check_text("native_id", native_id)
    _check_text("conversation.id", conversation_id)
    if in_reply_to is not None:
        _check_text("in_reply_to", in_reply_to)
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise ValueError("occurred_at: a time with its zone")
    if _PSEUDONYM.fullmatch(actor) is None:
        raise ValueError("actor: not a pseudonym")
    if counterpart is not None and _PSEUDONYM.fullmatch(counterpart) is None:
        raise ValueError("counterpart: not a pseudonym")
    if subject is not None and len(subject) > SUBJECT_MAX:
        raise ValueError(f"subject: at most {SUBJECT_MAX} characters, not {len(subject)}")
    if text is not None and len(text) > TEXT_MAX:
        raise ValueError(f"text: at most {TEXT_MAX} characters, not {len(text)}")
    exact = True  # orjson writes every value as the model does
    for attribute, setting in (attributes or {}).items():
        if not isinstance(attribute, str) or len(attribute) > ATTRIBUTE_NAME_MAX:
            raise ValueError(f"attributes: a name of at most {ATTRIBUTE_NAME_MAX} characters, not {attribute!r}")
        if type(setting) is not str:
            if not isinstance(setting, _ATTRIBUTE_TYPES):  # bool is an int
                raise ValueError(f"attributes.{attribute}: a string, number or boolean, not {type(setting).__name__}")
            exact = exact and not isinstance(setting, float)
    key = ":".join((source, source_instance, conversation_kind, conversation_id)).encode("utf-8")
    if exact:
        try:
            return key, orjson.dumps(
                {
                    "schema_version": ACTIVITY_SCHEMA_VERSION,
                    "activity_id": activity_id_for(source, source_instance, native_id),
                    "source": source,
                    "source_instance": source_instance,
                    "native_id": native_id,
                    "kind": kind,
                    "occurred_at": occurred_at,
                    "actor": actor,
                    "conversation": {"kind": conversation_kind, "id": conversation_id},
                    "in_reply_to": in_reply_to,
                    "counterpart": counterpart,
                    "subject": subject,
                    "text": text,
                    "attributes": attributes or {},
                },
                option=orjson.OPT_UTC_Z,
            )
        except orjson.JSONEncodeError:  # an integer beyond 64 bits, a lone surrogate: the model's way below
            pass
    model = Activity.create(
        source=source,
        source_instance=source_instance,
        native_id=native_id,
        kind=kind,
        occurred_at=occurred_at,
        actor=actor,
        conversation=ConversationRef(kind=conversation_kind, id=conversation_id),
        in_reply_to=in_reply_to,
        counterpart=counterpart,
        subject=subject,
        text=text,
        attributes=dict(attributes or {}),
    )
    return key, model.to_bytes()


def _check_text(name: str, value: str) -> None:
    if not 1 <= len(value) <= NON_EMPTY_MAX:
        raise ValueError(f"{name}: 1 to {NON_EMPTY_MAX} characters, not {len(value)}")
