"""Microsoft Teams through the real processes and broker, against a local Graph: `connect run` creates the
subscription (Graph validates serve's URL), Graph's change notifications reach `serve`, which fetches each
changed message and publishes it once the broker acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from learnstream.settings import Settings
from producers.pseudonymise import person_pseudonym
from schemas.activity import Activity, ActivityKind, SourceSystem
from simulator.graph_api import GraphServer
from tests.integration.conftest import Serve
from tests.integration.support import TEST_KEYS, free_port, read_topic, run_cli, settings_env, topic_size

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-000000000000"
SECRET = "graph-client-secret"
STATE = "client-state-shared-with-graph"
TEAM, CHANNEL, OTHER_CHANNEL = "team-1", "19:channel-1@thread.tacv2", "19:channel-2@thread.tacv2"
ADA, GRACE = "aaaaaaaa-0000-0000-0000-000000000001", "aaaaaaaa-0000-0000-0000-000000000002"


def setup_files(tmp_path: Path, graph: GraphServer, serve_port: int, channel: str = CHANNEL) -> Path:
    (tmp_path / "people.csv").write_text(
        f"person_id,email,team,valid_from,teams\ne1,ada@example.org,platform,2024-01-01,{ADA}\n"
        "e2,grace@example.org,support,2024-01-01,\n",
        encoding="utf-8",
    )
    path = tmp_path / "connectors.toml"
    common = (
        f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT}"\nclient_secret_env = "TEAMS_SECRET"\n'
        f'client_state_env = "TEAMS_STATE"\ntoken_endpoint = "{graph.token_endpoint}"\n'
        f'graph_url = "{graph.graph_url}"\n'
    )
    path.write_text(
        f"""directory = "people.csv"

[[connectors]]
name = "teams"
type = "teams-notifications"
{common}
[[connectors]]
name = "teams-subs"
type = "teams-subscriptions"
{common}notification_url = "http://127.0.0.1:{serve_port}/hooks/teams/teams"
receiver = "teams"
resources = ["/teams/{TEAM}/channels/{channel}/messages"]
""",
        encoding="utf-8",
    )
    return path


def test_a_teams_message_arrives_through_a_subscription_a_notification_and_a_graph_fetch(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    port = free_port()
    with GraphServer(TENANT, CLIENT, SECRET) as graph:
        graph.users[ADA] = {"id": ADA, "mail": "ada@example.org", "userPrincipalName": "ada@example.org"}
        graph.users[GRACE] = {"id": GRACE, "mail": "grace@example.org", "userPrincipalName": "grace@example.org"}
        env = {
            **settings_env(settings),
            **TEST_KEYS,
            "LEARNSTREAM_CONNECTORS_FILE": str(setup_files(tmp_path, graph, port)),
            "LEARNSTREAM_SERVE__PORT": str(port),
            "TEAMS_SECRET": SECRET,
            "TEAMS_STATE": STATE,
        }
        start_serve(env, port=port)
        subscribed = run_cli(env, "connect", "run", "teams-subs", "--once")
        assert subscribed.returncode == 0, subscribed.stderr
        ((subscription_id, subscription),) = graph.subscriptions.items()
        assert subscription["notificationUrl"].endswith("/hooks/teams/teams")

        now = datetime.now(UTC).replace(microsecond=0)
        question = graph.post(TEAM, CHANNEL, "m1", ADA, now - timedelta(minutes=5), "<p>how do I get a VPN token?</p>")
        answer = graph.post(TEAM, CHANNEL, "m2", GRACE, now, "<p>ask the service desk</p>", replyToId="m1")
        for message in (question, answer):
            resource = f"teams('{TEAM}')/channels('{CHANNEL}')/messages('{message['id']}')"
            notification = graph.notification(subscription_id, "created", resource)
            assert graph.notify([notification]).status_code == 202
        forged = graph.notification(subscription_id, "created", "teams('x')/channels('y')/messages('m1')")
        forged["clientState"] = "not-the-client-state"
        assert graph.notify([forged]).status_code == 403

        setup_files(tmp_path, graph, port, channel=OTHER_CHANNEL)  # the first channel is no longer followed
        moved = run_cli(env, "connect", "run", "teams-subs", "--once")
        assert moved.returncode == 0, moved.stderr
        assert graph.graph_requests("DELETE", f"/subscriptions/{subscription_id}")
        ((_, remaining),) = graph.subscriptions.items()
        assert remaining["resource"] == f"/teams/{TEAM}/channels/{OTHER_CHANNEL}/messages"

    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, expected=2)
    activities = {Activity.from_bytes(value).kind: Activity.from_bytes(value) for _, value in records}
    assert set(activities) == {ActivityKind.MESSAGE, ActivityKind.REPLY}
    assert activities[ActivityKind.MESSAGE].source is SourceSystem.TEAMS
    key = TEST_KEYS["LEARNSTREAM_PSEUDONYM_KEY"].encode()
    assert activities[ActivityKind.MESSAGE].actor == person_pseudonym(key, "e1")  # by the listed object id
    assert activities[ActivityKind.REPLY].actor == person_pseudonym(key, "e2")  # by the mail Graph gave
    assert activities[ActivityKind.REPLY].conversation == activities[ActivityKind.MESSAGE].conversation
    assert topic_size(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw) == 2
