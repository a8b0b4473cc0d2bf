"""Mattermost posts as activities, the same whether a post comes from the REST API or an outgoing webhook.

A post is the API v4 post object (`id`, `create_at`, `update_at`, `edit_at`, `delete_at`, `user_id`,
`channel_id`, `root_id`, `original_id`, `message`, `type`, `props`, `file_ids`, `metadata.files`,
`metadata.reactions`); times are Unix milliseconds. Native ids:
- a post: its post id; a reply (`root_id` set) lands in its root's thread `<channel_id>/<root_id>`;
- a file posted with it: `<post id>/file/<file id>`;
- an edit: `<post id>/edit/<edit_at>`; a deletion: `<post id>/deleted`;
- a reaction: `<post id>/reaction/<emoji>/<opaque account id>`, never a raw user id or a pseudonym.

Skipped: system messages (`type` starting with `system_`: joins, header changes, ...) and the copies Mattermost
keeps of a post's earlier versions (a deleted post whose `original_id` names the edited post).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from producers.pseudonymise import AccountIds, Pseudonymiser
from schemas.activity import Activity, ActivityKind, ConversationKind, ConversationRef, SourceSystem

SYSTEM_PREFIX = "system_"
MAX_TEXT = 40_000
#: What a mapper raises for a post it cannot use; callers set such a post aside as a dead letter.
MAPPING_ERRORS = (KeyError, TypeError, ValueError, ValidationError)
#: Mentions that name no person.
CHANNEL_MENTIONS = frozenset({"all", "channel", "here"})
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_MENTION = re.compile(r"(?<![\w@])@([a-z0-9][a-z0-9._-]*)", re.IGNORECASE)
#: Usernames -> user ids, for the mentions in a text; None where the user is not known.
UserIds = Callable[[str], str | None]


@dataclass(frozen=True)
class MattermostScope:
    """One Mattermost server as a source instance: its host name, and how its accounts become pseudonyms and ids."""

    instance: str
    pseudonymise: Pseudonymiser
    account_id: AccountIds
    user_ids: UserIds = lambda _username: None


@dataclass(frozen=True)
class MattermostChannel:
    """Where a post was made: its id, its name if known, and its type (O open, P private, D direct, G group)."""

    id: str
    name: str | None = None
    type: str | None = None


def mattermost_time(millis: int) -> datetime:
    """Unix milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def text_of(post: Mapping[str, Any], field: str) -> str:
    """A field that must be non-empty text; a ValueError naming it otherwise."""
    value = post.get(field)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field} is {type(value).__name__} {value!r}, expected non-empty text")
    return value


def millis_of(post: Mapping[str, Any], field: str) -> int:
    """A time field in Unix milliseconds (0 when absent: Mattermost's "never")."""
    value = post.get(field, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{field} is {type(value).__name__} {value!r}, expected Unix milliseconds")
    return value


def pseudonymise_text(text: str, scope: MattermostScope) -> str:
    """Text without e-mail addresses, and with every @username mention of a person replaced by `@` and the
    person's pseudonym (`@user` where the username is unknown); `@channel`, `@here` and `@all` stay."""

    def mention(match: re.Match[str]) -> str:
        username = match.group(1).rstrip(".-_")
        if username.lower() in CHANNEL_MENTIONS:
            return match.group(0)
        user_id = scope.user_ids(username)
        rest = match.group(1)[len(username) :]
        return f"@{scope.pseudonymise(user_id) if user_id else 'user'}{rest}"

    return _MENTION.sub(mention, _EMAIL.sub("<email>", text))[:MAX_TEXT]


def thread_of(post: Mapping[str, Any]) -> ConversationRef:
    """The thread a post belongs to: `<channel_id>/<root post id>` (its own id for a root)."""
    return ConversationRef(
        kind=ConversationKind.THREAD, id=f"{text_of(post, 'channel_id')}/{post.get('root_id') or post['id']}"
    )


def base_attributes(post: Mapping[str, Any], channel: MattermostChannel) -> dict[str, str | int | float | bool]:
    """What every activity of a post says about it: the channel type if known, whether a bot or webhook posted it."""
    attributes: dict[str, str | int | float | bool] = {}
    if channel.type:
        attributes["channel_type"] = channel.type
    props = post.get("props")
    if isinstance(props, Mapping) and (props.get("from_bot") in ("true", True) or props.get("from_webhook") == "true"):
        attributes["bot"] = True
    if isinstance(post.get("type"), str) and post["type"]:
        attributes["post_type"] = post["type"]
    return attributes


def files_of(post: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """(file id, extension) of each file posted with a post: `file_ids`, described by `metadata.files` if given."""
    metadata = post.get("metadata")
    described = metadata.get("files") if isinstance(metadata, Mapping) else None
    extensions = {
        str(file["id"]): str(file["extension"]) if isinstance(file.get("extension"), str) else None
        for file in described or []
        if isinstance(file, Mapping) and file.get("id")
    }
    ids = post.get("file_ids") or list(extensions)
    if not isinstance(ids, list) or not all(isinstance(file_id, str) for file_id in ids):
        raise TypeError("file_ids is not a list of file ids")
    return [(file_id, extensions.get(file_id)) for file_id in ids if file_id]


def reactions_of(post: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    """`metadata.reactions` of a post; None when the post carries none although `has_reactions` says it has some."""
    metadata = post.get("metadata")
    reactions = metadata.get("reactions") if isinstance(metadata, Mapping) else None
    if reactions is None:
        return None if post.get("has_reactions") else []
    if not isinstance(reactions, list):
        raise TypeError("metadata.reactions is not a list")
    return reactions


def is_activity(post: Mapping[str, Any]) -> bool:
    """Whether a post is something a person did: not a system message, not an earlier version of an edited post."""
    kind = post.get("type") or ""
    return not (isinstance(kind, str) and kind.startswith(SYSTEM_PREFIX)) and not post.get("original_id")


def post_activities(
    post: Mapping[str, Any],
    channel: MattermostChannel,
    scope: MattermostScope,
    reactions: list[Mapping[str, Any]] | None = None,
) -> Iterator[Activity]:
    """Everything a post records as it now reads: the post (or reply), its files, its last edit and its reactions;
    only its deletion once deleted. `reactions` overrides `metadata.reactions` (fetched separately).

    Raises a MAPPING_ERRORS exception for a post that lacks what an activity needs.
    """
    if not is_activity(post):
        return
    post_id, author = text_of(post, "id"), text_of(post, "user_id")
    created = millis_of(post, "create_at")
    if not created:
        raise ValueError("create_at is 0: the post has no creation time")
    conversation = thread_of(post)
    common = {
        "source": SourceSystem.MATTERMOST,
        "source_instance": scope.instance,
        "actor": scope.pseudonymise(author),
        "conversation": conversation,
        "subject": channel.name,
    }
    deleted = millis_of(post, "delete_at")
    if deleted:  # the text is gone, as its author wished: only the deletion is recorded
        yield Activity.create(
            **common,
            native_id=f"{post_id}/deleted",
            kind=ActivityKind.ITEM_DELETED,
            occurred_at=mattermost_time(deleted),
            in_reply_to=post_id,
            attributes=base_attributes(post, channel),
        )
        return
    root_id = post.get("root_id") or None
    if root_id is not None and not isinstance(root_id, str):
        raise TypeError(f"root_id is {type(root_id).__name__}, expected a post id")
    message = post.get("message") or ""
    if not isinstance(message, str):
        raise TypeError(f"message is {type(message).__name__}, expected text")
    files = files_of(post)
    attributes = base_attributes(post, channel)
    if files:
        attributes["files"] = len(files)
    yield Activity.create(
        **common,
        native_id=post_id,
        kind=ActivityKind.REPLY if root_id else ActivityKind.MESSAGE,
        occurred_at=mattermost_time(created),
        in_reply_to=root_id,
        counterpart=leading_mention(message, author, scope),
        text=pseudonymise_text(message, scope),
        attributes=attributes,
    )
    for file_id, extension in files:
        file_attributes = base_attributes(post, channel)
        if extension:
            file_attributes["filetype"] = extension
        yield Activity.create(
            **common,
            native_id=f"{post_id}/file/{file_id}",
            kind=ActivityKind.FILE_SHARED,
            occurred_at=mattermost_time(created),
            in_reply_to=post_id,
            attributes=file_attributes,
        )
    edited = millis_of(post, "edit_at")
    if edited:
        yield Activity.create(
            **common,
            native_id=f"{post_id}/edit/{edited}",
            kind=ActivityKind.MESSAGE_EDITED,
            occurred_at=mattermost_time(edited),
            in_reply_to=post_id,
            text=pseudonymise_text(message, scope),
            attributes=base_attributes(post, channel),
        )
    given = reactions if reactions is not None else reactions_of(post) or []
    for reaction in given:
        activity = reaction_activity(reaction, post_id, author, conversation, channel, scope)
        if activity is not None:
            yield activity


def leading_mention(message: str, author: str, scope: MattermostScope) -> str | None:
    """The pseudonym of the person a message starts by addressing (`@name ...`), if known and not the author."""
    match = _MENTION.match(message)
    if match is None:
        return None
    user_id = scope.user_ids(match.group(1).rstrip(".-_"))
    return scope.pseudonymise(user_id) if user_id and user_id != author else None


def reaction_activity(
    reaction: Mapping[str, Any],
    post_id: str,
    post_author: str,
    conversation: ConversationRef,
    channel: MattermostChannel,
    scope: MattermostScope,
) -> Activity | None:
    """One person's reaction to a post; None for the author's reaction to their own post (not a response)."""
    if not isinstance(reaction, Mapping):
        raise TypeError("a reaction is not an object")
    user, emoji = text_of(reaction, "user_id"), text_of(reaction, "emoji_name")
    if user == post_author:
        return None
    reacted = millis_of(reaction, "create_at")
    if not reacted:
        raise ValueError(f"the {emoji} reaction has no create_at")
    return Activity.create(
        source=SourceSystem.MATTERMOST,
        source_instance=scope.instance,
        native_id=f"{post_id}/reaction/{emoji}/{scope.account_id(user)}",
        kind=ActivityKind.REACTION,
        occurred_at=mattermost_time(reacted),
        actor=scope.pseudonymise(user),
        conversation=conversation,
        in_reply_to=post_id,
        counterpart=scope.pseudonymise(post_author),
        subject=channel.name,
        attributes={"reaction": emoji},
    )
