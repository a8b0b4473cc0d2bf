"""Helpers for integration tests: reading topics, running CLI processes, building test data."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from learnstream.settings import Settings
from schemas.activity import Activity
from streams.processing import event_id_for

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
SAMPLE = PROJECT_ROOT / "samples" / "activities.jsonl"
LOCAL_KAFKA = PROJECT_ROOT / "deploy" / "kafka" / "local_kafka.py"


def settings_env(settings: Settings) -> dict[str, str]:
    """The LEARNSTREAM_ variables that make a child process use the same settings as the test."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEARNSTREAM_")}
    env.update(
        {
            "LEARNSTREAM_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "LEARNSTREAM_TOPICS__NAMESPACE": settings.topics.namespace,
            "LEARNSTREAM_TOPICS__PARTITIONS": str(settings.topics.partitions),
            "LEARNSTREAM_WORKER__APP_ID": settings.worker.app_id,
            "LEARNSTREAM_WORKER__COMMIT_INTERVAL_S": str(settings.worker.commit_interval_s),
            "LEARNSTREAM_WORKER__SESSION_TIMEOUT_S": str(settings.worker.session_timeout_s),
            "LEARNSTREAM_LOADER__GROUP_ID": settings.loader.group_id,
            "LEARNSTREAM_DATA_DIR": str(settings.data_dir),
            # the test process holds the session's chDB directory open: a serve under test owns no warehouse
            # unless the test gives it its own (tests/integration/test_serve_warehouse.py)
            "LEARNSTREAM_SERVE__WAREHOUSE": "false",
            # the bundled sample happened in 2016-2023: keep every event, whatever its age
            "LEARNSTREAM_WAREHOUSE__RETENTION_DAYS": str(settings.warehouse.retention_days),
        }
    )
    # metrics endpoints on a free port each, so processes of several tests never collide on the default ports; a
    # test that scrapes one sets its port explicitly (Settings(metrics=MetricsSettings(worker_port=…)))
    for port in ("worker_port", "loader_port", "connector_port"):
        chosen = port in settings.metrics.model_fields_set
        env[f"LEARNSTREAM_METRICS__{port.upper()}"] = str(getattr(settings.metrics, port)) if chosen else "0"
    if settings.clickhouse_dsn is not None:
        env["LEARNSTREAM_CLICKHOUSE_DSN"] = settings.clickhouse_dsn.get_secret_value()
    kafka = settings.kafka
    env["LEARNSTREAM_KAFKA__CONNECT_TIMEOUT_S"] = str(kafka.connect_timeout_s)
    if kafka.security_protocol != "PLAINTEXT":  # a secured broker (tests/integration/test_kafka_security.py)
        env["LEARNSTREAM_KAFKA__SECURITY_PROTOCOL"] = kafka.security_protocol
        env["LEARNSTREAM_KAFKA__SASL_MECHANISM"] = kafka.sasl_mechanism
        env["LEARNSTREAM_KAFKA__SASL_USERNAME"] = kafka.sasl_username
        env["LEARNSTREAM_KAFKA__SASL_PASSWORD"] = kafka.sasl_password.get_secret_value()
        env["LEARNSTREAM_KAFKA__SSL_CHECK_HOSTNAME"] = str(kafka.ssl_check_hostname).lower()
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if getattr(kafka, name) is not None:
                env[f"LEARNSTREAM_KAFKA__{name.upper()}"] = str(getattr(kafka, name))
    return env


def learnstream_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", *args]


def run_cli(env: Mapping[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run `learnstream …` in a child process from the project root."""
    return subprocess.run(
        learnstream_command(*args), env=dict(env), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout
    )


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list[tuple[bytes | None, bytes]]:
    """All (key, value) pairs of a topic from the beginning, waiting until at least `expected` have arrived."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=500)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        found: list[tuple[bytes | None, bytes]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found.extend((record.key, record.value) for record in consumer)
            if len(found) >= expected:
                # one more short read, so a test expecting N also sees an unexpected N+1
                time.sleep(0.5)
                found.extend((record.key, record.value) for record in consumer)
                break
        return found
    finally:
        consumer.close()


def sample_lines(count: int) -> list[bytes]:
    """The first `count` lines of the bundled sample, taken evenly across its three sources."""
    lines = [line for line in SAMPLE.read_bytes().splitlines() if line.strip()]
    step = max(1, len(lines) // count)
    return lines[::step][:count]


def event_ids_of(lines: list[bytes]) -> set[str]:
    """The event ids the worker gives these activities: an edit's is the id of the message it changes."""
    return {event_id_for(Activity.from_bytes(line)) for line in lines}


def distinct_activities(count: int) -> list[bytes]:
    """`count` valid activities with distinct ids: the sample's, copied with a copy number in each native id (and
    in the id an edit names, so a copy's edit changes the same copy's message)."""
    base = [Activity.from_bytes(line) for line in SAMPLE.read_bytes().splitlines() if line.strip()]
    out: list[bytes] = []
    for n in range(count):
        fields = base[n % len(base)].model_dump()
        fields.pop("activity_id")
        fields["native_id"] = f"{fields['native_id']}#{n // len(base)}"
        if fields.get("in_reply_to"):
            fields["in_reply_to"] = f"{fields['in_reply_to']}#{n // len(base)}"
        out.append(Activity.create(**fields).to_bytes())
    return out


def read_records(bootstrap: str, topic: str) -> list[tuple[int, int, bytes | None, bytes]]:
    """Every (partition, offset, key, value) a topic holds now, from the beginning."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: list[tuple[int, int, bytes | None, bytes]] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in partitions) and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                found.extend((tp.partition, record.offset, record.key, record.value) for record in records)
        return found
    finally:
        consumer.close()


def committed_offsets(bootstrap: str, group_id: str, topic: str) -> dict[int, int]:
    """The offsets a consumer group has committed on a topic, by partition (0 where it committed none)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    try:
        partitions = sorted(consumer.partitions_for_topic(topic) or [])
        return {p: consumer.committed(TopicPartition(topic, p)) or 0 for p in partitions}
    finally:
        consumer.close()


def topic_size(bootstrap: str, topic: str) -> int:
    """How many messages a topic holds (the sum of its end offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


#: Keys that pass `require_secret_keys`: live connectors and `serve` refuse the development keys.
TEST_KEYS = {
    "LEARNSTREAM_PSEUDONYM_KEY": "integration-test-pseudonym-key-0123456789",
    "LEARNSTREAM_ID_KEY": "integration-test-id-key-0123456789abcdef",
}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_slack_export(path: Path, channels: int, days: int, per_day: int, start: int = 1_700_000_000) -> list[str]:
    """A Slack export ZIP of plain messages (a question opening each thread, replies in it); returns their
    native ids (`<channel>/<ts>`) in the import's order."""
    names = [f"channel-{index:03d}" for index in range(channels)]
    native_ids: list[str] = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("channels.json", json.dumps([{"id": f"C{i:09d}", "name": n} for i, n in enumerate(names)]))
        archive.writestr("users.json", json.dumps([{"id": f"U{i:09d}", "profile": {}} for i in range(20)]))
        for index, name in enumerate(names):
            for day in range(days):
                messages = []
                for n in range(per_day):
                    ts = f"{start + day * 86_400 + n}.{index:06d}"
                    root = f"{start + day * 86_400 + n - n % 5}.{index:06d}"
                    message = {"type": "message", "user": f"U{n % 20:09d}", "text": f"message {n}", "ts": ts}
                    if n % 5:
                        message["thread_ts"] = root
                    messages.append(message)
                    native_ids.append(f"C{index:09d}/{ts}")
                day_name = time.strftime("%Y-%m-%d", time.gmtime(start + day * 86_400))
                archive.writestr(f"{name}/{day_name}.json", json.dumps(messages))
    return native_ids
