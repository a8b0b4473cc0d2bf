"""The cost of refusing duplicate JSON keys on the worker's hot path, against the decision without the check.

The worker's parser (pydantic-core's, as `Activity.from_bytes` calls it) keeps the last value of a key given twice
and has no option to refuse it; `streams.processing.duplicate_key_problem` checks after it. Measured per message,
in the same run, over the synthetic activities (bench/synthetic.py) and the bundled sample:

- baseline: `process_raw_activity` with the check replaced by a no-op (the decision as it was before);
- chosen: `process_raw_activity` as it is (count `":` without whitespace against the keys the validated activity
  has; the standard parser with an `object_pairs_hook` only when the count says a duplicate is possible);
- the same pre-check removing whitespace with `bytes.translate`, and counting spaced keys with a regular
  expression instead;
- a strict `json.loads(object_pairs_hook=...)` pass on every message (what the LRS does to a Statement);
- jiter's `from_json(catch_duplicate_keys=True)` pass on every message, if jiter is importable (the parser inside
  pydantic-core has the option; pydantic-core does not expose it, so it would be a second parse and a dependency).

    .venv/bin/python bench/duplicate_keys.py [--activities 20000] [--repeats 9]
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streams.processing as processing
from bench.harness import machine
from bench.synthetic import SAMPLE, synthetic_activities
from schemas.activity import Activity
from streams.classify import Classifier, default_classifier
from streams.processing import (
    CONVERSATION_KEYS,
    Classified,
    MessageOrigin,
    key_twice_detail,
    parse_keeping_keys_twice,
    process_raw_activity,
    without_whitespace,
)
from streams.threads import ThreadMemory

Check = Callable[[bytes, Activity], str | None]
#: The check as the worker runs it.
CHOSEN: Check = processing.duplicate_key_problem
#: A key, whitespace, and its colon: what the count of `":` misses when a producer spaces its JSON.
SPACED_KEY = re.compile(rb'"[ \t\n\r]+:')


def no_check(_value: bytes, _activity: Activity) -> str | None:
    """The baseline: the decision without any look at the keys."""
    return None


def strict_parse_always(value: bytes, _activity: Activity) -> str | None:
    """A second, strict parse of every message with the standard library."""
    twice = parse_keeping_keys_twice(value)[1]
    return None if twice is None else key_twice_detail(twice)


def translate_precheck(value: bytes, activity: Activity) -> str | None:
    """The chosen pre-check with the whitespace deleted by `bytes.translate` (one call, but a table look-up a byte)."""
    distinct = len(activity.__pydantic_fields_set__) + CONVERSATION_KEYS + len(activity.attributes)
    if value.translate(None, b" \t\n\r").count(b'":') <= distinct:
        return None
    return strict_parse_always(value, activity)


def regex_precheck(value: bytes, activity: Activity) -> str | None:
    """The chosen pre-check with spaced keys found by a regular expression rather than by removing whitespace."""
    distinct = len(activity.__pydantic_fields_set__) + CONVERSATION_KEYS + len(activity.attributes)
    if value.count(b'":') + len(SPACED_KEY.findall(value)) <= distinct:
        return None
    return strict_parse_always(value, activity)


def jiter_check() -> Check | None:
    """jiter's own duplicate-key check (a full second parse in Rust), when jiter is installed."""
    try:
        import jiter  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None

    def check(value: bytes, _activity: Activity) -> str | None:
        try:
            jiter.from_json(value, catch_duplicate_keys=True)
        except ValueError as exc:
            return str(exc)
        return None

    return check


#: Messages timed together: the figures add up each slice's best time over the rounds, so a burst of other work
#: on this shared machine spoils one slice of one round, not a whole variant's figure.
SLICE = 1_000


def decide_slices(messages: list[bytes], check: Check, classifier: Classifier) -> list[float]:
    """Seconds to decide each slice of the messages as the worker does (thread memory looked up, then taught),
    with `check` as the duplicate-key check."""
    origin, now = MessageOrigin("bench", 0, 0, None), datetime.now(UTC)
    threads = ThreadMemory(idle_s=7 * 86_400, max_entries=200_000)
    processing.duplicate_key_problem = check  # the module looks it up at each call
    timings = []
    try:
        for start in range(0, len(messages), SLICE):
            started = time.perf_counter()
            for message in messages[start : start + SLICE]:
                outcome = process_raw_activity(message, origin, now, classifier, threads)
                if isinstance(outcome, Classified):
                    threads.remember(outcome.event)
            timings.append(time.perf_counter() - started)
        return timings
    finally:
        processing.duplicate_key_problem = CHOSEN


def check_slices(pairs: list[tuple[bytes, Activity]], check: Check) -> list[float]:
    """Seconds the check alone takes over each slice of (message, validated activity)."""
    timings = []
    for start in range(0, len(pairs), SLICE):
        started = time.perf_counter()
        for value, activity in pairs[start : start + SLICE]:
            check(value, activity)
        timings.append(time.perf_counter() - started)
    return timings


def best(rounds: list[list[float]]) -> float:
    """The sum over slices of each slice's best time."""
    return sum(min(timings) for timings in zip(*rounds, strict=True))


def measure(label: str, messages: list[bytes], variants: dict[str, Check], repeats: int) -> None:
    """Per-message figures of each variant (the variants interleaved within each round)."""
    classifier = default_classifier()
    pairs = [(message, Activity.from_bytes(message)) for message in messages]
    suspected = sum(
        without_whitespace(value).count(b'":')
        > len(activity.__pydantic_fields_set__) + CONVERSATION_KEYS + len(activity.attributes)
        for value, activity in pairs
    )
    decided: dict[str, list[list[float]]] = {name: [] for name in variants}
    alone: dict[str, list[list[float]]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, check in variants.items():
            decided[name].append(decide_slices(messages, check, classifier))
            alone[name].append(check_slices(pairs, check))
    n = len(messages)
    base = best(decided["baseline (no check)"]) / n * 1e6
    print(f"{label}: {n:,} messages, {sum(map(len, messages)) / n:.0f} bytes on average, {repeats} rounds")
    print(f'  {suspected:,} ({suspected / n:.1%}) counted more `":` than keys: those get the exact parse')
    print(f"  {'variant':44} {'decide us/msg':>14} {'vs baseline':>12} {'check alone':>12} {'of decide':>10}")
    for name in variants:
        per = best(decided[name]) / n * 1e6
        check = best(alone[name]) / n * 1e6
        print(f"  {name:44} {per:14.2f} {per / base - 1:+12.1%} {check:10.2f}us {check / base:10.1%}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activities", type=int, default=20_000, help="synthetic activities (bench/synthetic.py)")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    variants: dict[str, Check] = {
        "baseline (no check)": no_check,
        "chosen: count without whitespace, then parse": CHOSEN,
        "the same, whitespace deleted by translate": translate_precheck,
        "count + regex for spaced keys, then parse": regex_precheck,
        "json.loads(object_pairs_hook) every message": strict_parse_always,
    }
    if (jiter := jiter_check()) is not None:
        variants["jiter catch_duplicate_keys every message"] = jiter
    print("== duplicate JSON keys on the worker's hot path")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine: {machine()}")
    libraries = []
    for name in ("pydantic", "pydantic-core", "jiter"):
        try:
            libraries.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            libraries.append(f"{name} not installed")
    print(f"python {platform.python_version()}, " + ", ".join(libraries))
    print()
    measure("synthetic", synthetic_activities(args.activities, seed=1), variants, args.repeats)
    sample = [line for line in SAMPLE.read_bytes().splitlines() if line.strip()]
    measure("bundled sample", sample * max(1, args.activities // len(sample)), variants, args.repeats)


if __name__ == "__main__":
    main()
