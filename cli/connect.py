"""`learnstream connect list | check NAME | run NAME`: the instances of the connector file."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from cli.common import reports_errors, settings

if TYPE_CHECKING:
    from learnstream.progress import Progress
    from producers.contracts import Batch


@click.group()
def connect() -> None:
    """Connector instances (the file LEARNSTREAM_CONNECTORS_FILE names, connectors.toml by default)."""


@connect.command("list")
@reports_errors
def connect_list() -> None:
    """Every instance: its type, how it runs, the slice of its source it owns, and its saved cursor."""
    from producers.connector_config import load_connector_file
    from producers.cursors import cursor_store_from_settings
    from producers.registry import is_pull, is_receiver

    current = settings()
    connectors = load_connector_file(current.connectors_file)
    cursors = cursor_store_from_settings(current)
    try:
        rows = []
        for config in connectors.connectors:
            source, items = config.slice()
            owned = source if items is None else f"{source} [{', '.join(sorted(items))}]"
            halves = [("serve", is_receiver(config)), ("connect run", is_pull(config))]  # teams-notifications: both
            runs = " + ".join(where for where, present in halves if present)
            cursor = (cursors.load(config.name) or "(none yet)") if is_pull(config) else "-"
            rows.append((config.name, config.type, runs, owned, cursor))
    finally:
        cursors.close()
    if not rows:
        click.echo(f"no connectors in {current.connectors_file}")
        return
    widths = [
        max(len(row[column]) for row in [("name", "type", "runs in", "slice", "cursor"), *rows]) for column in range(4)
    ]
    for row in [("name", "type", "runs in", "slice", "cursor"), *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4])


@connect.command("check")
@click.argument("name")
@reports_errors
def connect_check(name: str) -> None:
    """Check one instance against its source: configuration, credentials, reachability, unresolved accounts."""
    from producers.connector_config import load_connector_file
    from producers.registry import ConnectorContext, build_pull, build_receivers, is_pull

    current = settings()
    connectors = load_connector_file(current.connectors_file)
    config = connectors.instance(name)
    context = ConnectorContext.load(current, connectors, os.environ)
    connector = build_pull(config, context) if is_pull(config) else build_receivers(config, context)[0]
    report = connector.check()
    click.echo(f"{name} ({config.type}): ok")
    for line in report.lines():
        click.echo(f"  {line}")


@connect.command("run")
@click.argument("name")
@click.option(
    "--backfill-from",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Read from this time (UTC) instead of the saved cursor; what was published before is not duplicated "
    "downstream (same activity ids).",
)
@click.option("--once", is_flag=True, help="Catch up and exit instead of following the source live.")
@reports_errors
def connect_run(name: str, backfill_from: datetime | None, once: bool) -> None:
    """Run one pull instance: publish from its cursor, then follow live; SIGTERM flushes, saves and exits 0."""
    from learnstream.kafka import check_broker, ensure_topics, make_producer
    from learnstream.observability import start_endpoint
    from learnstream.progress import progress_enabled
    from learnstream.status import health_reporter
    from producers.connector_config import load_connector_file
    from producers.cursors import cursor_store_from_settings
    from producers.registry import ConnectorContext, build_pull, poll_interval_s
    from producers.runtime import Health, cursor_moment, follow, run_connector, start_from

    current = settings()
    connectors = load_connector_file(current.connectors_file)
    config = connectors.instance(name)
    source = build_pull(config, ConnectorContext.load(current, connectors, os.environ))
    check_broker(current.kafka)
    ensure_topics(current.kafka, current.topics)
    names = current.topics.names
    topic = names.directory if config.type == "directory" else names.activity_raw
    stopping: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: stopping.append(received))
    since = backfill_from.replace(tzinfo=UTC) if backfill_from else None
    interval = poll_interval_s(config)
    cursors = cursor_store_from_settings(current)
    producer = make_producer(current.kafka, f"connector-{name}", current.producer)
    health = Health()
    enabled = progress_enabled(current.progress)
    endpoint = None
    if not once and interval is not None:  # following the source: long-running, with /metrics, /health, /ready
        port, setting = current.metrics.connector_port, "LEARNSTREAM_METRICS__CONNECTOR_PORT"
        endpoint = start_endpoint(current.metrics.host, port, setting, health.readiness)
    try:
        if once or interval is None:
            start = start_from(source, cursors, since)
            with catching_up(name, cursor_moment(start), enabled) as progress:
                stats = run_connector(
                    source,
                    producer,
                    topic,
                    cursors,
                    dead_letter_topic=names.activity_dlq,
                    start=start,
                    should_stop=lambda: bool(stopping),
                    observe=shows_batches(progress),
                )
        else:
            with ExitStack() as drawing:
                # only a backfill draws, until it caught up: a follower under a service manager runs for months
                shown = drawing.enter_context(catching_up(name, since, enabled)) if since is not None else None
                stats = follow(
                    source,
                    producer,
                    topic,
                    cursors,
                    poll_interval_s=interval,
                    should_stop=lambda: bool(stopping),
                    dead_letter_topic=names.activity_dlq,
                    backfill_from=since,
                    health=health,
                    report_health=health_reporter(producer, names.connector_state, name),
                    observe=None if shown is None else shows_batches(shown),
                    caught_up=None if shown is None else shown.finish,
                )
    finally:
        if endpoint is not None:
            endpoint.stop()
        producer.close()
        cursors.close()
    click.echo(
        f"{name}: published {stats.records} records and {stats.dead_letters} dead letters in {stats.batches} batches"
        + (" (stopped)" if stopping else "")
    )


def catching_up(name: str, start: datetime | None, enabled: bool | None) -> Progress:
    """The progress of a run catching up: the position in time from `start` toward now when the source's cursor
    tells one, else the records published."""
    from learnstream.progress import Progress, TimeProgress

    if start is None:
        return Progress(name, enabled=enabled)
    return TimeProgress(name, start=start, enabled=enabled)


def shows_batches(progress: Progress) -> Callable[[Batch[Any]], None]:
    """What the runtime calls with each confirmed batch: its records counted, its cursor's time as the position."""
    from learnstream.progress import TimeProgress
    from producers.runtime import cursor_moment

    def observe(batch: Batch[Any]) -> None:
        if isinstance(progress, TimeProgress):
            progress.advance(len(batch.records), reached=cursor_moment(batch.cursor))
        else:
            progress.advance(len(batch.records))

    return observe
