"""The faust worker as a real process on the real broker: classification, keys, and dead letters."""

from __future__ import annotations

import json
import time

from kafka import KafkaProducer
from kafka.partitioner import murmur2

from learnstream.settings import Settings
from schemas.activity import Activity
from schemas.dead_letter import DeadLetter, DeadLetterReason
from schemas.learning_event import LearningEvent
from tests.integration.support import distinct_activities, read_records, read_topic, sample_lines, topic_size
from tests.integration.test_end_to_end import replay


def publish(settings: Settings, messages: list[tuple[bytes | None, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    for key, value in messages:
        producer.send(settings.topics.names.activity_raw, key=key, value=value)
    producer.flush()
    producer.close()


def test_worker_classifies_every_valid_activity_keyed_by_conversation(settings: Settings, start_worker) -> None:
    start_worker()
    lines = sample_lines(30)
    activities = [Activity.from_bytes(line) for line in lines]
    publish(
        settings, [(activity.conversation_key.encode(), line) for activity, line in zip(activities, lines, strict=True)]
    )

    events = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.learning_events, expected=30)

    assert len(events) == 30
    by_id = {LearningEvent.from_bytes(value).event_id: (key, LearningEvent.from_bytes(value)) for key, value in events}
    assert set(by_id) == {activity.activity_id for activity in activities}
    for activity in activities:
        key, event = by_id[activity.activity_id]
        assert key == activity.conversation_key.encode()
        assert event.actor == activity.actor
        assert event.occurred_at == activity.occurred_at
    assert {event.source.value for _, event in by_id.values()} == {"slack", "mediawiki", "xapi"}
    assert read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_dlq, expected=0, timeout=1) == []


def test_bad_input_goes_to_the_dead_letter_topic_and_the_worker_keeps_running(settings: Settings, start_worker) -> None:
    worker = start_worker()
    valid = sample_lines(2)
    schema_invalid = json.loads(valid[0])
    schema_invalid["kind"] = "gossip"
    del schema_invalid["actor"]
    future_version = {**json.loads(valid[1]), "schema_version": 9}
    bad_messages: list[tuple[bytes | None, bytes]] = [
        (b"k1", b'{"source": "slack", "text": "unterminated'),
        (b"k2", json.dumps(schema_invalid).encode()),
        (None, json.dumps(future_version).encode()),
    ]
    publish(settings, bad_messages)

    letters = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_dlq, expected=3)
    by_original = {DeadLetter.from_bytes(value).original: DeadLetter.from_bytes(value) for _, value in letters}
    assert len(letters) == 3
    malformed = by_original[bad_messages[0][1]]
    assert malformed.reason is DeadLetterReason.INVALID_JSON
    assert malformed.key == b"k1"
    invalid = by_original[bad_messages[1][1]]
    assert invalid.reason is DeadLetterReason.SCHEMA_INVALID
    assert "actor" in invalid.detail and "kind" in invalid.detail
    assert by_original[bad_messages[2][1]].reason is DeadLetterReason.UNSUPPORTED_SCHEMA_VERSION
    assert all(
        letter.stage == "worker" and letter.source_topic == settings.topics.names.activity_raw
        for letter in by_original.values()
    )

    publish(settings, [(None, valid[0])])  # valid, but sent without a key
    events = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.learning_events, expected=1)
    assert worker.poll() is None, "the worker must survive bad input"
    activity = Activity.from_bytes(valid[0])
    assert [(key, LearningEvent.from_bytes(value).activity_id) for key, value in events] == [
        (activity.conversation_key.encode(), activity.activity_id)
    ]


def test_connector_and_worker_partition_by_conversation_as_the_default_partitioner_does(
    settings: Settings, start_worker, tmp_path
) -> None:
    """The memoised partitioners (kafka-python in the connector, aiokafka in the worker) keep Kafka's placement."""
    lines = distinct_activities(600)
    path = tmp_path / "activities.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert replay(settings, path) == 600
    start_worker()
    bootstrap, names = settings.kafka.bootstrap_servers, settings.topics.names
    deadline = time.monotonic() + 120
    while topic_size(bootstrap, names.learning_events) < 600 and time.monotonic() < deadline:
        time.sleep(0.1)

    for topic in (names.activity_raw, names.learning_events):
        records = read_records(bootstrap, topic)
        assert len(records) == 600
        partitions = settings.topics.partitions
        assert {partition for partition, *_ in records} == set(range(partitions))
        for partition, _, key, _ in records:
            assert key is not None
            assert partition == (murmur2(key) & 0x7FFFFFFF) % partitions, f"{key!r} is on the wrong partition"


def test_the_largest_raw_record_is_dead_lettered_whole_and_the_worker_goes_on(settings: Settings, start_worker) -> None:
    worker = start_worker()
    huge = b'{"text": "' + b"x" * 900_000 + b'"'  # not JSON; its dead letter (base64) is larger than 1 MB
    valid = sample_lines(1)[0]
    publish(settings, [(b"big", huge), (None, valid)])

    letters = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_dlq, expected=1)
    events = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.learning_events, expected=1)

    assert worker.poll() is None, "the worker must survive a record as large as the topic allows"
    assert len(letters) == 1
    letter = DeadLetter.from_bytes(letters[0][1])
    assert (letter.original, letter.key, letter.reason) == (huge, b"big", DeadLetterReason.INVALID_JSON)
    assert [LearningEvent.from_bytes(value).activity_id for _, value in events] == [
        Activity.from_bytes(valid).activity_id
    ]
