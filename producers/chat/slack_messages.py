"""Slack messages as activities, the same whether they come from an export ZIP or from the Events API.

Both give the same message objects (`type`, `user`, `text`, `ts`, `thread_ts`, `files`, `edited`, ...), so one
mapping serves the backfill and the live receiver, and an item seen by both gets the same activity id:
- a post: `<channel>/<ts>`, a reply when its `thread_ts` names another message;
- a file posted with it: `<channel>/<ts>/file/<file id>` (one per file);
- an edit: `<channel>/<ts>/edit/<edited.ts>`; a deletion: `<channel>/<ts>/deleted`;
- a reaction: `<channel>/<ts>/reaction/<name>/<opaque account id>`, never the raw user id or a pseudonym.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from producers.pseudonymise import AccountIds, Pseudonymiser
from schemas.activity import Activity, ActivityKind, ConversationKind, ConversationRef, SourceSystem

#: Notices about a channel rather than things people did in it.
SKIPPED_SUBTYPES = frozenset(
    {"channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name", "bot_add", "bot_remove"}
)
MAX_TEXT = 40_000
_LEADING_MENTION = re.compile(r"^<@([A-Z0-9]+)>")
#: Slack user ids (U…, W…) wherever they appear in text: mentions, file links, `<@U…|name>` forms.
_USER_ID = re.compile(r"\b[UW][A-Z0-9]{8,}\b")
_LABELLED_MENTION = re.compile(r"<@([A-Z0-9]+)\|[^>]*>")  # `<@U…|display name>`: the name goes
_MAILTO = re.compile(r"<mailto:[^>]*>")


@dataclass(frozen=True)
class SlackScope:
    """One workspace as a source instance: how its accounts become pseudonyms and opaque ids."""

    instance: str
    pseudonymise: Pseudonymiser
    account_id: AccountIds


@dataclass(frozen=True)
class Channel:
    """Where a message was posted: its id, its name if known, and its type (channel, group, im, mpim)."""

    id: str
    name: str | None = None
    type: str = "channel"


def pseudonymise_text(text: str, pseudonymise: Pseudonymiser) -> str:
    """Text with every Slack user id replaced by its pseudonym, and display names and e-mail addresses removed."""
    unlabelled = _MAILTO.sub("<mailto>", _LABELLED_MENTION.sub(r"<@\1>", text))
    return _USER_ID.sub(lambda match: pseudonymise(match.group(0)), unlabelled)


def slack_time(ts: str) -> datetime:
    """A Slack `ts` ("1452837352.000006") as an aware UTC datetime."""
    return datetime.fromtimestamp(float(ts), tz=UTC)


def thread_of(channel: Channel, message: Mapping[str, Any]) -> ConversationRef:
    """The thread a message belongs to: its root's `<channel>/<thread_ts>` (its own ts for a root)."""
    return ConversationRef(kind=ConversationKind.THREAD, id=f"{channel.id}/{message.get('thread_ts') or message['ts']}")


def author_of(message: Mapping[str, Any]) -> str | None:
    """The account that posted a message: a user, else the bot, else (a legacy `file_comment`) the commenter."""
    comment = message.get("comment")
    author = (
        message.get("user") or message.get("bot_id") or (comment.get("user") if isinstance(comment, dict) else None)
    )
    return str(author) if author else None


def base_attributes(channel: Channel, message: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """What every activity of a message says about it: the channel type, its subtype, whether a bot posted it."""
    attributes: dict[str, str | int | float | bool] = {"channel_type": channel.type}
    subtype = message.get("subtype")
    if subtype:
        attributes["subtype"] = str(subtype)
    if subtype == "bot_message" or ("bot_id" in message and not message.get("user")):
        attributes["bot"] = True
    return attributes


def files_of(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The files posted with a message (`files`, or the older `file` of a `file_share` message)."""
    files = message.get("files") or ([message["file"]] if message.get("subtype") == "file_share" else [])
    return [file for file in files if isinstance(file, Mapping) and file.get("id")]


def post_activities(message: Mapping[str, Any], channel: Channel, scope: SlackScope) -> Iterator[Activity]:
    """The post itself, then one file-share activity per file posted with it; nothing for channel notices.

    Raises KeyError, TypeError or ValueError for a message that lacks what a post needs (the callers set such a
    message aside as a dead letter).
    """
    if message.get("type") != "message" or message.get("subtype") in SKIPPED_SUBTYPES:
        return
    ts = str(message["ts"])
    author = author_of(message)
    if author is None:
        raise ValueError("the message names no user and no bot")
    thread_ts = str(message.get("thread_ts") or ts)
    is_reply = thread_ts != ts
    text = str(message.get("text") or "")
    mention = _LEADING_MENTION.match(text)
    attributes = base_attributes(channel, message)
    files = files_of(message)
    if files:
        attributes["files"] = len(files)
    conversation = thread_of(channel, message)
    yield Activity.create(
        source=SourceSystem.SLACK,
        source_instance=scope.instance,
        native_id=f"{channel.id}/{ts}",
        kind=ActivityKind.REPLY if is_reply else ActivityKind.MESSAGE,
        occurred_at=slack_time(ts),
        actor=scope.pseudonymise(author),
        conversation=conversation,
        in_reply_to=f"{channel.id}/{thread_ts}" if is_reply else None,
        counterpart=scope.pseudonymise(mention.group(1)) if mention and mention.group(1) != author else None,
        subject=channel.name,
        text=pseudonymise_text(text, scope.pseudonymise)[:MAX_TEXT],
        attributes=attributes,
    )
    for file in files:
        file_attributes = base_attributes(channel, message)
        if isinstance(file.get("filetype"), str):
            file_attributes["filetype"] = str(file["filetype"])
        yield Activity.create(
            source=SourceSystem.SLACK,
            source_instance=scope.instance,
            native_id=f"{channel.id}/{ts}/file/{file['id']}",
            kind=ActivityKind.FILE_SHARED,
            occurred_at=slack_time(ts),
            actor=scope.pseudonymise(author),
            conversation=conversation,
            in_reply_to=f"{channel.id}/{ts}",
            subject=channel.name,
            attributes=file_attributes,
        )


def edit_activity(message: Mapping[str, Any], channel: Channel, scope: SlackScope) -> Activity | None:
    """The edit of a message that carries `edited` (who and when), with the text as it now reads; else None."""
    edited = message.get("edited")
    if not isinstance(edited, Mapping) or not edited.get("ts"):
        return None
    ts = str(message["ts"])
    editor = str(edited.get("user") or author_of(message) or "")
    if not editor:
        raise ValueError("the edit names no user")
    return Activity.create(
        source=SourceSystem.SLACK,
        source_instance=scope.instance,
        native_id=f"{channel.id}/{ts}/edit/{edited['ts']}",
        kind=ActivityKind.MESSAGE_EDITED,
        occurred_at=slack_time(str(edited["ts"])),
        actor=scope.pseudonymise(editor),
        conversation=thread_of(channel, message),
        in_reply_to=f"{channel.id}/{ts}",
        subject=channel.name,
        text=pseudonymise_text(str(message.get("text") or ""), scope.pseudonymise)[:MAX_TEXT],
        attributes=base_attributes(channel, message),
    )


def deletion_activity(deleted: Mapping[str, Any], deleted_at: str, channel: Channel, scope: SlackScope) -> Activity:
    """The deletion of a message (`deleted` is the message as it was): its author removed it at `deleted_at`."""
    ts = str(deleted["ts"])
    author = author_of(deleted)
    if author is None:
        raise ValueError("the deleted message names no user and no bot")
    return Activity.create(
        source=SourceSystem.SLACK,
        source_instance=scope.instance,
        native_id=f"{channel.id}/{ts}/deleted",
        kind=ActivityKind.ITEM_DELETED,
        occurred_at=slack_time(deleted_at),
        actor=scope.pseudonymise(author),
        conversation=thread_of(channel, deleted),
        in_reply_to=f"{channel.id}/{ts}",
        subject=channel.name,
        attributes={"channel_type": channel.type},
    )


def reaction_activity(
    *,
    user: str,
    reaction: str,
    item_ts: str,
    item_author: str | None,
    occurred_at: datetime,
    conversation: ConversationRef,
    channel: Channel,
    scope: SlackScope,
) -> Activity:
    """One person's reaction to a message; its native id names the person by opaque account id only."""
    return Activity.create(
        source=SourceSystem.SLACK,
        source_instance=scope.instance,
        native_id=f"{channel.id}/{item_ts}/reaction/{reaction}/{scope.account_id(user)}",
        kind=ActivityKind.REACTION,
        occurred_at=occurred_at,
        actor=scope.pseudonymise(user),
        conversation=conversation,
        in_reply_to=f"{channel.id}/{item_ts}",
        counterpart=scope.pseudonymise(item_author) if item_author else None,
        subject=channel.name,
        attributes={"reaction": reaction},
    )


def exported_message_activities(message: Mapping[str, Any], channel: Channel, scope: SlackScope) -> Iterator[Activity]:
    """Everything an exported message records: the post, its files, its last edit, and its reactions.

    Exports carry no reaction time; the message time is the bound. The reaction of a message's own author is
    not counted (it is not a response to anyone).
    """
    if message.get("type") != "message" or message.get("subtype") in SKIPPED_SUBTYPES or "ts" not in message:
        return
    yield from post_activities(message, channel, scope)
    edit = edit_activity(message, channel, scope)
    if edit is not None:
        yield edit
    author = author_of(message)
    for reaction in message.get("reactions") or []:
        for user in reaction.get("users") or []:
            if user == author:
                continue
            yield reaction_activity(
                user=str(user),
                reaction=str(reaction["name"]),
                item_ts=str(message["ts"]),
                item_author=author,
                occurred_at=slack_time(str(message["ts"])),
                conversation=thread_of(channel, message),
                channel=channel,
                scope=scope,
            )
