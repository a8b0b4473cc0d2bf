"""The `LearningEvent`: one classified activity, as published to `<namespace>.learning.events` and stored.

It carries no message text: what a person wrote stays in the source tool and never reaches the warehouse.

`page_refs` joined version 1 as an optional field with a default: an event without it still validates, so adding
it is backward compatible as long as readers (the loader) are upgraded before the workers that write it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from schemas.activity import ActivityId, ActivityKind, NonEmpty, Pseudonym, SourceSystem, StrictModel
from schemas.taxonomy import LearningCategory

LEARNING_EVENT_SCHEMA_VERSION: Literal[1] = 1
SUPPORTED_LEARNING_EVENT_SCHEMA_VERSIONS = (1,)

Topic = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9+#.-]{0,63}$")]
MAX_PAGE_REFS = 20
MAX_PAGE_REF_CHARS = 512
#: A wiki page as a stable key `<host>/<page>`: `wiki.example.org/wiki/Kafka_consumer_groups`,
#: `acme.atlassian.net/pages/12345`, `confluence.example.com/display/ENG/Release+checklist`. No whitespace.
PageRef = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]*/\S+$", max_length=MAX_PAGE_REF_CHARS)]


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
    page_refs: tuple[PageRef, ...] = Field(
        default=(),
        max_length=MAX_PAGE_REFS,
        description="The wiki pages this activity links to, as <host>/<page>, never message text. Empty for wiki "
        "activities themselves (their conversation is the page). Optional: events written before it validate.",
    )
