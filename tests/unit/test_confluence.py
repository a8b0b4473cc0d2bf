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
from urllib.parse import parse_qs, urlsplit

import pytest

from learnstream.errors import ConfigError, RequestRejected
from learnstream.settings import HttpSettings
from producers.contracts import Batch, ReceivedRequest, cursor_from_text
from producers.directory import AccountKind, directory_from_csv
from producers.http_client import SourceHttpClient
from producers.identity import IdentityResolver
from producers.pseudonymise import pseudonymiser
from producers.wiki.confluence import (
    UnusableContent,
    dc_account,
    dc_first_version,
    dc_removal,
    rest_comment,
    rest_page_version,
)
from producers.wiki.confluence_cloud import ConfluenceCursor, ConfluencePolling, basic_auth, cql_for
from producers.wiki.confluence_config import ConfluenceCloudConfig, ConfluenceWebhookConfig
from producers.wiki.confluence_webhook import ConfluenceWebhookReceiver, DataCenterContent, hub_signature
from schemas.activity import Activity, ActivityKind, ConversationKind
from schemas.dead_letter import DeadLetter, DeadLetterReason
from simulator.confluence_api import (
    ConfluenceApi,
    ConfluenceDataCenterApi,
    User,
    dc_comment,
    dc_page,
    id_only_delivery,
    webhook_delivery,
)

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
API_PREFIX = "/wiki/rest/api"


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
        assert len(searches) == 3 and len(batches) == 4  # five hits, two per page; then the trash
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


class TestCloudTrash:
    def test_a_trashed_page_is_one_removal_across_restarts(self, confluence: ConfluenceApi) -> None:
        page = confluence.add_page("ENG", "Old runbook", ALICE, at(9))
        confluence.edit_page(page, BOB, at(9, 30), "last words")
        first = list(polling(confluence).read(day_before()))
        assert native_ids(first) == [f"page/{page}/v/1", f"page/{page}/v/2"]

        confluence.trash_page(page)
        saved = first[-1].cursor.to_text()
        second = list(polling(confluence).read(cursor_from_text(ConfluenceCursor, saved, "acme-confluence")))
        [removed] = activities(second)
        assert (removed.kind, removed.native_id, removed.in_reply_to) == (
            ActivityKind.ITEM_DELETED,
            f"page/{page}/deleted",
            f"page/{page}/v/1",
        )
        edited = activities(first)[1]
        assert (removed.occurred_at, removed.actor) == (at(9, 30), edited.actor)  # the last version's, Bob's
        assert removed.conversation.id == f"ENG:{page}" and removed.subject == "Old runbook"

        saved = second[-1].cursor.to_text()
        assert json.loads(saved)["trashed"] == [page]
        for _ in range(2):  # restarted from the saved cursor: reported once only
            batches = list(polling(confluence).read(cursor_from_text(ConfluenceCursor, saved, "acme-confluence")))
            assert native_ids(batches) == []
            saved = batches[-1].cursor.to_text()

    def test_the_trash_is_listed_per_space_and_paged(self, confluence: ConfluenceApi) -> None:
        pages = [confluence.add_page("ENG", f"P{n}", ALICE, at(9, n)) for n in range(3)]
        other = confluence.add_page("OPS", "Ops page", BOB, at(9, 5))
        kept = confluence.add_page("ENG", "Kept", ALICE, at(9, 6))
        cursor = list(polling(confluence, spaces=["ENG", "OPS"]).read(day_before()))[-1].cursor
        for page in [*pages, other]:
            confluence.trash_page(page)
        before = len(confluence.api_requests(f"{API_PREFIX}/content"))
        batches = list(polling(confluence, spaces=["ENG", "OPS"]).read(cursor))

        assert native_ids(batches) == [f"page/{p}/deleted" for p in [*pages, other]]
        assert f"page/{kept}/deleted" not in native_ids(batches)
        listings = confluence.api_requests(f"{API_PREFIX}/content")[before:]
        assert [r.params.get("spaceKey") for r in listings] == ["ENG", "ENG", "OPS"]  # two pages of two for ENG
        assert {(r.params["type"], r.params["status"]) for r in listings} == {("page", "trashed")}
        assert "version" in listings[0].params["expand"] and "space" in listings[0].params["expand"]

    def test_ids_that_left_the_trash_are_forgotten(self, confluence: ConfluenceApi) -> None:
        page = confluence.add_page("ENG", "Runbook", ALICE, at(9))
        cursor = list(polling(confluence).read(day_before()))[-1].cursor
        confluence.trash_page(page)
        cursor = list(polling(confluence).read(cursor))[-1].cursor
        assert cursor.trashed == [page]
        confluence.contents[page].status = "current"  # restored (or emptied with the trash after 30 days)
        restored = list(polling(confluence).read(cursor))
        assert restored[-1].cursor.trashed == []
        confluence.trash_page(page)  # trashed again: reported again, with the same activity id
        assert native_ids(list(polling(confluence).read(restored[-1].cursor))) == [f"page/{page}/deleted"]

    def test_the_first_listing_leaves_pages_trashed_before_the_window(self, confluence: ConfluenceApi) -> None:
        old = confluence.add_page("ENG", "Long gone", ALICE, NOW - timedelta(days=3))
        recent = confluence.add_page("ENG", "Just gone", ALICE, at(9))
        confluence.trash_page(old)
        confluence.trash_page(recent)
        batches = list(polling(confluence).read(day_before()))
        assert native_ids(batches) == [f"page/{recent}/deleted"]
        assert batches[-1].cursor.trashed == sorted([old, recent])
        assert native_ids(list(polling(confluence).read(batches[-1].cursor))) == []

    def test_a_trash_the_account_may_not_list_is_left_and_remembered_ids_kept(self, confluence: ConfluenceApi) -> None:
        page = confluence.add_page("ENG", "Runbook", ALICE, at(9))
        cursor = list(polling(confluence).read(day_before()))[-1].cursor
        confluence.trash_page(page)
        cursor = list(polling(confluence).read(cursor))[-1].cursor
        confluence.trash_listable = False
        other = confluence.add_page("ENG", "Trashed while refused", BOB, at(10))
        confluence.trash_page(other)
        refused = list(polling(confluence).read(cursor))
        assert native_ids(refused) == [] and refused[-1].cursor.trashed == [page]  # kept: not reported again
        report = polling(confluence).check()
        assert any("trash of ENG cannot be listed" in line for line in report.lines())
        confluence.trash_listable = True
        assert native_ids(list(polling(confluence).read(refused[-1].cursor))) == [f"page/{other}/deleted"]
        assert any("trash of each space can be listed" in line for line in polling(confluence).check().lines())

    def test_a_trashed_page_that_cannot_be_mapped_is_one_dead_letter(self, confluence: ConfluenceApi) -> None:
        page = confluence.add_page("ENG", "Anonymous page", "", at(9))
        confluence.trash_page(page)
        batches = list(polling(confluence).read(day_before()))
        [letter] = letters(batches)
        assert "trashed page" in letter.detail and "accountId" in letter.detail
        assert letters(list(polling(confluence).read(batches[-1].cursor))) == []


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
            ({"page": {"id": 1376260}}, "set api_url and token_env"),
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
        assert hook.api_url is None and hook.token_env is None

    def test_the_data_center_call_back_needs_both_the_url_and_the_token(self) -> None:
        entry = {"name": "corp-wiki", "type": "confluence-webhook", "site": DC_SITE, "secret_env": "CORP_SECRET"}
        both = {"api_url": "https://corp.example/confluence", "token_env": "CORP_WIKI_TOKEN"}
        assert ConfluenceWebhookConfig.model_validate({**entry, **both}).api_url == both["api_url"]
        for half in ({"api_url": both["api_url"]}, {"token_env": both["token_env"]}):
            with pytest.raises(ValueError, match="api_url and token_env go together"):
                ConfluenceWebhookConfig.model_validate({**entry, **half})
        with pytest.raises(ValueError):
            ConfluenceWebhookConfig.model_validate({**entry, **both, "api_url": "wiki.corp.example"})

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


# -- Data Center: id-only payloads read back through the REST API -------------------------------------------------

DC_TOKEN = "dc-personal-access-token"
DC_ALICE, DC_BOB = "ff8080-alice", "ff8080-bob"


def dc_user(key: str, name: str) -> dict[str, Any]:
    """A Data Center REST user object: user key and user name, no Atlassian account id."""
    return {"type": "known", "username": name, "userKey": key, "displayName": name.title()}


DC_REST_PAGE: dict[str, Any] = {
    "id": "1376260",
    "type": "page",
    "status": "current",
    "title": "Deploy runbook",
    "space": {"id": 98305, "key": "ENG", "name": "Engineering", "type": "global"},
    "history": {
        "latest": True,
        "createdBy": dc_user(DC_ALICE, "alice"),
        "createdDate": "2024-03-05T10:00:00.000+01:00",
    },
    "version": {
        "by": dc_user(DC_BOB, "bob"),
        "when": "2024-03-05T11:30:00.000+01:00",
        "message": "fixed the rollback step",
        "number": 3,
        "minorEdit": False,
        "hidden": False,
    },
    "container": {"id": 98305, "key": "ENG", "name": "Engineering"},
    "ancestors": [],
}
DC_REST_COMMENT: dict[str, Any] = {
    "id": "2002",
    "type": "comment",
    "status": "current",
    "title": "Re: Deploy runbook",
    "space": {"key": "ENG"},
    "history": {"createdBy": dc_user(DC_BOB, "bob"), "createdDate": "2024-03-05T10:05:00.000Z"},
    "version": {"by": dc_user(DC_BOB, "bob"), "when": "2024-03-05T10:05:00.000Z", "number": 1},
    "container": {"id": "1376260", "type": "page", "status": "current", "title": "Deploy runbook"},
    "ancestors": [{"id": "2001", "type": "comment", "title": "Re: Deploy runbook"}],
    "extensions": {"location": "footer"},
}


class TestDataCenterContentMapping:
    def test_a_page_version_is_by_user_key(self) -> None:
        version = rest_page_version(DC_REST_PAGE, DC_REST_PAGE["version"], dc_account)
        assert (version.page_id, version.number, version.account, version.message) == (
            "1376260",
            3,
            DC_BOB,
            "fixed the rollback step",
        )
        assert version.when == at(10, 30)  # +01:00 read as UTC

    def test_version_one_after_later_edits_is_the_history_creation(self) -> None:
        first = dc_first_version(DC_REST_PAGE)
        assert (first.number, first.account, first.when, first.message) == (1, DC_ALICE, at(9), "")

    def test_a_comment_and_the_comment_it_answers(self) -> None:
        comment = rest_comment(DC_REST_COMMENT, dc_account)
        assert (comment.comment_id, comment.page_id, comment.parent_comment_id) == ("2002", "1376260", "2001")
        assert (comment.account, comment.created, comment.page_title) == (DC_BOB, at(10, 5), "Deploy runbook")

    def test_a_removal_is_placed_by_the_content_and_dated_by_the_event(self) -> None:
        removal = dc_removal("comment", DC_REST_COMMENT, DC_ALICE, int(at(11).timestamp() * 1000))
        assert (removal.content_id, removal.page_id, removal.space_key) == ("2002", "1376260", "ENG")
        assert (removal.account, removal.when, removal.title) == (DC_ALICE, at(11), "Deploy runbook")

    @pytest.mark.parametrize(
        ("user", "reason"),
        [
            ({"type": "anonymous", "displayName": "Anonymous"}, "userKey is missing"),
            ({"type": "known", "accountId": "557058:cloud"}, "userKey is missing"),  # a Cloud user: no key
            (None, "expected a user"),
        ],
    )
    def test_a_user_without_a_key_is_unusable(self, user: object, reason: str) -> None:
        with pytest.raises(UnusableContent, match=reason):
            dc_account(user, "version.by")


@pytest.fixture
def datacenter() -> Iterator[ConfluenceDataCenterApi]:
    users = [User(DC_ALICE, "Alice"), User(DC_BOB, "Bob")]
    with ConfluenceDataCenterApi(DC_SITE, token=DC_TOKEN, context_path="/confluence", users=users) as api:
        yield api


def calling_back(
    api: ConfluenceDataCenterApi, spaces: tuple[str, ...] = (), token: str = DC_TOKEN
) -> ConfluenceWebhookReceiver:
    http = SourceHttpClient(
        "confluence",
        api.url,
        SETTINGS,
        headers={"Authorization": f"Bearer {token}"},
        credentials_setting="CORP_WIKI_TOKEN",
        sleep=lambda _: None,
    )
    scope = pseudonymiser(KEY, "confluence", DC_SITE)
    return ConfluenceWebhookReceiver(
        "corp-wiki",
        DC_SITE,
        SECRET,
        scope,
        spaces,
        now=lambda: NOW,
        datacenter=DataCenterContent(http, "CORP_WIKI_TOKEN"),
    )


def received(body_and_headers: tuple[bytes, dict[str, str]]) -> ReceivedRequest:
    body, headers = body_and_headers
    return ReceivedRequest(headers, body, NOW.timestamp())


def produced(receiver: ConfluenceWebhookReceiver, request: ReceivedRequest) -> list[Activity]:
    receipt = receiver.receive(request)
    assert receipt.status == 200 and receipt.dead_letters == []
    return [Activity.from_bytes(record.value) for record in receipt.records]


def set_aside(receiver: ConfluenceWebhookReceiver, request: ReceivedRequest) -> str:
    receipt = receiver.receive(request)
    assert receipt.status == 200 and receipt.records == []
    [letter] = [DeadLetter.from_bytes(record.value) for record in receipt.dead_letters]
    return letter.detail


class TestDataCenterReadBack:
    def test_id_only_events_map_to_the_activities_of_full_payloads(self, datacenter: ConfluenceDataCenterApi) -> None:
        page = datacenter.add_page("ENG", "Deploy runbook", DC_ALICE, at(9))
        receiver = calling_back(datacenter)
        cases: list[tuple[ReceivedRequest, ReceivedRequest]] = []  # (full payload, id only), as things happen

        def page_event(event: str, user_key: str) -> None:
            full = webhook_delivery(event, SECRET, user_key, at(11), page=datacenter.page_payload(page))
            cases.append(
                (received(full), received(id_only_delivery(event, SECRET, user_key, at(11), page_id=int(page))))
            )

        def comment_event(comment: str, user_key: str) -> None:
            payload = datacenter.comment_payload(comment)
            full = webhook_delivery("comment_created", SECRET, user_key, at(11), comment=payload)
            short = id_only_delivery("comment_created", SECRET, user_key, at(11), comment_id=int(comment))
            cases.append((received(full), received(short)))

        page_event("page_created", DC_ALICE)
        assert len(produced(receiver, cases[-1][1])) == 1  # read back while the page is at version 1
        datacenter.edit_page(page, DC_BOB, at(9, 30), "fixed the rollback step")
        page_event("page_updated", DC_BOB)
        question = datacenter.add_comment(page, DC_BOB, at(10))
        comment_event(question, DC_BOB)
        answer = datacenter.add_comment(page, DC_ALICE, at(10, 5), parent=question)
        comment_event(answer, DC_ALICE)
        datacenter.trash_page(page)
        page_event("page_trashed", DC_ALICE)

        pairs = [(produced(webhook(), full), produced(receiver, short)) for full, short in cases]
        assert [read_back.native_id for _, [read_back] in pairs] == [
            f"page/{page}/v/1",
            f"page/{page}/v/2",
            f"comment/{question}/v/1",
            f"comment/{answer}/v/1",
            f"page/{page}/deleted",
        ]
        for [expected], [read_back] in pairs:
            assert read_back.activity_id == expected.activity_id
            assert (read_back.actor, read_back.occurred_at, read_back.conversation, read_back.in_reply_to) == (
                expected.actor,
                expected.occurred_at,
                expected.conversation,
                expected.in_reply_to,
            )
        requests = datacenter.api_requests(f"/content/{page}")
        assert requests and all(r.path.startswith("/confluence/rest/api/content/") for r in requests)
        assert requests[-1].headers["authorization"] == f"Bearer {DC_TOKEN}"
        assert parse_qs(urlsplit(requests[-1].target).query)["status"] == ["current", "trashed"]
        assert requests[-1].params["expand"] == "version,space,history,container,ancestors"

    def test_page_created_read_back_after_later_edits_is_still_version_one(
        self, datacenter: ConfluenceDataCenterApi
    ) -> None:
        page = datacenter.add_page("ENG", "Runbook", DC_ALICE, at(9))
        datacenter.edit_page(page, DC_BOB, at(9, 1), "quick fix")
        [created] = produced(
            calling_back(datacenter),
            received(id_only_delivery("page_created", SECRET, DC_ALICE, at(9), page_id=int(page))),
        )
        assert (created.native_id, created.kind, created.occurred_at) == (
            f"page/{page}/v/1",
            ActivityKind.PAGE_CREATED,
            at(9),
        )
        assert created.actor == pseudonymiser(KEY, "confluence", DC_SITE)(DC_ALICE)

    def test_events_outside_the_spaces_produce_nothing(self, datacenter: ConfluenceDataCenterApi) -> None:
        page = datacenter.add_page("ENG", "Runbook", DC_ALICE, at(9))
        request = received(id_only_delivery("page_created", SECRET, DC_ALICE, at(9), page_id=int(page)))
        assert produced(calling_back(datacenter, spaces=("HR",)), request) == []
        assert len(produced(calling_back(datacenter, spaces=("ENG",)), request)) == 1

    def test_content_gone_from_data_center_is_set_aside_saying_why(self, datacenter: ConfluenceDataCenterApi) -> None:
        page = datacenter.add_page("ENG", "Runbook", DC_ALICE, at(9))
        comment = datacenter.add_comment(page, DC_BOB, at(10))
        datacenter.purge(comment)
        datacenter.trash_page(page)
        datacenter.purge(page)
        receiver = calling_back(datacenter)
        purged = set_aside(
            receiver, received(id_only_delivery("page_removed", SECRET, DC_ALICE, at(11), page_id=int(page)))
        )
        assert f"404 for page {page}" in purged and "names no space" in purged and "page_trashed" in purged
        removed = set_aside(
            receiver, received(id_only_delivery("comment_removed", SECRET, DC_ALICE, at(11), comment_id=int(comment)))
        )
        assert f"404 for comment {comment}" in removed
        created = set_aside(
            receiver, received(id_only_delivery("comment_created", SECRET, DC_BOB, at(10), comment_id=int(comment)))
        )
        assert "nothing else to map it from" in created

    def test_data_center_down_or_failing_is_a_503_and_produces_nothing(
        self, datacenter: ConfluenceDataCenterApi
    ) -> None:
        page = datacenter.add_page("ENG", "Runbook", DC_ALICE, at(9))
        request = received(id_only_delivery("page_created", SECRET, DC_ALICE, at(9), page_id=int(page)))
        receiver = calling_back(datacenter)
        datacenter.fail_next(503, times=SETTINGS.max_attempts)
        with pytest.raises(RequestRejected) as refused:
            receiver.receive(request)
        assert refused.value.status == 503 and "retry later" in str(refused.value)
        assert len(produced(receiver, request)) == 1  # once it answers again
        datacenter.stop()
        with pytest.raises(RequestRejected) as unreachable:
            receiver.receive(request)
        assert unreachable.value.status == 503

    def test_a_refused_token_is_a_503_naming_the_token_setting(self, datacenter: ConfluenceDataCenterApi) -> None:
        page = datacenter.add_page("ENG", "Runbook", DC_ALICE, at(9))
        request = received(id_only_delivery("page_created", SECRET, DC_ALICE, at(9), page_id=int(page)))
        with pytest.raises(RequestRejected) as refused:
            calling_back(datacenter, token="expired").receive(request)
        assert refused.value.status == 503
        assert "CORP_WIKI_TOKEN" in str(refused.value) and "401" in str(refused.value)
        assert len(datacenter.api_requests(f"/content/{page}")) == 1  # a refused token is not retried

    def test_full_payloads_are_not_read_back_and_blocking_follows_the_call_back(
        self, datacenter: ConfluenceDataCenterApi
    ) -> None:
        receiver = calling_back(datacenter)
        assert receiver.blocking is True and webhook().blocking is False
        assert len(produced(receiver, delivered("page_created", page=PAGE))) == 1
        assert datacenter.requests == []

    def test_check_signs_in_with_the_token(self, datacenter: ConfluenceDataCenterApi) -> None:
        report = calling_back(datacenter).check()
        assert any("CORP_WIKI_TOKEN signs in" in line for line in report.lines())
        assert datacenter.api_requests("/rest/api/user/current")
        with pytest.raises(ConfigError, match="CORP_WIKI_TOKEN"):
            calling_back(datacenter, token="wrong").check()
        assert any("set aside" in line for line in webhook().check().lines())
