"""`learnstream trends`: learning events per day, read from the warehouse."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import click

from cli.common import reports_errors, settings


@click.command()
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
