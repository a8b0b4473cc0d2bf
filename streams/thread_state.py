"""The worker's thread memory on Kafka: each change written to `<ns>.thread.state` with the batch's events, and
the topic read back into memory when the worker starts or is given other partitions.

Why not a faust table: faust-streaming's table recovery has open issues that leave a worker hanging in recovery
(#432, #596, #651), and a table writes its changelog through faust's own send path, which the worker bypasses for
speed (streams/app.py). This is the same idea, small enough to test end to end: a compacted topic holding the
latest entry of each question thread, written in the acknowledged batch (so no offset is committed before the
memory it produced is durable) and read back whole (only question threads, bounded by the retention).
"""

from __future__ import annotations

from learnstream.kafka import read_latest
from learnstream.settings import KafkaSettings
from streams.threads import ThreadEntry, entry_from_bytes

#: How long reading the whole topic back may take before the worker gives up (and exits to be restarted).
READ_TIMEOUT_S = 120.0


def read_thread_entries(kafka: KafkaSettings, topic: str, timeout_s: float = READ_TIMEOUT_S) -> dict[str, ThreadEntry]:
    """The latest entry of every thread on the topic; an unreadable record is skipped with a warning (it only
    costs that thread its context), and a record without a value forgets its thread."""
    missing = f"the thread-state topic {topic} does not exist: run `learnstream topics create`"
    latest = read_latest(kafka, topic, "thread-state", timeout_s, missing, entry_from_bytes)
    return {key.decode("utf-8", errors="replace"): entry for key, entry in latest.items()}
