"""`learnstream trends QUERY`: the named trend queries, with figures about fewer than k people withheld."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TypeVar

import click

from cli.common import reports_errors, settings

T = TypeVar("T")
#: Periods shown without --since, by granularity.
DEFAULT_PERIODS = {"day": 30, "week": 12, "month": 12, "quarter": 8}
#: A query running longer than this gets a progress line on a terminal.
PROGRESS_AFTER_S = 1.0


def query_names() -> list[str]:
    from warehouse.queries import QUERIES

    return list(QUERIES)


@click.command()
@click.argument("query", required=False, default="activity")
@click.option("--list", "list_queries", is_flag=True, help="List the named queries and exit.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day (widened to its period).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last day (default: today, UTC).")
@click.option("--last", "last_periods", type=click.IntRange(min=1), default=None, help="Periods back, without --since.")
@click.option(
    "--granularity", type=click.Choice(list(DEFAULT_PERIODS)), default="week", show_default=True, help="Period length."
)
@click.option("--team", "teams", multiple=True, help="Only these teams ((unresolved): people not in the directory).")
@click.option("--department", "departments", multiple=True, help="Only these departments.")
@click.option("--topic", "topics", multiple=True, help="Only events tagged with these topics.")
@click.option("--source", "sources", multiple=True, help="Only these sources (slack, mediawiki, xapi, ...).")
@click.option("--classifier-version", default=None, help="Read this version instead of the active one.")
@click.option("--format", "output", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@reports_errors
def trends(
    query: str,
    list_queries: bool,
    since: datetime | None,
    until: datetime | None,
    last_periods: int | None,
    granularity: str,
    teams: tuple[str, ...],
    departments: tuple[str, ...],
    topics: tuple[str, ...],
    sources: tuple[str, ...],
    classifier_version: str | None,
    output: str,
) -> None:
    """Run a named trend query (default: activity) over whole days, weeks, months or quarters.

    Every figure about fewer than LEARNSTREAM_WAREHOUSE__MIN_GROUP_SIZE people is withheld. `--list` names the
    queries."""
    from streams.classify.classifier import load_classifier
    from warehouse.connection import connect
    from warehouse.dsn import parse_dsn
    from warehouse.queries import QUERIES, Filters, Granularity, period_start, previous_period, run_trend
    from warehouse.render import render_csv, render_json, render_table
    from warehouse.versions import active_version

    if list_queries:
        for name, named in QUERIES.items():
            click.echo(f"{name:20} {named.title}")
        return
    current = settings()
    period = Granularity(granularity)
    last: date = until.date() if until else datetime.now(UTC).date()
    if since is not None:
        first = since.date()
    else:
        first = period_start(last, period)
        for _ in range((last_periods or DEFAULT_PERIODS[granularity]) - 1):
            first = previous_period(first, period)
    filters = Filters(first, last, period, teams, departments, topics, sources)
    target = parse_dsn(current.warehouse_dsn)
    client = connect(target)
    version = classifier_version or active_version(
        client, target.database, load_classifier(current.classifier.vocabulary_files).version
    )
    result = with_progress(
        query, lambda: run_trend(client, target.database, query, filters, version, current.warehouse.min_group_size)
    )
    if output == "json":
        click.echo(render_json(result))
    elif output == "csv":
        click.echo(render_csv(result), nl=False)
    else:
        click.echo(render_table(result))


def with_progress(name: str, run: Callable[[], T]) -> T:
    """Run `run()`, printing an elapsed-time line on stderr while it takes longer than PROGRESS_AFTER_S (on a
    terminal only, so scripts and pipes get clean output)."""
    if not sys.stderr.isatty():
        return run()
    done = threading.Event()
    started = time.monotonic()

    def report() -> None:
        while not done.wait(PROGRESS_AFTER_S):
            click.echo(f"\rrunning {name}: {time.monotonic() - started:.0f} s", err=True, nl=False)

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        return run()
    finally:
        done.set()
        thread.join()
        if time.monotonic() - started > PROGRESS_AFTER_S:
            click.echo("\r" + " " * 40 + "\r", err=True, nl=False)
