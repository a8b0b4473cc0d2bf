"""Against a real broker with a SASL_SSL listener (certificates made at test time, SCRAM users added when its
storage was formatted, ACLs enforced): the pipeline runs end to end with the right passwords, a wrong one is one
line naming the setting, and a user without an ACL is told so."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from learnstream.settings import (
    KafkaSettings,
    LoaderSettings,
    Settings,
    TopicSettings,
    WarehouseSettings,
    WorkerSettings,
)
from tests.integration.support import LOCAL_KAFKA, run_cli, sample_lines, settings_env


@dataclass(frozen=True)
class SecureBroker:
    bootstrap: str
    certificates: Path
    passwords: dict[str, str]


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A broker of the project's own script whose only client listener is SASL_SSL; stopped by pid."""
    state, certificates = tmp_path_factory.mktemp("secure-kafka"), tmp_path_factory.mktemp("secure-certs")
    command = [sys.executable, str(LOCAL_KAFKA), "start", "--port", "0", "--state-dir", str(state)]
    started = subprocess.run([*command, "--secure", str(certificates)], capture_output=True, text=True, timeout=600)
    if started.returncode != 0:
        raise RuntimeError(f"the secure broker did not start:\n{started.stdout}\n{started.stderr}")
    try:
        passwords = json.loads((certificates / "users.json").read_text())
        yield SecureBroker((state / "bootstrap").read_text().strip(), certificates, passwords)
    finally:
        subprocess.run([sys.executable, str(LOCAL_KAFKA), "stop", "--state-dir", str(state)], timeout=120)


def secured(
    broker: SecureBroker,
    tmp_path: Path,
    user: str,
    mechanism: str = "SCRAM-SHA-512",
    password: str | None = None,
    connect_timeout_s: float = 8,
) -> Settings:
    """Settings for one test on the secure broker, as `user`, with its own topics and warehouse directory."""
    unique = uuid.uuid4().hex[:10]
    return Settings(
        data_dir=tmp_path / "data",
        clickhouse_dsn=SecretStr(f"chdb://{tmp_path / 'warehouse'}?database=secure_{unique}"),
        kafka=KafkaSettings(
            bootstrap_servers=broker.bootstrap,
            connect_timeout_s=connect_timeout_s,
            security_protocol="SASL_SSL",
            sasl_mechanism=mechanism,  # type: ignore[arg-type]
            sasl_username=user,
            sasl_password=SecretStr(password if password is not None else broker.passwords[user]),
            ssl_cafile=broker.certificates / "ca.pem",
        ),
        topics=TopicSettings(namespace=f"s{unique}", partitions=3),
        worker=WorkerSettings(app_id=f"worker-{unique}", commit_interval_s=0.5, session_timeout_s=8),
        loader=LoaderSettings(group_id=f"loader-{unique}", poll_timeout_s=0.5, retry_backoff_s=0.5),
        warehouse=WarehouseSettings(retention_days=0),
    )


def as_user(base: Settings, broker: SecureBroker, user: str, mechanism: str) -> dict[str, str]:
    """The environment of a process using `base`'s topics and warehouse as another user and mechanism."""
    env = settings_env(base)
    env["LEARNSTREAM_KAFKA__SASL_USERNAME"] = user
    env["LEARNSTREAM_KAFKA__SASL_PASSWORD"] = broker.passwords[user]
    env["LEARNSTREAM_KAFKA__SASL_MECHANISM"] = mechanism
    env["LEARNSTREAM_CLICKHOUSE_DSN"] = base.clickhouse_dsn.get_secret_value() if base.clickhouse_dsn else ""
    return env


def test_connector_worker_and_loader_run_end_to_end_over_sasl_ssl(
    secure_broker: SecureBroker, start_worker, tmp_path: Path
) -> None:
    settings = secured(secure_broker, tmp_path, "admin")
    env = settings_env(settings)
    env["LEARNSTREAM_CLICKHOUSE_DSN"] = settings.clickhouse_dsn.get_secret_value()  # type: ignore[union-attr]
    created = run_cli(env, "topics", "create")
    assert created.returncode == 0, created.stderr
    lines = sample_lines(20)
    sample = tmp_path / "sample.jsonl"
    sample.write_bytes(b"\n".join(lines) + b"\n")
    start_worker(settings)  # SCRAM-SHA-512 through faust and aiokafka
    replayed = run_cli(as_user(settings, secure_broker, "admin", "PLAIN"), "replay", str(sample))
    assert replayed.returncode == 0, replayed.stderr
    assert f"replayed {len(lines)} records" in replayed.stdout
    loaded = run_cli(as_user(settings, secure_broker, "admin", "SCRAM-SHA-256"), "loader", "--exit-when-idle", "4")
    assert loaded.returncode == 0, loaded.stderr
    assert f"loaded {len(lines)} learning events" in loaded.stdout


@pytest.mark.parametrize("command", [("topics", "create"), ("replay", "{sample}"), ("worker",), ("loader",)])
def test_a_wrong_password_is_one_line_naming_the_setting(
    secure_broker: SecureBroker, tmp_path: Path, command: tuple[str, ...]
) -> None:
    wrong = "not-the-password-" + uuid.uuid4().hex[:8]
    settings = secured(secure_broker, tmp_path, "alice", password=wrong, connect_timeout_s=3)  # it gives up sooner
    sample = tmp_path / "sample.jsonl"
    sample.write_bytes(b"\n".join(sample_lines(3)) + b"\n")
    result = run_cli(settings_env(settings), *(part.format(sample=sample) for part in command), timeout=120)
    assert result.returncode == 2, (result.stdout, result.stderr)
    [error] = one_error_line(result.stderr)
    assert "'alice'" in error and "LEARNSTREAM_KAFKA__SASL_PASSWORD" in error
    assert wrong not in result.stderr + result.stdout


def test_a_user_without_an_acl_is_told_it_lacks_one(secure_broker: SecureBroker, tmp_path: Path) -> None:
    settings = secured(secure_broker, tmp_path, "admin")
    assert run_cli(settings_env(settings), "topics", "create").returncode == 0
    result = run_cli(as_user(settings, secure_broker, "bob", "SCRAM-SHA-512"), "loader", "--exit-when-idle", "2")
    assert result.returncode == 2, (result.stdout, result.stderr)
    [error] = one_error_line(result.stderr)
    assert "denied the user 'bob'" in error and "ACL" in error


def one_error_line(stderr: str) -> list[str]:
    """The error lines of a command's stderr, once it is checked to hold no traceback and nothing a Kafka client
    logged (its retries); our own info lines may come before the error."""
    assert "Traceback" not in stderr, stderr
    assert not any(" kafka." in line or " aiokafka" in line for line in stderr.splitlines()), stderr
    return [line for line in stderr.splitlines() if line.startswith("learnstream: error:")]
