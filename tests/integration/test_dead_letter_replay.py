"""`learnstream dlq` on the real broker, worker and warehouse: a replayed dead letter lands once; a second replay
sends nothing; a record still invalid comes back naming its first dead letter, and a replay never loops."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from learnstream.kafka import make_producer
from learnstream.settings import Settings
from schemas.activity import Activity
from schemas.dead_letter import DeadLetter, DeadLetterReason, LetterId
from streams.processing import event_id_for
from tests.integration.support import read_records, run_cli, sample_lines, settings_env
from tests.integration.test_end_to_end import final_count, load_until


def dead_letters(settings: Settings, expected: int) -> dict[str, DeadLetter]:
    """The dead letters by id (`partition:offset`), once at least `expected` are there."""
    topic = settings.topics.names.activity_dlq
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        found: dict[str, DeadLetter] = {}
        for _ in range(120):
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    found[f"{tp.partition}:{record.offset}"] = DeadLetter.from_bytes(record.value)
            if len(found) >= expected:
                consumer.poll(timeout_ms=1000)  # an unexpected extra one would show in the caller's count
                return found
        raise AssertionError(f"{len(found)} dead letters on {topic}, expected {expected}")
    finally:
        consumer.close()


def rows_of(client: Any, database: str, event_id: str) -> int:
    """Every stored row of one event id, merged or not: a duplicate would show here before any merge."""
    sql = f"SELECT count() FROM {database}.learning_events WHERE event_id = %(id)s"
    return int(client.query(sql, parameters={"id": event_id}).result_rows[0][0])


def test_a_replayed_dead_letter_lands_once_and_a_replay_never_loops(settings: Settings, warehouse, start_worker):
    client, database = warehouse
    names = settings.topics.names
    env = settings_env(settings)
    valid = sample_lines(6)
    fixed, others = valid[0], valid[1:]
    fixed_id = event_id_for(Activity.from_bytes(fixed))
    # As an older release's worker left it: a valid activity set aside by a classifier bug, fixed since.
    old_letter = DeadLetter.for_message(
        reason=DeadLetterReason.PROCESSING_ERROR,
        detail="classification failed: KeyError",
        stage="worker",
        topic=names.activity_raw,
        partition=0,
        offset=17,
        key=b"conversation-of-the-fixed-activity",
        value=fixed,
        failed_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    producer = make_producer(settings.kafka, "test-dlq")
    try:
        producer.send(names.activity_dlq, key=old_letter.key, value=old_letter.to_bytes()).get(30)
        for line in [*others, b'{"schema_version": 1, "source": "slack", "truncated']:
            producer.send(names.activity_raw, value=line).get(30)
    finally:
        producer.close()
    start_worker()
    letters = dead_letters(settings, 2)
    assert len(letters) == 2
    (old_id,) = [i for i, letter in letters.items() if letter.reason is DeadLetterReason.PROCESSING_ERROR]
    (bad_id,) = [i for i, letter in letters.items() if letter.reason is DeadLetterReason.INVALID_JSON]
    assert load_until(settings, client, database, len(others)) == len(others)

    listed = run_cli(env, "dlq", "list")
    assert listed.returncode == 0, listed.stderr
    assert "2 dead letters on" in listed.stdout and "invalid_json 1, processing_error 1" in listed.stdout
    assert old_id in listed.stdout and bad_id in listed.stdout
    assert "truncated" not in listed.stdout  # no message content in the list

    replayed = run_cli(env, "dlq", "replay", "--reason", "processing_error")
    assert replayed.returncode == 0, replayed.stderr
    assert f"replayed 1 messages: 1 to {names.activity_raw}" in replayed.stdout
    assert load_until(settings, client, database, 1) == 1
    assert rows_of(client, database, fixed_id) == 1
    assert final_count(client, database) == len(valid)

    again = run_cli(env, "dlq", "replay", "--reason", "processing_error")
    assert again.returncode == 0, again.stderr
    assert "nothing to replay" in again.stdout and "left out 1 replayed already" in again.stdout

    # The invalid record, replayed without a fix: set aside again, naming its first dead letter, and the run ends.
    still_bad = run_cli(env, "dlq", "replay")
    assert still_bad.returncode == 0, still_bad.stderr
    assert "replayed 1 messages" in still_bad.stdout and "left out 1 replayed already" in still_bad.stdout
    letters = dead_letters(settings, 3)
    assert len(letters) == 3
    (new_id,) = set(letters) - {old_id, bad_id}
    assert letters[new_id].replay_of == LetterId.parse(bad_id)
    assert letters[new_id].original == letters[bad_id].original

    shown = run_cli(env, "dlq", "show", new_id)
    assert shown.returncode == 0, shown.stderr
    assert f"replay of   {bad_id}" in shown.stdout and "failed again" in shown.stdout
    listed_json = run_cli(env, "dlq", "list", "--json", "--reason", "invalid_json")
    documents = [json.loads(line) for line in listed_json.stdout.splitlines()]
    assert {d["id"]: d["replay"] for d in documents} == {bad_id: "failed again", new_id: "failed again"}

    # After the next fix a replay tries it once more: its newest bytes, still naming the first letter.
    once_more = run_cli(env, "dlq", "replay", "--reason", "invalid_json")
    assert "replayed 1 messages" in once_more.stdout and "1 older dead letters" in once_more.stdout
    letters = dead_letters(settings, 4)
    assert len(letters) == 4
    (newest_id,) = set(letters) - {old_id, bad_id, new_id}
    assert letters[newest_id].replay_of == LetterId.parse(bad_id)

    raw = read_records(settings.kafka.bootstrap_servers, names.activity_raw)
    assert len(raw) == len(others) + 1 + 1 + 2  # the originals, the fixed one, the invalid one twice: no loop
    assert load_until(settings, client, database, 0) == 0
    assert rows_of(client, database, fixed_id) == 1
    assert final_count(client, database) == len(valid)
