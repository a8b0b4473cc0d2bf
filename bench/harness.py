"""What every benchmark shares: a local broker, settings, the run header, processes and their CPU and memory.

Benchmarks print figures against baselines measured in the same run; nothing here asserts a time.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from pydantic import SecretStr

from learnstream.kafka import ensure_topics
from learnstream.settings import KafkaSettings, LoaderSettings, Settings, TopicSettings, WorkerSettings

ROOT = Path(__file__).resolve().parent.parent
LOCAL_KAFKA = ROOT / "deploy" / "kafka" / "local_kafka.py"
LIBRARIES = (
    "kafka-python",
    "crc32c",
    "faust-streaming",
    "aiokafka",
    "mode-streaming",
    "pydantic",
    "pydantic-core",
    "clickhouse-connect",
    "chdb",
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- the run header ---------------------------------------------------------------------------------------------


def machine() -> str:
    """Cores, memory and CPU model of this machine."""
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    cores = len(os.sched_getaffinity(0))
    return (
        f"{cores} cores ({model}), {memory_kib / 1024 / 1024:.1f} GiB memory, {platform.system()} {platform.release()}"
    )


def kafka_version() -> str:
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    start = pom.index("<artifactId>kafka_2.13</artifactId>")
    tail = pom[start:]
    found = tail[tail.index("<version>") + 9 : tail.index("</version>")]
    if found.startswith("${"):  # a Maven property, such as ${kafka.version}: its value is in <properties>
        name = found[2:-1]
        found = pom[pom.index(f"<{name}>") + len(name) + 2 : pom.index(f"</{name}>")]
    return found


def print_header(title: str, settings: Settings, extra: dict[str, Any] | None = None) -> None:
    """Library versions, the settings used and the machine, above a benchmark's figures."""
    print(f"== {title}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine: {machine()}")
    print(f"python {platform.python_version()}, Apache Kafka {kafka_version()} (local, KRaft, one node)")
    print("libraries: " + ", ".join(f"{name} {version(name)}" for name in LIBRARIES))
    used = {
        "producer": settings.producer.model_dump(),
        "worker": settings.worker.model_dump(
            include={"batch_size", "batch_within_s", "producer_linger_ms", "producer_batch_bytes", "commit_interval_s"}
        ),
        "loader": settings.loader.model_dump(include={"batch_size", "max_wait_s", "poll_records"}),
        "partitioner_cache_size": settings.kafka.partitioner_cache_size,
        "partitions": settings.topics.partitions,
        **(extra or {}),
    }
    print(f"settings: {json.dumps(used, default=str)}")
    print()


# -- a broker and settings ------------------------------------------------------------------------------------------


@contextmanager
def local_broker(bootstrap: str | None = None) -> Iterator[str]:
    """A local Kafka broker started with the project's own script (stopped by pid), or the one given."""
    if bootstrap:
        yield bootstrap
        return
    state_dir = Path(tempfile.mkdtemp(prefix="learnstream-bench-kafka-"))
    command = [sys.executable, str(LOCAL_KAFKA)]
    subprocess.run([*command, "start", "--port", "0", "--state-dir", str(state_dir)], check=True, capture_output=True)
    try:
        yield (state_dir / "bootstrap").read_text().strip()
    finally:
        subprocess.run([*command, "stop", "--state-dir", str(state_dir)], check=False, capture_output=True)


def bench_settings(work: Path, bootstrap: str, partitions: int = 3, label: str = "bench") -> Settings:
    """Default settings with their own topics, groups and warehouse database, under a work directory."""
    unique = f"{label}{uuid.uuid4().hex[:8]}"
    settings = Settings(
        data_dir=work / unique,
        clickhouse_dsn=SecretStr(f"chdb://{work / 'warehouse'}?database={unique}"),
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        topics=TopicSettings(namespace=unique, partitions=partitions),
        worker=WorkerSettings(app_id=f"{unique}-worker"),
        loader=LoaderSettings(group_id=f"{unique}-loader"),
    )
    ensure_topics(settings.kafka, settings.topics)
    return settings


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process the same settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEARNSTREAM_")}
    env.update(
        LEARNSTREAM_KAFKA__BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers,
        LEARNSTREAM_TOPICS__NAMESPACE=settings.topics.namespace,
        LEARNSTREAM_TOPICS__PARTITIONS=str(settings.topics.partitions),
        LEARNSTREAM_WORKER__APP_ID=settings.worker.app_id,
        LEARNSTREAM_LOADER__GROUP_ID=settings.loader.group_id,
        LEARNSTREAM_DATA_DIR=str(settings.data_dir),
        # several workers run at once in the scale-out stage: each gets a free metrics port
        LEARNSTREAM_METRICS__WORKER_PORT="0",
        LEARNSTREAM_METRICS__LOADER_PORT="0",
        LEARNSTREAM_METRICS__CONNECTOR_PORT="0",
    )
    if settings.clickhouse_dsn is not None:
        env["LEARNSTREAM_CLICKHOUSE_DSN"] = settings.clickhouse_dsn.get_secret_value()
    for block in ("producer", "worker", "loader"):
        for name, value in getattr(settings, block).model_dump().items():
            env[f"LEARNSTREAM_{block.upper()}__{name.upper()}"] = str(value)
    return env


# -- processes ----------------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children_of(pid: int) -> list[int]:
    """The live child processes of a process."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # it ended meanwhile
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def own_cpu_seconds() -> float:
    """User plus system CPU seconds this process has used so far (its threads included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mib(pid: int) -> float:
    """Resident memory of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class RssSampler:
    """Samples the resident memory of some processes every `every_s` seconds, in a thread."""

    pids: dict[str, int]
    every_s: float = 2.0
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.every_s):
            try:
                self.samples.append((time.monotonic() - started, {n: rss_mib(p) for n, p in self.pids.items()}))
            except OSError:
                return


@contextmanager
def running(command: Sequence[str], env: dict[str, str], log: Path, ready: str | None = None) -> Iterator[Any]:
    """A child process from the project root, logging to `log`; waits for `ready` in its log; stopped by pid."""
    handle = log.open("wb")
    process = subprocess.Popen(list(command), cwd=ROOT, env=env, stdout=handle, stderr=handle)
    try:
        if ready is not None:
            deadline = time.monotonic() + 120
            while ready.encode() not in log.read_bytes():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command} did not get ready:\n{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        handle.close()


def worker_command() -> list[str]:
    return [sys.executable, "-m", "cli.main", "--log-level", "warning", "worker"]


WORKER_READY = "Worker]: Ready"


# -- topics -------------------------------------------------------------------------------------------------------


class OffsetWatch:
    """How many messages a topic holds (the sum of its end offsets), asked cheaply and often."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap)
        self.partitions = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or [])]

    def total(self) -> int:
        return sum(self.consumer.end_offsets(self.partitions).values())

    def close(self) -> None:
        self.consumer.close()


@dataclass(frozen=True)
class StageRun:
    """A stage's output curve: the rate in the middle of the run (10 % to 90 % of its output) and overall."""

    count: int
    seconds: float
    steady_per_s: float
    cpu_s: float

    @property
    def per_s(self) -> float:
        return self.count / self.seconds

    @property
    def cpu_ms_per_1000(self) -> float:
        return self.cpu_s * 1000 / (self.count / 1000)


def watch_output(
    watch: OffsetWatch, expected: int, pids: Sequence[int], timeout_s: float = 900, base: int | None = None
) -> StageRun:
    """Wait until a topic holds `expected` more messages than `base` (by default what it holds now); time it from
    its first new message, and its CPU.

    Pass `base` when the producing process may already have written before this is called (a worker starts
    processing as soon as it is ready): counted from now, those messages would never arrive and this would time out.
    """
    base = watch.total() if base is None else base
    deadline = time.monotonic() + timeout_s
    first_at = None
    cpu_at_first = 0.0
    marks: dict[float, float] = {}
    while True:
        now = time.monotonic()
        done = watch.total() - base
        if first_at is None and done > 0:
            first_at, cpu_at_first = now, sum(cpu_seconds(pid) for pid in pids)
        for share in (0.1, 0.9):
            if share not in marks and done >= share * expected:
                marks[share] = now
        if done >= expected:
            cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_at_first
            assert first_at is not None
            seconds = max(now - first_at, 1e-6)
            steady = 0.8 * expected / max(marks[0.9] - marks[0.1], 1e-6)
            return StageRun(expected, seconds, steady, cpu)
        if now > deadline:
            raise TimeoutError(f"only {done} of {expected} messages arrived in {timeout_s:.0f} s")
        time.sleep(0.05)


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline else "n/a"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_serve(env: dict[str, str], work: Path, ready_path: str) -> tuple[subprocess.Popen[bytes], str]:
    """`learnstream serve` on a free port (its log in `work`), once `ready_path` answers 200: (process, base URL).
    The caller stops it (terminate, wait)."""
    import httpx

    port = free_port()
    log_path = work / "serve.log"
    command = [sys.executable, "-m", "cli.main", "--log-level", "warning", "serve", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}{ready_path}", timeout=5).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"serve did not answer: {log_path.read_text()[-2000:]}")
