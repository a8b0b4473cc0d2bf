"""The rule set: each rule on realistic activities, the deciding rule's name, thread context, and subjects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from learnstream.errors import ConfigError
from schemas import ActivityKind, ConversationKind, ConversationRef, LearningCategory, SourceSystem
from schemas.ids import activity_id_for
from schemas.learning_event import Topic
from streams.classify import Classification, ThreadContext, build_classifier, default_classifier, load_classifier
from streams.classify.rules import chat_message, chat_reaction, prose, wiki_page, xapi_statement
from streams.classify.subjects import MAX_SUBJECTS
from streams.classify.vocabulary import load_vocabulary
from streams.threads import NO_QUESTION

TOPIC = TypeAdapter(Topic)
DOTLESS_I = "\u0131"  # Turkish lower-case i without a dot
DOTTED_CAPITAL_I = "\u0130"  # Turkish capital I with a dot
THREAD = ConversationRef(kind=ConversationKind.THREAD, id="C01/1700000000.000100")
CLASSIFIER = default_classifier()
WORDS = CLASSIFIER.words
MIN_ANSWER_CHARS = WORDS.min_answer_chars
ASKER, HELPER = "p_" + "a1" * 12, "p_" + "b2" * 12
ASKED_AT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
ROOT_NATIVE_ID = "C01/1700000000.000100"
QUESTION_THREAD = ThreadContext(
    activity_id_for("slack", "acme", ROOT_NATIVE_ID), ASKER, LearningCategory.ASKED, ASKED_AT, HELPER
)


def classify_activity(activity, thread=None):
    return CLASSIFIER.classify(activity, thread)


def tag_topics(text, tag=None):
    return CLASSIFIER.subjects.tag(text, tag)


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
        assert decided(result) == (LearningCategory.ASKED, "chat.question.question_mark")
        assert result.confidence == 0.8

    def test_question_wording_without_question_mark_asks(self, chat):
        result = classify_activity(chat("does anyone know where the on-call runbook lives"))
        assert decided(result) == (LearningCategory.ASKED, "chat.question.yes_no_opening")

    def test_question_in_a_reply_outside_a_known_thread_is_less_certain(self, chat):
        result = classify_activity(chat("which version of the client are you on?", reply=True))
        assert decided(result) == (LearningCategory.ASKED, "chat.question.question_mark")
        assert result.confidence == 0.6

    def test_question_mark_inside_code_or_link_is_not_a_question(self, chat):
        text = "Deployed it: `value = a ? b : c` and https://grafana.acme.example/d/abc?orgId=1"
        assert prose(text) == "Deployed it:   and"
        assert decided(classify_activity(chat(text))) == (LearningCategory.SHARED, "chat.shared_resource")

    def test_quoted_lines_are_not_the_writers_words(self, chat):
        text = "&gt; how do I restart the consumer?\nthis is what the docs say"
        assert decided(classify_activity(chat(text))) == (LearningCategory.NONE, "chat.no_learning_signal")

    def test_thanks_reply_acknowledges(self, chat):
        result = classify_activity(chat("<@U0BMYT2FL> thanks, that worked!", reply=True))
        assert decided(result) == (LearningCategory.ACKNOWLEDGED, "chat.thanks_reply")
        assert result.confidence == 0.8

    def test_thanks_beats_a_question_in_the_same_reply(self, chat):
        result = classify_activity(chat("Thank you! Why did the old config work before?", reply=True))
        assert decided(result) == (LearningCategory.ACKNOWLEDGED, "chat.thanks_reply")

    def test_thanks_addressed_to_someone_acknowledges(self, chat):
        result = classify_activity(chat("<@U0BMYT2FL> that did the trick, cheers"))
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

    @pytest.mark.parametrize(
        "text",
        [
            "joining now <https://acme.zoom.us/j/123456789>",
            "<https://meet.google.com/abc-defg-hij>",
            "lol <https://media.giphy.com/media/xyz/giphy.gif>",
        ],
    )
    def test_meeting_rooms_and_gifs_share_nothing(self, chat, text):
        assert decided(classify_activity(chat(text))) == (LearningCategory.NONE, "chat.no_learning_signal")

    def test_attached_file_shares_a_resource(self, chat):
        result = classify_activity(chat("", attributes={"files": 1}))
        assert decided(result) == (LearningCategory.SHARED, "chat.shared_resource")

    def test_substantive_reply_answers_when_the_thread_is_unknown(self, chat):
        text = "You need to set auto.offset.reset to earliest for a new consumer group"
        result = classify_activity(chat(text, reply=True))
        assert decided(result) == (LearningCategory.ANSWERED, "chat.substantive_reply")
        assert result.confidence == 0.5

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
            "Giving a talk on our Kafka migration at the all-hands",
            "Starting a mentoring programme for new joiners, ping me",
        ],
    )
    def test_teaching_offer_teaches(self, chat, text):
        assert decided(classify_activity(chat(text))) == (LearningCategory.TAUGHT, "chat.teaching_offer")

    def test_chat_rule_ignores_other_kinds(self, wiki):
        assert chat_message(wiki(ActivityKind.PAGE_EDITED, "how?"), WORDS, None) is None


class TestQuestions:
    """The misses and false alarms of the first rules, each as a case."""

    @pytest.mark.parametrize(
        "text",
        [
            # requests without a question word or mark
            "anyone wanna chat",
            "any ideas on the flaky integration test",
            "does anyone know where the runbook is",
            "looking for someone who knows terraform",
            "pls help with the vpn config",
            # informal spellings and fillers
            "whats that",
            "hows it going",
            "so ... how was it",
            "ok who sang that song",
            # yes/no questions opened by an auxiliary, without a mark
            "do you have a minute",
            "did you deploy it",
            "is the build broken",
            "are we still on for 3",
            "can you review my PR",
            "could someone take a look",
            # punctuation
            "how?!",
            "why??",
            "wait, what is this?..",
            # a question after a greeting
            "hi all. does anyone have the vpn config",
            "not sure how to fix this",
        ],
    )
    def test_asks(self, chat, text):
        assert classify_activity(chat(text)).category is LearningCategory.ASKED, text

    @pytest.mark.parametrize(
        "text",
        [
            "seriously? i didnt think it would work",
            "is that right?",
            "really?!",
            "when I was young, we used svn",
            "how shall I say it, it's complicated",
            "where the docs live is a mystery to me",
            "which is why we moved to kafka",
            "Do the following: restart the consumer",
            "Have a look at the dashboard",
            "guess what, it works",
            "is fixed now",
        ],
    )
    def test_does_not_ask(self, chat, text):
        assert classify_activity(chat(text)).category is not LearningCategory.ASKED, text


class TestThreads:
    def test_a_reply_by_someone_else_to_a_question_answers_it(self, chat):
        reply = chat("it lives in the ops wiki", reply=True, actor=HELPER, occurred_at=ASKED_AT + timedelta(minutes=5))
        result = classify_activity(reply, QUESTION_THREAD)
        assert decided(result) == (LearningCategory.ANSWERED, "chat.reply_to_question")
        assert result.counterpart == ASKER
        assert result.response_delay_seconds == 300.0

    def test_a_short_reply_by_someone_else_still_answers(self, chat):
        result = classify_activity(chat("yes", reply=True, actor=HELPER), QUESTION_THREAD)
        assert result.category is LearningCategory.ANSWERED

    def test_the_askers_follow_up_is_not_an_answer(self, chat):
        text = "I tried restarting the consumer and the lag is still growing on partition 3"
        result = classify_activity(chat(text, reply=True, actor=ASKER), QUESTION_THREAD)
        assert decided(result) == (LearningCategory.NONE, "chat.asker_follow_up")

    def test_the_askers_thanks_acknowledge_the_latest_answerer(self, chat):
        later = ASKED_AT + timedelta(hours=1)
        result = classify_activity(
            chat("that worked, thanks!", reply=True, actor=ASKER, occurred_at=later), QUESTION_THREAD
        )
        assert decided(result) == (LearningCategory.ACKNOWLEDGED, "chat.asker_thanks")
        assert result.counterpart == HELPER
        assert result.response_delay_seconds == 3600.0

    def test_the_askers_new_question_asks(self, chat):
        result = classify_activity(chat("and where are the logs?", reply=True, actor=ASKER), QUESTION_THREAD)
        assert decided(result) == (LearningCategory.ASKED, "chat.asker_follow_up_question")

    def test_replies_in_a_thread_that_did_not_ask_are_judged_by_their_words(self, chat):
        announced = QUESTION_THREAD._replace(root_category=LearningCategory.NONE)
        text = "congrats on the release, the new pipeline looks great"
        result = classify_activity(chat(text, reply=True, actor=HELPER), announced)
        assert decided(result) == (LearningCategory.NONE, "chat.no_learning_signal")

    def test_an_edited_root_question_is_a_message_and_an_edited_reply_a_reply(self, chat):
        edited_root = chat(
            "how do I rotate the credentials?",
            kind=ActivityKind.MESSAGE_EDITED,
            in_reply_to=ROOT_NATIVE_ID,
        )
        assert classify_activity(edited_root, QUESTION_THREAD).category is LearningCategory.ASKED
        edited_reply = chat(
            "use the vault CLI", kind=ActivityKind.MESSAGE_EDITED, actor=HELPER, in_reply_to="C01/1700000050.000200"
        )
        assert classify_activity(edited_reply, QUESTION_THREAD).category is LearningCategory.ANSWERED


class TestReactions:
    @pytest.fixture
    def reaction(self, make_activity):
        def build(name: str, on: str = "C01/1700000050.000200"):
            return make_activity(
                native_id=f"{on}/reaction/{name}/U02",
                kind=ActivityKind.REACTION,
                conversation=THREAD,
                in_reply_to=on,
                counterpart=HELPER,
                actor=ASKER,
                occurred_at=ASKED_AT + timedelta(minutes=10),
                text=None,
                attributes={"reaction": name},
            )

        return build

    @pytest.mark.parametrize("name", ["+1", "white_check_mark", "pray"])
    def test_an_approving_reaction_on_an_answer_acknowledges_its_author(self, reaction, name):
        result = classify_activity(reaction(name), QUESTION_THREAD)
        assert decided(result) == (LearningCategory.ACKNOWLEDGED, "chat.acknowledging_reaction")
        assert (result.confidence, result.counterpart, result.response_delay_seconds) == (0.85, HELPER, 600.0)

    def test_an_approving_reaction_on_the_question_agrees_with_it(self, reaction):
        result = classify_activity(reaction("+1", on=ROOT_NATIVE_ID), QUESTION_THREAD)
        assert decided(result) == (LearningCategory.NONE, "chat.reaction_on_the_question")

    def test_an_approving_reaction_outside_a_question_thread_is_applause(self, reaction):
        result = classify_activity(reaction("tada"), NO_QUESTION)
        assert decided(result) == (LearningCategory.NONE, "chat.reaction_outside_a_question")

    def test_without_thread_context_an_approving_reaction_acknowledges_with_less_confidence(self, reaction):
        result = classify_activity(reaction("+1"))
        assert decided(result) == (LearningCategory.ACKNOWLEDGED, "chat.acknowledging_reaction")
        assert result.confidence == 0.75

    @pytest.mark.parametrize("name", ["joy", "eyes", "botman"])
    def test_other_reaction_is_no_learning(self, reaction, name):
        assert decided(classify_activity(reaction(name))) == (LearningCategory.NONE, "chat.other_reaction")

    def test_reaction_rule_ignores_messages(self, chat):
        assert chat_reaction(chat("+1"), WORDS, None) is None


class TestBots:
    def test_bot_question_is_not_learning(self, chat):
        result = classify_activity(
            chat("Build #4512 failed. Did anyone change the CI config?", attributes={"bot": True})
        )
        assert decided(result) == (LearningCategory.NONE, "bot.ignored")
        assert result.confidence == 0.95

    def test_bot_false_does_not_trigger_the_bot_rule(self, chat):
        result = classify_activity(chat("Did anyone change the CI config?", attributes={"bot": False}))
        assert decided(result) == (LearningCategory.ASKED, "chat.question.question_mark")

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

    @pytest.mark.parametrize(
        "comment",
        [
            "added [[Category:Stream processing]] using [[WP:HC|HotCat]]",
            "fix typo",
            "/* Setup */ ce",
            "Filled in 3 bare reference(s) with reFill 2",
            "Nominated for deletion; see [[:Wikipedia:Articles for deletion/Kafka tips]]",
            "/* Links */ removed dead link",
        ],
    )
    def test_housekeeping_is_not_documentation(self, wiki, comment):
        assert decided(classify_activity(wiki(ActivityKind.PAGE_EDITED, comment))) == (
            LearningCategory.NONE,
            "wiki.housekeeping",
        )

    @pytest.mark.parametrize(
        ("comment", "changed", "rule"),
        [
            ("", 12, "wiki.small_unexplained_edit"),
            ("/* Rebalancing */", -300, "wiki.small_unexplained_edit"),
            ("", 480, "wiki.substantive_edit"),
            ("/* Rebalancing */ explain cooperative sticky", 8, "wiki.substantive_edit"),
            ("", None, "wiki.substantive_edit"),  # a source that does not say how many bytes changed
        ],
    )
    def test_an_unexplained_edit_documents_only_when_the_page_grew(self, make_activity, comment, changed, rule):
        attributes = {"namespace": 0, "minor": False, "bot": False}
        if changed is not None:
            attributes["bytes_changed"] = changed
        activity = make_activity(
            source=SourceSystem.MEDIAWIKI,
            native_id="rev/1002",
            kind=ActivityKind.PAGE_EDITED,
            conversation=ConversationRef(kind=ConversationKind.PAGE, id="0:Kafka consumer groups"),
            subject="Kafka consumer groups",
            text=comment,
            attributes=attributes,
        )
        assert classify_activity(activity).rule == rule

    def test_new_page_is_documented_whatever_its_comment(self, wiki):
        result = classify_activity(wiki(ActivityKind.PAGE_CREATED, "revert"))
        assert result.rule == "wiki.page_created"

    def test_wiki_rule_ignores_chat(self, chat):
        assert wiki_page(chat("new page"), WORDS, None) is None


class TestXapi:
    @pytest.mark.parametrize(
        "verb",
        [
            "http://adlnet.gov/expapi/verbs/completed",
            "http://adlnet.gov/expapi/verbs/passed",
            "http://adlnet.gov/expapi/verbs/mastered",
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
        assert xapi_statement(chat("completed"), WORDS, None) is None


def test_no_matching_rule_falls_back_to_none(chat):
    result = build_classifier(load_vocabulary(), rules=()).classify(chat("How?"))
    assert result == Classification(LearningCategory.NONE, 0.5, "fallback.no_rule")


class TestSubjects:
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
        assert tag_topics(None, "") == ()
        assert tag_topics("nothing to see here") == ()

    def test_html_entity_is_not_a_hashtag(self):
        assert tag_topics("it&#39;s fine") == ()

    def test_at_most_max_topics(self):
        text = " ".join(f"#topic{index:02d}" for index in range(MAX_SUBJECTS + 4))
        topics = tag_topics(text)
        assert len(topics) == MAX_SUBJECTS
        assert topics == tuple(f"topic{index:02d}" for index in range(MAX_SUBJECTS))

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

    def test_an_edited_message_is_classified_by_its_new_words(self, chat):
        result = classify_activity(chat("How do I rotate the Kafka credentials?", kind=ActivityKind.MESSAGE_EDITED))
        assert decided(result) == (LearningCategory.ASKED, "chat.question.question_mark")

    def test_a_deletion_retracts(self, chat):
        result = classify_activity(chat("", kind=ActivityKind.ITEM_DELETED))
        assert decided(result) == (LearningCategory.NONE, "retraction.deleted")

    def test_a_page_comment_is_discussion(self, chat):
        result = classify_activity(chat("", kind=ActivityKind.PAGE_COMMENTED))
        assert decided(result) == (LearningCategory.NONE, "wiki.page_comment")


class TestVocabulary:
    def test_the_version_names_the_rules_and_a_digest_of_the_words(self):
        assert CLASSIFIER.version.startswith("rules-2.")
        assert load_vocabulary().version == CLASSIFIER.version  # the same words, the same version

    def test_an_extension_file_adds_words_subjects_and_changes_the_version(self, chat, tmp_path: Path):
        extra = tmp_path / "words.toml"
        extra.write_text(
            '[chat]\nrequests = ["kann mir jemand"]\nteaching = ["fika talk"]\n'
            '[subjects]\nkafka = ["redpanda"]\npayments = ["stripe", "ledger"]\n',
            encoding="utf-8",
        )
        extended = load_classifier([extra])
        assert extended.version != CLASSIFIER.version and extended.version.startswith("rules-2.")
        assert extended.classify(chat("kann mir jemand mit dem vpn helfen")).category is LearningCategory.ASKED
        assert CLASSIFIER.classify(chat("kann mir jemand mit dem vpn helfen")).category is LearningCategory.NONE
        assert extended.classify(chat("Friday fika talk: our ledger design")).category is LearningCategory.TAUGHT
        assert extended.subjects.tag("moving from redpanda to the ledger service") == ("kafka", "payments")
        # the shipped words are kept
        assert extended.classify(chat("any ideas on the flaky test")).category is LearningCategory.ASKED

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("[chat\n", "not valid TOML"),
            ('[chat]\nrequests = "one phrase"\n', "chat.requests"),
            ('[chat]\nquestion_marks = ["?"]\n', "chat.question_marks"),
            ('[subjects]\n"Bad Subject" = ["x"]\n', "subjects"),
        ],
    )
    def test_a_bad_extension_file_is_a_config_error_naming_the_file_and_field(self, tmp_path, content, message):
        extra = tmp_path / "words.toml"
        extra.write_text(content, encoding="utf-8")
        with pytest.raises(ConfigError, match=message) as raised:
            load_classifier([extra])
        assert str(extra) in str(raised.value)

    def test_a_missing_extension_file_is_a_config_error(self, tmp_path):
        with pytest.raises(ConfigError, match="cannot read the vocabulary file"):
            load_classifier([tmp_path / "missing.toml"])


class TestPersonalPages:
    @pytest.mark.parametrize("namespace", [2, 3])
    def test_user_page_edits_are_not_documentation(self, make_activity, namespace):
        activity = make_activity(
            source=SourceSystem.MEDIAWIKI,
            native_id="rev/77",
            kind=ActivityKind.PAGE_EDITED,
            conversation=ConversationRef(kind=ConversationKind.PAGE, id=f"{namespace}:Alice"),
            subject="User:Alice" if namespace == 2 else "User talk:Alice",
            text="/* About me */ new section",
            attributes={"namespace": namespace, "minor": False, "bot": False},
        )
        assert decided(classify_activity(activity)) == (LearningCategory.NONE, "wiki.personal_page")

    def test_a_page_in_a_personal_confluence_space_is_not_documentation(self, make_activity):
        activity = make_activity(
            source=SourceSystem.CONFLUENCE,
            native_id="page/42/v/1",
            kind=ActivityKind.PAGE_CREATED,
            conversation=ConversationRef(kind=ConversationKind.PAGE, id="~alice:42"),
            subject="My notes",
            text="",
        )
        assert decided(classify_activity(activity)) == (LearningCategory.NONE, "wiki.personal_page")
