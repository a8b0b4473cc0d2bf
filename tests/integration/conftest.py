"""Real services for integration tests: one local Kafka broker per session, fresh topics and databases per test.

The broker is started here with the project's own script (deploy/kafka/local_kafka.py) and stopped by pid.
Set LEARNSTREAM_TEST_KAFKA_BOOTSTRAP to reuse a broker you started yourself while iterating locally.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from learnstream.kafka import ensure_topics
from learnstream.settings import (
    KafkaSettings,
    LoaderSettings,
    Settings,
    TopicSettings,
    WarehouseSettings,
    WorkerSettings,
)
from tests.integration.support import LOCAL_KAFKA, PROJECT_ROOT, free_port, learnstream_command, settings_env
from warehouse.connection import connect
from warehouse.dsn import parse_dsn
from warehouse.migrations import migrate


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Apache Kafka broker (KRaft) on 127.0.0.1, started for this test session."""
    external = os.environ.get("LEARNSTREAM_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    state_dir = tmp_path_factory.mktemp("kafka")
    command = [sys.executable, str(LOCAL_KAFKA), "start", "--port", "0", "--state-dir", str(state_dir)]
    started = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if started.returncode != 0:
        raise RuntimeError(f"local Kafka did not start:\n{started.stdout}\n{started.stderr}")
    try:
        yield (state_dir / "bootstrap").read_text().strip()
    finally:
        subprocess.run([sys.executable, str(LOCAL_KAFKA), "stop", "--state-dir", str(state_dir)], timeout=120)


@pytest.fixture(scope="session")
def warehouse_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one chDB directory of this test process (chDB opens one path per process)."""
    return tmp_path_factory.mktemp("warehouse")


@pytest.fixture
def settings(kafka_bootstrap: str, warehouse_path: Path, tmp_path: Path) -> Settings:
    """Settings for one test: its own topic namespace, consumer groups, data dir and warehouse database."""
    unique = uuid.uuid4().hex[:10]
    topic_settings = TopicSettings(namespace=f"t{unique}", partitions=3)
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, connect_timeout_s=10)
    ensure_topics(kafka, topic_settings)
    return Settings(
        data_dir=tmp_path / "data",  # not created: every process must make what it needs
        clickhouse_dsn=SecretStr(f"chdb://{warehouse_path}?database=test_{unique}"),
        kafka=kafka,
        topics=topic_settings,
        worker=WorkerSettings(app_id=f"worker-{unique}", commit_interval_s=0.5, session_timeout_s=8),
        loader=LoaderSettings(group_id=f"loader-{unique}", poll_timeout_s=0.5, retry_backoff_s=0.5),
        warehouse=WarehouseSettings(retention_days=0),  # the sample happened in 2016-2023: keep it all
    )


@pytest.fixture
def warehouse(settings: Settings) -> Iterator[tuple[Any, str]]:
    """A migrated, fresh database in the session's chDB engine, dropped afterwards: (client, database)."""
    target = parse_dsn(settings.warehouse_dsn)
    client = connect(target)
    migrate(client, target.database)
    yield client, target.database
    client.command(f"DROP DATABASE IF EXISTS {target.database}")


@pytest.fixture
def start_worker(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Starts `learnstream worker` as a real process for this test's settings (or others given); stops it by pid."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(custom: Settings | None = None) -> subprocess.Popen[bytes]:
        log_path = tmp_path / f"worker-{len(processes)}.log"
        log = log_path.open("wb")
        env = settings_env(custom or settings)
        process = subprocess.Popen(learnstream_command("worker"), env=env, cwd=PROJECT_ROOT, stdout=log, stderr=log)
        processes.append(process)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            text = log_path.read_text(errors="replace")
            if "Worker]: Ready" in text:
                return process
            if process.poll() is not None:
                raise RuntimeError(f"worker exited with {process.returncode}:\n{text[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after 120 s:\n{log_path.read_text(errors='replace')[-3000:]}")

    yield start
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


Serve = Callable[..., tuple[subprocess.Popen[bytes], str]]


@pytest.fixture
def start_serve(tmp_path: Path) -> Iterator[Serve]:
    """Starts `learnstream serve` on a free port; waits until /health answers; stops it by pid."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(
        env: dict[str, str], wait_ready: bool = True, port: int | None = None
    ) -> tuple[subprocess.Popen[bytes], str]:
        port = port or free_port()
        log = (tmp_path / f"serve-{len(processes)}.log").open("wb")
        command = learnstream_command("serve", "--port", str(port))
        process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=log)
        processes.append(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode}: {Path(log.name).read_text()[-3000:]}")
            try:
                status = httpx.get(f"{base}/ready" if wait_ready else f"{base}/health", timeout=5).status_code
            except httpx.TransportError:
                status = 0
            if status == 200:
                return process, base
            time.sleep(0.2)
        raise RuntimeError(f"serve not ready: {Path(log.name).read_text()[-3000:]}")

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
