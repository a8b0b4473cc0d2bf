"""The whole pipeline on real parts, every stage running at once as in production, against baselines in the same run.

    python bench/pipeline.py [--activities 200000] [--latency-seconds 60] [--bootstrap HOST:PORT]

1. Raw baseline: a bare kafka-python send loop (own process) while this process consumes the topic and inserts
   the raw bytes into ClickHouse: Kafka and ClickHouse with no learnstream code in between.
2. Pass-through faust agents over the same messages (prefilled, so the agent alone sets the pace), batched as
   the worker does and unbatched (one Topic.send per event): the ceiling of any faust worker.
3. End to end: the connector (`bench/send.py`, own process), the worker (`learnstream worker`, own process) and
   the loader (here, since the embedded chDB lives in the process that loads) run concurrently; the clock runs
   from the connector's start until the last learning event is queryable. Prints CPU per stage and the RSS of
   the worker and the loader as the run goes on.
4. Latency: the connector paced at half the measured end-to-end rate for --latency-seconds; each activity
   carries its send time in a header, and the loader records insert-returned minus send time (p50 / p99).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    WORKER_READY,
    OffsetWatch,
    RssSampler,
    bench_settings,
    cpu_seconds,
    local_broker,
    print_header,
    ratio,
    rss_mib,
    running,
    settings_env,
    watch_output,
    worker_command,
)
from bench.synthetic import write_jsonl
from learnstream.kafka import make_consumer, make_producer
from learnstream.latency import LatencyHistogram
from learnstream.settings import Settings
from schemas.activity import Activity
from warehouse.connection import connect
from warehouse.dsn import parse_dsn
from warehouse.loader import EventLoader
from warehouse.migrations import migrate

ROOT = Path(__file__).resolve().parent.parent
SEND = [sys.executable, str(ROOT / "bench" / "send.py")]
PASSTHROUGH = [sys.executable, str(ROOT / "bench" / "passthrough.py")]


def reap(process: subprocess.Popen[bytes]) -> float:
    """Wait for a child and return the CPU seconds it used (user + system), from the kernel's accounting."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{process.args} exited with {process.returncode}")
    return usage.ru_utime + usage.ru_stime


def write_keys(lines_path: Path, keys_path: Path) -> None:
    """The conversation key of every line, one per line, so the raw baseline sends keyed without parsing."""
    with lines_path.open("rb") as lines, keys_path.open("wb") as keys:
        for line in lines:
            keys.write(Activity.from_bytes(line).conversation_key.encode() + b"\n")


def raw_baseline(settings: Settings, client: Any, database: str, lines: Path, keys: Path, count: int) -> float:
    """Bare send loop (own process) while this process consumes and inserts the raw bytes: seconds end to end."""
    topic = settings.topics.names.activity_raw
    client.command(
        f"CREATE TABLE {database}.raw_baseline (kafka_partition UInt32, kafka_offset UInt64, body String) "
        "ENGINE = MergeTree ORDER BY (kafka_partition, kafka_offset)"
    )
    consumer = make_consumer(settings.kafka, f"baseline-{uuid.uuid4().hex[:6]}", [topic], "bench-baseline")
    started = time.perf_counter()
    sender = subprocess.Popen([*SEND, str(lines), "--raw", str(keys)], cwd=ROOT, env=settings_env(settings))
    stored = 0
    rows: list[list[Any]] = []
    oldest = time.monotonic()
    while stored < count:
        polled = consumer.poll(timeout_ms=200, max_records=settings.loader.poll_records)
        for records in polled.values():
            rows.extend([r.partition, r.offset, r.value] for r in records)
        full = len(rows) >= settings.loader.batch_size
        if rows and (full or time.monotonic() - oldest >= settings.loader.max_wait_s or stored + len(rows) >= count):
            client.insert(
                "raw_baseline", rows, column_names=["kafka_partition", "kafka_offset", "body"], database=database
            )
            consumer.commit()
            stored += len(rows)
            rows = []
            oldest = time.monotonic()
        elif not rows:
            oldest = time.monotonic()
    elapsed = time.perf_counter() - started
    reap(sender)
    consumer.close()
    return elapsed


def prefill(settings: Settings, lines: Path) -> None:
    """Put every activity on the raw topic with the connector, so the agent reads exactly what the worker reads."""
    reap(subprocess.Popen([*SEND, str(lines)], cwd=ROOT, env=settings_env(settings)))


def passthrough(settings: Settings, work: Path, lines: Path, count: int, batched: bool) -> tuple[float, float]:
    """The pass-through agent over the prefilled messages: activities/s from its first output, and steady."""
    prefill(settings, lines)
    watch = OffsetWatch(settings.kafka.bootstrap_servers, settings.topics.names.learning_events)
    command = PASSTHROUGH if batched else [*PASSTHROUGH, "--unbatched"]
    log = work / f"passthrough-{'batched' if batched else 'unbatched'}.log"
    with running(command, settings_env(settings), log, WORKER_READY) as agent:
        run = watch_output(watch, count, [agent.pid], base=0)
    watch.close()
    return run.per_s, run.steady_per_s


def end_to_end(
    settings: Settings,
    client: Any,
    database: str,
    work: Path,
    lines: Path,
    count: int,
    rate: float | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Connector, worker(s) and loader at once; returns seconds, CPU per stage, RSS samples and the loader's stats."""
    migrate(client, database)
    consumer = make_consumer(settings.kafka, settings.loader.group_id, [settings.topics.names.learning_events], "bl")
    dlq = make_producer(settings.kafka, "bench-loader-dlq", settings.producer)
    loader = EventLoader.from_settings(settings, consumer, client, database, dlq)
    command = [*SEND, str(lines), *(["--rate", str(rate)] if rate else [])]
    with ExitStack() as stack:
        pids = [
            stack.enter_context(
                running(
                    worker_command(),
                    settings_env(settings),
                    work / f"worker-{settings.topics.namespace}-{n}.log",
                    WORKER_READY,
                )
            ).pid
            for n in range(workers)
        ]
        rss = stack.enter_context(RssSampler({"worker": pids[0], "loader": os.getpid()}, every_s=2.0))
        worker_cpu, loader_cpu = sum(map(cpu_seconds, pids)), time.process_time()
        started = time.perf_counter()
        connector = subprocess.Popen(command, cwd=ROOT, env=settings_env(settings))
        warmed_up = False
        while loader.stats.rows_inserted < count:
            loader.load_once()
            if rate and not warmed_up and time.perf_counter() - started > 5:
                loader.stats.latency = LatencyHistogram()  # the first seconds include the worker's first fetch
                warmed_up = True
        seconds = time.perf_counter() - started
        worker_cpu = sum(map(cpu_seconds, pids)) - worker_cpu
        loader_cpu = time.process_time() - loader_cpu
        connector_cpu = reap(connector)
    consumer.close()
    dlq.close()
    return {
        "seconds": seconds,
        "cpu": {"connector": connector_cpu, "worker": worker_cpu, "loader": loader_cpu},
        "rss": rss.samples,
        "stats": loader.stats,
    }


def print_rss(samples: list[tuple[float, dict[str, float]]], seconds: float) -> None:
    """RSS of the worker and the loader at five points of the run."""
    if not samples:
        return
    picks = [samples[min(len(samples) - 1, int(share * (len(samples) - 1)))] for share in (0, 0.25, 0.5, 0.75, 1)]
    for name in ("worker", "loader"):
        series = "  ".join(f"{at:5.0f}s {sizes[name]:5.0f}" for at, sizes in picks)
        print(f"  RSS MiB {name:7} {series}   (run {seconds:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activities", type=int, default=200_000)
    parser.add_argument("--latency-seconds", type=float, default=60.0, help="0 skips the latency run")
    parser.add_argument("--skip-baselines", action="store_true", help="only the end-to-end run (a soak, say)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes in the end-to-end run")
    parser.add_argument("--bootstrap", help="use this broker instead of starting a local one")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="learnstream-bench-"))
    with local_broker(args.bootstrap) as bootstrap:
        first = bench_settings(work, bootstrap, label="e2e")
        print_header("bench/pipeline.py: end to end", first, {"activities": args.activities})
        lines, keys = work / "activities.jsonl", work / "keys.txt"
        made = write_jsonl(lines, args.activities)
        write_keys(lines, keys)
        print(
            f"input: {made.count} activities, {made.mean_bytes:.0f} bytes on average, {made.conversation_keys} "
            f"conversation keys, {made.distinct_texts} distinct texts, {made.first_occurred_at:%Y-%m-%d} to "
            f"{made.last_occurred_at:%Y-%m-%d}; 3 partitions; one connector, {args.workers} worker, one loader process"
        )
        target = parse_dsn(first.warehouse_dsn)
        client = connect(target)
        n = args.activities
        figures: dict[str, float] = {}
        if not args.skip_baselines:
            base = bench_settings(work, bootstrap, label="raw")
            client.command(f"CREATE DATABASE IF NOT EXISTS {parse_dsn(base.warehouse_dsn).database}")
            figures["raw"] = n / raw_baseline(base, client, parse_dsn(base.warehouse_dsn).database, lines, keys, n)
            for batched in (True, False):
                agent = bench_settings(work, bootstrap, label="pass")
                name = "pass-through batched" if batched else "pass-through unbatched"
                figures[name], figures[f"{name} steady"] = passthrough(agent, work, lines, n, batched)

        result = end_to_end(first, client, target.database, work, lines, n, workers=args.workers)
        figures["e2e"] = n / result["seconds"]
        stored = client.query(f"SELECT count() FROM {target.database}.learning_events FINAL").result_rows[0][0]
        print()
        print(f"{'stage or baseline':44} {'activities/s':>12}  ratio")
        if "raw" in figures:
            print(f"{'raw Kafka -> ClickHouse (baseline)':44} {figures['raw']:12,.0f}  1.00x")
            for name, label in (("batched", "batched sends"), ("unbatched", "one send per event")):
                print(
                    f"{'pass-through agent, ' + label + ' (alone)':44} {figures['pass-through ' + name]:12,.0f}"
                    f"  (steady, 10-90 %: {figures['pass-through ' + name + ' steady']:,.0f})"
                )
        e2e = figures["e2e"]
        label = f"learnstream end to end, {args.workers} worker{'s' if args.workers > 1 else ''}"
        print(f"{label:44} {e2e:12,.0f}", end="")
        if "raw" in figures:
            print(
                f"  {ratio(e2e, figures['raw'])} raw, {ratio(e2e, figures['pass-through batched'])} batched "
                f"pass-through, {ratio(e2e, figures['pass-through unbatched'])} unbatched pass-through"
            )
        else:
            print()
        print(f"  learning events stored (FINAL): {stored} of {n}; wall {result['seconds']:.1f} s")
        for stage, cpu in result["cpu"].items():
            print(f"  CPU {stage:9} {cpu:7.1f} s  {cpu / n * 1000:6.2f} s per 1,000 activities")
        stats = result["stats"]
        print(
            f"  loader: {stats.batches_inserted} inserts, {stats.rows_inserted / stats.batches_inserted:,.0f} rows each"
        )
        print(
            f"  latency at full load (queueing included): p50 {stats.latency.quantile(0.5):.2f} s, "
            f"p99 {stats.latency.quantile(0.99):.2f} s"
        )
        print_rss(result["rss"], result["seconds"])

        if args.latency_seconds > 0:
            rate = e2e / 2
            count = int(rate * args.latency_seconds)
            paced = bench_settings(work, bootstrap, label="lat")
            paced_lines = work / "paced.jsonl"
            with lines.open("rb") as source, paced_lines.open("wb") as out:
                for _ in range(min(count, n)):
                    out.write(source.readline())
            count = min(count, n)
            paced_target = parse_dsn(paced.warehouse_dsn)
            latency = end_to_end(paced, client, paced_target.database, work, paced_lines, count, rate=rate)
            histogram = latency["stats"].latency
            print()
            print(
                f"latency at {rate:,.0f} activities/s (half the end-to-end rate) for {count / rate:.0f} s, "
                f"send to queryable, after 5 s of warm-up: p50 {histogram.quantile(0.5):.2f} s, "
                f"p99 {histogram.quantile(0.99):.2f} s, max {histogram.largest_s:.2f} s over {histogram.total} events"
            )
            print(f"  offered {rate:,.0f}/s, achieved {count / latency['seconds']:,.0f}/s end to end")
        print(json.dumps({"figures": figures}, default=str))
        print(f"peak RSS of this process (loader and chDB): {rss_mib(os.getpid()):.0f} MiB now")


if __name__ == "__main__":
    main()
