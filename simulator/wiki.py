"""The organisation's wiki over a period: `WikiChange` records for the local MediaWiki (simulator/mediawiki_api.py).

People document their team's work (runbooks, onboarding, architecture pages), now and then another team's, write
help pages and project pages, discuss on talk pages and keep a user page. Some edits are minor, a few are
reverts; maintenance bots make minor edits, and a few edits come from logged-out users (an IP address). Editors
are people of the organisation under their wiki user names, the chattier ones more often, so many of them are
active in Slack too. Same seed, same changes; rcids and revision ids grow with time, as a database assigns them.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from simulator.chat_phrases import TOPICS
from simulator.mediawiki_wire import ChangeType, WikiChange
from simulator.organisation import Member, Organisation

MAIN, TALK, USER, PROJECT, HELP = 0, 1, 2, 4, 12
TEAM_PAGES = ("Runbook", "Onboarding", "Architecture", "FAQ")
EXISTING_TEAM_PAGES = ("Runbook", "Onboarding")  # the rest are written during the period
PROJECT_PAGES = ("Project:Engineering handbook", "Project:Style guide", "Project:Security policy", "Project:Glossary")
WIKI_BOTS = ("MaintenanceBot", "LinkFixBot")
COMMENTS = (
    "/* Setup */ clarify the steps",
    "added a section on {topic}",
    "update links",
    "document the new process for {topic}",
    "/* Troubleshooting */ add the error we hit this week",
    "rewrite the intro",
    "add diagram",
    "notes on {topic}",
)
MINOR_COMMENTS = ("fix typo", "formatting", "fix link", "wording", "")
BOT_COMMENTS = ("Bot: fixing broken links", "Bot: updating category", "Bot: removing dead external link")
#: (kind, cumulative weight) of what an edit is about.
EDIT_KINDS = (("own_team", 62), ("other_team", 75), ("help", 84), ("project", 90), ("talk", 95), ("user", 100))


@dataclass(frozen=True)
class WikiRates:
    """How much happens: the share of people who edit, their edits per working day, bot and anonymous shares."""

    editor_share: float = 0.35
    edits_per_editor_day: float = 0.8
    weekend_factor: float = 0.05
    minor_share: float = 0.25
    revert_share: float = 0.02
    bot_share: float = 0.05
    anonymous_share: float = 0.02


def team_page(team: str, page: str) -> str:
    """The title of a team's page: `Platform team/Runbook`."""
    return f"{team.replace('-', ' ').capitalize()} team/{page}"


def help_page(topic: str) -> str:
    """The title of a help page about a topic: `Help:Feature flags`."""
    return "Help:" + topic.removeprefix("the ").capitalize()


@dataclass(frozen=True)
class Planned:
    """A change before the wiki assigns it ids: when, which page, by whom."""

    second: int
    order: int
    namespace: int
    title: str
    user: str
    comment: str
    delta: int
    minor: bool = False
    bot: bool = False
    anon: bool = False


def wiki_changes(
    org: Organisation,
    days: int,
    seed: int,
    start: date,
    server_name: str | None = None,
    *,
    rates: WikiRates | None = None,
) -> list[WikiChange]:
    """Page creations and edits of `days` days, oldest first; `server_name` None: the simulated wiki's own."""
    rates = rates or WikiRates()
    rng = random.Random(f"wiki/{seed}")
    editors = [member for member in org.members if rng.random() < min(0.95, rates.editor_share * member.weight)]
    if not editors:
        editors = [org.members[0]]
    cumulative, total = [], 0.0
    for editor in editors:
        total += editor.weight
        cumulative.append(total)
    planned: list[Planned] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        midnight = int(datetime.combine(day, time(), UTC).timestamp())
        factor = 1.0 if day.weekday() < 5 else rates.weekend_factor
        for _ in range(round(len(editors) * rates.edits_per_editor_day * factor * rng.uniform(0.8, 1.2))):
            second = midnight + rng.choice((8, 9, 10, 10, 11, 13, 14, 14, 15, 16, 17)) * 3_600 + rng.randrange(3_600)
            editor = editors[bisect(cumulative, rng.random() * total)]
            planned.append(plan_edit(rng, org, editor, day, second, len(planned), rates))
    return assign_ids(rng, org, planned, server_name)


def plan_edit(
    rng: random.Random, org: Organisation, editor: Member, day: date, second: int, order: int, rates: WikiRates
) -> Planned:
    """One change by a person, a bot or a logged-out user at `second`."""
    draw = rng.random()
    topic = rng.choice(TOPICS)
    if draw < rates.bot_share:
        title = team_page(rng.choice(org.teams).name, rng.choice(EXISTING_TEAM_PAGES))
        return Planned(second, order, MAIN, title, rng.choice(WIKI_BOTS), rng.choice(BOT_COMMENTS), -12, True, True)
    if draw < rates.bot_share + rates.anonymous_share:
        address = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        return Planned(second, order, HELP, help_page(topic), address, "", rng.randrange(-40, 200), anon=True)
    drawn = rng.random() * 100
    kind = next(name for name, bound in EDIT_KINDS if drawn < bound)
    team = editor.team_on(day) if kind == "own_team" else rng.choice(org.teams).name
    if kind in ("own_team", "other_team"):
        namespace, title = MAIN, team_page(team, rng.choice(TEAM_PAGES))
    elif kind == "help":
        namespace, title = HELP, help_page(topic)
    elif kind == "project":
        namespace, title = PROJECT, rng.choice(PROJECT_PAGES)
    elif kind == "talk":
        namespace, title = TALK, "Talk:" + team_page(team, rng.choice(EXISTING_TEAM_PAGES))
    else:
        namespace, title = USER, f"User:{editor.wiki_user}"
    if rng.random() < rates.revert_share:
        comment = f"Reverted edits by [[Special:Contributions/{rng.choice(org.members).wiki_user}]]"
        return Planned(second, order, namespace, title, editor.wiki_user, comment, -rng.randrange(50, 900))
    if rng.random() < rates.minor_share:
        comment = rng.choice(MINOR_COMMENTS)
        return Planned(second, order, namespace, title, editor.wiki_user, comment, rng.randrange(-20, 30), minor=True)
    comment = rng.choice(COMMENTS).format(topic=topic)
    return Planned(second, order, namespace, title, editor.wiki_user, comment, rng.randrange(100, 4_000))


def assign_ids(
    rng: random.Random, org: Organisation, planned: list[Planned], server_name: str | None
) -> list[WikiChange]:
    """The changes in time order with rcids, revision ids and sizes; a page's first change creates it unless it
    existed before the period."""
    revid = 40_000 + rng.randrange(10_000)
    pages: dict[tuple[int, str], tuple[int, int]] = {}  # (namespace, title) -> (latest revid, length)
    for team in org.teams:
        for page in EXISTING_TEAM_PAGES:
            for namespace, title in ((MAIN, team_page(team.name, page)), (TALK, "Talk:" + team_page(team.name, page))):
                revid += 1
                pages[(namespace, title)] = (revid, rng.randrange(800, 20_000))
    for title in PROJECT_PAGES:
        revid += 1
        pages[(PROJECT, title)] = (revid, rng.randrange(2_000, 40_000))
    rcid = 2 * revid
    changes = []
    for change in sorted(planned, key=lambda item: (item.second, item.order)):
        rcid += 1
        revid += 1
        key = (change.namespace, change.title)
        previous = pages.get(key)
        kind: ChangeType
        if previous is None:
            old_revid, old_length, kind = 0, 0, "new"
            new_length = max(200, abs(change.delta) + rng.randrange(200, 3_000))
        else:
            old_revid, old_length = previous
            kind = "edit"
            new_length = max(0, old_length + change.delta)
        pages[key] = (revid, new_length)
        changes.append(
            WikiChange(
                rcid=rcid,
                revid=revid,
                old_revid=old_revid,
                type=kind,
                namespace=change.namespace,
                title=change.title,
                user=change.user,
                timestamp=datetime.fromtimestamp(change.second, UTC),
                bot=change.bot,
                minor=change.minor and kind == "edit",
                oldlen=old_length,
                newlen=new_length,
                comment=change.comment if kind == "edit" else f"Created page: {change.comment}".rstrip(": "),
                anon=change.anon,
                server_name=server_name,
            )
        )
    return changes
