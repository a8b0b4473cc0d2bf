"""The loader on the real broker and the real ClickHouse engine: batches, offsets, dead letters, idempotence."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from learnstream.errors import NothingToLoad
from learnstream.kafka import make_consumer, make_dead_letter_producer
from learnstream.settings import Settings
from schemas.activity import Activity
from schemas.dead_letter import DeadLetter
from streams.classify import default_classifier
from streams.processing import learning_event_for
from tests.integration.support import read_topic, sample_lines
from warehouse.counts import cell_events
from warehouse.events_table import COLUMNS, event_row
from warehouse.loader import EventLoader, LoaderStats
from warehouse.migrations import migrate
from warehouse.rollup import rebuild_due


def publish_events(settings: Settings, count: int, extra: list[bytes] | None = None) -> list[str]:
    """Publish learning events for `count` sample activities (plus raw extras); returns their event ids."""
    events = [learning_event_for(Activity.from_bytes(line), default_classifier()) for line in sample_lines(count)]
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    for event in events:
        producer.send(
            settings.topics.names.learning_events, key=event.conversation_key.encode(), value=event.to_bytes()
        )
    for value in extra or []:
        producer.send(settings.topics.names.learning_events, value=value)
    producer.flush()
    producer.close()
    return [event.event_id for event in events]


def run_loader(
    settings: Settings,
    client: Any,
    database: str,
    idle_s: float = 3.0,
    deadline_s: float = 120.0,
    first_event_timeout_s: float | None = None,
) -> LoaderStats:
    names = settings.topics.names
    consumer = make_consumer(settings.kafka, settings.loader.group_id, [names.learning_events], "test-loader")
    producer = make_dead_letter_producer(settings.kafka, settings.topics, settings.producer, "test-loader-dlq")
    loader = EventLoader(
        consumer=consumer,
        client=client,
        database=database,
        dlq_producer=producer,
        dlq_topic=names.activity_dlq,
        group_id=settings.loader.group_id,
        batch_size=7,
        poll_timeout_s=0.5,
        retry_backoff_s=0.2,
    )
    try:
        deadline = time.monotonic() + deadline_s
        return loader.run(lambda: time.monotonic() > deadline, idle_s, first_event_timeout_s)
    finally:
        consumer.close()
        producer.close()


def committed_lag(settings: Settings) -> int:
    """Messages of the events topic not yet committed by the loader's group."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, group_id=settings.loader.group_id)
    try:
        topic = settings.topics.names.learning_events
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        ends = consumer.end_offsets(partitions)
        return sum(ends[tp] - (consumer.committed(tp) or 0) for tp in partitions)
    finally:
        consumer.close()


def count(client: Any, database: str, final: bool = True) -> int:
    return int(
        client.query(f"SELECT count() FROM {database}.learning_events{' FINAL' if final else ''}").result_rows[0][0]
    )


def trend_total(client: Any, database: str) -> int:
    rebuild_due(client, database)
    return sum(cell_events(client, database).values())


def test_loader_inserts_batches_commits_offsets_and_dead_letters_garbage(settings: Settings, warehouse) -> None:
    client, database = warehouse
    ids = publish_events(settings, 40, extra=[b"not an event"])

    stats = run_loader(settings, client, database)

    assert stats.rows_inserted == 40
    assert stats.dead_letters == 1
    assert count(client, database) == 40
    stored = {row[0] for row in client.query(f"SELECT event_id FROM {database}.learning_events").result_rows}
    assert stored == set(ids)
    assert committed_lag(settings) == 0
    letters = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_dlq, expected=1)
    letter = DeadLetter.from_bytes(letters[0][1])
    assert (letter.stage, letter.original) == ("loader", b"not an event")
    text_columns = client.query(
        f"SELECT name FROM system.columns WHERE database = '{database}' AND table = 'learning_events'"
    ).result_rows
    assert "text" not in {name for (name,) in text_columns}


def test_redelivered_events_add_no_row_and_are_not_double_counted(settings: Settings, warehouse) -> None:
    client, database = warehouse
    publish_events(settings, 25)
    run_loader(settings, client, database)
    publish_events(settings, 25)  # the same 25 events again, as after a replay upstream

    stats = run_loader(settings, client, database)

    assert stats.rows_inserted == 25  # the loader did store them again ...
    assert count(client, database) == 25  # ... yet they are the same rows
    assert trend_total(client, database) == 25


def test_a_retried_insert_with_the_same_token_is_dropped(settings: Settings, warehouse) -> None:
    client, database = warehouse
    events = [learning_event_for(Activity.from_bytes(line), default_classifier()) for line in sample_lines(5)]
    rows = [event_row(event, 0, offset) for offset, event in enumerate(events)]
    for _ in range(2):
        client.insert(
            "learning_events",
            rows,
            column_names=list(COLUMNS),
            database=database,
            settings={"insert_deduplication_token": "g/t/0/0-4"},
        )
    assert count(client, database, final=False) == 5


def test_offsets_are_committed_only_after_the_insert_succeeded(settings: Settings, warehouse) -> None:
    client, database = warehouse
    missing = f"{database}_later"
    publish_events(settings, 12)

    failing = run_loader(settings, client, missing, deadline_s=4.0)

    assert failing.insert_failures > 0 and failing.rows_inserted == 0
    assert committed_lag(settings) == 12
    migrate(client, missing)
    try:
        recovered = run_loader(settings, client, missing)
        assert recovered.rows_inserted == 12
        assert count(client, missing) == 12
        assert committed_lag(settings) == 0
    finally:
        client.command(f"DROP DATABASE IF EXISTS {missing}")


def test_loader_waiting_for_a_first_event_gives_up_with_a_clear_error(settings: Settings, warehouse) -> None:
    client, database = warehouse
    with pytest.raises(NothingToLoad, match="is the worker running"):
        run_loader(settings, client, database, first_event_timeout_s=2.0)


def test_the_largest_event_record_is_dead_lettered_whole(settings: Settings, warehouse) -> None:
    client, database = warehouse
    huge = b"\x00not an event " * 60_000  # 900,000 bytes: its base64 dead letter is larger than 1 MB
    ids = publish_events(settings, 3, extra=[huge])

    stats = run_loader(settings, client, database)

    assert (stats.rows_inserted, stats.dead_letters) == (3, 1)
    assert {row[0] for row in client.query(f"SELECT event_id FROM {database}.learning_events").result_rows} == set(ids)
    letters = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_dlq, expected=1)
    assert DeadLetter.from_bytes(letters[0][1]).original == huge
    assert committed_lag(settings) == 0
