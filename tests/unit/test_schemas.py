"""The data contracts: deterministic ids, strict validation, keys, topic names, dead letters, taxonomy."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import (
    Activity,
    ActivityKind,
    ConversationKind,
    ConversationRef,
    DeadLetter,
    DeadLetterReason,
    LearningCategory,
    LearningEvent,
    SourceSystem,
    Topics,
    activity_id_for,
)


def activity_document(activity: Activity) -> dict[str, Any]:
    return json.loads(activity.to_bytes())


def learning_event_document() -> dict[str, Any]:
    activity_id = activity_id_for("slack", "acme", "C01/1")
    return {
        "schema_version": 1,
        "event_id": activity_id,
        "activity_id": activity_id,
        "source": "slack",
        "source_instance": "acme",
        "conversation_key": "slack:acme:thread:C01/1",
        "activity_kind": "message",
        "occurred_at": "2024-03-05T09:30:00Z",
        "actor": "p_" + "c" * 24,
        "category": "asked",
        "formal": False,
        "confidence": 0.75,
        "decided_by": "chat.question",
        "classifier_version": "rules-1",
        "topics": ["kafka"],
    }


class TestActivityId:
    def test_same_coordinates_give_the_same_id(self):
        first = activity_id_for("slack", "acme", "C01/1700000000.000100")
        second = activity_id_for("slack", "acme", "C01/1700000000.000100")
        assert first == second
        assert len(first) == 32
        assert set(first) <= set("0123456789abcdef")

    @pytest.mark.parametrize(
        ("source", "instance", "native_id"),
        [
            ("mediawiki", "acme", "C01/1700000000.000100"),
            ("slack", "other-team", "C01/1700000000.000100"),
            ("slack", "acme", "C01/1700000000.000101"),
        ],
    )
    def test_any_differing_coordinate_gives_another_id(self, source, instance, native_id):
        assert activity_id_for(source, instance, native_id) != activity_id_for("slack", "acme", "C01/1700000000.000100")

    def test_parts_cannot_be_shifted_into_each_other(self):
        assert activity_id_for("slack", "ab", "c") != activity_id_for("slack", "a", "bc")


class TestActivity:
    def test_create_derives_the_activity_id(self, make_activity):
        activity = make_activity(native_id="C01/42")
        assert activity.activity_id == activity_id_for("slack", "acme", "C01/42")
        assert activity.schema_version == 2

    def test_bytes_round_trip_is_equal(self, make_activity):
        activity = make_activity(
            kind=ActivityKind.REPLY,
            in_reply_to="C01/1700000000.000100",
            counterpart="p_" + "d" * 24,
            attributes={"files": 2, "bot": False, "channel_type": "channel", "score": 0.5},
        )
        data = activity.to_bytes()
        assert isinstance(data, bytes)
        assert Activity.from_bytes(data) == activity
        assert Activity.from_bytes(data).to_bytes() == data

    def test_unknown_field_is_rejected(self, make_activity):
        document = activity_document(make_activity())
        document["mood"] = "happy"
        with pytest.raises(ValidationError) as caught:
            Activity.from_bytes(json.dumps(document).encode())
        assert [error["type"] for error in caught.value.errors()] == ["extra_forbidden"]
        assert caught.value.errors()[0]["loc"] == ("mood",)

    def test_wrong_type_is_rejected_not_coerced(self, make_activity):
        document = activity_document(make_activity())
        document["native_id"] = 12345
        with pytest.raises(ValidationError) as caught:
            Activity.from_bytes(json.dumps(document).encode())
        assert caught.value.errors()[0]["loc"] == ("native_id",)

    def test_naive_timestamp_is_rejected(self, make_activity):
        document = activity_document(make_activity())
        document["occurred_at"] = "2024-03-05T09:30:00"
        with pytest.raises(ValidationError) as caught:
            Activity.from_bytes(json.dumps(document).encode())
        assert caught.value.errors()[0]["loc"] == ("occurred_at",)

    def test_schema_version_3_is_rejected(self, make_activity):
        document = activity_document(make_activity())
        document["schema_version"] = 3
        with pytest.raises(ValidationError) as caught:
            Activity.from_bytes(json.dumps(document).encode())
        assert caught.value.errors()[0]["loc"] == ("schema_version",)

    def test_the_previous_schema_version_is_still_read(self, make_activity):
        document = activity_document(make_activity())
        document["schema_version"] = 1
        assert Activity.from_bytes(json.dumps(document).encode()).schema_version == 1

    @pytest.mark.parametrize(
        "kind",
        [ActivityKind.MESSAGE_EDITED, ActivityKind.ITEM_DELETED, ActivityKind.FILE_SHARED, ActivityKind.PAGE_COMMENTED],
    )
    def test_a_kind_added_in_version_2_needs_version_2(self, make_activity, kind):
        document = activity_document(make_activity(kind=kind))
        assert Activity.from_bytes(json.dumps(document).encode()).kind is kind
        document["schema_version"] = 1
        with pytest.raises(ValidationError, match="needs schema_version 2"):
            Activity.from_bytes(json.dumps(document).encode())

    def test_mismatched_activity_id_is_rejected(self, make_activity):
        document = activity_document(make_activity())
        document["native_id"] = "C01/somewhere-else"
        with pytest.raises(ValidationError, match="does not match source/source_instance/native_id"):
            Activity.from_bytes(json.dumps(document).encode())

    @pytest.mark.parametrize("actor", ["U0BMQB6JE", "p_ABCDEF0123456789abcdef01", "p_abc", "p_" + "a" * 25])
    def test_actor_must_be_a_pseudonym(self, make_activity, actor):
        document = activity_document(make_activity())
        document["actor"] = actor
        with pytest.raises(ValidationError) as caught:
            Activity.from_bytes(json.dumps(document).encode())
        assert caught.value.errors()[0]["loc"] == ("actor",)

    def test_counterpart_must_be_a_pseudonym(self, make_activity):
        with pytest.raises(ValidationError):
            make_activity(counterpart="alice@example.com")

    def test_models_are_immutable(self, make_activity):
        activity = make_activity()
        with pytest.raises(ValidationError):
            activity.text = "changed"

    def test_conversation_key_is_source_instance_kind_id(self, make_activity):
        activity = make_activity(conversation=ConversationRef(kind=ConversationKind.THREAD, id="C01/1700000000.0001"))
        assert activity.conversation_key == "slack:acme:thread:C01/1700000000.0001"

    def test_page_conversation_key(self, make_activity):
        activity = make_activity(
            source=SourceSystem.MEDIAWIKI,
            source_instance="en.wikipedia.org",
            native_id="rev/1",
            kind=ActivityKind.PAGE_EDITED,
            conversation=ConversationRef(kind=ConversationKind.PAGE, id="0:Apache Kafka"),
        )
        assert activity.conversation_key == "mediawiki:en.wikipedia.org:page:0:Apache Kafka"


class TestLearningEvent:
    def test_valid_document_parses(self):
        event = LearningEvent.from_bytes(json.dumps(learning_event_document()).encode())
        assert event.category is LearningCategory.ASKED
        assert event.topics == ("kafka",)
        assert event.occurred_at == datetime(2024, 3, 5, 9, 30, tzinfo=UTC)

    def test_has_no_text_field(self):
        assert "text" not in LearningEvent.model_fields
        document = learning_event_document()
        document["text"] = "how do I reset my password?"
        with pytest.raises(ValidationError) as caught:
            LearningEvent.from_bytes(json.dumps(document).encode())
        assert caught.value.errors()[0]["type"] == "extra_forbidden"
        assert caught.value.errors()[0]["loc"] == ("text",)

    @pytest.mark.parametrize("confidence", [-0.1, 1.5])
    def test_confidence_is_a_probability(self, confidence):
        document = learning_event_document()
        document["confidence"] = confidence
        with pytest.raises(ValidationError):
            LearningEvent.from_bytes(json.dumps(document).encode())

    def test_topic_pattern_is_enforced(self):
        document = learning_event_document()
        document["topics"] = ["Not A Topic"]
        with pytest.raises(ValidationError):
            LearningEvent.from_bytes(json.dumps(document).encode())


class TestTopics:
    def test_default_namespace_names(self):
        topics = Topics.in_namespace()
        assert topics.all() == (
            "learnstream.activity.raw",
            "learnstream.activity.dlq",
            "learnstream.learning.events",
            "learnstream.directory",
            "learnstream.connector.state",
            "learnstream.connector.pending",
            "learnstream.thread.state",
            "learnstream.activity.dlq.replays",
        )

    def test_custom_namespace(self):
        topics = Topics.in_namespace("test-1a2b")
        assert topics.activity_raw == "test-1a2b.activity.raw"
        assert topics.activity_dlq == "test-1a2b.activity.dlq"
        assert topics.learning_events == "test-1a2b.learning.events"

    @pytest.mark.parametrize("namespace", ["", "has space", ".leading-dot", "slash/es", "x" * 102])
    def test_invalid_namespace_is_rejected(self, namespace):
        with pytest.raises(ValueError, match="invalid topic namespace"):
            Topics.in_namespace(namespace)


class TestDeadLetter:
    def make(self, key_base64: str | None) -> DeadLetter:
        return DeadLetter(
            reason=DeadLetterReason.INVALID_JSON,
            detail="not JSON",
            stage="worker",
            source_topic="learnstream.activity.raw",
            partition=2,
            offset=17,
            key_base64=key_base64,
            original_base64=base64.b64encode(b"\xff{not json").decode("ascii"),
            failed_at=datetime(2024, 3, 5, tzinfo=UTC),
        )

    def test_original_and_key_decode_to_bytes(self):
        letter = self.make(base64.b64encode(b"slack:acme:thread:C01/1").decode("ascii"))
        assert letter.original == b"\xff{not json"
        assert letter.key == b"slack:acme:thread:C01/1"

    def test_missing_key_is_none(self):
        assert self.make(None).key is None

    def test_round_trip(self):
        letter = self.make(None)
        assert DeadLetter.from_bytes(letter.to_bytes()) == letter
        assert json.loads(letter.to_bytes())["reason"] == "invalid_json"


class TestTaxonomy:
    def test_only_completed_and_experienced_are_formal(self):
        formal = {category for category in LearningCategory if category.formal}
        assert formal == {LearningCategory.COMPLETED, LearningCategory.EXPERIENCED}

    @pytest.mark.parametrize(
        "category", ["asked", "answered", "shared", "documented", "taught", "acknowledged", "none"]
    )
    def test_informal_categories(self, category):
        assert LearningCategory(category).formal is False
