"""Teams receiver latency: how long `serve` takes to answer one Graph change-notification delivery, which Graph
wants answered within 3 seconds, by delivery size and by how long Graph takes to answer each fetch.

    python bench/teams_receiver.py                                # 10 deliveries per row, starts its own broker
    python bench/teams_receiver.py --rounds 5 --bootstrap 127.0.0.1:9092

The receiver runs as the real `learnstream serve` process (subscribed by `connect run --once`, so the local Graph
validated its URLs); this process plays Graph: it posts deliveries of 1, 10 and 50 `created` notifications (one
POST, its `value` holding them all) one after another, and its simulated Graph answers each message and user GET
after `latency_s`. Each delivery names new messages. Their authors are either listed in the directory by their
Entra object id (no user lookup) or new to the receiver (one Graph user lookup each, as after a restart or for
people the directory lists only by e-mail). The response time is from the POST to serve's 202, which comes after the
broker acknowledged the delivery's records.

Baselines in the same run: the rows at Graph latency 0 s, and a bare kafka-python send of as many of the very
records the receiver published, then flush, per delivery.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.connectors import KEYS, free_port, read_all, wait_ready
from bench.harness import ROOT, bench_settings, local_broker, print_header, ratio, running, settings_env
from learnstream.kafka import make_producer
from learnstream.settings import Settings
from producers.contracts import OutgoingRecord
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
    """Seconds to send `size` of the receiver's records with a bare producer and flush, once per round."""
    producer = make_producer(settings.kafka, "bench-raw", settings.producer)
    topic = settings.topics.names.activity_raw
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


def receiver_bench(work: Path, bootstrap: str, rounds: int) -> None:
    settings = bench_settings(work, bootstrap, label="teams")
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/teams/teams"
    with GraphServer(TENANT, CLIENT, SECRET) as graph, httpx.Client(timeout=120) as client:
        for n in range(LISTED):
            graph.add_user(object_id(1, n), f"Listed {n}", f"listed{n}@example.org")
        env = {
            **settings_env(settings),
            **KEYS,
            "LEARNSTREAM_CONNECTORS_FILE": str(write_files(work, graph, port)),
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
    published = read_all(settings)
    raw = {size: percentiles(raw_publish(settings, published, size, rounds)) for size in SIZES}

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
    print("\nbaseline: a bare kafka-python send of as many of the receiver's published records, then flush")
    print(f"{'records':>8}  {'p50 s':>7}  {'p95 s':>7}  {'max s':>7}")
    for size, (p50, p95, most) in raw.items():
        print(f"{size:>8}  {p50:>7.4f}  {p95:>7.4f}  {most:>7.4f}")
    print(f"({len(published):,} records published by the receiver in all)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="deliveries per row")
    parser.add_argument("--bootstrap", help="an already running broker (default: start one)")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="learnstream-bench-teams-") as tmp,
        local_broker(args.bootstrap) as bootstrap,
    ):
        work = Path(tmp)
        settings = bench_settings(work, bootstrap, label="hdr")
        print_header(
            "Teams receiver latency",
            settings,
            {"sizes": SIZES, "graph_latencies_s": LATENCIES_S, "rounds": args.rounds, "deadline_s": DEADLINE_S},
        )
        receiver_bench(work, bootstrap, args.rounds)


if __name__ == "__main__":
    main()
