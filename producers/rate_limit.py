"""A request rate shared by threads: at most `per_s` calls a second, evenly spaced, for sources that throttle an app
(Graph allows about 20 channel-message GETs a second per tenant) before they answer 429."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimit:
    """Spaces calls `1 / per_s` seconds apart across every thread that takes a turn; None means no limit."""

    def __init__(
        self,
        per_s: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_s is not None and per_s <= 0:
            raise ValueError(f"a rate limit must be positive, got {per_s}")
        self.per_s = per_s
        self.interval = 1.0 / per_s if per_s else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait_turn(self) -> None:
        """Return when this call's slot has come (at once while calls are sparser than the limit)."""
        if not self.interval:
            return
        with self._lock:
            now = self.clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self.sleep(slot - now)
