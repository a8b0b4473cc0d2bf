"""The Teams connectors against a local Microsoft Graph (simulator/graph_api.py): the change-notification and
lifecycle receivers, the subscriptions keeper and the mapping, with payloads built field for field from Microsoft's
documentation."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from learnstream.errors import ConnectorError, RequestRejected, SourceUnavailable
from learnstream.settings import HttpSettings
from producers.chat.teams import TeamsScope, message_activities
from producers.chat.teams_config import TeamsNotificationsConfig, TeamsSubscriptionsConfig
from producers.chat.teams_fetcher import TeamsNotificationFetcher
from producers.chat.teams_graph import MAX_PAGES, MAX_SUBSCRIPTION, GraphClient, GraphCredentials
from producers.chat.teams_messages import TeamsMessages
from producers.chat.teams_notifications import TeamsLifecycleReceiver, TeamsNotificationReceiver
from producers.chat.teams_subscriptions import SubscriptionState, TeamsSubscriptions, TeamsSubscriptionsCursor
from producers.contracts import OutgoingRecord, PushReceiver, Receipt, ReceivedRequest, cursor_from_text
from producers.directory import AccountKind, directory_from_csv
from producers.http_client import SourceHttpClient
from producers.identity import IdentityResolver
from producers.pending import PendingCursor, PendingRead, PendingRecord
from producers.pseudonymise import account_ids, person_pseudonym, pseudonymiser
from producers.rate_limit import RateLimit
from schemas.activity import Activity, ActivityKind
from schemas.dead_letter import DeadLetter
from schemas.pending import PendingNotification, is_for
from simulator.graph_api import GraphServer

TENANT, CLIENT = "72f988bf-86f1-41af-91ab-2d7cd011db47", "11111111-2222-3333-4444-555555555555"
SECRET, STATE = "client-secret", "secret-client-state"
KEY, ID_KEY = b"pseudonym-key", b"id-key"
TEAM = "fbe2bf47-16c8-47cf-b4a5-4b9b187c508b"
CHANNEL = "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2"
ADA, GRACE, BOB = (
    "8ea0e38b-efb3-4757-924a-5f94061cf8c2",
    "0e7a1f86-7b4b-4bb1-a3a2-f8fe0e4d3e7a",
    "5c4e7d2a-1b3f-4e6a-9c8d-7f6e5d4c3b2a",
)
NOW = datetime.now(UTC).replace(microsecond=0)
SETTINGS = HttpSettings(timeout_s=5, max_attempts=3, backoff_base_s=0.01)
DIRECTORY = (
    f"person_id,email,team,valid_from,teams\ne1,ada@example.org,platform,2024-01-01,\ne2,,support,2024-01-01,{GRACE}\n"
)
RESOURCE = f"/teams/{TEAM}/channels/{CHANNEL}/messages"
OTHER_CHANNEL = "19:7b1e2c3d4f5a6b7c8d9e0f1a2b3c4d5e@thread.tacv2"
OTHER_RESOURCE = f"/teams/{TEAM}/channels/{OTHER_CHANNEL}/messages"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def at(minutes: float) -> datetime:
    return NOW - timedelta(hours=1) + timedelta(minutes=minutes)


def activities_of(records: list[Any]) -> list[Activity]:
    return [Activity.from_bytes(record.value) for record in records]


# -- a local serve: each receiver at its path, answering as the receiver says ---------------------------------


class ReceiverServer:
    """The receivers on 127.0.0.1, as `serve` runs them, keeping each receipt (nothing is published)."""

    def __init__(self, *receivers: PushReceiver) -> None:
        self.receivers = {receiver.path: receiver for receiver in receivers}
        self.receipts: list[Any] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                target = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                query = {name: values[-1] for name, values in parse_qs(target.query).items()}
                request = ReceivedRequest({k.lower(): v for k, v in self.headers.items()}, body, 0.0, query)
                try:
                    receipt = outer.receivers[target.path].receive(request)
                except RequestRejected as exc:
                    status, data, kind = exc.status, str(exc).encode(), "text/plain"
                else:
                    outer.receipts.append(receipt)
                    status, data, kind = receipt.status, receipt.body, receipt.content_type
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server = self.server
        threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05), daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def graph() -> Iterator[GraphServer]:
    server = GraphServer(TENANT, CLIENT, SECRET)
    server.add_user(ADA, "Ada Lovelace", "ada@example.org")
    server.add_user(GRACE, "Grace Hopper", "grace@example.org")
    server.add_user(BOB, "Bob", "bob@example.org")
    server.add_channel(TEAM, CHANNEL, "General", (ADA, GRACE, BOB))
    with server:
        yield server


def graph_client(
    server: GraphServer, waits: list[float] | None = None, secret: str = SECRET, max_pages: int = MAX_PAGES
) -> GraphClient:
    sleep = (waits if waits is not None else []).append
    http = SourceHttpClient("graph", server.graph_url, SETTINGS, credentials_setting="TEAMS_SECRET", sleep=sleep)
    credentials = GraphCredentials(TENANT, CLIENT, secret, server.token_endpoint, "TEAMS_SECRET")
    return GraphClient(http, credentials, max_pages=max_pages)


def resolver() -> IdentityResolver:
    return IdentityResolver(directory_from_csv(DIRECTORY), KEY, "teams", TENANT, AccountKind.TEAMS)


def receivers(
    server: GraphServer, waits: list[float] | None = None, graph: GraphClient | None = None
) -> tuple[TeamsNotificationReceiver, TeamsLifecycleReceiver]:
    messages = TeamsMessages(
        "acme", TENANT, graph or graph_client(server, waits), resolver(), account_ids(ID_KEY, "teams", TENANT)
    )
    changes = TeamsNotificationReceiver(messages, STATE)
    return changes, TeamsLifecycleReceiver(changes)


class MemoryQueue:
    """The pending topic as one in-memory partition, fed with the pending records of receipts."""

    topic = "memory"

    def __init__(self, receiver: str) -> None:
        self.receiver = receiver
        self.records: list[OutgoingRecord] = []

    def read(self, offsets: Mapping[str, int], max_records: int) -> Iterator[PendingRead]:
        position = offsets.get("0", 0)
        while position < len(self.records):
            chunk = self.records[position : position + max_records]
            mine = [
                PendingRecord(0, position + n, r.value) for n, r in enumerate(chunk) if is_for(r.key, self.receiver)
            ]
            position += len(chunk)
            yield PendingRead(mine, {"0": position})

    def offsets_at(self, since: datetime) -> dict[str, int]:
        return {"0": 0}

    def check(self) -> str:
        return "an in-memory queue"


@dataclass
class Fetched:
    records: list[OutgoingRecord]
    dead_letters: list[OutgoingRecord]


class Halves:
    """Both halves of a teams-notifications instance, as `serve` and `connect run` run them (without Kafka)."""

    def __init__(self, server: GraphServer, rate: RateLimit | None = None) -> None:
        self.changes, self.lifecycle = receivers(server)
        self.queue = MemoryQueue("acme")
        fetch_side = TeamsMessages(
            "acme", TENANT, graph_client(server), resolver(), account_ids(ID_KEY, "teams", TENANT), rate=rate
        )
        self.fetcher = TeamsNotificationFetcher(fetch_side, self.queue)
        self.cursor = self.fetcher.start_cursor(None)

    def receive(self, notifications: list[dict[str, Any]]) -> Receipt:
        receipt = self.changes.receive(delivery(notifications))
        self.queue.records += receipt.pending  # what serve publishes before it answers
        self.changes.settle()  # its background lookups done, so Graph failures a test sets meet the fetch half
        return receipt

    def fetch(self) -> Fetched:
        """A `connect run --once`: every batch after the cursor, the cursor saved after each."""
        fetched = Fetched([], [])
        for batch in self.fetcher.read(self.cursor):
            fetched.records += batch.records
            fetched.dead_letters += batch.dead_letters
            self.cursor = cursor_from_text(PendingCursor, batch.cursor.to_text(), "acme")
        return fetched

    def deliver(self, notifications: list[dict[str, Any]]) -> Fetched:
        assert self.receive(notifications).status == 202
        return self.fetch()


@pytest.fixture
def live(graph: GraphServer) -> Iterator[tuple[GraphServer, Halves, ReceiverServer, str]]:
    """Graph, the receivers served locally (and the fetch half), and one subscription made by the keeper."""
    halves = Halves(graph)
    served = ReceiverServer(halves.changes, halves.lifecycle)
    keeper = TeamsSubscriptions(
        "acme-subs", graph_client(graph), [RESOURCE], served.url(halves.changes.path), STATE, resolver()
    )
    (batch,) = keeper.read(keeper.start_cursor(None))
    try:
        yield graph, halves, served, batch.cursor.subscriptions[RESOURCE].id
    finally:
        served.close()


def delivery(notifications: list[dict[str, Any]], **query: str) -> ReceivedRequest:
    body = json.dumps({"value": notifications}).encode()
    return ReceivedRequest({"content-type": "application/json"}, body, NOW.timestamp(), query)


def message_gets(graph: GraphServer) -> int:
    return len([r for r in graph.graph_requests("GET", "/messages") if "/members" not in r.target])


class TestReceiver:
    def test_the_validation_token_is_echoed_as_plain_text_at_once(self, graph):
        changes, lifecycle = receivers(graph)
        token = "Validation: Testing client application reachability for subscription Request-Id: 3b3f9821"
        for receiver in (changes, lifecycle):
            receipt = receiver.receive(ReceivedRequest({}, b"", 0.0, {"validationToken": token}))
            assert (receipt.status, receipt.body, receipt.content_type) == (200, token.encode(), "text/plain")
        assert graph.requests == []  # answered without a call to Graph

    def test_graph_validates_both_urls_before_it_creates_a_subscription(self, live):
        graph, _, served, subscription_id = live
        validations = [r for r in served.receipts if r.content_type == "text/plain"]
        assert len(validations) == 2 and graph.subscriptions[subscription_id]["lifecycleNotificationUrl"].endswith(
            "/hooks/teams/acme/lifecycle"
        )

    def test_a_wrong_client_state_is_a_403_and_nothing_is_queued(self, live):
        graph, halves, _, subscription_id = live
        graph.post(TEAM, CHANNEL, "1700000000001", ADA, at(1), "hello")
        good = graph.notification(subscription_id, "created", graph.resource_of(TEAM, CHANNEL, "1700000000001"))
        forged = {**good, "clientState": "guessed"}
        before = len(graph.requests)
        with pytest.raises(RequestRejected) as caught:
            halves.receive([good, forged])
        assert caught.value.status == 403 and len(graph.requests) == before and halves.queue.records == []
        response = graph.notify([forged])
        assert response.status_code == 403 and halves.queue.records == []
        assert halves.fetch() == Fetched([], [])

    def test_receiving_queues_each_notification_and_answers_at_once_with_graph_down(self, graph):
        nowhere = GraphClient(
            SourceHttpClient("graph", f"http://127.0.0.1:{free_port()}/v1.0/", SETTINGS, sleep=lambda _s: None),
            GraphCredentials(TENANT, CLIENT, SECRET, f"http://127.0.0.1:{free_port()}/token"),
        )
        changes, _ = receivers(graph, graph=nowhere)  # a Graph nothing answers at
        other = "19:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@thread.tacv2"
        notes = [
            {"subscriptionId": "s1", "clientState": STATE, "tenantId": TENANT, "changeType": "created",
             "resource": f"teams('{TEAM}')/channels('{channel}')/messages('{n}')"}
            for n, channel in enumerate((CHANNEL, CHANNEL, other))
        ]  # fmt: skip
        receipt = changes.receive(delivery(notes))
        assert receipt.status == 202  # with Graph unreachable: receiving never asks it
        assert (receipt.records, receipt.dead_letters, len(receipt.pending)) == ([], [], 3)
        queued = [PendingNotification.from_bytes(record.value) for record in receipt.pending]
        assert [q.notification for q in queued] == [{k: v for k, v in n.items() if k != "clientState"} for n in notes]
        assert all(q.receiver == "acme" and q.received_at == NOW for q in queued)
        assert all(STATE.encode() not in record.value for record in receipt.pending)
        keys = [record.key for record in receipt.pending]
        assert keys[0] == keys[1] == f"acme/teams('{TEAM}')/channels('{CHANNEL}')".encode() and keys[2] != keys[0]
        assert changes.blocking is False

    def test_created_updated_and_deleted_notifications_are_fetched_and_mapped(self, live):
        graph, halves, _, subscription_id = live
        root, reply = "1700000000001", "1700000000002"
        graph.post(TEAM, CHANNEL, root, ADA, at(1), "<p>How do I rotate the key? mail ada@example.org</p>")
        graph.post(
            TEAM, CHANNEL, reply, GRACE, at(2), '<div><at id="0">Ada Lovelace</at> use the vault&nbsp;CLI</div>',
            replyToId=root,
            mentions=[{"id": 0, "mentionText": "Ada Lovelace",
                       "mentioned": {"user": {"id": ADA, "displayName": "Ada Lovelace"}}}],
            attachments=[{"id": "5e32bb74-2c08-4a05-9a58-0f1e7e9a5c11", "contentType": "reference",
                          "contentUrl": "https://acme.sharepoint.com/sites/x/Shared%20Documents/runbook.pdf",
                          "name": "runbook.pdf"}],
        )  # fmt: skip
        created = halves.deliver(
            [
                graph.notification(subscription_id, "created", graph.resource_of(TEAM, CHANNEL, root)),
                graph.notification(subscription_id, "created", graph.resource_of(TEAM, CHANNEL, reply, root)),
            ]
        )
        question, answer, shared = activities_of(created.records)
        assert created.dead_letters == []
        assert (question.kind, question.native_id) == (ActivityKind.MESSAGE, root)
        assert question.text == "How do I rotate the key? mail <email>"
        assert (answer.kind, answer.in_reply_to, answer.conversation.id) == (
            ActivityKind.REPLY,
            root,
            f"{CHANNEL}/{root}",
        )
        assert answer.text == f"@{question.actor} use the vault CLI" and answer.counterpart == question.actor
        assert question.actor == person_pseudonym(KEY, "e1")  # resolved by the e-mail Graph gave for the user
        assert (shared.kind, shared.attributes["filetype"]) == (ActivityKind.FILE_SHARED, "pdf")
        (lookup,) = graph.graph_requests("GET", f"/users/{ADA}")
        assert "select=id%2Cmail%2CuserPrincipalName" in lookup.target.replace(",", "%2C")
        assert not graph.graph_requests("GET", f"/users/{GRACE}")  # HR listed Grace's account: no lookup

        graph.edit(TEAM, CHANNEL, reply, at(5), "<p>use the vault CLI, v2</p>")
        graph.react(TEAM, CHANNEL, reply, BOB, "like", at(6))
        updated = halves.deliver(
            [graph.notification(subscription_id, "updated", graph.resource_of(TEAM, CHANNEL, reply, root))]
        )
        kinds = {a.kind: a for a in activities_of(updated.records)}
        edit, reaction = kinds[ActivityKind.MESSAGE_EDITED], kinds[ActivityKind.REACTION]
        assert (
            edit.native_id == f"{reply}/edit/{int(at(5).timestamp() * 1000)}" and edit.text == "use the vault CLI, v2"
        )
        assert reaction.native_id == f"{reply}/reaction/like/{account_ids(ID_KEY, 'teams', TENANT)(BOB)}"

        graph.delete(TEAM, CHANNEL, root, at(9))
        deleted = halves.deliver(
            [graph.notification(subscription_id, "deleted", graph.resource_of(TEAM, CHANNEL, root))]
        )
        (deletion,) = activities_of(deleted.records)
        assert (deletion.kind, deletion.native_id, deletion.actor) == (
            ActivityKind.ITEM_DELETED,
            f"{root}/deleted",
            question.actor,
        )
        for activity in [*activities_of(created.records), *activities_of(updated.records), deletion]:
            assert all(user not in activity.native_id for user in (ADA, GRACE, BOB))
            assert activity.actor not in activity.native_id and activity.actor not in activity.activity_id

    def test_the_fetch_half_gives_the_ids_fetching_while_receiving_gave(self, live):
        graph, halves, _, subscription_id = live
        graph.post(TEAM, CHANNEL, "1700000000007", ADA, at(1), "<p>where is the runbook?</p>")
        graph.react(TEAM, CHANNEL, "1700000000007", BOB, "like", at(2))
        note = graph.notification(subscription_id, "updated", graph.resource_of(TEAM, CHANNEL, "1700000000007"))
        scope = TeamsScope(TENANT, resolver(), account_ids(ID_KEY, "teams", TENANT))
        fetched_directly = graph_client(graph).message(note["resource"])
        expected = [a.activity_id for a in message_activities(fetched_directly, scope)]
        assert [a.activity_id for a in activities_of(halves.deliver([note]).records)] == expected and expected

    def test_a_repeated_notification_gives_the_same_activity_id(self, live):
        graph, halves, _, subscription_id = live
        graph.post(TEAM, CHANNEL, "1700000000003", BOB, at(1), "same twice")
        note = graph.notification(subscription_id, "created", graph.resource_of(TEAM, CHANNEL, "1700000000003"))
        first, again = halves.deliver([note]), halves.deliver([note])
        assert [r.value for r in first.records] == [r.value for r in again.records] and first.records

    def test_notifications_for_one_message_in_a_batch_are_one_fetch_of_its_latest_state(self, live):
        graph, halves, _, subscription_id = live
        root, reply = "1700000000010", "1700000000011"
        graph.post(TEAM, CHANNEL, root, ADA, at(1), "<p>question</p>")
        graph.post(TEAM, CHANNEL, reply, GRACE, at(2), "<p>answer</p>", replyToId=root)
        graph.edit(TEAM, CHANNEL, root, at(3), "<p>question, edited</p>")
        graph.react(TEAM, CHANNEL, root, BOB, "like", at(4))
        resource, reply_resource = graph.resource_of(TEAM, CHANNEL, root), graph.resource_of(TEAM, CHANNEL, reply, root)
        halves.receive(
            [
                graph.notification(subscription_id, "created", resource),
                graph.notification(subscription_id, "created", reply_resource),
                graph.notification(subscription_id, "updated", resource),  # the edit
                graph.notification(subscription_id, "updated", resource),  # the reaction
            ]
        )
        before = message_gets(graph)
        fetched = halves.fetch()
        assert message_gets(graph) - before == 2  # one fetch per message
        kinds = [a.kind for a in activities_of(fetched.records)]
        assert kinds == [ActivityKind.MESSAGE, ActivityKind.MESSAGE_EDITED, ActivityKind.REACTION, ActivityKind.REPLY]

    def test_graph_down_while_fetching_loses_the_round_and_the_next_fetch_catches_up(self, live):
        graph, halves, _, subscription_id = live
        graph.post(TEAM, CHANNEL, "1700000000004", BOB, at(1), "later")
        note = graph.notification(subscription_id, "created", graph.resource_of(TEAM, CHANNEL, "1700000000004"))
        halves.fetcher.messages.known(subscription_id)
        assert halves.receive([note]).status == 202
        graph.fail_next(503, retry_after="1", times=SETTINGS.max_attempts)
        saved = halves.cursor
        with pytest.raises(SourceUnavailable):
            halves.fetch()
        assert halves.cursor == saved  # nothing skipped
        assert activities_of(halves.fetch().records)  # the next round succeeds

    def test_a_message_graph_no_longer_has_is_a_dead_letter_with_the_reason(self, live):
        graph, halves, _, subscription_id = live
        resource = graph.resource_of(TEAM, CHANNEL, "1700000000099")  # never posted: Graph answers 404
        fetched = halves.deliver([graph.notification(subscription_id, "created", resource)])
        (letter,) = [DeadLetter.from_bytes(x.value) for x in fetched.dead_letters]
        assert fetched.records == [] and "cannot be fetched" in letter.detail and "404" in letter.detail

    def test_other_tenants_unknown_subscriptions_and_unmappable_messages_are_dead_letters(self, live):
        graph, halves, _, subscription_id = live
        graph.post(TEAM, CHANNEL, "1700000000005", BOB, at(1), "x", **{"from": None})
        resource = graph.resource_of(TEAM, CHANNEL, "1700000000005")
        fetched = halves.deliver(
            [
                graph.notification(
                    subscription_id, "created", resource, tenantId="00000000-0000-0000-0000-000000000000"
                ),
                graph.notification(subscription_id, "created", resource, subscriptionId="not-ours"),
                graph.notification(subscription_id, "created", resource),
            ]
        )
        details = [DeadLetter.from_bytes(letter.value).detail for letter in fetched.dead_letters]
        assert fetched.records == [] and len(details) == 3
        assert "tenant" in details[0] and "not-ours" in details[1] and "from" in details[2]
        assert all(STATE.encode() not in DeadLetter.from_bytes(x.value).original for x in fetched.dead_letters)

    def test_an_unreadable_pending_record_is_a_dead_letter_and_does_not_stop_the_fetch(self, live):
        graph, halves, _, subscription_id = live
        graph.post(TEAM, CHANNEL, "1700000000012", ADA, at(1), "after the bad one")
        halves.queue.records.append(OutgoingRecord(b"acme/x", b"not json"))
        note = graph.notification(subscription_id, "created", graph.resource_of(TEAM, CHANNEL, "1700000000012"))
        fetched = halves.deliver([note])
        (letter,) = [DeadLetter.from_bytes(x.value) for x in fetched.dead_letters]
        assert "not a pending notification" in letter.detail and len(fetched.records) == 1

    def test_people_are_looked_up_once_each_and_side_by_side_before_their_messages_are_mapped(self, live):
        graph, halves, _, subscription_id = live
        newcomers = [f"9d0c0000-0000-4000-8000-{n:012d}" for n in range(6)]
        for user in newcomers:
            graph.add_user(user, "Newcomer", f"newcomer-{user[-2:]}@example.org")
        posts = [(f"17000001000{n:02d}", ADA) for n in range(6)]
        posts += [(f"17000002000{n:02d}", user) for n, user in enumerate(newcomers)]
        for message_id, user in posts:
            graph.post(TEAM, CHANNEL, message_id, user, at(1), "hello")
        notes = [graph.notification(subscription_id, "created", graph.resource_of(TEAM, CHANNEL, m)) for m, _ in posts]
        halves.fetcher.messages.known(subscription_id)
        halves.receive(notes)
        graph.latency_s = 0.3  # each message and user GET: long enough for the lookups to overlap if they can
        fetched = halves.fetch()
        assert len(graph.graph_requests("GET", f"/users/{ADA}")) == 1
        actors = [activity.actor for activity in activities_of(fetched.records)]
        assert actors[:6] == [person_pseudonym(KEY, "e1")] * 6  # each waited for Ada's e-mail, none got a stand-in
        # the lookups of different people were answered side by side, not one after another
        assert graph.most_in_flight["users"] >= 2, graph.most_in_flight

    def test_message_fetches_keep_to_the_rate_limit(self, graph):
        waits: list[float] = []  # the limiter's sleeps, on a clock that stands still: every GET must take a turn
        halves = Halves(graph, rate=RateLimit(10.0, clock=lambda: 0.0, sleep=waits.append))
        served = ReceiverServer(halves.changes, halves.lifecycle)
        try:
            keeper = TeamsSubscriptions(
                "acme-subs", graph_client(graph), [RESOURCE], served.url(halves.changes.path), STATE, resolver()
            )
            (batch,) = keeper.read(keeper.start_cursor(None))
            subscription_id = batch.cursor.subscriptions[RESOURCE].id
            ids = [f"17000003000{n:02d}" for n in range(8)]
            for message_id in ids:
                graph.post(TEAM, CHANNEL, message_id, ADA, at(1), "hello")
            halves.fetcher.messages.known(subscription_id)
            halves.receive(
                [graph.notification(subscription_id, "created", graph.resource_of(TEAM, CHANNEL, m)) for m in ids]
            )
            assert len(halves.fetch().records) == 8
            # 8 GETs at 10 a second: the first goes at once, the others wait 0.1 s more each
            assert sorted(waits) == pytest.approx([0.1 * n for n in range(1, 8)])
        finally:
            served.close()

    def test_a_system_message_is_skipped(self, live):
        graph, halves, _, subscription_id = live
        graph.post(
            TEAM, CHANNEL, "1700000000006", ADA, at(1), "<systemEventMessage/>", messageType="systemEventMessage"
        )
        note = graph.notification(subscription_id, "created", graph.resource_of(TEAM, CHANNEL, "1700000000006"))
        assert halves.deliver([note]) == Fetched([], [])


def test_a_rate_limit_spaces_calls_evenly_and_none_is_no_limit():
    now, waits = [0.0], []

    def sleep(seconds: float) -> None:
        waits.append(round(seconds, 6))
        now[0] += seconds

    limit = RateLimit(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limit.wait_turn()
    assert waits == [0.25, 0.25]
    unlimited = RateLimit(None, clock=lambda: now[0], sleep=sleep)
    unlimited.wait_turn()
    assert waits == [0.25, 0.25]
    with pytest.raises(ValueError):
        RateLimit(0)


class TestGraphClient:
    def test_the_token_is_cached_and_fetched_again_after_a_401(self, graph):
        client = graph_client(graph)
        client.user(ADA)
        client.user(GRACE)
        assert len(graph.graph_requests("POST", "/oauth2/v2.0/token")) == 1
        graph.revoke_tokens()
        assert client.user(BOB)["mail"] == "bob@example.org"
        assert len(graph.graph_requests("POST", "/oauth2/v2.0/token")) == 2
        form = parse_qs(graph.graph_requests("POST", "/token")[0].body.decode())
        assert form["scope"] == ["https://graph.microsoft.com/.default"] and form["grant_type"] == [
            "client_credentials"
        ]

    def test_a_wrong_secret_is_a_config_error_naming_the_variable(self, graph):
        with pytest.raises(Exception, match="TEAMS_SECRET"):
            graph_client(graph, secret="wrong").token()

    def test_a_collection_is_read_over_every_page_graph_links(self, graph):
        graph.page_size = 2
        members = graph_client(graph).channel_members(TEAM, CHANNEL)
        assert [m["userId"] for m in members.items] == [ADA, GRACE, BOB]
        assert (members.pages, members.complete) == (2, True)
        first, second = graph.graph_requests("GET", "/members")
        assert "skiptoken" not in first.target and "%24skiptoken=" in second.target.replace("$", "%24")

    def test_the_page_limit_stops_the_reading_and_says_so(self, graph):
        graph.page_size = 1
        members = graph_client(graph, max_pages=2).channel_members(TEAM, CHANNEL)
        assert (len(members.items), members.pages, members.complete) == (2, 2, False)

    def test_a_next_link_off_the_graph_root_is_not_followed(self):
        def answer(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/token"):
                return httpx.Response(200, json={"access_token": "t", "expires_in": 3599})
            return httpx.Response(200, json={"value": [{"userId": ADA}], "@odata.nextLink": "https://evil.example/x"})

        http = SourceHttpClient("graph", "https://graph.test/v1.0/", SETTINGS, transport=httpx.MockTransport(answer))
        client = GraphClient(http, GraphCredentials(TENANT, CLIENT, SECRET, "https://login.test/token"))
        with pytest.raises(ConnectorError, match=r"evil\.example"):
            client.channel_members(TEAM, CHANNEL)

    def test_deleting_a_subscription_graph_does_not_know_is_not_an_error(self, graph):
        assert graph_client(graph).delete_subscription("0123456789abcdef") is False
        assert [r.method for r in graph.graph_requests("DELETE", "/subscriptions/")] == ["DELETE"]

    def test_a_429_waits_as_long_as_retry_after_says(self, graph):
        waits: list[float] = []
        client = graph_client(graph, waits)
        graph.fail_next(429, retry_after="7")
        assert client.user(ADA)["id"] == ADA and waits == [7.0]
        assert set(json.loads(json.dumps(client.user(ADA)))) <= {"id", "mail", "userPrincipalName"}


class TestSubscriptions:
    def test_created_once_then_renewed_only_when_expiring_within_the_margin(self, live):
        graph, halves, served, subscription_id = live
        expires = datetime.fromisoformat(graph.subscriptions[subscription_id]["expirationDateTime"])
        assert NOW + MAX_SUBSCRIPTION - timedelta(minutes=10) < expires <= datetime.now(UTC) + MAX_SUBSCRIPTION
        keeper = TeamsSubscriptions(
            "acme-subs", graph_client(graph), [RESOURCE], served.url(halves.changes.path), STATE, resolver(),
            renew_margin=timedelta(hours=12),
        )  # fmt: skip
        fresh = TeamsSubscriptionsCursor(
            subscriptions={RESOURCE: SubscriptionState(id=subscription_id, expires=int(expires.timestamp()))}
        )
        (batch,) = keeper.read(fresh)
        assert batch.records == [] and batch.cursor == fresh and not graph.graph_requests("PATCH", "/subscriptions")
        soon = int((datetime.now(UTC) + timedelta(hours=2)).timestamp())
        expiring = TeamsSubscriptionsCursor(
            subscriptions={RESOURCE: SubscriptionState(id=subscription_id, expires=soon)}
        )
        (renewed,) = keeper.read(cursor_from_text(TeamsSubscriptionsCursor, expiring.to_text(), "acme-subs"))
        assert graph.graph_requests("PATCH", f"/subscriptions/{subscription_id}")
        assert renewed.cursor.subscriptions[RESOURCE].id == subscription_id
        assert renewed.cursor.subscriptions[RESOURCE].expires > soon + 3600 * 24
        assert len(graph.subscriptions) == 1

    def test_a_subscription_graph_no_longer_knows_is_created_again(self, live):
        graph, halves, served, subscription_id = live
        graph.subscriptions.pop(subscription_id)
        keeper = TeamsSubscriptions(
            "acme-subs", graph_client(graph), [RESOURCE], served.url(halves.changes.path), STATE, resolver()
        )
        soon = int((datetime.now(UTC) + timedelta(minutes=30)).timestamp())
        (batch,) = keeper.read(
            TeamsSubscriptionsCursor(subscriptions={RESOURCE: SubscriptionState(id=subscription_id, expires=soon)})
        )
        assert batch.cursor.subscriptions[RESOURCE].id != subscription_id and len(graph.subscriptions) == 1

    def test_check_reports_channel_members_the_directory_cannot_resolve(self, graph):
        keeper = TeamsSubscriptions(
            "acme-subs", graph_client(graph), [RESOURCE], "https://x/hooks/teams/acme", STATE, resolver()
        )
        report = keeper.check()
        assert (report.accounts_seen, report.unresolved_accounts) == (3, 1)  # Bob is not in the directory
        assert any("General" in line for line in report.lines())

    def test_check_counts_the_members_of_every_page(self, graph):
        newcomers = [f"9d0c0000-0000-4000-8000-{n:012d}" for n in range(7)]
        for user in newcomers:
            graph.add_user(user, f"Newcomer {user[-2:]}", f"n{user[-2:]}@example.org")
        graph.add_channel(TEAM, CHANNEL, "General", (ADA, GRACE, BOB, *newcomers))
        graph.page_size = 3
        keeper = TeamsSubscriptions(
            "acme-subs", graph_client(graph), [RESOURCE], "https://x/hooks/teams/acme", STATE, resolver()
        )
        report = keeper.check()
        assert (report.accounts_seen, report.unresolved_accounts) == (10, 8)  # Ada and Grace are listed
        assert any("10 members read in 4 pages" in line for line in report.lines())
        assert len(graph.graph_requests("GET", "/members")) == 4

    def test_check_says_when_the_page_limit_cut_the_count_short(self, graph):
        graph.page_size = 1
        keeper = TeamsSubscriptions(
            "acme-subs", graph_client(graph, max_pages=2), [RESOURCE], "https://x/hooks/teams/acme", STATE, resolver()
        )
        report = keeper.check()
        assert report.accounts_seen == 2
        assert any("2 members read in 2 pages" in line and "lower bound" in line for line in report.lines())

    def test_a_resource_removed_from_the_config_loses_its_subscription(self, live):
        graph, halves, served, subscription_id = live
        keeper = TeamsSubscriptions(
            "acme-subs", graph_client(graph), [OTHER_RESOURCE], served.url(halves.changes.path), STATE, resolver()
        )
        expires = int(datetime.fromisoformat(graph.subscriptions[subscription_id]["expirationDateTime"]).timestamp())
        before = TeamsSubscriptionsCursor(
            subscriptions={RESOURCE: SubscriptionState(id=subscription_id, expires=expires)}
        )
        (batch,) = keeper.read(cursor_from_text(TeamsSubscriptionsCursor, before.to_text(), "acme-subs"))
        assert set(batch.cursor.subscriptions) == {OTHER_RESOURCE}
        assert graph.graph_requests("DELETE", f"/subscriptions/{subscription_id}")
        (remaining,) = graph.subscriptions.values()
        assert (
            remaining["resource"] == OTHER_RESOURCE and remaining["id"] == batch.cursor.subscriptions[OTHER_RESOURCE].id
        )

    def test_a_removed_resource_whose_subscription_graph_dropped_leaves_the_cursor(self, live):
        graph, halves, served, subscription_id = live
        graph.subscriptions.pop(subscription_id)
        keeper = TeamsSubscriptions(
            "acme-subs", graph_client(graph), [OTHER_RESOURCE], served.url(halves.changes.path), STATE, resolver()
        )
        gone = TeamsSubscriptionsCursor(subscriptions={RESOURCE: SubscriptionState(id=subscription_id, expires=0)})
        (batch,) = keeper.read(gone)
        assert set(batch.cursor.subscriptions) == {OTHER_RESOURCE}  # Graph's 404 on DELETE: gone already

    def test_a_subscription_graph_cannot_delete_now_is_deleted_on_the_next_read(self, live):
        graph, halves, served, subscription_id = live
        keeper = TeamsSubscriptions(
            "acme-subs", graph_client(graph), [OTHER_RESOURCE], served.url(halves.changes.path), STATE, resolver()
        )
        far = int((datetime.now(UTC) + timedelta(days=2)).timestamp())
        other = SubscriptionState(id="kept-by-the-cursor", expires=far)  # fresh: no Graph call to keep it
        removed = SubscriptionState(id=subscription_id, expires=far)
        graph.fail_next(503, retry_after="1", times=SETTINGS.max_attempts)  # Graph down for the whole read
        (batch,) = keeper.read(TeamsSubscriptionsCursor(subscriptions={OTHER_RESOURCE: other, RESOURCE: removed}))
        assert (
            batch.cursor.subscriptions == {OTHER_RESOURCE: other, RESOURCE: removed}
            and subscription_id in graph.subscriptions
        )
        (again,) = keeper.read(batch.cursor)
        assert again.cursor.subscriptions == {OTHER_RESOURCE: other} and subscription_id not in graph.subscriptions


class TestLifecycle:
    def test_reauthorization_required_reauthorizes_and_renews(self, live):
        graph, _, _, subscription_id = live
        assert graph.lifecycle(subscription_id, "reauthorizationRequired").status_code == 202
        assert graph.graph_requests("POST", f"/subscriptions/{subscription_id}/reauthorize")
        assert graph.graph_requests("PATCH", f"/subscriptions/{subscription_id}")

    def test_a_removed_subscription_is_created_again(self, live):
        graph, halves, _, subscription_id = live
        halves.changes.messages.known(subscription_id)
        assert graph.lifecycle(subscription_id, "subscriptionRemoved").status_code == 202
        (again,) = graph.subscriptions.values()
        assert again["id"] != subscription_id and again["resource"] == RESOURCE

    def test_missed_notifications_become_a_dead_letter_naming_the_subscription(self, live):
        graph, halves, served, subscription_id = live
        halves.changes.messages.known(subscription_id)
        assert graph.lifecycle(subscription_id, "missed").status_code == 202
        (letter,) = [DeadLetter.from_bytes(x.value) for x in served.receipts[-1].dead_letters]
        assert subscription_id in letter.detail and RESOURCE in letter.detail and "backfill" in letter.detail

    def test_a_wrong_client_state_is_refused(self, live):
        graph, _, _, subscription_id = live
        assert graph.lifecycle(subscription_id, "missed", clientState="guessed").status_code == 403


def test_mapping_without_a_network_keeps_display_names_and_ids_out():
    scope = TeamsScope(TENANT, pseudonymiser(KEY, "teams", TENANT), account_ids(ID_KEY, "teams", TENANT))
    message = {
        "id": "1", "messageType": "message", "createdDateTime": "2024-03-05T11:00:00.1234567Z",
        "from": {"user": {"id": ADA, "displayName": "Ada Lovelace"}},
        "body": {"contentType": "html", "content": '<at id="0">Grace Hopper</at>&amp; <at id="1">Team</at>'},
        "mentions": [{"id": 0, "mentioned": {"user": {"id": GRACE, "displayName": "Grace Hopper"}}},
                     {"id": 1, "mentioned": {"conversation": {"id": CHANNEL}}}],
        "channelIdentity": {"teamId": TEAM, "channelId": CHANNEL},
    }  # fmt: skip
    (post,) = message_activities(message, scope)
    assert post.text == f"@{scope.pseudonymise(GRACE)}& @user" and "Grace" not in (post.text or "")
    assert post.occurred_at == datetime(2024, 3, 5, 11, 0, 0, 123456, tzinfo=UTC)


def test_config_models_name_secrets_by_variable_and_claim_their_slices():
    common = {
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "client_secret_env": "TEAMS_SECRET",
        "client_state_env": "TEAMS_STATE",
    }
    receiver = TeamsNotificationsConfig(name="acme", type="teams-notifications", **common)
    keeper = TeamsSubscriptionsConfig(
        name="acme-subs", type="teams-subscriptions", notification_url="https://hooks.example.org/hooks/teams/acme",
        receiver="acme", resources=[RESOURCE], **common,
    )  # fmt: skip
    assert receiver.token_url == f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
    assert keeper.slice() == (f"teams:{TENANT}", frozenset({RESOURCE})) and receiver.slice()[0] == keeper.slice()[0]
    with pytest.raises(ValueError):
        TeamsSubscriptionsConfig(
            name="x", type="teams-subscriptions", notification_url="http://plain", receiver="acme",
            resources=[RESOURCE], **common,
        )  # fmt: skip
