"""`learnstream …`: parse, build settings, call a component, map errors to exit codes."""

from __future__ import annotations

import functools
import json
import signal
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from learnstream.errors import LearnstreamError
from learnstream.logs import configure_logging
from learnstream.settings import Settings, load_settings

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a LearnstreamError into one clear line on stderr and its exit code, instead of a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except LearnstreamError as exc:
            click.echo(f"learnstream: error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return run


@click.group()
@click.option("--log-level", default="info", show_default=True, help="debug, info, warning or error")
@click.pass_context
def cli(context: click.Context, log_level: str) -> None:
    """learnstream: informal learning at work, from collaboration activity to trend tables."""
    configure_logging(log_level)
    context.obj = log_level


def settings() -> Settings:
    return load_settings()


@cli.group()
def topics() -> None:
    """Kafka topics of the pipeline."""


@topics.command("create")
@reports_errors
def topics_create() -> None:
    """Create the raw, dead-letter and learning-event topics if they are missing."""
    from learnstream.kafka import ensure_topics

    current = settings()
    created = ensure_topics(current.kafka, current.topics)
    for name in current.topics.names.all():
        click.echo(f"{name}: {'created' if name in created else 'exists'}")


@cli.group()
def warehouse() -> None:
    """The ClickHouse warehouse."""


@warehouse.command("migrate")
@reports_errors
def warehouse_migrate() -> None:
    """Apply the DDL migrations not yet recorded in the warehouse (safe to run again)."""
    from warehouse.connection import connect
    from warehouse.dsn import parse_dsn
    from warehouse.migrations import migrate

    target = parse_dsn(settings().warehouse_dsn)
    applied = migrate(connect(target), target.database)
    for migration in applied:
        click.echo(f"applied {migration.version:04d}_{migration.name}")
    click.echo(f"warehouse {target.describe()} is up to date ({len(applied)} applied now)")


@cli.group()
def schemas() -> None:
    """Data contracts."""


@schemas.command("export")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("schemas/json"), show_default=True)
@reports_errors
def schemas_export(out_dir: Path) -> None:
    """Write the JSON Schema of every contract (Activity, LearningEvent, DeadLetter, DirectoryRecord)."""
    from schemas.json_schema import write_json_schemas

    for path in write_json_schemas(out_dir):
        click.echo(f"wrote {path}")


@cli.group()
def sample() -> None:
    """The bundled sample of real recorded activity."""


@sample.command("build")
@click.option("--data-dir", type=click.Path(path_type=Path, exists=True), default=Path("../shared/data"))
@click.option("--out", type=click.Path(path_type=Path), default=Path("samples/activities.jsonl"), show_default=True)
@reports_errors
def sample_build(data_dir: Path, out: Path) -> None:
    """Build the sample JSONL from the recordings in shared/data (Slack export, Wikimedia, xAPI)."""
    from producers.samples import build_sample, write_jsonl

    current = settings()
    keys = (current.pseudonym_key.get_secret_value().encode("utf-8"), current.id_key.get_secret_value().encode("utf-8"))
    activities = build_sample(data_dir, *keys)
    write_jsonl(activities, out)
    click.echo(f"wrote {len(activities)} activities to {out}")


@cli.command()
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--from-start", is_flag=True, help="Ignore the saved cursor and replay the whole file.")
@reports_errors
def replay(path: Path, from_start: bool) -> None:
    """Replay a JSONL file of activities onto the raw topic (the file-replay connector)."""
    from learnstream.kafka import make_producer
    from producers.cursors import cursor_store_from_settings
    from producers.file_replay import FileReplay
    from producers.runtime import run_connector

    current = settings()
    connector = FileReplay(path)
    cursors = cursor_store_from_settings(current)
    if from_start:
        cursors.save(connector.name, "0")
    producer = make_producer(current.kafka, "file-replay", current.producer)
    try:
        stats = run_connector(connector, producer, current.topics.names.activity_raw, cursors)
    finally:
        producer.close()
        cursors.close()
    click.echo(f"replayed {stats.records} records from {path} to {current.topics.names.activity_raw}")


@cli.command()
@reports_errors
def worker() -> None:
    """Run the faust classification worker until stopped (SIGTERM or Ctrl-C)."""
    import faust

    from learnstream.kafka import check_broker, ensure_topics
    from streams.app import create_app, tune_garbage_collection

    current = settings()
    check_broker(current.kafka)
    ensure_topics(current.kafka, current.topics)
    app = create_app(current)
    tune_garbage_collection(app)
    faust.Worker(app, loglevel=current.worker.log_level, redirect_stdouts=False).execute_from_commandline()


@cli.command()
@click.option("--exit-when-idle", type=float, default=None, help="Stop after this many idle seconds (once loaded).")
@click.option("--first-event-timeout", type=float, default=None, help="Fail if no event arrives in this many seconds.")
@reports_errors
def loader(exit_when_idle: float | None, first_event_timeout: float | None) -> None:
    """Load learning events from Kafka into the warehouse until stopped."""
    from learnstream.kafka import check_broker, ensure_topics, make_consumer, make_dead_letter_producer
    from warehouse.connection import connect
    from warehouse.dsn import parse_dsn
    from warehouse.loader import EventLoader
    from warehouse.migrations import migrate

    current = settings()
    target = parse_dsn(current.warehouse_dsn)
    client = connect(target)
    check_broker(current.kafka)
    ensure_topics(current.kafka, current.topics)
    migrate(client, target.database)
    names = current.topics.names
    consumer = make_consumer(current.kafka, current.loader.group_id, [names.learning_events], "loader")
    dlq_producer = make_dead_letter_producer(current.kafka, current.topics, current.producer, "loader-dlq")
    stopping: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: stopping.append(received))
    event_loader = EventLoader.from_settings(current, consumer, client, target.database, dlq_producer)
    try:
        stats = event_loader.run(lambda: bool(stopping), exit_when_idle, first_event_timeout)
    finally:
        consumer.close()
        dlq_producer.close()
    click.echo(
        f"loaded {stats.rows_inserted} learning events in {stats.batches_inserted} batches "
        f"({stats.dead_letters} dead letters, {stats.insert_failures} retried inserts)"
    )
    if stats.latency.total:
        click.echo(
            f"send-to-queryable latency: p50 {stats.latency.quantile(0.5):.2f} s, "
            f"p99 {stats.latency.quantile(0.99):.2f} s over {stats.latency.total} events"
        )


@cli.command()
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day (default: --days ago).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last day (default: today, UTC).")
@click.option("--days", type=int, default=30, show_default=True, help="Days back from --until, without --since.")
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@reports_errors
def trends(since: datetime | None, until: datetime | None, days: int, output: str) -> None:
    """Print learning events per day by category and source, read from the warehouse."""
    from warehouse.connection import connect
    from warehouse.dsn import parse_dsn
    from warehouse.trends import daily_trends, render_trend_table

    last: date = until.date() if until else datetime.now(UTC).date()
    first: date = since.date() if since else last - timedelta(days=days - 1)
    target = parse_dsn(settings().warehouse_dsn)
    rows = daily_trends(connect(target), target.database, first, last)
    if output == "json":
        payload: list[dict[str, Any]] = [
            {"day": row.day.isoformat(), "category": row.category, "source": row.source, "events": row.events}
            for row in rows
        ]
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(f"learning events per day, {first} to {last} ({target.describe()})")
        click.echo(render_trend_table(rows))


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
