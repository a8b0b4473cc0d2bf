"""Python's cyclic garbage collector: tuned for long-running processes, and paused while a large result is built.

`tune_for_throughput` is for a process's entry point (the worker, serve, the LRS's drafting processes): they
allocate hundreds of short-lived objects per message or Statement, almost all freed by reference counting, and
with CPython's default threshold (700) the collector ran every few messages, traversing objects it could not free.

A trend result of 10,000 rows allocates some 50,000 dicts and sets that all live until the result is returned.
Each burst of allocations triggers collections that traverse them and free nothing: building the rows of the
activity query at 10M events took 27 ms with the collector and 9 ms without (bench/warehouse.py). Reference
counting frees everything as usual during a pause; only the search for reference cycles waits until the last
pause ends. Pauses nest and may overlap across threads (`serve` answers queries while its loader runs): the
collector is enabled again when the last one ends, and only if it was enabled when the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Pauses:
    """How many pauses are open, and whether the collector was enabled before the first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = 0
        self.was_enabled = False


_PAUSES = _Pauses()

#: Allocations between young-generation collections. The worker's collector took about 5 % of its CPU with
#: CPython's default (1.3 s of 28 s for 150,000 activities; 0.1 s with this and a freeze); drafting xAPI Statements,
#: 10 % (89 µs a Statement, 77 µs with this and a freeze, bench/README.md).
GC_GEN0_THRESHOLD = 50_000


def tune_for_throughput() -> None:
    """Collect young objects less often (the whole process: only an entry point calls this)."""
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 10)


def freeze_what_exists() -> None:
    """Never scan again the objects that exist now (modules, settings, services built at start-up): called once a
    process has started, so the collections that follow traverse only what it allocates while it works."""
    gc.freeze()


@contextmanager
def collection_paused() -> Iterator[None]:
    """Run the block without cyclic garbage collection (reference counting still frees memory)."""
    with _PAUSES.lock:
        if _PAUSES.open == 0:
            _PAUSES.was_enabled = gc.isenabled()
            gc.disable()
        _PAUSES.open += 1
    try:
        yield
    finally:
        with _PAUSES.lock:
            _PAUSES.open -= 1
            if _PAUSES.open == 0 and _PAUSES.was_enabled:
                gc.enable()
