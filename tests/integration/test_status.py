"""`learnstream status` on the real broker, worker, loader and chDB: lag that follows the worker and the loader,
the exit code that follows the verdict, a connector's failed poll recorded on the state topic, and the warehouse
read through the serve that owns it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from learnstream.kafka import make_producer
from learnstream.settings import Settings
from learnstream.status import health_reporter
from producers.cursors import KafkaCursorStore
from tests.integration.support import committed_offsets, run_cli, sample_lines, settings_env
from tests.integration.test_serve import serve_env

N = 24
BAD = [b"{ not json", b'{"schema_version": 1, "source": "slack"}']


def status_env(settings: Settings, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test's settings, with a chDB directory of the CLI processes' own (this process holds the session's)."""
    return {
        **settings_env(settings),
        "LEARNSTREAM_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'status-warehouse'}",
        **extra,
    }


def status_json(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    result = run_cli(env, "status", "--json", timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def group(document: dict[str, Any], role: str) -> dict[str, Any]:
    (found,) = [entry for entry in document["lag"] if entry["role"] == role]
    return found


def test_lag_follows_the_worker_and_the_loader_and_sets_the_exit_code(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    began = time.time()
    env = status_env(settings, tmp_path, LEARNSTREAM_STATUS__MAX_LAG_MESSAGES=str(N))
    assert run_cli(env, "warehouse", "migrate").returncode == 0
    replayed = tmp_path / "activities.jsonl"
    replayed.write_bytes(b"\n".join([*sample_lines(N), *BAD]) + b"\n")
    assert run_cli(env, "replay", str(replayed)).returncode == 0
    total = N + len(BAD)

    # (a) no worker yet: its group has committed nothing, so the whole raw topic is its lag
    code, document = status_json(env)
    worker = group(document, "worker")
    assert (worker["group"], worker["topic"]) == (settings.worker.app_id, settings.topics.names.activity_raw)
    assert worker["messages"] == total and worker["has_commits"] is False
    assert all(partition["committed"] is None for partition in worker["partitions"])
    assert 0 <= worker["seconds"] <= time.time() - began  # the records were written after the test began
    assert group(document, "loader")["messages"] == 0
    assert document["warehouse"]["reachable"] is True and document["warehouse"]["rows"] == 0
    assert code == 1 and document["healthy"] is False
    assert document["problems"] == [
        f"lag: the worker group {settings.worker.app_id} is {total} messages behind on "
        f"{settings.topics.names.activity_raw} (max {N})"
    ]
    table = run_cli(env, "status")
    assert table.returncode == 1, table.stderr
    assert "no commits" in table.stdout
    assert table.stdout.rstrip().splitlines()[-1] == f"  - {document['problems'][0]}"

    # (b) the worker catches up: its lag is 0, the loader's is every event the worker wrote
    start_worker()
    deadline = time.monotonic() + 120
    raw = settings.topics.names.activity_raw
    while sum(committed_offsets(settings.kafka.bootstrap_servers, settings.worker.app_id, raw).values()) < total:
        assert time.monotonic() < deadline, "the worker did not commit the replayed activities"
        time.sleep(0.5)
    code, document = status_json(env)
    worker = group(document, "worker")
    assert worker["messages"] == 0 and worker["seconds"] == 0 and worker["has_commits"] is True
    assert group(document, "loader")["messages"] == N
    assert document["dead_letters"]["total"] == len(BAD)
    assert "invalid_json" in document["dead_letters"]["by_reason"]
    assert document["dead_letters"]["newest_age_s"] < 300

    loaded = run_cli(env, "loader", "--exit-when-idle", "3")
    assert loaded.returncode == 0, loaded.stderr
    code, document = status_json(env)
    assert document["problems"] == [] and code == 0 and document["healthy"] is True
    assert group(document, "loader")["messages"] == 0 and group(document, "loader")["has_commits"] is True
    assert document["warehouse"]["rows"] == N and document["warehouse"]["via"] == "direct"
    assert document["warehouse"]["freshness_s"] <= time.time() - began  # stored during the test, whatever its dates
    table = run_cli(env, "status")
    assert table.returncode == 0 and table.stdout.rstrip().endswith("healthy")


def test_a_connector_whose_last_poll_failed_makes_status_unhealthy_until_a_poll_succeeds(
    settings: Settings, tmp_path: Path
) -> None:
    env = status_env(settings, tmp_path, LEARNSTREAM_CURSOR_STORE="kafka")
    assert run_cli(env, "warehouse", "migrate").returncode == 0
    state = settings.topics.names.connector_state
    cursors = KafkaCursorStore(settings.kafka, state, timeout_s=10)
    cursors.save("acme-wiki", '{"index": 3}')
    cursors.close()
    producer = make_producer(settings.kafka, "test-health")
    try:
        report = health_reporter(producer, state, "acme-wiki")  # what `connect run` hands to follow()
        report("the wiki at https://wiki.example.org answered 503 six times")

        code, document = status_json(env)
        assert code == 1
        (connector,) = document["connectors"]
        assert connector["name"] == "acme-wiki" and connector["ok"] is False and connector["follows"] is True
        assert "answered 503" in connector["last_error"] and connector["cursor_age_s"] < 300
        assert len(document["problems"]) == 1
        assert document["problems"][0].startswith("connector acme-wiki: its last poll failed")
        table = run_cli(env, "status")
        assert table.returncode == 1 and "FAILED" in table.stdout
        # the cursor store reads its cursor back past the health record
        assert KafkaCursorStore(settings.kafka, state, timeout_s=10).load("acme-wiki") == '{"index": 3}'

        report("")  # the next poll succeeded
        code, document = status_json(env)
        assert code == 0 and document["problems"] == []
        assert document["connectors"][0]["ok"] is True and document["connectors"][0]["last_error"] is None
    finally:
        producer.close()


def test_status_reads_the_warehouse_through_the_serve_that_owns_it(
    settings: Settings, tmp_path: Path, start_serve
) -> None:
    env = {
        **serve_env(settings, tmp_path),
        "LEARNSTREAM_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'owned-warehouse'}",
        "LEARNSTREAM_SERVE__WAREHOUSE": "true",
    }
    start_serve(env)
    assert (tmp_path / "owned-warehouse" / "serve.json").exists()
    code, document = status_json(env)  # this process could not open the engine serve holds
    assert document["warehouse"] == {
        "via": "serve",
        "reachable": True,
        "error": None,
        "rows": 0,
        "newest_stored_at": None,
        "newest_occurred_at": None,
        "freshness_s": None,
    }
    assert code == 0, document["problems"]
