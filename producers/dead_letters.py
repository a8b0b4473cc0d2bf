"""Dead letters for source records a connector could not map: set aside with the reason, never dropped silently.

They go to the same dead-letter topic as the worker's, in the same `DeadLetter` contract, with `stage`
`connector`, `source_topic` naming the source instance (`slack:T0123`) and no Kafka coordinates (-1).
"""

from __future__ import annotations

from datetime import datetime

from producers.contracts import OutgoingRecord
from schemas.activity import SourceSystem
from schemas.dead_letter import NO_KAFKA_COORDINATE, DeadLetter, DeadLetterReason

STAGE = "connector"


def source_dead_letter(
    source: SourceSystem, source_instance: str, detail: str, original: bytes, failed_at: datetime
) -> OutgoingRecord:
    """The dead-letter record for one source record (its bytes as the source sent them) and why it was set aside."""
    origin = f"{source.value}:{source_instance}"
    letter = DeadLetter.for_message(
        reason=DeadLetterReason.SOURCE_RECORD_INVALID,
        detail=detail,
        stage=STAGE,
        topic=origin,
        partition=NO_KAFKA_COORDINATE,
        offset=NO_KAFKA_COORDINATE,
        key=None,
        value=original,
        failed_at=failed_at,
        source_system=source,
    )
    return OutgoingRecord(origin.encode("utf-8"), letter.to_bytes())
