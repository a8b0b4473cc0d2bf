"""Misconfiguration ends the command with a clear message naming the setting, not a traceback."""

from __future__ import annotations

import os
import socket

from tests.integration.support import run_cli


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("LEARNSTREAM_")}


def test_bad_dsn_names_the_setting(tmp_path) -> None:
    env = {
        **base_env(),
        "LEARNSTREAM_CLICKHOUSE_DSN": "mysql://db.example:3306/x",
        "LEARNSTREAM_DATA_DIR": str(tmp_path),
    }
    for command in (("warehouse", "migrate"), ("trends",)):
        result = run_cli(env, *command)
        assert result.returncode == 2
        assert "LEARNSTREAM_CLICKHOUSE_DSN" in result.stderr
        assert "Traceback" not in result.stderr


def test_unreachable_warehouse_server_names_the_setting(tmp_path) -> None:
    env = {
        **base_env(),
        "LEARNSTREAM_CLICKHOUSE_DSN": f"http://default:secret@127.0.0.1:{closed_port()}/learnstream",
        "LEARNSTREAM_DATA_DIR": str(tmp_path),
    }
    result = run_cli(env, "warehouse", "migrate")
    assert result.returncode == 3
    assert "LEARNSTREAM_CLICKHOUSE_DSN" in result.stderr
    assert "secret" not in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_broker_names_the_setting(tmp_path) -> None:
    env = {
        **base_env(),
        "LEARNSTREAM_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}",
        "LEARNSTREAM_KAFKA__CONNECT_TIMEOUT_S": "2",
        "LEARNSTREAM_DATA_DIR": str(tmp_path),
    }
    for command in (("topics", "create"), ("worker",)):
        result = run_cli(env, *command, timeout=60)
        assert result.returncode == 3, result.stderr
        assert "LEARNSTREAM_KAFKA__BOOTSTRAP_SERVERS" in result.stderr
        assert "Traceback" not in result.stderr


def test_invalid_setting_value_names_the_variable(tmp_path) -> None:
    env = {**base_env(), "LEARNSTREAM_LOADER__BATCH_SIZE": "lots", "LEARNSTREAM_DATA_DIR": str(tmp_path)}
    result = run_cli(env, "trends")
    assert result.returncode == 2
    assert "LEARNSTREAM_LOADER__BATCH_SIZE" in result.stderr
    assert "Traceback" not in result.stderr
