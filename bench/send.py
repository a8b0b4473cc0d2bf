"""The sending side of the pipeline benchmarks, as its own process (settings from LEARNSTREAM_ variables).

    python bench/send.py FILE                    # the learnstream connector: file replay, as fast as it goes
    python bench/send.py FILE --rate 2000        # the same connector, paced to a constant rate
    python bench/send.py FILE --raw KEYS         # baseline: a bare kafka-python send loop, keys read from KEYS

Every variant uses the producer of `learnstream.kafka.make_producer` with the connectors' producer settings.
Prints one line of JSON: records sent, seconds, and this process's CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from learnstream.kafka import make_producer
from learnstream.settings import load_settings
from producers.contracts import Batch, CheckReport
from producers.cursors import FileCursorStore
from producers.file_replay import ByteOffset, FileReplay
from producers.runtime import run_connector

#: A paced connector hands over a batch this often.
PACE_S = 0.02


class PacedReplay:
    """A file replay that hands its batches over at a constant rate (a live source, for latency under load)."""

    cursor_type = ByteOffset

    def __init__(self, path: Path, rate: float) -> None:
        self.replay = FileReplay(path, batch_size=max(1, round(rate * PACE_S)))
        self.name = self.replay.name
        self.interval_s = self.replay.batch_size / rate

    def start_cursor(self, since: datetime | None) -> ByteOffset:
        return self.replay.start_cursor(since)

    def check(self) -> CheckReport:
        return self.replay.check()

    def read(self, cursor: ByteOffset) -> Iterator[Batch[ByteOffset]]:
        due = time.monotonic()
        for batch in self.replay.read(cursor):
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            due += self.interval_s
            yield batch


def send_raw(path: Path, keys_path: Path, topic: str) -> int:
    """Send every line with its precomputed key in a bare loop, then flush: no learnstream code in between."""
    settings = load_settings()
    producer = make_producer(settings.kafka, "bench-raw", settings.producer)
    keys = keys_path.read_bytes().splitlines()
    count = 0
    with path.open("rb") as lines:
        for key, line in zip(keys, lines, strict=True):
            producer.send(topic, key=key, value=line.rstrip(b"\n"))
            count += 1
    producer.flush()
    producer.close()
    return count


def send_connector(path: Path, rate: float | None) -> int:
    """Run the file-replay connector (optionally paced) onto the raw topic from the start of the file."""
    settings = load_settings()
    producer = make_producer(settings.kafka, "bench-connector", settings.producer)
    connector = PacedReplay(path, rate) if rate else FileReplay(path)
    cursors = FileCursorStore(settings.data_dir / "bench-cursors")
    start = ByteOffset()
    try:
        return run_connector(connector, producer, settings.topics.names.activity_raw, cursors, start=start).records
    finally:
        producer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    parser.add_argument("--rate", type=float, help="activities per second (paced connector)")
    parser.add_argument("--raw", type=Path, metavar="KEYS", help="bare send loop with the keys in this file")
    parser.add_argument("--topic", help="with --raw: the topic (default: the raw activity topic)")
    args = parser.parse_args()
    started, cpu_started = time.perf_counter(), time.process_time()
    if args.raw:
        count = send_raw(args.file, args.raw, args.topic or load_settings().topics.names.activity_raw)
    else:
        count = send_connector(args.file, args.rate)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(json.dumps({"records": count, "seconds": seconds, "cpu_s": cpu}))


if __name__ == "__main__":
    main()
