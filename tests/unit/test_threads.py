"""The worker's memory of conversations: answers find their question, the asker's follow-ups are not answers,
thanks name the answerer, and the memory stays bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas import ActivityKind, ConversationKind, ConversationRef, LearningCategory
from streams.classify import default_classifier
from streams.processing import Classified, MessageOrigin, process_raw_activity
from streams.threads import ThreadEntry, ThreadMemory, entry_from_bytes, entry_to_bytes

ASKER, HELPER, OTHER = "p_" + "a1" * 12, "p_" + "b2" * 12, "p_" + "c3" * 12
START = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
ORIGIN = MessageOrigin("raw", 0, 0, None)
CLASSIFIER = default_classifier()


@pytest.fixture
def say(make_activity):
    """Post into thread `thread` (its root's ts): the root when `ts` is the thread's, else a reply."""

    def build(thread: int, ts: int, actor: str, text: str, **overrides):
        root, own = f"C01/{thread}.000000", f"C01/{ts}.000000"
        fields = {
            "native_id": own,
            "kind": ActivityKind.MESSAGE if ts == thread else ActivityKind.REPLY,
            "occurred_at": START + timedelta(seconds=ts - thread) + timedelta(hours=thread % 1000),
            "actor": actor,
            "conversation": ConversationRef(kind=ConversationKind.THREAD, id=root),
            "in_reply_to": None if ts == thread else root,
            "text": text,
        }
        fields.update(overrides)
        return make_activity(**fields)

    return build


def decide_all(memory: ThreadMemory, activities) -> list:
    """Each activity decided in turn with the memory, as the worker does, and remembered."""
    events = []
    for activity in activities:
        outcome = process_raw_activity(activity.to_bytes(), ORIGIN, START, CLASSIFIER, memory)
        assert isinstance(outcome, Classified)
        memory.remember(outcome.event)
        events.append(outcome.event)
    return events


def test_a_thread_of_question_answers_follow_up_and_thanks(say):
    memory = ThreadMemory(idle_s=86_400, max_entries=100)
    question, answer, follow_up, other, thanks = decide_all(
        memory,
        [
            say(1000, 1000, ASKER, "how do I rotate the kafka credentials?"),
            say(1000, 1060, HELPER, "use the vault CLI, the docs are in the ops wiki"),
            say(1000, 1120, ASKER, "I tried it and it still fails with an auth error on the staging brokers"),
            say(1000, 1180, OTHER, "the staging brokers need a restart after rotation"),
            say(1000, 1500, ASKER, "that worked, thanks!"),
        ],
    )
    assert question.category is LearningCategory.ASKED
    assert (answer.category, answer.counterpart, answer.response_delay_seconds) == (
        LearningCategory.ANSWERED,
        ASKER,
        60.0,
    )
    assert (follow_up.category, follow_up.decided_by) == (LearningCategory.NONE, "chat.asker_follow_up")
    assert (other.category, other.counterpart) == (LearningCategory.ANSWERED, ASKER)
    assert (thanks.category, thanks.counterpart) == (LearningCategory.ACKNOWLEDGED, OTHER)  # the latest answerer
    assert thanks.response_delay_seconds == 500.0


def test_replies_to_an_announcement_are_not_answers(say):
    memory = ThreadMemory(idle_s=86_400, max_entries=100)
    _, reply = decide_all(
        memory,
        [
            say(2000, 2000, ASKER, "Deployed the new ingestion pipeline this morning"),
            say(2000, 2030, HELPER, "great work, the dashboards look much better now"),
        ],
    )
    assert reply.category is LearningCategory.NONE


def test_an_edited_root_is_decided_again_and_its_replies_follow_it(say):
    memory = ThreadMemory(idle_s=86_400, max_entries=100)

    def edit(ts: int, text: str):
        native = f"C01/3000.000000/edit/{ts}.000000"
        return say(
            3000, ts, ASKER, text, kind=ActivityKind.MESSAGE_EDITED, native_id=native, in_reply_to="C01/3000.000000"
        )

    root, typo_fixed, reply, statement, late_reply = decide_all(
        memory,
        [
            say(3000, 3000, ASKER, "where is the vpn cnofig?"),
            edit(3010, "where is the vpn config?"),
            say(3000, 3020, HELPER, "in the it-help channel pins"),
            edit(3030, "The vpn config is in the it-help channel pins."),
            say(3000, 3040, OTHER, "also mirrored in the handbook under network access"),
        ],
    )
    assert root.category is typo_fixed.category is LearningCategory.ASKED
    assert typo_fixed.event_id == statement.event_id == root.event_id  # each edit replaces the root's event
    assert reply.category is LearningCategory.ANSWERED
    assert statement.category is LearningCategory.NONE
    assert late_reply.category is LearningCategory.NONE  # the root no longer asks


def test_a_thread_idle_longer_than_the_limit_is_forgotten(say):
    memory = ThreadMemory(idle_s=3600, max_entries=100)
    decide_all(memory, [say(4000, 4000, ASKER, "how do I get access to grafana?")])
    late = say(4000, 4000 + 7200, HELPER, "ask in the it-help channel, they grant it the same day")
    [late_reply] = decide_all(memory, [late])
    assert (late_reply.category, late_reply.decided_by) == (LearningCategory.NONE, "chat.no_learning_signal")


def test_replies_the_memory_holds_no_question_for_are_judged_by_their_words(say):
    memory = ThreadMemory(idle_s=3600, max_entries=100)
    [thanks, question] = decide_all(
        memory,
        [say(4100, 4110, HELPER, "thanks, that worked"), say(4100, 4120, HELPER, "is the runbook still current?")],
    )
    assert (thanks.category, question.category) == (LearningCategory.ACKNOWLEDGED, LearningCategory.ASKED)


def test_the_memory_keeps_at_most_its_cap_and_drops_idle_entries(say):
    memory = ThreadMemory(idle_s=10 * 3600, max_entries=3)
    decide_all(memory, [say(thread, thread, ASKER, f"question {thread}?") for thread in range(5000, 5005)])
    assert len(memory) == 3
    assert list(memory.entries) == [f"slack:acme:thread:C01/{t}.000000" for t in range(5002, 5005)]
    decide_all(memory, [say(6000, 6000, ASKER, "much later?", occurred_at=START + timedelta(days=30))])
    assert len(memory) == 1  # the others were idle for longer than ten hours before it


def test_only_questions_and_their_answers_are_remembered_and_written_out(say):
    memory = ThreadMemory(idle_s=86_400, max_entries=100)
    changes = []
    for activity in [
        say(7000, 7000, ASKER, "anyone know the wifi password"),
        say(7000, 7005, ASKER, "nvm"),
        say(7000, 7010, HELPER, "it is on the board in the kitchen"),
        say(7100, 7100, ASKER, "Deployed the new ingestion pipeline this morning"),
    ]:
        outcome = process_raw_activity(activity.to_bytes(), ORIGIN, START, CLASSIFIER, memory)
        assert isinstance(outcome, Classified)
        changes.append(memory.remember(outcome.event))
    root, follow_up, answer, other_root = changes
    assert root is not None and root.answerer is None and follow_up is None and other_root is None
    assert answer == root._replace(answerer=HELPER, last_at=answer.last_at)
    assert len(memory) == 1


def test_an_entry_survives_its_record():
    entry = ThreadEntry("a" * 32, ASKER, LearningCategory.ASKED, 1_700_000_000.5, HELPER, 1_700_000_100.0)
    assert entry_from_bytes(entry_to_bytes(entry)) == entry
    assert entry_from_bytes(entry_to_bytes(entry._replace(answerer=None))).answerer is None
    with pytest.raises(ValueError):
        entry_from_bytes(b'["too", "short"]')
