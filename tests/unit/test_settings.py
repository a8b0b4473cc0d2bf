"""Settings from LEARNSTREAM_ variables, nested blocks with `__`, and errors that name the variable."""

from __future__ import annotations

import os

import pytest
from pydantic import SecretStr

from learnstream.errors import ConfigError
from learnstream.settings import (
    DEVELOPMENT_PSEUDONYM_KEY,
    MIN_KEY_LENGTH,
    Settings,
    load_settings,
    require_secret_keys,
)
from warehouse.dsn import parse_dsn


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No LEARNSTREAM_ variable of the machine running the tests leaks in; relative paths resolve in tmp_path."""
    for name in list(os.environ):
        if name.upper().startswith("LEARNSTREAM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults():
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.topics.partitions == 3
    assert settings.topics.names.activity_raw == "learnstream.activity.raw"
    assert settings.loader.batch_size == 20_000
    assert settings.loader.max_wait_s == 1.0
    assert settings.producer.linger_ms == 20 and settings.producer.compression == "lz4"
    assert settings.worker.batch_size == 1000
    assert settings.pseudonym_key.get_secret_value() == DEVELOPMENT_PSEUDONYM_KEY


def test_reads_top_level_and_nested_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("LEARNSTREAM_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LEARNSTREAM_KAFKA__BOOTSTRAP_SERVERS", "broker-1:9093,broker-2:9093")
    monkeypatch.setenv("LEARNSTREAM_TOPICS__NAMESPACE", "test-ns")
    monkeypatch.setenv("LEARNSTREAM_TOPICS__PARTITIONS", "6")
    monkeypatch.setenv("LEARNSTREAM_LOADER__BATCH_SIZE", "250")
    monkeypatch.setenv("LEARNSTREAM_PSEUDONYM_KEY", "a-real-secret")
    settings = load_settings()
    assert settings.data_dir == tmp_path / "state"
    assert settings.kafka.bootstrap_servers == "broker-1:9093,broker-2:9093"
    assert settings.topics.partitions == 6
    assert settings.topics.names.learning_events == "test-ns.learning.events"
    assert settings.loader.batch_size == 250
    assert settings.pseudonym_key.get_secret_value() == "a-real-secret"
    assert "a-real-secret" not in repr(settings)


def test_default_warehouse_is_embedded_under_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LEARNSTREAM_DATA_DIR", str(tmp_path / "state"))
    settings = load_settings()
    assert settings.warehouse_dsn == f"chdb://{(tmp_path / 'state' / 'warehouse').resolve()}"
    assert parse_dsn(settings.warehouse_dsn).path == (tmp_path / "state" / "warehouse").resolve()


def test_default_data_dir_is_resolved_to_an_absolute_path(tmp_path):
    settings = load_settings()
    assert settings.warehouse_dsn == f"chdb://{tmp_path.resolve() / 'var' / 'warehouse'}"
    assert parse_dsn(settings.warehouse_dsn).engine == "chdb"


def test_configured_dsn_wins_and_stays_secret(monkeypatch):
    monkeypatch.setenv("LEARNSTREAM_CLICKHOUSE_DSN", "http://loader:s3cret@ch:8123/events")
    settings = load_settings()
    assert settings.warehouse_dsn == "http://loader:s3cret@ch:8123/events"
    assert "s3cret" not in repr(settings)


def test_invalid_nested_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("LEARNSTREAM_TOPICS__PARTITIONS", "zero")
    with pytest.raises(ConfigError, match="LEARNSTREAM_TOPICS__PARTITIONS") as caught:
        load_settings()
    assert caught.value.exit_code == 2


def test_out_of_range_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("LEARNSTREAM_LOADER__BATCH_SIZE", "0")
    with pytest.raises(ConfigError, match="LEARNSTREAM_LOADER__BATCH_SIZE"):
        load_settings()


def test_unknown_variables_are_ignored(monkeypatch):
    monkeypatch.setenv("LEARNSTREAM_NOT_A_SETTING", "whatever")
    assert load_settings().topics.namespace == "learnstream"


STRONG = "k" * MIN_KEY_LENGTH


@pytest.mark.parametrize(
    ("pseudonym_key", "id_key", "named", "why"),
    [
        (None, STRONG, "LEARNSTREAM_PSEUDONYM_KEY", "development key"),
        (STRONG, None, "LEARNSTREAM_ID_KEY", "development key"),
        ("short", STRONG, "LEARNSTREAM_PSEUDONYM_KEY", "too short"),
    ],
)
def test_real_sources_refuse_the_development_or_a_short_key(pseudonym_key, id_key, named, why):
    keys = {name: SecretStr(value) for name, value in (("pseudonym_key", pseudonym_key), ("id_key", id_key)) if value}
    with pytest.raises(ConfigError, match=f"{named} .*{why}"):
        require_secret_keys(Settings(**keys))


def test_strong_keys_or_an_explicit_development_flag_pass():
    require_secret_keys(Settings(pseudonym_key=SecretStr(STRONG), id_key=SecretStr(STRONG + "x")))  # env is clean
    require_secret_keys(Settings(development=True))


def test_the_development_flag_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("LEARNSTREAM_DEVELOPMENT", "true")
    require_secret_keys(load_settings())
    monkeypatch.setenv("LEARNSTREAM_DEVELOPMENT", "false")
    with pytest.raises(ConfigError, match="LEARNSTREAM_PSEUDONYM_KEY is not set"):
        require_secret_keys(load_settings())


def test_the_loader_joins_its_group_with_static_membership_when_it_has_an_instance_id(monkeypatch):
    from learnstream.kafka import loader_membership

    assert loader_membership(Settings().loader) == {"session_timeout_ms": 45_000}
    monkeypatch.setenv("LEARNSTREAM_LOADER__INSTANCE_ID", "loader-pod-0")
    monkeypatch.setenv("LEARNSTREAM_LOADER__SESSION_TIMEOUT_S", "20")
    assert loader_membership(load_settings().loader) == {
        "session_timeout_ms": 20_000,
        "group_instance_id": "loader-pod-0",
    }
