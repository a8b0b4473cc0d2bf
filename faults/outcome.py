"""What a fault scenario found, judged: every valid activity stored exactly once, every invalid one set aside with
its reason, every process alive, and how long recovery took; and the table `bench/faults.py` prints."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from faults.rig import Recovery, Rig
from schemas.activity import Activity
from streams.processing import event_id_for


@dataclass
class Outcome:
    """One scenario's run: what went in, what came out, and what the rig saw."""

    scenario: str
    sent: int  # records put into the pipeline (valid and invalid), retries of a sender not counted
    expected_ids: int  # distinct event ids the valid activities must become
    expected_dead: dict[str, int]  # dead letters each reason must have (at least)
    recovery: Recovery
    alive: dict[str, bool]
    notes: list[str] = field(default_factory=list)
    #: what a scenario's own checks found broken (a fault that did not land counts: it proved nothing)
    failures: list[str] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return self.recovery.counts.event_ids if self.recovery.counts else 0

    @property
    def stored_twice(self) -> int:
        return self.recovery.counts.stored_twice if self.recovery.counts else 0

    @property
    def missing_dead(self) -> dict[str, int]:
        """Reasons with fewer dead letters than expected, and how many are missing."""
        found = self.recovery.dead_letters
        return {r: n - found.get(r, 0) for r, n in self.expected_dead.items() if found.get(r, 0) < n}

    def problems(self) -> list[str]:
        """Each way the promise was broken; empty when it held."""
        found: list[str] = []
        if self.recovery.seconds is None:
            found.append("did not recover in time")
        if self.stored != self.expected_ids:
            found.append(f"{self.stored:,} event ids stored, {self.expected_ids:,} expected")
        if self.stored_twice:
            found.append(f"{self.stored_twice:,} event ids stored twice")
        for reason, missing in sorted(self.missing_dead.items()):
            found.append(f"{missing:,} dead letters of {reason} missing")
        dead = [name for name, up in self.alive.items() if not up]
        if dead:
            found.append(f"not running at the end: {', '.join(sorted(dead))}")
        return [*found, *self.failures]

    @property
    def ok(self) -> bool:
        return not self.problems()


def expected_event_ids(lines: Iterable[bytes]) -> set[str]:
    """The event ids the worker gives valid activities (an edit's is the id of the message it changes)."""
    return {event_id_for(Activity.from_bytes(line)) for line in lines}


#: How long a scenario waits for the pipeline to catch up before it calls it a hang. A bound on waiting, never a
#: performance figure: recoveries take 1-15 s here, and the time they took is printed, not judged.
HANG_S = 300.0


def settle(
    rig: Rig,
    scenario: str,
    sent: int,
    expected_ids: set[str],
    fault_ended: float,
    expected_dead: dict[str, int] | None = None,
    notes: list[str] | None = None,
    timeout_s: float = HANG_S,
) -> Outcome:
    """Wait for the pipeline to recover (a hang after `timeout_s`) and judge it."""
    dead = expected_dead or {}
    recovery = rig.wait_recovered(expected_ids, sum(dead.values()), fault_ended, timeout_s)
    return Outcome(scenario, sent, len(expected_ids), dead, recovery, rig.alive(), notes or [])


# -- the table ------------------------------------------------------------------------------------------------------

HEADER = ("scenario", "sent", "stored", "expected", "twice", "dead letters", "alive", "recovery", "verdict")


def row(outcome: Outcome) -> tuple[str, ...]:
    """One line of the table."""
    dead = ", ".join(f"{reason} {count:,}" for reason, count in sorted(outcome.recovery.dead_letters.items())) or "-"
    alive = f"{sum(outcome.alive.values())}/{len(outcome.alive)}"
    seconds = outcome.recovery.seconds
    recovery = "-" if seconds is None else f"{seconds:.1f} s"
    verdict = "ok" if outcome.ok else "FAILED: " + "; ".join(outcome.problems())
    return (
        outcome.scenario,
        f"{outcome.sent:,}",
        f"{outcome.stored:,}",
        f"{outcome.expected_ids:,}",
        f"{outcome.stored_twice:,}",
        dead,
        alive,
        recovery,
        verdict,
    )


def table(outcomes: list[Outcome], markdown: bool = False) -> str:
    """The outcomes as aligned text, or as a Markdown table (for bench/README.md)."""
    rows = [HEADER, *(row(outcome) for outcome in outcomes)]
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in rows]
        lines.insert(1, "|" + "---|" * len(HEADER))
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(r[:-1], widths, strict=True)), r[-1]]) for r in rows
    )


@dataclass(frozen=True)
class Scenario:
    """A fault scenario: its name, what it does, and the function that runs it in a rig of its own."""

    name: str
    description: str
    run: Callable[[Path, str | None, int], Outcome]  # (work directory, a broker to use or None, size) -> outcome
    #: whether it stops the broker (then it needs a broker of its own, never a shared one)
    owns_broker: bool = False
    #: whether it fits in a CI run (a few minutes at the default size)
    in_ci: bool = True
    default_size: int = 3000
    #: the size the test suite runs it at (tests/integration/test_fault_scenarios.py)
    ci_size: int = 1500
