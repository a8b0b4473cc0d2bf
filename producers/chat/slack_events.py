"""The Slack Events API receiver: verify the signature, answer the URL check, map events to activities.

Slack signs every request: `X-Slack-Signature` is `v0=` and the hex HMAC-SHA256 of
`v0:<X-Slack-Request-Timestamp>:<raw body>` under the app's signing secret; a timestamp more than five minutes
from now is refused, so a captured request cannot be replayed later. Slack retries a request it got no 2xx for
within three seconds (with `X-Slack-Retry-Num`); a retried event maps to the same activity ids, so a retry is
harmless downstream.

Mapped: messages and thread replies (with a `file_shared` activity per file), edits (`message_changed` whose
`edited` stamp is new: Slack also sends `message_changed` when only an unfurl or a reply count changed),
deletions (`message_deleted`), and `reaction_added` on messages. Removed reactions are not activity. A
signed event the mapping cannot use is set aside as a dead letter and still acknowledged (a retry would not fix
it); an event from another workspace than the instance's is set aside too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from learnstream.errors import RequestRejected
from producers.chat.slack_channel_types import LearntChannelTypes
from producers.chat.slack_messages import (
    SKIPPED_SUBTYPES,
    Channel,
    SlackScope,
    deletion_activity,
    edit_activity,
    post_activities,
    reaction_activity,
    slack_time,
)
from producers.contracts import CheckReport, OutgoingRecord, Receipt, ReceivedRequest
from producers.dead_letters import source_dead_letter
from schemas.activity import Activity, ConversationKind, ConversationRef, SourceSystem

logger = logging.getLogger(__name__)

SIGNATURE_VERSION = "v0"
#: Requests signed further from now than this are refused (Slack's own recommendation: five minutes).
MAX_CLOCK_SKEW_S = 300
MAPPING_ERRORS = (KeyError, TypeError, ValueError, ValidationError)
#: Channel id prefixes: D a direct message, G a legacy private channel or group DM, C a channel.
DIRECT_PREFIX, GROUP_PREFIX = "D", "G"


def slack_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The `X-Slack-Signature` value Slack sends for a body at a timestamp."""
    base = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    return f"{SIGNATURE_VERSION}=" + hmac.new(secret, base, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, headers: Mapping[str, str], body: bytes, now: float) -> None:
    """Refuse (401) a request without a valid, fresh Slack signature. `headers` has lower-case names."""
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature:
        raise RequestRejected(401, "missing X-Slack-Request-Timestamp or X-Slack-Signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise RequestRejected(401, "X-Slack-Request-Timestamp is not a Unix time") from None
    if abs(now - sent_at) > MAX_CLOCK_SKEW_S:
        raise RequestRejected(401, "the request timestamp is more than 5 minutes from now (a replay, or a clock off)")
    if not hmac.compare_digest(slack_signature(secret, timestamp, body), signature):
        raise RequestRejected(401, "the Slack signature does not match the body (check the signing secret)")


@dataclass(frozen=True)
class ChannelFilter:
    """Which channels an instance reads: its channel list (all if empty); private and direct ones only if asked."""

    channels: frozenset[str] = frozenset()
    include_private: bool = False
    include_direct: bool = False

    def keeps(self, channel: Channel) -> bool:
        """Whether events in this channel belong to the instance."""
        if channel.type in ("im", "mpim") and not self.include_direct:
            return False
        if channel.type in ("group", "private_channel", UNKNOWN_TYPE) and not self.include_private:
            return False
        return not self.channels or channel.id in self.channels


#: The type of a channel the receiver cannot tell: kept only where private channels are.
UNKNOWN_TYPE = "unknown"


def channel_type_of(channel_id: str, given: Any, known: Mapping[str, str]) -> str:
    """The channel type an event gives, else the one learnt for the channel, else the one its id implies.

    Reactions carry no channel type, and Slack gives new private channels `C` ids like public ones: a `C`
    channel the receiver has not learnt (from a message event there, or from `conversations.list` with a bot
    token) is of unknown type, so it is treated as possibly private.
    """
    if isinstance(given, str) and given:
        return given
    if channel_id in known:
        return known[channel_id]
    if channel_id.startswith(DIRECT_PREFIX):
        return "im"
    if channel_id.startswith(GROUP_PREFIX):
        return "group"
    return UNKNOWN_TYPE


def activities_from_event(
    event: Mapping[str, Any], keep: ChannelFilter, scope: SlackScope, channel_types: dict[str, str]
) -> list[Activity]:
    """The activities of one event (the `event` of an `event_callback`); [] for what is not activity or is
    outside the instance's channels. A message event teaches `channel_types` its channel's type (for the
    reactions that follow). Raises a MAPPING_ERRORS exception for an event it cannot read."""
    kind = event["type"]
    if kind == "message":
        channel_id = str(event["channel"])
        channel = Channel(id=channel_id, type=channel_type_of(channel_id, event.get("channel_type"), channel_types))
        if isinstance(event.get("channel_type"), str):
            channel_types[channel_id] = str(event["channel_type"])
        return message_activities(event, channel, scope) if keep.keeps(channel) else []
    if kind == "reaction_added":
        item = event["item"]
        if item.get("type") != "message":
            return []  # reactions on files and file comments: not in a conversation
        channel = Channel(id=str(item["channel"]), type=channel_type_of(str(item["channel"]), None, channel_types))
        if not keep.keeps(channel):
            return []
        item_ts = str(item["ts"])
        return [
            reaction_activity(
                user=str(event["user"]),
                reaction=str(event["reaction"]),
                item_ts=item_ts,
                item_author=str(event["item_user"]) if event.get("item_user") else None,
                occurred_at=slack_time(str(event["event_ts"])),
                # the event does not say which thread the message is in; the message stands for its thread
                conversation=ConversationRef(kind=ConversationKind.THREAD, id=f"{channel.id}/{item_ts}"),
                channel=channel,
                scope=scope,
            )
        ]
    return []


def message_activities(event: Mapping[str, Any], channel: Channel, scope: SlackScope) -> list[Activity]:
    """A `message` event by subtype: a post, an edit, a deletion, or nothing (notices, parent updates)."""
    subtype = event.get("subtype")
    if subtype in SKIPPED_SUBTYPES or subtype == "message_replied":
        return []
    if subtype == "message_changed":
        message, previous = event["message"], event.get("previous_message") or {}
        edited, before = message.get("edited") or {}, previous.get("edited") or {}
        if not edited.get("ts") or edited.get("ts") == before.get("ts"):
            return []  # an unfurl, a reply count: the text was not edited
        edit = edit_activity(message, channel, scope)
        return [edit] if edit is not None else []
    if subtype == "message_deleted":
        previous = event.get("previous_message")
        if not isinstance(previous, Mapping):
            raise ValueError("a message_deleted event without previous_message names no author")
        return [deletion_activity(previous, str(event.get("event_ts") or event["ts"]), channel, scope)]
    return list(post_activities(event, channel, scope))


class SlackEventsReceiver:
    """One Slack app subscription for one workspace, at `/hooks/slack/<name>`."""

    blocking = False  # verifies and maps from the request alone

    def __init__(
        self,
        name: str,
        workspace: str,
        signing_secret: bytes,
        scope: SlackScope,
        keep: ChannelFilter,
        max_body_bytes: int = 1_048_576,
        check_users: Callable[[], CheckReport] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        channel_types: Mapping[str, str] | None = None,
        learnt: LearntChannelTypes | None = None,
    ) -> None:
        self.name = name
        self.path = f"/hooks/slack/{name}"
        self.workspace = workspace
        self.signing_secret = signing_secret
        self.scope = scope
        self.keep = keep
        self.max_body_bytes = max_body_bytes
        self.check_users = check_users
        self.now = now
        self.learnt = learnt
        # what a bot token listed at start wins over what was learnt before a restart
        self.channel_types = {**(learnt.load() if learnt is not None else {}), **(channel_types or {})}

    def check(self) -> CheckReport:
        """The signing secret is set; with a bot token, the workspace's users and how many the directory resolves."""
        checks = [f"signing secret set; Slack posts to {self.path} (workspace {self.workspace})"]
        if self.check_users is None:
            return CheckReport([*checks, "no bot token: users are resolved by the accounts HR listed only"])
        users = self.check_users()
        return CheckReport([*checks, *users.checks], users.accounts_seen, users.unresolved_accounts)

    def receive(self, request: ReceivedRequest) -> Receipt:
        """Verify, then answer the URL check or map the event; unusable events become dead letters."""
        verify_signature(self.signing_secret, request.headers, request.body, request.received_at)
        try:
            envelope = json.loads(request.body)
        except ValueError:
            raise RequestRejected(400, "the body is not JSON (the Events API posts application/json)") from None
        if not isinstance(envelope, dict):
            raise RequestRejected(400, "the body is not a JSON object")
        kind = envelope.get("type")
        if kind == "url_verification":
            return Receipt(200, json.dumps({"challenge": envelope.get("challenge")}).encode(), "application/json")
        if kind == "app_rate_limited":
            logger.warning(
                "%s: Slack dropped events for exceeding its rate limit (minute %s)",
                self.name,
                envelope.get("minute_rate_limited"),
            )
            return Receipt(200)
        if kind != "event_callback":
            return self.set_aside(request, f"unknown envelope type {kind!r}")
        if envelope.get("team_id") != self.workspace:
            return self.set_aside(
                request, f"event from workspace {envelope.get('team_id')!r}; {self.name} reads {self.workspace}"
            )
        retry = request.headers.get("x-slack-retry-num")
        if retry:
            logger.info(
                "%s: Slack retry %s of event %s (%s)",
                self.name,
                retry,
                envelope.get("event_id"),
                request.headers.get("x-slack-retry-reason"),
            )
        try:
            event = envelope["event"]
            if not isinstance(event, dict):
                raise TypeError("event is not an object")
            activities = activities_from_event(event, self.keep, self.scope, self.channel_types)
        except MAPPING_ERRORS as exc:
            return self.set_aside(
                request, f"event {envelope.get('event_id')} cannot be mapped: {type(exc).__name__}: {exc}"
            )
        if self.learnt is not None and isinstance(event.get("channel_type"), str):
            self.learnt.save_if_changed(self.channel_types, str(event.get("channel")))
        records = [OutgoingRecord(a.conversation_key.encode("utf-8"), a.to_bytes()) for a in activities]
        return Receipt(200, records=records)

    def set_aside(self, request: ReceivedRequest, detail: str) -> Receipt:
        """Acknowledge a signed request that holds nothing usable, keeping it as a dead letter with the reason."""
        logger.warning("%s: %s (set aside in the dead-letter topic)", self.name, detail)
        letter = source_dead_letter(SourceSystem.SLACK, self.workspace, detail, request.body, self.now())
        return Receipt(200, dead_letters=[letter])
