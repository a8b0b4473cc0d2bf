"""The loader's metrics on the real broker and chDB: what loading N events counts, its group's lag, its freshness,
and the `learnstream loader` command's /metrics, /health and /ready while it runs."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from kafka import KafkaProducer
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from learnstream.kafka import make_consumer, make_dead_letter_producer
from learnstream.settings import Settings
from schemas.activity import Activity
from schemas.headers import sent_at_headers
from streams.classify import default_classifier
from streams.processing import learning_event_for
from tests.integration.support import PROJECT_ROOT, free_port, learnstream_command, sample_lines, settings_env
from warehouse.loader import EventLoader

N = 30
PARTITIONS = ("0", "1", "2")  # the `settings` fixture's topics have three


def publish_sent_events(settings: Settings, count: int) -> None:
    """Learning events for `count` sample activities, with the sent-at header a connector gives them."""
    classifier = default_classifier()
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    for line in sample_lines(count):
        event = learning_event_for(Activity.from_bytes(line), classifier)
        producer.send(
            settings.topics.names.learning_events,
            key=event.conversation_key.encode(),
            value=event.to_bytes(),
            headers=sent_at_headers(time.time()),
        )
    producer.flush()
    producer.close()


def value(name: str, labels: dict[str, str] | None = None) -> float:
    """A sample of this process's default registry (0 when it has none yet)."""
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def group_lag(group_id: str, topic: str) -> list[float | None]:
    return [
        REGISTRY.get_sample_value(
            "learnstream_consumer_lag_messages", {"group": group_id, "topic": topic, "partition": partition}
        )
        for partition in PARTITIONS
    ]


def test_loading_n_events_counts_them_and_the_lag_falls_to_zero(settings: Settings, warehouse) -> None:
    began = time.time()
    client, database = warehouse
    group, topic = settings.loader.group_id, settings.topics.names.learning_events
    publish_sent_events(settings, N)
    before = {
        name: value(name)
        for name in (
            "learnstream_loader_events_total",
            "learnstream_loader_batch_rows_count",
            "learnstream_loader_batch_rows_sum",
            "learnstream_loader_insert_seconds_count",
        )
    }
    consumer = make_consumer(settings.kafka, group, [topic], "test-loader")
    producer = make_dead_letter_producer(settings.kafka, settings.topics, settings.producer, "test-loader-dlq")
    # a few records per poll and the lag read after each, so the lag is seen while there is some
    loader = EventLoader(
        consumer,
        client,
        database,
        producer,
        settings.topics.names.activity_dlq,
        group,
        batch_size=10,
        poll_timeout_s=0.5,
        retry_backoff_s=0.5,
        poll_records=4,
        lag_every_s=0.0,
    )
    most_lag = 0.0
    deadline = time.monotonic() + 120
    try:
        while loader.stats.rows_inserted < N and time.monotonic() < deadline:
            loader.load_once()
            most_lag = max(most_lag, sum(lag or 0.0 for lag in group_lag(group, topic)))
        for _ in range(3):  # idle polls: the lag read after the last event
            loader.load_once()
    finally:
        consumer.close()
        producer.close()

    assert loader.stats.rows_inserted == N
    assert value("learnstream_loader_events_total") - before["learnstream_loader_events_total"] == N
    assert value("learnstream_loader_batch_rows_sum") - before["learnstream_loader_batch_rows_sum"] == N
    assert value("learnstream_loader_batch_rows_count") - before["learnstream_loader_batch_rows_count"] >= N / 10
    assert value("learnstream_loader_insert_seconds_count") > before["learnstream_loader_insert_seconds_count"]
    assert most_lag > 0
    assert group_lag(group, topic) == [0.0, 0.0, 0.0]
    freshness = value("learnstream_loader_freshness_seconds")
    assert 0 < freshness <= time.time() - began  # the events were sent after the test began


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample /metrics shows, by name and sorted labels."""
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_loader_command_serves_metrics_health_and_readiness(settings: Settings, tmp_path: Path) -> None:
    began = time.time()
    group, topic = settings.loader.group_id, settings.topics.names.learning_events
    port = free_port()
    env = settings_env(settings)
    env["LEARNSTREAM_CLICKHOUSE_DSN"] = f"chdb://{tmp_path / 'cli-warehouse'}"  # the test process holds its own
    env["LEARNSTREAM_METRICS__LOADER_PORT"] = str(port)
    publish_sent_events(settings, N)
    log_path = tmp_path / "loader.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            learnstream_command("loader", "--exit-when-idle", "60"), env=env, cwd=PROJECT_ROOT, stdout=log, stderr=log
        )
    base = f"http://127.0.0.1:{port}"
    lag_keys = [
        ("learnstream_consumer_lag_messages", (("group", group), ("partition", p), ("topic", topic)))
        for p in PARTITIONS
    ]
    try:
        deadline = time.monotonic() + 120
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        while time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
            try:
                samples = scrape(base)
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            loaded = samples.get(("learnstream_loader_events_total", ()), 0)
            if loaded == N and all(samples.get(key) == 0 for key in lag_keys):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"not loaded and caught up: {samples}\n{log_path.read_text(errors='replace')[-3000:]}")

        assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        ready = httpx.get(f"{base}/ready", timeout=5)
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        assert samples[("learnstream_loader_batch_rows_count", ())] >= 1
        assert samples[("learnstream_loader_insert_seconds_count", ())] >= 1
        assert 0 < samples[("learnstream_loader_freshness_seconds", ())] <= time.time() - began
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    output = log_path.read_text(errors="replace")
    assert process.returncode == 0, output[-3000:]
    assert f"loaded {N} learning events" in output
    with pytest.raises(httpx.TransportError):  # the endpoint ended with the command
        httpx.get(f"{base}/health", timeout=2)
