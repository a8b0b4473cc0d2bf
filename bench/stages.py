"""Each stage alone, against its raw baseline measured in the same run, with the same client settings.

    .venv/bin/python bench/stages.py [--activities 200000] [--bootstrap HOST:PORT] [--only STAGE ...] [--repeats R]

connector  FileReplay + run_connector, vs a raw kafka-python send loop over the same (key, value) pairs with a
           producer from the same make_producer settings (and once more with kafka-python's DefaultPartitioner)
worker     the learnstream worker process, vs the pass-through faust agent (batched sends, and one send per event)
loader     EventLoader in this process, vs consuming the same topic and inserting the same rows prebuilt in memory
           (no decoding, no validation); then Native vs JSONEachRow inserts of those rows, build and insert per row
scaleout   1 vs 2 worker processes in one group on 12 partitions

Every variant reads or writes fresh topics (and databases). Per variant: count, seconds, activities/s, the ratio of
its rate to the baseline's, and the CPU milliseconds per 1,000 activities of the stage's process(es), so a larger
machine can be sized. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kafka import KafkaConsumer  # noqa: E402
from kafka.partitioner import DefaultPartitioner  # noqa: E402

from bench.harness import (  # noqa: E402
    WORKER_READY,
    OffsetWatch,
    StageRun,
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
from bench.synthetic import synthetic_activities  # noqa: E402
from learnstream.kafka import make_consumer, make_producer  # noqa: E402
from learnstream.settings import Settings  # noqa: E402
from producers.contracts import Batch, CheckReport, Cursor, OutgoingRecord  # noqa: E402
from producers.cursors import FileCursorStore  # noqa: E402
from producers.file_replay import FileReplay, record_for_line  # noqa: E402
from producers.runtime import run_connector  # noqa: E402
from schemas.activity import Activity  # noqa: E402
from schemas.headers import sent_at_headers  # noqa: E402
from schemas.learning_event import LearningEvent  # noqa: E402
from streams.classify import default_classifier  # noqa: E402
from streams.processing import learning_event_for  # noqa: E402
from warehouse.connection import connect  # noqa: E402
from warehouse.dsn import parse_dsn  # noqa: E402
from warehouse.events_table import COLUMNS, TABLE, event_row  # noqa: E402
from warehouse.loader import EventLoader  # noqa: E402
from warehouse.migrations import migrate  # noqa: E402

STAGES = ("connector", "worker", "loader", "scaleout")
SCALEOUT_PARTITIONS = 12
WARM_UP = 2000
PASSTHROUGH = [sys.executable, "bench/passthrough.py"]
_GENERATION = re.compile(rb"generation id (\d+) app consumers id")

Pair = tuple[bytes | None, bytes]


# -- figures ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """What one table line shows: a single run's figures, or the median of each over the repeats."""

    count: int
    seconds: float
    per_s: float
    steady_per_s: float
    cpu_ms_per_1000: float

    @classmethod
    def of(cls, run: StageRun) -> Figures:
        """A run's figures."""
        return cls(run.count, run.seconds, run.per_s, run.steady_per_s, run.cpu_ms_per_1000)

    @classmethod
    def median(cls, runs: Sequence[StageRun]) -> Figures:
        """The median of each figure over several runs."""
        every = [cls.of(run) for run in runs]
        return cls(
            int(statistics.median(f.count for f in every)),
            statistics.median(f.seconds for f in every),
            statistics.median(f.per_s for f in every),
            statistics.median(f.steady_per_s for f in every),
            statistics.median(f.cpu_ms_per_1000 for f in every),
        )


@dataclass
class Variant:
    """One way of doing a stage's work, with a run per repeat and a note per run."""

    name: str
    runs: list[StageRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def print_table(variants: Sequence[Variant], baseline: Variant, steady: bool = False) -> None:
    """One line per variant and run (and the median when repeated); ratios are rates over the baseline's."""
    columns = f"{'variant':<48} {'run':>6} {'count':>9} {'seconds':>8} {'activities/s':>12}"
    columns += f" {'steady/s':>9} {'ratio':>6} {'steady':>6}" if steady else f" {'ratio':>6}"
    print(columns + f" {'CPU ms/1k':>9}")
    for variant in variants:
        lines = [
            (str(i + 1), Figures.of(run), Figures.of(base))
            for i, (run, base) in enumerate(zip(variant.runs, baseline.runs, strict=True))
        ]
        if len(variant.runs) > 1:
            lines.append(("median", Figures.median(variant.runs), Figures.median(baseline.runs)))
        for label, mine, base in lines:
            line = f"{variant.name:<48} {label:>6} {mine.count:>9,} {mine.seconds:>8.2f} {mine.per_s:>12,.0f}"
            if steady:
                line += f" {mine.steady_per_s:>9,.0f} {ratio(mine.per_s, base.per_s):>6}"
                line += f" {ratio(mine.steady_per_s, base.steady_per_s):>6}"
            else:
                line += f" {ratio(mine.per_s, base.per_s):>6}"
            print(line + f" {mine.cpu_ms_per_1000:>9.1f}")
    for variant in variants:
        for i, note in enumerate(variant.notes):
            if note:
                print(f"  {variant.name}, run {i + 1}: {note}")


def quiet_heap() -> None:
    """Collect, then freeze what is alive: the collector must not keep rescanning the benchmark's own data
    (hundreds of thousands of inputs and prebuilt rows) while a stage in this process is timed."""
    gc.collect()
    gc.freeze()


def in_process(count: int, started: float, cpu_started: float) -> StageRun:
    """A run of this process since `started` (perf_counter) and `cpu_started` (process_time); no steady rate."""
    return StageRun(count, time.perf_counter() - started, math.nan, time.process_time() - cpu_started)


# -- topics, settings and the warehouse ---------------------------------------------------------------------------


def fresh(settings: Settings, work: Path, bootstrap: str, partitions: int | None = None) -> Settings:
    """`settings` with a fresh namespace (topics, groups, database) from bench_settings; every client setting kept."""
    names = bench_settings(work, bootstrap, partitions or settings.topics.partitions, label="stages")
    return settings.model_copy(
        update={
            "data_dir": names.data_dir,
            "clickhouse_dsn": names.clickhouse_dsn,
            "topics": names.topics,
            "worker": settings.worker.model_copy(update={"app_id": names.worker.app_id}),
            "loader": settings.loader.model_copy(update={"group_id": names.loader.group_id}),
        }
    )


def prefill(settings: Settings, topic: str, pairs: Sequence[Pair], with_sent_at: bool) -> list[tuple[int, int]]:
    """Send the pairs to a topic with the settings' producer; returns each record's (partition, offset)."""
    producer = make_producer(settings.kafka, "bench-prefill", settings.producer)
    try:
        headers = sent_at_headers(time.time()) if with_sent_at else None
        futures = [producer.send(topic, key=key, value=value, headers=headers) for key, value in pairs]
        producer.flush()
        return [(meta.partition, meta.offset) for meta in (future.get(timeout=60) for future in futures)]
    finally:
        producer.close()


def topic_total(bootstrap: str, topic: str) -> int:
    """How many records a topic holds."""
    watch = OffsetWatch(bootstrap, topic)
    try:
        return watch.total()
    finally:
        watch.close()


def check_count(what: str, found: int, expected: int) -> str:
    """A note when a variant did not deliver what it should have (its figures then mean little)."""
    return "" if found == expected else f"WARNING: {what} holds {found:,}, expected {expected:,}"


def fresh_database(client: Any, name: str) -> str:
    """A new database with the project's migrations applied."""
    migrate(client, name)
    return name


def stored_rows(client: Any, database: str) -> tuple[int, int]:
    """How many rows the events table holds and a hash of their COLUMNS (equal hashes, equal rows)."""
    row = f"toString(tuple({', '.join(COLUMNS)}))"  # as text, so a NULL hashes too (it makes cityHash64 NULL)
    query = f"SELECT count(), groupBitXor(cityHash64({row})) FROM {database}.{TABLE}"
    count, digest = client.query(query).result_rows[0]
    return int(count), int(digest)


# -- connector ----------------------------------------------------------------------------------------------------


def raw_send_loop(
    settings: Settings, topic: str, pairs: Sequence[Pair], with_sent_at: bool = False, **overrides: Any
) -> StageRun:
    """kafka-python with nothing around it: send every pair (with the sent-at header if asked), then flush once."""
    producer = make_producer(settings.kafka, "bench-raw-send", settings.producer, **overrides)
    try:
        quiet_heap()
        started, cpu_started = time.perf_counter(), time.process_time()
        if with_sent_at:
            for key, value in pairs:
                producer.send(topic, key=key, value=value, headers=sent_at_headers(time.time()))
        else:
            for key, value in pairs:
                producer.send(topic, key=key, value=value)
        producer.flush()
        return in_process(len(pairs), started, cpu_started)
    finally:
        producer.close()


def replay_connector(settings: Settings, topic: str, path: Path, count: int, cursors: Path) -> StageRun:
    """The file-replay connector as `learnstream replay` runs it: FileReplay + run_connector."""
    producer = make_producer(settings.kafka, "bench-file-replay", settings.producer)
    try:
        quiet_heap()
        started, cpu_started = time.perf_counter(), time.process_time()
        run_connector(FileReplay(path), producer, topic, FileCursorStore(cursors))
        return in_process(count, started, cpu_started)
    finally:
        producer.close()


class RecordIndex(Cursor):
    """The in-memory connector's cursor: the index of the next record."""

    index: int = 0


class RecordsInMemory:
    """A connector whose records are already built (as a live connector has them): the runtime's cost alone."""

    name = "bench-records-in-memory"
    cursor_type = RecordIndex

    def __init__(self, records: Sequence[OutgoingRecord], batch_size: int = 500) -> None:
        self.records = records
        self.batch_size = batch_size

    def start_cursor(self, since: datetime | None) -> RecordIndex:
        return RecordIndex()

    def check(self) -> CheckReport:
        return CheckReport([f"{len(self.records)} records in memory"])

    def read(self, cursor: RecordIndex) -> Iterator[Batch[RecordIndex]]:
        for start in range(cursor.index, len(self.records), self.batch_size):
            end = start + self.batch_size
            yield Batch(list(self.records[start:end]), RecordIndex(index=min(end, len(self.records))))


def runtime_only(settings: Settings, topic: str, records: Sequence[OutgoingRecord], cursors: Path) -> StageRun:
    """run_connector over records built beforehand: sent-at headers, in-order confirmation, cursor saves."""
    producer = make_producer(settings.kafka, "bench-runtime", settings.producer)
    try:
        quiet_heap()
        started, cpu_started = time.perf_counter(), time.process_time()
        run_connector(RecordsInMemory(records), producer, topic, FileCursorStore(cursors))
        return in_process(len(records), started, cpu_started)
    finally:
        producer.close()


def connector_stage(settings: Settings, work: Path, bootstrap: str, lines: list[bytes], repeats: int) -> None:
    """The connector vs a raw send loop over the same pairs, each into fresh topics."""
    path = work / "activities.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    pairs = [(record.key, record.value) for record in map(record_for_line, lines)]
    raw = Variant("raw send loop, memoised partitioner (baseline)")
    plain = Variant("raw send loop, kafka-python DefaultPartitioner")
    headed = Variant("raw send loop + sent-at header per record")
    runtime = Variant("run_connector over records in memory")
    connector = Variant("connector: FileReplay + run_connector")
    # untimed: the first producer of the run pays one-off costs (imports, compression set-up, connections)
    raw_send_loop(settings, fresh(settings, work, bootstrap).topics.names.activity_raw, pairs[:WARM_UP])
    for repeat in range(repeats):
        for variant in (raw, plain, headed, runtime, connector):
            topic = fresh(settings, work, bootstrap).topics.names.activity_raw
            if variant is raw:
                run = raw_send_loop(settings, topic, pairs)
            elif variant is plain:
                run = raw_send_loop(settings, topic, pairs, partitioner=DefaultPartitioner())
            elif variant is headed:
                run = raw_send_loop(settings, topic, pairs, with_sent_at=True)
            elif variant is runtime:
                records = [OutgoingRecord(key, value) for key, value in pairs]
                run = runtime_only(settings, topic, records, work / f"cursors-runtime-{repeat}")
            else:
                run = replay_connector(settings, topic, path, len(lines), work / f"cursors-{repeat}")
            variant.runs.append(run)
            variant.notes.append(check_count(topic, topic_total(bootstrap, topic), len(lines)))
    print(f"-- connector: {len(lines):,} activities into {settings.topics.partitions} partitions; CPU of this process")
    print("   (the connector also parses each line for its conversation key, adds a sent-at header, confirms every")
    print("    500-record batch, up to 8 in flight, and saves its cursor; the raw loops send precomputed keys")
    print("    and flush once)")
    print_table([raw, plain, headed, runtime, connector], raw)
    with_header = Figures.median(headed.runs).per_s
    print(f"connector / raw loop with the same header: {Figures.median(connector.runs).per_s / with_header:.2f}x")
    print()


# -- worker processes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessesRun:
    """A measured run of one or more stream processes: figures, rebalances and how the CPU was split."""

    run: StageRun
    generations: list[list[int]]
    generations_measured: list[list[int]]
    cpu_split: list[float]
    rss_mib: list[float]
    skipped: int

    def note(self) -> str:
        """Rebalances seen (faust logs a generation per assignment), the CPU split and the memory of each process."""
        during = sum(len(seen) for seen in self.generations_measured)
        parts = [f"group generations {self.generations}", f"rebalances while measured: {during}"]
        if len(self.cpu_split) > 1:
            parts.append("CPU split " + " / ".join(f"{share:.0%}" for share in self.cpu_split))
        parts.append(f"{self.skipped:,} output before measuring, not counted")
        parts.append("RSS " + " / ".join(f"{mib:.0f}" for mib in self.rss_mib) + " MiB")
        return "; ".join(parts)


class TooFewActivities(RuntimeError):
    """The processes handled everything before measuring could start."""


def generations(log: Path) -> list[int]:
    """The consumer-group generations a faust process was assigned partitions in, in order."""
    return [int(number) for number in _GENERATION.findall(log.read_bytes())]


def wait_until(
    condition: Callable[[], bool], what: str, processes: Sequence[Any], logs: Sequence[Path], timeout_s: float
) -> None:
    """Poll `condition()` until true; fail with the logs' tails if a process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if any(process.poll() is not None for process in processes) or time.monotonic() > deadline:
            tails = "\n".join(log.read_text(errors="replace")[-2000:] for log in logs)
            raise RuntimeError(f"{what} did not happen:\n{tails}")
        time.sleep(0.1)


def run_processes(
    settings: Settings, bootstrap: str, command: list[str], count: int, processes: int, logs: Path
) -> ProcessesRun:
    """Start the processes together on a prefilled raw topic of `count` activities, and time their output.

    Measuring starts once every process is ready and all share one group generation; what was written before
    (a worker starts as soon as it has partitions) is not counted.
    """
    watch = OffsetWatch(bootstrap, settings.topics.names.learning_events)
    env = settings_env(settings)
    paths = [logs / f"{settings.topics.namespace}-{index}.log" for index in range(processes)]
    try:
        with ExitStack() as stack:
            started = [stack.enter_context(running(command, env, path)) for path in paths]

            def ready() -> bool:
                return all(WORKER_READY.encode() in path.read_bytes() for path in paths)

            def settled() -> bool:
                last = {(generations(path) or [-1])[-1] for path in paths}
                return len(last) == 1 and -1 not in last

            wait_until(ready, "every process logging ready", started, paths, 120)
            wait_until(settled, "every process joining one group generation", started, paths, 120)
            pids = [process.pid for process in started]
            before = [generations(path) for path in paths]
            base = watch.total()
            if base >= count:
                raise TooFewActivities(f"all {count:,} activities were handled before every process was in the group")
            cpu_before = [cpu_seconds(pid) for pid in pids]
            run = watch_output(watch, count - base, pids, base=base)
            spent = [cpu_seconds(pid) - cpu for pid, cpu in zip(pids, cpu_before, strict=True)]
            memory = [rss_mib(pid) for pid in pids]
            after = [generations(path) for path in paths]
    finally:
        watch.close()
    return ProcessesRun(
        run=run,
        generations=after,
        generations_measured=[seen[len(old) :] for old, seen in zip(before, after, strict=True)],
        cpu_split=[share / max(sum(spent), 1e-9) for share in spent],
        rss_mib=memory,
        skipped=base,
    )


def worker_stage(settings: Settings, work: Path, bootstrap: str, lines: list[bytes], repeats: int) -> None:
    """The worker vs the pass-through agent, batched and unbatched, each on the same prefilled messages."""
    pairs = [(record.key, record.value) for record in map(record_for_line, lines)]
    batched = Variant("pass-through, batched sends: yes (baseline)")
    unbatched = Variant("pass-through, batched sends: no")
    worker = Variant("learnstream worker, batched sends: yes")
    commands = [(batched, PASSTHROUGH), (unbatched, [*PASSTHROUGH, "--unbatched"]), (worker, worker_command())]
    for _ in range(repeats):
        for variant, command in commands:
            namespace = fresh(settings, work, bootstrap)
            prefill(namespace, namespace.topics.names.activity_raw, pairs, with_sent_at=True)
            measured = run_processes(namespace, bootstrap, command, len(lines), 1, work)
            variant.runs.append(measured.run)
            variant.notes.append(measured.note())
    print(f"-- worker: {len(lines):,} prefilled activities (keyed, with a sent-at header, as the connector sends")
    print(f"   them), {settings.topics.partitions} partitions, one process, measured once it has its partitions;")
    print("   overall: from the first learning event out; steady: 10 % to 90 % of the output; CPU of the process")
    print_table([batched, unbatched, worker], batched, steady=True)
    mine, ceiling, plain = (Figures.median(v.runs) for v in (worker, batched, unbatched))
    print(
        f"worker / batched pass-through: {ratio(mine.per_s, ceiling.per_s)} overall, "
        f"{ratio(mine.steady_per_s, ceiling.steady_per_s)} steady (goal >= 0.8x); "
        f"worker / unbatched pass-through: {ratio(mine.per_s, plain.per_s)} overall, "
        f"{ratio(mine.steady_per_s, plain.steady_per_s)} steady"
    )
    print()


def scaleout_stage(settings: Settings, work: Path, bootstrap: str, lines: list[bytes], repeats: int) -> None:
    """One worker process, then two in the same group, on a 12-partition namespace with the same prefill."""
    pairs = [(record.key, record.value) for record in map(record_for_line, lines)]
    variants = [Variant("1 worker process (baseline)"), Variant("2 worker processes, one group")]
    print(f"-- scaleout: {len(lines):,} prefilled activities, {SCALEOUT_PARTITIONS} partitions, worker processes in")
    print("   one group, started together, measured once all are in the group; CPU summed over the processes")
    try:
        for _ in range(repeats):
            for processes, variant in enumerate(variants, start=1):
                namespace = fresh(settings, work, bootstrap, SCALEOUT_PARTITIONS)
                prefill(namespace, namespace.topics.names.activity_raw, pairs, with_sent_at=True)
                measured = run_processes(namespace, bootstrap, worker_command(), len(lines), processes, work)
                variant.runs.append(measured.run)
                variant.notes.append(measured.note())
    except TooFewActivities as exc:
        print(f"not measured: {exc}; run with more --activities")
    else:
        print_table(variants, variants[0], steady=True)
    print(
        f"note: this machine has {len(os.sched_getaffinity(0))} cores, shared with the broker (and this process):"
        " these figures say nothing about how far more processes on more cores would go"
    )
    print()


# -- loader -------------------------------------------------------------------------------------------------------


def joined(consumer: KafkaConsumer, timeout_s: float = 60) -> KafkaConsumer:
    """The consumer once it holds its partitions, rewound to their start: joining the group is not throughput."""
    deadline = time.monotonic() + timeout_s
    while not consumer.assignment():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the consumer got no partitions in {timeout_s:.0f} s")
        consumer.poll(timeout_ms=100, max_records=1)
    consumer.seek_to_beginning(*consumer.assignment())
    return consumer


def run_loader(settings: Settings, client: Any, database: str, count: int) -> StageRun:
    """EventLoader as `learnstream loader` builds it, until `count` rows are inserted."""
    names = settings.topics.names
    consumer = joined(make_consumer(settings.kafka, settings.loader.group_id, [names.learning_events], "loader"))
    dlq_producer = make_producer(settings.kafka, "loader-dlq", settings.producer)
    try:
        loader = EventLoader.from_settings(settings, consumer, client, database, dlq_producer)
        quiet_heap()
        started, cpu_started = time.perf_counter(), time.process_time()
        while loader.stats.rows_inserted + len(loader.pending.rows) < count:
            loader.load_once()
        loader.flush()
        return in_process(loader.stats.rows_inserted, started, cpu_started)
    finally:
        consumer.close()
        dlq_producer.close()


def raw_load(
    settings: Settings, client: Any, database: str, rows_at: dict[tuple[int, int], list[Any]], count: int
) -> StageRun:
    """Consume the same records and insert rows prebuilt for them, in batches of the loader's size, committing."""
    topic = settings.topics.names.learning_events
    group = f"{settings.loader.group_id}-raw"
    consumer = joined(make_consumer(settings.kafka, group, [topic], "bench-raw-loader"))
    loader = settings.loader
    try:
        quiet_heap()
        started, cpu_started = time.perf_counter(), time.process_time()
        pending: list[list[Any]] = []
        stored = 0
        while stored + len(pending) < count:
            room = max(1, loader.batch_size - len(pending))
            polled = consumer.poll(
                timeout_ms=int(loader.poll_timeout_s * 1000), max_records=min(room, loader.poll_records)
            )
            for records in polled.values():
                pending.extend(rows_at[(record.partition, record.offset)] for record in records)
            if len(pending) >= loader.batch_size or stored + len(pending) >= count:
                client.insert(TABLE, pending, column_names=list(COLUMNS), database=database)
                consumer.commit()
                stored, pending = stored + len(pending), []
        return in_process(stored, started, cpu_started)
    finally:
        consumer.close()


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_formats(
    settings: Settings, client: Any, events: list[LearningEvent], positions: list[tuple[int, int]]
) -> None:
    """Native rows vs JSONEachRow bytes for the same rows: build and insert timed apart, per row."""
    database = parse_dsn(settings.warehouse_dsn).database
    batch = settings.loader.batch_size
    located = list(zip(events, positions, strict=True))
    figures: dict[str, tuple[float, float, float]] = {}

    native = fresh_database(client, f"{database}_native")
    quiet_heap()
    started = time.perf_counter()
    rows = [event_row(event, partition, offset) for event, (partition, offset) in located]
    built = time.perf_counter() - started
    started, cpu_started = time.perf_counter(), time.process_time()
    for part in chunks(rows, batch):
        client.insert(TABLE, part, column_names=list(COLUMNS), database=native)
    figures["Native (client.insert of event_row rows)"] = (
        built,
        time.perf_counter() - started,
        time.process_time() - cpu_started,
    )

    json_database = fresh_database(client, f"{database}_json")
    quiet_heap()
    started = time.perf_counter()
    blocks = [
        b"\n".join(
            f'{event.model_dump_json()[:-1]},"kafka_partition":{partition},"kafka_offset":{offset}}}'.encode()
            for event, (partition, offset) in part
        )
        for part in chunks(located, batch)
    ]
    built = time.perf_counter() - started
    started, cpu_started = time.perf_counter(), time.process_time()
    for block in blocks:
        client.raw_insert(
            f"{json_database}.{TABLE}",
            list(COLUMNS),
            block,
            settings={"date_time_input_format": "best_effort"},
            fmt="JSONEachRow",
        )
    figures["JSONEachRow (raw_insert of model_dump_json bytes)"] = (
        built,
        time.perf_counter() - started,
        time.process_time() - cpu_started,
    )

    count = len(events)
    batches = math.ceil(count / batch)
    print(
        f"insert formats: the same {count:,} rows, {batches} insert(s) of up to {batch:,} rows, "
        "into fresh databases; per row:"
    )
    print(f"{'format':<52} {'build µs':>9} {'insert µs':>10} {'insert CPU µs':>14} {'total µs':>9}")
    for name, (build_s, insert_s, insert_cpu_s) in figures.items():
        per = 1e6 / count
        print(
            f"{name:<52} {build_s * per:>9.2f} {insert_s * per:>10.2f} {insert_cpu_s * per:>14.2f}"
            f" {(build_s + insert_s) * per:>9.2f}"
        )
    native_rows, json_rows = stored_rows(client, native), stored_rows(client, json_database)
    same = "yes" if native_rows == json_rows else f"NO (Native {native_rows}, JSONEachRow {json_rows})"
    print(f"same rows stored both ways (count and hash of every column): {same}")


def loader_stage(settings: Settings, work: Path, bootstrap: str, lines: list[bytes], repeats: int) -> None:
    """EventLoader vs a consume-and-insert loop over prebuilt rows, on the same topic, into fresh databases."""
    events = [learning_event_for(Activity.from_bytes(line), default_classifier()) for line in lines]
    pairs = [(event.conversation_key.encode("utf-8"), event.to_bytes()) for event in events]
    raw = Variant("consume + insert prebuilt rows (baseline)")
    loader = Variant("EventLoader (decode, validate, row, insert)")
    client: Any = None
    positions: list[tuple[int, int]] = []
    namespace = settings
    for _ in range(repeats):
        namespace = fresh(settings, work, bootstrap)
        positions = prefill(namespace, namespace.topics.names.learning_events, pairs, with_sent_at=False)
        rows_at = {position: event_row(event, *position) for event, position in zip(events, positions, strict=True)}
        if client is None:  # one chDB session per process: every namespace's database lives in the same directory
            client = connect(parse_dsn(namespace.warehouse_dsn))
        database = parse_dsn(namespace.warehouse_dsn).database
        raw_database = fresh_database(client, f"{database}_raw")
        raw.runs.append(raw_load(namespace, client, raw_database, rows_at, len(events)))
        loaded_database = fresh_database(client, database)
        loader.runs.append(run_loader(namespace, client, loaded_database, len(events)))
        raw_rows, loaded_rows = stored_rows(client, raw_database), stored_rows(client, loaded_database)
        raw.notes.append(check_count(f"{raw_database}.{TABLE}", raw_rows[0], len(events)))
        loader.notes.append(
            check_count(f"{loaded_database}.{TABLE}", loaded_rows[0], len(events))
            or ("" if loaded_rows == raw_rows else "WARNING: rows differ from the baseline's")
        )
    print(f"-- loader: {len(events):,} prefilled learning events, {settings.topics.partitions} partitions, inserts of")
    print(f"   {settings.loader.batch_size:,} rows into chDB in this process; CPU of this process (chDB included);")
    print("   both commit after each insert; timed from the first poll after joining the group")
    print_table([raw, loader], raw)
    print(
        f"EventLoader / raw: {ratio(Figures.median(loader.runs).per_s, Figures.median(raw.runs).per_s)} (goal >= 0.7x)"
    )
    insert_formats(namespace, client, events, positions)
    print()


# -- entry point --------------------------------------------------------------------------------------------------


def main() -> None:
    """Parse the options, start (or use) a broker, print the header, then run the chosen stages."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activities", type=int, default=200_000, help="activities per variant")
    parser.add_argument("--bootstrap", help="use the broker running here instead of starting a local one")
    parser.add_argument("--only", action="append", choices=STAGES, help="run this stage (repeatable; default all)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each variant; the median is printed too")
    args = parser.parse_args()
    if args.activities < 1 or args.repeats < 1:
        parser.error("--activities and --repeats must be at least 1")
    chosen = [stage for stage in STAGES if stage in (args.only or STAGES)]
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    work = Path(tempfile.mkdtemp(prefix="learnstream-stages-"))
    with local_broker(args.bootstrap) as bootstrap:
        settings = bench_settings(work, bootstrap, label="stages")
        extra = {"activities": args.activities, "repeats": args.repeats, "stages": chosen, "work": str(work)}
        print_header("bench/stages.py: each stage against its raw baseline", settings, extra)
        lines = synthetic_activities(args.activities)
        print(
            f"input: {len(lines):,} synthetic activities (bench.synthetic, seed 0), "
            f"{sum(map(len, lines)) / len(lines):.0f} bytes on average, "
            f"{len({record_for_line(line).key for line in lines}):,} conversation keys"
        )
        print("ratio: the variant's activities/s over the baseline's (above 1.00x is faster); CPU ms/1k: CPU")
        print("milliseconds per 1,000 activities of the stage's process(es)")
        print()
        stages = {
            "connector": connector_stage,
            "worker": worker_stage,
            "loader": loader_stage,
            "scaleout": scaleout_stage,
        }
        for stage in chosen:
            stages[stage](settings, work, bootstrap, lines, args.repeats)


if __name__ == "__main__":
    main()
