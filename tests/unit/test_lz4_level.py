"""aiokafka's record batches compressed with lz4 at the fast level (learnstream/lz4_level.py), readable as before."""

from __future__ import annotations

import json

import cramjam
from aiokafka import codec
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record import default_records
from aiokafka.record.memory_records import MemoryRecords

from learnstream import lz4_level

LZ4 = 3  # the record batch attribute of lz4
VALUES = [json.dumps({"n": n, "text": "an activity with words that repeat " * 6}).encode() for n in range(300)]


def built() -> bytes:
    batch = BatchBuilder(1 << 20, LZ4, is_transactional=False)
    for value in VALUES:
        assert batch.append(timestamp=None, key=b"conversation", value=value) is not None
    return bytes(batch._build())  # the bytes the producer sends


def read(batch: bytes) -> list[bytes]:
    records = MemoryRecords(batch)
    values: list[bytes] = []
    while records.has_next():
        values += [record.value for record in records.next_batch()]
    return values


def test_batches_are_compressed_at_the_fast_level_and_read_back_whole() -> None:
    compiled = __import__("aiokafka.record._crecords.default_records", fromlist=["lz4_encode"])
    before = {module: module.lz4_encode for module in (default_records, compiled)}
    try:
        for module in before:  # aiokafka's own, even if an earlier test made a producer
            module.lz4_encode = codec.lz4_encode
        slow = built()
        lz4_level.use_fast_lz4()
        lz4_level.use_fast_lz4()  # idempotent
        assert all(module.lz4_encode is lz4_level.fast_lz4_encode for module in before)
        fast = built()
    finally:
        for module, encode in before.items():
            module.lz4_encode = encode
    assert fast != slow and read(fast) == read(slow) == VALUES


def test_the_fast_level_is_lz4s_fast_mode() -> None:
    payload = b"".join(VALUES)
    compressor = cramjam.lz4.Compressor(level=1, content_checksum=False, block_linked=False)
    compressor.compress(payload)
    assert lz4_level.fast_lz4_encode(payload) == bytes(compressor.finish())
    assert bytes(cramjam.lz4.decompress(lz4_level.fast_lz4_encode(payload))) == payload
