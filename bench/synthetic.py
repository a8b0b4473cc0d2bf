"""Benchmark input that does not flatter caches: a month of varied activities shaped like the bundled sample.

Each synthetic activity starts from a sample activity (a seeded shuffle of the sample, cycled) and is varied:
pseudonyms from a pool of a few thousand, fresh native ids, a conversation that is either new or one of the
recent ones of its kind (threads get replies, pages get further edits, course cohorts further statements), a
text no other activity has, and a time that moves through 30 days with the position, with jitter, like a
backfill. Only the recent conversations are held, so streaming a million activities keeps memory flat.

    python bench/synthetic.py --count 200000 --out /tmp/synthetic.jsonl --seed 1
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import sys
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from schemas.activity import Activity, ActivityKind, ConversationKind, ConversationRef, SourceSystem

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "activities.jsonl"
START = datetime(2026, 10, 1, tzinfo=UTC)
SPAN = timedelta(days=30)
JITTER_SECONDS = 900.0
PEOPLE = 3000
BOTS = 8
#: Recent conversations per kind that a new activity may join; older ones are closed and forgotten.
WINDOW = 32
#: Chance that an activity starts a conversation rather than joining a recent one (bot posts always start one).
NEW_THREAD, NEW_PAGE, NEW_COHORT, NEW_OTHER = 0.55, 0.3, 0.25, 0.3
FIRST_REVISION = 1_250_000_000
TEXT_NUMBER_BASE = 10_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PSEUDONYM = re.compile(r"p_[0-9a-f]{24}")
_SECTION = re.compile(r"/\* (.+?) \*/")

#: Sentences that carry no learning signal (no question, thanks, teaching offer, link or mention), appended to
#: chat texts so they vary without changing what the rule classifier decides. Some come from the sample.
NEUTRAL_SENTENCES = (
    "Need that done before it can be used in victoria.",
    "You can consider them the build system of python.",
    "Use unittest or py.test; up to you.",
    "Also, this is the most relevant channel to have algorithm discussions in.",
    "Both of the links I posted are worth reading in full.",
    "Especially the first one; excellent human-readable comparison of GA vs SA.",
    "We do GA.",
    "33MB zip file.",
    "That we parsed together.",
    "7 minutes cpu time.",
    "The functions there are pretty unit-testable.",
    "Just install the executor.",
    "Created an issue for a setup.py so that it can be installed to a standard place.",
    "It is going to be pretty much the same as the one in miguel.",
    "The executor registered on the second slave this time.",
    "Energy went down after the last change to the cooling schedule.",
    "I pushed the branch with the new city list.",
    "The bruteforce run is still going on my laptop.",
    "Moved the scheduler config into its own file.",
    "The framework restarts cleanly now.",
    "Will look at the mesos logs after lunch.",
    "Docker image builds in about four minutes now.",
    "Left a comment on the pull request.",
    "The distance matrix is cached between runs.",
    "That version still crashes on the large input.",
    "Updated the readme with the install steps.",
    "Tried it with a hundred cities and it converged.",
    "Tests pass locally.",
    "The annealing temperature needs tuning.",
    "Same result with the looped variant.",
)
#: Endings that make every text unique: the number is the text's last run of digits and is used once.
CHAT_ENDINGS = ("build {n}", "job {n}", "see ticket {n}", "run {n} on the cluster", "(task {n})")
WIKI_ENDINGS = ("(ref {n})", "per request {n}", "[{n}]", "- item {n}")
DISAMBIGUATIONS = (
    "film",
    "album",
    "song",
    "band",
    "novel",
    "play",
    "TV series",
    "video game",
    "ship",
    "footballer",
    "politician",
    "painting",
    "river",
    "village",
    "company",
    "festival",
)
_YEARS = 130


@dataclass(frozen=True)
class SyntheticStats:
    """What a synthetic file holds; `first_occurred_at`/`last_occurred_at` are the earliest and latest times."""

    count: int
    conversation_keys: int
    distinct_texts: int
    first_occurred_at: datetime | None
    last_occurred_at: datetime | None
    mean_bytes: float


@dataclass(slots=True)
class _Thread:
    """A chat thread still open for replies and reactions: its root and its latest message."""

    root_ts: str
    author: str
    last_ts: str
    last_author: str
    last_when: datetime
    reacted: set[str] = field(default_factory=set)


@cache
def sample_activities() -> tuple[Activity, ...]:
    """The bundled sample every synthetic activity is based on."""
    activities = tuple(Activity.from_bytes(line) for line in SAMPLE.read_bytes().splitlines() if line.strip())
    if not activities:
        raise ValueError(f"{SAMPLE} holds no activities; rebuild it with `learnstream sample build`")
    return activities


def pseudonym_pool(seed: int, size: int, label: str = "person") -> tuple[str, ...]:
    """`size` distinct pseudonyms (`p_` and 24 hex digits) derived from the seed, a label and an index."""
    return tuple(
        "p_" + hashlib.sha256(f"learnstream-bench:{seed}:{label}:{index}".encode()).hexdigest()[:24]
        for index in range(size)
    )


class _Synthesizer:
    """The state of one synthetic stream: its random generator, actor pools and recent conversations."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.people = pseudonym_pool(seed, PEOPLE)
        self.bots = pseudonym_pool(seed, BOTS, "bot")
        self.recent: defaultdict[Hashable, deque[str]] = defaultdict(lambda: deque(maxlen=WINDOW))
        self.threads: defaultdict[str, deque[_Thread]] = defaultdict(lambda: deque(maxlen=WINDOW))
        self.human_threads: defaultdict[str, deque[_Thread]] = defaultdict(lambda: deque(maxlen=WINDOW))
        self.title_uses: defaultdict[tuple[int, str], int] = defaultdict(int)
        self.title_starts: dict[str, int] = {}
        self.numbered: defaultdict[Hashable, int] = defaultdict(int)
        self.cohorts = 0
        sample = sample_activities()
        wiki_texts = (activity.text or "" for activity in sample if activity.source is SourceSystem.MEDIAWIKI)
        self.sections = sorted({section for text in wiki_texts for section in _SECTION.findall(text)})

    def person(self, other_than: str | None = None) -> str:
        """A person from the pool, skewed so a few people are much more active than most."""
        while True:
            chosen = self.people[int(len(self.people) * self.rng.random() ** 2)]
            if chosen != other_than:
                return chosen

    def conversation(self, kind: Hashable, probability_new: float, make_id: Callable[[], str]) -> tuple[str, bool]:
        """A recent conversation of this kind, or a new one; and whether it is new."""
        recent = self.recent[kind]
        if recent and self.rng.random() >= probability_new:
            return self.rng.choice(recent), False
        new = make_id()
        recent.append(new)
        return new, True

    def ending(self, endings: tuple[str, ...], index: int) -> str:
        return self.rng.choice(endings).format(n=TEXT_NUMBER_BASE + index)

    def activity(self, base: Activity, index: int, when: datetime) -> tuple[Activity, bool]:
        """A variation of `base` at position `index` and time `when`; and whether it starts a conversation."""
        if base.source is SourceSystem.SLACK:
            if base.kind is ActivityKind.REACTION:
                return self.slack_reaction(base, index, when)
            return self.slack_message(base, index, when)
        if base.source is SourceSystem.MEDIAWIKI:
            return self.wiki_edit(base, index, when)
        if base.source is SourceSystem.XAPI:
            return self.xapi_statement(base, index, when)
        return self.other(base, index, when)

    def slack_message(self, base: Activity, index: int, when: datetime) -> tuple[Activity, bool]:
        channel = base.conversation.id.split("/", 1)[0]
        bot = base.attributes.get("bot") is True
        actor = self.rng.choice(self.bots) if bot else self.person()
        humans = self.human_threads[channel]
        thread = None
        if not bot and humans and self.rng.random() >= NEW_THREAD:
            thread = self.rng.choice(humans)
            when = max(when, thread.last_when)  # same second at most; the later position makes the later ts
        ts, occurred_at = _slack_ts(when, index)
        counterpart = None
        if base.counterpart is not None:
            addressed = thread.author if thread is not None else None
            counterpart = addressed if addressed not in (None, actor) else self.person(other_than=actor)
        text = base.text
        if text:
            names = {base.actor: actor}
            if base.counterpart is not None and counterpart is not None:
                names[base.counterpart] = counterpart
            text = self.chat_text(text, names, index)
        if thread is None:
            thread = _Thread(ts, actor, ts, actor, occurred_at)
            self.threads[channel].append(thread)
            if not bot:
                humans.append(thread)
            started, reply = True, False
        else:
            thread.last_ts, thread.last_author, thread.last_when = ts, actor, occurred_at
            started, reply = False, True
        activity = Activity.create(
            source=SourceSystem.SLACK,
            source_instance=base.source_instance,
            native_id=f"{channel}/{ts}",
            kind=ActivityKind.REPLY if reply else ActivityKind.MESSAGE,
            occurred_at=occurred_at,
            actor=actor,
            conversation=ConversationRef(kind=ConversationKind.THREAD, id=f"{channel}/{thread.root_ts}"),
            in_reply_to=f"{channel}/{thread.root_ts}" if reply else None,
            counterpart=counterpart,
            subject=base.subject,
            text=text,
            attributes=dict(base.attributes),
        )
        return activity, started

    def slack_reaction(self, base: Activity, index: int, when: datetime) -> tuple[Activity, bool]:
        channel = base.conversation.id.split("/", 1)[0]
        threads = self.threads[channel]
        started = not threads
        if started:  # the message reacted to was posted before the month began, or before the stream started
            ts, posted = _slack_ts(when - timedelta(minutes=5), index)
            author = self.person()
            threads.append(_Thread(ts, author, ts, author, posted))
        thread = self.rng.choice(threads)
        name = str(base.attributes.get("reaction", "+1"))
        actor = self.person(other_than=thread.last_author)
        while f"{thread.last_ts}/{name}/{actor}" in thread.reacted:
            actor = self.person(other_than=thread.last_author)
        thread.reacted.add(f"{thread.last_ts}/{name}/{actor}")
        activity = Activity.create(
            source=SourceSystem.SLACK,
            source_instance=base.source_instance,
            native_id=f"{channel}/{thread.last_ts}/reaction/{name}/{actor}",
            kind=ActivityKind.REACTION,
            occurred_at=max(when, thread.last_when),
            actor=actor,
            conversation=ConversationRef(kind=ConversationKind.THREAD, id=f"{channel}/{thread.root_ts}"),
            in_reply_to=f"{channel}/{thread.last_ts}",
            counterpart=thread.last_author,
            subject=base.subject,
            attributes=dict(base.attributes),
        )
        return activity, started

    def chat_text(self, text: str, names: dict[str, str], index: int) -> str:
        """The base text with its pseudonyms replaced, a few neutral sentences and a unique ending appended."""
        text = _PSEUDONYM.sub(lambda match: names.setdefault(match.group(0), self.person()), text).rstrip()
        extra = self.rng.choices((0, 1, 2), weights=(4, 4, 2))[0]
        if extra and text[-1:].isalnum():
            text += "."
        parts = [text, *(self.rng.choice(NEUTRAL_SENTENCES) for _ in range(extra)), self.ending(CHAT_ENDINGS, index)]
        return ("\n" if "\n" in text or "```" in text else " ").join(parts)

    def wiki_edit(self, base: Activity, index: int, when: datetime) -> tuple[Activity, bool]:
        namespace = int(base.attributes.get("namespace", 0))
        title = base.subject or base.conversation.id.split(":", 1)[-1]
        page, started = self.conversation(("wiki", namespace), NEW_PAGE, lambda: self.new_title(namespace, title))
        text = base.text
        if text:
            match = _SECTION.search(text)
            if match and self.sections and self.rng.random() < 0.5:
                text = f"{text[: match.start(1)]}{self.rng.choice(self.sections)}{text[match.end(1) :]}"
            text = f"{text} {self.ending(WIKI_ENDINGS, index)}"
        attributes = dict(base.attributes)
        if "bytes_changed" in attributes:
            attributes["bytes_changed"] = int(attributes["bytes_changed"]) + self.rng.randint(-20, 20)
        bot = attributes.get("bot") is True
        activity = Activity.create(
            source=SourceSystem.MEDIAWIKI,
            source_instance=base.source_instance,
            native_id=f"rev/{FIRST_REVISION + index}",
            kind=base.kind,
            occurred_at=when.replace(microsecond=0),
            actor=self.rng.choice(self.bots) if bot else self.person(),
            conversation=ConversationRef(kind=ConversationKind.PAGE, id=f"{namespace}:{page}"),
            subject=page,
            text=text,
            attributes=attributes,
        )
        return activity, started

    def new_title(self, namespace: int, title: str) -> str:
        """A page title no other call returns: a disambiguated article or draft, or a numbered subpage."""
        uses = self.title_uses[(namespace, title)]
        self.title_uses[(namespace, title)] = uses + 1
        if namespace not in (0, 118):
            return f"{title}/{uses + 1}"
        # A per-title start keeps every title's first variants from all being "(1901 film)"; the shift is a
        # bijection within each cycle, so titles stay unique.
        start = self.title_starts.setdefault(title, self.rng.randrange(_YEARS * len(DISAMBIGUATIONS)))
        year = 1901 + (uses + start) % _YEARS
        noun = DISAMBIGUATIONS[(uses // _YEARS + start // _YEARS) % len(DISAMBIGUATIONS)]
        round_ = uses // (_YEARS * len(DISAMBIGUATIONS))
        return f"{title} ({year} {noun}{f' {round_ + 1}' if round_ else ''})"

    def xapi_statement(self, base: Activity, index: int, when: datetime) -> tuple[Activity, bool]:
        course = base.conversation.id
        cohort, started = self.conversation(("xapi", course), NEW_COHORT, lambda: self.new_cohort(course))
        # The index in the low 48 bits makes the statement id unique; the random bits make it look like one.
        statement_id = uuid.UUID(int=(self.rng.getrandbits(80) << 48) | index, version=4)
        activity = Activity.create(
            source=SourceSystem.XAPI,
            source_instance=base.source_instance,
            native_id=str(statement_id),
            kind=base.kind,
            occurred_at=when.replace(microsecond=when.microsecond // 1000 * 1000),
            actor=self.person(),
            conversation=ConversationRef(kind=base.conversation.kind, id=cohort),
            subject=base.subject,
            text=base.text,
            attributes=dict(base.attributes),
        )
        return activity, started

    def new_cohort(self, course: str) -> str:
        self.cohorts += 1
        return f"{course}/cohort-{self.cohorts}"

    def other(self, base: Activity, index: int, when: datetime) -> tuple[Activity, bool]:
        """Sources the sample may gain later: numbered conversations and native ids, a unique text."""
        kind = (base.source, base.source_instance, base.conversation.kind, base.conversation.id)

        def numbered() -> str:
            self.numbered[kind] += 1
            return f"{base.conversation.id}/{self.numbered[kind]}"

        conversation_id, started = self.conversation(kind, NEW_OTHER, numbered)
        fields: dict[str, Any] = base.model_dump(exclude={"activity_id", "schema_version"})
        fields.update(
            source=base.source,
            native_id=f"{base.native_id}/{index}",
            kind=base.kind,
            occurred_at=when,
            actor=self.person(),
            conversation=ConversationRef(kind=base.conversation.kind, id=conversation_id),
            text=f"{base.text} {self.ending(CHAT_ENDINGS, index)}" if base.text else base.text,
        )
        return Activity.create(**fields), started


def _slack_ts(when: datetime, index: int) -> tuple[str, datetime]:
    """A Slack `ts` at the second of `when`, with the position as its sequence part, and the time it stands for.

    The sequence part makes every ts unique for up to a million activities, and beyond that as long as positions
    a million apart are more than a second apart.
    """
    delta = when - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    sequence = index % 1_000_000
    return f"{seconds}.{sequence:06d}", _EPOCH + timedelta(seconds=seconds, microseconds=sequence)


def _generate(count: int, seed: int) -> Iterator[tuple[Activity, bool]]:
    """The synthetic activities in order, each with whether it starts a conversation."""
    if count < 0:
        raise ValueError(f"count must be zero or more, not {count}")
    synthesizer = _Synthesizer(seed)
    sample = sample_activities()
    pending: list[Activity] = []
    span = SPAN.total_seconds()
    for index in range(count):
        if not pending:
            pending = list(sample)
            synthesizer.rng.shuffle(pending)
        offset = (index + 0.5) * span / count + synthesizer.rng.uniform(-JITTER_SECONDS, JITTER_SECONDS)
        when = START + timedelta(seconds=min(max(offset, 0.0), span - 1.0))
        yield synthesizer.activity(pending.pop(), index, when)


def iter_synthetic_activities(count: int, seed: int = 0) -> Iterator[bytes]:
    """`count` serialized activities, one at a time, the same for the same seed."""
    for activity, _ in _generate(count, seed):
        yield activity.to_bytes()


def synthetic_activities(count: int, seed: int = 0) -> list[bytes]:
    """`count` serialized activities in a list (see `iter_synthetic_activities`)."""
    return list(iter_synthetic_activities(count, seed))


def write_jsonl(path: Path | str, count: int, seed: int = 0) -> SyntheticStats:
    """Stream `count` synthetic activities to `path`, one JSON line each, and describe what was written.

    Conversation keys and texts are counted as they are made: every new conversation gets a key no other one
    has, and every non-empty text is unique (the unit tests check both), so nothing is remembered per line.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = keys = texts = size = 0
    first: datetime | None = None
    last: datetime | None = None
    with target.open("wb") as out:
        for activity, started in _generate(count, seed):
            line = activity.to_bytes()
            out.write(line + b"\n")
            written += 1
            size += len(line)
            keys += started
            texts += bool(activity.text)
            first = activity.occurred_at if first is None else min(first, activity.occurred_at)
            last = activity.occurred_at if last is None else max(last, activity.occurred_at)
    return SyntheticStats(written, keys, texts, first, last, size / written if written else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, required=True, help="how many activities to write")
    parser.add_argument("--out", type=Path, required=True, help="the JSON lines file to write")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same file")
    args = parser.parse_args()
    if args.count < 0:
        parser.error(f"--count must be zero or more, not {args.count}")
    started = time.perf_counter()
    try:
        stats = write_jsonl(args.out, args.count, args.seed)
    except OSError as exc:
        print(f"cannot write {args.out}: {exc}; choose a writable --out path", file=sys.stderr)
        sys.exit(1)
    elapsed = time.perf_counter() - started
    print(f"wrote {stats.count:,} activities to {args.out} in {elapsed:.1f} s ({stats.count / elapsed:,.0f}/s)")
    print(f"conversation keys   {stats.conversation_keys:,}")
    print(f"distinct texts      {stats.distinct_texts:,}")
    print(f"first occurred_at   {stats.first_occurred_at.isoformat() if stats.first_occurred_at else '-'}")
    print(f"last occurred_at    {stats.last_occurred_at.isoformat() if stats.last_occurred_at else '-'}")
    print(f"mean bytes per line {stats.mean_bytes:,.1f}")


if __name__ == "__main__":
    main()
