"""Run a real single-node Apache Kafka broker (KRaft, broker+controller) on 127.0.0.1 for local runs and tests.

    python deploy/kafka/local_kafka.py fetch                 # resolve the jars from Maven Central (once)
    python deploy/kafka/local_kafka.py start [--port 9092]   # format storage, start, wait for metadata
    python deploy/kafka/local_kafka.py stop                  # stop the broker this state dir started, by pid
    python deploy/kafka/local_kafka.py status

The jars come from `pom.xml` beside this file through `mvn dependency:copy-dependencies` into a git-ignored
cache (`.cache/kafka/` at the project root); a second fetch finds the cache complete and downloads nothing.
Broker state, logs and the pid file live in the state directory (`--state-dir`, default `.cache/kafka/run`).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent.parent
POM = HERE / "pom.xml"
CACHE = PROJECT_ROOT / ".cache" / "kafka"
DEFAULT_STATE_DIR = CACHE / "run"

LOG4J2_PROPERTIES = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={log_dirs}
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
"""


class LocalKafkaError(Exception):
    """The local broker could not be fetched, started or stopped; the message says what to do."""


def pom_digest() -> str:
    """A short digest of pom.xml, so a changed pom resolves into a fresh cache folder."""
    return hashlib.sha256(POM.read_bytes()).hexdigest()[:12]


def lib_dir() -> Path:
    return CACHE / f"lib-{pom_digest()}"


def fetch() -> Path:
    """Resolve the broker jars into the cache with Maven, unless a complete copy is already there."""
    target = lib_dir()
    complete = target / ".complete"
    if complete.exists():
        print(f"kafka jars: cached in {target}")
        return target
    print(f"kafka jars: resolving {POM.name} from Maven Central into {target}")
    partial = target.with_name(target.name + ".partial")
    command = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(POM),
        f"-Dmaven.repo.local={CACHE / 'm2'}",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={partial}",
    ]
    try:
        subprocess.run(command, check=True)
    except FileNotFoundError as exc:
        raise LocalKafkaError("mvn is not on PATH: install Maven (3.8+) to resolve the Kafka jars") from exc
    except subprocess.CalledProcessError as exc:
        raise LocalKafkaError(f"mvn failed with exit code {exc.returncode} resolving {POM}") from exc
    if target.exists():
        for stale in target.iterdir():
            stale.unlink()
        target.rmdir()
    partial.rename(target)
    complete.write_text("ok\n")
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_pid(state_dir: Path) -> int | None:
    pid_file = state_dir / "kafka.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().strip())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pid_file.unlink()
        return None
    return pid


def cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (what StorageTool random-uuid prints).

    Like Kafka's own Uuid.randomUuid, never one starting with "-": StorageTool would read it as an option and refuse
    to format (one start in 64 failed so before)."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not candidate.startswith("-"):
            return candidate


def java_command(lib: Path, state_dir: Path, main_class: str, *args: str) -> list[str]:
    return [
        "java",
        "-Xms256m",
        "-Xmx768m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={state_dir / 'log4j2.properties'}",
        "-cp",
        f"{lib}/*",
        main_class,
        *args,
    ]


def wait_for_metadata(port: int, pid: int, log_file: Path, timeout: float) -> None:
    """Poll until a metadata request to the broker succeeds, or fail if the broker died or timed out."""
    from kafka import KafkaAdminClient  # imported late: `fetch` must work without kafka-python
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError as exc:
            raise LocalKafkaError(f"the broker exited during start-up; see {log_file}") from exc
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=f"127.0.0.1:{port}", client_id="local-kafka-probe", request_timeout_ms=3000
            )
            try:
                admin.describe_cluster()
            finally:
                admin.close()
            return
        except (KafkaError, OSError) as exc:
            last_error = repr(exc)
            time.sleep(0.5)
    raise LocalKafkaError(
        f"the broker did not answer a metadata request within {timeout:.0f}s ({last_error}); see {log_file}"
    )


def start(state_dir: Path, port: int, controller_port: int, timeout: float) -> int:
    """Format KRaft storage if new, start the broker detached, and wait until it answers metadata requests."""
    existing = read_pid(state_dir)
    if existing is not None:
        raise LocalKafkaError(f"a broker started from {state_dir} is already running (pid {existing}); stop it first")
    lib = fetch()
    state_dir.mkdir(parents=True, exist_ok=True)
    log_file = state_dir / "server.log"
    (state_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES.format(log_file=log_file))
    properties = state_dir / "server.properties"
    properties.write_text(
        SERVER_PROPERTIES.format(port=port, controller_port=controller_port, log_dirs=state_dir / "data")
    )
    if not (state_dir / "data" / "meta.properties").exists():
        subprocess.run(
            java_command(
                lib,
                state_dir,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id(),
                "-c",
                str(properties),
                "--ignore-formatted",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    with (state_dir / "stdout.log").open("ab") as out:
        process = subprocess.Popen(
            java_command(lib, state_dir, "kafka.Kafka", str(properties)),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (state_dir / "kafka.pid").write_text(f"{process.pid}\n")
    (state_dir / "bootstrap").write_text(f"127.0.0.1:{port}\n")
    try:
        wait_for_metadata(port, process.pid, log_file, timeout)
    except LocalKafkaError:
        stop(state_dir)
        raise
    return process.pid


def stop(state_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the broker recorded in the state dir's pid file: SIGTERM, then SIGKILL after the timeout."""
    pid = read_pid(state_dir)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    (state_dir / "kafka.pid").unlink(missing_ok=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["fetch", "start", "stop", "status"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("LEARNSTREAM_LOCAL_KAFKA_PORT", "9092")),
        help="client port (0 picks a free one); env LEARNSTREAM_LOCAL_KAFKA_PORT",
    )
    parser.add_argument("--controller-port", type=int, default=0, help="KRaft controller port (0 picks a free one)")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the broker to answer")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            fetch()
        elif args.command == "start":
            port = args.port or free_port()
            controller_port = args.controller_port or free_port()
            started = time.monotonic()
            pid = start(args.state_dir.resolve(), port, controller_port, args.timeout)
            print(
                f"kafka: started pid {pid} on 127.0.0.1:{port} in {time.monotonic() - started:.1f}s "
                f"(logs in {args.state_dir / 'server.log'})"
            )
        elif args.command == "stop":
            print("kafka: stopped" if stop(args.state_dir.resolve()) else "kafka: not running")
        else:
            pid = read_pid(args.state_dir.resolve())
            print(f"kafka: running, pid {pid}" if pid else "kafka: not running")
            return 0 if pid else 1
    except LocalKafkaError as exc:
        print(f"local kafka: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
