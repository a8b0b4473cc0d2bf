"""The classifier: a version, the rules in order, the vocabulary they read, and the subject tagger.

It is built from data (`vocabulary.py`) and handed to the worker's decision (`streams/processing.py`), so a test
can swap it, a platform team can extend its words, and every event names the version that decided it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from schemas.activity import Activity, ActivityKind
from streams.classify.rules import FALLBACK, RULE_KINDS, RULES, Classification, Rule, ThreadContext, Words
from streams.classify.subjects import SubjectTagger
from streams.classify.vocabulary import Vocabulary, load_vocabulary


@dataclass(frozen=True)
class Classifier:
    """Rules asked in order (the first that answers decides), with the compiled words they read."""

    version: str
    rules: tuple[Rule, ...]
    words: Words
    subjects: SubjectTagger
    #: Kind -> the rules that may answer for it, in the classifier's order (`RULE_KINDS`).
    rules_by_kind: dict[ActivityKind, tuple[Rule, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_kind = {
            kind: tuple(rule for rule in self.rules if kind in RULE_KINDS.get(rule, (kind,))) for kind in ActivityKind
        }
        object.__setattr__(self, "rules_by_kind", by_kind)  # frozen: set once, here

    def classify(self, activity: Activity, thread: ThreadContext | None = None) -> Classification:
        """The first answering rule's decision, or `none` when no rule speaks for this activity."""
        for rule in self.rules_by_kind[activity.kind]:
            decision = rule(activity, self.words, thread)
            if decision is not None:
                return decision
        return FALLBACK

    def subjects_of(self, activity: Activity) -> tuple[str, ...]:
        """The subjects of the activity's text and of its source tag (channel, page title or course)."""
        return self.subjects.tag(activity.text, activity.subject)


def build_classifier(vocabulary: Vocabulary, rules: tuple[Rule, ...] = RULES) -> Classifier:
    """A classifier of the vocabulary's words; its version is the vocabulary's."""
    return Classifier(vocabulary.version, rules, Words(vocabulary), SubjectTagger(vocabulary.subjects))


def load_classifier(vocabulary_files: Sequence[Path] = ()) -> Classifier:
    """The shipped rules with the shipped words, extended by the given vocabulary files."""
    if not vocabulary_files:
        return default_classifier()
    return build_classifier(load_vocabulary(vocabulary_files))


@cache
def default_classifier() -> Classifier:
    """The shipped rules with the shipped words (built once per process)."""
    return build_classifier(load_vocabulary())
