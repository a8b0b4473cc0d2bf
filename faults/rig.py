"""The fault rig: a local broker, the pipeline's real processes and their inputs, started, killed and restarted by
pid, and the figures that say whether a fault cost anything.

A rig owns a work directory: the broker's state (when it runs its own broker, which scenarios that stop the broker
need), the chDB directory `serve` owns, the processes' logs and data. Everything it starts it stops by pid in
`close()`. The figures come from the product's own tools: `learnstream status`'s reading of lag and dead letters
(`cli/status.gather`) and serve's exact counts by event id (`/warehouse/counts`).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from learnstream.kafka import ensure_topics, make_producer
from learnstream.settings import (
    KafkaSettings,
    LoaderSettings,
    Settings,
    TopicSettings,
    WarehouseSettings,
    WorkerSettings,
)
from learnstream.status import DeadLetterCounts, GroupLag
from warehouse.counts import EventIdCounts

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
LOCAL_KAFKA = ROOT / "deploy" / "kafka" / "local_kafka.py"
WORKER_READY = "Worker]: Ready"
#: The receivers serve runs unless a scenario gives its own connector file: a Slack Events API receiver.
SLACK_WORKSPACE = "T0FAULTS"
SLACK_SECRET = "fault-suite-signing-secret"
DEFAULT_CONNECTORS = f"""
[[connectors]]
name = "faults-slack"
type = "slack-events"
workspace = "{SLACK_WORKSPACE}"
signing_secret_env = "FAULTS_SLACK_SIGNING_SECRET"
"""
#: Keys for the pseudonyms and ids of this rig's people (a real deployment keeps its own secret).
KEYS = {
    "LEARNSTREAM_PSEUDONYM_KEY": "fault-suite-pseudonym-key-0123456789abcdef",
    "LEARNSTREAM_ID_KEY": "fault-suite-id-key-0123456789abcdef0123",
    "FAULTS_SLACK_SIGNING_SECRET": SLACK_SECRET,
}
#: How long a process may take to start, or to exit after a signal, before the rig gives up on it.
START_TIMEOUT_S = 180.0
EXIT_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def has_exited(pid: int) -> bool:
    """Whether a process is gone (a child of ours is reaped)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_gone(pid: int, timeout_s: float = EXIT_TIMEOUT_S) -> bool:
    """Wait until a process has exited; False if it is still there after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not has_exited(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Broker:
    """A single-node Kafka broker started by the project's script, on fixed ports so it can be stopped, killed and
    started again on the same storage and address."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.controller_port = free_port()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> str:
        """Start it (formatting the storage the first time); returns the bootstrap address."""
        command = [sys.executable, str(LOCAL_KAFKA), "start", "--state-dir", str(self.state_dir)]
        ports = ["--port", str(self.port), "--controller-port", str(self.controller_port)]
        done = subprocess.run([*command, *ports], capture_output=True, text=True, timeout=START_TIMEOUT_S)
        if done.returncode != 0:
            raise RuntimeError(f"the broker did not start: {done.stderr[-2000:]}")
        return self.bootstrap

    def pid(self) -> int | None:
        """The broker's pid while it runs."""
        pid_file = self.state_dir / "kafka.pid"
        if not pid_file.exists():
            return None
        pid = int(pid_file.read_text().strip())
        return None if has_exited(pid) else pid

    def signal(self, signum: signal.Signals) -> None:
        """Send a signal (SIGTERM: a controlled shutdown; SIGKILL: a crash) and wait until the broker is gone."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signum)
        if not wait_gone(pid, 120):
            raise RuntimeError(f"the broker (pid {pid}) did not exit after {signum.name}")
        (self.state_dir / "kafka.pid").unlink(missing_ok=True)

    def stop(self) -> None:
        """Stop it for good (the rig's end)."""
        command = [sys.executable, str(LOCAL_KAFKA), "stop", "--state-dir", str(self.state_dir)]
        subprocess.run(command, capture_output=True, timeout=EXIT_TIMEOUT_S * 2, check=False)
        if (pid := self.pid()) is not None:
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid)


@dataclass
class Child:
    """A process the rig started: how to start it again, and where it logs."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    ready: Callable[[Child], bool] | None = None
    process: subprocess.Popen[bytes] | None = None
    log_offset: int = 0  # where this start's lines begin in the (appended) log
    starts: int = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        """What this start of the process logged so far."""
        with self.log.open("rb") as handle:
            handle.seek(self.log_offset)
            return handle.read().decode("utf-8", "replace")

    def start(self, wait: bool = True) -> None:
        """Start it (again), logging to its log; wait until `ready` says so, if it has a readiness check."""
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=handle, stderr=handle)
        self.starts += 1
        if not wait or self.ready is None:
            return
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.ready(self):
            if not self.alive():
                raise RuntimeError(f"{self.name} exited while starting:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {START_TIMEOUT_S:.0f} s:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def signal(self, signum: signal.Signals, wait: bool = True) -> int | None:
        """Send a signal; with `wait`, wait for the exit and return its code."""
        if not self.alive():
            return self.process.returncode if self.process is not None else None
        assert self.process is not None
        self.process.send_signal(signum)
        if not wait:
            return None
        try:
            return self.process.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{self.name} (pid {self.process.pid}) did not exit after {signum.name}") from None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time (the rig's end)."""
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def learnstream_command(*args: str) -> list[str]:
    """`learnstream …` as a child process of this interpreter."""
    return [sys.executable, "-m", "cli.main", *args]


@dataclass(frozen=True)
class StreamFigures:
    """Lag of the worker's and the loader's groups, and the dead letters by reason."""

    lag: tuple[GroupLag, ...]
    dead_letters: DeadLetterCounts


@dataclass
class Recovery:
    """What the rig saw once the pipeline had caught up, or when it gave up waiting."""

    seconds: float | None  # from the end of the fault to zero lag with exact counts; None: not within the timeout
    counts: EventIdCounts | None
    dead_letters: dict[str, int] = field(default_factory=dict)
    lag: dict[str, int] = field(default_factory=dict)


class Rig:
    """A broker (its own, unless `bootstrap` names one), settings of their own (topics, groups, warehouse), and the
    processes started under them."""

    def __init__(
        self,
        work: Path,
        bootstrap: str | None = None,
        partitions: int = 3,
        label: str = "faults",
        connectors: str = DEFAULT_CONNECTORS,
    ) -> None:
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.connectors_file = work / "connectors.toml"
        self.connectors_file.write_text(connectors, encoding="utf-8")
        self.broker = Broker(work / "kafka") if bootstrap is None else None
        self.bootstrap = bootstrap if self.broker is None else self.broker.start()
        unique = f"{label}{uuid.uuid4().hex[:8]}"
        self.settings = Settings(
            data_dir=work / "data",
            clickhouse_dsn=SecretStr(f"chdb://{work / 'warehouse'}?database={unique}"),
            kafka=KafkaSettings(bootstrap_servers=self.bootstrap, connect_timeout_s=10),
            topics=TopicSettings(namespace=unique, partitions=partitions),
            worker=WorkerSettings(app_id=f"{unique}-worker", commit_interval_s=0.5, session_timeout_s=10),
            loader=LoaderSettings(group_id=f"{unique}-loader", poll_timeout_s=0.5, retry_backoff_s=1.0),
            warehouse=WarehouseSettings(retention_days=0),  # test data spans years: keep it all
        )
        ensure_topics(self.settings.kafka, self.settings.topics)
        self.serve_port = free_port()
        self.children: dict[str, Child] = {}

    # -- the environment and the processes ------------------------------------------------------------------------

    @property
    def serve_url(self) -> str:
        return f"http://127.0.0.1:{self.serve_port}"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The LEARNSTREAM_ variables that give a child process this rig's settings."""
        current = self.settings
        env = {key: value for key, value in os.environ.items() if not key.startswith("LEARNSTREAM_")}
        env.update(
            {
                "LEARNSTREAM_KAFKA__BOOTSTRAP_SERVERS": current.kafka.bootstrap_servers,
                "LEARNSTREAM_KAFKA__CONNECT_TIMEOUT_S": str(current.kafka.connect_timeout_s),
                "LEARNSTREAM_TOPICS__NAMESPACE": current.topics.namespace,
                "LEARNSTREAM_TOPICS__PARTITIONS": str(current.topics.partitions),
                "LEARNSTREAM_WORKER__APP_ID": current.worker.app_id,
                "LEARNSTREAM_WORKER__COMMIT_INTERVAL_S": str(current.worker.commit_interval_s),
                "LEARNSTREAM_WORKER__SESSION_TIMEOUT_S": str(current.worker.session_timeout_s),
                "LEARNSTREAM_LOADER__GROUP_ID": current.loader.group_id,
                "LEARNSTREAM_LOADER__POLL_TIMEOUT_S": str(current.loader.poll_timeout_s),
                "LEARNSTREAM_LOADER__RETRY_BACKOFF_S": str(current.loader.retry_backoff_s),
                # static membership, as the README advises: a restarted serve takes its loader's partitions back at
                # once instead of after the dead member's session timeout (45 s)
                "LEARNSTREAM_LOADER__INSTANCE_ID": f"{current.topics.namespace}-serve-loader",
                "LEARNSTREAM_DATA_DIR": str(current.data_dir),
                "LEARNSTREAM_CONNECTORS_FILE": str(self.connectors_file),
                **KEYS,
                "LEARNSTREAM_WAREHOUSE__RETENTION_DAYS": str(current.warehouse.retention_days),
                "LEARNSTREAM_SERVE__WAREHOUSE": "true",
                "LEARNSTREAM_PROGRESS": "never",
                # several workers may run at once: each metrics endpoint on a port of its own
                "LEARNSTREAM_METRICS__WORKER_PORT": "0",
                "LEARNSTREAM_METRICS__LOADER_PORT": "0",
                "LEARNSTREAM_METRICS__CONNECTOR_PORT": "0",
            }
        )
        if current.clickhouse_dsn is not None:
            env["LEARNSTREAM_CLICKHOUSE_DSN"] = current.clickhouse_dsn.get_secret_value()
        env.update(extra or {})
        return env

    def start(
        self,
        name: str,
        args: Iterable[str],
        ready: Callable[[Child], bool] | None = None,
        extra_env: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> Child:
        """Start `learnstream ARGS` as the process `name` (its log: `<work>/<name>.log`)."""
        if name in self.children and self.children[name].alive():
            raise RuntimeError(f"{name} is running already")
        child = Child(name, learnstream_command(*args), self.env(extra_env), self.work / f"{name}.log", ready)
        self.children[name] = child
        child.start(wait)
        return child

    def start_worker(self, name: str = "worker", extra_env: Mapping[str, str] | None = None) -> Child:
        """A faust worker, once it says it is ready."""
        return self.start(name, ["worker"], lambda child: WORKER_READY in child.output(), extra_env)

    def start_serve(self, name: str = "serve", extra_env: Mapping[str, str] | None = None, wait: bool = True) -> Child:
        """`serve` on the rig's port, owning the embedded warehouse (so it runs the loader), once `/ready` is 200."""
        return self.start(name, ["serve", "--port", str(self.serve_port)], self._serve_ready, extra_env, wait)

    def _serve_ready(self, _child: Child) -> bool:
        try:
            return httpx.get(f"{self.serve_url}/ready", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self, name: str, signum: signal.Signals = signal.SIGKILL) -> int | None:
        """Signal a process and wait until it is gone; returns its exit code."""
        return self.children[name].signal(signum)

    def restart(self, name: str, wait: bool = True) -> Child:
        """Start a stopped process again, as it was started."""
        child = self.children[name]
        if child.alive():
            raise RuntimeError(f"{name} is still running")
        child.start(wait)
        return child

    def alive(self) -> dict[str, bool]:
        """Whether each process the rig started is running."""
        return {name: child.alive() for name, child in self.children.items()}

    def close(self) -> None:
        """Stop every process the rig started, then its broker; by pid."""
        for child in self.children.values():
            child.stop()
        if self.broker is not None:
            self.broker.stop()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inputs -----------------------------------------------------------------------------------------------------

    def publish(self, lines: list[bytes], keys: list[bytes | None] | None = None) -> int:
        """Put raw records on the raw topic (as a connector would, keyed by conversation when keys are given) and
        wait until the broker acknowledged each; returns how many."""
        producer = make_producer(self.settings.kafka, "faults-input")
        try:
            futures = [
                producer.send(
                    self.settings.topics.names.activity_raw, key=None if keys is None else keys[n], value=line
                )
                for n, line in enumerate(lines)
            ]
            producer.flush()
            for future in futures:
                future.get(timeout=60)
        finally:
            producer.close()
        return len(lines)

    def feed(self, lines: list[bytes], per_second: float) -> Feeder:
        """Publish `lines` to the raw topic in the background at about `per_second`, so a fault lands mid-stream."""
        feeder = Feeder(self, lines, per_second)
        feeder.start()
        return feeder

    # -- figures ------------------------------------------------------------------------------------------------------

    def status(self) -> StreamFigures:
        """What `learnstream status` reads of the streams: the worker's and the loader's lag, the dead letters. Not
        the warehouse: with serve down, status would open chDB in this process (then serve could not restart)."""
        from cli.status import pipeline_lags, read_dead_letters, status_clients

        notes: list[str] = []
        with status_clients(self.settings, "faults-status") as (admin, reader):
            lag = pipeline_lags(self.settings, admin, reader, notes)
            dead = read_dead_letters(reader, self.settings.topics.names.activity_dlq, notes)
        return StreamFigures(lag, dead)

    def counts(self, with_ids: bool = True) -> EventIdCounts:
        """The exact counts by event id, from the serve that owns the warehouse."""
        answer = httpx.get(f"{self.serve_url}/warehouse/counts", params={"ids": str(with_ids).lower()}, timeout=120)
        answer.raise_for_status()
        return EventIdCounts.from_dict(answer.json())

    def wait_recovered(
        self, expected_ids: set[str], expected_dead: int, fault_ended: float, timeout_s: float = 300.0
    ) -> Recovery:
        """Poll until both groups have no lag, the warehouse holds exactly the expected event ids (each once), and
        at least `expected_dead` dead letters are on their topic; the seconds from `fault_ended` (a monotonic time)
        until then, or None after `timeout_s`. Either way, the last figures seen."""
        deadline = time.monotonic() + timeout_s
        seen = Recovery(None, None)
        while True:
            try:
                found = self.status()
                seen.lag = {lag.role: lag.messages for lag in found.lag}
                seen.dead_letters = dict(found.dead_letters.by_reason)
                seen.counts = self.counts(with_ids=False)
                caught_up = not any(seen.lag.values()) and all(lag.partitions for lag in found.lag)
                exact = seen.counts.event_ids == len(expected_ids) and seen.counts.stored_twice == 0
                if caught_up and exact and found.dead_letters.total >= expected_dead:
                    seen.counts = self.counts(with_ids=True)
                    if set(seen.counts.ids or ()) == expected_ids:
                        seen.seconds = time.monotonic() - fault_ended
                        return seen
            except Exception as exc:  # an outage of what is being recovered: look again
                logger.debug("not recovered yet: %s", exc)
            if time.monotonic() > deadline:
                return seen
            time.sleep(0.5)


def topic_size(rig: Rig, topic: str) -> int:
    """Records a topic holds now (the sum of its end offsets)."""
    from kafka import TopicPartition

    from learnstream.kafka import make_reader

    reader = make_reader(rig.settings.kafka, "faults-size")
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or ())]
        return sum(reader.end_offsets(partitions).values())
    finally:
        reader.close()


def wait_for_output(rig: Rig, share: float, total: int, timeout_s: float = 120.0) -> int:
    """Wait until the worker wrote `share` of `total` learning events and dead letters; returns how many."""
    names = rig.settings.topics.names
    deadline = time.monotonic() + timeout_s
    while True:
        done = topic_size(rig, names.learning_events) + topic_size(rig, names.activity_dlq)
        if done >= share * total:
            return done
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker wrote {done} of {total} records in {timeout_s:.0f} s")
        time.sleep(0.02)


class Feeder(threading.Thread):
    """Publishes lines in small chunks at a steady rate (a stream, not a backlog); `ended` is the monotonic time the
    last one was acknowledged. A send the broker refuses (it is being restarted) is tried again until it lands."""

    CHUNK_S = 0.1

    def __init__(self, rig: Rig, lines: list[bytes], per_second: float) -> None:
        super().__init__(name="faults-feeder", daemon=True)
        self.rig = rig
        self.lines = lines
        self.per_second = per_second
        self.sent = 0
        self.ended: float | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            chunk = max(1, int(self.per_second * self.CHUNK_S))
            started = time.monotonic()
            while self.sent < len(self.lines):
                part = self.lines[self.sent : self.sent + chunk]
                self._publish(part)
                self.sent += len(part)
                pause = started + self.sent / self.per_second - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            self.ended = time.monotonic()
        except BaseException as exc:  # reported by finish(): a feeder that died silently would fake a pass
            self.error = exc

    def _publish(self, part: list[bytes]) -> None:
        deadline = time.monotonic() + 300
        while True:
            try:
                self.rig.publish(part)
                return
            except Exception:  # the broker is down for the fault: as a connector, keep the records and try again
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def finish(self, timeout_s: float = 600.0) -> float:
        """Wait until every line was published; returns when the last one was (a monotonic time)."""
        self.join(timeout_s)
        if self.error is not None:
            raise RuntimeError(f"the feeder failed after {self.sent:,} lines: {self.error!r}") from self.error
        if self.ended is None:
            raise RuntimeError(f"the feeder had sent {self.sent:,} of {len(self.lines):,} lines after {timeout_s} s")
        return self.ended


def pids(children: Iterable[Child]) -> dict[str, Any]:
    """Name to pid of running children (for memory sampling)."""
    return {child.name: child.pid for child in children if child.alive()}
