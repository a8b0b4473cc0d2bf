"""The worker killed: mid-stream, and while a second worker joins its group (a rebalance)."""

from __future__ import annotations

import time
from pathlib import Path

from bench.synthetic import synthetic_activities
from faults.outcome import Outcome, Scenario, expected_event_ids, settle
from faults.rig import Rig, wait_for_output


def worker_killed_mid_stream(work: Path, bootstrap: str | None, size: int) -> Outcome:
    """SIGKILL the worker while activities stream in, a third of the way through; start it again at once."""
    lines = synthetic_activities(size, seed=13)
    with Rig(work, bootstrap, label="wkill") as rig:
        rig.start_serve()
        rig.start_worker()
        feeder = rig.feed(lines, per_second=size / 10)
        done = wait_for_output(rig, 0.33, len(lines))
        rig.kill("worker")
        rig.restart("worker")
        ended = max(time.monotonic(), feeder.finish())
        note = f"killed after {done:,} of {len(lines):,} records were decided"
        return settle(rig, "worker SIGKILL mid-stream", len(lines), expected_event_ids(lines), ended, notes=[note])


def worker_killed_in_rebalance(work: Path, bootstrap: str | None, size: int) -> Outcome:
    """While activities stream in, a second worker joins the group; SIGKILL the first once the group rebalances
    (its heartbeat is refused), and start it again."""
    lines = synthetic_activities(size, seed=14)
    with Rig(work, bootstrap, label="wrebal") as rig:
        rig.start_serve()
        first = rig.start_worker("worker-1")
        feeder = rig.feed(lines, per_second=size / 20)
        wait_for_output(rig, 0.1, len(lines))
        rig.start("worker-2", ["worker"], None)  # not waited for: the kill must land while it joins
        deadline = time.monotonic() + 90
        while "because it is rebalancing" not in first.output() and time.monotonic() < deadline:
            time.sleep(0.02)
        caught = "because it is rebalancing" in first.output()
        rig.kill("worker-1")
        rig.restart("worker-1")
        ended = max(time.monotonic(), feeder.finish())
        note = "killed while the group rebalanced" if caught else "no rebalance seen in 90 s: killed anyway"
        return settle(rig, "worker SIGKILL in a rebalance", len(lines), expected_event_ids(lines), ended, notes=[note])


SCENARIOS = [
    Scenario("worker-kill", "SIGKILL the worker mid-stream, restart it", worker_killed_mid_stream),
    Scenario(
        "worker-kill-rebalance",
        "a second worker joins; SIGKILL the first while the group rebalances; restart it",
        worker_killed_in_rebalance,
        in_ci=False,  # the suite's time budget: about 40 s (two workers start, and the stream lasts 20 s)
    ),
]
