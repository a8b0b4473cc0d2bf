"""The Slack export ZIP of a simulated stream: the live events of the public channels folded into their end state.

Slack's exporter writes each message as it stands at export time: its last text with `edited`, its `reactions`,
a thread's parent with `reply_count`, `reply_users` and `replies`; deleted messages are gone. Folding the same
events the Events API would deliver gives exactly that, so an import and the live receiver agree on ids.
Days are written once no event can touch them any more (conversations end within `MAX_LAG_S`).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from simulator.organisation import Organisation, slack_users

if TYPE_CHECKING:
    from simulator.chat import SlackChannel

LAG_DAYS = 4  # > MAX_LAG_S in days: a day this old gets no more events
LIVE_ONLY = ("channel", "event_ts", "channel_type")
POSTS = (None, "file_share", "bot_message", "channel_join")


class ExportFolder:
    """Folds events into per-channel, per-day message lists and writes each day file when it is complete."""

    def __init__(
        self, archive: zipfile.ZipFile, org: Organisation, channels: Sequence[SlackChannel], team_id: str
    ) -> None:
        self.archive = archive
        self.org = org
        self.team_id = team_id
        self.public = [channel for channel in channels if channel.is_public]
        self.names = {channel.id: str(channel.name) for channel in self.public}
        self.profiles = {
            member.slack_id: {
                "first_name": member.first_name.title(),
                "real_name": member.real_name,
                "display_name": member.handle,
                "team": team_id,
                "name": member.handle,
                "is_restricted": not member.in_directory,
                "is_ultra_restricted": False,
            }
            for member in org.members
        }
        self.days: dict[int, dict[str, list[dict[str, Any]]]] = {}  # day ordinal -> channel name -> messages
        self.index: dict[tuple[str, str], dict[str, Any]] = {}  # (channel id, ts) -> message
        self.written = 0

    def add(self, second: int, event: dict[str, Any]) -> None:
        """Apply one live event (a message, an edit, an unfurl, a deletion or a reaction)."""
        day = second // 86_400
        for old in [old for old in self.days if old < day - LAG_DAYS]:
            self.write_day(old)
        if event["type"] == "reaction_added":
            item = event["item"]
            message = self.index.get((item["channel"], item["ts"]))
            if message is not None:
                self.add_reaction(message, event["reaction"], event["user"])
            return
        channel = event["channel"]
        if channel not in self.names:
            return
        subtype = event.get("subtype")
        if subtype in POSTS:
            self.add_message(channel, day, event)
        elif subtype == "message_changed":
            message = self.index.get((channel, event["message"]["ts"]))
            if message is not None:
                for field in ("text", "blocks", "edited", "attachments"):
                    if field in event["message"]:
                        message[field] = event["message"][field]
        elif subtype == "message_deleted":
            message = self.index.pop((channel, event["deleted_ts"]), None)
            if message is not None:
                posted = int(float(message["ts"])) // 86_400
                self.days[posted][self.names[channel]].remove(message)

    def add_message(self, channel: str, day: int, event: dict[str, Any]) -> None:
        message = {key: value for key, value in event.items() if key not in LIVE_ONLY}
        if "user" in message and message["user"] in self.profiles:
            message["user_profile"] = self.profiles[message["user"]]
        self.days.setdefault(day, {}).setdefault(self.names[channel], []).append(message)
        self.index[(channel, message["ts"])] = message
        parent = self.index.get((channel, message.get("thread_ts", "")))
        if parent is not None and parent is not message:
            author = str(message.get("user") or message.get("bot_id"))
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            users = parent.setdefault("reply_users", [])
            if author not in users:
                users.append(author)
            parent["reply_users_count"] = len(users)
            parent["latest_reply"] = message["ts"]
            parent.setdefault("replies", []).append({"user": author, "ts": message["ts"]})
            parent["is_locked"] = False
            parent["subscribed"] = False

    @staticmethod
    def add_reaction(message: dict[str, Any], name: str, user: str) -> None:
        reactions = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if user not in reaction["users"]:
                    reaction["users"].append(user)
                    reaction["count"] += 1
                return
        reactions.append({"name": name, "users": [user], "count": 1})

    def write_day(self, day: int) -> None:
        """Write `<channel>/<YYYY-MM-DD>.json` for every channel with messages that day, and forget them."""
        stamp = datetime.fromtimestamp(day * 86_400, UTC).date().isoformat()
        for channel_id, name in self.names.items():
            messages = self.days[day].get(name)
            if not messages:
                continue
            self.archive.writestr(f"{name}/{stamp}.json", json.dumps(messages, indent=4, ensure_ascii=False))
            self.written += len(messages)
            for message in messages:
                self.index.pop((channel_id, message["ts"]), None)
        del self.days[day]

    def close(self) -> int:
        """Write the remaining days, `channels.json` and `users.json`; the number of messages written."""
        for day in sorted(self.days):
            self.write_day(day)
        channels = [
            {
                "id": channel.id,
                "name": channel.name,
                "created": channel.created,
                "creator": channel.members[0] if channel.members else "",
                "is_archived": False,
                "is_general": channel.name == "general",
                "members": list(channel.members),
                "topic": {"value": "", "creator": "", "last_set": 0},
                "purpose": {"value": "", "creator": "", "last_set": 0},
            }
            for channel in self.public
        ]
        self.archive.writestr("channels.json", json.dumps(channels, indent=4))
        self.archive.writestr("users.json", json.dumps(slack_users(self.org, self.team_id), indent=4))
        self.archive.writestr("integration_logs.json", "[]")
        return self.written
