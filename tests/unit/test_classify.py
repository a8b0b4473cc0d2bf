"""The rule set: each rule on realistic activities, the deciding rule's name, and topic tagging."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas import ActivityKind, ConversationKind, ConversationRef, LearningCategory, SourceSystem
from schemas.learning_event import Topic
from streams.classify import Classification, classify_activity, tag_topics
from streams.classify.rules import MIN_ANSWER_CHARS, chat_message, chat_reaction, prose, wiki_page, xapi_statement
from streams.classify.topics import MAX_TOPICS

TOPIC = TypeAdapter(Topic)
DOTLESS_I = "\u0131"  # Turkish lower-case i without a dot
DOTTED_CAPITAL_I = "\u0130"  # Turkish capital I with a dot
THREAD = ConversationRef(kind=ConversationKind.THREAD, id="C01/1700000000.000100")


@pytest.fixture
def chat(make_activity):
    """A chat post with the given text; `reply=True` makes it a reply in the thread."""

    def build(text: str, reply: bool = False, **overrides):
        if reply:
            overrides.setdefault("kind", ActivityKind.REPLY)
            overrides.setdefault("native_id", "C01/1700000050.000200")
            overrides.setdefault("in_reply_to", "C01/1700000000.000100")
        return make_activity(text=text, conversation=THREAD, **overrides)

    return build


@pytest.fixture
def wiki(make_activity):
    """A wiki edit or page creation with the given edit comment."""

    def build(kind: ActivityKind, comment: str, minor: bool = False):
        return make_activity(
            source=SourceSystem.MEDIAWIKI,
            source_instance="wiki.acme.example",
            native_id="rev/1001",
            kind=kind,
            conversation=ConversationRef(kind=ConversationKind.PAGE, id="0:Kafka consumer groups"),
            subject="Kafka consumer groups",
            text=comment,
            attributes={"namespace": 0, "minor": minor, "bot": False},
        )

    return build


@pytest.fixture
def statement(make_activity):
    """An xAPI statement with the given verb IRI."""

    def build(verb: str):
        return make_activity(
            source=SourceSystem.XAPI,
            source_instance="lrs.acme.example",
            native_id="2557db94-bd34-46d7-9684-d928c824963a",
            kind=ActivityKind.STATEMENT,
            conversation=ConversationRef(kind=ConversationKind.COURSE, id="https://lms.acme.example/courses/kafka-101"),
            subject="Kafka 101",
            text=None,
            attributes={"verb": verb, "object": "https://lms.acme.example/courses/kafka-101/module-1"},
        )

    return build


def is_valid_topic(topic: str) -> bool:
    try:
        TOPIC.validate_python(topic)
    except ValidationError:
        return False
    return True


def decided(classification: Classification) -> tuple[LearningCategory, str]:
    """The category and the deciding rule's name, compared together so a failure shows both."""
    return (classification.category, classification.rule)


class TestChatMessages:
    def test_question_mark_asks(self, chat):
        result = classify_activity(chat("How do I configure SASL for the Kafka consumer in staging?"))
        assert decided(result) == (LearningCategory.ASKED, "chat.question")
        assert result.confidence == 0.75

    def test_question_wording_without_question_mark_asks(self, chat):
        result = classify_activity(chat("does anyone know where the on-call runbook lives"))
        assert decided(result) == (LearningCategory.ASKED, "chat.question")

    def test_question_in_a_reply_is_less_certain(self, chat):
        result = classify_activity(chat("which version of the client are you on?", reply=True))
        assert decided(result) == (LearningCategory.ASKED, "chat.question")
        assert result.confidence == 0.6

    def test_question_mark_inside_code_or_link_is_not_a_question(self, chat):
        text = "Deployed it: `value = a ? b : c` and https://grafana.acme.example/d/abc?orgId=1"
        assert prose(text) == "Deployed it:   and"
        assert decided(classify_activity(chat(text))) == (LearningCategory.SHARED, "chat.shared_resource")

    def test_thanks_reply_acknowledges(self, chat):
        result = classify_activity(chat("<@U0BMYT2FL> thanks, that worked!", reply=True))
        assert decided(result) == (LearningCategory.ACKNOWLEDGED, "chat.thanks_reply")
        assert result.confidence == 0.8

    def test_thanks_beats_a_question_in_the_same_reply(self, chat):
        result = classify_activity(chat("Thank you! Why did the old config work before?", reply=True))
        assert decided(result) == (LearningCategory.ACKNOWLEDGED, "chat.thanks_reply")

    def test_thanks_as_a_new_message_is_not_an_acknowledgement(self, chat):
        result = classify_activity(chat("Thanks everyone for a great quarter"))
        assert decided(result) == (LearningCategory.NONE, "chat.no_learning_signal")

    def test_long_reply_with_thanks_is_not_a_mere_acknowledgement(self, chat):
        text = "Thanks. " + "The consumer lag comes from the rebalance storm after every deploy, so pin the " * 3
        assert len(prose(text)) >= 200
        result = classify_activity(chat(text, reply=True))
        assert decided(result) == (LearningCategory.ANSWERED, "chat.substantive_reply")

    def test_link_shares_a_resource(self, chat):
        result = classify_activity(chat("Good write-up on exactly-once: <https://www.confluent.io/blog/eos|EOS blog>"))
        assert decided(result) == (LearningCategory.SHARED, "chat.shared_resource")

    def test_attached_file_shares_a_resource(self, chat):
        result = classify_activity(chat("", attributes={"files": 1}))
        assert decided(result) == (LearningCategory.SHARED, "chat.shared_resource")

    def test_substantive_reply_answers(self, chat):
        text = "You need to set auto.offset.reset to earliest for a new consumer group"
        result = classify_activity(chat(text, reply=True))
        assert decided(result) == (LearningCategory.ANSWERED, "chat.substantive_reply")

    def test_short_reply_is_no_learning(self, chat):
        text = "ok, will do"
        assert len(text) < MIN_ANSWER_CHARS
        assert decided(classify_activity(chat(text, reply=True))) == (LearningCategory.NONE, "chat.no_learning_signal")

    def test_substantive_top_level_message_is_not_an_answer(self, chat):
        result = classify_activity(chat("Deployed the new ingestion pipeline to production this morning"))
        assert decided(result) == (LearningCategory.NONE, "chat.no_learning_signal")

    @pytest.mark.parametrize(
        "text",
        [
            "I'll run a lunch and learn on ClickHouse materialized views next Thursday",
            "Office hours for the new deploy tooling every Friday at 3",
            "Running a workshop on property-based testing, sign up in the doc",
        ],
    )
    def test_teaching_offer_teaches(self, chat, text):
        assert decided(classify_activity(chat(text))) == (LearningCategory.TAUGHT, "chat.teaching_offer")

    def test_chat_rule_ignores_other_kinds(self, wiki):
        assert chat_message(wiki(ActivityKind.PAGE_EDITED, "how?")) is None


class TestReactions:
    @pytest.fixture
    def reaction(self, make_activity):
        def build(name: str):
            return make_activity(
                native_id=f"C01/1700000000.000100/reaction/{name}/U02",
                kind=ActivityKind.REACTION,
                conversation=THREAD,
                in_reply_to="C01/1700000000.000100",
                counterpart="p_" + "b2" * 12,
                text=None,
                attributes={"reaction": name},
            )

        return build

    @pytest.mark.parametrize("name", ["+1", "white_check_mark", "pray"])
    def test_acknowledging_reaction(self, reaction, name):
        result = classify_activity(reaction(name))
        assert decided(result) == (LearningCategory.ACKNOWLEDGED, "chat.acknowledging_reaction")
        assert result.confidence == 0.85

    @pytest.mark.parametrize("name", ["joy", "eyes", "botman"])
    def test_other_reaction_is_no_learning(self, reaction, name):
        assert decided(classify_activity(reaction(name))) == (LearningCategory.NONE, "chat.other_reaction")

    def test_reaction_rule_ignores_messages(self, chat):
        assert chat_reaction(chat("+1")) is None


class TestBots:
    def test_bot_question_is_not_learning(self, chat):
        result = classify_activity(
            chat("Build #4512 failed. Did anyone change the CI config?", attributes={"bot": True})
        )
        assert decided(result) == (LearningCategory.NONE, "bot.ignored")
        assert result.confidence == 0.95

    def test_bot_false_does_not_trigger_the_bot_rule(self, chat):
        result = classify_activity(chat("Did anyone change the CI config?", attributes={"bot": False}))
        assert decided(result) == (LearningCategory.ASKED, "chat.question")

    def test_wiki_bot_edit_is_not_learning(self, make_activity):
        activity = make_activity(
            source=SourceSystem.MEDIAWIKI,
            native_id="rev/7",
            kind=ActivityKind.PAGE_EDITED,
            conversation=ConversationRef(kind=ConversationKind.PAGE, id="0:Main Page"),
            text="Bot: fixing links",
            attributes={"bot": True, "minor": False},
        )
        assert decided(classify_activity(activity)) == (LearningCategory.NONE, "bot.ignored")


class TestWiki:
    def test_page_created_documents(self, wiki):
        result = classify_activity(wiki(ActivityKind.PAGE_CREATED, "Created page with 'Consumer groups explained'"))
        assert decided(result) == (LearningCategory.DOCUMENTED, "wiki.page_created")
        assert result.confidence == 0.9

    def test_substantive_edit_documents(self, wiki):
        result = classify_activity(wiki(ActivityKind.PAGE_EDITED, "/* Rebalancing */ explain cooperative sticky"))
        assert decided(result) == (LearningCategory.DOCUMENTED, "wiki.substantive_edit")

    def test_minor_edit_is_not_learning(self, wiki):
        result = classify_activity(wiki(ActivityKind.PAGE_EDITED, "typo", minor=True))
        assert decided(result) == (LearningCategory.NONE, "wiki.minor_edit")

    @pytest.mark.parametrize(
        "comment",
        [
            "Reverted edits by 203.0.113.7 (talk) to last version by Alice",
            "Undid revision 1167689309 by Bob (talk)",
            "rv vandalism",
        ],
    )
    def test_revert_is_not_learning(self, wiki, comment):
        assert decided(classify_activity(wiki(ActivityKind.PAGE_EDITED, comment))) == (
            LearningCategory.NONE,
            "wiki.revert",
        )

    def test_new_page_is_documented_whatever_its_comment(self, wiki):
        result = classify_activity(wiki(ActivityKind.PAGE_CREATED, "revert"))
        assert result.rule == "wiki.page_created"

    def test_wiki_rule_ignores_chat(self, chat):
        assert wiki_page(chat("new page")) is None


class TestXapi:
    @pytest.mark.parametrize(
        "verb",
        [
            "http://adlnet.gov/expapi/verbs/completed",
            "http://adlnet.gov/expapi/verbs/passed/",
            "http://adlnet.gov/expapi/verbs/Mastered",
        ],
    )
    def test_completion_verbs_complete(self, statement, verb):
        result = classify_activity(statement(verb))
        assert decided(result) == (LearningCategory.COMPLETED, "xapi.completion_verb")
        assert result.category.formal is True

    @pytest.mark.parametrize(
        "verb",
        [
            "http://adlnet.gov/expapi/verbs/interacted",
            "https://w3id.org/xapi/video/verbs/played",
            "http://activitystrea.ms/submit",
        ],
    )
    def test_engagement_verbs_experience(self, statement, verb):
        result = classify_activity(statement(verb))
        assert decided(result) == (LearningCategory.EXPERIENCED, "xapi.engagement_verb")
        assert result.confidence == 0.8

    @pytest.mark.parametrize(
        "verb",
        [
            "https://w3id.org/xapi/video/verbs/seeked",
            "https://w3id.org/xapi/video/verbs/paused",
            "http://id.tincanapi.com/verb/skipped",
        ],
    )
    def test_navigation_verbs_are_not_learning(self, statement, verb):
        assert decided(classify_activity(statement(verb))) == (LearningCategory.NONE, "xapi.navigation_verb")

    def test_xapi_rule_ignores_chat(self, chat):
        assert xapi_statement(chat("completed")) is None


def test_no_matching_rule_falls_back_to_none(chat):
    result = classify_activity(chat("How?"), rules=())
    assert result == Classification(LearningCategory.NONE, 0.5, "fallback.no_rule")


class TestTopics:
    def test_hashtags_and_vocabulary(self):
        assert tag_topics("#observability for our K8s cluster", "Kafka lag again") == (
            "kafka",
            "kubernetes",
            "observability",
        )

    def test_topics_are_deduplicated_and_sorted(self):
        assert tag_topics("Python tips", "more #python and PYTHON, plus SQL and sql") == ("python", "sql")

    def test_longest_term_wins(self):
        assert tag_topics("a javascript question") == ("javascript",)
        assert tag_topics("machine learning reading group") == ("machine-learning",)

    def test_empty_and_missing_texts(self):
        assert tag_topics(None, "", "nothing to see here") == ()

    def test_html_entity_is_not_a_hashtag(self):
        assert tag_topics("it&#39;s fine") == ()

    def test_at_most_max_topics(self):
        text = " ".join(f"#topic{index:02d}" for index in range(MAX_TOPICS + 4))
        topics = tag_topics(text)
        assert len(topics) == MAX_TOPICS
        assert topics == tuple(f"topic{index:02d}" for index in range(MAX_TOPICS))

    def test_turkish_dotted_capital_i_does_not_break_tagging(self):
        # Turkish capitalises "api" with a dotted capital I; the term regex matches it case-insensitively.
        assert tag_topics(f"Yeni AP{DOTTED_CAPITAL_I} belgeleri") == ("api",)

    def test_hashtag_topics_are_valid_learning_event_topics(self):
        # A hashtag with a Turkish dotless i must not yield a topic the LearningEvent contract rejects.
        topics = tag_topics(f"#{DOTLESS_I}dea #Kafka-Connect #node.js")
        assert "kafka-connect" in topics
        assert "node.js" in topics
        assert [topic for topic in topics if not is_valid_topic(topic)] == []


class TestKindsOfVersion2:
    def test_a_shared_file_shares_a_resource(self, chat):
        result = classify_activity(chat("", kind=ActivityKind.FILE_SHARED))
        assert decided(result) == (LearningCategory.SHARED, "chat.file_shared")

    @pytest.mark.parametrize("kind", [ActivityKind.MESSAGE_EDITED, ActivityKind.ITEM_DELETED])
    def test_edits_and_deletions_add_no_learning_of_their_own(self, chat, kind):
        result = classify_activity(chat("How do I rotate the Kafka credentials?", kind=kind))
        assert decided(result) == (LearningCategory.NONE, "fallback.no_rule")
