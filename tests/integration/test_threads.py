"""The worker's thread memory on the real broker: an answer after a worker restart still finds its question."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

from schemas import ActivityKind, ConversationKind, ConversationRef, LearningCategory, SourceSystem
from schemas.activity import Activity
from schemas.learning_event import LearningEvent
from streams.thread_state import read_thread_entries
from tests.integration.support import read_topic
from tests.integration.test_worker import publish

ASKER, HELPER = "p_" + "a1" * 12, "p_" + "b2" * 12
ASKED_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def chat(ts: int, actor: str, text: str, thread: int = 1000) -> Activity:
    """A message of a Slack thread (its root when `ts` is the thread's)."""
    root = f"C01/{thread}.000000"
    return Activity.create(
        source=SourceSystem.SLACK,
        source_instance="acme",
        native_id=f"C01/{ts}.000000",
        kind=ActivityKind.MESSAGE if ts == thread else ActivityKind.REPLY,
        occurred_at=ASKED_AT + timedelta(seconds=ts - thread),
        actor=actor,
        conversation=ConversationRef(kind=ConversationKind.THREAD, id=root),
        in_reply_to=None if ts == thread else root,
        subject="platform-help",
        text=text,
    )


def test_an_answer_after_a_killed_worker_restarts_finds_its_question(settings, start_worker) -> None:
    bootstrap, names = settings.kafka.bootstrap_servers, settings.topics.names
    question = chat(1000, ASKER, "how do I rotate the kafka credentials in staging?")
    statement = chat(2000, ASKER, "Deployed the new ingestion pipeline this morning", thread=2000)
    first = start_worker()
    publish(settings, [(a.conversation_key.encode(), a.to_bytes()) for a in (question, statement)])
    decided = read_topic(bootstrap, names.learning_events, expected=2)
    assert len(decided) == 2
    entries = read_thread_entries(settings.kafka, names.thread_state)
    assert list(entries) == [question.conversation_key]  # only the question's thread is remembered
    first.send_signal(signal.SIGKILL)  # nothing graceful: the memory must come back from the topic
    first.wait(timeout=30)

    answer = chat(1060, HELPER, "use the vault CLI, the steps are on the ops wiki under credentials")
    reply_elsewhere = chat(2030, HELPER, "great work, the dashboards look much better now", thread=2000)
    start_worker()
    publish(settings, [(a.conversation_key.encode(), a.to_bytes()) for a in (answer, reply_elsewhere)])
    events = {
        event.event_id: event
        for event in (
            LearningEvent.from_bytes(value) for _, value in read_topic(bootstrap, names.learning_events, expected=4)
        )
    }
    answered = events[answer.activity_id]
    assert (answered.category, answered.decided_by) == (LearningCategory.ANSWERED, "chat.reply_to_question")
    assert answered.counterpart == ASKER and answered.response_delay_seconds == 60.0
    assert events[reply_elsewhere.activity_id].category is LearningCategory.NONE
    assert read_thread_entries(settings.kafka, names.thread_state)[question.conversation_key].answerer == HELPER
