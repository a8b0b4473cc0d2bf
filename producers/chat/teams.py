"""Microsoft Teams channel messages as activities: a Graph `chatMessage` mapped the same way however it was fetched.

A message is Graph's v1.0 `chatMessage` (`id`, `replyToId`, `messageType`, `createdDateTime`,
`lastModifiedDateTime`, `lastEditedDateTime`, `deletedDateTime`, `from.user.id` or `from.application.id`,
`body.contentType`/`body.content`, `attachments`, `mentions`, `reactions`, `channelIdentity.teamId`/`channelId`,
`chatId`); times are ISO 8601 in UTC. Native ids:
- a message: its id; a reply (`replyToId` set) lands in its root's thread `<channel id>/<root message id>`;
- a file posted with it (an attachment of `contentType` `reference`): `<message id>/file/<attachment id>`;
- an edit: `<message id>/edit/<lastEditedDateTime as epoch ms>`; a deletion: `<message id>/deleted`;
- a reaction: `<message id>/reaction/<reactionType>/<opaque account id>`, never a raw user id or a pseudonym.

The edit is dated by `lastEditedDateTime`, which Graph sets only when the text was edited: `lastModifiedDateTime`
also moves when someone reacts, and would turn every reaction into an edit. System messages (`messageType` other
than `message`: `systemEventMessage`, `chatEvent`, `typing`) are skipped. The body is HTML: tags are stripped,
`<at id="n">Name</at>` mentions become `@` and the mentioned person's pseudonym (display names are not kept), and
e-mail addresses are removed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from producers.pseudonymise import AccountIds, Pseudonymiser
from schemas.activity import Activity, ActivityKind, ConversationKind, ConversationRef, SourceSystem

#: The only `messageType` a person writes; the others are Teams' own events.
PERSON_MESSAGE = "message"
#: The attachment `contentType` of a file shared from OneDrive or SharePoint.
FILE_ATTACHMENT = "reference"
MAX_TEXT = 40_000
#: What a mapper raises for a message it cannot use; callers set such a message aside as a dead letter.
MAPPING_ERRORS = (KeyError, TypeError, ValueError, ValidationError)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_AT = re.compile(r"<at\b[^>]*\bid=\"?(\d+)\"?[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)
_BREAK = re.compile(r"<\s*(br|/p|/div|/li)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"[ \t\r\f\v]+")


@dataclass(frozen=True)
class TeamsScope:
    """One Microsoft Entra tenant as a source instance: its id, and how its accounts become pseudonyms and ids."""

    instance: str
    pseudonymise: Pseudonymiser
    account_id: AccountIds


def graph_time(value: Any, field: str) -> datetime:
    """An ISO 8601 time of Graph (`2024-03-05T11:00:00.1234567Z`) as an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field} is {type(value).__name__} {value!r}, expected an ISO 8601 time")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def epoch_millis(moment: datetime) -> int:
    """An aware datetime as Unix milliseconds."""
    return int(moment.timestamp() * 1000)


def text_of(message: Mapping[str, Any], field: str) -> str:
    """A field that must be non-empty text; a ValueError naming it otherwise."""
    value = message.get(field)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field} is {type(value).__name__} {value!r}, expected non-empty text")
    return value


def identity_id(identity_set: Any, field: str) -> tuple[str, bool] | None:
    """(id, is an application) of an identitySet (`from`, a reaction's `user`): its user, else its application."""
    if identity_set is None:
        return None
    if not isinstance(identity_set, Mapping):
        raise TypeError(f"{field} is not an identitySet")
    for kind, is_app in (("user", False), ("application", True)):
        identity = identity_set.get(kind)
        if isinstance(identity, Mapping) and isinstance(identity.get("id"), str) and identity["id"]:
            return identity["id"], is_app
    return None


def channel_of(message: Mapping[str, Any]) -> str:
    """The conversation a message sits in: its channel id, or its chat id for a message of a chat."""
    identity = message.get("channelIdentity")
    if isinstance(identity, Mapping) and isinstance(identity.get("channelId"), str) and identity["channelId"]:
        return str(identity["channelId"])
    if isinstance(message.get("chatId"), str) and message["chatId"]:
        return str(message["chatId"])
    raise ValueError("the message has neither channelIdentity.channelId nor chatId")


def mentioned_users(message: Mapping[str, Any]) -> dict[str, str]:
    """Mention id (as in `<at id="n">`) -> the mentioned user's id, for mentions of users."""
    found: dict[str, str] = {}
    mentions = message.get("mentions") or []
    if not isinstance(mentions, list):
        raise TypeError("mentions is not a list")
    for mention in mentions:
        if not isinstance(mention, Mapping):
            raise TypeError("a mention is not an object")
        mentioned = identity_id(mention.get("mentioned"), "mentions.mentioned")
        if mentioned is not None and not mentioned[1]:
            found[str(mention.get("id"))] = mentioned[0]
    return found


def plain_text(message: Mapping[str, Any], scope: TeamsScope) -> str:
    """The body as text for classification: HTML stripped, mentions as pseudonyms, no e-mail addresses."""
    body = message.get("body") or {}
    if not isinstance(body, Mapping):
        raise TypeError("body is not an itemBody")
    content = body.get("content") or ""
    if not isinstance(content, str):
        raise TypeError(f"body.content is {type(content).__name__}, expected text")
    if str(body.get("contentType", "text")).lower() == "html":
        users = mentioned_users(message)

        def mention(match: re.Match[str]) -> str:
            user = users.get(match.group(1))
            return f"@{scope.pseudonymise(user) if user else 'user'}"

        content = _TAG.sub("", _BREAK.sub("\n", _AT.sub(mention, content)))
        content = html.unescape(content).replace("\xa0", " ")
    lines = (_SPACE.sub(" ", line).strip() for line in content.splitlines())
    return _EMAIL.sub("<email>", "\n".join(line for line in lines if line))[:MAX_TEXT]


def files_of(message: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """(attachment id, file extension) of each file shared with a message; cards and quoted messages are not files."""
    attachments = message.get("attachments") or []
    if not isinstance(attachments, list):
        raise TypeError("attachments is not a list")
    files = []
    for attachment in attachments:
        if not isinstance(attachment, Mapping):
            raise TypeError("an attachment is not an object")
        if attachment.get("contentType") != FILE_ATTACHMENT:
            continue
        name = attachment.get("name")
        extension = name.rsplit(".", 1)[1].lower() if isinstance(name, str) and "." in name else None
        files.append((text_of(attachment, "id"), extension))
    return files


def message_activities(
    message: Mapping[str, Any], scope: TeamsScope, channel_name: str | None = None
) -> Iterator[Activity]:
    """Everything a message records as it now reads: the message (or reply), its files, its last edit and its
    reactions; only its deletion once deleted. Nothing for a system message.

    Raises a MAPPING_ERRORS exception for a message that lacks what an activity needs.
    """
    if message.get("messageType", PERSON_MESSAGE) != PERSON_MESSAGE:
        return
    message_id = text_of(message, "id")
    sender = identity_id(message.get("from"), "from")
    if sender is None:
        raise ValueError("from names no user and no application")
    author, is_app = sender
    reply_to = message.get("replyToId") or None
    if reply_to is not None and not isinstance(reply_to, str):
        raise TypeError(f"replyToId is {type(reply_to).__name__}, expected a message id")
    channel = channel_of(message)
    conversation = ConversationRef(kind=ConversationKind.THREAD, id=f"{channel}/{reply_to or message_id}")
    attributes: dict[str, str | int | float | bool] = {"bot": True} if is_app else {}
    common = {
        "source": SourceSystem.TEAMS,
        "source_instance": scope.instance,
        "actor": scope.pseudonymise(author),
        "conversation": conversation,
        "subject": channel_name,
    }
    if message.get("deletedDateTime"):  # the text is gone, as its author wished: only the deletion is recorded
        yield Activity.create(
            **common,
            native_id=f"{message_id}/deleted",
            kind=ActivityKind.ITEM_DELETED,
            occurred_at=graph_time(message["deletedDateTime"], "deletedDateTime"),
            in_reply_to=message_id,
            attributes=attributes,
        )
        return
    created = graph_time(message.get("createdDateTime"), "createdDateTime")
    text = plain_text(message, scope)
    files = files_of(message)
    mentioned = [user for user in mentioned_users(message).values() if user != author]
    yield Activity.create(
        **common,
        native_id=message_id,
        kind=ActivityKind.REPLY if reply_to else ActivityKind.MESSAGE,
        occurred_at=created,
        in_reply_to=reply_to,
        counterpart=scope.pseudonymise(mentioned[0]) if mentioned else None,
        text=text,
        attributes={**attributes, "files": len(files)} if files else attributes,
    )
    for attachment_id, extension in files:
        yield Activity.create(
            **common,
            native_id=f"{message_id}/file/{attachment_id}",
            kind=ActivityKind.FILE_SHARED,
            occurred_at=created,
            in_reply_to=message_id,
            attributes={**attributes, "filetype": extension} if extension else attributes,
        )
    if message.get("lastEditedDateTime"):
        edited = graph_time(message["lastEditedDateTime"], "lastEditedDateTime")
        yield Activity.create(
            **common,
            native_id=f"{message_id}/edit/{epoch_millis(edited)}",
            kind=ActivityKind.MESSAGE_EDITED,
            occurred_at=edited,
            in_reply_to=message_id,
            text=text,
            attributes=attributes,
        )
    reactions = message.get("reactions") or []
    if not isinstance(reactions, list):
        raise TypeError("reactions is not a list")
    for reaction in reactions:
        activity = reaction_activity(reaction, message_id, author, conversation, channel_name, scope)
        if activity is not None:
            yield activity


def reaction_activity(
    reaction: Any,
    message_id: str,
    message_author: str,
    conversation: ConversationRef,
    channel_name: str | None,
    scope: TeamsScope,
) -> Activity | None:
    """One person's reaction to a message; None for the author's reaction to their own message (not a response)."""
    if not isinstance(reaction, Mapping):
        raise TypeError("a reaction is not an object")
    kind = text_of(reaction, "reactionType")
    reacting = identity_id(reaction.get("user"), "reaction.user")
    if reacting is None:
        raise ValueError(f"the {kind} reaction names no user")
    user = reacting[0]
    if user == message_author:
        return None
    return Activity.create(
        source=SourceSystem.TEAMS,
        source_instance=scope.instance,
        native_id=f"{message_id}/reaction/{kind}/{scope.account_id(user)}",
        kind=ActivityKind.REACTION,
        occurred_at=graph_time(reaction.get("createdDateTime"), "reaction.createdDateTime"),
        actor=scope.pseudonymise(user),
        conversation=conversation,
        in_reply_to=message_id,
        counterpart=scope.pseudonymise(message_author),
        subject=channel_name,
        attributes={"reaction": kind},
    )
