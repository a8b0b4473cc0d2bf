"""The `learning_events` table as rows: column order and the mapping from LearningEvent, both pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.learning_event import LearningEvent

TABLE = "learning_events"
COLUMNS: tuple[str, ...] = (
    "event_id",
    "activity_id",
    "schema_version",
    "source",
    "source_instance",
    "conversation_key",
    "activity_kind",
    "occurred_at",
    "actor",
    "counterpart",
    "category",
    "formal",
    "confidence",
    "decided_by",
    "classifier_version",
    "topics",
    "response_delay_seconds",
    "kafka_partition",
    "kafka_offset",
)


def event_row(event: LearningEvent, partition: int, offset: int) -> list[Any]:
    """One insert row for an event read at a Kafka partition and offset, in COLUMNS order."""
    return [
        event.event_id,
        event.activity_id,
        event.schema_version,
        event.source.value,
        event.source_instance,
        event.conversation_key,
        event.activity_kind.value,
        event.occurred_at,
        event.actor,
        event.counterpart,
        event.category.value,
        event.formal,
        event.confidence,
        event.decided_by,
        event.classifier_version,
        list(event.topics),
        event.response_delay_seconds,
        partition,
        offset,
    ]


def insert_token(group_id: str, topic: str, partition: int, first_offset: int, last_offset: int) -> str:
    """A deterministic insert_deduplication_token: a retried insert of the same batch is dropped by ClickHouse."""
    return f"{group_id}/{topic}/{partition}/{first_offset}-{last_offset}"


def batch_insert_token(group_id: str, spans: Mapping[tuple[str, int], tuple[int, int]]) -> str:
    """The token of one insert covering offset spans `{(topic, partition): (first, last)}` of several partitions."""
    return ",".join(
        insert_token(group_id, topic, partition, first, last)
        for (topic, partition), (first, last) in sorted(spans.items())
    )
