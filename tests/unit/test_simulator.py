"""The organisation simulator: deterministic by seed, in the formats the connectors read, consistent across
sources (HR directory, Slack users, Events API, export ZIP, wiki), and a load sender that signs and retries as
Slack does (against a local aiohttp server)."""

from __future__ import annotations

import asyncio
import json
import re
import zipfile
from collections import Counter
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from producers.chat.slack_events import ChannelFilter, SlackEventsReceiver, slack_signature, verify_signature
from producers.chat.slack_export import ExportPosition, SlackExportImport, user_emails_from_export
from producers.chat.slack_messages import SlackScope
from producers.contracts import ReceivedRequest
from producers.directory import AccountKind, directory_from_csv
from producers.identity import IdentityResolver
from producers.pseudonymise import account_ids, pseudonymiser
from producers.wiki.mediawiki import activity_from_api_change, checked_recentchange
from schemas.activity import Activity, ActivityKind
from schemas.taxonomy import LearningCategory
from simulator.chat import slack_events, write_slack_export
from simulator.mediawiki_wire import render_change, stream_event
from simulator.organisation import directory_csv, generate_organisation, slack_users
from simulator.slack_sender import post_events
from simulator.wiki import WIKI_BOTS, wiki_changes
from streams.classify import default_classifier
from streams.processing import learning_event_for
from streams.threads import ThreadMemory

START = date(2024, 3, 4)  # a Monday
TEAM = "T0SIMTEAM01"
SECRET = b"simulated-signing-secret"
KEY, ID_KEY = b"pseudonym-key", b"id-key"
PEOPLE, DAYS, SEED = 60, 10, 11
WIKI = "wiki.sim.example"


@pytest.fixture(scope="module")
def org():
    return generate_organisation(PEOPLE, SEED, START, days=DAYS)


@pytest.fixture(scope="module")
def envelopes(org) -> list[dict[str, Any]]:
    return list(slack_events(org, DAYS, SEED, TEAM, START))


def scope() -> SlackScope:
    return SlackScope(TEAM, pseudonymiser(KEY, "slack", TEAM), account_ids(ID_KEY, "slack", TEAM))


def receive_all(envelopes: list[dict[str, Any]]) -> tuple[list[Activity], int]:
    receiver = SlackEventsReceiver("sim", TEAM, SECRET, scope(), ChannelFilter())
    activities, dead_letters = [], 0
    for envelope in envelopes:
        body = json.dumps(envelope).encode()
        timestamp = str(envelope["event_time"])
        signature = slack_signature(SECRET, timestamp, body)
        headers = {"x-slack-request-timestamp": timestamp, "x-slack-signature": signature}
        receipt = receiver.receive(ReceivedRequest(headers, body, float(envelope["event_time"])))
        assert receipt.status == 200
        dead_letters += len(receipt.dead_letters)
        activities += [Activity.from_bytes(record.value) for record in receipt.records]
    return activities, dead_letters


@pytest.fixture(scope="module")
def live(envelopes) -> list[Activity]:
    activities, dead_letters = receive_all(envelopes)
    assert dead_letters == 0
    return activities


class TestDeterminism:
    def test_same_seed_same_organisation_and_stream(self, org, envelopes):
        again = generate_organisation(PEOPLE, SEED, START, days=DAYS)
        assert again == org
        assert directory_csv(again) == directory_csv(org)
        assert list(slack_events(again, DAYS, SEED, TEAM, START)) == envelopes
        assert wiki_changes(again, DAYS, SEED, START) == wiki_changes(org, DAYS, SEED, START)

    def test_another_seed_another_organisation_and_stream(self, org, envelopes):
        other = generate_organisation(PEOPLE, SEED + 1, START, days=DAYS)
        assert directory_csv(other) != directory_csv(org)
        assert list(islice(slack_events(org, DAYS, SEED + 1, TEAM, START), 50)) != envelopes[:50]
        assert wiki_changes(org, DAYS, SEED + 1, START) != wiki_changes(org, DAYS, SEED, START)


class TestOrganisation:
    def test_the_directory_csv_parses_with_movers_and_team_sizes_in_range(self, org):
        directory = directory_from_csv(directory_csv(org))
        assert len(directory) == PEOPLE == len(org.employees)
        assert any(len(person.memberships) == 2 for person in directory.people.values())
        sizes = Counter(member.stints[0].team for member in org.employees)
        assert all(4 <= size <= 12 for size in sizes.values())
        managers = {m.manager_id for p in directory.people.values() for m in p.memberships if m.manager_id}
        assert managers <= set(directory.people)

    def test_each_account_sits_in_its_own_column_of_the_directory(self, org):
        directory = directory_from_csv(directory_csv(org))
        for member in org.employees:
            assert directory.by_account(AccountKind.WIKI, member.wiki_user) == member.person_id
            assert directory.by_account(AccountKind.LMS, member.handle) == member.person_id
            assert directory.by_account(AccountKind.CONFLUENCE, member.confluence_user_key) == member.person_id
            assert directory.by_account(AccountKind.CONFLUENCE, member.handle) is None
        for contractor in org.contractors:
            assert directory.by_account(AccountKind.CONFLUENCE, contractor.confluence_user_key) is None

    def test_every_person_resolves_by_slack_account_or_email_and_contractors_do_not(self, org):
        directory = directory_from_csv(directory_csv(org))
        emails = {user["id"]: user["profile"].get("email") for user in slack_users(org, TEAM)}
        by_account = 0
        for member in org.members:
            listed = directory.by_account(AccountKind.SLACK, member.slack_id)
            by_email = directory.by_email(emails[member.slack_id])
            by_account += listed is not None
            expected = member.person_id if member.in_directory else None
            assert (listed or by_email) == expected
            assert directory.by_account(AccountKind.WIKI, member.wiki_user) == expected
        assert PEOPLE > by_account >= PEOPLE * 0.8  # some only by e-mail
        assert org.contractors

    def test_slack_users_look_like_users_list_members(self, org):
        users = slack_users(org, TEAM)
        assert len({user["id"] for user in users}) == len(users) == len(org.members) + len(org.bots)
        for user in users:
            assert re.fullmatch(r"U[A-Z2-7]{10}", user["id"]) and user["team_id"] == TEAM
            assert {"name", "real_name", "is_bot", "deleted", "profile"} <= set(user)
            assert {"display_name", "real_name"} <= set(user["profile"])
            assert user["is_bot"] or re.fullmatch(r"[a-z]+\.[a-z]+\d*@[a-z]+\.example", user["profile"]["email"])


class TestSlackEvents:
    def test_envelopes_are_event_callbacks_in_time_order_with_unique_ids(self, envelopes):
        assert {envelope["type"] for envelope in envelopes} == {"event_callback"}
        assert len({envelope["event_id"] for envelope in envelopes}) == len(envelopes)
        times = [envelope["event_time"] for envelope in envelopes]
        assert times == sorted(times)
        messages = [e["event"] for e in envelopes if e["event"]["type"] == "message"]
        assert all(message["channel_type"] in ("channel", "group", "im", "mpim") for message in messages)
        subtypes = Counter(message.get("subtype") for message in messages)
        for subtype in ("message_changed", "message_deleted", "bot_message", "file_share"):
            assert subtypes[subtype] > 0, subtype

    def test_every_event_maps_and_private_and_direct_ones_are_left_out(self, envelopes, live):
        kinds = Counter(activity.kind for activity in live)
        for kind in (ActivityKind.MESSAGE, ActivityKind.REPLY, ActivityKind.REACTION, ActivityKind.FILE_SHARED):
            assert kinds[kind] > 0, kind
        assert kinds[ActivityKind.MESSAGE_EDITED] > 0 and kinds[ActivityKind.ITEM_DELETED] > 0
        direct = {e["event"]["channel"] for e in envelopes if e["event"].get("channel_type") in ("im", "mpim")}
        assert direct and not any(activity.native_id.split("/")[0] in direct for activity in live)

    def test_questions_answers_and_thanks_come_in_believable_shares(self, live):
        posts = [a for a in live if a.kind in (ActivityKind.MESSAGE, ActivityKind.REPLY)]
        memory, classifier, categories = (
            ThreadMemory(idle_s=30 * 86_400, max_entries=100_000),
            default_classifier(),
            Counter(),
        )
        for activity in posts:  # in order, remembering threads, as the worker decides them
            thread = memory.context_for(activity.conversation_key, activity.occurred_at)
            event = learning_event_for(activity, classifier, thread)
            memory.remember(event)
            categories[event.category] += 1
        share = {category: count / len(posts) for category, count in categories.items()}
        assert 0.05 <= share[LearningCategory.ASKED] <= 0.3
        assert 0.05 <= share[LearningCategory.ANSWERED] <= 0.4
        assert 0.03 <= share[LearningCategory.ACKNOWLEDGED] <= 0.25
        assert 0.3 <= share[LearningCategory.NONE] <= 0.8

    def test_answers_often_come_from_another_team(self, org, envelopes):
        team_of = {member.slack_id: member.team_on(START) for member in org.members}
        roots = {}
        across = within = 0
        for envelope in envelopes:
            event = envelope["event"]
            if event["type"] != "message" or event.get("subtype") or "user" not in event:
                continue
            if "thread_ts" not in event:
                roots[event["ts"]] = event["user"]
            elif roots.get(event["thread_ts"]) not in (None, event["user"]):
                same = team_of[roots[event["thread_ts"]]] == team_of[event["user"]]
                within, across = within + same, across + (not same)
        assert across >= 0.2 * (across + within) and within > 0

    def test_people_and_days_scale_the_stream_linearly(self):
        def count(people: int) -> int:
            organisation = generate_organisation(people, 3, START, days=7)
            return sum(1 for _ in slack_events(organisation, 7, 3, TEAM, START))

        assert 1.6 <= count(80) / count(40) <= 2.4


class TestExport:
    def test_the_export_and_the_live_events_give_the_same_activities(self, org, live, tmp_path: Path):
        path = tmp_path / "export.zip"
        written = write_slack_export(org, DAYS, SEED, path, START, team_id=TEAM)
        imported = []
        for batch in SlackExportImport("sim", path, scope()).read(ExportPosition()):
            assert batch.dead_letters == []
            imported += [Activity.from_bytes(record.value) for record in batch.records]
        exported = {activity.native_id for activity in imported}
        public = {native_id.split("/")[0] for native_id in exported}
        deleted = {a.native_id.removesuffix("/deleted") for a in live if a.kind is ActivityKind.ITEM_DELETED}
        live_public = {
            a.native_id
            for a in live
            if a.native_id.split("/")[0] in public and "/".join(a.native_id.split("/")[:2]) not in deleted
        }
        assert exported == live_public
        with zipfile.ZipFile(path) as archive:
            days = [name for name in archive.namelist() if name.count("/") == 1]
            assert written == sum(len(json.loads(archive.read(name))) for name in days)
        kinds = Counter(activity.kind for activity in imported)
        assert kinds[ActivityKind.MESSAGE_EDITED] > 0 and kinds[ActivityKind.REACTION] > 0
        assert kinds[ActivityKind.FILE_SHARED] > 0 and kinds[ActivityKind.REPLY] > 0
        emails = user_emails_from_export(path)
        assert emails[org.members[0].slack_id] == org.members[0].email


class TestWiki:
    def test_changes_parse_through_the_api_and_the_stream(self, org):
        changes = wiki_changes(org, DAYS, SEED, START, WIKI)
        page_ids = {(c.namespace, c.title): index for index, c in enumerate(changes)}
        props = {"title", "ids", "user", "flags", "sizes", "timestamp", "comment"}
        alias = pseudonymiser(KEY, "mediawiki", WIKI)
        mapped = [activity_from_api_change(render_change(c, page_ids, props), WIKI, alias) for c in changes]
        streamed = [checked_recentchange(stream_event(c, WIKI, i), alias) for i, c in enumerate(changes)]
        assert all(activity is not None for activity in mapped + streamed)
        assert [a.activity_id for a in mapped if a] == [a.activity_id for a in streamed if a]
        assert [c.rcid for c in changes] == sorted({c.rcid for c in changes})
        assert [c.timestamp for c in changes] == sorted(c.timestamp for c in changes)
        assert {c.namespace for c in changes} >= {0, 1, 2, 4, 12}
        assert any(c.type == "new" for c in changes) and any(c.minor for c in changes)
        assert any(c.bot and c.user in WIKI_BOTS for c in changes) and any(c.anon for c in changes)

    def test_some_people_are_active_in_slack_and_on_the_wiki(self, org, envelopes):
        editors = {c.user for c in wiki_changes(org, DAYS, SEED, START)}
        posters = {e["event"].get("user") for e in envelopes}
        both = [member for member in org.employees if member.wiki_user in editors and member.slack_id in posters]
        assert len(both) >= PEOPLE // 5
        directory = directory_from_csv(directory_csv(org))
        emails = {user["id"]: user["profile"]["email"] for user in slack_users(org, TEAM) if not user["is_bot"]}
        slack = IdentityResolver(directory, KEY, "slack", TEAM, AccountKind.SLACK, emails)
        wiki = IdentityResolver(directory, KEY, "mediawiki", WIKI, AccountKind.WIKI)
        assert all(slack(member.slack_id) == wiki(member.wiki_user) for member in both)


class SlackLikeReceiver:
    """A local receiver that refuses the first request with 503 and Retry-After, then acknowledges."""

    def __init__(self, failures: int, status: int = 503) -> None:
        self.failures = failures
        self.status = status
        self.requests: list[tuple[dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(({k.lower(): v for k, v in request.headers.items()}, await request.read()))
        if len(self.requests) <= self.failures:
            return web.Response(status=self.status, headers={"Retry-After": "1"})
        return web.Response(status=200)


async def serve_and_send(receiver: SlackLikeReceiver, events: list[dict[str, Any]], **options: Any):
    app = web.Application()
    app.router.add_post("/hooks/slack/sim", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        return await post_events(f"http://127.0.0.1:{port}/hooks/slack/sim", events, SECRET, **options)
    finally:
        await runner.cleanup()


class TestSender:
    def test_a_503_with_retry_after_is_retried_with_slacks_headers_and_a_fresh_signature(self, envelopes):
        receiver = SlackLikeReceiver(failures=1)
        stats = asyncio.run(serve_and_send(receiver, envelopes[:5], concurrency=1, delay_scale=0.01))
        assert (stats.sent, stats.acknowledged, stats.retried, stats.failed, stats.requests) == (5, 5, 1, 0, 6)
        assert stats.statuses == {503: 1, 200: 5} and stats.cpu_s >= 0 and stats.requests_per_s > 0
        (first, _), (retry, body) = receiver.requests[:2]
        assert "x-slack-retry-num" not in first
        assert (retry["x-slack-retry-num"], retry["x-slack-retry-reason"]) == ("1", "http_error")
        for headers, sent in receiver.requests:
            verify_signature(SECRET, headers, sent, datetime.now(UTC).timestamp())
        assert json.loads(body) == envelopes[0]

    def test_an_envelope_is_given_up_after_three_retries(self, envelopes):
        receiver = SlackLikeReceiver(failures=10, status=500)
        stats = asyncio.run(serve_and_send(receiver, envelopes[:1], concurrency=4, delay_scale=0.0001))
        assert (stats.acknowledged, stats.retried, stats.failed, stats.requests) == (0, 3, 1, 4)
        assert [headers.get("x-slack-retry-num") for headers, _ in receiver.requests] == [None, "1", "2", "3"]
