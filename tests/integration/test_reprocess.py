"""`learnstream reprocess` on the real broker: the raw topic decided again, answers finding questions written
before the reprocess's start, idempotently."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from schemas.learning_event import LearningEvent
from schemas.taxonomy import LearningCategory
from streams.classify import default_classifier
from tests.integration.support import read_records, run_cli, settings_env
from tests.integration.test_threads import ASKER, HELPER, chat
from tests.integration.test_worker import publish


def events_of(settings) -> list[LearningEvent]:
    records = read_records(settings.kafka.bootstrap_servers, settings.topics.names.learning_events)
    return [LearningEvent.from_bytes(value) for _, _, _, value in records]


def test_a_reprocess_from_a_time_warms_the_thread_memory_before_it_and_decides_only_after_it(settings) -> None:
    question = chat(1000, ASKER, "how do I rotate the kafka credentials in staging?")
    publish(settings, [(question.conversation_key.encode(), question.to_bytes())])
    time.sleep(1.5)
    since = datetime.now(UTC).replace(microsecond=0)
    time.sleep(1.5)
    answer = chat(1060, HELPER, "use the vault CLI, the steps are on the ops wiki under credentials")
    statement = chat(2000, ASKER, "Deployed the new ingestion pipeline this morning", thread=2000)
    publish(
        settings,
        [(a.conversation_key.encode(), a.to_bytes()) for a in (answer, statement)] + [(b"k", b'{"not": "json"')],
    )
    env = settings_env(settings)

    ran = run_cli(env, "reprocess", "--from", since.strftime("%Y-%m-%dT%H:%M:%S%z"))
    assert ran.returncode == 0, ran.stderr
    assert "2 events written (answered 1, none 1), 1 earlier records read for the thread memory" in ran.stdout
    assert "1 invalid records skipped" in ran.stdout
    assert "reprocess:" not in ran.stderr  # a short run into a pipe draws no progress (LEARNSTREAM_PROGRESS=auto)
    events = {event.event_id: event for event in events_of(settings)}
    assert set(events) == {answer.activity_id, statement.activity_id}  # nothing before --from is written
    answered = events[answer.activity_id]
    assert (answered.category, answered.counterpart) == (LearningCategory.ANSWERED, ASKER)
    assert {event.classifier_version for event in events.values()} == {default_classifier().version}

    again = run_cli({**env, "LEARNSTREAM_PROGRESS": "always"}, "reprocess", "--from-offset", "0", "--warmup-days", "0")
    assert again.returncode == 0, again.stderr
    assert "3 events written" in again.stdout  # every valid record, from the first offset
    assert "reprocess: 4 / 4 records (100.0 %), " in again.stderr  # the progress summary, on stderr only
    assert "reprocess:" not in again.stdout
    latest = events_of(settings)
    assert len(latest) == 5 and {event.event_id for event in latest} == {
        question.activity_id,
        answer.activity_id,
        statement.activity_id,
    }
    by_id = {event.event_id: event for event in latest[2:]}
    assert by_id[answer.activity_id].category is LearningCategory.ANSWERED  # the question is in the same run


def test_reprocess_needs_exactly_one_start(settings) -> None:
    ran = run_cli(settings_env(settings), "reprocess")
    assert ran.returncode != 0 and "give exactly one of --from and --from-offset" in ran.stderr
