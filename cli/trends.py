"""`learnstream trends QUERY`: the named trend queries, with figures about fewer than k people withheld."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import click

from cli.common import reports_errors, settings

T = TypeVar("T")
#: A query running longer than this gets a progress line on a terminal.
PROGRESS_AFTER_S = 1.0
GRANULARITIES = ("day", "week", "month", "quarter")


@click.command()
@click.argument("query", required=False, default="activity")
@click.option("--list", "list_queries", is_flag=True, help="List the named queries and exit.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day (widened to its period).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last day (default: today, UTC).")
@click.option("--last", "last_periods", type=click.IntRange(min=1), default=None, help="Periods back, without --since.")
@click.option("--granularity", type=click.Choice(GRANULARITIES), default="week", show_default=True)
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

    Every figure about fewer than LEARNSTREAM_WAREHOUSE__MIN_GROUP_SIZE people is withheld. When `learnstream
    serve` owns the embedded warehouse, the query runs there. `--list` names the queries."""
    from warehouse.queries import QUERIES, Filters, Granularity
    from warehouse.render import render_csv, render_json, render_table
    from warehouse.requests import default_since

    if list_queries:
        for name, named in QUERIES.items():
            click.echo(f"{name:20} {named.title}")
        return
    current = settings()
    period = Granularity(granularity)
    last: date = until.date() if until else datetime.now(UTC).date()
    first = since.date() if since else default_since(last, period, last_periods)
    filters = Filters(first, last, period, teams, departments, topics, sources)
    document = with_progress(query, lambda: run_query(current, query, filters, classifier_version))
    if output == "json":
        click.echo(render_json(document))
    elif output == "csv":
        click.echo(render_csv(document), nl=False)
    else:
        click.echo(render_table(document))


def run_query(current: Any, query: str, filters: Any, version: str | None) -> dict[str, Any]:
    """The query's JSON document: from the serve that owns the embedded warehouse, else from the engine here."""
    from warehouse.connection import connect
    from warehouse.dsn import parse_dsn
    from warehouse.remote import remote_trends
    from warehouse.render import result_document
    from warehouse.service import run_named_query, served_url

    target = parse_dsn(current.warehouse_dsn)
    url = served_url(target)
    if url is not None:
        return remote_trends(current, url, query, filters, version)
    return result_document(run_named_query(connect(target), target.database, current, query, filters, version))


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
