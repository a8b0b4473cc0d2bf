"""The pipeline's processes: `learnstream replay`, `worker` and `loader`."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from cli.common import reports_errors, settings


@click.command()
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--from-start", is_flag=True, help="Ignore the saved cursor and replay the whole file.")
@reports_errors
def replay(path: Path, from_start: bool) -> None:
    """Replay a JSONL file of activities onto the raw topic (the file-replay connector)."""
    from learnstream.kafka import make_producer
    from learnstream.progress import FileProgress, progress_enabled
    from producers.cursors import cursor_store_from_settings
    from producers.file_replay import FileReplay
    from producers.runtime import run_connector, start_from

    current = settings()
    connector = FileReplay(path)
    cursors = cursor_store_from_settings(current)
    producer = make_producer(current.kafka, "file-replay", current.producer)
    try:
        start = connector.start_cursor(None) if from_start else start_from(connector, cursors, None)
        with FileProgress(
            f"replay {path.name}",
            size=connector.size(),
            offset=start.offset,
            enabled=progress_enabled(current.progress),
        ) as progress:
            stats = run_connector(
                connector,
                producer,
                current.topics.names.activity_raw,
                cursors,
                start=start,
                observe=lambda batch: progress.advance(len(batch.records), offset=batch.cursor.offset),
            )
    finally:
        producer.close()
        cursors.close()
    click.echo(f"replayed {stats.records} records from {path} to {current.topics.names.activity_raw}")


@click.command()
@reports_errors
def worker() -> None:
    """Run the faust classification worker until stopped (SIGTERM or Ctrl-C); /metrics, /health and /ready on
    LEARNSTREAM_METRICS__WORKER_PORT."""
    import faust

    from learnstream.kafka import check_broker, ensure_topics
    from learnstream.logs import dict_config
    from learnstream.observability import start_endpoint
    from streams.app import create_app, tune_garbage_collection, worker_readiness

    current = settings()
    check_broker(current.kafka)
    ensure_topics(current.kafka, current.topics)
    app = create_app(current)
    tune_garbage_collection(app)
    metrics = current.metrics
    endpoint = start_endpoint(
        metrics.host, metrics.worker_port, "LEARNSTREAM_METRICS__WORKER_PORT", worker_readiness(app)
    )
    try:
        faust.Worker(
            app,
            loglevel=current.worker.log_level,
            logging_config=dict_config(current.worker.log_level),
            redirect_stdouts=False,
        ).execute_from_commandline()
    finally:
        endpoint.stop()


@click.command()
@click.option("--exit-when-idle", type=float, default=None, help="Stop after this many idle seconds (once loaded).")
@click.option("--first-event-timeout", type=float, default=None, help="Fail if no event arrives in this many seconds.")
@reports_errors
def loader(exit_when_idle: float | None, first_event_timeout: float | None) -> None:
    """Load learning events from Kafka into the warehouse until stopped; serves /metrics, /health and /ready on
    LEARNSTREAM_METRICS__LOADER_PORT meanwhile."""
    from learnstream.kafka import (
        check_broker,
        ensure_topics,
        loader_membership,
        make_consumer,
        make_dead_letter_producer,
    )
    from learnstream.observability import start_endpoint
    from warehouse.connection import connect
    from warehouse.dsn import parse_dsn
    from warehouse.loader import EventLoader
    from warehouse.preparation import prepare_warehouse
    from warehouse.service import configured_version
    from warehouse.upkeep import Upkeep

    current = settings()
    # Up first, so /health answers and /ready says why not while the broker and the warehouse are prepared.
    started: list[EventLoader] = []
    endpoint = start_endpoint(
        current.metrics.host,
        current.metrics.loader_port,
        "LEARNSTREAM_METRICS__LOADER_PORT",
        lambda: started[0].readiness() if started else "the loader is preparing the broker and the warehouse",
    )
    try:
        target = parse_dsn(current.warehouse_dsn)
        client = connect(target)
        check_broker(current.kafka)
        ensure_topics(current.kafka, current.topics)
        prepare_warehouse(client, target.database, current, configured_version(current))
        names = current.topics.names
        membership = loader_membership(current.loader)
        consumer = make_consumer(
            current.kafka, current.loader.group_id, [names.learning_events], "loader", **membership
        )
        dlq_producer = make_dead_letter_producer(current.kafka, current.topics, current.producer, "loader-dlq")
        stopping: list[int] = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda received, _frame: stopping.append(received))
        event_loader = EventLoader.from_settings(current, consumer, client, target.database, dlq_producer)
        started.append(event_loader)
        upkeep = Upkeep(current, client, target.database, event_loader)
        try:
            upkeep.refresh_directory()
            upkeep.rebuild()
            stats = event_loader.run(lambda: bool(stopping), exit_when_idle, first_event_timeout, upkeep.tasks())
        finally:
            consumer.close()
            dlq_producer.close()
    finally:
        endpoint.stop()
    click.echo(
        f"loaded {stats.rows_inserted} learning events in {stats.batches_inserted} batches "
        f"({stats.dead_letters} dead letters, {stats.insert_failures} retried inserts)"
    )
    if stats.latency.total:
        click.echo(
            f"send-to-queryable latency: p50 {stats.latency.quantile(0.5):.2f} s, "
            f"p99 {stats.latency.quantile(0.99):.2f} s over {stats.latency.total} events"
        )
