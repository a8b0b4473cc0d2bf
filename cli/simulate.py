"""`learnstream simulate`: a believable organisation, delivered through the real connectors in the sources'
native formats (same seed, same organisation)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli.common import reports_errors, settings

if TYPE_CHECKING:
    from learnstream.progress import Progress, TimeProgress
    from simulator.mediawiki_wire import WikiChange
    from simulator.organisation import Organisation

#: The environment variable the simulated Slack app's signing secret is read from (by `simulate` and `serve`).
SECRET_VARIABLE = "SIMULATED_SLACK_SIGNING_SECRET"
#: Used when the variable is unset: the simulator signs test traffic, never real people's.
DEFAULT_SECRET = "simulated-slack-signing-secret-not-for-production"
WIKI_SERVER = "wiki.simulated.example"
WIKI_NAMESPACES = (0, 1, 2, 4, 12)
#: Events posted per slice: the bodies of one slice are serialised before it is sent, so memory stays bounded.
SLICE = 20_000


#: The tools a simulated organisation can use; chat is split between Slack and Mattermost, pages between the
#: wiki and Confluence, when both of a pair are chosen.
SOURCES = ("slack", "wiki", "mattermost", "confluence", "teams", "lms")
#: The LMS's credentials at serve's xAPI endpoint: this name, and the secret in this variable (LRS__CREDENTIALS
#: must hold both, with the write scope).
LMS_CREDENTIAL = "simulated-lms"
LMS_SECRET_VARIABLE = "SIMULATED_LMS_SECRET"
LMS_BATCH = 100
MATTERMOST_SERVER = "chat.simulated.example"
MATTERMOST_TEAM = "simulatedteam0000000000000"
MATTERMOST_TOKEN_VARIABLE = "SIMULATED_MATTERMOST_TOKEN"
MATTERMOST_WEBHOOK_TOKEN_VARIABLE = "SIMULATED_MATTERMOST_WEBHOOK_TOKEN"
CONFLUENCE_SITE = "simulated.atlassian.net"
CONFLUENCE_EMAIL = "learnstream-bot@simulated.example"
CONFLUENCE_TOKEN_VARIABLE = "SIMULATED_CONFLUENCE_TOKEN"
CONFLUENCE_DC_SITE = "confluence.simulated.example"
CONFLUENCE_WEBHOOK_SECRET_VARIABLE = "SIMULATED_CONFLUENCE_WEBHOOK_SECRET"
DEFAULT_TOOL_TOKEN = "simulated-tool-token-not-for-production"
TEAMS_TENANT = "0d9b8a7c-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
TEAMS_CLIENT = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
TEAMS_SECRET_VARIABLE = "SIMULATED_TEAMS_CLIENT_SECRET"
TEAMS_STATE_VARIABLE = "SIMULATED_TEAMS_CLIENT_STATE"


@dataclass(frozen=True)
class Ports:
    """Where the simulated pull sources' APIs listen."""

    wiki: int
    mattermost: int
    confluence: int
    graph: int


def connector_file(
    sources: tuple[str, ...],
    org_team: str,
    ports: Ports,
    backfill_days: int,
    export: Path | None,
    mattermost_channels: list[str],
    teams_channels: list[str],
    serve_url: str,
    mattermost_via: str = "api",
    confluence_via: str = "api",
) -> str:
    """The connector file for the simulated organisation: its directory and one instance per chosen tool."""
    from simulator.other_tools import SPACES, teams_resource

    parts = ['directory = "people.csv"', '[[connectors]]\nname = "sim-people"\ntype = "directory"']
    if "slack" in sources:
        parts.append(
            f'[[connectors]]\nname = "sim-slack"\ntype = "slack-events"\nworkspace = "{org_team}"\n'
            f'signing_secret_env = "{SECRET_VARIABLE}"'
        )
    if "wiki" in sources:
        parts.append(
            f'[[connectors]]\nname = "sim-wiki"\ntype = "mediawiki"\n'
            f'api_url = "http://127.0.0.1:{ports.wiki}/w/api.php"\nserver_name = "{WIKI_SERVER}"\n'
            f"namespaces = [{', '.join(str(n) for n in WIKI_NAMESPACES)}]\nbackfill_days = {backfill_days}\n"
            "poll_interval_s = 2"
        )
    if "mattermost" in sources and mattermost_via == "webhook":
        parts.append(
            f'[[connectors]]\nname = "sim-mattermost-hook"\ntype = "mattermost-webhook"\n'
            f'server = "{MATTERMOST_SERVER}"\nteam_id = "{MATTERMOST_TEAM}"\n'
            f'token_env = "{MATTERMOST_WEBHOOK_TOKEN_VARIABLE}"'
        )
    elif "mattermost" in sources and mattermost_channels:
        channels = ", ".join(f'"{channel}"' for channel in sorted(mattermost_channels))
        parts.append(
            f'[[connectors]]\nname = "sim-mattermost"\ntype = "mattermost-api"\nserver = "{MATTERMOST_SERVER}"\n'
            f'api_url = "http://127.0.0.1:{ports.mattermost}/api/v4/"\ntoken_env = "{MATTERMOST_TOKEN_VARIABLE}"\n'
            f"channels = [{channels}]\nbackfill_days = {backfill_days}\npoll_interval_s = 2"
        )
    spaces = ", ".join(f'"{space}"' for space in sorted(set(SPACES.values())))
    if "confluence" in sources and confluence_via == "webhook":
        parts.append(
            f'[[connectors]]\nname = "sim-confluence-hook"\ntype = "confluence-webhook"\n'
            f'site = "{CONFLUENCE_DC_SITE}"\nsecret_env = "{CONFLUENCE_WEBHOOK_SECRET_VARIABLE}"\nspaces = [{spaces}]'
        )
    elif "confluence" in sources:
        parts.append(
            f'[[connectors]]\nname = "sim-confluence"\ntype = "confluence-cloud"\nsite = "{CONFLUENCE_SITE}"\n'
            f'base_url = "http://127.0.0.1:{ports.confluence}"\nemail = "{CONFLUENCE_EMAIL}"\n'
            f'api_token_env = "{CONFLUENCE_TOKEN_VARIABLE}"\nspaces = [{spaces}]\nbackfill_days = {backfill_days}\n'
            "poll_interval_s = 2"
        )
    if "teams" in sources and teams_channels:
        graph = (
            f'tenant_id = "{TEAMS_TENANT}"\nclient_id = "{TEAMS_CLIENT}"\n'
            f'client_secret_env = "{TEAMS_SECRET_VARIABLE}"\n'
            f'client_state_env = "{TEAMS_STATE_VARIABLE}"\n'
            f'token_endpoint = "http://127.0.0.1:{ports.graph}/{TEAMS_TENANT}/oauth2/v2.0/token"\n'
            f'graph_url = "http://127.0.0.1:{ports.graph}/v1.0/"'
        )
        resources = ", ".join(f'"{teams_resource(channel)}"' for channel in teams_channels)
        # serve receives Graph's notifications and queues them; `connect run sim-teams` fetches their messages
        parts.append(f'[[connectors]]\nname = "sim-teams"\ntype = "teams-notifications"\n{graph}\npoll_interval_s = 1')
        parts.append(
            f'[[connectors]]\nname = "sim-teams-subscriptions"\ntype = "teams-subscriptions"\n{graph}\n'
            f'notification_url = "{serve_url.rstrip("/")}/hooks/teams/sim-teams"\nreceiver = "sim-teams"\n'
            f"resources = [{resources}]\npoll_interval_s = 60"
        )
    if export is not None and "slack" in sources:
        parts.append(
            f'[[connectors]]\nname = "sim-slack-history"\ntype = "slack-export"\nworkspace = "{org_team}"\n'
            f'path = "{export.name}"'
        )
    return "\n\n".join(parts) + "\n"


def parse_sources(value: str) -> tuple[str, ...]:
    """The chosen tools, in the canonical order; an unknown one is a usage error."""
    chosen = {name.strip() for name in value.split(",") if name.strip()}
    unknown = sorted(chosen - set(SOURCES))
    if unknown or not chosen:
        raise click.BadParameter(f"choose among {', '.join(SOURCES)} (got {', '.join(unknown) or 'none'})")
    return tuple(name for name in SOURCES if name in chosen)


@click.command()
@click.option("--people", type=click.IntRange(2), default=200, show_default=True)
@click.option("--days", type=click.IntRange(1), default=30, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day (default: --days + 3 ago).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("var/simulation"), show_default=True)
@click.option(
    "--sources",
    default="slack,wiki",
    show_default=True,
    help="The tools the organisation uses: slack, wiki, mattermost, confluence, teams, lms (chat is split among the "
    "chat tools chosen, pages between the wiki and Confluence; lms posts its courses' xAPI Statements to serve's "
    f"/xapi/ with --post-to, as `{LMS_CREDENTIAL}` with the secret in {LMS_SECRET_VARIABLE}).",
)
@click.option("--post-to", default=None, help="Base URL of `learnstream serve`: post the Slack events there, signed.")
@click.option("--concurrency", type=click.IntRange(1), default=32, show_default=True)
@click.option("--wiki-port", type=int, default=8891, show_default=True, help="Where the simulated wiki's API is.")
@click.option("--mattermost-port", type=int, default=8892, show_default=True)
@click.option("--confluence-port", type=int, default=8893, show_default=True)
@click.option("--graph-port", type=int, default=8894, show_default=True)
@click.option(
    "--mattermost-via",
    type=click.Choice(["api", "webhook"]),
    default="api",
    show_default=True,
    help="Mattermost through its REST API (polled) or an outgoing webhook (posted to serve with --post-to).",
)
@click.option(
    "--confluence-via",
    type=click.Choice(["api", "webhook"]),
    default="api",
    show_default=True,
    help="Confluence as Cloud (its REST API, polled) or Data Center (signed webhooks posted to serve with --post-to).",
)
@click.option(
    "--serve-url",
    default="http://127.0.0.1:8800",
    show_default=True,
    help="Where `learnstream serve` answers: Graph's subscriptions notify it there.",
)
@click.option(
    "--serve-apis",
    "--serve-wiki",
    "serve_apis",
    is_flag=True,
    help="Serve the chosen pull sources' APIs (wiki, Mattermost, Confluence) until SIGTERM or Ctrl-C.",
)
@click.option("--slack-export", is_flag=True, help="Also write the public channels as a Slack export ZIP (backfill).")
@reports_errors
def simulate(
    people: int,
    days: int,
    seed: int,
    start: datetime | None,
    out: Path,
    sources: str,
    post_to: str | None,
    concurrency: int,
    wiki_port: int,
    mattermost_port: int,
    confluence_port: int,
    graph_port: int,
    mattermost_via: str,
    confluence_via: str,
    serve_url: str,
    serve_apis: bool,
    slack_export: bool,
) -> None:
    """Generate an organisation: people in teams (a directory export), chat channels with questions, answers,
    thanks and links, and pages with edits; post the Slack events to `serve` and serve the other tools' APIs for
    `learnstream connect run`. Writes the directory and a connector file for them under --out."""
    from learnstream.progress import Progress, progress_enabled
    from simulator.chat import slack_events, write_slack_export
    from simulator.organisation import directory_csv, generate_organisation
    from simulator.other_tools import CHAT_TOOLS, mattermost_id, split_chat, teams_channels

    chosen = parse_sources(sources)
    chat_tools = tuple(tool for tool in chosen if tool in CHAT_TOOLS)
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

    def chat() -> Iterator[tuple[str, dict[str, Any]]]:
        return split_chat(slack_events(org, days, seed, org.slack_team_id, first), chat_tools or ("slack",))

    mattermost_channels = (
        sorted(
            {
                mattermost_id("channel", str(event["event"]["channel"]))
                for tool, event in chat()
                if tool == "mattermost"
                and event["event"].get("type") == "message"
                and event["event"].get("channel_type") in ("channel", "group")  # direct messages stay out
            }
        )
        if "mattermost" in chosen
        else []
    )
    in_teams = teams_channels(event for tool, event in chat() if tool == "teams") if "teams" in chosen else []
    ports = Ports(wiki_port, mattermost_port, confluence_port, graph_port)
    backfill_days = (datetime.now(UTC).date() - first).days + 1
    with_export = export if export.exists() else None
    (out / "connectors.toml").write_text(
        connector_file(
            chosen,
            org.slack_team_id,
            ports,
            backfill_days,
            with_export,
            mattermost_channels,
            in_teams,
            serve_url,
            mattermost_via,
            confluence_via,
        ),
        encoding="utf-8",
    )
    click.echo(
        f"organisation {org.company}: {len(org.employees)} employees and {len(org.contractors)} contractors in "
        f"{len(org.teams)} teams, {first} + {days} days, seed {seed}, tools {', '.join(chosen)}; directory and "
        f"connectors.toml in {out}"
    )
    # progress on stderr while posting; the settings are read only then, the rest of simulate needs none
    enabled = progress_enabled(settings().progress) if post_to is not None else False
    period = (datetime(first.year, first.month, first.day, tzinfo=UTC), timedelta(days=days))
    with ExitStack() as running:
        if serve_apis:
            pushed = {"mattermost": mattermost_via == "webhook", "confluence": confluence_via == "webhook"}
            polled = tuple(tool for tool in chosen if not pushed.get(tool))
            serve_pull_sources(running, polled, chosen, org, days, seed, first, ports, chat)
        if post_to is not None and "slack" in chosen:
            slack = (event for tool, event in chat() if tool == "slack")
            with simulated_time("slack", period, "events", enabled) as timeline:
                post_slack(post_to.rstrip("/"), slack, concurrency, timeline)
        if post_to is not None and "mattermost" in chosen and mattermost_via == "webhook":
            mattermost = (event for tool, event in chat() if tool == "mattermost")
            with simulated_time("mattermost", period, "posts", enabled) as timeline:
                post_mattermost_webhooks(post_to.rstrip("/"), org, mattermost, timeline)
        if post_to is not None and "confluence" in chosen and confluence_via == "webhook":
            changes = confluence_changes(chosen, org, days, seed, first)
            with Progress("confluence", unit="deliveries", enabled=enabled) as progress:
                post_confluence_webhooks(post_to.rstrip("/"), changes, progress)
        if post_to is not None and "lms" in chosen:
            from simulator.courses import course_statements

            statements = course_statements(org, days, seed, first)
            with Progress("lms", total=len(statements), unit="statements", enabled=enabled) as progress:
                post_statements(post_to.rstrip("/"), statements, progress)
        if serve_apis:
            click.echo("serving the simulated APIs until SIGTERM or Ctrl-C")
            wait_for_stop()


def confluence_changes(
    chosen: tuple[str, ...], org: Organisation, days: int, seed: int, first: date
) -> list[WikiChange]:
    """The wiki changes of the pages that live in Confluence (all of them unless the wiki is chosen too)."""
    from simulator.other_tools import WIKI_TOOLS, split_wiki
    from simulator.wiki import wiki_changes

    page_tools = tuple(tool for tool in chosen if tool in WIKI_TOOLS)
    return [
        change for tool, change in split_wiki(wiki_changes(org, days, seed, first), page_tools) if tool == "confluence"
    ]


def serve_pull_sources(
    running: ExitStack,
    chosen: tuple[str, ...],
    all_tools: tuple[str, ...],
    org: Organisation,
    days: int,
    seed: int,
    first: date,
    ports: Ports,
    chat: Callable[[], Iterator[tuple[str, dict[str, Any]]]],
) -> None:
    """Start the local APIs of the chosen pull sources, filled with the organisation's pages and posts (pages are
    split among all the page tools in use, `all_tools`, whether polled or not)."""
    from simulator.confluence_api import ConfluenceApi
    from simulator.graph_api import GraphServer
    from simulator.mattermost_api import MattermostServer
    from simulator.mediawiki_api import MediaWikiApi
    from simulator.other_tools import (
        SPACES,
        WIKI_TOOLS,
        confluence_users,
        mattermost_id,
        populate_confluence,
        populate_mattermost,
        register_teams_people,
        replay_teams_on_subscription,
        split_wiki,
        teams_changes,
    )
    from simulator.wiki import WIKI_BOTS, wiki_changes

    page_tools = tuple(tool for tool in all_tools if tool in WIKI_TOOLS)
    changes = list(split_wiki(wiki_changes(org, days, seed, first), page_tools or ("wiki",)))
    if "wiki" in chosen:
        wiki_changes_here = [change for tool, change in changes if tool == "wiki"]
        wiki = running.enter_context(MediaWikiApi(WIKI_SERVER, wiki_changes_here, port=ports.wiki, bots=WIKI_BOTS))
        click.echo(f"wiki: {len(wiki_changes_here):,} changes at {wiki.api_url}")
    if "mattermost" in chosen:
        token = os.environ.get(MATTERMOST_TOKEN_VARIABLE, DEFAULT_TOOL_TOKEN)
        server = MattermostServer(token, mattermost_id("user", "learnstream-bot"), port=ports.mattermost)
        posts = populate_mattermost(
            server, org, (event for tool, event in chat() if tool == "mattermost"), MATTERMOST_TEAM
        )
        running.enter_context(server)
        click.echo(f"mattermost: {posts:,} posts at {server.api_url}")
    if "confluence" in chosen:
        token = os.environ.get(CONFLUENCE_TOKEN_VARIABLE, DEFAULT_TOOL_TOKEN)
        confluence = ConfluenceApi(
            CONFLUENCE_SITE,
            email=CONFLUENCE_EMAIL,
            api_token=token,
            spaces=sorted(set(SPACES.values())),
            users=confluence_users(org),
            port=ports.confluence,
        )
        written = populate_confluence(confluence, (change for tool, change in changes if tool == "confluence"))
        running.enter_context(confluence)
        click.echo(f"confluence: {written:,} page versions and comments at {confluence.base_url}")
    if "teams" in chosen:
        secret = os.environ.get(TEAMS_SECRET_VARIABLE, DEFAULT_TOOL_TOKEN)
        graph = running.enter_context(GraphServer(TEAMS_TENANT, TEAMS_CLIENT, secret, port=ports.graph))
        register_teams_people(graph, org)
        teams = teams_changes(org, (event for tool, event in chat() if tool == "teams"))
        stop = threading.Event()
        player = threading.Thread(
            target=replay_teams_on_subscription, args=(graph, teams, stop), name="teams-replay", daemon=True
        )
        player.start()
        running.callback(player.join)
        running.callback(stop.set)
        click.echo(f"teams: {len(teams):,} changes at {graph.graph_url}, played once their channel is subscribed")


def post_slack(base_url: str, events: Iterator[dict[str, Any]], concurrency: int, progress: TimeProgress) -> None:
    """Post the events to the simulated Slack app's receiver, slice by slice; report what was acknowledged."""
    from simulator.slack_sender import post_bodies, serialize_events

    secret = os.environ.get(SECRET_VARIABLE, DEFAULT_SECRET).encode("utf-8")
    url = f"{base_url}/hooks/slack/sim-slack"
    totals: dict[str, float] = {"sent": 0, "acknowledged": 0, "retried": 0, "failed": 0, "seconds": 0.0}
    moments: list[datetime] = []  # of the slice being posted

    def delivered(index: int) -> None:
        progress.advance(reached=moments[index])

    while chunk := list(itertools.islice(events, SLICE)):
        moments = [envelope_moment(event) for event in chunk]
        stats = asyncio.run(post_bodies(url, serialize_events(chunk), secret, concurrency, on_done=delivered))
        for name in ("sent", "acknowledged", "retried", "failed"):
            totals[name] += getattr(stats, name)
        totals["seconds"] += stats.elapsed_s
    progress.finish()  # before the summary: on a terminal the progress line shares the screen with stdout
    rate = totals["acknowledged"] / totals["seconds"] if totals["seconds"] else 0.0
    click.echo(
        f"slack: {totals['sent']:,} events posted to {url}, {totals['acknowledged']:,} acknowledged "
        f"({rate:,.0f}/s), {totals['retried']:,} retries, {totals['failed']:,} given up"
    )
    if totals["failed"]:
        raise click.ClickException(f"{totals['failed']} events were never acknowledged by {url}")


def post_mattermost_webhooks(
    base_url: str, org: Organisation, events: Iterator[dict[str, Any]], progress: TimeProgress
) -> None:
    """Post Mattermost's outgoing-webhook deliveries to serve, one at a time (Mattermost does not retry them, so
    a refused one is counted as lost)."""
    import httpx

    from simulator.other_tools import mattermost_webhook_bodies

    token = os.environ.get(MATTERMOST_WEBHOOK_TOKEN_VARIABLE, DEFAULT_TOOL_TOKEN)
    url = f"{base_url}/hooks/mattermost/sim-mattermost-hook"
    sent = acknowledged = 0
    with httpx.Client(timeout=10) as client:
        for body, content_type in mattermost_webhook_bodies(org, passing(events, progress), token, MATTERMOST_TEAM):
            sent += 1
            answer = client.post(url, content=body, headers={"Content-Type": content_type})
            acknowledged += answer.status_code == 200
            progress.advance()
    progress.finish()
    click.echo(f"mattermost: {sent:,} outgoing-webhook posts to {url}, {acknowledged:,} acknowledged")
    if acknowledged < sent:
        raise click.ClickException(f"{sent - acknowledged} webhook posts were refused by {url}")


def post_confluence_webhooks(base_url: str, changes: list[WikiChange], progress: Progress) -> None:
    """Post Confluence Data Center's signed webhook deliveries for the changes to serve, one at a time; a `5xx`
    (serve cannot publish) is retried after a pause, five times at most, then counted as lost."""
    import httpx

    from simulator.other_tools import confluence_webhook_deliveries

    secret = os.environ.get(CONFLUENCE_WEBHOOK_SECRET_VARIABLE, DEFAULT_TOOL_TOKEN).encode("utf-8")
    url = f"{base_url}/hooks/confluence/sim-confluence-hook"
    sent = acknowledged = retried = 0
    # built first, so the progress knows how many there are (a delivery per change, less the ones left out)
    deliveries = list(confluence_webhook_deliveries(changes, secret, f"https://{CONFLUENCE_DC_SITE}"))
    progress.set_total(len(deliveries))
    with httpx.Client(timeout=10) as client:
        for body, headers in deliveries:
            sent += 1
            for attempt in range(6):
                answer = client.post(url, content=body, headers=headers)
                if answer.status_code < 500 or attempt == 5:
                    break
                retried += 1
                time.sleep(1.0)
            acknowledged += answer.status_code == 200
            progress.advance()
    progress.finish()
    click.echo(f"confluence: {sent:,} webhook deliveries to {url}, {acknowledged:,} acknowledged, {retried:,} retries")
    if acknowledged < sent:
        raise click.ClickException(f"{sent - acknowledged} webhook deliveries were refused by {url}")


def post_statements(base_url: str, statements: list[dict[str, Any]], progress: Progress) -> None:
    """Post the LMS's Statements to serve's xAPI endpoint in batches, as an LMS does; a `5xx` is retried after a
    pause, five times at most (the Statements carry ids, so a batch stored before a lost answer is not stored
    twice)."""
    import httpx

    secret = os.environ.get(LMS_SECRET_VARIABLE, "")
    if len(secret) < 24:
        raise click.ClickException(
            f"--sources lms posts to serve's /xapi/ as {LMS_CREDENTIAL!r}: set {LMS_SECRET_VARIABLE} (24+ characters) "
            f"and give serve the same in LEARNSTREAM_LRS__CREDENTIALS with the write scope"
        )
    url = f"{base_url}/xapi/statements"
    headers = {"X-Experience-API-Version": "1.0.3"}
    sent = stored = retried = 0
    with httpx.Client(timeout=60, auth=(LMS_CREDENTIAL, secret)) as client:
        for start in range(0, len(statements), LMS_BATCH):
            batch = statements[start : start + LMS_BATCH]
            sent += len(batch)
            for attempt in range(6):
                answer = client.post(url, json=batch, headers=headers)
                if answer.status_code < 500 or attempt == 5:
                    break
                retried += 1
                time.sleep(1.0)
            if answer.status_code != 200:
                raise click.ClickException(f"{url} refused a batch: {answer.status_code} {answer.text[:500]}")
            stored += len(batch)
            progress.advance(len(batch))
    progress.finish()
    click.echo(f"lms: {sent:,} xAPI Statements posted to {url}, {stored:,} stored, {retried:,} retries")


def simulated_time(label: str, period: tuple[datetime, timedelta], unit: str, enabled: bool | None) -> TimeProgress:
    """The progress of posting chat events, in time order: how far into the simulated days it has come."""
    from learnstream.progress import TimeProgress

    start, length = period
    return TimeProgress(label, start=start, end=start + length, unit=unit, reached_label="up to", enabled=enabled)


def envelope_moment(envelope: Mapping[str, Any]) -> datetime:
    """When a Slack envelope's event happened (its `event_time`, Unix seconds)."""
    return datetime.fromtimestamp(int(envelope["event_time"]), UTC)


def passing(envelopes: Iterable[dict[str, Any]], progress: TimeProgress) -> Iterator[dict[str, Any]]:
    """The envelopes, moving the progress's position to each one's time as it is taken."""
    for envelope in envelopes:
        progress.advance(0, reached=envelope_moment(envelope))
        yield envelope


def wait_for_stop() -> None:
    """Block until SIGTERM or SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _received, _frame: stop.set())
    while not stop.wait(1.0):
        pass
