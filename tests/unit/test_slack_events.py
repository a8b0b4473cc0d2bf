"""The Slack Events API receiver, request by request: signatures, the URL check, and each event's activities.

Payloads are built field for field from Slack's Events API documentation (event_callback envelopes; the
`message`, `message_changed`, `message_deleted`, `reaction_added` events; `files` on a message).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from learnstream.errors import RequestRejected
from producers.chat.slack_channel_types import LearntChannelTypes
from producers.chat.slack_events import ChannelFilter, SlackEventsReceiver, slack_signature, verify_signature
from producers.chat.slack_messages import SlackScope
from producers.contracts import ReceivedRequest
from producers.pseudonymise import account_ids, pseudonymiser
from schemas.activity import Activity, ActivityKind
from schemas.dead_letter import DeadLetter, DeadLetterReason

SECRET = b"8f742231b10e8888abcd99yyyzzz85a5"
KEY, ID_KEY = b"pseudonym-key", b"id-key"
TEAM = "T0001ABCD"
NOW = 1_700_000_100.0


EVERY_CHANNEL = ChannelFilter()


#: Channel types as a bot token's conversations.list gives them.
LISTED = {"C0CHANNEL1": "channel"}


def receiver(keep: ChannelFilter = EVERY_CHANNEL, listed: dict[str, str] = LISTED) -> SlackEventsReceiver:
    scope = SlackScope(TEAM, pseudonymiser(KEY, "slack", TEAM), account_ids(ID_KEY, "slack", TEAM))
    now = lambda: datetime.fromtimestamp(NOW, UTC)  # noqa: E731
    return SlackEventsReceiver("acme", TEAM, SECRET, scope, keep, now=now, channel_types=listed)


def signed(body: dict[str, Any] | bytes, at: float = NOW, secret: bytes = SECRET, **extra: str) -> ReceivedRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    timestamp = str(int(at))
    headers = {
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": slack_signature(secret, timestamp, raw),
        **extra,
    }
    return ReceivedRequest(headers, raw, NOW)


def callback(event: dict[str, Any], team: str = TEAM, event_id: str = "Ev0001") -> dict[str, Any]:
    return {
        "token": "deprecated-verification-token",
        "team_id": team,
        "api_app_id": "A0001",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "authorizations": [{"team_id": team, "user_id": "U0BOT0001", "is_bot": True}],
    }


MESSAGE = {
    "type": "message",
    "channel": "C0CHANNEL1",
    "channel_type": "channel",
    "user": "U0ASKER001",
    "text": "how do I rotate the deploy key?",
    "ts": "1700000000.000100",
    "event_ts": "1700000000.000100",
}
#: A reaction to MESSAGE's ts in a channel no listing names: its type is known only once a message there taught it.
REACTION_IN_UNLISTED_CHANNEL = {
    "type": "reaction_added",
    "user": "U0HELPER01",
    "reaction": "+1",
    "item_user": "U0ASKER001",
    "item": {"type": "message", "channel": "C0UNKNOWN1", "ts": MESSAGE["ts"]},
    "event_ts": "2.0",
}


def activities(request: ReceivedRequest, keep: ChannelFilter = EVERY_CHANNEL) -> list[Activity]:
    receipt = receiver(keep).receive(request)
    assert receipt.status == 200 and receipt.dead_letters == []
    return [Activity.from_bytes(record.value) for record in receipt.records]


class TestSignature:
    def test_slacks_documented_example_verifies(self):
        # the worked example of Slack's "Verifying requests from Slack" page
        body = (
            b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
            b"channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
            b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRs"
            b"kXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
        )
        expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        assert slack_signature(b"8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body) == expected

    def test_a_valid_signature_passes(self):
        request = signed(b"{}")
        verify_signature(SECRET, request.headers, request.body, NOW)

    @pytest.mark.parametrize(
        ("change", "why"),
        [
            ({"secret": b"another-secret"}, "does not match"),
            ({"at": NOW - 301}, "5 minutes"),
            ({"at": NOW + 301}, "5 minutes"),
        ],
    )
    def test_wrong_secret_and_stale_or_future_timestamps_are_refused(self, change, why):
        request = signed(callback(MESSAGE), **change)
        with pytest.raises(RequestRejected, match=why) as caught:
            receiver().receive(request)
        assert caught.value.status == 401

    def test_a_body_changed_after_signing_is_refused(self):
        request = signed(callback(MESSAGE))
        tampered = ReceivedRequest(request.headers, request.body.replace(b"rotate", b"delete"), NOW)
        with pytest.raises(RequestRejected):
            receiver().receive(tampered)

    def test_missing_headers_are_refused(self):
        with pytest.raises(RequestRejected, match="missing") as caught:
            receiver().receive(ReceivedRequest({}, b"{}", NOW))
        assert caught.value.status == 401

    def test_the_edge_of_the_window_is_accepted(self):
        assert receiver().receive(signed(callback(MESSAGE), at=NOW - 300)).status == 200


class TestEnvelope:
    def test_url_verification_echoes_the_challenge(self):
        challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
        receipt = receiver().receive(signed({"token": "t", "challenge": challenge, "type": "url_verification"}))
        assert (receipt.status, receipt.content_type) == (200, "application/json")
        assert json.loads(receipt.body) == {"challenge": challenge}
        assert receipt.records == []

    def test_a_signed_body_that_is_not_json_is_a_400(self):
        with pytest.raises(RequestRejected) as caught:
            receiver().receive(signed(b"payload=not-json"))
        assert caught.value.status == 400

    def test_an_event_of_another_workspace_is_acknowledged_and_set_aside(self):
        receipt = receiver().receive(signed(callback(MESSAGE, team="T0OTHER01")))
        assert receipt.status == 200 and receipt.records == []
        (letter,) = [DeadLetter.from_bytes(record.value) for record in receipt.dead_letters]
        assert letter.reason is DeadLetterReason.SOURCE_RECORD_INVALID
        assert "T0OTHER01" in letter.detail and letter.stage == "connector"
        assert json.loads(letter.original)["team_id"] == "T0OTHER01"

    def test_an_event_that_cannot_be_mapped_is_acknowledged_and_set_aside_with_its_bytes(self):
        broken = {key: value for key, value in MESSAGE.items() if key != "ts"}
        request = signed(callback(broken))
        receipt = receiver().receive(request)
        assert receipt.status == 200 and receipt.records == []
        (letter,) = [DeadLetter.from_bytes(record.value) for record in receipt.dead_letters]
        assert "KeyError" in letter.detail and "Ev0001" in letter.detail
        assert letter.original == request.body

    def test_a_retry_of_the_same_event_gives_the_same_activity(self):
        first = activities(signed(callback(MESSAGE)))
        retried = activities(signed(callback(MESSAGE), at=NOW + 60, **{"x-slack-retry-num": "1"}))
        assert [a.activity_id for a in retried] == [a.activity_id for a in first]
        assert [a.to_bytes() for a in retried] == [a.to_bytes() for a in first]


class TestEvents:
    def test_a_message_is_a_message_keyed_by_its_thread(self):
        (message,) = activities(signed(callback(MESSAGE)))
        assert message.kind is ActivityKind.MESSAGE
        assert message.native_id == "C0CHANNEL1/1700000000.000100"
        assert message.conversation.id == "C0CHANNEL1/1700000000.000100"
        assert message.actor == pseudonymiser(KEY, "slack", TEAM)("U0ASKER001")
        assert message.text == "how do I rotate the deploy key?"
        assert message.source_instance == TEAM

    def test_a_thread_reply_lands_in_its_questions_conversation(self):
        reply = {**MESSAGE, "user": "U0HELPER01", "ts": "1700000050.000200", "thread_ts": "1700000000.000100"}
        (activity,) = activities(signed(callback(reply)))
        assert activity.kind is ActivityKind.REPLY
        assert activity.in_reply_to == "C0CHANNEL1/1700000000.000100"
        assert activity.conversation.id == "C0CHANNEL1/1700000000.000100"

    def test_a_message_with_files_gives_a_file_shared_activity_per_file(self):
        with_files = {**MESSAGE, "files": [{"id": "F0001", "filetype": "pdf"}, {"id": "F0002", "filetype": "png"}]}
        post, *shares = activities(signed(callback(with_files)))
        assert post.attributes["files"] == 2
        assert [share.kind for share in shares] == [ActivityKind.FILE_SHARED] * 2
        assert [share.native_id for share in shares] == [
            "C0CHANNEL1/1700000000.000100/file/F0001",
            "C0CHANNEL1/1700000000.000100/file/F0002",
        ]

    def test_an_edit_is_an_edit_with_the_new_text(self):
        changed = {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": "C0CHANNEL1",
            "channel_type": "channel",
            "ts": "1700000090.000300",
            "event_ts": "1700000090.000300",
            "message": {
                **{k: MESSAGE[k] for k in ("type", "user", "ts")},
                "text": "how do I rotate the deploy key on staging?",
                "edited": {"user": "U0ASKER001", "ts": "1700000090.000000"},
            },
            "previous_message": {k: MESSAGE[k] for k in ("type", "user", "text", "ts")},
        }
        (edit,) = activities(signed(callback(changed)))
        assert edit.kind is ActivityKind.MESSAGE_EDITED
        assert edit.native_id == "C0CHANNEL1/1700000000.000100/edit/1700000090.000000"
        assert edit.in_reply_to == "C0CHANNEL1/1700000000.000100"
        assert edit.text == "how do I rotate the deploy key on staging?"
        assert edit.occurred_at == datetime.fromtimestamp(1_700_000_090, UTC)

    def test_a_change_without_a_new_edit_stamp_is_not_an_edit(self):
        unfurled = {
            "type": "message",
            "subtype": "message_changed",
            "channel": "C0CHANNEL1",
            "ts": "1700000095.000400",
            "message": {**{k: MESSAGE[k] for k in ("type", "user", "text", "ts")}, "attachments": [{"id": 1}]},
            "previous_message": {k: MESSAGE[k] for k in ("type", "user", "text", "ts")},
        }
        assert activities(signed(callback(unfurled))) == []

    def test_a_deletion_names_the_deleted_message(self):
        deleted = {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "channel": "C0CHANNEL1",
            "channel_type": "channel",
            "ts": "1700000120.000500",
            "deleted_ts": "1700000000.000100",
            "event_ts": "1700000120.000500",
            "previous_message": {k: MESSAGE[k] for k in ("type", "user", "text", "ts")},
        }
        (deletion,) = activities(signed(callback(deleted)))
        assert deletion.kind is ActivityKind.ITEM_DELETED
        assert deletion.native_id == "C0CHANNEL1/1700000000.000100/deleted"
        assert deletion.in_reply_to == "C0CHANNEL1/1700000000.000100"
        assert deletion.text is None

    def test_a_reaction_names_the_reacting_account_by_opaque_id_only(self):
        reaction = {
            "type": "reaction_added",
            "user": "U0HELPER01",
            "reaction": "pray",
            "item_user": "U0ASKER001",
            "item": {"type": "message", "channel": "C0CHANNEL1", "ts": "1700000000.000100"},
            "event_ts": "1700000200.000600",
        }
        (activity,) = activities(signed(callback(reaction)))
        assert activity.kind is ActivityKind.REACTION
        assert activity.counterpart == pseudonymiser(KEY, "slack", TEAM)("U0ASKER001")
        assert "U0HELPER01" not in activity.native_id and activity.actor not in activity.native_id
        assert activity.native_id.endswith(account_ids(ID_KEY, "slack", TEAM)("U0HELPER01"))
        assert activity.attributes == {"reaction": "pray"}

    def test_channel_notices_and_reactions_on_files_are_not_activity(self):
        join = {**MESSAGE, "subtype": "channel_join", "text": "<@U0ASKER001> has joined the channel"}
        on_file = {
            "type": "reaction_added",
            "user": "U1",
            "reaction": "+1",
            "item": {"type": "file", "file": "F1"},
            "event_ts": "1700000200.000600",
        }
        assert activities(signed(callback(join))) == []
        assert activities(signed(callback(on_file))) == []

    @pytest.mark.parametrize(
        ("channel", "channel_type", "keep", "kept"),
        [
            ("D0DIRECT01", "im", ChannelFilter(), False),
            ("D0DIRECT01", "im", ChannelFilter(include_direct=True), True),
            ("G0GROUPDM1", "mpim", ChannelFilter(), False),
            ("C0PRIVATE1", "group", ChannelFilter(), False),
            ("C0PRIVATE1", "group", ChannelFilter(include_private=True), True),
            ("C0CHANNEL1", "channel", ChannelFilter(frozenset({"C0OTHER001"})), False),
            ("C0CHANNEL1", "channel", ChannelFilter(frozenset({"C0CHANNEL1"})), True),
        ],
    )
    def test_direct_messages_and_private_channels_only_when_configured(self, channel, channel_type, keep, kept):
        event = {**MESSAGE, "channel": channel, "channel_type": channel_type}
        assert len(activities(signed(callback(event)), keep)) == (1 if kept else 0)

    def test_a_reaction_in_a_channel_of_unknown_type_counts_as_private(self):
        reaction = {
            "type": "reaction_added",
            "user": "U0HELPER01",
            "reaction": "+1",
            "item_user": "U0ASKER001",
            "item": {"type": "message", "channel": "C0UNKNOWN1", "ts": "1.0"},
            "event_ts": "2.0",
        }
        unlisted = receiver(listed={})
        assert unlisted.receive(signed(callback(reaction))).records == []  # Slack gives private channels C ids too
        assert (
            len(receiver(ChannelFilter(include_private=True), listed={}).receive(signed(callback(reaction))).records)
            == 1
        )

    def test_a_message_teaches_the_receiver_its_channels_type_for_later_reactions(self):
        learning = receiver(listed={})
        public = {**MESSAGE, "channel": "C0UNKNOWN1"}
        reaction = REACTION_IN_UNLISTED_CHANNEL
        assert len(learning.receive(signed(callback(public))).records) == 1
        assert len(learning.receive(signed(callback(reaction))).records) == 1
        private = receiver(listed={})
        private.receive(signed(callback({**public, "channel_type": "group"})))
        assert private.receive(signed(callback(reaction))).records == []

    def test_learnt_channel_types_survive_a_restart(self, tmp_path):
        def restarted(listed: dict[str, str] | None = None) -> SlackEventsReceiver:
            scope = SlackScope(TEAM, pseudonymiser(KEY, "slack", TEAM), account_ids(ID_KEY, "slack", TEAM))
            learnt = LearntChannelTypes.for_receiver(tmp_path, "acme")
            return SlackEventsReceiver("acme", TEAM, SECRET, scope, EVERY_CHANNEL, channel_types=listed, learnt=learnt)

        reaction = REACTION_IN_UNLISTED_CHANNEL
        first = restarted()
        first.receive(signed(callback({**MESSAGE, "channel": "C0UNKNOWN1"})))  # learnt: a public channel
        assert len(restarted().receive(signed(callback(reaction))).records) == 1  # after a restart: still known
        saved = (tmp_path / "slack" / "acme.channel-types.json").read_text()
        assert json.loads(saved) == {"C0UNKNOWN1": "channel"}
        first.receive(signed(callback({**MESSAGE, "channel": "C0UNKNOWN1", "channel_type": "group"})))  # made private
        assert restarted().receive(signed(callback(reaction))).records == []
        assert len(restarted(listed={"C0UNKNOWN1": "channel"}).receive(signed(callback(reaction))).records) == 1

    def test_an_unreadable_file_of_learnt_types_is_learnt_again(self, tmp_path):
        learnt = LearntChannelTypes.for_receiver(tmp_path, "acme")
        learnt.path.parent.mkdir(parents=True)
        learnt.path.write_text("{not json")
        assert learnt.load() == {}
        learnt.save_if_changed({"C1": "channel"}, "C1")
        assert LearntChannelTypes.for_receiver(tmp_path, "acme").load() == {"C1": "channel"}

    def test_a_reaction_in_a_direct_message_is_excluded_by_the_channel_id(self):
        reaction = {
            "type": "reaction_added",
            "user": "U0HELPER01",
            "reaction": "+1",
            "item_user": "U0ASKER001",
            "item": {"type": "message", "channel": "D0DIRECT01", "ts": "1.0"},
            "event_ts": "2.0",
        }
        assert activities(signed(callback(reaction))) == []


def test_signature_check_uses_the_time_the_request_arrived():
    request = signed(callback(MESSAGE), at=time.time())
    live = ReceivedRequest(request.headers, request.body, time.time())
    assert receiver().receive(live).status == 200
