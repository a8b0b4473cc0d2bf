"""The whole path on real parts: file replay -> Kafka -> faust worker process -> loader -> ClickHouse -> trends."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from learnstream.kafka import make_consumer, make_producer
from learnstream.settings import Settings
from producers.cursors import FileCursorStore
from producers.file_replay import FileReplay
from producers.runtime import run_connector
from schemas.activity import Activity
from streams.classify import default_classifier
from streams.processing import learning_event_for
from tests.integration.support import event_ids_of, read_topic, run_cli, sample_lines, settings_env
from warehouse.counts import cell_events, event_id_counts
from warehouse.loader import EventLoader
from warehouse.migrations import bundled_migrations
from warehouse.rollup import rebuild_due

N = 60


def replay(settings: Settings, path: Path) -> int:
    producer = make_producer(settings.kafka, "test-replay")
    try:
        stats = run_connector(
            FileReplay(path),
            producer,
            settings.topics.names.activity_raw,
            FileCursorStore(settings.data_dir / "cursors"),
        )
    finally:
        producer.close()
    return stats.records


def load_until(settings: Settings, client: Any, database: str, expected_rows: int, timeout: float = 120.0) -> int:
    """Run the loader until it stored `expected_rows` rows, then a few more polls; returns rows stored."""
    names = settings.topics.names
    consumer = make_consumer(settings.kafka, settings.loader.group_id, [names.learning_events], "e2e-loader")
    producer = make_producer(settings.kafka, "e2e-loader-dlq")
    loader = EventLoader(
        consumer, client, database, producer, names.activity_dlq, settings.loader.group_id, 500, 0.5, 0.5
    )
    deadline = time.monotonic() + timeout
    try:
        while loader.stats.rows_inserted < expected_rows and time.monotonic() < deadline:
            loader.load_once()
        # settle: anything more (a duplicate we did not expect) arrives within a few idle polls
        for _ in range(6):
            loader.load_once()
        return loader.stats.rows_inserted
    finally:
        consumer.close()
        producer.close()


def final_count(client: Any, database: str) -> int:
    return int(client.query(f"SELECT count() FROM {database}.learning_events FINAL").result_rows[0][0])


def test_n_activities_become_exactly_n_queryable_learning_events(
    settings: Settings, warehouse, start_worker, tmp_path: Path
) -> None:
    client, database = warehouse
    lines = sample_lines(N)
    sample = tmp_path / "activities.jsonl"
    sample.write_bytes(b"\n".join(lines) + b"\n")
    start_worker()

    assert replay(settings, sample) == N
    assert load_until(settings, client, database, N) == N

    assert final_count(client, database) == N
    rebuild_due(client, database)
    trends = cell_events(client, database)
    assert sum(trends.values()) == N
    assert {source for _, source, _ in trends} == {"slack", "mediawiki", "xapi"}

    again = tmp_path / "one-again.jsonl"
    again.write_bytes(lines[7] + b"\n")
    assert replay(settings, again) == 1
    load_until(settings, client, database, 1)

    raw = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, expected=N + 1)
    assert len(raw) == N + 1  # the activity really was sent twice ...
    assert final_count(client, database) == N  # ... and added no row
    counts = event_id_counts(client, database, with_ids=True)
    assert (counts.events, counts.event_ids, counts.stored_twice) == (N, N, 0)
    assert counts.rows in (N, N + 1)  # the second row of the id until a merge replaces it
    assert set(counts.ids or ()) == event_ids_of(lines)
    rebuild_due(client, database)
    trends_after = cell_events(client, database)
    assert sum(trends_after.values()) == N
    stored = client.query(f"SELECT event_id FROM {database}.learning_events FINAL").result_rows
    assert {event_id for (event_id,) in stored} == event_ids_of(lines)


def test_cli_path_replay_worker_loader_trends(settings: Settings, start_worker, tmp_path: Path) -> None:
    """The same path through the `learnstream` command, each step its own process, as the README runs it."""
    env = settings_env(settings)
    env["LEARNSTREAM_CLICKHOUSE_DSN"] = f"chdb://{tmp_path / 'cli-warehouse'}"  # its own engine dir: other processes
    lines = [*sample_lines(20), b"{ not json", b'{"schema_version": 1, "source": "slack"}']
    sample = tmp_path / "cli.jsonl"
    sample.write_bytes(b"\n".join(lines) + b"\n")

    migrated = run_cli(env, "warehouse", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"{len(bundled_migrations())} applied now" in migrated.stdout
    again = run_cli(env, "warehouse", "migrate")
    assert "0 applied now" in again.stdout
    start_worker()
    replayed = run_cli(env, "replay", str(sample))
    assert replayed.returncode == 0, replayed.stderr
    assert f"replayed {len(lines)} records" in replayed.stdout
    loaded = run_cli(env, "loader", "--exit-when-idle", "4")
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded 20 learning events" in loaded.stdout
    assert "send-to-queryable latency: p50" in loaded.stdout  # the connector's sent-at header came through the worker
    # The sample's events span years: ask by quarter from 2000, with k lowered so the small sample shows.
    env["LEARNSTREAM_WAREHOUSE__MIN_GROUP_SIZE"] = "2"
    span = ("--since", "2000-01-01", "--granularity", "quarter")
    mix = run_cli(env, "trends", "source-mix", *span, "--format", "json")
    assert mix.returncode == 0, mix.stderr
    document = json.loads(mix.stdout)
    assert (document["query"], document["min_group_size"]) == ("source-mix", 2)
    totals = [row for row in document["rows"] if row["source"] == "(all)"]
    released = sum(row["events"] for row in totals if row["events"] is not None)
    learning = sum(  # the trend figures leave out activities classified `none`
        1
        for line in lines[:20]
        if learning_event_for(Activity.from_bytes(line), default_classifier()).category != "none"
    )
    withheld = [row for row in totals if "events" in row["withheld"]]
    assert released == learning or withheld, document  # every learning event, or the total is withheld as too small
    letters = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_dlq, expected=2)
    assert len(letters) == 2
    table = run_cli(env, "trends", "source-mix", *span)
    assert "source-mix: Learning events by source" in table.stdout and "(all)" in table.stdout
    csv_out = run_cli(env, "trends", "source-mix", *span, "--format", "csv")
    assert csv_out.stdout.splitlines()[0] == "period,source,events,withheld"
    unknown = run_cli(env, "trends", "popularity")
    assert unknown.returncode == 2 and "no trend query named 'popularity'" in unknown.stderr
    by_topic = run_cli(env, "trends", "knowledge-flow", "--topic", "kafka", *span)
    assert by_topic.returncode == 0, by_topic.stderr  # every query takes every filter
    assert "Traceback" not in unknown.stderr
