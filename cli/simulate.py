"""`learnstream simulate`: a believable organisation, delivered through the real connectors in the sources'
native formats (same seed, same organisation)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from cli.common import reports_errors

#: The environment variable the simulated Slack app's signing secret is read from (by `simulate` and `serve`).
SECRET_VARIABLE = "SIMULATED_SLACK_SIGNING_SECRET"
#: Used when the variable is unset: the simulator signs test traffic, never real people's.
DEFAULT_SECRET = "simulated-slack-signing-secret-not-for-production"
WIKI_SERVER = "wiki.simulated.example"
WIKI_NAMESPACES = (0, 1, 2, 4, 12)
#: Events posted per slice: the bodies of one slice are serialised before it is sent, so memory stays bounded.
SLICE = 20_000


def connector_file(org_team: str, wiki_port: int, backfill_days: int, export: Path | None) -> str:
    """The connector file for the simulated organisation: its directory, Slack receiver, wiki and export."""
    parts = [
        'directory = "people.csv"',
        '[[connectors]]\nname = "sim-people"\ntype = "directory"',
        f'[[connectors]]\nname = "sim-slack"\ntype = "slack-events"\nworkspace = "{org_team}"\n'
        f'signing_secret_env = "{SECRET_VARIABLE}"',
    ]
    parts.append(
        f'[[connectors]]\nname = "sim-wiki"\ntype = "mediawiki"\n'
        f'api_url = "http://127.0.0.1:{wiki_port}/w/api.php"\nserver_name = "{WIKI_SERVER}"\n'
        f"namespaces = [{', '.join(str(n) for n in WIKI_NAMESPACES)}]\nbackfill_days = {backfill_days}\n"
        "poll_interval_s = 2"
    )
    if export is not None:
        parts.append(
            f'[[connectors]]\nname = "sim-slack-history"\ntype = "slack-export"\nworkspace = "{org_team}"\n'
            f'path = "{export.name}"'
        )
    return "\n\n".join(parts) + "\n"


@click.command()
@click.option("--people", type=click.IntRange(2), default=200, show_default=True)
@click.option("--days", type=click.IntRange(1), default=30, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day (default: --days + 3 ago).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("var/simulation"), show_default=True)
@click.option("--post-to", default=None, help="Base URL of `learnstream serve`: post the Slack events there, signed.")
@click.option("--concurrency", type=click.IntRange(1), default=32, show_default=True)
@click.option("--wiki-port", type=int, default=8891, show_default=True, help="Where the simulated wiki's API is.")
@click.option("--serve-wiki", is_flag=True, help="Serve the wiki's API on --wiki-port until SIGTERM or Ctrl-C.")
@click.option("--slack-export", is_flag=True, help="Also write the public channels as a Slack export ZIP (backfill).")
@reports_errors
def simulate(
    people: int,
    days: int,
    seed: int,
    start: datetime | None,
    out: Path,
    post_to: str | None,
    concurrency: int,
    wiki_port: int,
    serve_wiki: bool,
    slack_export: bool,
) -> None:
    """Generate an organisation: people in teams (a directory export), Slack channels with questions, answers,
    thanks and links, and wiki pages with edits; post the Slack events to `serve` and serve the wiki's API for
    `learnstream connect run sim-wiki`. Writes the directory and a connector file for them under --out."""
    from simulator.chat import slack_events, write_slack_export
    from simulator.mediawiki_api import MediaWikiApi
    from simulator.organisation import directory_csv, generate_organisation
    from simulator.wiki import WIKI_BOTS, wiki_changes

    # by default the period ends three days ago: late replies and reactions spill a day or two past it, and must
    # not land in the future
    first: date = start.date() if start else datetime.now(UTC).date() - timedelta(days=days + 3)
    org = generate_organisation(people, seed, first, days=days)
    out.mkdir(parents=True, exist_ok=True)
    (out / "people.csv").write_text(directory_csv(org), encoding="utf-8")
    export = out / "slack-export.zip"
    if slack_export:
        messages = write_slack_export(org, days, seed, export, first, team_id=org.slack_team_id)
        click.echo(f"slack export: {messages:,} messages in {export}")
    backfill_days = (datetime.now(UTC).date() - first).days + 1
    (out / "connectors.toml").write_text(
        connector_file(org.slack_team_id, wiki_port, backfill_days, export if export.exists() else None),
        encoding="utf-8",
    )
    click.echo(
        f"organisation {org.company}: {len(org.employees)} employees and {len(org.contractors)} contractors in "
        f"{len(org.teams)} teams, {first} + {days} days, seed {seed}; directory and connectors.toml in {out}"
    )
    wiki = None
    if serve_wiki:
        changes = wiki_changes(org, days, seed, first)
        wiki = MediaWikiApi(WIKI_SERVER, changes, port=wiki_port, bots=WIKI_BOTS)
        wiki.start()
        click.echo(f"wiki: {len(changes):,} changes at {wiki.api_url}")
    try:
        if post_to is not None:
            post_slack(post_to.rstrip("/"), slack_events(org, days, seed, org.slack_team_id, first), concurrency)
        if wiki is not None:
            click.echo("wiki: serving until SIGTERM or Ctrl-C")
            wait_for_stop()
    finally:
        if wiki is not None:
            wiki.stop()


def post_slack(base_url: str, events: Iterator[dict[str, Any]], concurrency: int) -> None:
    """Post the events to the simulated Slack app's receiver, slice by slice; report what was acknowledged."""
    from simulator.slack_sender import post_bodies, serialize_events

    secret = os.environ.get(SECRET_VARIABLE, DEFAULT_SECRET).encode("utf-8")
    url = f"{base_url}/hooks/slack/sim-slack"
    totals: dict[str, float] = {"sent": 0, "acknowledged": 0, "retried": 0, "failed": 0, "seconds": 0.0}
    while chunk := list(itertools.islice(events, SLICE)):
        stats = asyncio.run(post_bodies(url, serialize_events(chunk), secret, concurrency))
        for name in ("sent", "acknowledged", "retried", "failed"):
            totals[name] += getattr(stats, name)
        totals["seconds"] += stats.elapsed_s
    rate = totals["acknowledged"] / totals["seconds"] if totals["seconds"] else 0.0
    click.echo(
        f"slack: {totals['sent']:,} events posted to {url}, {totals['acknowledged']:,} acknowledged "
        f"({rate:,.0f}/s), {totals['retried']:,} retries, {totals['failed']:,} given up"
    )
    if totals["failed"]:
        raise click.ClickException(f"{totals['failed']} events were never acknowledged by {url}")


def wait_for_stop() -> None:
    """Block until SIGTERM or SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _received, _frame: stop.set())
    while not stop.wait(1.0):
        pass
