"""What `learnstream dlq` decides about the dead letters it read: which to list, and which to replay where.

Pure: the Kafka reading and writing is in `learnstream/dead_letter_topic.py`, the commands in `cli/dlq.py`.

A message can be set aside more than once: replayed after a fix that did not cover it, it fails again, and its new
dead letter names the first one in `replay_of` (`schemas/headers.py`: the replayed record carries that id). The
first dead letter's id is the message's *root*; a replay sends each root once, the bytes of its newest dead letter,
and records it in the ledger (`<ns>.activity.dlq.replays`, keyed by root). So a replay never loops:

- a run reads the dead-letter topic only up to the end it had when the run began, so the letters its own replays
  cause are not read again in the same run;
- a root whose newest dead letter was replayed already is skipped (unless `--again`), so running the same replay
  twice sends nothing the second time;
- a root that failed again after its replay has a newer dead letter than the one the ledger names, so a later
  replay (after the next fix) tries it again, once.

What can be replayed: the worker's dead letters (records of the raw topic: they go back to it, to be decided again)
and the loader's (learning events: back to the learning-event topic, to be stored again). A connector's dead letter
holds a source's own record (a Slack event, a wiki change), not a pipeline record: nothing in the pipeline reads
it, so after a fix the source is backfilled over that period instead (`learnstream connect run NAME
--backfill-from`), which sends the same activity ids.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from schemas.dead_letter import DeadLetter, DeadLetterReason, LetterId
from schemas.topics import Topics

#: The stages whose dead letters are pipeline records, and so can go back to the topic they were read from.
REPLAYABLE_STAGES = ("worker", "loader")
CONNECTOR_STAGE = "connector"


class StoredLetter(NamedTuple):
    """A dead letter as the dead-letter topic holds it: its id there, and when it was written (Kafka's time)."""

    id: LetterId
    written_at: datetime
    letter: DeadLetter

    @property
    def root(self) -> LetterId:
        """The id of the message's first dead letter (its own id, unless it failed again after a replay)."""
        return self.letter.replay_of or self.id


@dataclass(frozen=True)
class Replayed:
    """A ledger entry: the dead letter of a root that was replayed, when, and where the record went."""

    letter: LetterId
    replayed_at: datetime
    topic: str

    def to_bytes(self) -> bytes:
        """The ledger record's value (its key is the root's id)."""
        document = {"letter": str(self.letter), "replayed_at": self.replayed_at.isoformat(), "topic": self.topic}
        return json.dumps(document, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, value: bytes) -> Replayed:
        """A ledger record's value; ValueError or TypeError when it is not one."""
        document = json.loads(value)
        if not isinstance(document, dict):
            raise TypeError("a ledger record is a JSON object")
        replayed_at = datetime.fromisoformat(str(document["replayed_at"]))
        if replayed_at.tzinfo is None:
            raise ValueError("replayed_at has no time zone")
        return cls(LetterId.parse(str(document["letter"])), replayed_at, str(document["topic"]))


class ReplayState(StrEnum):
    """Where a message stands with replays."""

    NEVER = "not replayed"
    REPLAYED = "replayed"  # its newest dead letter was replayed; it has not failed since
    FAILED_AGAIN = "failed again"  # replayed, and set aside again since


def replay_state(newest: StoredLetter, ledger: Mapping[LetterId, Replayed]) -> ReplayState:
    """The state of the message whose newest dead letter is `newest`."""
    entry = ledger.get(newest.root)
    if entry is None:
        return ReplayState.FAILED_AGAIN if newest.letter.replay_of is not None else ReplayState.NEVER
    return ReplayState.REPLAYED if entry.letter == newest.id else ReplayState.FAILED_AGAIN


@dataclass(frozen=True)
class LetterFilter:
    """Which dead letters a command is about: by reason, by stage, written at or after a time."""

    reasons: frozenset[DeadLetterReason] = frozenset()
    stages: frozenset[str] = frozenset()
    since: datetime | None = None

    def matches(self, stored: StoredLetter) -> bool:
        """Whether this letter is one of them."""
        letter = stored.letter
        return (
            (not self.reasons or letter.reason in self.reasons)
            and (not self.stages or letter.stage in self.stages)
            and (self.since is None or stored.written_at >= self.since)
        )


def newest_by_root(letters: Iterable[StoredLetter]) -> dict[LetterId, StoredLetter]:
    """The newest dead letter of each message (root), in the order the roots were first seen."""
    newest: dict[LetterId, StoredLetter] = {}
    for stored in letters:
        known = newest.get(stored.root)
        if known is None or (stored.written_at, stored.id.offset) > (known.written_at, known.id.offset):
            newest[stored.root] = stored
    return newest


class ReplayRecord(NamedTuple):
    """One record a replay writes back: to `topic`, with the dead letter's key and original bytes."""

    root: LetterId
    letter: LetterId
    topic: str
    key: bytes | None
    value: bytes


def replay_topic(letter: DeadLetter, topics: Topics) -> str | None:
    """The topic a dead letter's message goes back to, or None when it is no record of this namespace's pipeline."""
    expected = {"worker": topics.activity_raw, "loader": topics.learning_events}.get(letter.stage)
    return expected if expected is not None and letter.source_topic == expected else None


@dataclass
class ReplayPlan:
    """What a replay will send, and what it leaves out and why (counts by cause)."""

    records: list[ReplayRecord] = field(default_factory=list)
    already_replayed: int = 0
    from_connectors: int = 0
    other_namespace: int = 0
    superseded: int = 0  # older dead letters of a message whose newest one is replayed instead
    not_matching: int = 0

    @property
    def skipped(self) -> int:
        """How many matching messages it does not send."""
        return self.already_replayed + self.from_connectors + self.other_namespace

    def by_topic(self) -> dict[str, int]:
        """How many records go to each topic."""
        counts: dict[str, int] = {}
        for record in self.records:
            counts[record.topic] = counts.get(record.topic, 0) + 1
        return counts


def plan_replay(
    letters: Iterable[StoredLetter],
    ledger: Mapping[LetterId, Replayed],
    topics: Topics,
    wanted: LetterFilter,
    again: bool = False,
) -> ReplayPlan:
    """Each matching message once: its newest dead letter's bytes, back to the topic it was read from. A message
    replayed already and not set aside since is left out unless `again`."""
    plan = ReplayPlan()
    read = list(letters)
    newest = newest_by_root(read)
    plan.superseded = len(read) - len(newest)
    for root, stored in newest.items():
        if not wanted.matches(stored):
            plan.not_matching += 1
            continue
        letter = stored.letter
        if letter.stage == CONNECTOR_STAGE:
            plan.from_connectors += 1
            continue
        topic = replay_topic(letter, topics)
        if topic is None:
            plan.other_namespace += 1
            continue
        if not again and replay_state(stored, ledger) is ReplayState.REPLAYED:
            plan.already_replayed += 1
            continue
        plan.records.append(ReplayRecord(root, stored.id, topic, letter.key, letter.original))
    return plan


def left_out_lines(plan: ReplayPlan, again: bool) -> list[str]:
    """Why matching messages are not replayed, one line per cause, with what to do instead."""
    lines = []
    if plan.already_replayed:
        hint = "" if again else " (--again sends them again)"
        lines.append(f"left out {plan.already_replayed:,} replayed already and not set aside since{hint}")
    if plan.from_connectors:
        lines.append(
            f"left out {plan.from_connectors:,} set aside by connectors: they hold the source's own records; after "
            "the fix, backfill the source over their period (`learnstream connect run NAME --backfill-from T`)"
        )
    if plan.other_namespace:
        lines.append(f"left out {plan.other_namespace:,} read from topics of another namespace")
    if plan.superseded:
        lines.append(f"{plan.superseded:,} older dead letters of the same messages: each message is sent once")
    return lines


def describe_filter(wanted: LetterFilter) -> str:
    """` (reason invalid_json; since 2026-11-30 08:00 UTC)`, or nothing without a filter."""
    parts = []
    if wanted.reasons:
        parts.append("reason " + ", ".join(sorted(reason.value for reason in wanted.reasons)))
    if wanted.stages:
        parts.append("stage " + ", ".join(sorted(wanted.stages)))
    if wanted.since is not None:
        parts.append(f"since {wanted.since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
    return f" ({'; '.join(parts)})" if parts else ""


# --- what `dlq list` and `dlq show` print -------------------------------------------------------------------------


def origin_of(letter: DeadLetter) -> str:
    """Where the message was read: `topic[partition]@offset`, or the source instance for a connector's letter."""
    if letter.partition < 0:
        return letter.source_topic
    return f"{letter.source_topic}[{letter.partition}]@{letter.offset}"


def letter_document(
    stored: StoredLetter, state: ReplayState, entry: Replayed | None, with_original: bool = False
) -> dict[str, Any]:
    """One dead letter as `--json` shows it (the original's bytes only when asked: they may hold message text)."""
    letter = stored.letter
    document: dict[str, Any] = {
        "id": str(stored.id),
        "written_at": stored.written_at.isoformat(),
        "stage": letter.stage,
        "reason": letter.reason.value,
        "detail": letter.detail,
        "source_system": letter.source_system.value if letter.source_system else None,
        "origin": origin_of(letter),
        "original_bytes": len(letter.original),
        "failed_at": letter.failed_at.isoformat(),
        "replay_of": str(letter.replay_of) if letter.replay_of else None,
        "replay": state.value,
        "replayed": (
            {"letter": str(entry.letter), "at": entry.replayed_at.isoformat(), "topic": entry.topic} if entry else None
        ),
    }
    if with_original:
        document["original_base64"] = letter.original_base64
        document["key_base64"] = letter.key_base64
    return document


def summary_line(topic: str, letters: list[StoredLetter]) -> str:
    """`12 dead letters on <topic>: invalid_json 10, schema_invalid 2`."""
    by_reason: dict[str, int] = {}
    for stored in letters:
        by_reason[stored.letter.reason.value] = by_reason.get(stored.letter.reason.value, 0) + 1
    reasons = ", ".join(f"{reason} {count:,}" for reason, count in sorted(by_reason.items()))
    noun = "dead letter" if len(letters) == 1 else "dead letters"
    return f"{len(letters):,} {noun} on {topic}" + (f": {reasons}" if reasons else "")


def letter_table(rows: list[tuple[StoredLetter, ReplayState, Replayed | None]], detail_chars: int = 60) -> list[str]:
    """The table of `dlq list`: one line per dead letter, newest last."""
    header = ("ID", "WRITTEN (UTC)", "STAGE", "REASON", "REPLAY", "ORIGIN", "DETAIL")
    lines = [
        (
            str(stored.id),
            stored.written_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            stored.letter.stage,
            stored.letter.reason.value,
            replay_cell(stored, state, entry),
            origin_of(stored.letter),
            clip(stored.letter.detail, detail_chars),
        )
        for stored, state, entry in rows
    ]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header) - 1)]
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)), row[-1]]).rstrip()
        for row in [header, *lines]
    ]


def replay_cell(stored: StoredLetter, state: ReplayState, entry: Replayed | None) -> str:
    """`-`, `replayed 11-30 12:00`, or `failed again (of 0:12)`."""
    if state is ReplayState.REPLAYED and entry is not None:
        return f"replayed {entry.replayed_at.astimezone(UTC):%m-%d %H:%M}"
    if state is ReplayState.FAILED_AGAIN:
        return f"failed again (of {stored.root})"
    return "-"


def clip(text: str, limit: int) -> str:
    """The text on one line, cut to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def original_preview(original: bytes, limit: int = 4096) -> tuple[str, str]:
    """How `dlq show` prints a message's bytes: (`utf-8` or `base64`, text), JSON indented when it parses, cut to
    `limit` characters."""
    try:
        text = original.decode("utf-8")
    except UnicodeDecodeError:
        encoded = base64.b64encode(original).decode("ascii")
        return "base64", encoded if len(encoded) <= limit else encoded[:limit] + f"… ({len(original):,} bytes)"
    with contextlib.suppress(ValueError):  # not JSON: shown as it is
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return "utf-8", text if len(text) <= limit else text[:limit] + f"\n… ({len(original):,} bytes in all)"
