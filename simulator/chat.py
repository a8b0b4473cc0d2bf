"""A believable stream of Slack activity for a simulated organisation, as Events API envelopes or an export ZIP.

Conversations are threads: someone asks (in many phrasings, not all with a question mark), people of the
channel's owning team or of other teams answer, the asker follows up and thanks; others post statements, share
links and files, offer sessions; bots post; people talk in private channels and direct messages (which the
connectors exclude by default). People react, edit a few messages, and delete a few. Working days are heavier
than weekends, working hours than nights; how chatty a person is follows a heavy tail.

Same organisation and seed, same stream: one `random.Random` drives everything in a fixed order, ids included.
The export (`write_slack_export`) is the live stream folded into its end state (edits applied, reactions
collected, replies counted, deleted messages gone), so both give the same activity ids for the same messages.
"""

from __future__ import annotations

import base64
import json
import random
import re
import zipfile
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

from simulator.chat_export import ExportFolder
from simulator.chat_phrases import (
    ANSWERS,
    BOT_LINES,
    COMMANDS,
    EDIT_SUFFIXES,
    EXTERNAL_LINKS,
    FILE_KINDS,
    FILE_POSTS,
    FOLLOW_UPS,
    LINK_POSTS,
    QUESTIONS,
    REPLIES,
    STATEMENTS,
    TEACHING,
    THANKS,
    TOPICS,
    VERBS,
)
from simulator.organisation import BASE32, Organisation, Team
from simulator.wiki import TEAM_PAGES, team_page

#: Cross-team help channels `#ask-<area>`, answered mostly by the teams named after the area.
HELP_AREAS = ("platform", "data", "security", "it", "design", "infra", "people", "finance", "payments", "analytics")
OPEN_CHANNELS = ("general", "random", "til", "deploys", "incidents")
#: How long after its first message a conversation may still get events (bounds the export's buffering).
MAX_LAG_S = 3 * 86_400
WORK_HOURS = (0, 0, 0, 0, 0, 0, 0.2, 0.8, 3, 5, 6, 5.5, 3, 4.5, 5.5, 5, 4, 2.5, 1.2, 0.6, 0.4, 0.3, 0.1, 0)
WEEKEND_HOURS = (0, 0, 0, 0, 0, 0, 0, 0, 0.5, 1, 1.5, 2, 2, 2, 2, 2, 2, 1.5, 1.5, 1.5, 1, 1, 0.5, 0.2)
_MARKUP = re.compile(r"<(@[A-Z0-9]+|https?://[^>|]+)(?:\|([^>]*))?>")
#: How many answers a question gets, replies a post gets, reactions a post gets: (value, cumulative weight).
ANSWER_COUNTS = ((0, 15), (1, 50), (2, 75), (3, 90), (4, 100))
REPLY_COUNTS = ((0, 55), (1, 80), (2, 95), (3, 100))
REACTION_COUNTS = ((0, 60), (1, 80), (2, 92), (4, 100))
_PAIRS = [a + b for a in BASE32 for b in BASE32]  # 10-bit chunks of ids, two base32 characters each


T = TypeVar("T")


@dataclass(frozen=True)
class ChatRates:
    """How much happens: messages per person per working day, the weekend's share, and the mix of threads."""

    messages_per_person_day: float = 10.0
    weekend_factor: float = 0.08
    question: float = 0.22
    statement: float = 0.36
    link: float = 0.07
    file: float = 0.05
    teaching: float = 0.01
    bot: float = 0.09
    direct: float = 0.15
    private: float = 0.05
    edit_rate: float = 0.03  # of people's messages
    delete_rate: float = 0.04  # of statements, deleted minutes later


@dataclass(frozen=True)
class SlackChannel:
    """A conversation container: id, name (None for DMs), type (channel, group, im, mpim), owners and members."""

    id: str
    name: str | None
    type: str
    members: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()  # the teams that answer in a help channel
    created: int = 0

    @property
    def is_public(self) -> bool:
        """Whether a standard export and the default connector read it."""
        return self.type == "channel"


class ChatSimulation:
    """The generator behind `slack_events` and `write_slack_export`: one instance, one pass, in time order."""

    def __init__(
        self, org: Organisation, days: int, seed: int, team_id: str, start: date, rates: ChatRates | None = None
    ) -> None:
        self.org, self.days, self.team_id, self.start = org, days, team_id, start
        self.rates = rates or ChatRates()
        self.rng = random.Random(f"chat/{seed}")
        rng = self.rng
        self.random: Callable[[], float] = rng.random
        self.app_id = "A" + "".join(rng.choices(BASE32, k=10))
        self.app_user = "U" + "".join(rng.choices(BASE32, k=10))
        self.token = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=24))
        self.id_salt = rng.getrandbits(50)
        self.people = org.members
        self.uid = [member.slack_id for member in org.members]
        self.cum_weight = []
        total = 0.0
        for member in org.members:
            total += member.weight
            self.cum_weight.append(total)
        self.total_weight = total
        self.counter = 0
        self.pending: list[tuple[int, int, dict[str, Any]]] = []
        self.contexts: dict[tuple[str, str], str] = {}
        self.directs: dict[tuple[str, ...], SlackChannel] = {}
        self.kinds = ("question", "statement", "link", "file", "teaching", "bot", "direct", "private")
        mix = self.rates
        weights = (mix.question, mix.statement, mix.link, mix.file, mix.teaching, mix.bot, mix.direct, mix.private)
        self.kind_cum = [sum(weights[: index + 1]) for index in range(len(weights))]
        self.channels = self.make_channels()

    # -- the organisation's channels ------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        """A channel id: the prefix and 10 base32 characters."""
        return prefix + "".join(self.rng.choices(BASE32, k=10))

    def make_channels(self) -> list[SlackChannel]:
        """Team channels, help channels, open channels, department channels and private channels."""
        org, created = self.org, int(datetime.combine(self.org.start, time(), UTC).timestamp()) - 400 * 86_400
        everyone = tuple(self.uid)
        teams_ever: dict[str, list[str]] = {}
        for member in org.members:
            for stint in member.stints:
                teams_ever.setdefault(stint.team, []).append(member.slack_id)
        self.team_channel = {
            team.name: SlackChannel(
                self.new_id("C"), f"team-{team.name}", "channel", tuple(teams_ever.get(team.name, ())), (team.name,)
            )
            for team in org.teams
        }
        self.help_channels = []
        for area in HELP_AREAS:
            owners = tuple(team.name for team in org.teams if team.name == area or team.name.startswith(area + "-"))
            if owners:
                self.help_channels.append(SlackChannel(self.new_id("C"), f"ask-{area}", "channel", everyone, owners))
        self.open_channels = {name: SlackChannel(self.new_id("C"), name, "channel", everyone) for name in OPEN_CHANNELS}
        self.department_channel = {
            department: SlackChannel(
                self.new_id("C"),
                f"dept-{department.lower()}",
                "channel",
                tuple(m.slack_id for m in org.members if any(s.department == department for s in m.stints)),
            )
            for department in org.departments
        }
        by_id = {member.person_id: member.slack_id for member in org.members}
        leads = tuple(by_id[team.lead] for team in org.teams)
        # private channels: half created before Slack gave them C ids (legacy G ids), half after
        self.private_channels = [SlackChannel(self.new_id("G"), "leads", "group", leads)] + [
            SlackChannel(
                self.new_id("C" if index % 2 else "G"),
                f"hiring-{department.lower()}",
                "group",
                self.department_channel[department].members[:12],
            )
            for index, department in enumerate(org.departments)
        ]
        channels = [
            *self.team_channel.values(),
            *self.help_channels,
            *self.open_channels.values(),
            *self.department_channel.values(),
            *self.private_channels,
        ]
        return [
            SlackChannel(c.id, c.name, c.type, c.members, c.owners, created + index * 3_600)
            for index, c in enumerate(channels)
        ]

    def direct(self, users: tuple[str, ...]) -> SlackChannel:
        """The DM (two people) or group DM (more) of these users, opened on first use."""
        key = tuple(sorted(users))
        found = self.directs.get(key)
        if found is None:
            kind = "im" if len(key) == 2 else "mpim"
            found = SlackChannel(self.new_id("D" if kind == "im" else "G"), None, kind, key)
            self.directs[key] = found
        return found

    # -- the stream ----------------------------------------------------------------------------------------------

    def envelopes(self) -> Iterator[dict[str, Any]]:
        """Every event, day by day, each in its `event_callback` envelope, in time order."""
        for index, (second, event) in enumerate(self.timed_events()):
            yield self.envelope(event, index, second)

    def timed_events(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(second, inner event) in time order: an hour's threads are generated, then everything before its end."""
        self.team_of = {i: m.team_on(self.start) for i, m in enumerate(self.people)}
        self.refresh_teams()
        moves: dict[date, list[tuple[int, str]]] = {}
        for index, member in enumerate(self.people):
            for stint in member.stints[1:]:
                moves.setdefault(stint.valid_from, []).append((index, stint.team))
        people = len(self.people)
        for offset in range(self.days):
            day = date.fromordinal(self.start.toordinal() + offset)
            midnight = int(datetime.combine(day, time(), UTC).timestamp())
            if day in moves:
                self.move(moves[day], midnight)
            working = day.weekday() < 5
            factor = 1.0 if working else self.rates.weekend_factor
            budget = people * self.rates.messages_per_person_day * factor * self.rng.uniform(0.9, 1.1)
            hours = WORK_HOURS if working else WEEKEND_HOURS
            produced, wanted = 0, 0.0
            for hour, weight in enumerate(hours):
                # hour by hour, so few events wait in `pending` (a large buffer makes the GC cost a third more)
                wanted += budget * weight / sum(hours)
                while produced < wanted:
                    produced += self.thread(midnight + hour * 3_600 + self.below(3_600))
                yield from self.release((midnight + (hour + 1) * 3_600) * 1_000_000)
        yield from self.release(None)

    def release(self, before: int | None) -> Iterator[tuple[int, dict[str, Any]]]:
        """The pending events earlier than `before` (all if None), in time order; the rest stay pending."""
        self.pending.sort()
        cut = len(self.pending) if before is None else bisect(self.pending, (before, -1))
        ready, self.pending = self.pending[:cut], self.pending[cut:]
        for stamp, _, event in ready:
            yield stamp // 1_000_000, event

    def refresh_teams(self) -> None:
        """Who is in each team now."""
        self.team_members: dict[str, list[int]] = {}
        for index, team in self.team_of.items():
            self.team_members.setdefault(team, []).append(index)

    def move(self, moved: list[tuple[int, str]], midnight: int) -> None:
        """People who change team today: they join their new team's channel in the morning."""
        for index, team in moved:
            self.team_of[index] = team
            channel = self.team_channel[team]
            user = self.uid[index]
            stamp, ts = self.stamp(midnight + 8 * 3_600 + self.below(3_600))
            join = {"type": "message", "subtype": "channel_join", "ts": ts, "user": user}
            join["text"] = f"<@{user}> has joined the channel"
            self.emit(stamp, channel, join)
        self.refresh_teams()

    def envelope(self, event: dict[str, Any], index: int, second: int) -> dict[str, Any]:
        """The `event_callback` Slack posts for an event; its event id unique and fixed by its position."""
        n = (index * 0x2545F4914F6CDD1D + self.id_salt) & ((1 << 50) - 1)
        pairs = _PAIRS
        event_id = "Ev" + pairs[n >> 40] + pairs[(n >> 30) & 1023] + pairs[(n >> 20) & 1023] + pairs[(n >> 10) & 1023]
        channel = event.get("channel") or event["item"]["channel"]
        key = (event["type"], channel)
        context = self.contexts.get(key)
        if context is None:
            document = {"et": event["type"], "tid": self.team_id, "aid": self.app_id, "cid": channel}
            context = "4-" + base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")
            self.contexts[key] = context
        return {
            "token": self.token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id + pairs[n & 1023],
            "event_time": second,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.app_user,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": context,
        }

    # -- events ----------------------------------------------------------------------------------------------

    def stamp(self, second: int) -> tuple[int, str]:
        """A message time (µs) and its Slack `ts`; the micro part counts messages, so ts are unique per second."""
        self.counter += 1
        micro = self.counter % 1_000_000
        return second * 1_000_000 + micro, f"{second}.{micro:06d}"

    def emit(self, stamp: int, channel: SlackChannel, event: dict[str, Any]) -> None:
        """Queue a message event of a channel (adds channel, event_ts, channel_type as Slack does)."""
        event["channel"] = channel.id
        event["event_ts"] = event["ts"]
        event["channel_type"] = channel.type
        self.pending.append((stamp, self.counter, event))

    def post(
        self,
        second: int,
        channel: SlackChannel,
        user: int,
        text: str,
        root: dict[str, Any] | None = None,
        files: list[dict[str, Any]] | None = None,
        editable: bool = True,
    ) -> dict[str, Any]:
        """A person's message (a reply when `root` is given), with the fields a Slack client's message has."""
        stamp, ts = self.stamp(second)
        client_id = f"{self.rng.getrandbits(128):032x}"
        event: dict[str, Any] = {
            "client_msg_id": f"{client_id[:8]}-{client_id[8:12]}-4{client_id[13:16]}-a{client_id[17:20]}-"
            f"{client_id[20:]}",
            "type": "message",
            "text": text,
            "user": self.uid[user],
            "ts": ts,
            "blocks": blocks_of(text, client_id[:5]),
            "team": self.team_id,
        }
        if files:
            event["subtype"] = "file_share"
            event["files"] = files
            event["upload"] = False
            event["display_as_bot"] = False
        if root is not None:
            event["thread_ts"] = root["ts"]
            event["parent_user_id"] = root.get("user") or root.get("bot_id")
        self.emit(stamp, channel, event)
        if editable and "<" not in text and self.rng.random() < self.rates.edit_rate:
            self.edit(event, channel, second + 30 + self.below(600))
        return event

    def edit(self, message: dict[str, Any], channel: SlackChannel, second: int) -> None:
        """The author corrects a message minutes later (`message_changed` with a new `edited` stamp)."""
        stamp, ts = self.stamp(second)
        before = {key: value for key, value in message.items() if key not in ("channel", "event_ts", "channel_type")}
        text = f"{message['text']} {self.one(EDIT_SUFFIXES)}"
        after = {**before, "text": text, "blocks": blocks_of(text, message["blocks"][0]["block_id"])}
        after["edited"] = {"user": message["user"], "ts": f"{second}.000000"}
        event = {"type": "message", "subtype": "message_changed", "hidden": True, "message": after}
        event.update({"previous_message": before, "ts": ts})
        self.emit(stamp, channel, event)

    def unfurl(self, message: dict[str, Any], channel: SlackChannel, url: str) -> None:
        """Slack adds a link preview seconds later: a `message_changed` that is not an edit (no new stamp)."""
        stamp, ts = self.stamp(int(float(message["ts"])) + 2)
        before = {key: value for key, value in message.items() if key not in ("channel", "event_ts", "channel_type")}
        host = url.split("/")[2]
        preview = {"from_url": url, "service_name": host, "title": host, "title_link": url, "fallback": host, "id": 1}
        event = {"type": "message", "subtype": "message_changed", "hidden": True}
        event.update({"message": {**before, "attachments": [{**preview, "original_url": url}]}})
        event.update({"previous_message": before, "ts": ts})
        self.emit(stamp, channel, event)

    def delete(self, message: dict[str, Any], channel: SlackChannel, second: int) -> None:
        """The author deletes a message (`message_deleted` carrying it as `previous_message`)."""
        stamp, ts = self.stamp(second)
        before = {key: value for key, value in message.items() if key not in ("channel", "event_ts", "channel_type")}
        event = {"type": "message", "subtype": "message_deleted", "hidden": True, "ts": ts}
        event.update({"deleted_ts": message["ts"], "previous_message": before})
        self.emit(stamp, channel, event)

    def react(self, message: dict[str, Any], user: int, reaction: str, second: int) -> None:
        """`reaction_added` by a person other than the author."""
        if self.uid[user] == message.get("user"):
            return  # not a response to anyone: an export does not count it either
        self.counter += 1
        stamp = second * 1_000_000 + self.counter % 1_000_000
        item = {"type": "message", "channel": message["channel"], "ts": message["ts"]}
        event: dict[str, Any] = {"type": "reaction_added", "user": self.uid[user], "reaction": reaction}
        if message.get("user"):
            event["item_user"] = message["user"]
        event.update({"item": item, "event_ts": f"{second}.{stamp % 1_000_000:06d}"})
        self.pending.append((stamp, self.counter, event))

    # -- conversations ---------------------------------------------------------------------------------------

    def one(self, items: Sequence[T]) -> T:
        """One of `items`, uniformly (`random.choice` without its checks: this is the hot path)."""
        return items[int(self.random() * len(items))]

    def below(self, bound: int) -> int:
        """An int in [0, bound)."""
        return int(self.random() * bound)

    def weighted(self, table: Sequence[tuple[int, int]]) -> int:
        """A value of a (value, cumulative weight) table, by weight."""
        drawn = self.random() * table[-1][1]
        for value, bound in table:
            if drawn < bound:
                return value
        return table[-1][0]

    def pick(self) -> int:
        """A person, chatty ones more often."""
        return bisect(self.cum_weight, self.rng.random() * self.total_weight)

    def pick_from(self, pool: list[int], besides: int) -> int:
        """Someone of `pool` other than `besides` (anyone if the pool has nobody else)."""
        for _ in range(4):
            chosen = self.one(pool) if pool else self.pick()
            if chosen != besides:
                return chosen
        return (besides + 1) % len(self.people)

    def later(self, second: int, start: int, mean: float) -> int:
        """A response time: minutes after `second` mostly, sometimes the next day; never past the lag bound."""
        delay = 15 + int(self.rng.expovariate(1 / mean))
        if self.rng.random() < 0.07:
            delay += 16 * 3_600
        return min(second + delay, start + MAX_LAG_S)

    def thread(self, second: int) -> int:
        """One conversation starting at `second`; the number of messages it posted."""
        kind = self.kinds[bisect(self.kind_cum, self.rng.random() * self.kind_cum[-1])]
        if kind == "question":
            return self.question(second)
        if kind == "bot":
            return self.bot_post(second)
        if kind == "direct":
            return self.direct_talk(second)
        return self.post_with_responses(kind, second)

    def team_pool(self, team: str) -> list[int]:
        return self.team_members.get(team, [])

    def owners_pool(self, teams: tuple[str, ...]) -> list[int]:
        return [index for team in teams for index in self.team_members.get(team, ())]

    def words(self, template: str, **extra: str) -> str:
        """A phrase with a topic and a verb filled in."""
        return template.format(topic=self.one(TOPICS), verb=self.one(VERBS), cmd=self.one(COMMANDS), **extra)

    def question(self, second: int) -> int:
        """A question, answers (often from another team), the asker's follow-up and thanks, reactions."""
        rng = self.rng
        asker = self.pick()
        own_team = self.team_of[asker]
        where = rng.random()
        if where < 0.5 and self.help_channels:
            channel = self.one(self.help_channels)
            pool = self.owners_pool(channel.owners)
        elif where < 0.9:
            channel, pool = self.team_channel[own_team], self.team_pool(own_team)
        else:
            channel, pool = self.department_channel[self.people[asker].stints[0].department], []
        root = self.post(second, channel, asker, self.words(self.one(QUESTIONS)))
        posted = 1
        if rng.random() < 0.12:
            self.react(root, self.pick_from(pool, asker), self.one(("eyes", "+1", "same")), second + 60)
        answers = self.weighted(ANSWER_COUNTS)
        at, answer, answerer = second, root, asker
        for number in range(answers):
            at = self.later(at, second, 900)
            answerer = self.pick_from(pool if rng.random() < 0.8 else [], asker)
            text = self.answer_text()
            if rng.random() < 0.3:
                text = f"<@{self.uid[asker]}> {text}"
            files = [self.file(answerer, at)] if rng.random() < 0.05 else None
            answer = self.post(at, channel, answerer, text, root, files)
            posted += 1
            if number == 0 and rng.random() < 0.35:
                at = self.later(at, second, 300)
                self.post(at, channel, asker, self.words(self.one(FOLLOW_UPS)), root)
                at = self.later(at, second, 600)
                answer = self.post(at, channel, answerer, self.answer_text(), root)
                posted += 2
        if answers:
            if rng.random() < 0.6:
                at = self.later(at, second, 600)
                self.post(at, channel, asker, self.one(THANKS).format(user=self.uid[answerer]), root)
                posted += 1
            if rng.random() < 0.45:
                reaction = self.one(("white_check_mark", "pray", "+1", "raised_hands", "heart"))
                self.react(answer, asker, reaction, at + 30)
        return posted

    def answer_text(self) -> str:
        """An answer: a fix, a pointer to a team or its wiki page, a link."""
        team = self.one(self.org.teams)
        return self.words(self.one(ANSWERS), team=team.name, url=self.wiki_link(team), link=self.one(EXTERNAL_LINKS))

    def wiki_link(self, team: Team) -> str:
        """A link to one of the team's wiki pages, as Slack formats a labelled link."""
        title = team_page(team.name, self.one(TEAM_PAGES))
        return f"<https://wiki.{self.org.domain}/wiki/{title.replace(' ', '_')}|{title}>"

    def file(self, user: int, second: int) -> dict[str, Any]:
        """A file object as a message's `files` carries it."""
        rng = self.rng
        file_id = "F" + "".join(rng.choices(BASE32, k=10))
        filetype, mimetype, pretty = self.one(FILE_KINDS)
        name = f"{self.one(TOPICS).removeprefix('the ').replace(' ', '-')}.{filetype}"
        private = f"https://files.slack.com/files-pri/{self.team_id}-{file_id}"
        return {
            "id": file_id,
            "created": second,
            "timestamp": second,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": pretty,
            "user": self.uid[user],
            "user_team": self.team_id,
            "editable": False,
            "size": 2_000 + self.below(4_000_000),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": True,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{private}/{name}",
            "url_private_download": f"{private}/download/{name}",
            "permalink": f"https://{self.org.company}.slack.com/files/{self.uid[user]}/{file_id}/{name}",
            "permalink_public": f"https://slack-files.com/{self.team_id}-{file_id}-{rng.getrandbits(40):010x}",
            "has_rich_preview": False,
            "file_access": "visible",
        }

    def post_with_responses(self, kind: str, second: int) -> int:
        """A statement, a link, a file or a session offer; a few short replies and reactions."""
        rng = self.rng
        author = self.pick()
        team = self.team_of[author]
        where = rng.random()
        if kind == "private":
            channel = self.one(self.private_channels)
            pool: list[int] = []
        elif kind == "link" and where < 0.4:
            channel, pool = self.open_channels["til"], []
        elif where < 0.7:
            channel, pool = self.team_channel[team], self.team_pool(team)
        elif where < 0.85:
            channel, pool = self.open_channels[self.one(("general", "random"))], []
        else:
            channel, pool = self.department_channel[self.people[author].stints[0].department], []
        files = None
        url = ""
        if kind == "link":
            url = self.one(EXTERNAL_LINKS)
            text = self.words(self.one(LINK_POSTS), url=url)
        elif kind == "file":
            text = self.words(self.one(FILE_POSTS))
            files = [self.file(author, second) for _ in range(self.one((1, 1, 1, 2)))]
        elif kind == "teaching":
            text = self.words(self.one(TEACHING))
        elif kind == "private" and rng.random() < 0.3:
            text = self.words(self.one(QUESTIONS))
        else:
            text = self.words(self.one(STATEMENTS))
        deleted = kind == "statement" and rng.random() < self.rates.delete_rate
        message = self.post(second, channel, author, text, None, files, editable=not deleted)
        if deleted:  # posted by mistake: gone within minutes, before anyone responds
            self.delete(message, channel, second + 20 + self.below(300))
            return 1
        if url and rng.random() < 0.5:
            self.unfurl(message, channel, url)
        posted, at = 1, second
        for _ in range(self.weighted(REPLY_COUNTS)):
            at = self.later(at, second, 1_200)
            self.post(at, channel, self.pick_from(pool, author), self.one(REPLIES), message)
            posted += 1
        for _ in range(self.weighted(REACTION_COUNTS)):
            reaction = self.one(("tada", "+1", "eyes", "heart", "joy", "rocket", "bulb", "raised_hands"))
            self.react(message, self.pick_from(pool, author), reaction, self.later(second, second, 600))
        return posted

    def bot_post(self, second: int) -> int:
        """An integration's message (`bot_message`, no user) in the deploy, incident or a team channel."""
        rng = self.rng
        bot = self.one(self.org.bots)
        team = self.one(self.org.teams).name
        channel = self.one((self.open_channels["deploys"], self.open_channels["incidents"], self.team_channel[team]))
        template = BOT_LINES[bot.name]
        text = template.format(
            service=team,
            sha=f"{rng.getrandbits(28):07x}",
            env=self.one(("staging", "production")),
            n=100 + self.below(9_900),
            key=team.split("-")[0].upper()[:4],
            title=self.words("{verb} {topic}"),
        )
        stamp, ts = self.stamp(second)
        event = {"type": "message", "subtype": "bot_message", "text": text, "ts": ts, "username": bot.real_name}
        event["bot_id"] = bot.bot_id
        self.emit(stamp, channel, event)
        return 1

    def direct_talk(self, second: int) -> int:
        """A few messages back and forth in a DM (a group DM now and then); Slack DMs are rarely threaded."""
        rng = self.rng
        first = self.pick()
        team = self.team_pool(self.team_of[first])
        second_person = self.pick_from(team if rng.random() < 0.6 else [], first)
        people = [first, second_person]
        if rng.random() < 0.15:
            people.append(self.pick_from([], first))
        channel = self.direct(tuple(self.uid[index] for index in people))
        count = 1 + self.below(5)
        at = second
        for number in range(count):
            speaker = people[number % len(people)]
            if number == 1:
                text = self.answer_text()
            else:
                phrases = QUESTIONS if number == 0 else THANKS if number == 2 else REPLIES
                text = self.words(self.one(phrases), user=self.uid[people[1]])
            self.post(at, channel, speaker, text)
            at += 20 + self.below(400)
        return count


def blocks_of(text: str, block_id: str) -> list[dict[str, Any]]:
    """The `rich_text` block a Slack client sends with a message: text, user mentions and links as elements."""
    if "<" not in text:
        elements: list[dict[str, Any]] = [{"type": "text", "text": text}]
    else:
        elements, at = [], 0
        for markup in _MARKUP.finditer(text):
            if markup.start() > at:
                elements.append({"type": "text", "text": text[at : markup.start()]})
            target = markup.group(1)
            if target.startswith("@"):
                elements.append({"type": "user", "user_id": target[1:]})
            else:
                link = {"type": "link", "url": target}
                if markup.group(2):
                    link["text"] = markup.group(2)
                elements.append(link)
            at = markup.end()
        if at < len(text):
            elements.append({"type": "text", "text": text[at:]})
    section = {"type": "rich_text_section", "elements": elements}
    return [{"type": "rich_text", "block_id": block_id, "elements": [section]}]


def slack_events(
    org: Organisation, days: int, seed: int, team_id: str, start: date, *, rates: ChatRates | None = None
) -> Iterator[dict[str, Any]]:
    """Events API `event_callback` envelopes of `days` days of the organisation's Slack, in time order."""
    return ChatSimulation(org, days, seed, team_id, start, rates).envelopes()


def write_slack_export(
    org: Organisation,
    days: int,
    seed: int,
    path: Path,
    start: date,
    *,
    team_id: str | None = None,
    rates: ChatRates | None = None,
) -> int:
    """Write the export ZIP of the same conversations' public channels; the number of messages written."""
    simulation = ChatSimulation(org, days, seed, team_id or org.slack_team_id, start, rates)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        folder = ExportFolder(archive, org, simulation.channels, simulation.team_id)
        for second, event in simulation.timed_events():
            folder.add(second, event)
        return folder.close()
