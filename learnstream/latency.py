"""A latency histogram with log-spaced buckets: fixed memory however many samples, quantiles within 5 %."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Bucket i holds samples in [FLOOR_S * GROWTH**i, FLOOR_S * GROWTH**(i+1)); below FLOOR_S goes to bucket 0.
FLOOR_S = 0.001
GROWTH = 1.05
BUCKETS = 400  # FLOOR_S * GROWTH**400 is about 300 million seconds: nothing real overflows


@dataclass
class LatencyHistogram:
    """Counts of latencies (seconds) in log-spaced buckets; `quantile` answers p50, p99 and the like."""

    counts: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    total: int = 0
    largest_s: float = 0.0

    def record(self, latency_s: float, count: int = 1) -> None:
        """Add `count` samples of one latency; negative latencies (clock skew) count as zero."""
        latency_s = max(latency_s, 0.0)
        index = 0 if latency_s < FLOOR_S else min(int(math.log(latency_s / FLOOR_S, GROWTH)), BUCKETS - 1)
        self.counts[index] += count
        self.total += count
        self.largest_s = max(self.largest_s, latency_s)

    def quantile(self, q: float) -> float:
        """The upper bound of the bucket holding the q-th quantile (0 < q <= 1), in seconds; 0.0 when empty."""
        if not 0 < q <= 1:
            raise ValueError(f"quantile must be in (0, 1], not {q}")
        if self.total == 0:
            return 0.0
        rank = math.ceil(q * self.total)
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                if index == BUCKETS - 1:  # the overflow bucket has no upper bound
                    return self.largest_s
                return min(FLOOR_S * GROWTH ** (index + 1), self.largest_s)
        return self.largest_s

    def merge(self, other: LatencyHistogram) -> None:
        """Add another histogram's samples to this one."""
        self.counts = [mine + theirs for mine, theirs in zip(self.counts, other.counts, strict=True)]
        self.total += other.total
        self.largest_s = max(self.largest_s, other.largest_s)
