"""Failpoints: named places in the pipeline where a fault-injection run stops a process, inert otherwise.

`LEARNSTREAM_FAILPOINTS=loader.after_insert` (names separated by commas) makes a process, the first time it reaches
that place, write `learnstream failpoint reached: loader.after_insert` on stderr and wait there for good, so the
fault suite (`bench/faults.py`) can SIGKILL it at exactly that point: between a warehouse insert and its offset
commit, say, a window too narrow to hit by timing. Like etcd's gofail, the names are read once from the
environment at import: this is a test facility, not a setting an operator sets, so it is not part of `Settings`.
Unset, `failpoint()` is one set lookup.

The places:

- `loader.before_insert`: a batch polled and decoded, nothing of it stored;
- `loader.after_insert`: the batch stored in the warehouse, its offsets not committed.
"""

from __future__ import annotations

import os
import sys
import threading

VARIABLE = "LEARNSTREAM_FAILPOINTS"
REACHED = "learnstream failpoint reached: "
KNOWN = frozenset({"loader.before_insert", "loader.after_insert"})


def armed_from(value: str) -> frozenset[str]:
    """The failpoint names a variable's value arms; ValueError names one that no place has."""
    names = frozenset(name.strip() for name in value.split(",") if name.strip())
    unknown = names - KNOWN
    if unknown:
        raise ValueError(f"{VARIABLE} names no place: {', '.join(sorted(unknown))} (known: {', '.join(sorted(KNOWN))})")
    return names


ARMED = armed_from(os.environ.get(VARIABLE, ""))


def failpoint(name: str) -> None:
    """Stop here for good if `name` is armed: say so on stderr, then wait (for the SIGKILL of a fault run)."""
    if name in ARMED:
        sys.stderr.write(f"{REACHED}{name}\n")
        sys.stderr.flush()
        hold_forever()


def hold_forever() -> None:
    """Block this thread for good (the process ends by the fault run's SIGKILL)."""
    threading.Event().wait()
