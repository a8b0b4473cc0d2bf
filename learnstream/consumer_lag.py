"""Consumer lag of a kafka-python consumer's group, as `learnstream_consumer_lag_messages{group, topic, partition}`:
per partition assigned to this consumer, the end offset minus the consumer's position (what it has yet to read).

A kafka-python consumer is not thread-safe, so the lag is refreshed from the consumer's own polling loop, and at
most every `every_s` seconds, since the end offsets are a round-trip to the broker. A partition taken away by a
rebalance loses its series here; its new owner (another process of the group) shows it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError
from prometheus_client import Gauge

from learnstream.metrics import CONSUMER_LAG

logger = logging.getLogger(__name__)

#: How long one refresh may wait for the broker's answers (the polling loop waits meanwhile).
REFRESH_TIMEOUT_MS = 2_000


def partition_lags(
    ends: Mapping[TopicPartition, int | None], positions: Mapping[TopicPartition, int | None]
) -> dict[TopicPartition, int]:
    """End offset minus position of every partition both are known for; never below 0 (an end offset read
    before the position moved past it)."""
    lags: dict[TopicPartition, int] = {}
    for tp, position in positions.items():
        end = ends.get(tp)
        if end is not None and position is not None:
            lags[tp] = max(0, end - position)
    return lags


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
            positions = {tp: self.consumer.position(tp, timeout_ms=REFRESH_TIMEOUT_MS) for tp in assigned}
        except KafkaError as exc:  # the gauge keeps its last values; the loop's own poll reports an outage
            logger.warning("consumer lag not refreshed: group=%s: %s", self.group_id, exc)
            return None
        lags = partition_lags(ends, positions)
        for tp in self._shown - lags.keys():
            self.gauge.remove(self.group_id, tp.topic, str(tp.partition))
        for tp, lag in lags.items():
            self.gauge.labels(self.group_id, tp.topic, str(tp.partition)).set(lag)
        self._shown = set(lags)
        return lags
