"""Microsoft Teams through the real processes and broker, against a local Graph: `connect run` creates the
subscription (Graph validates serve's URL), Graph's change notifications reach `serve`, which queues them on the
pending topic and answers once the broker acknowledged; `connect run <receiver>` then fetches each changed message
and publishes its activities, saving its cursor only after they were confirmed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from learnstream.errors import BrokerUnavailable
from learnstream.kafka import make_producer
from learnstream.settings import Settings
from producers.connector_config import load_connector_file
from producers.cursors import FileCursorStore
from producers.directory import load_directory
from producers.pending import PendingCursor
from producers.pseudonymise import person_pseudonym
from producers.registry import ConnectorContext, build_pull
from producers.runtime import run_connector
from schemas.activity import Activity, ActivityKind, SourceSystem
from schemas.pending import PendingNotification
from simulator.graph_api import GraphServer
from tests.integration.conftest import Serve
from tests.integration.support import TEST_KEYS, free_port, read_records, read_topic, run_cli, settings_env, topic_size

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


def resource_of(message_id: str) -> str:
    return f"teams('{TEAM}')/channels('{CHANNEL}')/messages('{message_id}')"


@contextmanager
def subscribed(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> Iterator[tuple[GraphServer, dict[str, str], Path, str]]:
    """A local Graph with Ada and Grace, `serve` receiving, and a subscription made by `connect run teams-subs`."""
    port = free_port()
    with GraphServer(TENANT, CLIENT, SECRET) as graph:
        graph.users[ADA] = {"id": ADA, "mail": "ada@example.org", "userPrincipalName": "ada@example.org"}
        graph.users[GRACE] = {"id": GRACE, "mail": "grace@example.org", "userPrincipalName": "grace@example.org"}
        connectors = setup_files(tmp_path, graph, port)
        env = {
            **settings_env(settings),
            **TEST_KEYS,
            "LEARNSTREAM_CONNECTORS_FILE": str(connectors),
            "LEARNSTREAM_SERVE__PORT": str(port),
            "TEAMS_SECRET": SECRET,
            "TEAMS_STATE": STATE,
        }
        start_serve(env, port=port)
        made = run_cli(env, "connect", "run", "teams-subs", "--once")
        assert made.returncode == 0, made.stderr
        ((subscription_id, subscription),) = graph.subscriptions.items()
        assert subscription["notificationUrl"].endswith("/hooks/teams/teams")
        yield graph, env, connectors, subscription_id


def test_serve_queues_notifications_at_once_and_connect_run_fetches_their_messages(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    names = settings.topics.names
    with subscribed(settings, tmp_path, start_serve) as (graph, env, _, subscription_id):
        now = datetime.now(UTC).replace(microsecond=0)
        graph.post(TEAM, CHANNEL, "m1", ADA, now - timedelta(minutes=5), "<p>how do I get a VPN token?</p>")
        graph.post(TEAM, CHANNEL, "m2", GRACE, now, "<p>ask the service desk</p>", replyToId="m1")
        for message_id in ("m1", "m2"):
            assert (
                graph.notify([graph.notification(subscription_id, "created", resource_of(message_id))]).status_code
                == 202
            )
        assert graph.graph_requests("GET", "/messages") == []  # serve answered without fetching anything
        forged = graph.notification(subscription_id, "created", resource_of("m1"))
        forged["clientState"] = "not-the-client-state"
        assert graph.notify([forged]).status_code == 403

        queued = read_records(settings.kafka.bootstrap_servers, names.connector_pending)
        assert len(queued) == 2 and topic_size(settings.kafka.bootstrap_servers, names.activity_raw) == 0
        assert {key for _, _, key, _ in queued} == {f"teams/teams('{TEAM}')/channels('{CHANNEL}')".encode()}
        assert all(STATE.encode() not in value for _, _, _, value in queued)
        assert {PendingNotification.from_bytes(v).notification["resource"] for *_, v in queued} == {
            resource_of("m1"),
            resource_of("m2"),
        }

        checked = run_cli(env, "connect", "check", "teams")
        assert checked.returncode == 0 and "connector.pending (3 partitions)" in checked.stdout, checked.stderr
        fetched = run_cli(env, "connect", "run", "teams", "--once")
        assert fetched.returncode == 0, fetched.stderr
        assert "published 2 records and 0 dead letters" in fetched.stdout
        again = run_cli(env, "connect", "run", "teams", "--once")
        assert again.returncode == 0 and "published 0 records" in again.stdout, again.stdout + again.stderr

        setup_files(tmp_path, graph, int(env["LEARNSTREAM_SERVE__PORT"]), channel=OTHER_CHANNEL)  # no longer followed
        moved = run_cli(env, "connect", "run", "teams-subs", "--once")
        assert moved.returncode == 0, moved.stderr
        assert graph.graph_requests("DELETE", f"/subscriptions/{subscription_id}")
        ((_, remaining),) = graph.subscriptions.items()
        assert remaining["resource"] == f"/teams/{TEAM}/channels/{OTHER_CHANNEL}/messages"

    records = read_topic(settings.kafka.bootstrap_servers, names.activity_raw, expected=2)
    activities = {Activity.from_bytes(value).kind: Activity.from_bytes(value) for _, value in records}
    assert set(activities) == {ActivityKind.MESSAGE, ActivityKind.REPLY}
    assert activities[ActivityKind.MESSAGE].source is SourceSystem.TEAMS
    key = TEST_KEYS["LEARNSTREAM_PSEUDONYM_KEY"].encode()
    assert activities[ActivityKind.MESSAGE].actor == person_pseudonym(key, "e1")  # by the listed object id
    assert activities[ActivityKind.REPLY].actor == person_pseudonym(key, "e2")  # by the mail Graph gave
    assert activities[ActivityKind.REPLY].conversation == activities[ActivityKind.MESSAGE].conversation
    assert topic_size(settings.kafka.bootstrap_servers, names.activity_raw) == 2


class KilledBeforeSaving(FileCursorStore):
    """A cursor store whose process dies (an exception) after the first batch was confirmed, before its save."""

    def save(self, name: str, cursor: str) -> None:
        raise RuntimeError("killed between confirming a batch and saving its cursor")


class AcknowledgedOneByOne:
    """The real producer, waiting for each send's acknowledgement, that fails (as a broker outage) at send `fail_at`."""

    def __init__(self, producer: Any, fail_at: int) -> None:
        self.producer = producer
        self.fail_at = fail_at
        self.sent = 0

    def send(self, topic: str, **kwargs: Any) -> Any:
        self.sent += 1
        if self.sent == self.fail_at:
            from kafka.errors import KafkaTimeoutError

            raise KafkaTimeoutError("the broker went away")
        future = self.producer.send(topic, **kwargs)
        future.get(timeout=30)
        return future

    def flush(self, timeout: float | None = None) -> None:
        self.producer.flush(timeout=timeout)


def fetch_half(settings: Settings, connectors: Path, env: dict[str, str]) -> Any:
    """The fetch half as `connect run teams` builds it, one notification per batch."""
    file = load_connector_file(connectors)
    config = file.instance("teams").model_copy(update={"batch_size": 1})
    assert file.directory is not None
    return build_pull(config, ConnectorContext(settings, load_directory(file.directory), file.directory, env))


def queue_three(graph: GraphServer, subscription_id: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    for n, message_id in enumerate(("k1", "k2", "k3")):
        graph.post(TEAM, CHANNEL, message_id, ADA, now - timedelta(minutes=3 - n), f"<p>note {n}</p>")
        assert (
            graph.notify([graph.notification(subscription_id, "created", resource_of(message_id))]).status_code == 202
        )


def raw_ids(settings: Settings) -> list[str]:
    found = read_records(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw)
    return [Activity.from_bytes(value).activity_id for *_, value in found]


def test_a_fetcher_killed_before_saving_its_cursor_fetches_again_and_publishes_the_same_ids(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    names = settings.topics.names
    with subscribed(settings, tmp_path, start_serve) as (graph, env, connectors, subscription_id):
        queue_three(graph, subscription_id)
        producer = make_producer(settings.kafka, "test-fetcher", settings.producer)
        cursors = tmp_path / "cursors"
        try:
            with pytest.raises(RuntimeError, match="killed"):
                run_connector(
                    fetch_half(settings, connectors, env), producer, names.activity_raw, KilledBeforeSaving(cursors),
                    dead_letter_topic=names.activity_dlq,
                )  # fmt: skip
            assert FileCursorStore(cursors).load("teams") is None and len(raw_ids(settings)) >= 1
            stats = run_connector(
                fetch_half(settings, connectors, env), producer, names.activity_raw, FileCursorStore(cursors),
                dead_letter_topic=names.activity_dlq,
            )  # fmt: skip
        finally:
            producer.close()
    ids = raw_ids(settings)
    assert stats.records == 3 and len(set(ids)) == 3 and len(ids) > 3  # the first fetch again: the same ids
    saved = PendingCursor.model_validate_json(FileCursorStore(cursors).load("teams") or "")
    assert sum(saved.offsets.values()) == 3


def test_the_cursor_never_passes_notifications_whose_activities_were_not_confirmed(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    names = settings.topics.names
    with subscribed(settings, tmp_path, start_serve) as (graph, env, connectors, subscription_id):
        queue_three(graph, subscription_id)
        producer = make_producer(settings.kafka, "test-fetcher", settings.producer)
        cursors = FileCursorStore(tmp_path / "cursors")
        try:
            with pytest.raises(BrokerUnavailable):  # the third activity's send fails
                run_connector(
                    fetch_half(settings, connectors, env), AcknowledgedOneByOne(producer, fail_at=3),
                    names.activity_raw, cursors, dead_letter_topic=names.activity_dlq,
                )  # fmt: skip
            saved = PendingCursor.model_validate_json(cursors.load("teams") or "")
            published = raw_ids(settings)
            # k1's and k2's batches were confirmed, k3's send failed: the cursor covers k1 and k2, not k3
            assert len(published) == 2 and sum(saved.offsets.values()) == 2
            stats = run_connector(
                fetch_half(settings, connectors, env), producer, names.activity_raw, cursors,
                dead_letter_topic=names.activity_dlq,
            )  # fmt: skip
        finally:
            producer.close()
    ids = raw_ids(settings)
    assert stats.records == 1 and len(ids) == 3 and len(set(ids)) == 3 and set(published) < set(ids)  # only k3, once
