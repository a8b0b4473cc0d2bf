"""The `LearningEvent`: one classified activity, as published to `<namespace>.learning.events` and stored.

It carries no message text: what a person wrote stays in the source tool and never reaches the warehouse.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from schemas.activity import ActivityId, ActivityKind, NonEmpty, Pseudonym, SourceSystem, StrictModel
from schemas.taxonomy import LearningCategory

LEARNING_EVENT_SCHEMA_VERSION: Literal[1] = 1
SUPPORTED_LEARNING_EVENT_SCHEMA_VERSIONS = (1,)

Topic = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9+#.-]{0,63}$")]


class LearningEvent(StrictModel):
    """An activity classified into the learning taxonomy, with who decided it and how sure it is."""

    schema_version: Literal[1] = LEARNING_EVENT_SCHEMA_VERSION
    event_id: ActivityId = Field(
        description="The activity's id; for an edit or a deletion, the id of the item it changes (the latest "
        "event of an id wins: an edited message is classified again, a deleted one retracted)."
    )
    activity_id: ActivityId
    source: SourceSystem
    source_instance: NonEmpty
    conversation_key: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    activity_kind: ActivityKind
    occurred_at: AwareDatetime
    actor: Pseudonym
    counterpart: Pseudonym | None = None
    category: LearningCategory
    formal: bool
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    decided_by: NonEmpty = Field(description="The rule or model that chose the category.")
    classifier_version: NonEmpty
    topics: tuple[Topic, ...] = ()
    response_delay_seconds: Annotated[float, Field(ge=0.0)] | None = None
