"""Consumer lag, defined once: a partition's end offset minus the first offset its group has not committed (the
group's committed offset, or the partition's beginning when it committed none), as Kafka's own
`kafka-consumer-groups.sh` reports it. The worker's and the loader's `learnstream_consumer_lag_messages` and
`learnstream status` all count it this way, so the gauge and the status screen agree.

`ConsumerLag` keeps the gauge of a kafka-python consumer's assigned partitions current. A kafka-python consumer is
not thread-safe, so it is refreshed from the consumer's own polling loop, and at most every `every_s` seconds, since
the offsets are round-trips to the broker. A partition taken away by a rebalance loses its series here; its new
owner (another process of the group) shows it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError
from prometheus_client import Gauge

from learnstream.metrics import CONSUMER_LAG

logger = logging.getLogger(__name__)

#: How long one refresh may wait for the broker's answers (the polling loop waits meanwhile).
REFRESH_TIMEOUT_MS = 2_000


def first_unconsumed(committed: int | None, beginning: int) -> int:
    """The offset a group reads next: its committed offset, or the topic's beginning when it committed none (or
    committed an offset retention has since deleted)."""
    return beginning if committed is None or committed < beginning else committed


def lag_messages(end: int, committed: int | None, beginning: int) -> int:
    """How many messages of a partition its group has not committed yet; never below 0 (an end offset read before
    the commit moved past it)."""
    return max(0, end - first_unconsumed(committed, beginning))


class ConsumerLag:
    """Keeps the lag gauge of one consumer's assigned partitions current; call `refresh()` from its polling loop."""

    def __init__(
        self,
        consumer: Any,
        group_id: str,
        every_s: float = 5.0,
        gauge: Gauge = CONSUMER_LAG,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.consumer = consumer
        self.group_id = group_id
        self.every_s = every_s
        self.gauge = gauge
        self.clock = clock
        self._due = -math.inf
        self._shown: set[TopicPartition] = set()

    def refresh(self, force: bool = False) -> dict[TopicPartition, int] | None:
        """Read end offsets and positions and set the gauge, if `every_s` has passed since the last read (or
        `force`). Returns the lag by partition, or None when it was not due or the broker did not answer."""
        now = self.clock()
        if not force and now < self._due:
            return None
        self._due = now + self.every_s
        try:
            assigned = sorted(self.consumer.assignment())
            ends = self.consumer.end_offsets(assigned, timeout_ms=REFRESH_TIMEOUT_MS) if assigned else {}
            committed = {tp: self.consumer.committed(tp, timeout_ms=REFRESH_TIMEOUT_MS) for tp in assigned}
            never = [tp for tp, offset in committed.items() if offset is None]
            beginnings = self.consumer.beginning_offsets(never, timeout_ms=REFRESH_TIMEOUT_MS) if never else {}
        except KafkaError as exc:  # the gauge keeps its last values; the loop's own poll reports an outage
            logger.warning("consumer lag not refreshed: group=%s: %s", self.group_id, exc)
            return None
        lags = {
            tp: lag_messages(end, committed.get(tp), beginnings.get(tp, 0))
            for tp, end in ends.items()
            if end is not None
        }
        for tp in self._shown - lags.keys():
            self.gauge.remove(self.group_id, tp.topic, str(tp.partition))
        for tp, lag in lags.items():
            self.gauge.labels(self.group_id, tp.topic, str(tp.partition)).set(lag)
        self._shown = set(lags)
        return lags
