"""The worker's decision as a pure function: a learning event, or a dead letter with its reason and bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench.synthetic import synthetic_activities
from faults.input_faults import MARKER, RAW_KINDS, BadKind
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
    activity_id_for,
)
from streams.classify import ThreadContext, build_classifier, default_classifier
from streams.classify.vocabulary import load_vocabulary
from streams.processing import (
    CONVERSATION_KEYS,
    Classified,
    MessageOrigin,
    Rejected,
    duplicate_key_problem,
    process_raw_activity,
)

NOW = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
ORIGIN = MessageOrigin(topic="test.activity.raw", partition=2, offset=41, key=b"slack:acme:thread:C01/1")
CLASSIFIER = default_classifier()
PRIVATE_TEXT = "Confidential: how do I ask HR about Maria's salary?"


def rejected(value: bytes | None, origin: MessageOrigin = ORIGIN) -> Rejected:
    outcome = process_raw_activity(value, origin, NOW, CLASSIFIER)
    assert isinstance(outcome, Rejected), f"expected a dead letter, got {outcome!r}"
    return outcome


def classified(activity: Activity) -> LearningEvent:
    outcome = process_raw_activity(activity.to_bytes(), ORIGIN, NOW, CLASSIFIER)
    if isinstance(outcome, Rejected):
        letter = outcome.dead_letter
        pytest.fail(f"dead-lettered as {letter.reason.value}: {letter.detail}")
    return outcome.event


@pytest.fixture
def private_activity(make_activity):
    return make_activity(text=PRIVATE_TEXT, subject="people-ops")


class TestClassified:
    def test_valid_activity_becomes_a_learning_event(self, private_activity):
        outcome = process_raw_activity(private_activity.to_bytes(), ORIGIN, NOW, CLASSIFIER)
        assert isinstance(outcome, Classified)
        event = outcome.event
        assert event.event_id == private_activity.activity_id
        assert event.activity_id == private_activity.activity_id
        assert event.conversation_key == private_activity.conversation_key
        assert event.actor == private_activity.actor
        assert event.occurred_at == private_activity.occurred_at
        assert event.activity_kind is ActivityKind.MESSAGE
        assert event.category is LearningCategory.ASKED
        assert event.formal is False
        assert event.decided_by == "chat.question.question_mark"
        assert event.classifier_version == CLASSIFIER.version

    def test_learning_event_carries_no_text(self, private_activity):
        outcome = process_raw_activity(private_activity.to_bytes(), ORIGIN, NOW, CLASSIFIER)
        assert isinstance(outcome, Classified)
        payload = outcome.event.to_bytes()
        assert "text" not in json.loads(payload)
        assert b"salary" not in payload
        assert b"Maria" not in payload
        assert LearningEvent.from_bytes(payload) == outcome.event

    def test_topics_are_tagged_from_subject_and_text(self, make_activity):
        activity = make_activity(subject="data-platform", text="Is #clickhouse faster than Kafka Streams for this?")
        assert classified(activity).topics == ("clickhouse", "kafka")

    def test_formal_flag_follows_the_category(self, make_activity):
        activity = make_activity(
            source=SourceSystem.XAPI,
            native_id="stmt-1",
            kind=ActivityKind.STATEMENT,
            conversation=ConversationRef(kind=ConversationKind.COURSE, id="course-1"),
            text=None,
            attributes={"verb": "http://adlnet.gov/expapi/verbs/completed"},
        )
        event = classified(activity)
        assert event.category is LearningCategory.COMPLETED
        assert event.formal is True
        assert event.decided_by == "xapi.completion_verb"

    def test_activity_with_turkish_text_is_classified(self, make_activity):
        event = classified(make_activity(text="Yeni AP\u0130 belgeleri nerede?"))
        assert event.category is LearningCategory.ASKED

    def test_activity_with_turkish_hashtag_is_classified(self, make_activity):
        event = classified(make_activity(text="Gezi notlar\u0131 #\u0131rmak"))
        assert event.category is LearningCategory.NONE


class TestRejected:
    @pytest.mark.parametrize("value", [None, b""])
    def test_empty_message(self, value):
        letter = rejected(value).dead_letter
        assert letter.reason is DeadLetterReason.EMPTY_MESSAGE
        assert letter.original == b""

    @pytest.mark.parametrize("value", [b"{not json", b"\xff\xfe\x00garbage", b'{"schema_version": 1,'])
    def test_invalid_json(self, value):
        letter = rejected(value).dead_letter
        assert letter.reason is DeadLetterReason.INVALID_JSON
        assert letter.detail.startswith("not JSON: ")
        assert letter.original == value

    @pytest.mark.parametrize("version", [3, 9])
    def test_unsupported_schema_version(self, private_activity, version):
        document = json.loads(private_activity.to_bytes())
        document["schema_version"] = version
        value = json.dumps(document).encode()
        letter = rejected(value).dead_letter
        assert letter.reason is DeadLetterReason.UNSUPPORTED_SCHEMA_VERSION
        assert f"schema_version {version}" in letter.detail
        assert "supported: 1, 2" in letter.detail
        assert letter.original == value
        assert "salary" not in letter.detail

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"actor": "U0BMQB6JE"}, "actor"),
            ({"mood": "happy"}, "mood"),
            ({"native_id": "C01/other"}, "does not match"),
            ({"occurred_at": "yesterday"}, "occurred_at"),
        ],
    )
    def test_schema_invalid_names_the_problem_without_echoing_text(self, private_activity, change, field):
        document = json.loads(private_activity.to_bytes())
        document.update(change)
        value = json.dumps(document).encode()
        letter = rejected(value).dead_letter
        assert letter.reason is DeadLetterReason.SCHEMA_INVALID
        assert letter.detail.startswith("not a valid Activity: ")
        assert field in letter.detail
        assert "salary" not in letter.detail
        assert "Maria" not in letter.detail
        assert letter.original == value

    def test_text_of_the_wrong_type_is_not_echoed(self, private_activity):
        document = json.loads(private_activity.to_bytes())
        document["text"] = [PRIVATE_TEXT]
        letter = rejected(json.dumps(document).encode()).dead_letter
        assert letter.reason is DeadLetterReason.SCHEMA_INVALID
        assert "text" in letter.detail
        assert "salary" not in letter.detail

    @pytest.mark.parametrize("value", [b"[1, 2, 3]", b"null", b'"just a string"', b'{"schema_version": "1"}'])
    def test_json_that_is_not_an_activity(self, value):
        letter = rejected(value).dead_letter
        assert letter.reason is DeadLetterReason.SCHEMA_INVALID
        assert letter.original == value

    def test_dead_letter_records_where_the_message_came_from(self):
        value = b"\x00\x01 binary \xff"
        letter = rejected(value).dead_letter
        assert letter.source_topic == "test.activity.raw"
        assert letter.partition == 2
        assert letter.offset == 41
        assert letter.key == b"slack:acme:thread:C01/1"
        assert letter.stage == "worker"
        assert letter.failed_at == NOW
        assert letter.original == value

    def test_message_without_key(self):
        origin = MessageOrigin(topic="t", partition=0, offset=0, key=None)
        letter = rejected(b"nope", origin).dead_letter
        assert letter.key is None
        assert letter.key_base64 is None

    def test_dead_letter_survives_the_dead_letter_topic(self):
        value = b"\xff{broken"
        letter = rejected(value).dead_letter
        assert DeadLetter.from_bytes(letter.to_bytes()).original == value


def test_dead_letters_name_the_source_system_when_the_message_does() -> None:
    origin = MessageOrigin("raw", 0, 1, None)
    now = datetime.now(UTC)
    named = process_raw_activity(
        b'{"schema_version": 1, "source": "mediawiki", "kind": "edit"}', origin, now, CLASSIFIER
    )
    unknown = process_raw_activity(b'{"schema_version": 1, "source": "myspace"}', origin, now, CLASSIFIER)
    assert isinstance(named, Rejected) and isinstance(unknown, Rejected)
    assert named.dead_letter.source_system is SourceSystem.MEDIAWIKI
    assert named.dead_letter.reason is DeadLetterReason.SCHEMA_INVALID
    assert unknown.dead_letter.source_system is None


class TestClassifierInjected:
    def test_a_rule_that_fails_costs_one_message_as_a_processing_error(self, private_activity):
        def broken(activity, words, thread):
            raise KeyError("a rule's bug")

        failing = build_classifier(load_vocabulary(), rules=(broken,))
        outcome = process_raw_activity(private_activity.to_bytes(), ORIGIN, NOW, failing)
        assert isinstance(outcome, Rejected)
        letter = outcome.dead_letter
        assert letter.reason is DeadLetterReason.PROCESSING_ERROR
        assert letter.detail == "classification failed: KeyError"
        assert letter.original == private_activity.to_bytes()
        assert letter.source_system is SourceSystem.SLACK
        assert b"salary" not in letter.detail.encode()
        # the next message is decided by a working classifier as usual
        assert isinstance(process_raw_activity(private_activity.to_bytes(), ORIGIN, NOW, CLASSIFIER), Classified)

    def test_the_event_names_the_classifier_that_decided(self, private_activity):
        other = build_classifier(load_vocabulary().model_copy(update={"version": "rules-test.1"}))
        event = process_raw_activity(private_activity.to_bytes(), ORIGIN, NOW, other)
        assert isinstance(event, Classified) and event.event.classifier_version == "rules-test.1"


class TestEditsAndDeletions:
    def test_an_edit_is_the_event_of_the_message_it_changes(self, make_activity):
        original = make_activity(text="Deployed the new build")
        edit = make_activity(
            native_id="C01/1700000000.000100/edit/1700000100.000000",
            kind=ActivityKind.MESSAGE_EDITED,
            in_reply_to=original.native_id,
            text="How do I deploy the new build?",
        )
        before, after = classified(original), classified(edit)
        assert after.event_id == before.event_id == original.activity_id
        assert after.activity_id == edit.activity_id
        assert (before.category, after.category) == (LearningCategory.NONE, LearningCategory.ASKED)

    def test_a_deletion_retracts_the_event_of_the_item_it_removes(self, make_activity):
        original = make_activity(text="How do I deploy?")
        deletion = make_activity(
            native_id="C01/1700000000.000100/deleted",
            kind=ActivityKind.ITEM_DELETED,
            in_reply_to=original.native_id,
            text=None,
        )
        retraction = classified(deletion)
        assert retraction.event_id == original.activity_id
        assert (retraction.category, retraction.decided_by) == (LearningCategory.NONE, "retraction.deleted")


class TestPageRefs:
    ASKER, HELPER = "p_" + "a1" * 12, "p_" + "b2" * 12
    ROOT = "C01/1700000000.000100"

    def test_an_answer_linking_a_wiki_page_carries_the_page_ref(self, make_activity):
        asked_at = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
        root_id = activity_id_for("slack", "acme", self.ROOT)

        class AskedThread:
            def context_for(self, conversation_key: str, at: datetime) -> ThreadContext:
                return ThreadContext(root_id, TestPageRefs.ASKER, LearningCategory.ASKED, asked_at)

        answer = make_activity(
            native_id="C01/1700000050.000200",
            kind=ActivityKind.REPLY,
            in_reply_to=self.ROOT,
            conversation=ConversationRef(kind=ConversationKind.THREAD, id=self.ROOT),
            actor=self.HELPER,
            text="It is all on <https://wiki.acme.example/wiki/Kafka_consumer_groups#Rebalancing|the wiki>, and "
            "<https://acme.atlassian.net/wiki/spaces/ENG/pages/12345/Runbook|the runbook>",
        )
        outcome = process_raw_activity(answer.to_bytes(), ORIGIN, NOW, CLASSIFIER, AskedThread())
        assert isinstance(outcome, Classified)
        event = outcome.event
        assert event.category is LearningCategory.ANSWERED
        assert event.counterpart == self.ASKER
        assert event.page_refs == ("wiki.acme.example/wiki/Kafka_consumer_groups", "acme.atlassian.net/pages/12345")
        payload = outcome.event.to_bytes()
        assert b"the runbook" not in payload and b"It is all on" not in payload
        assert LearningEvent.from_bytes(payload) == event

    def test_a_message_without_links_has_no_page_refs(self, private_activity):
        assert classified(private_activity).page_refs == ()

    def test_a_wiki_activity_links_to_no_page(self, make_activity):
        edit = make_activity(
            source=SourceSystem.MEDIAWIKI,
            source_instance="wiki.acme.example",
            native_id="rev/1001",
            kind=ActivityKind.PAGE_EDITED,
            conversation=ConversationRef(kind=ConversationKind.PAGE, id="0:Kafka"),
            subject="Kafka",
            text="see also https://wiki.acme.example/wiki/Kafka_Streams",
        )
        assert classified(edit).page_refs == ()

    def test_an_event_written_before_page_refs_still_validates(self, private_activity):
        document = json.loads(classified(private_activity).to_bytes())
        del document["page_refs"]
        assert LearningEvent.from_bytes(json.dumps(document).encode()).page_refs == ()


def with_member_before(value: bytes, key: str, member: str) -> bytes:
    """`value` with `member` (`"key":json`) written just before the first `"key":` member, as a second one."""
    marker = f'"{key}":'.encode()
    assert marker in value
    return value.replace(marker, member.encode() + b"," + marker, 1)


class TestDuplicateKeys:
    """A key twice in one object: the parser would keep the last value; the worker refuses both."""

    OTHER = "p_" + "c3" * 12

    def test_a_second_actor_is_refused_naming_the_key_not_the_values(self, private_activity):
        value = with_member_before(private_activity.to_bytes(), "actor", f'"actor":"{self.OTHER}"')
        letter = rejected(value).dead_letter
        assert letter.reason is DeadLetterReason.SCHEMA_INVALID
        assert letter.detail == (
            "not a valid Activity: the key 'actor' appears twice in one object (which value holds is ambiguous)"
        )
        assert self.OTHER not in letter.detail and private_activity.actor not in letter.detail
        assert letter.source_system is SourceSystem.SLACK
        assert letter.original == value

    def test_a_text_twice_does_not_echo_either_text(self, private_activity):
        value = with_member_before(private_activity.to_bytes(), "text", '"text":"Maria earns too much"')
        letter = rejected(value).dead_letter
        assert "'text' appears twice" in letter.detail
        assert "Maria" not in letter.detail and "salary" not in letter.detail

    @pytest.mark.parametrize(
        ("key", "member"),
        [
            ("id", '"id":"C01/other"'),  # in the conversation
            ("bot", '"bot":true'),  # in the attributes
        ],
    )
    def test_nested_objects_are_checked_too(self, make_activity, key, member):
        activity = make_activity(attributes={"bot": False, "channel": "general"})
        letter = rejected(with_member_before(activity.to_bytes(), key, member)).dead_letter
        assert letter.reason is DeadLetterReason.SCHEMA_INVALID
        assert f"'{key}' appears twice" in letter.detail

    def test_whitespace_before_the_colon_hides_no_duplicate(self, private_activity):
        document = json.loads(private_activity.to_bytes())
        pretty = json.dumps(document, indent=2, separators=(",", " : ")).encode()
        assert isinstance(process_raw_activity(pretty, ORIGIN, NOW, CLASSIFIER), Classified)
        spaced = pretty.replace(b'"actor" :', f'"actor" \n\t:  "{self.OTHER}",\r\n"actor" :'.encode(), 1)
        assert "'actor' appears twice" in rejected(spaced).dead_letter.detail

    def test_an_escaped_spelling_of_the_same_key_is_the_same_key(self, private_activity):
        value = with_member_before(private_activity.to_bytes(), "actor", f'"\\u0061ctor":"{self.OTHER}"')
        assert "'actor' appears twice" in rejected(value).dead_letter.detail

    def test_a_text_quoting_json_is_no_duplicate(self, make_activity):
        activity = make_activity(text='Try {"actor": 1, "actor": 2} or {"a" : 1}: which actor wins?')
        value = activity.to_bytes()
        assert value.count(b'":') > 12  # the cheap count is fooled, the parser is not
        assert isinstance(process_raw_activity(value, ORIGIN, NOW, CLASSIFIER), Classified)

    def test_a_duplicate_in_an_invalid_activity_is_named_first(self, private_activity):
        actor = f'"actor":"{private_activity.actor}"'.encode()
        value = private_activity.to_bytes().replace(actor, actor + b',"actor":"U0BMQB6JE"')  # the last is invalid
        letter = rejected(value).dead_letter
        assert letter.reason is DeadLetterReason.SCHEMA_INVALID
        assert letter.detail.startswith("not a valid Activity: the key 'actor' appears twice in one object")
        assert "actor: String should match pattern" in letter.detail
        assert "U0BMQB6JE" not in letter.detail

    def test_no_activity_of_the_bundled_sample_is_refused(self):
        sample = Path(__file__).resolve().parents[2] / "samples" / "activities.jsonl"
        lines = [line for line in sample.read_bytes().splitlines() if line.strip()]
        assert lines
        assert [duplicate_key_problem(line, Activity.from_bytes(line)) for line in lines] == [None] * len(lines)

    def test_the_count_knows_every_object_an_activity_can_hold(self):
        """The cheap count assumes the conversation (two keys) and the attributes (scalar values) are the only
        objects in a valid activity: a schema change that adds one must teach `duplicate_key_problem`."""
        schema = Activity.model_json_schema()
        definitions = schema["$defs"]

        def can_be_object(node: dict[str, Any]) -> bool:
            if "$ref" in node:
                return can_be_object(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return node.get("type") == "object" or any(can_be_object(option) for option in node.get("anyOf", ()))

        objects = {name for name, node in schema["properties"].items() if can_be_object(node)}
        assert objects == {"conversation", "attributes"}
        conversation = definitions["ConversationRef"]
        assert len(conversation["required"]) == len(conversation["properties"]) == CONVERSATION_KEYS
        assert conversation["additionalProperties"] is False
        assert not any(can_be_object(node) for node in conversation["properties"].values())
        assert not can_be_object(schema["properties"]["attributes"]["additionalProperties"])


@pytest.mark.parametrize("kind", RAW_KINDS, ids=lambda kind: kind.name)
def test_each_kind_of_bad_raw_input_gets_its_reason_and_a_detail_without_values(kind: BadKind) -> None:
    """The fault suite's bad inputs (faults/input_faults.py), decided here without a broker: the reason the suite
    expects, a detail naming what is wrong, and none of the values put into them."""
    bases = synthetic_activities(2 if kind.at_most else 40, seed=5)
    for seed, base in enumerate(bases):
        value = kind.make(base, seed)
        assert kind.make(base, seed) == value  # the same seed, the same bytes
        letter = rejected(value).dead_letter
        assert (letter.reason, letter.original) == (kind.reason, value)
        assert kind.detail in letter.detail
        assert MARKER not in letter.detail and len(letter.detail) < 400
