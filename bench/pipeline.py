"""End-to-end throughput on real parts, against raw Kafka -> ClickHouse with no processing, in the same run.

Baseline: produce N activities to a topic, consume them and insert them as raw rows into ClickHouse.
Pipeline: with the faust worker running, replay the same N activities through the file-replay connector, and
run the loader until N learning events are stored. Both start their clock at the first send and stop it when
the last row is in the warehouse.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from bench.synthetic import synthetic_activities  # noqa: E402
from learnstream.kafka import ensure_topics, make_consumer, make_producer  # noqa: E402
from learnstream.settings import KafkaSettings, LoaderSettings, Settings, TopicSettings, WorkerSettings  # noqa: E402
from producers.file_replay import FileReplay  # noqa: E402
from producers.runtime import CursorStore, run_connector  # noqa: E402
from warehouse.connection import connect  # noqa: E402
from warehouse.dsn import parse_dsn  # noqa: E402
from warehouse.loader import EventLoader  # noqa: E402
from warehouse.migrations import migrate  # noqa: E402


def start_broker(state_dir: Path) -> str:
    command = [sys.executable, str(ROOT / "deploy/kafka/local_kafka.py"), "start", "--port", "0"]
    subprocess.run([*command, "--state-dir", str(state_dir)], check=True, capture_output=True)
    return (state_dir / "bootstrap").read_text().strip()


def baseline(settings: Settings, client: object, database: str, messages: list[bytes]) -> float:
    """Produce, consume and insert raw rows: Kafka and ClickHouse with no processing in between."""
    baseline_topics = TopicSettings(namespace=f"{settings.topics.namespace}-baseline", partitions=3)
    ensure_topics(settings.kafka, baseline_topics)
    topic = baseline_topics.names.activity_raw
    client.command(  # type: ignore[attr-defined]
        f"CREATE TABLE {database}.raw_baseline (kafka_partition UInt32, kafka_offset UInt64, body String) "
        "ENGINE = MergeTree ORDER BY (kafka_partition, kafka_offset)"
    )
    started = time.perf_counter()
    producer = make_producer(settings.kafka, "bench-baseline")
    for message in messages:
        producer.send(topic, value=message)
    producer.flush()
    producer.close()
    consumer = make_consumer(settings.kafka, f"baseline-{uuid.uuid4().hex[:6]}", [topic], "bench-baseline")
    stored = 0
    while stored < len(messages):
        polled = consumer.poll(timeout_ms=500, max_records=settings.loader.batch_size)
        for records in polled.values():
            rows = [[r.partition, r.offset, r.value.decode()] for r in records]
            client.insert(
                "raw_baseline", rows, column_names=["kafka_partition", "kafka_offset", "body"], database=database
            )  # type: ignore[attr-defined]
            stored += len(rows)
        consumer.commit()
    consumer.close()
    return time.perf_counter() - started


def pipeline(
    settings: Settings, client: object, database: str, messages: list[bytes], work: Path
) -> tuple[float, float]:
    """Replay -> running faust worker -> loader -> ClickHouse, until every learning event is stored.

    Returns the total time and the part spent replaying (the worker and loader run on while the replay sends).
    """
    path = work / "bench.jsonl"
    path.write_bytes(b"\n".join(messages) + b"\n")
    started = time.perf_counter()
    producer = make_producer(settings.kafka, "bench-replay")
    run_connector(FileReplay(path), producer, settings.topics.names.activity_raw, CursorStore(work / "cursors"))
    producer.close()
    replayed = time.perf_counter() - started
    names = settings.topics.names
    consumer = make_consumer(settings.kafka, settings.loader.group_id, [names.learning_events], "bench-loader")
    dlq = make_producer(settings.kafka, "bench-dlq")
    loader = EventLoader(consumer, client, database, dlq, names.activity_dlq, settings.loader.group_id, 5000, 0.5, 1.0)
    while loader.stats.rows_inserted < len(messages):
        loader.load_once()
    elapsed = time.perf_counter() - started
    consumer.close()
    dlq.close()
    return elapsed, replayed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activities", type=int, default=20_000)
    parser.add_argument("--bootstrap", help="use this broker instead of starting a local one")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="learnstream-bench-"))
    state_dir = work / "kafka"
    bootstrap = args.bootstrap or start_broker(state_dir)
    worker = None
    try:
        unique = uuid.uuid4().hex[:8]
        settings = Settings(
            data_dir=work,
            clickhouse_dsn=SecretStr(f"chdb://{work / 'warehouse'}?database=bench_{unique}"),
            kafka=KafkaSettings(bootstrap_servers=bootstrap),
            topics=TopicSettings(namespace=f"bench{unique}", partitions=3),
            worker=WorkerSettings(app_id=f"bench-worker-{unique}"),
            loader=LoaderSettings(group_id=f"bench-loader-{unique}"),
        )
        ensure_topics(settings.kafka, settings.topics)
        target = parse_dsn(settings.warehouse_dsn)
        client = connect(target)
        migrate(client, target.database)
        messages = synthetic_activities(args.activities)

        env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNSTREAM_")}
        env.update(
            LEARNSTREAM_KAFKA__BOOTSTRAP_SERVERS=bootstrap,
            LEARNSTREAM_TOPICS__NAMESPACE=settings.topics.namespace,
            LEARNSTREAM_WORKER__APP_ID=settings.worker.app_id,
            LEARNSTREAM_DATA_DIR=str(work),
        )
        log = (work / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "worker"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        while b"Worker]: Ready" not in (work / "worker.log").read_bytes():
            time.sleep(0.2)

        base = baseline(settings, client, target.database, messages)
        full, replayed = pipeline(settings, client, target.database, messages, work)
        count = client.query(f"SELECT count() FROM {target.database}.learning_events FINAL").result_rows[0][0]
        n = len(messages)
        print(
            f"activities: {n} ({sum(map(len, messages)) / n:.0f} bytes on average), "
            "3 partitions, one worker, one loader"
        )
        print(f"{'raw Kafka -> ClickHouse (baseline)':40} {base:7.2f} s  {n / base:>9,.0f} msg/s")
        print(f"{'learnstream pipeline':40} {full:7.2f} s  {n / full:>9,.0f} msg/s  {full / base:.2f}x baseline time")
        print(f"  of which replaying the file onto the raw topic: {replayed:.2f} s")
        print(f"learning events stored (FINAL): {count}")
        print(
            "peak RSS of this process (producer, loader, chDB): "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
        )
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        if not args.bootstrap:
            subprocess.run(
                [sys.executable, str(ROOT / "deploy/kafka/local_kafka.py"), "stop", "--state-dir", str(state_dir)],
                check=False,
            )


if __name__ == "__main__":
    main()
