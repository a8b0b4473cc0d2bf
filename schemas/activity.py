"""The raw `Activity` envelope every connector publishes to `<namespace>.activity.raw`.

The contract is ours, so the model is strict: unknown fields, wrong types, an unknown schema version or an
`activity_id` that does not match its source coordinates are rejected with a reason, never coerced.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, model_validator

from schemas.ids import activity_id_for

ACTIVITY_SCHEMA_VERSION: Literal[2] = 2
#: Versions a consumer accepts: the current one and the one before it. Version 2 added the kinds
#: `message_edited`, `item_deleted`, `file_shared` and `page_commented`; a version-1 activity cannot carry them.
SUPPORTED_ACTIVITY_SCHEMA_VERSIONS = (1, 2)

#: The validation context of `Activity.create`: the activity id was derived from the activity's own fields.
DERIVED_ID: dict[str, bool] = {"derived_id": True}

#: A pseudonymous person: `p_` and 24 hex digits of a keyed hash, made at the edge by the connector.
PSEUDONYM_RE = r"^p_[0-9a-f]{24}$"
Pseudonym = Annotated[str, StringConstraints(pattern=PSEUDONYM_RE)]
ActivityId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=512)]
AttributeValue = str | int | float | bool


class SourceSystem(StrEnum):
    """The tool an activity came from."""

    MEDIAWIKI = "mediawiki"
    CONFLUENCE = "confluence"
    SLACK = "slack"
    MATTERMOST = "mattermost"
    TEAMS = "teams"
    XAPI = "xapi"
    MOODLE = "moodle"


class ActivityKind(StrEnum):
    """What the person did, in source-neutral terms."""

    MESSAGE = "message"
    REPLY = "reply"
    REACTION = "reaction"
    PAGE_CREATED = "page_created"
    PAGE_EDITED = "page_edited"
    STATEMENT = "statement"
    # since schema version 2
    MESSAGE_EDITED = "message_edited"  # a chat message changed; its native id names the edit
    ITEM_DELETED = "item_deleted"  # a message, page or comment was removed; `in_reply_to` names it
    FILE_SHARED = "file_shared"  # a file posted into a conversation
    PAGE_COMMENTED = "page_commented"  # a comment on a wiki page


#: The kinds a version-1 activity may have.
VERSION_1_KINDS = frozenset(
    {
        ActivityKind.MESSAGE,
        ActivityKind.REPLY,
        ActivityKind.REACTION,
        ActivityKind.PAGE_CREATED,
        ActivityKind.PAGE_EDITED,
        ActivityKind.STATEMENT,
    }
)


class ConversationKind(StrEnum):
    """The unit a conversation key stands for."""

    THREAD = "thread"
    PAGE = "page"
    COURSE = "course"


class StrictModel(BaseModel):
    """Base of our own contracts: strict types, no unknown fields, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    def to_bytes(self) -> bytes:
        """The model as compact UTF-8 JSON, as it travels on Kafka.

        The serializer's own bytes: `model_dump_json` decodes them to a str that would be encoded again.
        """
        return self.__pydantic_serializer__.to_json(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Parse and validate JSON bytes; raises pydantic.ValidationError with the reasons.

        The model's validator itself, as `model_validate_json` calls it without options: the worker reads every
        message through here, and the wrapper cost a twentieth of the validation.
        """
        validated: Self = cls.__pydantic_validator__.validate_json(data)
        return validated


class ConversationRef(StrictModel):
    """The conversation an activity belongs to: a chat thread, a wiki page or a course."""

    kind: ConversationKind
    id: NonEmpty


class Activity(StrictModel):
    """One thing a person did in a collaboration or learning tool, before classification."""

    schema_version: Literal[1, 2] = ACTIVITY_SCHEMA_VERSION
    activity_id: ActivityId
    source: SourceSystem
    source_instance: NonEmpty = Field(description="Which installation: a wiki host, a Slack team, an LRS.")
    native_id: NonEmpty = Field(description="The source's own id of the item (message ts, rev id, statement id).")
    kind: ActivityKind
    occurred_at: AwareDatetime
    actor: Pseudonym
    conversation: ConversationRef
    in_reply_to: NonEmpty | None = Field(default=None, description="Native id of the item this one answers.")
    counterpart: Pseudonym | None = Field(default=None, description="The person this activity responds to.")
    subject: Annotated[str, StringConstraints(max_length=1000)] | None = Field(
        default=None, description="Page title, channel name or course name."
    )
    text: Annotated[str, StringConstraints(max_length=40_000)] | None = Field(
        default=None, description="Content for classification only; never stored in the warehouse."
    )
    attributes: dict[Annotated[str, StringConstraints(max_length=64)], AttributeValue] = Field(default_factory=dict)

    @classmethod
    def create(cls, **fields: Any) -> Activity:
        """Build an activity with its activity_id derived from source, source_instance and native_id.

        The id is derived here, so validation need not derive it again to check it (a connector builds one
        activity per source item: the second hash was a tenth of the mapping's cost).
        """
        source = SourceSystem(fields["source"])
        fields["activity_id"] = activity_id_for(source.value, str(fields["source_instance"]), str(fields["native_id"]))
        # the validator itself, as `model_validate` calls it without options (its wrapper was a fifth of the cost)
        created: Activity = cls.__pydantic_validator__.validate_python(fields, context=DERIVED_ID)
        return created

    @model_validator(mode="after")
    def _check_consistency(self, info: ValidationInfo) -> Self:
        """One validator for both cross-field rules: each runs for every message the worker reads."""
        if self.schema_version == 1 and self.kind not in VERSION_1_KINDS:
            raise ValueError(f"kind {self.kind.value} needs schema_version 2 (version 1 predates it)")
        if info.context is DERIVED_ID:
            return self
        expected = activity_id_for(self.source, self.source_instance, self.native_id)  # a StrEnum is its value
        if self.activity_id != expected:
            raise ValueError(
                f"activity_id {self.activity_id} does not match source/source_instance/native_id (expected {expected})"
            )
        return self

    @property
    def conversation_key(self) -> str:
        """The Kafka key: replies land on the partition of their question, page edits on their page's."""
        conversation = self.conversation  # the parts directly: the worker asks once per message
        return conversation_key_of(self.source, self.source_instance, conversation.kind, conversation.id)


def conversation_key(source: SourceSystem, source_instance: str, conversation: ConversationRef) -> str:
    """`source:instance:kind:id`, unique across every source the pipeline reads."""
    return conversation_key_of(source, source_instance, conversation.kind, conversation.id)  # StrEnums are str


def conversation_key_of(source: str, source_instance: str, kind: str, conversation_id: str) -> str:
    """The conversation key from its four parts as they appear in an activity's JSON."""
    return f"{source}:{source_instance}:{kind}:{conversation_id}"
