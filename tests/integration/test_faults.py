"""Killing the worker at the narrowest windows loses nothing and double counts nothing (the broader fault
scenarios, the worker killed mid-stream among them, are in tests/integration/test_fault_scenarios.py)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from learnstream.settings import Settings
from schemas.activity import Activity
from schemas.dead_letter import DeadLetter
from schemas.learning_event import LearningEvent
from streams.processing import event_id_for
from tests.integration.support import (
    committed_offsets,
    distinct_activities,
    event_ids_of,
    read_records,
    topic_size,
)
from tests.integration.test_end_to_end import final_count, load_until, replay
from warehouse.counts import cell_events
from warehouse.rollup import rebuild_due


def test_worker_killed_after_its_sends_but_before_its_commit_reprocesses_and_counts_nothing_twice(
    settings: Settings, warehouse, start_worker, tmp_path: Path
) -> None:
    """The window between a batch's acknowledged sends and the offset commit: a kill there re-reads the batch."""
    client, database = warehouse
    bootstrap, names = settings.kafka.bootstrap_servers, settings.topics.names
    lines = distinct_activities(1500)
    path = tmp_path / "activities.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert replay(settings, path) == len(lines)
    # No commit for ten minutes: once every event is out, the worker sits exactly between send and commit.
    never_commits = settings.model_copy(
        update={"worker": settings.worker.model_copy(update={"commit_interval_s": 600.0})}
    )

    first = start_worker(never_commits)
    deadline = time.monotonic() + 120
    while topic_size(bootstrap, names.learning_events) < len(lines) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert topic_size(bootstrap, names.learning_events) == len(lines)
    assert sum(committed_offsets(bootstrap, settings.worker.app_id, names.activity_raw).values()) == 0
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)

    start_worker()
    deadline = time.monotonic() + 120
    while topic_size(bootstrap, names.learning_events) < 2 * len(lines) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert topic_size(bootstrap, names.learning_events) == 2 * len(lines)  # every activity was classified again
    rows = load_until(settings, client, database, expected_rows=2 * len(lines), timeout=180)

    assert rows == 2 * len(lines)
    assert final_count(client, database) == len(event_ids_of(lines))
    rebuild_due(client, database)
    trends = cell_events(client, database)
    assert sum(trends.values()) == len(event_ids_of(lines))


def test_no_offset_is_committed_before_its_events_and_dead_letters_are_acknowledged(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    """SIGKILL the worker at several points mid-stream; every committed raw offset must have its output durable."""
    bootstrap, names = settings.kafka.bootstrap_servers, settings.topics.names
    fast_commits = settings.model_copy(update={"worker": settings.worker.model_copy(update={"commit_interval_s": 0.1})})
    valid = distinct_activities(12_000)
    lines = [line if n % 300 else b'{"not": "an activity", "n": %d}' % n for n, line in enumerate(valid)]
    path = tmp_path / "activities.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert replay(settings, path) == len(lines)

    checked_commits = 0
    for share in (0.2, 0.45, 0.7):
        worker = start_worker(fast_commits)
        deadline = time.monotonic() + 120
        target = share * len(lines)
        while topic_size(bootstrap, names.learning_events) + topic_size(bootstrap, names.activity_dlq) < target:
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)

        committed = committed_offsets(bootstrap, settings.worker.app_id, names.activity_raw)
        produced = {
            LearningEvent.from_bytes(value).event_id
            for _, _, _, value in read_records(bootstrap, names.learning_events)
        }
        set_aside = {
            (letter.partition, letter.offset)
            for letter in (DeadLetter.from_bytes(v) for _, _, _, v in read_records(bootstrap, names.activity_dlq))
        }
        for partition, offset, _, value in read_records(bootstrap, names.activity_raw):
            if offset >= committed[partition]:
                continue
            checked_commits += 1
            if value.startswith(b'{"not"'):
                assert (partition, offset) in set_aside, f"dead letter of {partition}@{offset} missing"
            else:
                assert event_id_for(Activity.from_bytes(value)) in produced, f"event of {partition}@{offset} missing"
        print(f"killed at {share:.0%}: {sum(committed.values())} offsets committed, each with its output")
    assert checked_commits > 0, "no offset was ever committed: the test checked nothing"
