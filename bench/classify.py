"""Throughput of the worker's per-message decision, against plain JSON parsing of the same bytes."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic import synthetic_activities
from schemas.activity import Activity
from schemas.topics import Topics
from streams.classify import default_classifier
from streams.processing import Classified, MessageOrigin, process_raw_activity, route
from streams.threads import ThreadMemory


def best_of(repeats: int, run: Callable[[], None]) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--activities", type=int, default=20_000, help="synthetic activities (bench/synthetic.py)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    messages = synthetic_activities(args.activities)
    topics = Topics.in_namespace()
    origin = MessageOrigin("bench", 0, 0, None)
    now = datetime.now(UTC)
    classifier = default_classifier()

    def baseline() -> None:
        for message in messages:
            json.loads(message)

    def validate() -> None:
        for message in messages:
            Activity.from_bytes(message)

    def decide() -> None:
        threads = ThreadMemory(idle_s=7 * 86_400, max_entries=200_000)  # as the worker: look up, then remember
        for message in messages:
            outcome = process_raw_activity(message, origin, now, classifier, threads)
            assert isinstance(outcome, Classified)
            threads.remember(outcome.event)

    def decide_and_route() -> None:
        threads = ThreadMemory(idle_s=7 * 86_400, max_entries=200_000)
        for message in messages:
            outcome = process_raw_activity(message, origin, now, classifier, threads)
            if isinstance(outcome, Classified):
                threads.remember(outcome.event)
            route(outcome, topics, None)

    n = len(messages)
    base = best_of(args.repeats, baseline)
    valid = best_of(args.repeats, validate)
    full = best_of(args.repeats, decide)
    routed = best_of(args.repeats, decide_and_route)
    print(f"messages: {n} ({sum(map(len, messages)) / n:.0f} bytes on average), best of {args.repeats}")
    print(f"{'json.loads (baseline)':38} {n / base:>10,.0f} msg/s  1.00x")
    print(f"{'Activity.from_bytes (validation)':38} {n / valid:>10,.0f} msg/s  {valid / base:.2f}x baseline time")
    print(f"{'process_raw_activity + threads (full)':38} {n / full:>10,.0f} msg/s  {full / base:.2f}x baseline time")
    print(f"{'+ route (event serialized, as sent)':38} {n / routed:>10,.0f} msg/s  {routed / base:.2f}x baseline time")
    print(f"  per message: {full / n * 1e6:.1f} us deciding, {routed / n * 1e6:.1f} us with serialization")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
