"""Dead letters: input that could not be processed, kept with its reason and original bytes so it can be replayed."""

from __future__ import annotations

import base64
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from schemas.activity import SourceSystem, StrictModel

DEAD_LETTER_SCHEMA_VERSION: Literal[1] = 1
MAX_DETAIL_CHARS = 2000


class DeadLetterReason(StrEnum):
    """Why a message was set aside; stable codes for counting and tooling."""

    EMPTY_MESSAGE = "empty_message"
    INVALID_JSON = "invalid_json"
    SCHEMA_INVALID = "schema_invalid"
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    PROCESSING_ERROR = "processing_error"
    SOURCE_RECORD_INVALID = "source_record_invalid"  # a connector could not map a record of its source


#: The partition and offset of a dead letter that never was a Kafka record (a source record a connector set aside).
NO_KAFKA_COORDINATE = -1


class LetterId(StrictModel):
    """Where a dead letter sits in the dead-letter topic: `learnstream dlq` names it `<partition>:<offset>`."""

    partition: Annotated[int, Field(ge=0)]
    offset: Annotated[int, Field(ge=0)]

    @classmethod
    def parse(cls, text: str) -> LetterId:
        """`3:1200` as a letter id; ValueError names the expected form."""
        partition, sep, offset = text.strip().partition(":")
        if not sep or not partition.isdigit() or not offset.isdigit():
            raise ValueError(f"{text!r} is not a dead-letter id: expected <partition>:<offset>, as `dlq list` shows")
        return cls(partition=int(partition), offset=int(offset))

    def __str__(self) -> str:
        return f"{self.partition}:{self.offset}"


class DeadLetter(StrictModel):
    """One message set aside by a stage, with where it came from, what was wrong and its bytes (base64)."""

    schema_version: Literal[1] = DEAD_LETTER_SCHEMA_VERSION
    reason: DeadLetterReason
    detail: Annotated[str, StringConstraints(max_length=4000)] = Field(description="What exactly was wrong.")
    stage: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    source_system: SourceSystem | None = Field(default=None, description="The tool the message came from, if known.")
    source_topic: str
    partition: int
    offset: int
    key_base64: str | None = None
    original_base64: str
    failed_at: AwareDatetime
    replay_of: LetterId | None = Field(
        default=None,
        description="Set when the message was a replay of a dead letter (`learnstream dlq replay`) and failed again: "
        "the first dead letter of the message, so every later one names the same original and a replay never loops.",
    )

    @classmethod
    def for_message(
        cls,
        *,
        reason: DeadLetterReason,
        detail: str,
        stage: str,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        failed_at: datetime,
        source_system: SourceSystem | None = None,
        replay_of: LetterId | None = None,
    ) -> DeadLetter:
        """The dead letter for one Kafka message: its coordinates, its bytes kept whole, the detail cut to size."""
        return cls(
            reason=reason,
            detail=detail[:MAX_DETAIL_CHARS],
            stage=stage,
            source_system=source_system,
            source_topic=topic,
            partition=partition,
            offset=offset,
            key_base64=encode_bytes(key),
            original_base64=base64.b64encode(value or b"").decode("ascii"),
            failed_at=failed_at,
            replay_of=replay_of,
        )

    @property
    def original(self) -> bytes:
        """The original message bytes, exactly as they arrived."""
        return base64.b64decode(self.original_base64)

    @property
    def key(self) -> bytes | None:
        """The original message key, or None if it had none."""
        return None if self.key_base64 is None else base64.b64decode(self.key_base64)


def encode_bytes(data: bytes | None) -> str | None:
    """Base64 text for raw message bytes, or None for a missing key."""
    return None if data is None else base64.b64encode(data).decode("ascii")
