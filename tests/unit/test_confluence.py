"""Confluence: the Cloud poller against the local Confluence (simulator/confluence_api.py) and the Data Center
webhook receiver, request by request.

Payloads are built field for field from Atlassian's documentation: the v1 REST content model expanded with
`space,version,history,container,ancestors`, `/content/{id}/version`, cursor paging through `_links.next`, and
the Data Center webhook payloads (`timestamp`, `event`, `userKey`, `page` / `comment` objects).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from learnstream.errors import ConfigError, RequestRejected
from learnstream.settings import HttpSettings
from producers.contracts import Batch, ReceivedRequest, cursor_from_text
from producers.directory import AccountKind, directory_from_csv
from producers.http_client import SourceHttpClient
from producers.identity import IdentityResolver
from producers.pseudonymise import pseudonymiser
from producers.wiki.confluence_cloud import ConfluenceCursor, ConfluencePolling, basic_auth, cql_for
from producers.wiki.confluence_config import ConfluenceCloudConfig, ConfluenceWebhookConfig
from producers.wiki.confluence_webhook import ConfluenceWebhookReceiver, hub_signature
from schemas.activity import Activity, ActivityKind, ConversationKind
from schemas.dead_letter import DeadLetter, DeadLetterReason
from simulator.confluence_api import ConfluenceApi, User, dc_comment, dc_page, webhook_delivery

SITE = "acme.atlassian.net"
EMAIL, TOKEN = "bot@acme.example", "atlassian-api-token"
KEY = b"unit-test-key"
NOW = datetime(2024, 3, 5, 12, 0, 0, tzinfo=UTC)
ALICE, BOB, CAROL = "557058:alice-0001", "557058:bob-0002", "557058:carol-0003"
DIRECTORY = (
    "person_id,email,team,valid_from,confluence\n"
    f"hr-1,alice@acme.example,docs,2023-01-01,{ALICE}\n"
    "hr-2,bob@acme.example,ops,2023-01-01,\n"
)
USERS = [User(ALICE, "Alice"), User(BOB, "Bob", "bob@acme.example"), User(CAROL, "Carol")]
SETTINGS = HttpSettings(timeout_s=5, max_attempts=4, backoff_base_s=0.5, backoff_max_s=30)
SECRET = b"a-secret-string"
DC_SITE = "wiki.corp.example"


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return NOW.replace(hour=hour, minute=minute, second=second)


def resolver() -> IdentityResolver:
    return IdentityResolver(directory_from_csv(DIRECTORY), KEY, "confluence", SITE, AccountKind.CONFLUENCE)


@pytest.fixture
def confluence() -> Iterator[ConfluenceApi]:
    with ConfluenceApi(SITE, email=EMAIL, api_token=TOKEN, spaces=["ENG", "OPS"], users=USERS) as api:
        yield api


def polling(
    api: ConfluenceApi, waits: list[float] | None = None, token: str = TOKEN, **options: object
) -> ConfluencePolling:
    http = SourceHttpClient(
        SITE,
        api.base_url,
        SETTINGS,
        headers=basic_auth(EMAIL, token),
        credentials_setting="ACME_CONFLUENCE_API_TOKEN",
        sleep=(waits if waits is not None else []).append,
    )
    return ConfluencePolling(
        "acme-confluence",
        SITE,
        http,
        options.pop("resolver", None) or resolver(),  # type: ignore[arg-type]
        options.pop("spaces", ["ENG"]),  # type: ignore[arg-type]
        batch_size=options.pop("batch_size", 2),  # type: ignore[arg-type]
        overlap_minutes=options.pop("overlap_minutes", 2),  # type: ignore[arg-type]
        now=lambda: NOW,
        **options,  # type: ignore[arg-type]
    )


def activities(batches: list[Batch[ConfluenceCursor]]) -> list[Activity]:
    return [Activity.from_bytes(record.value) for batch in batches for record in batch.records]


def letters(batches: list[Batch[ConfluenceCursor]]) -> list[DeadLetter]:
    return [DeadLetter.from_bytes(letter.value) for batch in batches for letter in batch.dead_letters]


def native_ids(batches: list[Batch[ConfluenceCursor]]) -> list[str]:
    return [activity.native_id for activity in activities(batches)]


def day_before() -> ConfluenceCursor:
    return ConfluenceCursor(since=NOW - timedelta(days=1), window_start=NOW - timedelta(days=1))


class TestCloudPolling:
    def test_every_version_of_a_page_and_its_comments_are_mapped(self, confluence: ConfluenceApi) -> None:
        page = confluence.add_page("ENG", "Deploy runbook", ALICE, at(9), "first draft")
        confluence.edit_page(page, BOB, at(9, 30), "fixed the rollback step")
        confluence.edit_page(page, ALICE, at(10), "", minor=True)
        question = confluence.add_comment(page, CAROL, at(10, 15))
        answer = confluence.add_comment(page, ALICE, at(10, 20), parent=question)
        found = {a.native_id: a for a in activities(list(polling(confluence).read(day_before())))}

        assert list(found) == [
            f"page/{page}/v/1",
            f"page/{page}/v/2",
            f"page/{page}/v/3",
            f"comment/{question}/v/1",
            f"comment/{answer}/v/1",
        ]
        created, edited = found[f"page/{page}/v/1"], found[f"page/{page}/v/2"]
        assert (created.kind, created.occurred_at, created.text) == (ActivityKind.PAGE_CREATED, at(9), "first draft")
        assert (edited.kind, edited.text, edited.subject) == (
            ActivityKind.PAGE_EDITED,
            "fixed the rollback step",
            "Deploy runbook",
        )
        assert found[f"page/{page}/v/3"].attributes == {"space": "ENG", "version": 3, "minor": True}
        comment, reply = found[f"comment/{question}/v/1"], found[f"comment/{answer}/v/1"]
        assert comment.kind is ActivityKind.PAGE_COMMENTED and comment.in_reply_to == f"page/{page}/v/1"
        assert reply.in_reply_to == f"comment/{question}/v/1"
        assert {a.conversation.id for a in found.values()} == {f"ENG:{page}"}
        assert {a.conversation.kind for a in found.values()} == {ConversationKind.PAGE}
        assert len({a.conversation_key for a in found.values()}) == 1  # one partition per page
        assert all(a.source_instance == SITE and a.source.value == "confluence" for a in found.values())

    def test_the_cql_window_spaces_order_and_paging_follow_the_api(self, confluence: ConfluenceApi) -> None:
        for minute in range(5):
            confluence.add_page("ENG", f"P{minute}", ALICE, at(9, minute))
        confluence.add_page("OPS", "Not ours", ALICE, at(9, 10))
        batches = list(polling(confluence, overlap_minutes=2).read(day_before()))

        searches = confluence.api_requests("/content/search")
        assert searches[0].params["cql"] == (
            'type in (page, comment) and space in ("ENG") and lastmodified >= "2024-03-04 11:58" '
            "order by lastmodified asc"
        )
        assert "cursor" not in searches[0].params and all("cursor" in r.params for r in searches[1:])
        assert len(searches) == len(batches) == 3  # five hits, two per page
        assert native_ids(batches) == [f"page/{100_001 + n}/v/1" for n in range(5)]
        assert confluence.api_requests("/version") == []  # a first version is the hit itself
        assert batches[-1].cursor.since == at(9, 4)

    def test_cql_dates_are_in_the_sites_time_zone(self) -> None:
        berlin_winter = timezone(timedelta(hours=1))
        cql = cql_for(["ENG", "~alice"], at(9, 30, 45), berlin_winter)
        assert 'space in ("ENG", "~alice")' in cql and 'lastmodified >= "2024-03-05 10:30"' in cql

    def test_a_read_killed_mid_way_resumes_from_its_cursor_missing_and_repeating_nothing(
        self, confluence: ConfluenceApi
    ) -> None:
        pages = [confluence.add_page("ENG", f"P{n}", ALICE, at(9, n)) for n in range(6)]
        for n in (1, 3):  # pages with later versions: their version lists are read
            confluence.edit_page(pages[n], BOB, at(9, 10 + n), f"edit {n}")
        whole = native_ids(list(polling(confluence).read(day_before())))

        first = polling(confluence).read(day_before())
        before = [next(first), next(first)]  # the process dies here; the runtime saved the second cursor
        saved = before[-1].cursor.to_text()
        assert json.loads(saved)["window_start"] == "2024-03-04T12:00:00Z"  # the lower bound stays put
        restarted = list(polling(confluence).read(cursor_from_text(ConfluenceCursor, saved, "acme-confluence")))
        assert native_ids(before) + native_ids(restarted) == whole
        assert len(whole) == len(set(whole)) == 8

    def test_a_change_later_in_the_boundary_minute_is_read_once_and_the_rest_not_again(
        self, confluence: ConfluenceApi
    ) -> None:
        page = confluence.add_page("ENG", "Runbook", ALICE, at(9, 5, 10))
        first = list(polling(confluence).read(day_before()))
        assert native_ids(first) == [f"page/{page}/v/1"]
        cursor = cursor_from_text(ConfluenceCursor, first[-1].cursor.to_text(), "acme-confluence")
        assert cursor.since == at(9, 5)

        other = confluence.add_page("ENG", "Later in the same minute", BOB, at(9, 5, 40))
        confluence.edit_page(page, BOB, at(9, 5, 50), "same minute too")
        second = list(polling(confluence).read(cursor))
        assert native_ids(second) == [f"page/{other}/v/1", f"page/{page}/v/2"]
        assert 'lastmodified >= "2024-03-05 09:03"' in confluence.api_requests("/content/search")[-1].params["cql"]

        third = list(polling(confluence).read(second[-1].cursor))
        assert native_ids(third) == []  # the overlap re-read everything and produced nothing again

    def test_a_429_with_retry_after_is_honoured(self, confluence: ConfluenceApi) -> None:
        confluence.add_page("ENG", "Runbook", ALICE, at(9))
        confluence.fail_next(429, retry_after="7")
        waits: list[float] = []
        found = native_ids(list(polling(confluence, waits).read(day_before())))
        assert waits == [7.0] and len(found) == 1
        assert len(confluence.api_requests("/content/search")) == 2

    def test_content_that_cannot_be_mapped_is_a_dead_letter_with_its_reason(self, confluence: ConfluenceApi) -> None:
        confluence.add_page("ENG", "Anonymous page", "", at(9))
        good = confluence.add_page("ENG", "Signed page", ALICE, at(9, 1))
        batches = list(polling(confluence).read(day_before()))
        assert native_ids(batches) == [f"page/{good}/v/1"]
        [letter] = letters(batches)
        assert letter.reason is DeadLetterReason.SOURCE_RECORD_INVALID
        assert "version.by.accountId is missing" in letter.detail and "anonymous" in letter.detail
        assert letter.source_topic == f"confluence:{SITE}"

    def test_ids_name_no_account_and_no_pseudonym(self, confluence: ConfluenceApi) -> None:
        page = confluence.add_page("ENG", "Runbook", ALICE, at(9))
        confluence.edit_page(page, CAROL, at(9, 30))
        confluence.add_comment(page, BOB, at(10))
        people = resolver()
        found = activities(list(polling(confluence, resolver=people).read(day_before())))
        assert len(found) == 3
        secrets = {ALICE, BOB, CAROL} | {people(account) for account in (ALICE, BOB, CAROL)}
        for activity in found:
            assert not any(s in activity.native_id or s in activity.conversation.id for s in secrets)
            assert not any(s in (activity.in_reply_to or "") for s in secrets)

    def test_people_resolve_by_account_or_by_the_email_the_api_shows(self, confluence: ConfluenceApi) -> None:
        page = confluence.add_page("ENG", "Runbook", ALICE, at(9))
        confluence.edit_page(page, BOB, at(9, 30))
        confluence.edit_page(page, CAROL, at(9, 40))
        people = resolver()
        found = activities(list(polling(confluence, resolver=people).read(day_before())))
        assert people.resolved == {ALICE, BOB} and people.unresolved == {CAROL}
        assert found[1].actor == people(BOB) != found[2].actor

    def test_check_reports_the_spaces_and_unresolved_accounts(self, confluence: ConfluenceApi) -> None:
        page = confluence.add_page("ENG", "Runbook", ALICE, at(9))
        confluence.edit_page(page, CAROL, at(9, 30))
        report = polling(confluence, spaces=["ENG", "OPS"]).check()
        assert (report.accounts_seen, report.unresolved_accounts) == (2, 1)
        assert any("ENG, OPS found" in line for line in report.lines())
        assert confluence.api_requests("/user/current") and confluence.api_requests("/space")

    def test_check_refuses_a_missing_space_and_a_wrong_token(self, confluence: ConfluenceApi) -> None:
        with pytest.raises(ConfigError, match="no space NOPE"):
            polling(confluence, spaces=["ENG", "NOPE"]).check()
        with pytest.raises(ConfigError, match="ACME_CONFLUENCE_API_TOKEN"):
            polling(confluence, token="wrong").check()
        assert confluence.requests[-1].headers["authorization"].startswith("Basic ")

    def test_start_cursor_backfills_the_configured_days(self, confluence: ConfluenceApi) -> None:
        cursor = polling(confluence, backfill_days=7).start_cursor(None)
        assert cursor.since == cursor.window_start == NOW - timedelta(days=7) and cursor.seen == {}


# -- Data Center webhooks ----------------------------------------------------------------------------------------

PAGE = dc_page(1376260, "ENG", "Deploy runbook", 1, "ff8080-alice", "ff8080-alice", at(9), at(9))


def webhook(spaces: tuple[str, ...] = ()) -> ConfluenceWebhookReceiver:
    scope = pseudonymiser(KEY, "confluence", DC_SITE)
    return ConfluenceWebhookReceiver("corp-wiki", DC_SITE, SECRET, scope, spaces, now=lambda: NOW)


def delivered(event: str, user_key: str = "ff8080-alice", **content: object) -> ReceivedRequest:
    body, headers = webhook_delivery(event, SECRET, user_key, at(11), **content)  # type: ignore[arg-type]
    return ReceivedRequest(headers, body, NOW.timestamp())


def mapped(request: ReceivedRequest, spaces: tuple[str, ...] = ()) -> list[Activity]:
    receipt = webhook(spaces).receive(request)
    assert receipt.status == 200 and receipt.dead_letters == []
    return [Activity.from_bytes(record.value) for record in receipt.records]


class TestWebhooks:
    def test_a_missing_or_wrong_signature_is_refused_with_401_and_produces_nothing(self) -> None:
        good = delivered("page_created", page=PAGE)
        for headers in ({}, {"x-hub-signature": hub_signature(b"other-secret", good.body)}):
            with pytest.raises(RequestRejected) as refused:
                webhook().receive(ReceivedRequest(headers, good.body, NOW.timestamp()))
            assert refused.value.status == 401
        tampered = ReceivedRequest(good.headers, good.body.replace(b"Deploy", b"Delete"), NOW.timestamp())
        with pytest.raises(RequestRejected, match="does not match"):
            webhook().receive(tampered)

    def test_page_created_updated_and_removed(self) -> None:
        [created] = mapped(delivered("page_created", page=PAGE))
        assert (created.kind, created.native_id, created.occurred_at) == (
            ActivityKind.PAGE_CREATED,
            "page/1376260/v/1",
            at(9),
        )
        assert created.conversation.id == "ENG:1376260" and created.subject == "Deploy runbook"
        edited = dc_page(1376260, "ENG", "Deploy runbook", 4, "ff8080-alice", "ff8080-bob", at(9), at(10))
        [update] = mapped(delivered("page_updated", "ff8080-bob", page=edited, update_trigger="edit_page"))
        assert (update.kind, update.native_id, update.occurred_at) == (
            ActivityKind.PAGE_EDITED,
            "page/1376260/v/4",
            at(10),
        )
        assert update.actor == pseudonymiser(KEY, "confluence", DC_SITE)("ff8080-bob") != created.actor
        for event in ("page_trashed", "page_removed"):
            [removed] = mapped(delivered(event, "ff8080-carol", page=edited))
            assert (removed.kind, removed.native_id, removed.in_reply_to) == (
                ActivityKind.ITEM_DELETED,
                "page/1376260/deleted",
                "page/1376260/v/1",
            )
            assert removed.occurred_at == at(11)

    def test_comments_are_in_the_pages_conversation(self) -> None:
        [comment] = mapped(delivered("comment_created", comment=dc_comment(2001, PAGE, "ff8080-bob", at(10))))
        assert (comment.kind, comment.native_id, comment.in_reply_to) == (
            ActivityKind.PAGE_COMMENTED,
            "comment/2001/v/1",
            "page/1376260/v/1",
        )
        reply_body = dc_comment(2002, PAGE, "ff8080-alice", at(10, 5), in_reply_to=2001)
        [reply] = mapped(delivered("comment_created", comment=reply_body))
        assert reply.in_reply_to == "comment/2001/v/1" and reply.conversation_key == comment.conversation_key
        [removed] = mapped(delivered("comment_removed", comment=reply_body))
        assert (removed.native_id, removed.conversation.id) == ("comment/2002/deleted", "ENG:1376260")
        assert (
            mapped(delivered("comment_updated", comment=dc_comment(2001, PAGE, "ff8080-bob", at(10), version=2))) == []
        )

    def test_a_repeated_delivery_gives_the_same_activity_ids(self) -> None:
        request = delivered("page_created", page=PAGE)
        assert [a.activity_id for a in mapped(request)] == [a.activity_id for a in mapped(request)]

    def test_the_same_version_by_webhook_and_by_polling_is_one_activity(self, confluence: ConfluenceApi) -> None:
        page = int(confluence.add_page("ENG", "Runbook", ALICE, at(9)))
        [polled] = activities(list(polling(confluence).read(day_before())))
        payload = dc_page(page, "ENG", "Runbook", 1, ALICE, ALICE, at(9), at(9))
        receiver = ConfluenceWebhookReceiver("acme", SITE, SECRET, pseudonymiser(KEY, "confluence", SITE))
        body, headers = webhook_delivery("page_created", SECRET, ALICE, at(9), page=payload)
        [pushed] = [Activity.from_bytes(r.value) for r in receiver.receive(ReceivedRequest(headers, body, 0)).records]
        assert pushed.activity_id == polled.activity_id

    def test_events_outside_the_spaces_or_not_activity_produce_nothing(self) -> None:
        assert mapped(delivered("page_created", page=PAGE), spaces=("HR",)) == []
        assert len(mapped(delivered("page_created", page=PAGE), spaces=("ENG",))) == 1
        body, headers = webhook_delivery("space_created", SECRET, "ff8080-alice", at(11))
        assert mapped(ReceivedRequest(headers, body, 0)) == []

    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            ({"page": {"id": 1376260}}, "confluence.webhooks.id.only.disabled"),
            ({"page": {**PAGE, "version": "one"}}, "version number is str"),
            ({"page": {**PAGE, "creatorKey": "", "lastModifierKey": ""}, "user_key": ""}, "no user key"),
            ({"comment": {k: v for k, v in dc_comment(7, PAGE, "x", at(9)).items() if k != "parent"}}, "parent"),
        ],
    )
    def test_a_signed_event_that_cannot_be_mapped_is_acknowledged_and_set_aside(
        self, content: dict[str, Any], reason: str
    ) -> None:
        user_key = content.pop("user_key", "ff8080-alice")
        event = "page_created" if "page" in content else "comment_created"
        receipt = webhook().receive(delivered(event, user_key, **content))
        assert receipt.status == 200 and receipt.records == []
        [letter] = [DeadLetter.from_bytes(record.value) for record in receipt.dead_letters]
        assert reason in letter.detail and letter.source_topic == f"confluence:{DC_SITE}"

    def test_a_body_that_is_not_json_is_a_400(self) -> None:
        body = b"not json"
        with pytest.raises(RequestRejected) as refused:
            webhook().receive(ReceivedRequest({"x-hub-signature": hub_signature(SECRET, body)}, body, 0))
        assert refused.value.status == 400


class TestConfig:
    def test_cloud_and_webhook_instances_and_their_slices(self) -> None:
        cloud = ConfluenceCloudConfig.model_validate(
            {
                "name": "acme-confluence",
                "type": "confluence-cloud",
                "site": SITE,
                "email": EMAIL,
                "api_token_env": "ACME_CONFLUENCE_API_TOKEN",
                "spaces": ["ENG", "OPS"],
            }
        )
        assert cloud.url == f"https://{SITE}" and cloud.slice() == (f"confluence:{SITE}", frozenset({"ENG", "OPS"}))
        hook = ConfluenceWebhookConfig.model_validate(
            {"name": "corp-wiki", "type": "confluence-webhook", "site": DC_SITE, "secret_env": "CORP_SECRET"}
        )
        assert hook.slice() == (f"confluence:{DC_SITE}", None) and hook.max_body_bytes == 1_048_576

    @pytest.mark.parametrize(
        "change", [{"spaces": []}, {"cql_time_zone": "Mars/Olympus"}, {"api_token_env": "not a variable"}]
    )
    def test_cloud_config_refuses(self, change: dict[str, object]) -> None:
        entry = {
            "name": "acme-confluence",
            "type": "confluence-cloud",
            "site": SITE,
            "email": EMAIL,
            "api_token_env": "T",
            "spaces": ["ENG"],
        }
        with pytest.raises(ValueError):
            ConfluenceCloudConfig.model_validate({**entry, **change})
