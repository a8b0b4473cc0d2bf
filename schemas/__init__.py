"""Data contracts of learnstream: the raw activity envelope, learning events, dead letters and topic names.

Nothing here does I/O or imports another learnstream package; every other floor builds on these models.
"""

from schemas.activity import Activity, ActivityKind, ConversationKind, ConversationRef, SourceSystem
from schemas.dead_letter import DeadLetter, DeadLetterReason
from schemas.ids import activity_id_for
from schemas.learning_event import LearningEvent
from schemas.taxonomy import TAXONOMY_VERSION, LearningCategory
from schemas.topics import DEFAULT_NAMESPACE, Topics

__all__ = [
    "DEFAULT_NAMESPACE",
    "TAXONOMY_VERSION",
    "Activity",
    "ActivityKind",
    "ConversationKind",
    "ConversationRef",
    "DeadLetter",
    "DeadLetterReason",
    "LearningCategory",
    "LearningEvent",
    "SourceSystem",
    "Topics",
    "activity_id_for",
]
