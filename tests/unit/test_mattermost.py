"""The Mattermost connectors against a local Mattermost (simulator/mattermost_api.py): the outgoing-webhook receiver
and the REST API v4 poller, with payloads built field for field from Mattermost's documentation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from learnstream.errors import ConfigError, RequestRejected
from learnstream.settings import HttpSettings
from producers.chat.mattermost import MattermostChannel, MattermostScope, post_activities
from producers.chat.mattermost_api import MattermostCursor, MattermostPosts, millis
from producers.chat.mattermost_config import MattermostApiConfig, MattermostWebhookConfig
from producers.chat.mattermost_webhook import MattermostWebhookReceiver
from producers.contracts import Batch, ReceivedRequest, cursor_from_text
from producers.directory import AccountKind, directory_from_csv
from producers.http_client import SourceHttpClient
from producers.identity import IdentityResolver
from producers.pseudonymise import account_ids, pseudonymiser
from schemas.activity import Activity, ActivityKind
from schemas.dead_letter import DeadLetter
from simulator.mattermost_api import MattermostServer, outgoing_webhook_body

SERVER = "chat.example.org"
KEY, ID_KEY = b"pseudonym-key", b"id-key"
TOKEN = "9xuqwrwgstrb3mzrxb83nb357a"
API_TOKEN = "api-token"
NOW = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
SETTINGS = HttpSettings(timeout_s=5, max_attempts=3, backoff_base_s=0.01)


def mm_id(prefix: str) -> str:
    """A Mattermost id (26 lower-case letters and digits) starting with `prefix`."""
    return (prefix + "0" * 26)[:26]


TEAM, CHANNEL, OTHER_CHANNEL = mm_id("team"), mm_id("chan"), mm_id("chanb")
ADA, GRACE, BOB, BOT = mm_id("ada"), mm_id("grace"), mm_id("bob"), mm_id("bot")
DIRECTORY = (
    "person_id,email,team,valid_from,mattermost\n"
    f"e1,ada@example.org,platform,2024-01-01,\ne2,,support,2024-01-01,{GRACE}\n"
)


def at(minutes: float) -> int:
    """Unix milliseconds `minutes` after NOW minus a day."""
    return millis(NOW - timedelta(days=1) + timedelta(minutes=minutes))


def scope() -> MattermostScope:
    return MattermostScope(SERVER, pseudonymiser(KEY, "mattermost", SERVER), account_ids(ID_KEY, "mattermost", SERVER))


def activities_of(records: list) -> list[Activity]:
    return [Activity.from_bytes(record.value) for record in records]


# -- the outgoing webhook ------------------------------------------------------------------------------------


def receiver() -> MattermostWebhookReceiver:
    return MattermostWebhookReceiver("acme", SERVER, TEAM, TOKEN.encode(), scope(), now=lambda: NOW)


def delivery(token: str = TOKEN, as_json: bool = False, **override: object) -> ReceivedRequest:
    fields: dict = {
        "token": token,
        "team_id": TEAM,
        "team_domain": "acme",
        "channel_id": CHANNEL,
        "channel_name": "town-square",
        "timestamp_ms": 1_709_636_400_000,
        "user_id": ADA,
        "user_name": "ada",
        "post_id": mm_id("post1"),
        "text": "#build how do I rotate the deploy key? ask ada@example.org",
        "trigger_word": "#build",
        "file_ids": (mm_id("file1"),),
        "as_json": as_json,
    }
    fields.update(override)
    body, content_type = outgoing_webhook_body(**fields)
    return ReceivedRequest({"content-type": content_type}, body, NOW.timestamp())


class TestWebhook:
    @pytest.mark.parametrize("token", ["wrong-token-0000000000000", ""])
    def test_a_wrong_or_missing_token_is_a_401_and_nothing_is_produced(self, token):
        with pytest.raises(RequestRejected) as caught:
            receiver().receive(delivery(token=token))
        assert caught.value.status == 401

    def test_a_body_that_is_neither_form_nor_json_is_a_401(self):
        request = ReceivedRequest({"content-type": "application/json"}, b"token=" + TOKEN.encode(), NOW.timestamp())
        with pytest.raises(RequestRejected) as caught:
            receiver().receive(request)
        assert caught.value.status == 401

    def test_form_and_json_bodies_give_the_same_message_and_an_empty_answer(self):
        form = receiver().receive(delivery())
        posted = receiver().receive(delivery(as_json=True))
        assert (form.status, form.body, form.content_type) == (200, b"{}", "application/json")
        message, shared = activities_of(form.records)
        assert [a.activity_id for a in activities_of(posted.records)] == [message.activity_id, shared.activity_id]
        assert (message.kind, message.native_id) == (ActivityKind.MESSAGE, mm_id("post1"))
        assert message.conversation.id == f"{CHANNEL}/{mm_id('post1')}" and message.subject == "town-square"
        assert message.occurred_at == datetime(2024, 3, 5, 11, 0, tzinfo=UTC)
        assert "ada@example.org" not in (message.text or "") and "<email>" in (message.text or "")
        assert (shared.kind, shared.native_id) == (ActivityKind.FILE_SHARED, f"{mm_id('post1')}/file/{mm_id('file1')}")

    def test_a_repeated_delivery_gives_the_same_activity(self):
        first, again = receiver().receive(delivery()), receiver().receive(delivery())
        assert [r.value for r in first.records] == [r.value for r in again.records]

    @pytest.mark.parametrize(
        ("override", "reason"),
        [({"post_id": ""}, "post_id"), ({"timestamp_ms": "soon"}, "timestamp")],
    )
    def test_a_malformed_post_is_acknowledged_and_set_aside_without_the_token(self, override, reason):
        receipt = receiver().receive(delivery(as_json=True, **override))
        assert receipt.status == 200 and receipt.records == []
        (letter,) = [DeadLetter.from_bytes(record.value) for record in receipt.dead_letters]
        assert reason in letter.detail and letter.source_topic == f"mattermost:{SERVER}"
        assert TOKEN.encode() not in letter.original and json.loads(letter.original)["user_id"] == ADA

    def test_a_post_of_another_team_is_set_aside(self):
        receipt = receiver().receive(delivery(team_id=mm_id("otherteam")))
        (letter,) = [DeadLetter.from_bytes(record.value) for record in receipt.dead_letters]
        assert receipt.records == [] and "otherteam" in letter.detail


# -- the mapping -----------------------------------------------------------------------------------------------


def api_post(post_id: str, **fields: object) -> dict:
    post = {
        "id": post_id,
        "create_at": at(0),
        "update_at": at(0),
        "edit_at": 0,
        "delete_at": 0,
        "user_id": ADA,
        "channel_id": CHANNEL,
        "root_id": "",
        "original_id": "",
        "message": "hello",
        "type": "",
        "props": {},
        "file_ids": [],
        "metadata": {},
    }
    post.update(fields)
    return post


class TestMapping:
    def test_replies_edits_files_and_reactions(self):
        root = mm_id("root")
        reply = api_post(
            mm_id("reply"),
            root_id=root,
            edit_at=at(5),
            file_ids=[mm_id("f")],
            metadata={
                "files": [{"id": mm_id("f"), "extension": "png"}],
                "reactions": [
                    {"user_id": GRACE, "post_id": mm_id("reply"), "emoji_name": "+1", "create_at": at(6)},
                    {"user_id": ADA, "post_id": mm_id("reply"), "emoji_name": "smile", "create_at": at(7)},
                ],
            },
        )
        post, file, edit, reaction = post_activities(reply, MattermostChannel(CHANNEL, "dev", "O"), scope())
        assert (post.kind, post.in_reply_to, post.conversation.id) == (ActivityKind.REPLY, root, f"{CHANNEL}/{root}")
        assert (file.native_id, file.attributes["filetype"]) == (f"{mm_id('reply')}/file/{mm_id('f')}", "png")
        assert (edit.kind, edit.native_id) == (ActivityKind.MESSAGE_EDITED, f"{mm_id('reply')}/edit/{at(5)}")
        assert reaction.kind is ActivityKind.REACTION  # the author's own reaction is not a response
        opaque = account_ids(ID_KEY, "mattermost", SERVER)(GRACE)
        assert reaction.native_id == f"{mm_id('reply')}/reaction/+1/{opaque}"
        for activity in (post, file, edit, reaction):
            assert GRACE not in activity.native_id and ADA not in activity.native_id
            assert reaction.actor not in activity.native_id

    def test_deletions_system_messages_and_edit_copies(self):
        deleted = api_post(mm_id("gone"), delete_at=at(9))
        (deletion,) = post_activities(deleted, MattermostChannel(CHANNEL), scope())
        assert (deletion.kind, deletion.native_id) == (ActivityKind.ITEM_DELETED, f"{mm_id('gone')}/deleted")
        assert (
            list(
                post_activities(
                    api_post(mm_id("join"), type="system_join_channel"), MattermostChannel(CHANNEL), scope()
                )
            )
            == []
        )
        copy = api_post(mm_id("copy"), original_id=mm_id("gone"), delete_at=at(3))
        assert list(post_activities(copy, MattermostChannel(CHANNEL), scope())) == []

    def test_mentions_become_pseudonyms_and_channel_mentions_stay(self):
        known = MattermostScope(SERVER, scope().pseudonymise, scope().account_id, {"grace": GRACE}.get)
        (post,) = post_activities(
            api_post(mm_id("p"), message="@grace, @here: mail @bob."), MattermostChannel(CHANNEL), known
        )
        assert post.text == f"@{known.pseudonymise(GRACE)}, @here: mail @user."
        assert post.counterpart == known.pseudonymise(GRACE)


# -- the REST API poller ---------------------------------------------------------------------------------------


@pytest.fixture
def mattermost() -> Iterator[MattermostServer]:
    server = MattermostServer(API_TOKEN, BOT)
    server.add_user(BOT, "learnstream-bot", is_bot=True)
    server.add_user(ADA, "ada", "ada@example.org")
    server.add_user(GRACE, "grace")
    server.add_user(BOB, "bob")
    server.add_channel(CHANNEL, "dev", TEAM)
    with server:
        yield server


def source(server: MattermostServer, waits: list[float] | None = None, token: str = API_TOKEN, **options: object):
    headers = {"Authorization": f"Bearer {token}"}
    sleep = (waits if waits is not None else []).append
    http = SourceHttpClient("mattermost", server.api_url, SETTINGS, headers, "MM_TOKEN", sleep)
    resolver = IdentityResolver(directory_from_csv(DIRECTORY), KEY, "mattermost", SERVER, AccountKind.MATTERMOST)
    return MattermostPosts(
        "acme-mm",
        SERVER,
        options.pop("channels", [CHANNEL]),  # type: ignore[arg-type]
        http,
        resolver,
        account_ids(ID_KEY, "mattermost", SERVER),
        batch_size=options.pop("batch_size", 2),  # type: ignore[arg-type]
        backfill_days=options.pop("backfill_days", 2),  # type: ignore[arg-type]
        now=lambda: NOW,
    )


def read_all(batches: Iterator[Batch[MattermostCursor]]) -> list[Batch[MattermostCursor]]:
    return list(batches)


def native_ids(batches: list[Batch[MattermostCursor]]) -> list[str]:
    return [a.native_id for batch in batches for a in activities_of(batch.records)]


class TestApiPoller:
    def test_backfill_pages_across_a_shared_millisecond_and_a_restart_neither_loses_nor_repeats(self, mattermost):
        for index, minute in enumerate([1, 2, 3, 3, 3, 4, 5]):  # three posts in one millisecond
            mattermost.post(mm_id(f"p{index}"), CHANNEL, ADA, at(minute), f"post {index}")
        first = source(mattermost).read(source(mattermost).start_cursor(None))
        before = [next(first), next(first)]
        saved = before[-1].cursor.to_text()
        rest = read_all(source(mattermost).read(cursor_from_text(MattermostCursor, saved, "acme-mm")))
        ids = native_ids(before) + native_ids(rest)
        assert sorted(ids) == sorted(mm_id(f"p{index}") for index in range(7)) and len(ids) == 7
        assert all("since" not in r.params for r in mattermost.api_requests("/posts") if "before" in r.params)
        assert rest[-1].cursor.channels[CHANNEL].backfill_from is None

    def test_live_changes_resume_at_the_same_millisecond_without_loss_or_repetition(self, mattermost):
        src = source(mattermost, backfill_days=0)
        cursor = src.start_cursor(None)
        assert read_all(src.read(cursor)) == []  # nothing changed yet: no batch
        live = millis(NOW)
        for index in range(4):
            mattermost.post(mm_id(f"live{index}"), CHANNEL, ADA, live + (0 if index < 3 else 5), f"live {index}")
        first = source(mattermost, backfill_days=0).read(cursor)
        batch = next(first)  # the first two of the three posts sharing a millisecond
        assert batch.cursor.channels[CHANNEL].update_at == live and len(batch.cursor.channels[CHANNEL].ids_at) == 2
        mattermost.post(mm_id("late"), CHANNEL, BOB, live, "same millisecond, committed later")
        restart = source(mattermost, backfill_days=0)
        rest = read_all(restart.read(cursor_from_text(MattermostCursor, batch.cursor.to_text(), "acme-mm")))
        ids = native_ids([batch]) + native_ids(rest)
        assert sorted(ids) == sorted([*(mm_id(f"live{i}") for i in range(4)), mm_id("late")])
        since = [r.params["since"] for r in mattermost.api_requests("/posts") if "since" in r.params]
        assert since[-1] == str(live - 1)  # asks from the saved millisecond, skipping the ids read there

    def test_edits_deletions_replies_and_reactions_are_read_live(self, mattermost):
        mattermost.post(mm_id("q"), CHANNEL, ADA, at(10), "question")
        src = source(mattermost, backfill_days=0)
        cursor = MattermostCursor.model_validate({"channels": {CHANNEL: {"update_at": at(20)}}})
        mattermost.post(mm_id("a"), CHANNEL, GRACE, at(30), "answer", root_id=mm_id("q"), file_ids=[mm_id("fa")])
        mattermost.edit(mm_id("a"), at(31), "a better answer")
        mattermost.react(mm_id("a"), ADA, "tada", at(32))
        mattermost.post(mm_id("oops"), CHANNEL, BOB, at(33), "wrong channel")
        mattermost.delete(mm_id("oops"), at(34))
        found = {a.native_id: a for batch in read_all(src.read(cursor)) for a in activities_of(batch.records)}
        opaque = account_ids(ID_KEY, "mattermost", SERVER)(ADA)
        assert set(found) == {
            mm_id("q"),  # the root, modified by its reply, mapped again with its id
            mm_id("a"),
            f"{mm_id('a')}/file/{mm_id('fa')}",
            f"{mm_id('a')}/edit/{at(31)}",
            f"{mm_id('a')}/reaction/tada/{opaque}",
            f"{mm_id('oops')}/deleted",
        }
        assert found[mm_id("a")].kind is ActivityKind.REPLY and found[mm_id("a")].text == "a better answer"
        assert found[mm_id("a")].subject == "dev" and found[mm_id("a")].attributes["channel_type"] == "O"

    def test_reactions_are_fetched_when_the_post_list_carries_none(self, mattermost):
        mattermost.metadata_reactions = False
        mattermost.post(mm_id("r"), CHANNEL, ADA, at(30), "react to me")
        mattermost.react(mm_id("r"), GRACE, "heart", at(31))
        cursor = MattermostCursor.model_validate({"channels": {CHANNEL: {"update_at": at(20)}}})
        found = native_ids(read_all(source(mattermost).read(cursor)))
        assert any("/reaction/heart/" in native_id for native_id in found)
        assert mattermost.api_requests(f"/posts/{mm_id('r')}/reactions")

    def test_a_429_waits_as_long_as_retry_after_says(self, mattermost):
        mattermost.post(mm_id("x"), CHANNEL, ADA, at(30), "x")
        mattermost.fail_next(429, retry_after="3")
        waits: list[float] = []
        cursor = MattermostCursor.model_validate({"channels": {CHANNEL: {"update_at": at(20)}}})
        assert mm_id("x") in native_ids(read_all(source(mattermost, waits).read(cursor)))
        assert waits == [3.0]

    def test_a_refused_token_is_a_config_error_naming_the_variable(self, mattermost):
        with pytest.raises(ConfigError, match="MM_TOKEN"):
            source(mattermost, token="wrong").check()

    def test_an_unreadable_post_is_a_dead_letter_and_ids_hold_no_user_id_or_pseudonym(self, mattermost):
        mattermost.post(mm_id("ok"), CHANNEL, ADA, at(30), "fine")
        mattermost.react(mm_id("ok"), BOB, "eyes", at(31))
        mattermost.post(mm_id("bad"), CHANNEL, "", at(32), "no author")
        cursor = MattermostCursor.model_validate({"channels": {CHANNEL: {"update_at": at(20)}}})
        batches = read_all(source(mattermost).read(cursor))
        (letter,) = [DeadLetter.from_bytes(r.value) for batch in batches for r in batch.dead_letters]
        assert "user_id" in letter.detail and json.loads(letter.original)["id"] == mm_id("bad")
        for activity in (a for batch in batches for a in activities_of(batch.records)):
            assert all(user not in activity.native_id for user in (ADA, BOB, GRACE))
            assert activity.actor not in activity.native_id and activity.actor not in activity.activity_id

    def test_check_reports_authors_the_directory_cannot_resolve(self, mattermost):
        mattermost.post(mm_id("1"), CHANNEL, ADA, at(1), "resolved by e-mail")
        mattermost.post(mm_id("2"), CHANNEL, GRACE, at(2), "resolved by the account HR listed")
        mattermost.post(mm_id("3"), CHANNEL, BOB, at(3), "not in the directory")
        report = source(mattermost).check()
        assert (report.accounts_seen, report.unresolved_accounts) == (3, 1)
        assert any("learnstream-bot" in line for line in report.lines())
        assert mattermost.api_requests("/users/me") and mattermost.api_requests(f"/channels/{CHANNEL}")


def test_config_models_name_secrets_by_variable_and_claim_their_slices():
    api = MattermostApiConfig(
        name="acme-mm", type="mattermost-api", server=SERVER, api_url="https://chat.example.org/api/v4/",
        token_env="MM_TOKEN", channels=[CHANNEL, OTHER_CHANNEL],
    )  # fmt: skip
    hook = MattermostWebhookConfig(
        name="acme-hook", type="mattermost-webhook", server=SERVER, team_id=TEAM, token_env="T"
    )
    assert api.slice() == (f"mattermost:{SERVER}", frozenset({CHANNEL, OTHER_CHANNEL}))
    assert hook.slice()[0] == api.slice()[0] and not (hook.slice()[1] or set()) & set(api.channels)
    with pytest.raises(ValueError):
        MattermostApiConfig(name="x", type="mattermost-api", server=SERVER, api_url="u", token_env="T", channels=[])
