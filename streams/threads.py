"""What the worker remembers of each conversation whose root asked: who asked, when, and who answered last.

An answer is an answer only in a thread whose root asked, and only when someone other than the asker wrote it;
an acknowledgement names the person it thanks. Both need the thread's root, which arrived earlier (often in an
earlier batch, or before a restart). `ThreadMemory` keeps one small entry per conversation whose root asked (most
roots do not, and are not remembered); a conversation it holds nothing for is answered with `NO_QUESTION`, so the
rules know the root did not ask (or asked longer ago than the memory reaches) rather than that nobody knows. The
worker persists each change as a record keyed by the conversation key on the compacted `<ns>.thread.state`
topic, in the same acknowledged batch as the events, and reads that topic back when it starts or is given other
partitions.

Bounded: an entry idle longer than `idle_s` (by the times of the activities, so a replay of history expires
entries as the live stream did) is dropped, and at most `max_entries` are kept (the least recently active go
first). The topic ages entries out the same way (`cleanup.policy=compact,delete` with the same retention).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import UTC, datetime
from typing import NamedTuple

from schemas.activity import ActivityKind
from schemas.learning_event import LearningEvent
from schemas.taxonomy import LearningCategory
from streams.classify import ThreadContext

#: Kinds that start a conversation (a chat message that is not a reply is its thread's root).
ROOT_KINDS = frozenset({ActivityKind.MESSAGE})
#: What the memory answers for a conversation it holds nothing for: its root did not ask, as far as it knows.
NO_QUESTION = ThreadContext("", "", LearningCategory.NONE, datetime.fromtimestamp(0, UTC))
#: Kinds that change what the root said.
ROOT_CHANGES = frozenset({ActivityKind.MESSAGE_EDITED, ActivityKind.ITEM_DELETED})


class ThreadEntry(NamedTuple):
    """One conversation: its root (event id, author, category, time), the latest answerer, and the time of the
    latest activity in it (epoch seconds)."""

    root_event_id: str
    root_actor: str
    root_category: LearningCategory
    root_at: float
    answerer: str | None
    last_at: float

    def context(self) -> ThreadContext:
        return ThreadContext(
            self.root_event_id,
            self.root_actor,
            self.root_category,
            datetime.fromtimestamp(self.root_at, UTC),
            self.answerer,
        )


class ThreadMemory:
    """Conversation key -> ThreadEntry, bounded by idle time and by count."""

    def __init__(self, idle_s: float, max_entries: int) -> None:
        self.idle_s = idle_s
        self.max_entries = max_entries
        self.entries: OrderedDict[str, ThreadEntry] = OrderedDict()
        self.newest_at = 0.0

    def __len__(self) -> int:
        return len(self.entries)

    def context_for(self, conversation_key: str, at: datetime) -> ThreadContext:
        """The context of a conversation whose root asked, if remembered and not idle for too long before `at`;
        else NO_QUESTION."""
        entry = self.entries.get(conversation_key)
        if entry is None or entry.last_at < at.timestamp() - self.idle_s:
            return NO_QUESTION
        return entry.context()

    def remember(self, event: LearningEvent) -> ThreadEntry | None:
        """Take in a decided activity's event; the conversation's new entry if it changed (to persist), else None."""
        key = event.conversation_key
        changed = updated(self.entries.get(key), event)
        if changed is None:
            return None
        self.put(key, changed)
        return changed

    def replace(self, entries: dict[str, ThreadEntry]) -> None:
        """Hold exactly these entries (read back from the topic), stalest first, within the bounds."""
        self.entries = OrderedDict(sorted(entries.items(), key=lambda item: item[1].last_at))
        self.newest_at = max((entry.last_at for entry in entries.values()), default=0.0)
        self.expire()

    def put(self, key: str, entry: ThreadEntry) -> None:
        """Keep an entry as the conversation's latest, then drop idle and surplus entries."""
        self.entries[key] = entry
        self.entries.move_to_end(key)
        self.newest_at = max(self.newest_at, entry.last_at)
        self.expire()

    def expire(self) -> None:
        """Drop entries idle for longer than `idle_s` before the newest activity, and the oldest beyond the cap
        (entries are in order of their latest change, so the stalest are first)."""
        horizon = self.newest_at - self.idle_s
        entries = self.entries
        while entries:
            key, oldest = next(iter(entries.items()))
            if oldest.last_at >= horizon and len(entries) <= self.max_entries:
                break
            del entries[key]


def updated(entry: ThreadEntry | None, event: LearningEvent) -> ThreadEntry | None:
    """A conversation's entry after a decided activity's event, or None when it changes nothing to remember.

    A root that asks starts the entry; the root's edit re-decides what it asked and its deletion makes it ask
    nothing; an answer records its author. Other activity changes nothing (a thread expires `idle_s` after its
    latest answer).
    """
    kind = event.activity_kind
    if kind in ROOT_KINDS and event.category is LearningCategory.ASKED:
        at = event.occurred_at.timestamp()
        if entry is not None and entry.root_event_id == event.event_id:
            return entry._replace(root_category=event.category, last_at=max(entry.last_at, at))
        return ThreadEntry(event.event_id, event.actor, event.category, at, None, at)
    if entry is None:  # most activities: not a question, in a conversation whose root did not ask
        return None
    at = event.occurred_at.timestamp()
    if kind in ROOT_CHANGES and event.event_id == entry.root_event_id:
        return entry._replace(root_category=event.category, last_at=max(entry.last_at, at))
    if event.category is LearningCategory.ANSWERED and event.actor != entry.root_actor:
        return entry._replace(answerer=event.actor, last_at=max(entry.last_at, at))
    return None


def entry_to_bytes(entry: ThreadEntry) -> bytes:
    """The state record's value: a JSON array (ids, pseudonyms, a category and times; never text)."""
    return json.dumps(list(entry), separators=(",", ":")).encode("utf-8")


def entry_from_bytes(value: bytes) -> ThreadEntry:
    """A state record's value read back; ValueError when it is not one."""
    root_event_id, root_actor, category, root_at, answerer, last_at = json.loads(value)
    return ThreadEntry(
        str(root_event_id),
        str(root_actor),
        LearningCategory(category),
        float(root_at),
        None if answerer is None else str(answerer),
        float(last_at),
    )
