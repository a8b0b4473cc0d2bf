"""The whole path on real parts: file replay -> Kafka -> faust worker process -> loader -> ClickHouse -> trends."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path
from typing import Any

from learnstream.kafka import make_consumer, make_producer
from learnstream.settings import Settings
from producers.cursors import FileCursorStore
from producers.file_replay import FileReplay
from producers.runtime import run_connector
from tests.integration.support import event_ids_of, read_topic, run_cli, sample_lines, settings_env
from warehouse.loader import EventLoader
from warehouse.trends import daily_trends

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
    trends = daily_trends(client, database, date(2000, 1, 1), date(2100, 1, 1))
    assert sum(row.events for row in trends) == N
    assert {row.source for row in trends} == {"slack", "mediawiki", "xapi"}

    again = tmp_path / "one-again.jsonl"
    again.write_bytes(lines[7] + b"\n")
    assert replay(settings, again) == 1
    load_until(settings, client, database, 1)

    raw = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, expected=N + 1)
    assert len(raw) == N + 1  # the activity really was sent twice ...
    assert final_count(client, database) == N  # ... and added no row
    trends_after = daily_trends(client, database, date(2000, 1, 1), date(2100, 1, 1))
    assert sum(row.events for row in trends_after) == N
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
    assert "3 applied now" in migrated.stdout
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
    trends = run_cli(env, "trends", "--since", "2000-01-01", "--format", "json")
    assert trends.returncode == 0, trends.stderr
    assert sum(row["events"] for row in json.loads(trends.stdout)) == 20
    letters = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_dlq, expected=2)
    assert len(letters) == 2
    table = run_cli(env, "trends", "--since", "2000-01-01")
    assert "total" in table.stdout and "mediawiki" in table.stdout
