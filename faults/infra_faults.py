"""Infrastructure faults: the broker stopped under a running pipeline (SIGTERM and SIGKILL) and started again; the
warehouse's disk full for 30 s; a slow warehouse.

Only what a scenario itself stopped is started again (the broker): the worker and serve must ride the fault out on
their own, so a process that exits or hangs is a finding, shown as such with what its log says.
"""

from __future__ import annotations

import errno
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.synthetic import synthetic_activities
from faults.outcome import HANG_S, Outcome, Scenario, expected_event_ids, settle
from faults.rig import ROOT, Child, Recovery, Rig, learnstream_command, wait_for_output
from warehouse.dsn import parse_dsn

#: How long the broker stays down (long enough for every client's requests and sessions to time out).
BROKER_DOWN_S = 12.0
#: How long the warehouse's disk stays full.
FULL_S = 30.0
#: The tmpfs under chDB: chDB needs under 1 MiB to start and migrate (measured: 0.6 MiB) and a few KiB per stored
#: event with its parts and rollups (about 12 MiB at 3,000); ample room for both, small enough to fill in a moment.
TMPFS_BASE_MIB = 64
TMPFS_KIB_PER_ACTIVITY = 16
#: What the loader logs when an insert failed and the batch will be tried again (warehouse/loader.py).
INSERT_FAILED = "batch not stored, will retry"


def checked(outcome: Outcome, failures: list[str]) -> Outcome:
    """`outcome` with the scenario's own failures added to its verdict."""
    outcome.failures.extend(failures)
    return outcome


def last_errors(child: Child, count: int = 3) -> str:
    """The last error lines a process logged in this start (for a note saying why it died or stalled)."""
    lines = [line.strip() for line in child.output().splitlines()]
    errors = [line for line in lines if "ERROR" in line or "Error" in line or "Traceback" in line]
    return " | ".join((errors or lines)[-count:])[-600:]


def judged(rig: Rig, outcome: Outcome, starts: dict[str, int], failures: list[str]) -> Outcome:
    """The outcome with the scenario's `failures` and those of the processes the fault must not have stopped: each
    still running on its first start (`starts`: each one's count before the fault). A process that exited, or one
    that did not catch up (a hang), gets a note with the last errors it logged."""
    found = list(failures)
    for name, child in rig.children.items():
        if not child.alive():
            code = child.process.returncode if child.process is not None else None
            found.append(f"{name} exited (code {code}) during the fault")
            outcome.notes.append(f"{name} exited with code {code}; its log ends: {last_errors(child)}")
        elif child.starts != starts.get(name, child.starts):
            found.append(f"{name} was started again")
        elif outcome.recovery.seconds is None:
            outcome.notes.append(f"{name} runs but the pipeline did not catch up; its log ends: {last_errors(child)}")
    return checked(outcome, found)


# -- the broker stopped and started again ---------------------------------------------------------------------------


def broker_stopped(work: Path, bootstrap: str | None, size: int, signum: signal.Signals, name: str) -> Outcome:
    """Stop the rig's broker with `signum` a third of the way through a stream, keep it down BROKER_DOWN_S, start it
    again on the same storage and ports; the worker and serve keep running throughout."""
    if bootstrap is not None:
        raise ValueError(f"{name} stops the broker: it needs a broker of its own, not {bootstrap}")
    lines = synthetic_activities(size, seed=31 if signum == signal.SIGTERM else 32)
    with Rig(work, None, label="brk") as rig:
        assert rig.broker is not None
        rig.start_serve()
        rig.start_worker()
        starts = {child_name: child.starts for child_name, child in rig.children.items()}
        feeder = rig.feed(lines, per_second=size / 20)
        done = wait_for_output(rig, 0.33, len(lines))
        rig.broker.signal(signum)  # returns once the broker's process is gone
        stopped, fed = time.monotonic(), feeder.sent
        time.sleep(BROKER_DOWN_S)
        fed_while_down = feeder.sent - fed
        rig.broker.start()
        down_s = time.monotonic() - stopped
        ended = max(time.monotonic(), feeder.finish())
        notes = [
            f"broker {signum.name} after {done:,} of {len(lines):,} records were decided ({fed:,} fed); down "
            f"{down_s:.1f} s until it answered again, {fed_while_down:,} lines acknowledged meanwhile (at most a "
            "chunk in flight)",
        ]
        outcome = settle(rig, name, len(lines), expected_event_ids(lines), ended, notes=notes)
        return judged(rig, outcome, starts, [])


def broker_sigterm(work: Path, bootstrap: str | None, size: int) -> Outcome:
    """The broker shut down in a controlled way mid-stream, and started again."""
    return broker_stopped(work, bootstrap, size, signal.SIGTERM, "broker SIGTERM mid-stream")


def broker_sigkill(work: Path, bootstrap: str | None, size: int) -> Outcome:
    """The broker crashed mid-stream, and started again."""
    return broker_stopped(work, bootstrap, size, signal.SIGKILL, "broker SIGKILL mid-stream")


# -- the warehouse's disk full --------------------------------------------------------------------------------------


def chdb_dir(rig: Rig) -> Path:
    """The directory of the rig's embedded warehouse."""
    target = parse_dsn(rig.settings.warehouse_dsn)
    assert target.path is not None, "the rig's warehouse is embedded chDB"
    return target.path


def serve_ready(rig: Rig) -> Callable[[Child], bool]:
    """Serve's readiness check: `/ready` answers 200."""

    def ready(_child: Child) -> bool:
        try:
            return httpx.get(f"{rig.serve_url}/ready", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    return ready


def mount_refusal(directory: Path) -> str | None:
    """Why a tmpfs cannot be mounted in a private mount namespace here (None: it can)."""
    probe = ["unshare", "--mount", "--propagation", "private", "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs"]
    try:
        done = subprocess.run([*probe, str(directory)], capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        return f"unshare could not run: {exc}"
    return None if done.returncode == 0 else f"unshare/mount refused (uid {os.getuid()}): {done.stderr.strip()}"


def start_serve_on_tmpfs(rig: Rig, directory: Path, size: str) -> Child:
    """Serve, its chDB directory a tmpfs of `size` mounted in a mount namespace of its own (unshare execs, so the
    child's pid is serve's): nothing outside sees the mount, and it goes when serve does."""
    directory.mkdir(parents=True, exist_ok=True)
    serve = shlex.join(learnstream_command("serve", "--port", str(rig.serve_port)))
    script = f"mount -t tmpfs -o size={size} tmpfs {shlex.quote(str(directory))} && exec {serve}"
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
    child = Child("serve", command, rig.env(), rig.work / "serve.log", serve_ready(rig))
    rig.children["serve"] = child
    child.start()
    return child


def fill(path: Path) -> int:
    """Append to `path` until its filesystem is full (ENOSPC); returns the bytes written by this call."""
    written = 0
    with path.open("ab", buffering=0) as handle:
        for chunk in (b"\0" * (1 << 20), b"\0" * 4096, b"\0"):
            try:
                while True:
                    written += handle.write(chunk) or 0
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return written


class DiskFiller(threading.Thread):
    """Keeps a filesystem full through a file of its own until stopped: whatever the engine frees (a failed part it
    removes) is taken back at once, so no insert finds room by luck. Then deletes the file."""

    EVERY_S = 0.05

    def __init__(self, path: Path) -> None:
        super().__init__(name="faults-disk-filler", daemon=True)
        self.path = path
        self.first = fill(path)  # full before the thread starts: the caller times the fault from here
        self.stopped = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.EVERY_S):
                fill(self.path)
        except BaseException as exc:  # reported by free(): a filler that stopped would end the fault early
            self.error = exc

    def free(self) -> None:
        """Stop filling and delete the file."""
        self.stopped.set()
        self.join()
        self.path.unlink()
        if self.error is not None:
            raise RuntimeError(f"keeping {self.path} full failed: {self.error!r}") from self.error


def loader_commits(rig: Rig) -> tuple[dict[int, int | None], int]:
    """The loader group's committed offset of each partition of the events topic, and its lag."""
    for lag in rig.status().lag:
        if lag.role == "loader":
            return {partition.partition: partition.committed for partition in lag.partitions}, lag.messages
    raise RuntimeError("the status has no loader group")


def failed_inserts(child: Child) -> int:
    """How many batches the loader in this serve logged as not stored (each is retried)."""
    return child.output().count(INSERT_FAILED)


def warehouse_full(work: Path, bootstrap: str | None, size: int) -> Outcome:
    """Serve's chDB directory on a small tmpfs; mid-stream, fill the tmpfs (ENOSPC) and keep it full for FULL_S while
    activities stream in, then free it. The loader must fail its inserts, commit nothing, and catch up after."""
    lines = synthetic_activities(size, seed=33)
    name = f"warehouse disk full {FULL_S:.0f} s"
    with Rig(work, bootstrap, label="full") as rig:
        directory = chdb_dir(rig)
        refusal = mount_refusal(rig.work)
        if refusal is not None:  # not run: say so, and fail rather than pass on nothing
            note = f"not run: a tmpfs in a private mount namespace is needed for the full disk; {refusal}"
            return checked(Outcome(name, 0, len(lines), {}, Recovery(None, None), {}, [note]), ["not run"])
        tmpfs_mib = TMPFS_BASE_MIB + size * TMPFS_KIB_PER_ACTIVITY // 1024
        serve = start_serve_on_tmpfs(rig, directory, f"{tmpfs_mib}m")
        assert serve.pid is not None
        inside = Path(f"/proc/{serve.pid}/root") / directory.relative_to("/")  # the tmpfs, as serve sees it
        # serve sees a tmpfs there, and this process (another mount namespace) an empty directory
        mounted = any(f" {directory} " in line and " tmpfs " in line for line in mountinfo(serve.pid))
        hidden = not any(directory.iterdir())
        migrated = used_bytes(inside)
        rig.start_worker()
        starts = {child_name: child.starts for child_name, child in rig.children.items()}
        feeder = rig.feed(lines, per_second=size / 50)
        done = wait_for_output(rig, 0.2, len(lines))
        before = failed_inserts(serve)
        full_at = time.monotonic()
        filler = DiskFiller(inside / "filler")
        filler.start()
        first_failure: float | None = None
        committed_full: dict[int, int | None] | None = None
        while time.monotonic() - full_at < FULL_S:
            if first_failure is None and failed_inserts(serve) > before:
                # the first failed insert: nothing is stored from here on, so nothing may be committed either
                first_failure = time.monotonic() - full_at
                committed_full, _ = loader_commits(rig)
            time.sleep(0.1)
        committed_end, lag_end = loader_commits(rig)
        failures_logged = failed_inserts(serve) - before
        filler.free()
        ended = max(time.monotonic(), feeder.finish())
        notes = [
            f"chDB on a {tmpfs_mib} MiB tmpfs in serve's own mount namespace ({'seen' if mounted else 'NOT seen'} in "
            f"/proc/{serve.pid}/mountinfo; {'empty' if hidden else 'NOT empty'} from outside), "
            f"{migrated / 2**20:.1f} MiB used once migrated",
            f"filled with {filler.first / 2**20:.0f} MiB after {done:,} of {len(lines):,} records were decided; "
            f"full for {FULL_S:.0f} s: {failures_logged} failed inserts logged, the first after "
            + ("-" if first_failure is None else f"{first_failure:.1f} s"),
            f"loader's committed offsets at the first failure {committed_full}, at the end of the fault "
            f"{committed_end} (lag {lag_end:,})",
        ]
        outcome = settle(rig, name, len(lines), expected_event_ids(lines), ended, notes=notes)
        failures = []
        if not (mounted and hidden):
            failures.append("the chDB directory was not on serve's own tmpfs")
        if not failures_logged:
            failures.append("the fault did not land: no insert failed while the disk was full")
        elif committed_full != committed_end:
            failures.append("the loader committed offsets while its inserts failed")
        return judged(rig, outcome, starts, failures)


def mountinfo(pid: int) -> list[str]:
    """The mounts a process sees."""
    return Path(f"/proc/{pid}/mountinfo").read_text(encoding="utf-8").splitlines()


def used_bytes(path: Path) -> int:
    """Bytes in use on the filesystem holding `path`."""
    stats = os.statvfs(path)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


# -- a slow warehouse -----------------------------------------------------------------------------------------------

#: A view on the events table that sleeps per row: every insert waits for it. ClickHouse caps a sleep at
#: `function_sleep_max_microseconds_per_block` (3 s in chDB 4.4), so rows per insert times the sleep must stay below
#: that, or the insert fails (TOO_SLOW) instead of being slow: SLOW_BATCH rows per insert at SLOW_ROW_S each.
SLOW_ROW_S = 0.005
SLOW_BATCH = 500
#: How much serve's RSS may grow over the run: the engine's own caches and the first inserts' allocations (measured
#: here: +70 MiB at 3,000 events with a fast warehouse, +125 MiB at 20,000 with the slow one, flat while the 18,500
#: lag drained). A loader that held its backlog would exceed it only with a backlog of a few hundred thousand events.
MEMORY_ALLOWANCE = 256 * 2**20
SLOW_VIEW = """
CREATE TABLE {db}.faults_slow_sink (slept UInt8) ENGINE = Null;
CREATE MATERIALIZED VIEW {db}.faults_slow_mv TO {db}.faults_slow_sink
    AS SELECT sleepEachRow({row_s}) AS slept FROM {db}.learning_events
"""
#: Run in a process of its own: one process at a time opens an embedded chDB directory, and serve will.
CREATE_SLOW_VIEW = """
import sys
from warehouse.connection import connect
from warehouse.dsn import parse_dsn
target = parse_dsn(sys.argv[1])
client = connect(target)
for statement in sys.argv[2].split(";"):
    if statement.strip():
        client.command(statement)
found = f"SELECT count() FROM system.tables WHERE database = '{target.database}' AND name = 'faults_slow_mv'"
print(client.command(found))
"""


class MemorySampler(threading.Thread):
    """Samples a process's resident memory (VmRSS) until stopped."""

    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        super().__init__(name="faults-rss", daemon=True)
        self.pid = pid
        self.every_s = every_s
        self.samples: list[tuple[float, int]] = []  # (monotonic time, bytes)
        self.stopped = threading.Event()

    def rss(self) -> int | None:
        """Resident bytes now (None once the process is gone)."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text(encoding="utf-8")
        except OSError:
            return None
        kib = next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), None)
        return None if kib is None else int(kib) * 1024

    def run(self) -> None:
        while not self.stopped.wait(self.every_s):
            if (found := self.rss()) is not None:
                self.samples.append((time.monotonic(), found))

    def stop(self) -> None:
        self.stopped.set()
        self.join()
        if not self.samples:
            raise RuntimeError(f"no memory sample of pid {self.pid}")

    def at(self, when: float) -> int:
        """The last sample taken by `when` (the first, if none was)."""
        return next((rss for taken, rss in reversed(self.samples) if taken <= when), self.samples[0][1])

    def peak(self) -> int:
        return max(rss for _, rss in self.samples)


def insert_seconds(rig: Rig) -> tuple[int, float]:
    """How many warehouse inserts serve's loader made and their total seconds (its Prometheus histogram)."""
    text = httpx.get(f"{rig.serve_url}/metrics", timeout=30).text
    found = {"_count": 0.0, "_sum": 0.0}
    for line in text.splitlines():
        for suffix in found:
            if line.startswith(f"learnstream_loader_insert_seconds{suffix} "):
                found[suffix] = float(line.split()[1])
    return int(found["_count"]), found["_sum"]


def loader_lag(rig: Rig) -> int:
    """The loader group's lag in messages now."""
    return next(lag.messages for lag in rig.status().lag if lag.role == "loader")


def run_quietly(command: list[str], env: dict[str, str]) -> str:
    """Run a setup step; its stdout, or RuntimeError with what it said on failure."""
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command[:4])}... failed: {(done.stderr or done.stdout)[-2000:]}")
    return done.stdout


def slow_warehouse(work: Path, bootstrap: str | None, size: int) -> Outcome:
    """A view that sleeps on every insert into the events table, created before serve starts; a backlog streamed in
    much faster than the warehouse takes it. Lag grows, serve's memory does not, nothing is lost."""
    lines = synthetic_activities(size, seed=34)
    name = "slow warehouse"
    batch = {"LEARNSTREAM_LOADER__BATCH_SIZE": str(SLOW_BATCH)}
    with Rig(work, bootstrap, label="slow") as rig:
        env = rig.env(batch)
        run_quietly(learnstream_command("warehouse", "migrate"), env)
        view = SLOW_VIEW.format(db=parse_dsn(rig.settings.warehouse_dsn).database, row_s=SLOW_ROW_S)
        created = run_quietly([sys.executable, "-c", CREATE_SLOW_VIEW, rig.settings.warehouse_dsn, view], env)
        serve = rig.start_serve(extra_env=batch)
        rig.start_worker()
        starts = {child_name: child.starts for child_name, child in rig.children.items()}
        assert serve.pid is not None
        sampler = MemorySampler(serve.pid)
        start_rss = sampler.rss() or 0
        sampler.start()
        feeder = rig.feed(lines, per_second=size / 5)  # far faster than the 1 / SLOW_ROW_S rows a second it takes
        peak_lag, peak_at, deadline = 0, time.monotonic(), time.monotonic() + 600
        while time.monotonic() < deadline:  # watch the lag until the stream is in and the lag falls
            lag = loader_lag(rig)
            if not feeder.is_alive() and (lag < peak_lag or lag == 0):
                break
            if lag > peak_lag:
                peak_lag, peak_at = lag, time.monotonic()
            time.sleep(1.0)
        ended = feeder.finish()
        # the warehouse is slowed on purpose: its backlog may take longer than another scenario's to drain
        outcome = settle(rig, name, len(lines), expected_event_ids(lines), ended, timeout_s=2 * HANG_S)
        sampler.stop()
        inserts, seconds = insert_seconds(rig)
        mean_s = seconds / max(inserts, 1)
        outcome.notes.extend(
            [
                f"the sleeping view {'exists' if created.strip() == '1' else 'is MISSING'}: "
                f"sleepEachRow({SLOW_ROW_S}) per row, batches of {SLOW_BATCH} rows",
                f"{inserts} inserts took {mean_s:.2f} s each on average; the loader's lag peaked at {peak_lag:,}",
                f"serve's RSS: {start_rss / 2**20:.0f} MiB before the stream, {sampler.at(peak_at) / 2**20:.0f} MiB "
                f"when the lag peaked, {sampler.peak() / 2**20:.0f} MiB at most, "
                f"{sampler.samples[-1][1] / 2**20:.0f} MiB at the end",
            ]
        )
        failures = []
        if created.strip() != "1" or not inserts or mean_s < SLOW_ROW_S * SLOW_BATCH / 4:
            failures.append("the fault did not land: inserts were not slow")
        if peak_lag < SLOW_BATCH:
            failures.append(f"the fault did not land: the loader's lag peaked at {peak_lag} (no backlog)")
        if sampler.peak() - start_rss > MEMORY_ALLOWANCE:
            grown = (sampler.peak() - start_rss) / 2**20
            failures.append(f"serve's memory grew by {grown:.0f} MiB with a backlog of {peak_lag:,} events")
        return judged(rig, outcome, starts, failures)


SCENARIOS: list[Scenario] = [
    Scenario(
        "broker-sigterm",
        f"SIGTERM the broker mid-stream, start it again after {BROKER_DOWN_S:.0f} s; worker and serve ride it out",
        broker_sigterm,
        owns_broker=True,
        in_ci=False,  # about 150 s: the broker's JVM starts twice
    ),
    Scenario(
        "broker-sigkill",
        f"SIGKILL the broker mid-stream, start it again after {BROKER_DOWN_S:.0f} s; worker and serve ride it out",
        broker_sigkill,
        owns_broker=True,
        in_ci=False,  # about 150 s: the broker's JVM starts twice
    ),
    Scenario(
        "warehouse-full",
        f"serve's chDB on a tmpfs filled to ENOSPC for {FULL_S:.0f} s mid-stream, then freed; the loader retries, "
        "commits nothing meanwhile, and catches up (needs unshare and mount: root)",
        warehouse_full,
        in_ci=False,  # needs root for unshare and mount, which CI may not have
    ),
    Scenario(
        "slow-warehouse",
        f"a view sleeping {SLOW_ROW_S * 1000:.0f} ms per row on every insert into the events table (batches of "
        f"{SLOW_BATCH}); a backlog streamed in: lag grows, serve's memory does not, nothing is lost",
        slow_warehouse,
        in_ci=False,  # the suite's time budget: about 35 s, and its memory check needs a larger size to mean much
    ),
]
