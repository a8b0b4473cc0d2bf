"""The worker's operations endpoint as a real process on the real broker: health, readiness, its counters and the
consumer lag of its group."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from learnstream.settings import MetricsSettings, Settings
from schemas.activity import Activity
from schemas.learning_event import LearningEvent
from tests.integration.support import free_port, read_topic, sample_lines
from tests.integration.test_end_to_end import replay

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base: str) -> Samples:
    """Every sample the endpoint exports now: (name, labels) → value."""
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    """The samples of one metric by the value of one label, leaving out zeros (the bound but unused children)."""
    return {dict(labels)[label]: value for (found, labels), value in samples.items() if found == name and value}


def wait_for(base: str, until, timeout: float = 60.0) -> Samples:
    """Scrape until `until(samples)` holds; the last scrape either way."""
    deadline = time.monotonic() + timeout
    samples = scrape(base)
    while not until(samples) and time.monotonic() < deadline:
        time.sleep(0.5)
        samples = scrape(base)
    return samples


def test_worker_exports_its_counts_and_lag_and_answers_health_and_readiness(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    port = free_port()
    worker = start_worker(settings.model_copy(update={"metrics": MetricsSettings(worker_port=port)}))
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/health", timeout=5).status_code == 200
    deadline = time.monotonic() + 60
    while (ready := httpx.get(f"{base}/ready", timeout=5)).status_code != 200 and time.monotonic() < deadline:
        assert ready.status_code == 503 and json.loads(ready.text)["reason"]
        time.sleep(0.2)
    assert ready.status_code == 200, ready.text

    valid = sample_lines(30)
    lines = [*valid, b"{ not json", b'{"schema_version": 1, "source": "slack"}']
    sample = tmp_path / "metrics.jsonl"
    sample.write_bytes(b"\n".join(lines) + b"\n")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    assert replay(settings, sample) == len(lines)

    written = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.learning_events, expected=len(valid))
    categories = Counter(LearningEvent.from_bytes(value).category.value for _, value in written)
    sources = Counter(Activity.from_bytes(line).source.value for line in valid)
    sources.update({"unknown": 1, "slack": 1})  # a message that is not JSON names no source; the other names slack

    def counted(samples: Samples) -> bool:
        return (
            by_label(samples, "learnstream_worker_events_total", "category") == categories
            and by_label(samples, "learnstream_worker_activities_total", "source") == sources
            and sum(by_label(samples, "learnstream_worker_dead_letters_total", "reason").values()) == 2
        )

    samples = wait_for(base, counted)
    assert by_label(samples, "learnstream_worker_activities_total", "source") == sources
    assert by_label(samples, "learnstream_worker_events_total", "category") == categories
    assert sum(categories.values()) == len(valid)
    dead_letters = by_label(samples, "learnstream_worker_dead_letters_total", "reason")
    assert dead_letters == {"invalid_json": 1, "schema_invalid": 1}

    raw = settings.topics.names.activity_raw

    def lag_of(samples: Samples) -> dict[str, float]:
        return {
            labels["partition"]: value
            for (name, label_set), value in samples.items()
            if name == "learnstream_consumer_lag_messages"
            and (labels := dict(label_set))["group"] == settings.worker.app_id
            and labels["topic"] == raw
        }

    def caught_up(samples: Samples) -> bool:
        lag = lag_of(samples)
        return len(lag) == settings.topics.partitions and not any(lag.values())

    samples = wait_for(base, caught_up)
    assert lag_of(samples) == {str(partition): 0 for partition in range(settings.topics.partitions)}
    assert worker.poll() is None
