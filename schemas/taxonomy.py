"""The learning-event taxonomy. Extend with care: a new category bumps TAXONOMY_VERSION."""

from __future__ import annotations

from enum import StrEnum

TAXONOMY_VERSION = 1


class LearningCategory(StrEnum):
    """What kind of learning an activity is, or `none` when it is not learning (counted, so ratios are possible)."""

    ASKED = "asked"
    ANSWERED = "answered"
    SHARED = "shared"
    DOCUMENTED = "documented"
    TAUGHT = "taught"
    ACKNOWLEDGED = "acknowledged"
    COMPLETED = "completed"
    EXPERIENCED = "experienced"
    NONE = "none"

    @property
    def formal(self) -> bool:
        """True for formal learning (courses, e-learning), False for the informal kinds."""
        return self in FORMAL_CATEGORIES


FORMAL_CATEGORIES = frozenset({LearningCategory.COMPLETED, LearningCategory.EXPERIENCED})
