"""`learnstream connect run` as a real process: killed with SIGKILL mid-backfill and restarted, it leaves no gap
on the raw topic (duplicates at most for the batches whose cursor was not saved), with either cursor store,
and the warehouse holds one event per activity."""

from __future__ import annotations

import collections
import signal
import subprocess
import time
from pathlib import Path

import pytest

from learnstream.settings import Settings
from producers.cursors import KafkaCursorStore
from schemas.activity import Activity
from tests.integration.support import (
    PROJECT_ROOT,
    TEST_KEYS,
    learnstream_command,
    read_records,
    run_cli,
    settings_env,
    write_slack_export,
)
from tests.integration.test_end_to_end import final_count, load_until

BATCH = 200
IN_FLIGHT = 8  # the runtime's default: batches sent while older ones wait for their acknowledgement


def connect_env(settings: Settings, tmp_path: Path, store: str, export: Path) -> dict[str, str]:
    connectors = tmp_path / "connectors.toml"
    connectors.write_text(
        f"""
[[connectors]]
name = "history"
type = "slack-export"
workspace = "T0HISTORY1"
path = "{export}"
batch_size = {BATCH}
""",
        encoding="utf-8",
    )
    return {
        **settings_env(settings),
        **TEST_KEYS,
        "LEARNSTREAM_CONNECTORS_FILE": str(connectors),
        "LEARNSTREAM_CURSOR_STORE": store,
        # a small producer batch and no linger: the import is slow enough to be killed in the middle
        "LEARNSTREAM_PRODUCER__LINGER_MS": "0",
        "LEARNSTREAM_PRODUCER__BATCH_BYTES": "16384",
    }


def saved_cursor(settings: Settings, store: str) -> str | None:
    if store == "file":
        path = settings.data_dir / "cursors" / "history.json"
        return path.read_text() if path.exists() else None
    reader = KafkaCursorStore(settings.kafka, settings.topics.names.connector_state, timeout_s=10)
    try:
        return reader.load("history")
    finally:
        reader.close()


@pytest.mark.parametrize("store", ["file", "kafka"])
def test_sigkill_mid_backfill_then_restart_leaves_no_gap_and_one_event_per_activity(
    settings: Settings, warehouse, start_worker, tmp_path: Path, store: str
) -> None:
    client, database = warehouse
    export = tmp_path / "export.zip"
    expected = write_slack_export(export, channels=4, days=10, per_day=250)  # 10,000 messages
    env = connect_env(settings, tmp_path, store, export)

    log = (tmp_path / "first-run.log").open("wb")
    first = subprocess.Popen(
        learnstream_command("connect", "run", "history"), env=env, cwd=PROJECT_ROOT, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 120
    while saved_cursor(settings, store) is None and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)  # no flush, no last cursor
    first.wait(timeout=30)
    cursor_at_kill = saved_cursor(settings, store)
    assert cursor_at_kill is not None, Path(log.name).read_text()[-2000:]
    assert '"day":40' not in cursor_at_kill, "the import finished before it was killed: make the export larger"
    raw = settings.topics.names.activity_raw
    before = len(read_records(settings.kafka.bootstrap_servers, raw))
    print(f"killed after {before} of {len(expected)} records; cursor {cursor_at_kill}")

    second = run_cli(env, "connect", "run", "history", timeout=300)
    assert second.returncode == 0, second.stderr
    records = read_records(settings.kafka.bootstrap_servers, raw)
    activities = [Activity.from_bytes(value) for _, _, _, value in records]
    published = collections.Counter(activity.native_id for activity in activities)
    assert set(published) == set(expected), "a message is missing from the raw topic: a gap"
    duplicates = sum(count - 1 for count in published.values())
    assert duplicates <= (IN_FLIGHT + 1) * BATCH, f"{duplicates} duplicates: more than the unconfirmed batches"
    print(f"{duplicates} duplicates after the restart")

    start_worker()
    distinct = len(published)
    rows = load_until(settings, client, database, expected_rows=distinct + duplicates, timeout=240)
    assert rows >= distinct
    assert final_count(client, database) == distinct  # one event per activity id, duplicates and all
