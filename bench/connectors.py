"""Connector benchmarks: activities/s into Kafka for the Slack export import and for the Slack Events receiver,
each against a raw kafka-python send loop of the same bytes, measured in the same run.

    python bench/connectors.py                     # both, 3 alternating rounds each
    python bench/connectors.py --only import       # or receiver
    python bench/connectors.py --send URL EVENTS   # (internal) the receiver's load generator, as its own process

The export import runs as `learnstream connect run` runs it (SlackExportImport + run_connector: unzip, parse,
resolve people, pseudonymise, validate, serialize, send, confirm, save cursors). The receiver runs as the real
`learnstream serve` process; the load generator is a separate process posting signed Events API requests with a
fixed concurrency, and every request is answered only after the broker acknowledged its records. The baselines
send the very records the connector published (keys and values) in a bare loop, then flush.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    ROOT,
    bench_settings,
    cpu_seconds,
    local_broker,
    print_header,
    ratio,
    running,
    settings_env,
)
from learnstream.kafka import make_producer
from learnstream.settings import Settings
from producers.chat.slack_export import ExportPosition
from producers.connector_config import SlackExportConfig
from producers.contracts import OutgoingRecord
from producers.cursors import FileCursorStore
from producers.directory import directory_from_csv
from producers.registry import ConnectorContext, build_slack_export
from producers.runtime import run_connector
from simulator.chat import slack_events, write_slack_export
from simulator.organisation import directory_csv, generate_organisation
from simulator.slack_sender import post_events

SEED = 20261129
START = date(2026, 9, 1)
TEAM = "T0BENCH001"
SECRET = "bench-signing-secret"
KEYS = {
    "LEARNSTREAM_PSEUDONYM_KEY": "bench-pseudonym-key-0123456789abcdefgh",
    "LEARNSTREAM_ID_KEY": "bench-id-key-0123456789abcdefghijklmnop",
}


def with_keys(settings: Settings) -> Settings:
    """The bench settings with real-length keys, as a live connector requires."""
    return settings.model_copy(
        update={
            "pseudonym_key": type(settings.pseudonym_key)(KEYS["LEARNSTREAM_PSEUDONYM_KEY"]),
            "id_key": type(settings.id_key)(KEYS["LEARNSTREAM_ID_KEY"]),
        }
    )


def raw_send(settings: Settings, topic: str, records: list[OutgoingRecord]) -> tuple[float, float]:
    """A bare send loop of the records, then flush: (seconds, CPU seconds)."""
    producer = make_producer(settings.kafka, "bench-raw", settings.producer)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        for key, value in records:
            producer.send(topic, key=key, value=value)
        producer.flush()
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        producer.close()


# -- the export import ----------------------------------------------------------------------------------------


def import_bench(work: Path, bootstrap: str, people: int, days: int, rounds: int) -> None:
    org = generate_organisation(people, SEED, START)
    export = work / "export.zip"
    messages = write_slack_export(org, days, SEED, export, START)
    (work / "people.csv").write_text(directory_csv(org), encoding="utf-8")
    directory = directory_from_csv((work / "people.csv").read_text(encoding="utf-8"))
    config = SlackExportConfig(name="history", type="slack-export", workspace=TEAM, path=export, batch_size=1000)

    def importer(settings: Settings) -> Any:
        context = ConnectorContext(settings, directory, work / "people.csv", {})
        return build_slack_export(config, context)

    base = with_keys(bench_settings(work, bootstrap, label="imp"))
    records = [record for batch in importer(base).read(ExportPosition()) for record in batch.records]
    print(
        f"export: {messages:,} messages, {export.stat().st_size / 2**20:.1f} MiB zipped -> {len(records):,} activities"
    )
    print(f"{'round':>5}  {'raw send loop':>16}  {'export import':>16}  {'ratio':>6}  {'import CPU s':>12}")
    ratios = []
    for round_ in range(1, rounds + 1):
        raw_settings = bench_settings(work, bootstrap, label="raw")
        raw_s, _ = raw_send(raw_settings, raw_settings.topics.names.activity_raw, records)
        settings = with_keys(bench_settings(work, bootstrap, label="imp"))
        producer = make_producer(settings.kafka, "bench-import", settings.producer)
        try:
            started, cpu = time.perf_counter(), time.process_time()
            stats = run_connector(
                importer(settings),
                producer,
                settings.topics.names.activity_raw,
                FileCursorStore(settings.data_dir / "cursors"),
                dead_letter_topic=settings.topics.names.activity_dlq,
                start=ExportPosition(),
            )
            import_s, import_cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            producer.close()
        assert stats.records == len(records), (stats.records, len(records))
        raw_rate, import_rate = len(records) / raw_s, len(records) / import_s
        ratios.append(import_rate / raw_rate)
        cells = [f"{round_:>5}", f"{raw_rate:>12,.0f}/s", f"{import_rate:>12,.0f}/s"]
        print("  ".join([*cells, f"{ratio(import_rate, raw_rate):>6}", f"{import_cpu:>12.1f}"]))
    print(f"export import vs raw send loop: median {statistics.median(ratios):.2f}x (goal 0.8x)\n")


# -- the Slack receiver ---------------------------------------------------------------------------------------


def receiver_bench(
    work: Path, bootstrap: str, people: int, days: int, events: int, concurrency: int, rounds: int
) -> None:
    org = generate_organisation(people, SEED, START)
    envelopes = work / "events.jsonl"
    with envelopes.open("w", encoding="utf-8") as out:
        for count, envelope in enumerate(slack_events(org, days, SEED, TEAM, START)):
            if count >= events:
                break
            out.write(json.dumps(envelope) + "\n")
    connectors = work / "connectors.toml"
    connectors.write_text(
        f'[[connectors]]\nname = "bench-slack"\ntype = "slack-events"\nworkspace = "{TEAM}"\n'
        'signing_secret_env = "BENCH_SLACK_SIGNING_SECRET"\n',
        encoding="utf-8",
    )
    print(f"load: {events:,} Events API requests, {concurrency} concurrent, from a separate process")
    print(
        f"{'round':>5}  {'raw send loop':>16}  {'receiver':>14}  {'ratio':>6}  {'serve CPU s':>11}  "
        f"{'sender CPU s':>12}  {'retries':>7}"
    )
    rates = []
    for round_ in range(1, rounds + 1):
        settings = bench_settings(work, bootstrap, label="rcv")
        env = {
            **settings_env(settings),
            **KEYS,
            "LEARNSTREAM_CONNECTORS_FILE": str(connectors),
            "BENCH_SLACK_SIGNING_SECRET": SECRET,
            "LEARNSTREAM_SERVE__PORT": str(free_port()),
        }
        url = f"http://127.0.0.1:{env['LEARNSTREAM_SERVE__PORT']}/hooks/slack/bench-slack"
        log = work / f"serve-{round_}.log"
        command = [sys.executable, "-m", "cli.main", "--log-level", "warning", "serve"]
        with running(command, env, log) as serve:
            wait_ready(url.rsplit("/hooks", 1)[0])
            serve_cpu = cpu_seconds(serve.pid)
            sent = subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "bench" / "connectors.py"),
                    "--send",
                    url,
                    str(envelopes),
                    "--concurrency",
                    str(concurrency),
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            serve_cpu = cpu_seconds(serve.pid) - serve_cpu
        load = json.loads(sent.stdout.strip().splitlines()[-1])
        published = read_all(settings)
        receiver_rate = len(published) / load["seconds"]
        raw_settings = bench_settings(work, bootstrap, label="raw")
        raw_s, _ = raw_send(raw_settings, raw_settings.topics.names.activity_raw, published)
        raw_rate = len(published) / raw_s
        rates.append(receiver_rate)
        print(
            f"{round_:>5}  {raw_rate:>12,.0f}/s  {receiver_rate:>10,.0f}/s  {ratio(receiver_rate, raw_rate):>6}  "
            f"{serve_cpu:>11.1f}  {load['cpu_s']:>12.1f}  {load['retried']:>7}"
        )
        if load["failed"]:
            print(f"       {load['failed']} requests were never acknowledged")
    print(f"receiver: median {statistics.median(rates):,.0f} activities/s acknowledged (goal 2,000/s)\n")


def send_main(url: str, events_path: Path, concurrency: int) -> None:
    """The load generator: post every envelope signed, as Slack does; print one JSON line of stats."""
    envelopes = [json.loads(line) for line in events_path.read_text(encoding="utf-8").splitlines()]
    stats = asyncio.run(post_events(url, envelopes, SECRET.encode(), concurrency))
    print(
        json.dumps({"seconds": stats.elapsed_s, "cpu_s": stats.cpu_s, "retried": stats.retried, "failed": stats.failed})
    )


def read_all(settings: Settings) -> list[OutgoingRecord]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, enable_auto_commit=False)
    try:
        topic = settings.topics.names.activity_raw
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: list[OutgoingRecord] = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=500, max_records=50_000).values():
                found.extend(OutgoingRecord(record.key, record.value) for record in records)
        return found
    finally:
        consumer.close()


def wait_ready(base: str) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"serve at {base} did not get ready")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["import", "receiver"])
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--events", type=int, default=40_000, help="requests posted to the receiver per round")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bootstrap", help="an already running broker (default: start one)")
    parser.add_argument("--send", nargs=2, metavar=("URL", "EVENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send:
        send_main(args.send[0], Path(args.send[1]), args.concurrency)
        return
    with (
        tempfile.TemporaryDirectory(prefix="learnstream-bench-connectors-") as tmp,
        local_broker(args.bootstrap) as bootstrap,
    ):
        work = Path(tmp)
        settings = bench_settings(work, bootstrap, label="hdr")
        print_header("connector benchmarks", settings, {"people": args.people, "days": args.days})
        if args.only in (None, "import"):
            import_bench(work, bootstrap, args.people, args.days, args.rounds)
        if args.only in (None, "receiver"):
            receiver_bench(work, bootstrap, args.people, args.days, args.events, args.concurrency, args.rounds)


if __name__ == "__main__":
    main()
