"""Connector cursors on the compacted `<ns>.connector.state` topic of the real broker."""

from __future__ import annotations

import pytest

from learnstream.errors import ConnectorError
from learnstream.kafka import make_producer
from learnstream.settings import Settings
from producers.cursors import KafkaCursorStore
from producers.file_replay import ByteOffset, FileReplay
from producers.runtime import run_connector
from tests.integration.support import run_cli, sample_lines, settings_env, topic_size


def test_a_cursor_saved_on_one_machine_is_loaded_on_another_and_the_last_save_wins(settings: Settings):
    topic = settings.topics.names.connector_state
    here = KafkaCursorStore(settings.kafka, topic)
    try:
        assert here.load("slack-acme") is None
        here.save("slack-acme", "1700000000.000100")
        here.save("wiki-en", "rc:42")
        here.save("slack-acme", "1700000050.000200")
        assert here.load("slack-acme") == "1700000050.000200"
    finally:
        here.close()
    elsewhere = KafkaCursorStore(settings.kafka, topic)  # a new process reading the topic from the start
    assert elsewhere.load("slack-acme") == "1700000050.000200"
    assert elsewhere.load("wiki-en") == "rc:42"
    assert elsewhere.load("never-ran") is None


def test_a_connector_resumes_from_its_cursor_on_the_topic(settings: Settings, tmp_path):
    path = tmp_path / "activities.jsonl"
    lines = sample_lines(130)
    path.write_bytes(b"\n".join(lines[:120]) + b"\n")
    raw = settings.topics.names.activity_raw
    producer = make_producer(settings.kafka, "test-kafka-cursors")
    try:
        first = KafkaCursorStore(settings.kafka, settings.topics.names.connector_state)
        assert run_connector(FileReplay(path, batch_size=50), producer, raw, first).records == 120
        first.close()
        with path.open("ab") as handle:
            handle.write(b"\n".join(lines[120:]) + b"\n")
        second = KafkaCursorStore(settings.kafka, settings.topics.names.connector_state)
        assert run_connector(FileReplay(path, batch_size=50), producer, raw, second).records == 10
        second.close()
    finally:
        producer.close()
    assert topic_size(settings.kafka.bootstrap_servers, raw) == 130


def test_a_missing_cursor_topic_is_a_clear_error(settings: Settings):
    with pytest.raises(ConnectorError, match="does not exist: run `learnstream topics create`"):
        KafkaCursorStore(settings.kafka, "no-such-topic-here", timeout_s=5).load("anything")


def test_replay_keeps_its_cursor_on_the_topic_when_told_to(settings: Settings, tmp_path):
    path = tmp_path / "activities.jsonl"
    path.write_bytes(b"\n".join(sample_lines(30)) + b"\n")
    env = {**settings_env(settings), "LEARNSTREAM_CURSOR_STORE": "kafka"}
    first = run_cli(env, "replay", str(path))
    assert first.returncode == 0, first.stderr
    assert "replayed 30 records" in first.stdout
    env["LEARNSTREAM_DATA_DIR"] = str(tmp_path / "another-machine")  # no local state: the cursor is on the topic
    second = run_cli(env, "replay", str(path))
    assert second.returncode == 0, second.stderr
    assert "replayed 0 records" in second.stdout
    assert not (tmp_path / "another-machine" / "cursors").exists()
    store = KafkaCursorStore(settings.kafka, settings.topics.names.connector_state)
    assert store.load(FileReplay(path).name) == ByteOffset(offset=path.stat().st_size).to_text()
