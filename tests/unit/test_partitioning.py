"""The memoised partitioners choose exactly what the libraries' default partitioners choose, in bounded memory."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner as AiokafkaDefaultPartitioner
from kafka.partitioner import DefaultPartitioner as KafkaDefaultPartitioner

from learnstream.partitioning import MemoisedAiokafkaPartitioner, MemoisedPartitioner


class Cluster:
    """The three ClusterMetadata calls a kafka-python partitioner makes."""

    def __init__(self, topic: str, partitions: set[int], available: set[int]) -> None:
        self.topic = topic
        self.partitions = partitions
        self.available = available

    def topics(self) -> set[str]:
        return {self.topic}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.available


def keys(count: int) -> list[bytes]:
    rng = random.Random(7)
    return [f"slack:acme:thread:C{rng.randrange(10**6)}/{n}".encode() * rng.randint(1, 3) for n in range(count)]


def test_keyed_records_land_where_kafka_python_puts_them():
    default = KafkaDefaultPartitioner()
    memoised = MemoisedPartitioner(cache_size=100)
    for partitions in (1, 3, 12, 100):
        cluster = Cluster("t", set(range(partitions)), set(range(partitions)))
        for key in keys(500) * 2:  # the second round answers from the cache
            assert memoised.partition("t", key, key, None, b"v", cluster) == default.partition(
                "t", key, key, None, b"v", cluster
            )


def test_keyed_records_land_where_aiokafka_puts_them():
    default = AiokafkaDefaultPartitioner()
    memoised = MemoisedAiokafkaPartitioner(cache_size=100)
    for partitions in (1, 3, 12, 100):
        all_partitions = list(range(partitions))
        for key in keys(500) * 2:
            assert memoised(key, all_partitions, all_partitions) == default(key, all_partitions, all_partitions)


def test_the_memo_stays_within_its_bound_and_is_used():
    memoised = MemoisedAiokafkaPartitioner(cache_size=64)
    for key in keys(1000):
        memoised(key, [0, 1, 2], [0, 1, 2])
    assert memoised.key_hash.cache_info().currsize == 64
    hot = keys(1)[0]
    for _ in range(10):
        memoised(hot, [0, 1, 2], [0, 1, 2])
    assert memoised.key_hash.cache_info().hits >= 9


def test_records_without_a_key_go_to_an_available_partition():
    memoised = MemoisedPartitioner()
    cluster = Cluster("t", {0, 1, 2, 3}, {1, 3})
    assert {memoised.partition("t", None, None, None, b"v", cluster) for _ in range(200)} == {1, 3}
    aiokafka = MemoisedAiokafkaPartitioner()
    assert {aiokafka(None, [0, 1, 2, 3], [2]) for _ in range(50)} == {2}
    assert {aiokafka(None, [0, 1], []) for _ in range(200)} == {0, 1}


def test_an_unknown_topic_is_refused_like_kafka_python_does():
    memoised = MemoisedPartitioner()
    try:
        memoised.partition("missing", b"k", b"k", None, b"v", Cluster("t", {0}, {0}))
    except ValueError as exc:
        assert "missing" in str(exc)
    else:
        raise AssertionError("expected a ValueError for an unknown topic")
