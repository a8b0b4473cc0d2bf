"""Evaluating a classifier on labelled items: per-class precision, recall and F1, the confusion matrix, and the
baseline every rule set must beat.

An evaluation file holds one item per line (JSON):

- chat: `{"id", "source", "licence", "kind": "chat", "messages": [{"author", "text", "label", "files"?, "bot"?}]}`:
  a thread, `messages[0]` its root and the rest its replies in order (a single message is a thread of one);
- wiki: `{"id", "source", "licence", "kind": "wiki", "title", "namespace"?, "edits": [{"author", "comment",
  "label", "minor"?, "bot"?, "new_page"?, "bytes_changed"?}]}`: a page's edits in order.

Each item is turned into activities as a connector would make them (authors pseudonymised, one conversation per
thread or page) and decided in order through a fresh thread memory, as the worker decides a stream. `source` and
`licence` say where each item's text comes from and under which terms it may be used.

The baseline is the rule the first classifier could not beat: a message asks when it contains "?" or starts with
an interrogative word; a reply to a message the baseline says asks is an answer (whoever wrote it).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.activity import Activity, ActivityKind, ConversationKind, ConversationRef, SourceSystem
from schemas.taxonomy import LearningCategory
from streams.classify.classifier import Classifier
from streams.processing import learning_event_for
from streams.threads import ThreadMemory

CATEGORIES = tuple(LearningCategory)
START = datetime(2020, 1, 1, tzinfo=UTC)
_INTERROGATIVE = re.compile(
    r"^\s*(what|how|why|where|when|which|who|whose|whom|is|are|am|was|were|do|does|did|can|could|would|will|"
    r"should|shall|may|might|have|has|had)\b",
    re.IGNORECASE,
)


class ItemError(ValueError):
    """An evaluation item that is not in the format; the message names the item and the field."""


@dataclass(frozen=True)
class Labelled:
    """One labelled activity of an item, with its position in the item (0 is a thread's root)."""

    item_id: str
    position: int
    activity: Activity
    gold: LearningCategory


@dataclass
class Scores:
    """Gold and predicted labels side by side, and what follows from them."""

    pairs: list[tuple[LearningCategory, LearningCategory]] = field(default_factory=list)

    def add(self, gold: LearningCategory, predicted: LearningCategory) -> None:
        self.pairs.append((gold, predicted))

    def confusion(self) -> Counter[tuple[LearningCategory, LearningCategory]]:
        return Counter(self.pairs)

    def per_class(self, category: LearningCategory) -> tuple[float, float, float, int]:
        """Precision, recall, F1 and support (gold count) of one category."""
        true_positive = sum(1 for gold, predicted in self.pairs if gold is category and predicted is category)
        predicted = sum(1 for _, guess in self.pairs if guess is category)
        support = sum(1 for gold, _ in self.pairs if gold is category)
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1, support

    def accuracy(self) -> float:
        return sum(gold is predicted for gold, predicted in self.pairs) / len(self.pairs) if self.pairs else 0.0


def pseudonym_of(author: str) -> str:
    """A stable pseudonym for an item's author (the same name in one file is the same person)."""
    return "p_" + hashlib.sha256(f"eval\x1f{author}".encode()).hexdigest()[:24]


def labelled_activities(item: dict[str, Any]) -> list[Labelled]:
    """The item's activities in order, each with its gold label; ItemError for an item not in the format."""
    item_id = text_of(item, "id", "item")
    kind = item.get("kind")
    if kind == "chat":
        return chat_activities(item_id, entries_of(item, "messages", item_id))
    if kind == "wiki":
        return wiki_activities(item_id, item, entries_of(item, "edits", item_id))
    raise ItemError(f"item {item_id}: kind must be chat or wiki, not {kind!r}")


def chat_activities(item_id: str, messages: list[dict[str, Any]]) -> list[Labelled]:
    """A thread: its root message, then replies to it."""
    root = f"{item_id}/0"
    out = []
    for position, message in enumerate(messages):
        where = f"item {item_id} message {position}"
        activity = Activity.create(
            source=SourceSystem.SLACK,
            source_instance="eval",
            native_id=f"{item_id}/{position}",
            kind=ActivityKind.MESSAGE if position == 0 else ActivityKind.REPLY,
            occurred_at=START + timedelta(minutes=position),
            actor=pseudonym_of(text_of(message, "author", where)),
            conversation=ConversationRef(kind=ConversationKind.THREAD, id=root),
            in_reply_to=None if position == 0 else root,
            subject="evaluation",
            text=str(message.get("text") or ""),
            attributes={"files": int(message.get("files") or 0), "bot": bool(message.get("bot", False))},
        )
        out.append(Labelled(item_id, position, activity, label_of(message, where)))
    return out


def wiki_activities(item_id: str, item: dict[str, Any], edits: list[dict[str, Any]]) -> list[Labelled]:
    """A page's edits, the first a creation when it says so."""
    title = text_of(item, "title", f"item {item_id}")
    namespace = int(item.get("namespace") or 0)
    out = []
    for position, edit in enumerate(edits):
        where = f"item {item_id} edit {position}"
        activity = Activity.create(
            source=SourceSystem.MEDIAWIKI,
            source_instance="eval",
            native_id=f"{item_id}/{position}",
            kind=ActivityKind.PAGE_CREATED if edit.get("new_page") else ActivityKind.PAGE_EDITED,
            occurred_at=START + timedelta(minutes=position),
            actor=pseudonym_of(text_of(edit, "author", where)),
            conversation=ConversationRef(kind=ConversationKind.PAGE, id=f"{namespace}:{title}"),
            subject=title,
            text=str(edit.get("comment") or ""),
            attributes=wiki_attributes(namespace, edit),
        )
        out.append(Labelled(item_id, position, activity, label_of(edit, where)))
    return out


def wiki_attributes(namespace: int, edit: dict[str, Any]) -> dict[str, str | int | float | bool]:
    """An edit's attributes as the MediaWiki connector gives them (`bytes_changed` when the item says)."""
    attributes: dict[str, str | int | float | bool] = {
        "namespace": namespace,
        "minor": bool(edit.get("minor")),
        "bot": bool(edit.get("bot")),
    }
    if isinstance(edit.get("bytes_changed"), int):
        attributes["bytes_changed"] = int(edit["bytes_changed"])
    return attributes


def entries_of(item: dict[str, Any], name: str, item_id: str) -> list[dict[str, Any]]:
    entries = item.get(name)
    if not isinstance(entries, list) or not entries or not all(isinstance(entry, dict) for entry in entries):
        raise ItemError(f"item {item_id}: {name} must be a non-empty list of objects")
    return entries


def text_of(record: dict[str, Any], name: str, where: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value:
        raise ItemError(f"{where}: {name} must be a non-empty string")
    return value


def label_of(record: dict[str, Any], where: str) -> LearningCategory:
    try:
        return LearningCategory(str(record.get("label")))
    except ValueError:
        names = ", ".join(category.value for category in CATEGORIES)
        raise ItemError(f"{where}: label must be one of {names}, not {record.get('label')!r}") from None


Decide = Callable[[Sequence[Labelled]], list[LearningCategory]]


def classifier_decisions(classifier: Classifier) -> Decide:
    """The classifier deciding an item's activities in order, with a fresh thread memory per item."""

    def decide(labelled: Sequence[Labelled]) -> list[LearningCategory]:
        memory = ThreadMemory(idle_s=365 * 86_400, max_entries=10_000)
        out = []
        for entry in labelled:
            activity = entry.activity
            event = learning_event_for(
                activity, classifier, memory.context_for(activity.conversation_key, activity.occurred_at)
            )
            memory.remember(event)
            out.append(event.category)
        return out

    return decide


def baseline_decisions(labelled: Sequence[Labelled]) -> list[LearningCategory]:
    """The baseline: "?" or an interrogative first word asks; a reply to a root that asks answers; else none."""
    out: list[LearningCategory] = []
    root_asks = False
    for entry in labelled:
        text = entry.activity.text or ""
        asks = "?" in text or bool(_INTERROGATIVE.match(text))
        if entry.activity.kind is ActivityKind.REPLY and root_asks:
            out.append(LearningCategory.ANSWERED)
        elif asks and entry.activity.kind in (ActivityKind.MESSAGE, ActivityKind.REPLY):
            out.append(LearningCategory.ASKED)
        else:
            out.append(LearningCategory.NONE)
        if entry.position == 0:
            root_asks = out[-1] is LearningCategory.ASKED
    return out


def evaluate(items: Iterable[dict[str, Any]], decide: Decide) -> Scores:
    """Every item's activities decided in order and scored against their labels."""
    scores = Scores()
    for item in items:
        labelled = labelled_activities(item)
        for entry, predicted in zip(labelled, decide(labelled), strict=True):
            scores.add(entry.gold, predicted)
    return scores
