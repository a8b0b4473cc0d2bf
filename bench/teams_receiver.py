"""Teams: how long `serve` takes to answer a Graph change-notification delivery (Graph wants it within 3 seconds),
and how fast the fetch half (`connect run <receiver>`) then turns the queued notifications into activities.

    python bench/teams_receiver.py                                # 10 deliveries per row, starts its own broker
    python bench/teams_receiver.py --rounds 5 --bootstrap 127.0.0.1:9092 --notifications 150

The receiver runs as the real `learnstream serve` process (subscribed by `connect run --once`, so the local Graph
validated its URLs); this process plays Graph: it posts deliveries of 1, 10 and 50 `created` notifications (one
POST, its `value` holding them all) one after another, and its simulated Graph answers each message and user GET
after `latency_s`. Each delivery names new messages, by authors the directory lists by Entra object id or by people
new to the instance (one Graph user lookup each). The response time is from the POST to serve's 202, which comes
after the broker acknowledged the delivery's pending records; serve no longer calls Graph before answering, so
Graph's latency should not show. Baseline: a bare kafka-python send of as many of the very pending records, then
flush, per delivery.

The second table queues `--notifications` notifications (listed authors) through serve, then times the fetch half
built as `connect run` builds it, in this process, from the queue to confirmed activities, at Graph latencies of 0,
0.1 and 0.3 s with the default rate limit (15 message GETs a second). Baselines in the same run: the fetch half at
Graph latency 0 with no rate limit, and the bound `min(rate, fetchers / latency)`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from itertools import count, cycle
from pathlib import Path

import httpx
from kafka import TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.connectors import KEYS, free_port, wait_ready
from bench.harness import ROOT, bench_settings, local_broker, print_header, ratio, running, settings_env
from learnstream.kafka import make_producer, make_reader
from learnstream.settings import Settings
from producers.chat.teams_fetcher import FETCHERS
from producers.connector_config import load_connector_file
from producers.contracts import OutgoingRecord
from producers.cursors import FileCursorStore
from producers.directory import load_directory
from producers.pending import PendingCursor
from producers.registry import ConnectorContext, build_pull
from producers.runtime import run_connector
from simulator.graph_api import GraphServer

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-000000000000"
SECRET = "bench-graph-client-secret"
STATE = "bench-client-state-shared-with-graph"
TEAM, CHANNEL = "bench-team", "19:bench-channel@thread.tacv2"
SIZES = (1, 10, 50)
LATENCIES_S = (0.0, 0.1, 0.3)
#: People the directory lists by Entra object id: more than the largest delivery, so authors vary within one.
LISTED = 64
DEADLINE_S = 3.0
DEFAULT_RATE_PER_S = 15.0
#: A rate no fetch reaches: the baseline without a limit.
UNLIMITED_PER_S = 1e9


def object_id(kind: int, number: int) -> str:
    """An Entra object id (a GUID) for bench person `number` of a kind (1 listed, 2 new)."""
    return f"{kind:08d}-0000-4000-8000-{number:012d}"


def write_files(work: Path, graph: GraphServer, port: int) -> Path:
    """The directory (the listed people) and the connector file of a receiver and its subscriptions keeper."""
    rows = [f"p{n},listed{n}@example.org,bench,2024-01-01,{object_id(1, n)}" for n in range(LISTED)]
    (work / "people.csv").write_text("person_id,email,team,valid_from,teams\n" + "\n".join(rows) + "\n")
    common = (
        f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT}"\nclient_secret_env = "BENCH_TEAMS_SECRET"\n'
        f'client_state_env = "BENCH_TEAMS_STATE"\ntoken_endpoint = "{graph.token_endpoint}"\n'
        f'graph_url = "{graph.graph_url}"\n'
    )
    path = work / "connectors.toml"
    path.write_text(
        f'directory = "people.csv"\n\n[[connectors]]\nname = "teams"\ntype = "teams-notifications"\n{common}\n'
        f'[[connectors]]\nname = "teams-subs"\ntype = "teams-subscriptions"\n{common}'
        f'notification_url = "http://127.0.0.1:{port}/hooks/teams/teams"\nreceiver = "teams"\n'
        f'resources = ["/teams/{TEAM}/channels/{CHANNEL}/messages"]\n',
        encoding="utf-8",
    )
    return path


class Deliveries:
    """New messages in the simulated Graph and the notification deliveries naming them."""

    def __init__(self, graph: GraphServer, subscription_id: str) -> None:
        self.graph = graph
        self.subscription_id = subscription_id
        self.message_ids = count(1_700_000_000_000)
        self.new_people = count()
        self.listed_people = count()

    def author(self, people: str) -> str:
        """A listed person (in turn), or a person the receiver has never seen."""
        if people == "listed":
            return object_id(1, next(self.listed_people) % LISTED)
        user = object_id(2, next(self.new_people))
        self.graph.add_user(user, f"Newcomer {user[-6:]}", f"newcomer-{user[-6:]}@example.org")
        return user

    def next(self, size: int, people: str) -> dict[str, object]:
        """A delivery of `size` `created` notifications, each for a message posted just now."""
        notifications = []
        for _ in range(size):
            message_id = str(next(self.message_ids))
            self.graph.post(TEAM, CHANNEL, message_id, self.author(people), datetime.now(UTC), "<p>how do I?</p>")
            resource = self.graph.resource_of(TEAM, CHANNEL, message_id)
            notifications.append(self.graph.notification(self.subscription_id, "created", resource))
        return {"value": notifications}


def percentiles(seconds: list[float]) -> tuple[float, float, float]:
    """p50, p95 (inclusive, interpolated) and max."""
    p95 = statistics.quantiles(seconds, n=20, method="inclusive")[18] if len(seconds) > 1 else seconds[0]
    return statistics.median(seconds), p95, max(seconds)


def timed_deliveries(
    client: httpx.Client, url: str, deliveries: Deliveries, size: int, people: str, rounds: int
) -> list[float]:
    """Seconds from each POST to its 202, one delivery after another."""
    seconds = []
    for _ in range(rounds):
        body = deliveries.next(size, people)
        started = time.perf_counter()
        answer = client.post(url, json=body)
        seconds.append(time.perf_counter() - started)
        if answer.status_code != 202:
            raise RuntimeError(f"serve answered {answer.status_code} to a delivery of {size}: {answer.text[:300]}")
    return seconds


def raw_publish(settings: Settings, records: list[OutgoingRecord], size: int, rounds: int) -> list[float]:
    """Seconds to send `size` of the receiver's pending records with a bare producer and flush, once per round."""
    producer = make_producer(settings.kafka, "bench-raw", settings.producer)
    topic = settings.topics.names.connector_pending
    try:
        producer.send(topic, key=records[0].key, value=records[0].value)  # warm-up: metadata and connections
        producer.flush()
        chunks = cycle(records)
        seconds = []
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(size):
                key, value = next(chunks)
                producer.send(topic, key=key, value=value)
            producer.flush()
            seconds.append(time.perf_counter() - started)
        return seconds
    finally:
        producer.close()


def read_pending(settings: Settings) -> list[OutgoingRecord]:
    """Every record on the pending topic now."""
    reader = make_reader(settings.kafka, "bench-pending")
    topic = settings.topics.names.connector_pending
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or [])]
        reader.assign(partitions)
        reader.seek_to_beginning(*partitions)
        ends = reader.end_offsets(partitions)
        found: list[OutgoingRecord] = []
        while any(reader.position(tp) < ends[tp] for tp in partitions):
            for records in reader.poll(timeout_ms=500).values():
                found += [OutgoingRecord(record.key, record.value) for record in records]
        return found
    finally:
        reader.close()


def pending_ends(settings: Settings) -> PendingCursor:
    """The cursor after everything queued now."""
    reader = make_reader(settings.kafka, "bench-pending")
    topic = settings.topics.names.connector_pending
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or [])]
        return PendingCursor(offsets={str(tp.partition): end for tp, end in reader.end_offsets(partitions).items()})
    finally:
        reader.close()


def timed_fetch(
    settings: Settings, connectors: Path, env: dict[str, str], rate: float, start: PendingCursor, work: Path
) -> tuple[float, int]:
    """Seconds for the fetch half at `rate` to publish and confirm everything queued after `start`; records made."""
    file = load_connector_file(connectors)
    config = file.instance("teams").model_copy(update={"fetch_rate_per_s": rate})
    assert file.directory is not None
    context = ConnectorContext(settings, load_directory(file.directory), file.directory, env)
    source = build_pull(config, context)
    producer = make_producer(settings.kafka, "bench-fetcher", settings.producer)
    names = settings.topics.names
    try:
        started = time.perf_counter()
        stats = run_connector(
            source,
            producer,
            names.activity_raw,
            FileCursorStore(work / f"cursors-{time.monotonic_ns()}"),
            dead_letter_topic=names.activity_dlq,
            start=start,
        )
        return time.perf_counter() - started, stats.records
    finally:
        producer.close()


def receiver_bench(work: Path, bootstrap: str, rounds: int, notifications: int) -> None:
    settings = bench_settings(work, bootstrap, label="teams")
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/teams/teams"
    fetch_rows: list[tuple[str, float, float, float, int]] = []
    with GraphServer(TENANT, CLIENT, SECRET) as graph, httpx.Client(timeout=120) as client:
        for n in range(LISTED):
            graph.add_user(object_id(1, n), f"Listed {n}", f"listed{n}@example.org")
        connectors = write_files(work, graph, port)
        env = {
            **settings_env(settings),
            **KEYS,
            "LEARNSTREAM_CONNECTORS_FILE": str(connectors),
            "LEARNSTREAM_SERVE__PORT": str(port),
            "BENCH_TEAMS_SECRET": SECRET,
            "BENCH_TEAMS_STATE": STATE,
        }
        command = [sys.executable, "-m", "cli.main", "--log-level", "warning", "serve"]
        with running(command, env, work / "serve.log"):
            wait_ready(f"http://127.0.0.1:{port}")
            subscribe = [sys.executable, "-m", "cli.main", "connect", "run", "teams-subs", "--once"]
            subprocess.run(subscribe, cwd=ROOT, env=env, check=True, capture_output=True)
            ((subscription_id, _),) = graph.subscriptions.items()
            deliveries = Deliveries(graph, subscription_id)
            timed_deliveries(client, url, deliveries, 1, "listed", 3)  # warm-up: token, subscription, connections
            results: dict[tuple[str, int, float], list[float]] = {}
            for people in ("listed", "new"):
                for size in SIZES:
                    for latency in LATENCIES_S:
                        graph.latency_s = latency
                        results[(people, size, latency)] = timed_deliveries(
                            client, url, deliveries, size, people, rounds
                        )
            graph.latency_s = 0.0
            # the fetch half: queue `notifications` through serve, then fetch them at each latency and rate
            runs = [("baseline: no limit", 0.0, UNLIMITED_PER_S)]
            runs += [("rate limit", latency, DEFAULT_RATE_PER_S) for latency in LATENCIES_S]
            timed_fetch(settings, connectors, env, UNLIMITED_PER_S, PendingCursor(), work)  # warm-up: token, people
            for label, latency, rate in runs:
                start = pending_ends(settings)
                for _ in range(notifications // 50):
                    timed_deliveries(client, url, deliveries, 50, "listed", 1)
                graph.latency_s = latency
                seconds, records = timed_fetch(settings, connectors, env, rate, start, work)
                graph.latency_s = 0.0
                fetch_rows.append((label, latency, rate, seconds, records))
    pending = read_pending(settings)
    raw = {size: percentiles(raw_publish(settings, pending, size, rounds)) for size in SIZES}

    print(f"{rounds} deliveries per row, posted one after another; times from the POST to serve's 202")
    print(
        f"{'authors':>8}  {'delivery':>8}  {'Graph latency':>13}  {'p50 s':>7}  {'p95 s':>7}  {'max s':>7}  "
        f"{'p50 vs 0 s':>10}  {'p50 vs raw':>10}  {'under 3 s':>9}"
    )
    for (people, size, latency), seconds in results.items():
        p50, p95, most = percentiles(seconds)
        at_zero = percentiles(results[(people, size, 0.0)])[0]
        under = "yes" if most < DEADLINE_S else ("no" if p50 >= DEADLINE_S else "not all")
        print(
            f"{people:>8}  {size:>8}  {latency:>11.1f} s  {p50:>7.3f}  {p95:>7.3f}  {most:>7.3f}  "
            f"{ratio(p50, at_zero):>10}  {ratio(p50, raw[size][0]):>10}  {under:>9}"
        )
    print("\nbaseline: a bare kafka-python send of as many of the receiver's pending records, then flush")
    print(f"{'records':>8}  {'p50 s':>7}  {'p95 s':>7}  {'max s':>7}")
    for size, (p50, p95, most) in raw.items():
        print(f"{size:>8}  {p50:>7.4f}  {p95:>7.4f}  {most:>7.4f}")
    print(f"({len(pending):,} pending records queued by the receiver in all)\n")

    per_run = notifications // 50 * 50
    baseline = per_run / fetch_rows[0][3]
    print(
        f"the fetch half: {per_run} queued notifications (listed authors) to confirmed activities, {FETCHERS} fetchers"
    )
    print(
        f"{'run':>18}  {'Graph latency':>13}  {'rate limit':>10}  {'seconds':>8}  {'notif./s':>9}  "
        f"{'bound /s':>9}  {'vs baseline':>11}  {'activities':>10}"
    )
    for label, latency, rate, seconds, records in fetch_rows:
        limit = "none" if rate >= UNLIMITED_PER_S else f"{rate:g}/s"
        bound = min(rate, FETCHERS / latency) if latency else rate
        bound_text = "-" if bound >= UNLIMITED_PER_S else f"{bound:.1f}"
        throughput = per_run / seconds
        print(
            f"{label:>18}  {latency:>11.1f} s  {limit:>10}  {seconds:>8.2f}  {throughput:>9.1f}  "
            f"{bound_text:>9}  {ratio(throughput, baseline):>11}  {records:>10}"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="deliveries per row")
    parser.add_argument("--bootstrap", help="an already running broker (default: start one)")
    parser.add_argument("--notifications", type=int, default=150, help="notifications per fetch-half run (x50)")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="learnstream-bench-teams-") as tmp,
        local_broker(args.bootstrap) as bootstrap,
    ):
        work = Path(tmp)
        settings = bench_settings(work, bootstrap, label="hdr")
        print_header(
            "Teams receiver latency and fetch-half throughput",
            settings,
            {
                "sizes": SIZES,
                "graph_latencies_s": LATENCIES_S,
                "rounds": args.rounds,
                "deadline_s": DEADLINE_S,
                "notifications": args.notifications,
                "fetch_rate_per_s": DEFAULT_RATE_PER_S,
            },
        )
        receiver_bench(work, bootstrap, args.rounds, args.notifications)


if __name__ == "__main__":
    main()
