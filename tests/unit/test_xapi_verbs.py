"""xAPI verbs by full IRI: the shipped table (data/xapi_verbs.toml), a platform team's additions and overrides,
the entries a vocabulary file may not hold, and the verbs of the recorded statements."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from learnstream.errors import ConfigError
from schemas import ActivityKind, ConversationKind, ConversationRef, LearningCategory, SourceSystem
from streams.classify import default_classifier, load_classifier
from streams.classify.rules import RULE_TEXT, xapi_statement
from streams.classify.vocabulary import XAPI_VERBS_FILE, load_vocabulary

CLASSIFIER = default_classifier()
SHIPPED_VERBS = load_vocabulary().xapi.verbs
ADL = "http://adlnet.gov/expapi/verbs/"
VIDEO = "https://w3id.org/xapi/video/verbs/"
CMI5 = "https://w3id.org/xapi/adl/verbs/"
TEAM_VERB = "https://lms.acme.example/xapi/verbs/peer-reviewed"
#: Verbs of the recordings that are examples, not verbs a platform sends (RFC 2606's reserved example domains):
#: they stay unknown on purpose.
EXAMPLE_HOSTS = ("http://example.com/", "https://example.com/", "http://example.org/", "https://example.org/")


@pytest.fixture
def statement(make_activity):
    """An xAPI statement activity with the given verb IRI."""

    def build(verb: str, kind: ActivityKind = ActivityKind.STATEMENT):
        return make_activity(
            source=SourceSystem.XAPI,
            source_instance="lrs.acme.example",
            native_id="6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
            kind=kind,
            conversation=ConversationRef(kind=ConversationKind.COURSE, id="https://lms.acme.example/course/7"),
            subject="Kafka 101",
            text=None,
            attributes={"verb": verb, "object": "https://lms.acme.example/mod/quiz/12"},
        )

    return build


def decided(classifier, activity):
    result = classifier.classify(activity)
    return result.category, result.rule


def team_file(tmp_path: Path, body: str, name: str = "team.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("verb", "category", "rule"),
    [
        # the list
        (ADL + "completed", LearningCategory.COMPLETED, "xapi.completion_verb"),
        (ADL + "passed", LearningCategory.COMPLETED, "xapi.completion_verb"),
        (ADL + "mastered", LearningCategory.COMPLETED, "xapi.completion_verb"),
        (ADL + "attended", LearningCategory.EXPERIENCED, "xapi.engagement_verb"),
        (ADL + "experienced", LearningCategory.EXPERIENCED, "xapi.engagement_verb"),
        (ADL + "launched", LearningCategory.EXPERIENCED, "xapi.engagement_verb"),
        (ADL + "answered", LearningCategory.EXPERIENCED, "xapi.engagement_verb"),  # a quiz item, not a colleague
        (ADL + "shared", LearningCategory.SHARED, "xapi.informal_verb"),
        (ADL + "commented", LearningCategory.ANSWERED, "xapi.informal_verb"),
        (ADL + "asked", LearningCategory.ASKED, "xapi.informal_verb"),
        # decisions worth pinning
        (ADL + "failed", LearningCategory.EXPERIENCED, "xapi.engagement_verb"),
        (ADL + "attempted", LearningCategory.EXPERIENCED, "xapi.engagement_verb"),
        (ADL + "initialized", LearningCategory.NONE, "xapi.navigation_verb"),
        (ADL + "terminated", LearningCategory.NONE, "xapi.navigation_verb"),
        (ADL + "suspended", LearningCategory.NONE, "xapi.navigation_verb"),
        (ADL + "registered", LearningCategory.NONE, "xapi.navigation_verb"),
        (VIDEO + "played", LearningCategory.EXPERIENCED, "xapi.engagement_verb"),
        (VIDEO + "paused", LearningCategory.NONE, "xapi.navigation_verb"),
        (VIDEO + "seeked", LearningCategory.NONE, "xapi.navigation_verb"),
        (CMI5 + "satisfied", LearningCategory.NONE, "xapi.navigation_verb"),
        (CMI5 + "waived", LearningCategory.NONE, "xapi.navigation_verb"),
        ("http://id.tincanapi.com/verb/viewed", LearningCategory.NONE, "xapi.navigation_verb"),
        ("http://id.tincanapi.com/verb/replied", LearningCategory.ANSWERED, "xapi.informal_verb"),
        ("http://activitystrea.ms/schema/1.0/submit", LearningCategory.EXPERIENCED, "xapi.engagement_verb"),
        ("http://activitystrea.ms/schema/1.0/join", LearningCategory.EXPERIENCED, "xapi.engagement_verb"),
        ("http://activitystrea.ms/join", LearningCategory.NONE, "xapi.navigation_verb"),
    ],
)
def test_a_listed_verb_means_its_category(statement, verb, category, rule):
    assert decided(CLASSIFIER, statement(verb)) == (category, rule)


@pytest.mark.parametrize(
    ("category", "formal", "confidence"),
    [
        (LearningCategory.COMPLETED, True, 0.95),
        (LearningCategory.EXPERIENCED, True, 0.8),
        (LearningCategory.ASKED, False, 0.7),
        (LearningCategory.NONE, False, 0.8),
    ],
)
def test_formal_and_confidence_follow_the_category(statement, category, formal, confidence):
    verb = next(verb for verb, mapped in SHIPPED_VERBS.items() if mapped is category)
    result = CLASSIFIER.classify(statement(verb))
    assert (result.category, result.category.formal, result.confidence) == (category, formal, confidence)


@pytest.mark.parametrize(
    "verb",
    [
        "http://example.com/xapi/verbs#sent-a-statement",
        "https://lms.acme.example/verbs/completed",  # ends like a completion verb: no last-word guessing
        ADL + "completed/",  # another IRI to xAPI, which compares them as strings
        "https://adlnet.gov/expapi/verbs/completed",
        ADL + "Mastered",
        "completed",
        "",
    ],
)
def test_an_unlisted_verb_is_unknown_and_none(statement, verb):
    result = CLASSIFIER.classify(statement(verb))
    assert (result.category, result.rule, result.confidence) == (LearningCategory.NONE, "xapi.unknown_verb", 0.5)


def test_a_statement_without_a_verb_is_unknown(make_activity):
    activity = make_activity(
        source=SourceSystem.XAPI,
        native_id="stmt-without-verb",
        kind=ActivityKind.STATEMENT,
        conversation=ConversationRef(kind=ConversationKind.COURSE, id="course-1"),
        text=None,
    )
    assert decided(CLASSIFIER, activity) == (LearningCategory.NONE, "xapi.unknown_verb")


def test_a_voiding_statement_retracts_before_the_verb_table_is_read(statement):
    voiding = statement(ADL + "voided", kind=ActivityKind.ITEM_DELETED)
    assert xapi_statement(voiding, CLASSIFIER.words, None) is None
    assert decided(CLASSIFIER, voiding) == (LearningCategory.NONE, "retraction.deleted")


def test_every_reason_the_rule_gives_is_explained(statement):
    reasons = {CLASSIFIER.classify(statement(verb)).rule for verb in [*SHIPPED_VERBS, "urn:x-unknown:verb"]}
    assert reasons == {
        "xapi.completion_verb",
        "xapi.engagement_verb",
        "xapi.informal_verb",
        "xapi.navigation_verb",
        "xapi.unknown_verb",
    }
    assert reasons <= RULE_TEXT.keys()


def test_the_shipped_table_is_what_the_classifier_reads():
    document = tomllib.loads(XAPI_VERBS_FILE.read_text(encoding="utf-8"))
    assert {verb: LearningCategory(category) for verb, category in document["xapi"]["verbs"].items()} == SHIPPED_VERBS
    assert len(SHIPPED_VERBS) >= 80


class TestTeamVocabulary:
    def test_a_team_file_adds_and_overrides_verbs(self, statement, tmp_path):
        extra = team_file(
            tmp_path,
            f'[xapi.verbs]\n"{TEAM_VERB}" = "answered"\n"http://id.tincanapi.com/verb/viewed" = "experienced"\n',
        )
        extended = load_classifier([extra])
        assert decided(extended, statement(TEAM_VERB)) == (LearningCategory.ANSWERED, "xapi.informal_verb")
        viewed = statement("http://id.tincanapi.com/verb/viewed")
        assert decided(extended, viewed) == (LearningCategory.EXPERIENCED, "xapi.engagement_verb")
        assert decided(CLASSIFIER, viewed) == (LearningCategory.NONE, "xapi.navigation_verb")
        assert decided(CLASSIFIER, statement(TEAM_VERB)) == (LearningCategory.NONE, "xapi.unknown_verb")
        # the shipped verbs are kept, and the other words make another version
        assert decided(extended, statement(ADL + "passed")) == (LearningCategory.COMPLETED, "xapi.completion_verb")
        assert extended.version != CLASSIFIER.version

    def test_the_last_file_to_name_a_verb_decides_it(self, statement, tmp_path):
        first = team_file(tmp_path, f'[xapi.verbs]\n"{TEAM_VERB}" = "shared"\n', "first.toml")
        second = team_file(tmp_path, f'[xapi]\nverbs = {{ "{TEAM_VERB}" = "none" }}\n', "second.toml")
        assert load_classifier([first, second]).classify(statement(TEAM_VERB)).category is LearningCategory.NONE
        assert load_classifier([second, first]).classify(statement(TEAM_VERB)).category is LearningCategory.SHARED

    def test_a_team_can_name_the_https_spelling_its_platform_sends(self, statement, tmp_path):
        variant = "https://adlnet.gov/expapi/verbs/completed"
        extended = load_classifier([team_file(tmp_path, f'[xapi.verbs]\n"{variant}" = "completed"\n')])
        assert extended.classify(statement(variant)).category is LearningCategory.COMPLETED

    @pytest.mark.parametrize(
        ("body", "messages"),
        [
            (  # a category the taxonomy does not have
                f'[xapi.verbs]\n"{TEAM_VERB}" = "learned"\n',
                [f"xapi.verbs.{TEAM_VERB}", "'completed', 'experienced' or 'none' (found 'learned')"],
            ),
            (  # a verb named by its last word, as the retired lists did
                '[xapi.verbs]\ncompleted = "completed"\n',
                ["xapi.verbs.completed", "'completed' is not a verb IRI", "http://adlnet.gov/expapi/verbs/completed"],
            ),
            ('[xapi.verbs]\n"adlnet.gov/expapi/verbs/completed" = "completed"\n', ["is not a verb IRI"]),
            ('[xapi.verbs]\n"http:///verbs/completed" = "completed"\n', ["is not a verb IRI"]),
            ('[xapi.verbs]\n"http://acme.example/peer reviewed" = "answered"\n', ["is not a verb IRI"]),
            (f'[xapi.verbs]\n"{TEAM_VERB}" = 3\n', [f"xapi.verbs.{TEAM_VERB}"]),
            ('[xapi]\nverbs = ["http://adlnet.gov/expapi/verbs/completed"]\n', ["xapi.verbs", "dictionary"]),
            (  # the retired word lists, matched against the last word of a verb
                '[xapi]\ncompletion_verbs = ["certified"]\n',
                ["completion_verbs", "no longer read", "[xapi.verbs]"],
            ),
        ],
    )
    def test_a_bad_entry_is_a_config_error_naming_the_file_and_entry(self, tmp_path, body, messages):
        extra = team_file(tmp_path, body)
        with pytest.raises(ConfigError) as raised:
            load_classifier([extra])
        assert str(extra) in str(raised.value)
        for message in messages:
            assert message in str(raised.value)


class TestRecordedStatements:
    def test_every_recorded_verb_is_listed(self, shared_data):
        verbs = recorded_verbs(shared_data)
        assert len(verbs) >= 10
        unlisted = {verb for verb in verbs if verb not in SHIPPED_VERBS and not verb.startswith(EXAMPLE_HOSTS)}
        assert unlisted == set()

    def test_example_verbs_stay_unknown(self, shared_data, statement):
        examples = {verb for verb in recorded_verbs(shared_data) if verb.startswith(EXAMPLE_HOSTS)}
        assert examples  # simple-statement.json's
        for verb in examples:
            assert decided(CLASSIFIER, statement(verb)) == (LearningCategory.NONE, "xapi.unknown_verb")

    def test_the_simulated_course_completes_experiences_and_navigates(self, shared_data, statement):
        statements = json.loads((shared_data / "xapi" / "datasim-tccc-statements.json").read_text(encoding="utf-8"))
        verbs = {str(item["verb"]["id"]) for item in statements}
        categories = {CLASSIFIER.classify(statement(verb)).category for verb in verbs}
        assert categories == {LearningCategory.COMPLETED, LearningCategory.EXPERIENCED, LearningCategory.NONE}


def recorded_verbs(shared_data: Path) -> set[str]:
    """The verb IRIs of every statement in the recorded xAPI files (an array, or one statement)."""
    verbs: set[str] = set()
    for path in sorted((shared_data / "xapi").glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for item in document if isinstance(document, list) else [document]:
            verbs.add(str(item["verb"]["id"]))
    return verbs
