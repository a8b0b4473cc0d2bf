"""Issue 11's goal: xAPI Statements accepted per second by `serve`'s LRS, batches of 100, each stored and its
activities published before the answer, under concurrent clients; against a raw Kafka produce of the same bytes.

    .venv/bin/python bench/lrs.py [--statements 50000] [--clients 8] [--batch 100] [--bootstrap H:P]

input      the DATASIM statements in ../shared/data/xapi, each sent with a fresh id (so every one is new), in
           batches of `--batch`, built before the clock starts.
LRS        `learnstream serve`, the real process, with a fresh embedded warehouse and no worker or loader running
           (they idle: nothing consumes), receives POST /xapi/statements from a load generator in its own process
           (aiohttp, `--clients` connections); accepted = 200 answers' Statements over the wall time; the load
           generator's and serve's CPU seconds.
baseline   a raw aiokafka producer in its own process sending the same request bodies (one record per batch, acks
           from every in-sync replica, as serve's producer asks) to a topic of the same broker.

Goal: at least 10,000 Statements/s on this machine. Nothing here asserts a rate.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.harness import children_of, cpu_seconds, local_broker, machine, own_cpu_seconds, start_serve
from bench.warehouse import percentile

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "xapi" / "datasim-tccc-statements.json"
GOAL = 10_000.0
WRITER = ("bench", "bench-writer-secret-0123456789abcdef")


@dataclass
class Sent:
    """What a sender saw: how many Statements were accepted, in what wall time, the latencies, its CPU."""

    statements: int
    wall_s: float
    latencies_ms: list[float]
    cpu_s: float
    failures: int


def batches(total: int, size: int) -> list[bytes]:
    """`total` DATASIM Statements with fresh ids, as request bodies of `size`."""
    source = json.loads(DATA.read_text())
    statements = [dict(source[n % len(source)], id=str(uuid.uuid4())) for n in range(total)]
    return [json.dumps(statements[start : start + size]).encode() for start in range(0, total, size)]


def post_all(base: str, bodies: list[bytes], clients: int) -> Sent:
    """Child process: `clients` connections posting the bodies, each taking the next one."""
    import aiohttp

    count = len(json.loads(bodies[0]))
    latencies: list[float] = []
    failures = 0
    token = base64.b64encode(f"{WRITER[0]}:{WRITER[1]}".encode()).decode()
    headers = {
        "Authorization": f"Basic {token}",
        "X-Experience-API-Version": "1.0.3",
        "Content-Type": "application/json",
    }

    async def run() -> tuple[int, float, float]:
        nonlocal failures
        queue = list(reversed(bodies))
        accepted = 0
        connector = aiohttp.TCPConnector(limit=clients)
        async with aiohttp.ClientSession(base, connector=connector, timeout=aiohttp.ClientTimeout(300)) as session:

            async def client() -> None:
                nonlocal accepted, failures
                while queue:
                    body = queue.pop()
                    began = time.perf_counter()
                    async with session.post("/xapi/statements", data=body, headers=headers) as answer:
                        await answer.read()
                        if answer.status == 200:
                            accepted += count
                        else:
                            failures += 1
                    latencies.append((time.perf_counter() - began) * 1000)

            before, started = own_cpu_seconds(), time.perf_counter()
            await asyncio.gather(*(client() for _ in range(clients)))
            return accepted, time.perf_counter() - started, own_cpu_seconds() - before

    accepted, wall, cpu = asyncio.run(run())
    return Sent(accepted, wall, latencies, cpu, failures)


def produce_all(bootstrap: str, topic: str, bodies: list[bytes], clients: int) -> Sent:
    """Child process: the baseline, a raw aiokafka producer sending the same bodies, `clients` in flight."""
    from aiokafka import AIOKafkaProducer

    count = len(json.loads(bodies[0]))
    latencies: list[float] = []

    async def run() -> tuple[float, float]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=8 * 1024 * 1024)
        await producer.start()
        queue = list(reversed(bodies))
        try:
            await producer.partitions_for(topic)  # the new topic's metadata, before the clock starts

            async def client() -> None:
                while queue:
                    body = queue.pop()
                    began = time.perf_counter()
                    await (await producer.send(topic, body))
                    latencies.append((time.perf_counter() - began) * 1000)

            before, started = own_cpu_seconds(), time.perf_counter()
            await asyncio.gather(*(client() for _ in range(clients)))
            return time.perf_counter() - started, own_cpu_seconds() - before
        finally:
            await producer.stop()

    wall, cpu = asyncio.run(run())
    return Sent(count * len(bodies), wall, latencies, cpu, 0)


def create_topic(bootstrap: str, topic: str) -> None:
    """The baseline's topic, partitioned like the raw activity topic."""
    from kafka.admin import KafkaAdminClient, NewTopic

    from learnstream.settings import TopicSettings

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=TopicSettings().partitions, replication_factor=1)])
    finally:
        admin.close()


def drafting_alone(bodies: list[bytes]) -> float:
    """The machine's speed now: µs per Statement to draft `bodies` in this process alone, as a drafting process
    drafts them (these machines are shared: the same code runs up to a fifth slower or faster from one hour to the
    next, and this says which phase a run was in)."""
    from datetime import UTC, datetime

    from learnstream.collection import tune_for_throughput
    from lrs.drafting import Request
    from lrs.workers import DrafterConfig
    from producers.directory import Directory

    tune_for_throughput()
    drafter = DrafterConfig(Directory([]), b"k" * 32, "https://lrs.example.com", "lrs").drafter()
    requests = [Request("application/json", body, "1.0.3", WRITER[0], datetime.now(UTC)) for body in bodies]
    drafter.draft(requests[0])
    started = time.process_time()
    statements = sum(len(drafter.draft(request).statements) for request in requests)
    return (time.process_time() - started) / statements * 1e6


def group_sizes(base: str) -> tuple[float, float]:
    """serve's inserts into the Statement store so far, and the Statements they held (from its /metrics)."""
    import urllib.request

    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    found = {"count": 0.0, "sum": 0.0}
    for line in text.splitlines():
        for part in found:
            if line.startswith(f"learnstream_lrs_group_statements_{part} "):
                found[part] = float(line.split()[1])
    return found["count"], found["sum"]


def serve_env(work: Path, bootstrap: str, drafting_processes: int) -> dict[str, str]:
    """serve's environment: a fresh embedded warehouse, its own topics, the bench's credentials."""
    (work / "none.toml").write_text("")
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEARNSTREAM_")}
    env.update(
        {
            "LEARNSTREAM_CLICKHOUSE_DSN": f"chdb://{work / 'warehouse'}?database=lrsbench",
            "LEARNSTREAM_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "LEARNSTREAM_TOPICS__NAMESPACE": f"lrs{uuid.uuid4().hex[:8]}",
            "LEARNSTREAM_DATA_DIR": str(work / "data"),
            "LEARNSTREAM_DEVELOPMENT": "true",
            "LEARNSTREAM_CONNECTORS_FILE": str(work / "none.toml"),
            "LEARNSTREAM_LRS__DRAFTING_PROCESSES": str(drafting_processes),
            "LEARNSTREAM_LRS__CREDENTIALS": json.dumps(
                [{"name": WRITER[0], "secret": WRITER[1], "scopes": ["write", "read"]}]
            ),
        }
    )
    return env


def show(label: str, sent: Sent, extra: str = "") -> float:
    rate = sent.statements / sent.wall_s if sent.wall_s else 0.0
    print(
        f"  {label:<34} {rate:>9,.0f} Statements/s  ({sent.statements:,} in {sent.wall_s:.1f} s; per request p50"
        f" {percentile(sent.latencies_ms, 0.5):.1f} ms, p95 {percentile(sent.latencies_ms, 0.95):.1f} ms;"
        f" sender CPU {sent.cpu_s:.2f} s{extra})"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statements", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--bootstrap", help="a running broker (default: start a local one)")
    parser.add_argument("--drafting-processes", type=int, default=2, help="serve's LRS__DRAFTING_PROCESSES")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    print("== bench/lrs.py: issue 11's Statements accepted per second")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine: {machine()}")
    print(f"statements: {args.statements:,} in batches of {args.batch}, {args.clients} concurrent clients")
    print(f"serve: {args.drafting_processes} drafting process(es)")
    bodies = batches(args.statements, args.batch)
    print(f"request bodies: {len(bodies):,}, {sum(map(len, bodies)) / len(bodies) / 1024:.0f} KiB each on average")
    calibration = batches(2_000, args.batch)
    before_run = drafting_alone(calibration)
    print(f"machine now: drafting alone {before_run:.0f} µs per Statement")
    work = Path(tempfile.mkdtemp(prefix="learnstream-bench-lrs-"))
    context = get_context("spawn")
    try:
        with local_broker(args.bootstrap) as bootstrap:
            topic = f"lrs-baseline-{uuid.uuid4().hex[:8]}"
            create_topic(bootstrap, topic)
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                raw = pool.submit(produce_all, bootstrap, topic, bodies, args.clients).result()
            process, base = start_serve(serve_env(work, bootstrap, args.drafting_processes), work, "/ready")
            try:
                warm = batches(args.batch * args.clients, args.batch)  # the first requests open everything
                with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                    pool.submit(post_all, base, warm, args.clients).result()
                    drafting = [  # the pool's processes, started by the warm-up (not multiprocessing's tracker)
                        pid
                        for pid in children_of(process.pid)
                        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
                    ]
                    groups_before = group_sizes(base)
                    before = cpu_seconds(process.pid)
                    before_drafting = sum(map(cpu_seconds, drafting))
                    lrs = pool.submit(post_all, base, bodies, args.clients).result()
                serve_cpu = cpu_seconds(process.pid) - before
                drafting_cpu = sum(map(cpu_seconds, drafting)) - before_drafting
                groups_after = group_sizes(base)
                inserts, inserted = (
                    after - earlier for after, earlier in zip(groups_after, groups_before, strict=True)
                )
            finally:
                process.terminate()
                process.wait(timeout=60)
        print()
        print("-- Statements accepted per second")
        baseline = show("raw Kafka produce of the bodies", raw)
        extra = f"; serve CPU {serve_cpu:.1f} s + its {len(drafting)} drafting processes {drafting_cpu:.1f} s"
        rate = show("LRS: stored, published, answered", lrs, f"{extra}; failures {lrs.failures}")
        print(
            f"  CPU per Statement: serve {serve_cpu / lrs.statements * 1e6:.0f} µs, drafting"
            f" {drafting_cpu / lrs.statements * 1e6:.0f} µs, load generator {lrs.cpu_s / lrs.statements * 1e6:.0f} µs"
        )
        print(f"  inserts into the Statement store: {inserts:,.0f}, {inserted / max(inserts, 1):,.0f} Statements each")
        print(f"  LRS / raw: {rate / baseline:.2f}x; goal >= {GOAL:,.0f}/s: {'yes' if rate >= GOAL else 'NO'}")
        after_run = drafting_alone(calibration)
        print(f"  machine: drafting alone {before_run:.0f} µs per Statement before the runs, {after_run:.0f} after")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
