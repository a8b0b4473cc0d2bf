"""How fresh the warehouse is, as the loader sees it: when the newest event it stored was handed to Kafka by its
connector (the `learnstream-sent-at` header), and now minus that, read when Prometheus scrapes, so it keeps growing
while nothing lands.

The gauges are process-wide, so one record per process (`FRESHNESS`) is fed by whichever loader runs in it: the
`learnstream loader` command's, or `serve`'s loader thread. Before the first stored event with a sent-at header,
the newest-sent gauge stays 0 and the freshness is NaN (unknown, rather than a made-up age): alert on it together
with the consumer lag, which does show a loader that stores nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable

from prometheus_client import Gauge

from learnstream.metrics import LOADER_FRESHNESS, LOADER_NEWEST_SENT


class StoredFreshness:
    """The newest send time (seconds since the epoch) of the events stored so far, and the age of it."""

    def __init__(self, newest_gauge: Gauge, freshness_gauge: Gauge, clock: Callable[[], float] = time.time) -> None:
        self.newest = math.nan
        self.newest_gauge = newest_gauge
        self.clock = clock
        self._lock = threading.Lock()  # serve's loader thread records while a scrape reads
        freshness_gauge.set_function(self.freshness)

    def record(self, sent_at: Iterable[float]) -> None:
        """Note the send times of events just stored (a batch's; empty when none carried the header)."""
        latest = max(sent_at, default=math.nan)
        with self._lock:
            if not math.isnan(latest) and (math.isnan(self.newest) or latest > self.newest):
                self.newest = latest
                self.newest_gauge.set(latest)

    def freshness(self) -> float:
        """Seconds from the newest stored event's send time to now; NaN before any."""
        with self._lock:
            newest = self.newest
        return self.clock() - newest


#: This process's record, behind learnstream_loader_newest_event_sent_timestamp_seconds and _freshness_seconds.
FRESHNESS = StoredFreshness(LOADER_NEWEST_SENT, LOADER_FRESHNESS)
