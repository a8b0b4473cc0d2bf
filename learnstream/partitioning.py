"""Key partitioning with a bounded memo of the key hash, for kafka-python and aiokafka producers alike.

Both client libraries hash keys with a pure-Python murmur2 (15-20 µs per keyed send); a conversation key is
sent many times (every reply of a thread, every edit of a page), so the hash is memoised in a bounded LRU.
The partition chosen is exactly the default partitioner's: `murmur2(key) & 0x7fffffff % len(partitions)` over
the sorted partition ids, and a random available partition for a record without a key.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from kafka.partitioner import Partitioner, murmur2

DEFAULT_CACHE_SIZE = 65_536

KeyHash = Callable[[bytes], int]


def memoised_key_hash(cache_size: int = DEFAULT_CACHE_SIZE) -> KeyHash:
    """The positive murmur2 hash of a key, remembered for the `cache_size` most recently used keys."""

    @lru_cache(maxsize=cache_size)
    def key_hash(key: bytes) -> int:
        return int(murmur2(key)) & 0x7FFFFFFF

    return key_hash


def choose_partition(
    key_hash: KeyHash, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
) -> int:
    """The default partitioner's choice: by key hash over the sorted partitions, at random without a key."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[key_hash(key) % len(all_partitions)]


class MemoisedPartitioner(Partitioner):  # type: ignore[misc]  # kafka-python ships no type hints
    """kafka-python's default partitioning, with the key hash memoised in a bounded LRU."""

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.key_hash = memoised_key_hash(cache_size)

    def partition(
        self, topic: str, key: Any, serialized_key: bytes | None, value: Any, serialized_value: Any, cluster: Any
    ) -> int:
        """The partition for one record, as kafka-python's DefaultPartitioner would choose it."""
        if topic not in cluster.topics():
            raise ValueError(f"Topic {topic} not found in ClusterMetadata")
        all_partitions = sorted(cluster.partitions_for_topic(topic))
        available = list(cluster.available_partitions_for_topic(topic)) if serialized_key is None else []
        return choose_partition(self.key_hash, serialized_key, all_partitions, available)


class MemoisedAiokafkaPartitioner:
    """aiokafka's (and so faust's) default partitioning, with the key hash memoised in a bounded LRU."""

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.key_hash = memoised_key_hash(cache_size)

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        """The partition for one record; aiokafka passes the partitions already sorted by id."""
        return choose_partition(self.key_hash, key, all_partitions, available)
