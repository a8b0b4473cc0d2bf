"""Slack workspace export ZIPs (`channels.json`, `users.json`, `<channel>/YYYY-MM-DD.json`) as activities.

Used for backfill, as the pull source `SlackExportImport`: channels in name order, days in date order, messages
in file order, so a position (day file, message) is a cursor that survives a restart. Join/leave and
integration notices are not things people did, so they are skipped; bot messages are kept (and marked) so
ratios of learning to all activity stay honest. A message that cannot be mapped is set aside as a dead letter.
Only the public channels of `channels.json` are read: a standard export holds no private channels or direct
messages, and a full export's `groups.json`, `dms.json` and `mpims.json` are left alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError
from pydantic_core import from_json

from learnstream.errors import ConnectorError
from producers.chat.slack_messages import Channel, SlackScope, exported_message_activities
from producers.contracts import Batch, CheckReport, Cursor, OutgoingRecord
from producers.dead_letters import source_dead_letter
from producers.identity import IdentityResolver
from producers.pseudonymise import AccountIds, Pseudonymiser
from schemas.activity import Activity, SourceSystem

logger = logging.getLogger(__name__)

_DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
#: What a message that cannot be mapped raises in the mapping.
MAPPING_ERRORS = (KeyError, TypeError, ValueError, ValidationError)


@dataclass(frozen=True)
class DayFile:
    """One `<channel>/<day>.json` of the export, with its channel."""

    channel: Channel
    name: str


def open_export(path: Path) -> zipfile.ZipFile:
    """The export ZIP, checked to be one (it has `channels.json`)."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ConnectorError(f"{path} is not a readable Slack export ZIP: {exc}") from exc
    if "channels.json" not in archive.namelist():
        archive.close()
        raise ConnectorError(f"{path} has no channels.json: is it a Slack workspace export?")
    return archive


def day_files(archive: zipfile.ZipFile, path: Path, wanted: Sequence[str] = ()) -> list[DayFile]:
    """Every day file of the export's public channels (only `wanted` ones if given), in the import's order."""
    try:
        channels = json.loads(archive.read("channels.json"))
    except ValueError as exc:
        raise ConnectorError(f"{path}: channels.json is not JSON: {exc}") from exc
    if not isinstance(channels, list):
        raise ConnectorError(f"{path}: channels.json is not a list of channels")
    by_folder: dict[str, list[str]] = {}
    for name in archive.namelist():
        member = PurePosixPath(name)
        if _DAY_FILE.match(member.name):
            by_folder.setdefault(member.parent.name, []).append(name)
    found = []
    for channel in sorted(channels, key=lambda item: str(item.get("name"))):
        if wanted and channel.get("name") not in wanted:
            continue
        name = str(channel["name"])
        ref = Channel(id=str(channel["id"]), name=name, type="channel")
        found += [DayFile(ref, day) for day in sorted(by_folder.get(name, []))]
    return found


def read_day(archive: zipfile.ZipFile, day: DayFile) -> list[Any]:
    """The messages of one day file; a file that is not a JSON list is a ConnectorError naming it."""
    try:  # pydantic-core's parser: a day file parses in about half the time json.loads takes
        messages = from_json(archive.read(day.name))
    except ValueError as exc:
        raise ConnectorError(f"{day.name} of the export is not JSON: {exc}") from exc
    if not isinstance(messages, list):
        raise ConnectorError(f"{day.name} of the export is not a list of messages")
    return messages


def activities_from_export(
    path: Path, instance: str, pseudonymise: Pseudonymiser, account_id: AccountIds
) -> Iterator[Activity]:
    """Every activity in a Slack export ZIP, channel by channel, day by day, in message order (for the sample)."""
    scope = SlackScope(instance, pseudonymise, account_id)
    with open_export(path) as archive:
        for day in day_files(archive, path):
            for message in read_day(archive, day):
                if isinstance(message, dict):
                    yield from exported_message_activities(message, day.channel, scope)


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


def user_ids_from_export(path: Path) -> list[str]:
    """Every user id `users.json` lists."""
    with open_export(path) as archive:
        users = json.loads(archive.read("users.json")) if "users.json" in archive.namelist() else []
    return [str(user["id"]) for user in users if isinstance(user, dict) and user.get("id")]


class ExportPosition(Cursor):
    """Where an import stands: the export (its SHA-256) and the next message (day file index, message index)."""

    export: str = ""
    day: int = 0
    message: int = 0


class SlackExportImport:
    """The pull source for a Slack export ZIP: every message once, in a restartable order."""

    cursor_type = ExportPosition

    def __init__(
        self,
        name: str,
        path: Path,
        scope: SlackScope,
        channels: Sequence[str] = (),
        batch_size: int = 1000,
        resolver: IdentityResolver | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self.path = path
        self.scope = scope
        self.channels = tuple(channels)
        self.batch_size = batch_size
        self.resolver = resolver
        self.now = now

    def start_cursor(self, since: datetime | None) -> ExportPosition:
        """The start of the export: an export is imported whole (ids make a second import harmless)."""
        return ExportPosition()

    def check(self) -> CheckReport:
        """The export opens; its channels and days, and how many of its users the directory resolves."""
        with open_export(self.path) as archive:
            days = day_files(archive, self.path, self.channels)
        users = user_ids_from_export(self.path)
        unresolved = [user for user in users if self.resolver is not None and not self.resolver.is_resolved(user)]
        channels = len({day.channel.id for day in days})
        return CheckReport(
            [f"{self.path}: {channels} channel(s), {len(days)} day file(s)"],
            accounts_seen=len(users),
            unresolved_accounts=len(unresolved) if self.resolver is not None else len(users),
        )

    def read(self, cursor: ExportPosition) -> Iterator[Batch[ExportPosition]]:
        """Batches of activities (and dead letters) from the cursor's position to the end of the export."""
        digest = file_digest(self.path)
        if cursor.export and cursor.export != digest:
            logger.warning("%s: the export changed since the last run; importing it from the start", self.path)
            cursor = ExportPosition()
        records: list[OutgoingRecord] = []
        dead_letters: list[OutgoingRecord] = []
        with open_export(self.path) as archive:
            days = day_files(archive, self.path, self.channels)
            for day_index in range(cursor.day, len(days)):
                day = days[day_index]
                messages = read_day(archive, day)
                first = cursor.message if day_index == cursor.day else 0
                for message_index in range(first, len(messages)):
                    self.map_message(messages[message_index], day, records, dead_letters)
                    if len(records) + len(dead_letters) >= self.batch_size:
                        yield Batch(
                            records,
                            ExportPosition(export=digest, day=day_index, message=message_index + 1),
                            dead_letters,
                        )
                        records, dead_letters = [], []
            if records or dead_letters or cursor.export != digest or cursor.day < len(days):
                yield Batch(records, ExportPosition(export=digest, day=len(days), message=0), dead_letters)

    def map_message(
        self, message: Any, day: DayFile, records: list[OutgoingRecord], dead_letters: list[OutgoingRecord]
    ) -> None:
        """Add the records of one exported message, or its dead letter if it cannot be mapped."""
        try:
            if not isinstance(message, dict):
                raise TypeError(f"a message is a JSON object, not {type(message).__name__}")
            activities = list(exported_message_activities(message, day.channel, self.scope))
        except MAPPING_ERRORS as exc:
            detail = f"{day.name}: message cannot be mapped: {type(exc).__name__}: {exc}"
            dead_letters.append(
                source_dead_letter(
                    SourceSystem.SLACK, self.scope.instance, detail, json.dumps(message).encode("utf-8"), self.now()
                )
            )
            return
        records += [
            OutgoingRecord(activity.conversation_key.encode("utf-8"), activity.to_bytes()) for activity in activities
        ]


def file_digest(path: Path) -> str:
    """The SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ConnectorError(f"cannot read the export {path}: {exc}") from exc
    return digest.hexdigest()
