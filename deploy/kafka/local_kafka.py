"""Run a real single-node Apache Kafka broker (KRaft, broker+controller) on 127.0.0.1 for local runs and tests.

    python deploy/kafka/local_kafka.py fetch                 # resolve the jars from Maven Central (once)
    python deploy/kafka/local_kafka.py start [--port 9092]   # format storage, start, wait for metadata
    python deploy/kafka/local_kafka.py stop                  # stop the broker this state dir started, by pid
    python deploy/kafka/local_kafka.py status
    python deploy/kafka/local_kafka.py start --port 0 --secure DIR  # a SASL_SSL listener instead, see below

The jars come from `pom.xml` beside this file through `mvn dependency:copy-dependencies` into a git-ignored
cache (`.cache/kafka/` at the project root); a second fetch finds the cache complete and downloads nothing.
Broker state, logs, the pid file and `ports.json` live in the state directory (`--state-dir`, default
`.cache/kafka/run`).

With `--secure DIR` the client listener speaks SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with ACLs enforced, for
tests of secured clients. DIR receives, made with openssl when it holds none: `ca.pem` (trust this), the broker's
certificate for IP:127.0.0.1 and DNS:localhost, and `client.pem`/`client.key` for mutual TLS; and `users.json` with
the passwords of `admin` (a super user), `alice` and `bob` (`--password NAME=SECRET` sets one). Such a broker also
has an INTERNAL plaintext listener on another port whose anonymous principal is a super user: it carries
inter-broker traffic and the start-up probe, which is acceptable for this local test broker only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

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
{listeners}log.dirs={log_dirs}
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

PLAINTEXT_LISTENERS = """\
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
"""

# INTERNAL is plaintext and its principal, User:ANONYMOUS, is a super user, so that inter-broker traffic and the
# start-up probe need no credentials: acceptable for a local test broker on 127.0.0.1, never anywhere else.
SECURE_LISTENERS = """\
listeners=SASL_SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal_port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=SASL_SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=INTERNAL
listener.security.protocol.map=SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
{plain_users};
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location={secure_dir}/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location={secure_dir}/ca.pem
listener.name.sasl_ssl.ssl.client.auth=requested
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:ANONYMOUS
"""

SECURE_USERS = ("admin", "alice", "bob")
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
# Passwords go unquoted into a JAAS line and StorageTool's `--add-scram` syntax, so neither's delimiters are allowed.
PASSWORD = re.compile(r"[A-Za-z0-9._~+@%-]+")
CERTIFICATE_FILES = ("ca.pem", "ca.key", "broker.pem", "broker.key", "client.pem", "client.key")
CERTIFICATES = {  # name: (subject, x509v3 extensions); strict enough for Python's and Java's verifiers
    "ca": (
        "/CN=learnstream-local-test-CA",
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n",
    ),
    "broker": (
        "/CN=localhost",
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n",
    ),
    "client": (
        "/CN=learnstream-test-client",
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n",
    ),
}


class LocalKafkaError(Exception):
    """The local broker could not be fetched, started or stopped; the message says what to do."""


class LocalBroker(NamedTuple):
    """A started broker: its pid and ports; for a secure one the internal port and the DIR of certificates and users.

    A NamedTuple, not a dataclass: tests load this script by path, outside sys.modules, which dataclasses need."""

    pid: int
    port: int
    controller_port: int
    internal_port: int | None
    secure_dir: Path | None
    users: Mapping[str, str]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


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


def has_exited(pid: int) -> bool:
    """Whether the process is gone; one this process started through the Python API is reaped, not left a zombie."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:  # not our child: started by the command line, whose parent has exited
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def read_pid(state_dir: Path) -> int | None:
    pid_file = state_dir / "kafka.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().strip())
    if has_exited(pid):
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


def openssl(work: Path, *args: str) -> None:
    try:
        subprocess.run(["openssl", *args], cwd=work, check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise LocalKafkaError("openssl is not on PATH: install it to create the test certificates") from exc
    except subprocess.CalledProcessError as exc:
        raise LocalKafkaError(f"openssl {args[0]} failed creating the test certificates: {exc.stderr.strip()}") from exc


def issue_certificate(work: Path, name: str, subject: str, extensions: str) -> None:
    """Write name.key and name.pem in work: self-signed for the CA, signed by work's ca.pem otherwise."""
    (work / f"{name}.ext").write_text(extensions)
    signer = "-signkey ca.key" if name == "ca" else "-CA ca.pem -CAkey ca.key"
    serial = f"0x{secrets.token_hex(8)}"
    openssl(work, *f"genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out {name}.key".split())
    openssl(work, *f"req -new -config req.cnf -key {name}.key -subj {subject} -out {name}.csr".split())
    sign = f"x509 -req -in {name}.csr {signer} -sha256 -days 3650 -set_serial {serial}"
    openssl(work, *sign.split(), "-extfile", f"{name}.ext", "-out", f"{name}.pem")


def ensure_certificates(secure_dir: Path) -> None:
    """Create a CA and the broker's and a client's keys and certificates in secure_dir, unless all are there.

    Keys are unencrypted PKCS#8 (what genpkey writes), which Kafka reads as a PEM keystore: no keytool, no JKS."""
    present = [name for name in CERTIFICATE_FILES if (secure_dir / name).exists()]
    if present and len(present) < len(CERTIFICATE_FILES):
        raise LocalKafkaError(
            f"{secure_dir} holds only some of {', '.join(CERTIFICATE_FILES)}; empty it or choose another --secure DIR"
        )
    secure_dir.mkdir(parents=True, exist_ok=True)
    if not present:
        with tempfile.TemporaryDirectory(dir=secure_dir) as tmp:  # a failed run leaves no half-made set behind
            work = Path(tmp)
            (work / "req.cnf").write_text("[req]\ndistinguished_name = dn\n[dn]\n")
            for name, (subject, extensions) in CERTIFICATES.items():
                issue_certificate(work, name, subject, extensions)
            for name in CERTIFICATE_FILES:
                (work / name).chmod(0o600 if name.endswith(".key") else 0o644)
                (work / name).replace(secure_dir / name)
    keystore = secure_dir / "broker-keystore.pem"  # key and chain in one file, as Kafka's PEM keystore wants them
    keystore.touch(mode=0o600)
    keystore.write_text("".join((secure_dir / name).read_text() for name in ("broker.key", "broker.pem", "ca.pem")))


def choose_passwords(secure_dir: Path, passwords: Mapping[str, str]) -> dict[str, str]:
    """The users' passwords: given ones first, then those in secure_dir/users.json, else new random ones."""
    unknown = sorted(set(passwords) - set(SECURE_USERS))
    if unknown:
        raise LocalKafkaError(f"no such user {', '.join(unknown)}: the secure broker knows {', '.join(SECURE_USERS)}")
    users_file = secure_dir / "users.json"
    try:
        stored = json.loads(users_file.read_text()) if users_file.exists() else {}
    except json.JSONDecodeError as exc:
        raise LocalKafkaError(f"{users_file} is not JSON ({exc}); fix or delete it") from exc
    if not isinstance(stored, dict):
        raise LocalKafkaError(f"{users_file} is not a JSON object of user name to password; fix or delete it")
    users = {name: passwords.get(name) or stored.get(name) or secrets.token_urlsafe(12) for name in SECURE_USERS}
    for name, password in users.items():
        if not isinstance(password, str) or not PASSWORD.fullmatch(password):
            raise LocalKafkaError(
                f"the password of {name} (from the options or {users_file}) may only hold letters, digits and ._~+@%-"
            )
    return users


def save_passwords(secure_dir: Path, users: Mapping[str, str]) -> None:
    """Write users.json for tests to read, readable by its owner only."""
    users_file = secure_dir / "users.json"
    users_file.touch(mode=0o600)
    users_file.write_text(json.dumps(users, indent=2) + "\n")


def scram_arguments(users: Mapping[str, str]) -> list[str]:
    """StorageTool's `--add-scram` arguments: every user under every SCRAM mechanism."""
    return [
        argument
        for name, password in users.items()
        for mechanism in SCRAM_MECHANISMS
        for argument in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
    ]


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
        if has_exited(pid):
            raise LocalKafkaError(f"the broker exited during start-up; see {log_file}")
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


def start(
    state_dir: Path,
    port: int,
    controller_port: int,
    timeout: float,
    secure_dir: Path | None = None,
    internal_port: int = 0,
    passwords: Mapping[str, str] | None = None,
) -> LocalBroker:
    """Format KRaft storage if new, start the broker detached, and wait until it answers metadata requests.

    A port of 0 picks a free one. With secure_dir the client port speaks SASL_SSL and the probe uses the internal
    plaintext port; passwords (by user name) override those in secure_dir/users.json."""
    existing = read_pid(state_dir)
    if existing is not None:
        raise LocalKafkaError(f"a broker started from {state_dir} is already running (pid {existing}); stop it first")
    lib = fetch()
    port = port or free_port()
    controller_port = controller_port or free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    log_file = state_dir / "server.log"
    (state_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES.format(log_file=log_file))
    users: dict[str, str] = {}
    format_arguments: list[str] = []
    if secure_dir is None:
        listeners = PLAINTEXT_LISTENERS.format(port=port, controller_port=controller_port)
        probe_port, internal = port, None
    else:
        secure_dir = secure_dir.resolve()
        users = choose_passwords(secure_dir, passwords or {})
        ensure_certificates(secure_dir)
        internal = internal_port or free_port()
        plain_users = " ".join(f'user_{name}="{password}"' for name, password in users.items())
        listeners = SECURE_LISTENERS.format(
            port=port,
            internal_port=internal,
            controller_port=controller_port,
            plain_users=plain_users,
            secure_dir=secure_dir,
        )
        probe_port = internal
        format_arguments = scram_arguments(users)
    properties = state_dir / "server.properties"
    properties.write_text(
        SERVER_PROPERTIES.format(controller_port=controller_port, listeners=listeners, log_dirs=state_dir / "data")
    )
    format_storage(lib, state_dir, properties, format_arguments)
    if secure_dir is not None:  # only now: a start refused for changed passwords must not record them
        save_passwords(secure_dir, users)
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
    ports = {"port": port, "controller_port": controller_port, "internal_port": internal}
    (state_dir / "ports.json").write_text(json.dumps(ports) + "\n")
    try:
        wait_for_metadata(probe_port, process.pid, log_file, timeout)
    except LocalKafkaError:
        stop(state_dir)
        raise
    return LocalBroker(process.pid, port, controller_port, internal, secure_dir, users)


def format_storage(lib: Path, state_dir: Path, properties: Path, scram: list[str]) -> None:
    """Format KRaft storage once; SCRAM users can only be added then, so a changed set needs a fresh state dir."""
    fingerprint_file = state_dir / "scram-users.sha256"  # absent: formatted without SCRAM users
    fingerprint = hashlib.sha256("\0".join(scram).encode()).hexdigest() if scram else ""
    if (state_dir / "data" / "meta.properties").exists():
        formatted_with = fingerprint_file.read_text().strip() if fingerprint_file.exists() else ""
        if scram and formatted_with != fingerprint:
            raise LocalKafkaError(
                f"the storage in {state_dir / 'data'} was formatted without these SCRAM users or passwords; "
                "use a fresh --state-dir (or delete it) to start a secure broker with them"
            )
        return
    command = ["format", "-t", cluster_id(), "-c", str(properties), "--ignore-formatted", *scram]
    try:
        subprocess.run(
            java_command(lib, state_dir, "kafka.tools.StorageTool", *command), check=True, stdout=subprocess.DEVNULL
        )
    except subprocess.CalledProcessError as exc:  # not the command line: it may hold passwords
        raise LocalKafkaError(f"formatting the storage in {state_dir / 'data'} failed (exit {exc.returncode})") from exc
    if scram:
        fingerprint_file.write_text(fingerprint + "\n")


def stop(state_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the broker recorded in the state dir's pid file: SIGTERM, then SIGKILL after the timeout."""
    pid = read_pid(state_dir)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if has_exited(pid):
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    (state_dir / "kafka.pid").unlink(missing_ok=True)
    return True


def parse_passwords(options: list[str]) -> dict[str, str]:
    """`--password NAME=SECRET` options as a mapping of user name to password."""
    passwords = {}
    for option in options:
        name, _, password = option.partition("=")
        if not name or not password:
            raise LocalKafkaError(f"--password {option!r} is not NAME=SECRET, e.g. --password alice=alice-secret")
        passwords[name] = password
    return passwords


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
    parser.add_argument(
        "--secure",
        type=Path,
        metavar="DIR",
        help="a SASL_SSL listener with ACLs instead of PLAINTEXT; certificates and users.json in DIR",
    )
    parser.add_argument(
        "--internal-port", type=int, default=0, help="with --secure: the internal plaintext port (0 picks a free one)"
    )
    parser.add_argument(
        "--password",
        action="append",
        default=[],
        metavar="NAME=SECRET",
        help=f"with --secure: the password of one of {', '.join(SECURE_USERS)} (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            fetch()
        elif args.command == "start":
            passwords = parse_passwords(args.password)
            started = time.monotonic()
            broker = start(
                args.state_dir.resolve(),
                args.port,
                args.controller_port,
                args.timeout,
                secure_dir=args.secure,
                internal_port=args.internal_port,
                passwords=passwords,
            )
            elapsed = time.monotonic() - started
            if broker.secure_dir is None:
                print(
                    f"kafka: started pid {broker.pid} on {broker.bootstrap} in {elapsed:.1f}s "
                    f"(logs in {args.state_dir / 'server.log'})"
                )
            else:
                print(
                    f"kafka: started pid {broker.pid} in {elapsed:.1f}s: SASL_SSL on {broker.bootstrap}, "
                    f"internal plaintext on 127.0.0.1:{broker.internal_port} (ports in {args.state_dir / 'ports.json'}"
                    f"; ca.pem and users.json in {broker.secure_dir}; logs in {args.state_dir / 'server.log'})"
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
