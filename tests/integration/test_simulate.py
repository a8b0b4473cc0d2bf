"""`learnstream simulate` through the real connectors: every Slack activity the organisation made reaches the raw
topic through `serve`, every wiki change through `connect run`, and people resolve to the directory."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from learnstream.settings import Settings
from producers.chat.slack_events import ChannelFilter, SlackEventsReceiver, slack_signature
from producers.chat.slack_messages import SlackScope
from producers.contracts import ReceivedRequest
from producers.pseudonymise import account_ids, person_pseudonym, pseudonymiser
from schemas.activity import Activity, ActivityKind, SourceSystem
from simulator.chat import slack_events
from simulator.organisation import generate_organisation
from simulator.wiki import wiki_changes
from tests.integration.conftest import Serve
from tests.integration.support import (
    PROJECT_ROOT,
    TEST_KEYS,
    free_port,
    learnstream_command,
    read_records,
    run_cli,
    settings_env,
)

PEOPLE, DAYS, SEED = 30, 4, 11


def simulation_env(settings: Settings, out: Path, **secrets: str) -> dict[str, str]:
    """A child's environment: the test's settings, real-length keys, the simulation's connector file, secrets."""
    return {
        **settings_env(settings),
        **TEST_KEYS,
        "LEARNSTREAM_CONNECTORS_FILE": str(out / "connectors.toml"),
        **secrets,
    }


def simulation_args(out: Path, *options: str) -> list[str]:
    """`learnstream simulate` for the test's organisation, with more options."""
    return ["simulate", "--people", str(PEOPLE), "--days", str(DAYS), "--seed", str(SEED), "--out", str(out), *options]


@contextmanager
def serving_apis(env: dict[str, str], simulation: list[str], log_path: Path) -> Iterator[None]:
    """`simulate --serve-apis` running until the block ends: its APIs answer inside the block."""
    log = log_path.open("wb")
    apis = subprocess.Popen(
        learnstream_command(*simulation, "--serve-apis"), env=env, cwd=PROJECT_ROOT, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        while "serving the simulated APIs" not in log_path.read_text() and time.monotonic() < deadline:
            assert apis.poll() is None, log_path.read_text()
            time.sleep(0.2)
        yield
    finally:
        apis.terminate()
        apis.wait(timeout=30)


def expected_slack_ids(start: date) -> set[str]:
    """The activity ids the receiver makes of the simulated events (the pseudonym key plays no part in them; the
    id key names reacting accounts)."""
    org = generate_organisation(PEOPLE, SEED, start, days=DAYS)
    id_key = TEST_KEYS["LEARNSTREAM_ID_KEY"].encode()
    accounts = account_ids(id_key, "slack", org.slack_team_id)
    scope = SlackScope(org.slack_team_id, pseudonymiser(b"any pseudonym key", "slack", "x"), accounts)
    receiver = SlackEventsReceiver("sim-slack", org.slack_team_id, b"s", scope, ChannelFilter())
    ids = set()
    for envelope in slack_events(org, DAYS, SEED, org.slack_team_id, start):
        body, now = json.dumps(envelope).encode(), time.time()
        headers = {
            "x-slack-request-timestamp": str(int(now)),
            "x-slack-signature": slack_signature(b"s", str(int(now)), body),
        }
        ids |= {
            Activity.from_bytes(r.value).activity_id
            for r in receiver.receive(ReceivedRequest(headers, body, now)).records
        }
    return ids


def test_a_simulated_organisation_arrives_whole_through_serve_and_the_wiki_poller(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    start = datetime.now(UTC).date() - timedelta(days=DAYS)
    out = tmp_path / "simulation"
    env = simulation_env(settings, out, SIMULATED_SLACK_SIGNING_SECRET="integration-simulated-secret")
    simulation = simulation_args(out, "--start", start.isoformat(), "--wiki-port", str(free_port()))
    with serving_apis(env, simulation, tmp_path / "wiki.log"):
        _, base = start_serve(env)
        # one request at a time: a reaction then always follows the message that taught serve its channel's type
        posted = run_cli(env, *simulation, "--post-to", base, "--concurrency", "1")
        assert posted.returncode == 0, posted.stderr
        assert "0 given up" in posted.stdout
        polled = run_cli(env, "connect", "run", "sim-wiki", "--once")
        assert polled.returncode == 0, polled.stderr

    activities = [
        Activity.from_bytes(value)
        for _, _, _, value in read_records(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw)
    ]
    slack = {a.activity_id for a in activities if a.source is SourceSystem.SLACK}
    assert slack == expected_slack_ids(start)
    org = generate_organisation(PEOPLE, SEED, start, days=DAYS)
    changes = [c for c in wiki_changes(org, DAYS, SEED, start) if c.type in ("edit", "new")]
    wiki_ids = {a.native_id for a in activities if a.source is SourceSystem.MEDIAWIKI}
    assert wiki_ids == {f"rev/{c.revid}" for c in changes}

    key = TEST_KEYS["LEARNSTREAM_PSEUDONYM_KEY"].encode()
    people = {person_pseudonym(key, member.person_id) for member in org.employees}
    slack_actors = {a.actor for a in activities if a.source is SourceSystem.SLACK and not a.attributes.get("bot")}
    wiki_actors = {a.actor for a in activities if a.source is SourceSystem.MEDIAWIKI and not a.attributes.get("bot")}
    assert slack_actors & wiki_actors, "someone active in both sources has one pseudonym in both"
    resolved = sum(actor in people for actor in slack_actors) / len(slack_actors)
    assert resolved > 0.9  # employees resolve through the directory (by account or e-mail); contractors do not


def test_an_organisation_on_four_tools_arrives_through_their_connectors_with_one_pseudonym_per_person(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    start = datetime.now(UTC).date() - timedelta(days=DAYS + 3)
    out, ports = tmp_path / "simulation", [free_port() for _ in range(3)]
    env = simulation_env(
        settings,
        out,
        SIMULATED_SLACK_SIGNING_SECRET="integration-simulated-secret",
        SIMULATED_MATTERMOST_TOKEN="integration-mattermost-token",
        SIMULATED_CONFLUENCE_TOKEN="integration-confluence-token",
    )
    simulation = simulation_args(
        out,
        "--sources",
        "slack,wiki,mattermost,confluence",
        "--wiki-port",
        str(ports[0]),
        "--mattermost-port",
        str(ports[1]),
        "--confluence-port",
        str(ports[2]),
    )
    with serving_apis(env, simulation, tmp_path / "apis.log"):
        _, base = start_serve(env)
        posted = run_cli(env, *simulation, "--post-to", base, "--concurrency", "1")
        assert posted.returncode == 0 and "0 given up" in posted.stdout, posted.stderr
        for name in ("sim-wiki", "sim-mattermost", "sim-confluence"):
            polled = run_cli(env, "connect", "run", name, "--once")
            assert polled.returncode == 0, polled.stderr
            assert "published 0 records" not in polled.stdout, f"{name} read nothing"

    records = read_records(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw)
    activities = [Activity.from_bytes(value) for _, _, _, value in records]
    by_source: dict[SourceSystem, set[str]] = {}
    for activity in activities:
        if not activity.attributes.get("bot"):
            by_source.setdefault(activity.source, set()).add(activity.actor)
    assert set(by_source) == {
        SourceSystem.SLACK,
        SourceSystem.MEDIAWIKI,
        SourceSystem.MATTERMOST,
        SourceSystem.CONFLUENCE,
    }
    org = generate_organisation(PEOPLE, SEED, start, days=DAYS)
    people = {person_pseudonym(TEST_KEYS["LEARNSTREAM_PSEUDONYM_KEY"].encode(), m.person_id) for m in org.employees}
    # chat split between Slack and Mattermost, pages between the wiki and Confluence: the same people in all four
    assert by_source[SourceSystem.SLACK] & by_source[SourceSystem.MATTERMOST] & people
    assert by_source[SourceSystem.MEDIAWIKI] & by_source[SourceSystem.CONFLUENCE] & people
    # only contractors (not in HR) stay unresolved, and in Slack also the people whose account HR does not list
    # (the simulated Slack app has no bot token to look their e-mail up)
    unlisted = sum(not member.slack_listed for member in org.employees)
    for source, actors in by_source.items():
        allowed = len(org.contractors) + (unlisted if source is SourceSystem.SLACK else 0)
        assert len(actors - people) <= allowed, f"{source}: people do not resolve through the directory"


def test_teams_in_the_simulator_flows_through_subscriptions_notifications_and_graph_fetches(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    from simulator.other_tools import split_chat, teams_changes

    start = datetime.now(UTC).date() - timedelta(days=DAYS + 3)
    out, graph_port, serve_port = tmp_path / "simulation", free_port(), free_port()
    env = simulation_env(
        settings,
        out,
        SIMULATED_SLACK_SIGNING_SECRET="integration-simulated-secret",
        SIMULATED_TEAMS_CLIENT_SECRET="integration-teams-client-secret",
        SIMULATED_TEAMS_CLIENT_STATE="integration-teams-client-state",
    )
    simulation = simulation_args(
        out,
        "--sources",
        "slack,teams",
        "--graph-port",
        str(graph_port),
        "--serve-url",
        f"http://127.0.0.1:{serve_port}",
    )
    org = generate_organisation(PEOPLE, SEED, start, days=DAYS)
    events = split_chat(slack_events(org, DAYS, SEED, org.slack_team_id, start), ("slack", "teams"))
    created = sum(
        change.change_type == "created" for change in teams_changes(org, (e for t, e in events if t == "teams"))
    )
    raw = settings.topics.names.activity_raw
    with serving_apis(env, simulation, tmp_path / "apis.log"):
        start_serve(env, port=serve_port)
        subscribed = run_cli(env, "connect", "run", "sim-teams-subscriptions", "--once")
        assert subscribed.returncode == 0, subscribed.stderr
        deadline, teams = time.monotonic() + 180, 0
        while time.monotonic() < deadline:  # the simulator plays each channel once it is subscribed; serve queues
            fetched = run_cli(env, "connect", "run", "sim-teams", "--once")  # the fetch half catches up
            assert fetched.returncode == 0, fetched.stderr
            found = [
                Activity.from_bytes(value) for _, _, _, value in read_records(settings.kafka.bootstrap_servers, raw)
            ]
            # each post arrives as itself, or only as its deletion when it was deleted before it was fetched
            posts = {
                activity.native_id if activity.kind is not ActivityKind.ITEM_DELETED else activity.in_reply_to
                for activity in found
                if activity.source is SourceSystem.TEAMS
                and activity.kind in (ActivityKind.MESSAGE, ActivityKind.REPLY, ActivityKind.ITEM_DELETED)
            }
            teams = len(posts)  # an edit or a reaction fetches its message again: the same activity, once more
            if teams >= created:
                break
            time.sleep(1)
    assert teams == created, f"{teams} of {created} Teams posts arrived"
    people = {person_pseudonym(TEST_KEYS["LEARNSTREAM_PSEUDONYM_KEY"].encode(), m.person_id) for m in org.employees}
    actors = {a.actor for a in found if a.source is SourceSystem.TEAMS}
    assert len(actors - people) <= len(org.contractors)  # resolved by the e-mail Graph gives


def test_mattermost_outgoing_webhooks_from_the_simulator_reach_serve_with_the_api_pollers_ids(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    from simulator.other_tools import mattermost_id, split_chat

    start = datetime.now(UTC).date() - timedelta(days=DAYS + 3)
    out = tmp_path / "simulation"
    env = simulation_env(settings, out, SIMULATED_MATTERMOST_WEBHOOK_TOKEN="integration-webhook-token")
    simulation = simulation_args(out, "--sources", "mattermost", "--mattermost-via", "webhook")
    written = run_cli(env, *simulation)  # the connector file first: serve reads it when it starts
    assert written.returncode == 0, written.stderr
    _, base = start_serve(env)
    posted = run_cli(env, *simulation, "--post-to", base)
    assert posted.returncode == 0, posted.stderr
    org = generate_organisation(PEOPLE, SEED, start, days=DAYS)
    expected = {
        mattermost_id("post", str(event["event"]["channel"]), str(event["event"]["ts"]))
        for _, event in split_chat(slack_events(org, DAYS, SEED, org.slack_team_id, start), ("mattermost",))
        if event["event"].get("type") == "message"
        and not event["event"].get("subtype")
        and event["event"].get("channel_type") == "channel"
        and any(m.slack_id == event["event"].get("user") for m in org.members)
    }
    assert f"{len(expected):,} outgoing-webhook posts" in posted.stdout
    records = read_records(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw)
    native_ids = {Activity.from_bytes(value).native_id for _, _, _, value in records}
    assert native_ids == expected  # a webhook post's native id is the post id the REST API gives it


def test_confluence_data_center_webhooks_from_the_simulator_reach_serve_signed_and_resolve_by_user_key(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    from cli.simulate import confluence_changes
    from simulator.other_tools import confluence_webhook_deliveries

    start = datetime.now(UTC).date() - timedelta(days=DAYS + 3)
    out = tmp_path / "simulation"
    env = simulation_env(settings, out, SIMULATED_CONFLUENCE_WEBHOOK_SECRET="integration-confluence-secret")
    simulation = simulation_args(out, "--sources", "confluence", "--confluence-via", "webhook")
    written = run_cli(env, *simulation)  # the connector file first: serve reads it when it starts
    assert written.returncode == 0, written.stderr
    _, base = start_serve(env)
    org = generate_organisation(PEOPLE, SEED, start, days=DAYS)
    expected = set()
    for body, _ in confluence_webhook_deliveries(confluence_changes(("confluence",), org, DAYS, SEED, start), b"s", ""):
        event = json.loads(body)
        content = event.get("page") or event["comment"]
        version = content["version"] if "page" in event else 1
        expected.add(f"{content['contentType']}/{content['id']}/v/{version}")
    assert any(native.startswith("comment/") for native in expected) and len(expected) > 20

    for _delivery in range(2):  # Data Center delivers an event again: the same activities, stored once
        posted = run_cli(env, *simulation, "--post-to", base)
        assert posted.returncode == 0, posted.stderr
        assert f"{len(expected):,} webhook deliveries" in posted.stdout
        assert f"{len(expected):,} acknowledged" in posted.stdout

    records = read_records(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw)
    activities = [Activity.from_bytes(value) for _, _, _, value in records]
    assert len(activities) == 2 * len(expected)
    assert {activity.native_id for activity in activities} == expected
    assert len({activity.activity_id for activity in activities}) == len(expected)
    people = {person_pseudonym(TEST_KEYS["LEARNSTREAM_PSEUDONYM_KEY"].encode(), m.person_id) for m in org.employees}
    actors = {activity.actor for activity in activities}
    assert actors & people
    assert len(actors - people) <= len(org.contractors)  # user keys resolve through the directory's accounts
