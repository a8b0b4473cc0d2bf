"""Slack workspace export ZIPs (`channels.json`, `users.json`, `<channel>/YYYY-MM-DD.json`) as activities.

Used for backfill. Join/leave and integration notices are not things people did, so they are skipped; bot
messages are kept (and marked) so ratios of learning to all activity stay honest.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from learnstream.errors import ConnectorError
from producers.pseudonymise import AccountIds, Pseudonymiser
from schemas.activity import Activity, ActivityKind, ConversationKind, ConversationRef, SourceSystem

SKIPPED_SUBTYPES = frozenset(
    {"channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name", "bot_add", "bot_remove"}
)
_LEADING_MENTION = re.compile(r"^<@([A-Z0-9]+)>")
#: Slack user ids (U…, W…) wherever they appear in text: mentions, file links, `<@U…|name>` forms.
_USER_ID = re.compile(r"\b[UW][A-Z0-9]{8,}\b")
_LABELLED_MENTION = re.compile(r"<@([A-Z0-9]+)\|[^>]*>")  # `<@U…|display name>`: the name goes
_MAILTO = re.compile(r"<mailto:[^>]*>")


def pseudonymise_text(text: str, pseudonymise: Pseudonymiser) -> str:
    """Text with every Slack user id replaced by its pseudonym, and display names and e-mail addresses removed."""
    unlabelled = _MAILTO.sub("<mailto>", _LABELLED_MENTION.sub(r"<@\1>", text))
    return _USER_ID.sub(lambda match: pseudonymise(match.group(0)), unlabelled)


_DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")


def slack_time(ts: str) -> datetime:
    """A Slack `ts` ("1452837352.000006") as an aware UTC datetime."""
    return datetime.fromtimestamp(float(ts), tz=UTC)


def activities_from_message(
    message: dict[str, Any],
    channel_id: str,
    channel_name: str,
    instance: str,
    pseudonymise: Pseudonymiser,
    account_id: AccountIds,
) -> Iterator[Activity]:
    """The activities in one exported message: the post itself, then one per reaction on it.

    A reaction's native id names the reacting account by its opaque id (`account_id`), never by the raw user id
    or the pseudonym, so it stays the same when the pseudonym key is rotated.
    """
    subtype = message.get("subtype")
    if message.get("type") != "message" or subtype in SKIPPED_SUBTYPES or "ts" not in message:
        return
    ts = str(message["ts"])
    author = message.get("user") or message.get("bot_id")
    if not author:
        return
    thread_ts = str(message.get("thread_ts") or ts)
    is_reply = thread_ts != ts
    text = str(message.get("text") or "")
    mention = _LEADING_MENTION.match(text)
    attributes: dict[str, str | int | float | bool] = {"channel_type": "channel"}
    if subtype:
        attributes["subtype"] = str(subtype)
    if subtype == "bot_message" or ("bot_id" in message and not message.get("user")):
        attributes["bot"] = True
    files = message.get("files") or ([message["file"]] if subtype == "file_share" and "file" in message else [])
    if files:
        attributes["files"] = len(files)
    conversation = ConversationRef(kind=ConversationKind.THREAD, id=f"{channel_id}/{thread_ts}")
    yield Activity.create(
        source=SourceSystem.SLACK,
        source_instance=instance,
        native_id=f"{channel_id}/{ts}",
        kind=ActivityKind.REPLY if is_reply else ActivityKind.MESSAGE,
        occurred_at=slack_time(ts),
        actor=pseudonymise(str(author)),
        conversation=conversation,
        in_reply_to=f"{channel_id}/{thread_ts}" if is_reply else None,
        counterpart=pseudonymise(mention.group(1)) if mention and mention.group(1) != author else None,
        subject=channel_name,
        text=pseudonymise_text(text, pseudonymise)[:40_000],
        attributes=attributes,
    )
    for reaction in message.get("reactions") or []:
        for user in reaction.get("users") or []:
            if user == author:
                continue
            yield Activity.create(
                source=SourceSystem.SLACK,
                source_instance=instance,
                native_id=f"{channel_id}/{ts}/reaction/{reaction['name']}/{account_id(str(user))}",
                kind=ActivityKind.REACTION,
                occurred_at=slack_time(ts),  # exports carry no reaction time; the message time is the bound
                actor=pseudonymise(str(user)),
                conversation=conversation,
                in_reply_to=f"{channel_id}/{ts}",
                counterpart=pseudonymise(str(author)),
                subject=channel_name,
                attributes={"reaction": str(reaction["name"])},
            )


def user_emails_from_export(path: Path) -> dict[str, str]:
    """Slack user id -> e-mail address, from the export's `users.json` (`profile.email`, where the export has it).

    For resolving accounts HR did not list through the people directory; the addresses never leave the connector.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            users = json.loads(archive.read("users.json")) if "users.json" in archive.namelist() else []
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise ConnectorError(f"{path} has no readable users.json: {exc}") from exc
    if not isinstance(users, list):
        raise ConnectorError(f"{path}: users.json is not a list of users")
    emails = {}
    for user in users:
        profile = user.get("profile") if isinstance(user, dict) else None
        email = profile.get("email") if isinstance(profile, dict) else None
        if isinstance(email, str) and email and isinstance(user.get("id"), str):
            emails[user["id"]] = email
    return emails


def activities_from_export(
    path: Path, instance: str, pseudonymise: Pseudonymiser, account_id: AccountIds
) -> Iterator[Activity]:
    """Every activity in a Slack export ZIP, channel by channel, day by day, in message order."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ConnectorError(f"{path} is not a readable Slack export ZIP: {exc}") from exc
    with archive:
        names = set(archive.namelist())
        if "channels.json" not in names:
            raise ConnectorError(f"{path} has no channels.json: is it a Slack workspace export?")
        channels = json.loads(archive.read("channels.json"))
        for channel in sorted(channels, key=lambda item: str(item["name"])):
            day_files = sorted(
                name
                for name in names
                if PurePosixPath(name).parent.name == channel["name"] and _DAY_FILE.match(PurePosixPath(name).name)
            )
            for day_file in day_files:
                for message in json.loads(archive.read(day_file)):
                    yield from activities_from_message(
                        message, str(channel["id"]), str(channel["name"]), instance, pseudonymise, account_id
                    )
