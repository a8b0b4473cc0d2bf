"""Records sent as one batch per partition (learnstream/record_batches.py) land where `send` puts them, in order,
with their headers, on the real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import MessageSizeTooLargeError
from kafka.admin import KafkaAdminClient, NewTopic

from learnstream.kafka import make_async_producer
from learnstream.partitioning import MemoisedAiokafkaPartitioner
from learnstream.record_batches import send_in_batches
from learnstream.settings import ProducerSettings, Settings

Placed = dict[int, list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]]


def records(count: int, size: int) -> list[tuple[bytes | None, bytes]]:
    """Keyed records over 40 keys (so every partition gets several), and a few without a key."""
    made: list[tuple[bytes | None, bytes]] = []
    for number in range(count):
        key = None if number % 50 == 49 else f"conversation-{number % 40}".encode()
        made.append((key, f"{number:06d}".encode() + b"x" * size))
    return made


async def read_back(bootstrap: str, topic: str, expected: int) -> Placed:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    placed: Placed = defaultdict(list)
    try:
        read = 0
        async with asyncio.timeout(60):
            while read < expected:
                for partition, messages in (await consumer.getmany(timeout_ms=500)).items():
                    for message in messages:
                        placed[partition.partition].append((message.key, message.value, list(message.headers)))
                        read += 1
    finally:
        await consumer.stop()
    return placed


def publish(settings: Settings, topic: str, sent: list[tuple[bytes | None, bytes]], batched: bool) -> Placed:
    """Send `sent` through a producer as serve makes it (16 KiB batches, so they fill), batched or one by one."""

    async def run() -> Placed:
        partitioner = MemoisedAiokafkaPartitioner()
        tuning = ProducerSettings(batch_bytes=16_384)
        producer = make_async_producer(settings.kafka, tuning, "batches", 1_048_576, partitioner)
        await producer.start()
        headers = [("learnstream-sent-at", b"1")]
        try:
            if batched:
                futures = await send_in_batches(producer, partitioner, topic, sent, headers)
                assert len(futures) > 3  # several partitions, and full batches rolled over
            else:
                futures = [await producer.send(topic, value=value, key=key, headers=headers) for key, value in sent]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()
        return await read_back(settings.kafka.bootstrap_servers, topic, len(sent))

    return asyncio.run(run())


def keyed(placed: Placed) -> dict[int, list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]]:
    """What each partition holds, without the keyless records (their partition is chosen at random)."""
    return {partition: [item for item in items if item[0] is not None] for partition, items in placed.items()}


def test_batched_records_land_where_send_puts_them_in_order(settings: Settings) -> None:
    sent = records(600, 300)
    topics = {name: f"{settings.topics.namespace}.batches-{name}-{uuid.uuid4().hex[:6]}" for name in ("one", "all")}
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1) for topic in topics.values()])
    finally:
        admin.close()
    one_by_one = publish(settings, topics["one"], sent, batched=False)
    batched = publish(settings, topics["all"], sent, batched=True)
    assert keyed(batched) == keyed(one_by_one)
    assert sum(len(items) for items in batched.values()) == len(sent)
    assert sorted(value for items in batched.values() for _, value, _ in items) == sorted(value for _, value in sent)
    assert all(headers == [("learnstream-sent-at", b"1")] for items in batched.values() for *_, headers in items)


def test_a_record_over_the_request_size_is_refused_before_anything_is_sent(settings: Settings) -> None:
    async def run() -> None:
        partitioner = MemoisedAiokafkaPartitioner()
        producer = make_async_producer(settings.kafka, ProducerSettings(), "batches", 1_048_576, partitioner)
        await producer.start()
        try:
            with pytest.raises(MessageSizeTooLargeError):
                await send_in_batches(
                    producer,
                    partitioner,
                    settings.topics.names.activity_raw,
                    [(b"k", b"small"), (b"k", b"x" * 2_000_000)],
                )
        finally:
            await producer.stop()
        assert (await read_nothing(settings)) == 0

    async def read_nothing(current: Settings) -> int:
        consumer = AIOKafkaConsumer(
            current.topics.names.activity_raw,
            bootstrap_servers=current.kafka.bootstrap_servers,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            found = await consumer.getmany(timeout_ms=2000)
            return sum(len(messages) for messages in found.values())
        finally:
            await consumer.stop()

    asyncio.run(run())
