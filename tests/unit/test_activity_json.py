"""`activity_record` (schemas/activity_json.py) writes exactly what `Activity.create(...).to_bytes()` writes, and
refuses exactly what the model refuses; the LRS's `statement_record` is `activity_from_statement`'s record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from learnstream.errors import ConnectorError
from producers.elearning.xapi import activity_from_statement, statement_record
from producers.pseudonymise import pseudonymiser
from schemas.activity import Activity, ActivityKind, ConversationKind, ConversationRef, SourceSystem
from schemas.activity_json import activity_record

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "xapi"
ACTOR = "p_0123456789abcdef01234567"
WHEN = datetime(2026, 11, 30, 9, 30, 5, 120_000, tzinfo=UTC)
BASE: dict[str, Any] = {
    "source": SourceSystem.SLACK,
    "source_instance": "T0123",
    "native_id": "1700000000.000100",
    "kind": ActivityKind.REPLY,
    "occurred_at": WHEN,
    "actor": ACTOR,
    "conversation_kind": ConversationKind.THREAD,
    "conversation_id": "C1:1700000000.000001",
}


def through_model(fields: dict[str, Any]) -> tuple[bytes, bytes]:
    parts = dict(fields)
    conversation = ConversationRef(kind=parts.pop("conversation_kind"), id=parts.pop("conversation_id"))
    if "attributes" in parts:
        parts["attributes"] = dict(parts["attributes"])
    activity = Activity.create(conversation=conversation, **parts)
    return activity.conversation_key.encode("utf-8"), activity.to_bytes()


def fast(fields: dict[str, Any]) -> tuple[bytes, bytes]:
    parts = dict(fields)
    positional = [parts.pop(name) for name in list(BASE)]
    return activity_record(*positional, **parts)


SAME_BYTES = [
    {},
    {"counterpart": "p_fedcba9876543210fedcba98", "in_reply_to": "1700000000.000001"},
    {"subject": "Zoë's «course» 日本語 🙂", "text": 'line\none\t"quoted" \\ back \x01 \u2028'},
    {"subject": "s" * 1000, "text": "t" * 40_000},
    {"attributes": {"verb": "http://adlnet.gov/expapi/verbs/completed", "flag": True, "count": 3, "off": False}},
    {"attributes": {"ratio": 0.5, "big": 1e16, "whole": 2.0, "huge": 2**70}},  # floats and big ints: the model
    {"occurred_at": WHEN.replace(microsecond=0)},
    {"occurred_at": WHEN.replace(microsecond=100_000)},
    {"occurred_at": WHEN.replace(microsecond=1)},
    {"occurred_at": datetime(2026, 11, 30, 11, 30, tzinfo=timezone(timedelta(hours=2)))},
    {"occurred_at": datetime(2026, 11, 30, 4, 0, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))},
    {"occurred_at": datetime(2026, 11, 30, 9, 30, tzinfo=timezone(timedelta(0)))},
    {"occurred_at": datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)},
    {"native_id": "n" * 512, "source_instance": "i", "conversation_id": "c" * 512},
    {"source": SourceSystem.XAPI, "kind": ActivityKind.ITEM_DELETED, "conversation_kind": ConversationKind.COURSE},
]


@pytest.mark.parametrize("changes", SAME_BYTES, ids=range(len(SAME_BYTES)))
def test_the_same_bytes_as_the_model(changes: dict[str, Any]) -> None:
    fields = {**BASE, **changes}
    assert fast(fields) == through_model(fields)


REFUSED = [
    {"native_id": ""},
    {"native_id": "n" * 513},
    {"source_instance": ""},
    {"conversation_id": "c" * 513},
    {"in_reply_to": ""},
    {"occurred_at": WHEN.replace(tzinfo=None)},
    {"actor": "p_0123456789abcdef0123456"},
    {"actor": ACTOR + "\n"},
    {"actor": "ann@example.com"},
    {"counterpart": "P_0123456789ABCDEF01234567"},
    {"subject": "s" * 1001},
    {"text": "t" * 40_001},
    {"attributes": {"a" * 65: "x"}},
    {"attributes": {"list": ["x"]}},
    {"attributes": {"none": None}},
    {"text": "\ud800 a lone surrogate"},  # orjson refuses to write it; the model refuses it too
]


@pytest.mark.parametrize("changes", REFUSED, ids=range(len(REFUSED)))
def test_what_the_model_refuses_is_refused(changes: dict[str, Any]) -> None:
    fields = {**BASE, **changes}
    with pytest.raises(ValidationError):
        through_model(fields)
    with pytest.raises(ValueError):
        fast(fields)


def test_the_fields_are_the_models_in_its_order() -> None:
    _, written = fast(BASE)
    assert list(orjson.loads(written)) == list(Activity.model_fields)
    assert Activity.from_bytes(written).to_bytes() == written


def datasim() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(SHARED.glob("*.json")):
        document = json.loads(path.read_text())
        found += document if isinstance(document, list) else [document]
    return found


def variants(statement: dict[str, Any]) -> list[dict[str, Any]]:
    """The statement, and as the LRS may hold it: without a timestamp (then `stored`), with an offset, voiding."""
    made = [statement]
    without = {key: value for key, value in statement.items() if key != "timestamp"}
    made.append({**without, "stored": "2026-11-30T09:00:00.000Z"})
    made.append({**statement, "timestamp": "2026-11-30T10:00:00.500+01:00"})
    made.append(
        {
            **statement,
            "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
            "object": {"objectType": "StatementRef", "id": "8f0e3a3c-1111-4222-8333-444455556666"},
        }
    )
    made.append({**statement, "object": {"id": "http://example.com/" + "x" * 600}})  # a course id over 512
    return made


def test_every_recorded_statement_gives_the_models_record() -> None:
    pseudonymise = pseudonymiser(b"k" * 32, "xapi", "lrs")
    statements = datasim()
    assert len(statements) > 100
    compared = refused = 0
    for original in statements:
        for statement in variants(original):
            try:
                activity = activity_from_statement(statement, "lrs", pseudonymise)
            except (ConnectorError, ValidationError):
                with pytest.raises((ConnectorError, ValueError)):
                    statement_record(statement, "lrs", pseudonymise)
                refused += 1
                continue
            record = statement_record(statement, "lrs", pseudonymise)
            assert (record.key, record.value) == (activity.conversation_key.encode("utf-8"), activity.to_bytes())
            compared += 1
    assert compared > 300 and refused > 0
