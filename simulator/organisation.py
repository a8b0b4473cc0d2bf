"""A synthetic organisation: people in teams inside departments, their managers and their accounts in each tool.

Same seed, same organisation: every name, id and move comes from one `random.Random` seeded with the seed, and
names come from small built-in word lists, so nothing depends on the machine or on hash randomisation.

What it holds on purpose, so connectors meet what real exports give them:
- people who moved team during the period (a second HR row with a later `valid_from`);
- people whose Slack account HR does not list (resolvable only by e-mail through `users.list` / `users.json`);
- contractors HR does not know at all (their Slack and wiki accounts stay unresolved);
- a few bot users (integrations) in Slack.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from producers.directory import AccountKind

FIRST_NAMES = (
    "ada", "alan", "amira", "anna", "arjun", "ben", "carla", "chen", "dario", "diana", "elif", "emil", "erin",
    "farah", "felix", "grace", "hana", "hugo", "ines", "ivan", "jonas", "julia", "kai", "karin", "lars", "lea",
    "leo", "lina", "luca", "maja", "marco", "mei", "mira", "nadia", "nils", "noor", "olga", "omar", "pablo",
    "priya", "rafael", "rosa", "sami", "sara", "sven", "tara", "theo", "una", "vera", "wei", "yara", "yusuf",
    "zoe", "aiko", "bruno", "clara", "dmitri", "eva", "femi", "gita",
)  # fmt: skip
LAST_NAMES = (
    "abbott", "alvarez", "berg", "bianchi", "brandt", "castro", "dahl", "dubois", "eriksen", "fischer", "garcia",
    "haas", "hansen", "ito", "jensen", "kaur", "keller", "kowalski", "lang", "larsen", "lopez", "mendes", "meyer",
    "moreau", "nakamura", "novak", "okafor", "olsen", "park", "patel", "petrov", "quinn", "rossi", "sato",
    "schmidt", "silva", "sousa", "tanaka", "torres", "varga", "vogel", "wagner", "weber", "wong", "yilmaz",
    "zhang", "adler", "baker", "costa", "dias", "evans", "frey", "gomez", "horvat", "ivanova", "jung", "klein",
    "lund", "marsh", "nowak",
)  # fmt: skip
COMPANY_WORDS = ("north", "bright", "silver", "cedar", "harbor", "lumen", "kestrel", "granite", "willow", "tidal")
COMPANY_ENDINGS = ("works", "labs", "field", "systems", "point", "stone")
CONTRACTOR_AGENCIES = ("devpool", "talentbridge", "codecrew", "staffwise")
#: Departments, how large a share of the people each holds, and the areas its teams are named after.
DEPARTMENTS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("Engineering", 0.5, ("platform", "payments", "data", "mobile", "search", "infra", "security", "checkout",
                          "identity", "observability", "billing", "growth", "web", "api")),
    ("Product", 0.15, ("design", "research", "product-ops", "analytics")),
    ("Sales", 0.2, ("sales-emea", "sales-amer", "solutions", "partnerships", "customer-success")),
    ("Operations", 0.15, ("it", "support", "finance", "people", "legal", "facilities")),
)  # fmt: skip
BOTS = (("deploybot", "Deploy Bot"), ("jira", "Jira Cloud"), ("github", "GitHub"), ("pagerduty", "PagerDuty"))
MIN_TEAM, MAX_TEAM = 4, 12
MOVER_SHARE = 0.08  # people who change team during the period
UNLISTED_SLACK_SHARE = 0.06  # people whose Slack account HR does not list
CONTRACTOR_SHARE = 0.02  # Slack and wiki users HR does not know
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
CSV_COLUMNS = ("person_id", "email", "team", "department", "manager_id", "valid_from", *(k.value for k in AccountKind))


@dataclass(frozen=True)
class Team:
    """A team: its name (unique in the organisation), its department, and the HR id of its lead."""

    name: str
    department: str
    lead: str


@dataclass(frozen=True)
class Stint:
    """Where a person sat from `valid_from` on: one HR row."""

    valid_from: date
    team: str
    department: str
    manager_id: str | None


@dataclass(frozen=True)
class Member:
    """Someone who works here: an employee (in the HR directory) or a contractor (not in it).

    `slack_listed` says whether HR names the Slack account; `weight` is how chatty the person is (a heavy tail:
    a few people write much of the traffic).
    """

    person_id: str
    first_name: str
    last_name: str
    email: str
    slack_id: str
    wiki_user: str
    stints: tuple[Stint, ...]
    in_directory: bool = True
    slack_listed: bool = True
    weight: float = 1.0

    @property
    def real_name(self) -> str:
        """The name a profile shows."""
        return f"{self.first_name.title()} {self.last_name.title()}"

    @property
    def handle(self) -> str:
        """The Slack `name` (the part of the e-mail before the @)."""
        return self.email.split("@", 1)[0]

    @property
    def confluence_user_key(self) -> str:
        """The person's Confluence Data Center user key."""
        return confluence_user_key(self.wiki_user)

    def team_on(self, day: date) -> str:
        """The person's team on `day` (the first team before the first row's date)."""
        team = self.stints[0].team
        for stint in self.stints[1:]:
            if stint.valid_from > day:
                break
            team = stint.team
        return team


def confluence_user_key(wiki_user: str) -> str:
    """The Confluence Data Center user key (32 hex digits, as Data Center makes them) of a simulated wiki user."""
    return hashlib.sha256(f"confluence-user-key\x1f{wiki_user}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Bot:
    """A Slack integration: its bot user, its bot id (B…) and its name."""

    slack_id: str
    bot_id: str
    name: str
    real_name: str


@dataclass(frozen=True)
class Organisation:
    """Everything generated for one seed: the company, its teams, its people (employees first) and its bots."""

    seed: int
    start: date
    company: str
    domain: str
    slack_team_id: str
    teams: tuple[Team, ...]
    members: tuple[Member, ...]
    bots: tuple[Bot, ...]

    @property
    def employees(self) -> tuple[Member, ...]:
        """The people HR lists."""
        return tuple(member for member in self.members if member.in_directory)

    @property
    def contractors(self) -> tuple[Member, ...]:
        """The people HR does not list."""
        return tuple(member for member in self.members if not member.in_directory)

    @property
    def departments(self) -> tuple[str, ...]:
        """The departments that have teams, in generation order."""
        return tuple(dict.fromkeys(team.department for team in self.teams))


def slack_id(rng: random.Random, prefix: str, taken: set[str]) -> str:
    """A Slack id: the prefix and 10 base32 characters, unique among `taken`."""
    while True:
        candidate = prefix + "".join(rng.choices(BASE32, k=10))
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def team_sizes(rng: random.Random, people: int) -> list[int]:
    """Sizes of 4 to 12 that add up to `people` (one smaller team only when there are fewer than 4 people)."""
    sizes, remaining = [], people
    while remaining > 0:
        size = rng.randint(MIN_TEAM, MAX_TEAM)
        if remaining <= MAX_TEAM:
            size = remaining
        elif remaining - size < MIN_TEAM:
            size = remaining - MIN_TEAM
        sizes.append(size)
        remaining -= size
    return sizes


def team_names(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(team name, department) for `count` teams: areas of each department, numbered once they run out."""
    weights = [share for _, share, _ in DEPARTMENTS]
    used: dict[str, int] = {}
    named = []
    for index in range(count):
        # the first teams cover every department, so even a small organisation has cross-department traffic
        department, _, areas = DEPARTMENTS[index] if index < len(DEPARTMENTS) else rng.choices(DEPARTMENTS, weights)[0]
        area = areas[used.get(department, 0) % len(areas)]
        round_ = used.get(department, 0) // len(areas)
        used[department] = used.get(department, 0) + 1
        named.append((area if round_ == 0 else f"{area}-{round_ + 1}", department))
    return named


def unique(name: str, taken: dict[str, int], separator: str = "") -> str:
    """`name`, or `name` with a number when it is taken already."""
    count = taken.get(name, 0) + 1
    taken[name] = count
    return name if count == 1 else f"{name}{separator}{count}"


def generate_organisation(people: int, seed: int, start: date, *, days: int = 60) -> Organisation:
    """An organisation of `people` employees (plus ~2 % contractors) whose movers change team within `days`."""
    if people < 1:
        raise ValueError(f"an organisation needs at least one person, not {people}")
    rng = random.Random(f"organisation/{seed}")
    company = rng.choice(COMPANY_WORDS) + rng.choice(COMPANY_ENDINGS)
    domain = f"{company}.example"
    ids: set[str] = set()
    team_id = slack_id(rng, "T", ids)
    emails: dict[str, int] = {}
    wiki_names: dict[str, int] = {}

    def person(number: int, prefix: str, mail_domain: str) -> tuple[str, str, str, str, str, str]:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = unique(f"{first}.{last}", emails) + "@" + mail_domain
        wiki = unique(f"{first.title()} {last.title()}", wiki_names, " ")
        return f"{prefix}{number:05d}", first, last, email, slack_id(rng, "U", ids), wiki

    sizes = team_sizes(rng, people)
    named = team_names(rng, len(sizes))
    heads: dict[str, str] = {}
    teams: list[Team] = []
    rows: list[tuple[tuple[str, str, str, str, str, str], Stint]] = []
    number = 1
    for (name, department), size in zip(named, sizes, strict=True):
        lead = f"E{number:05d}"
        head = heads.setdefault(department, lead)
        ceo = next(iter(heads.values()))
        teams.append(Team(name, department, lead))
        for member in range(size):
            identity = person(number, "E", domain)
            if member > 0:
                manager: str | None = lead
            elif lead != head:
                manager = head
            else:
                manager = ceo if head != ceo else None
            hired = start - timedelta(days=rng.randint(30, 3000))
            rows.append((identity, Stint(hired, name, department, manager)))
            number += 1

    leads = {team.lead for team in teams}
    by_name = {team.name: team for team in teams}
    members = []
    for identity, stint in rows:
        stints = [stint]
        if len(teams) > 1 and identity[0] not in leads and days > 1 and rng.random() < MOVER_SHARE:
            target = rng.choice(teams)
            while target.name == stint.team:
                target = rng.choice(teams)
            moved = start + timedelta(days=rng.randint(1, days - 1))
            stints.append(Stint(moved, target.name, target.department, target.lead))
        members.append(
            Member(
                *identity,
                stints=tuple(stints),
                slack_listed=rng.random() >= UNLISTED_SLACK_SHARE,
                weight=rng.lognormvariate(0.0, 0.6),
            )
        )
    agency = rng.choice(CONTRACTOR_AGENCIES) + ".example"
    for index in range(max(1, round(people * CONTRACTOR_SHARE))):
        team = by_name[rng.choice(teams).name]
        stint = Stint(start - timedelta(days=rng.randint(10, 200)), team.name, team.department, team.lead)
        identity = person(index + 1, "X", agency)
        members.append(Member(*identity, stints=(stint,), in_directory=False, weight=rng.lognormvariate(0.0, 0.6)))
    bots = tuple(Bot(slack_id(rng, "U", ids), slack_id(rng, "B", ids), name, real) for name, real in BOTS)
    return Organisation(seed, start, company, domain, team_id, tuple(teams), tuple(members), bots)


def directory_csv(org: Organisation) -> str:
    """The HR export (producers/directory.py's CSV): one row per employee and period, accounts on the first row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for member in org.employees:
        for index, stint in enumerate(member.stints):
            first = index == 0
            accounts = {
                AccountKind.SLACK: member.slack_id if member.slack_listed else "",
                AccountKind.WIKI: member.wiki_user,
                AccountKind.CONFLUENCE: member.confluence_user_key,  # Data Center webhooks name user keys only
                AccountKind.LMS: member.handle,
            }
            row = {
                "person_id": member.person_id,
                "email": member.email,
                "team": stint.team,
                "department": stint.department,
                "manager_id": stint.manager_id or "",
                "valid_from": stint.valid_from.isoformat(),
            }
            writer.writerow({**row, **{kind.value: accounts.get(kind, "") if first else "" for kind in AccountKind}})
    return out.getvalue()


def slack_users(org: Organisation, team_id: str | None = None) -> list[dict[str, Any]]:
    """Every member and bot as Slack's `users.list` `members` (and an export's `users.json`) give them."""
    team = team_id or org.slack_team_id
    rng = random.Random(f"slack-users/{org.seed}")
    users = []
    for member in org.members:
        profile: dict[str, Any] = {
            "title": member.stints[-1].team,
            "real_name": member.real_name,
            "real_name_normalized": member.real_name,
            "display_name": member.handle,
            "display_name_normalized": member.handle,
            "email": member.email,
            "first_name": member.first_name.title(),
            "last_name": member.last_name.title(),
            "status_text": "",
            "status_emoji": "",
            "avatar_hash": f"g{rng.getrandbits(44):011x}",
            "team": team,
        }
        users.append(user_entry(member.slack_id, team, member.handle, member.real_name, profile, rng, False))
        if not member.in_directory:
            users[-1]["is_restricted"] = True  # a guest account, as contractors usually have
    for bot in org.bots:
        profile = {
            "real_name": bot.real_name,
            "real_name_normalized": bot.real_name,
            "display_name": "",
            "display_name_normalized": "",
            "bot_id": bot.bot_id,
            "always_active": True,
            "avatar_hash": f"{rng.getrandbits(48):012x}",
            "team": team,
        }
        users.append(user_entry(bot.slack_id, team, bot.name, bot.real_name, profile, rng, True))
    return users


def user_entry(
    user_id: str, team: str, name: str, real_name: str, profile: dict[str, Any], rng: random.Random, is_bot: bool
) -> dict[str, Any]:
    """One `users.list` member, fields in Slack's order."""
    return {
        "id": user_id,
        "team_id": team,
        "name": name,
        "deleted": False,
        "color": f"{rng.getrandbits(24):06x}",
        "real_name": real_name,
        "tz": "Europe/Berlin",
        "tz_label": "Central European Time",
        "tz_offset": 3600,
        "profile": profile,
        "is_admin": False,
        "is_owner": False,
        "is_primary_owner": False,
        "is_restricted": False,
        "is_ultra_restricted": False,
        "is_bot": is_bot,
        "is_app_user": False,
        "updated": 1_700_000_000 + rng.randrange(10_000_000),
    }
