"""The dead-letter topic and the replay ledger on Kafka: reading letters, finding one, sending a replay plan.

The decisions are in `learnstream/dead_letters.py`; this module only moves records. A replay sends a chunk of
records, flushes, checks every acknowledgement, and only then writes the chunk's ledger entries (as a connector
saves its cursor only after its records were confirmed): a replay stopped between the two sends those records
again next time, and the warehouse keeps an event once whatever arrives twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from pydantic import ValidationError

from learnstream.dead_letters import Replayed, ReplayPlan, StoredLetter
from learnstream.errors import BrokerUnavailable, ConfigError, ConnectorError
from learnstream.kafka import (
    client_id_of,
    connecting,
    kafka_failure,
    make_producer,
    make_reader,
    partitions_of,
    read_latest,
)
from learnstream.progress import Progress
from learnstream.settings import Settings
from schemas.dead_letter import DeadLetter, LetterId
from schemas.headers import replay_of_headers

logger = logging.getLogger(__name__)

#: Longest a read may go without a record while records are still due before the broker counts as gone.
STALL_TIMEOUT_S = 60.0
#: Records sent between two confirmations (and ledger writes).
REPLAY_CHUNK = 500
SEND_TIMEOUT_S = 60.0


def dlq_partitions(reader: KafkaConsumer, topic: str) -> list[TopicPartition]:
    """The dead-letter topic's partitions; a clear error when it is missing or hidden by ACLs."""
    return partitions_of(
        reader,
        topic,
        f"the dead-letter topic {topic} does not exist, or Kafka's ACLs hide it from this user: run `learnstream "
        "topics create`, or grant LEARNSTREAM_KAFKA__SASL_USERNAME READ and DESCRIBE on it (README: Kafka ACLs)",
    )


def span(
    reader: KafkaConsumer, partitions: list[TopicPartition], since: datetime | None
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Where a read of each partition starts (its first record written at or after `since`, or its beginning) and
    ends (its end offset now)."""
    ends: dict[TopicPartition, int] = reader.end_offsets(partitions)
    if since is None:
        return reader.beginning_offsets(partitions), ends
    found = reader.offsets_for_times(dict.fromkeys(partitions, max(0, int(since.timestamp() * 1000))))
    return {tp: (found[tp].offset if found.get(tp) else ends[tp]) for tp in partitions}, ends


def read_letters(
    settings: Settings, since: datetime | None = None, progress: Progress | None = None
) -> tuple[list[StoredLetter], int]:
    """The dead letters written at or after `since` (all when None), up to the end the topic had when the read
    began, in partition order; and how many records were not readable as dead letters (logged, not returned).
    `progress` is given the number of records to read, then counts them."""
    topic = settings.topics.names.activity_dlq
    letters: list[StoredLetter] = []
    unreadable = 0
    for partition, offset, timestamp_ms, value in _records(settings, topic, since, progress):
        try:
            letter = DeadLetter.model_validate_json(value or b"")
        except ValidationError:
            unreadable += 1
            logger.warning("%s[%d]@%d is not a dead letter this version can read; left out", topic, partition, offset)
            continue
        written = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        letters.append(StoredLetter(LetterId(partition=partition, offset=offset), written, letter))
    return letters, unreadable


def _records(
    settings: Settings, topic: str, since: datetime | None, progress: Progress | None
) -> Iterator[tuple[int, int, int, bytes | None]]:
    reader = make_reader(settings.kafka, "dlq")
    try:
        with connecting(settings.kafka, client_id_of(reader)):
            starts, ends = span(reader, dlq_partitions(reader, topic), since)
        due = {tp: end for tp, end in ends.items() if starts[tp] < end}
        if progress is not None:
            progress.set_total(sum(end - starts[tp] for tp, end in due.items()))
        if not due:
            return
        reader.assign(list(due))
        for tp in due:
            reader.seek(tp, starts[tp])
        deadline = time.monotonic() + STALL_TIMEOUT_S
        while due:
            polled = reader.poll(timeout_ms=500, max_records=2000)
            if polled:
                deadline = time.monotonic() + STALL_TIMEOUT_S
            elif time.monotonic() > deadline:
                raise BrokerUnavailable(f"no record arrived from {topic} in {STALL_TIMEOUT_S:.0f} s")
            for tp, records in polled.items():
                kept = [r for r in records if r.offset < due.get(tp, 0)]
                for record in kept:
                    yield tp.partition, record.offset, record.timestamp, record.value
                if progress is not None:
                    progress.advance(len(kept))
            for tp in list(due):
                if reader.position(tp) >= due[tp]:
                    del due[tp]
                    reader.pause(tp)
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot read {topic}: {exc}") from exc
    finally:
        reader.close()


def read_letter(settings: Settings, letter_id: LetterId) -> StoredLetter:
    """One dead letter by its id; ConnectorError when the topic has no such record (or it expired)."""
    topic = settings.topics.names.activity_dlq
    reader = make_reader(settings.kafka, "dlq-show")
    try:
        with connecting(settings.kafka, client_id_of(reader)):
            partitions = {tp.partition: tp for tp in dlq_partitions(reader, topic)}
            tp = partitions.get(letter_id.partition)
            if tp is None:
                raise ConnectorError(f"{topic} has no partition {letter_id.partition} (it has {len(partitions)})")
            first = reader.beginning_offsets([tp])[tp]
            end = reader.end_offsets([tp])[tp]
        if not first <= letter_id.offset < end:
            raise ConnectorError(
                f"{topic}[{letter_id.partition}] has no record at offset {letter_id.offset} (it holds {first} to "
                f"{end - 1}; older dead letters expire after LEARNSTREAM_TOPICS__DLQ_RETENTION_MS)"
            )
        reader.assign([tp])
        reader.seek(tp, letter_id.offset)
        deadline = time.monotonic() + STALL_TIMEOUT_S
        while time.monotonic() < deadline:
            for record in reader.poll(timeout_ms=500, max_records=1).get(tp, []):
                try:
                    letter = DeadLetter.model_validate_json(record.value or b"")
                except ValidationError as exc:
                    raise ConnectorError(f"{topic}[{tp.partition}]@{record.offset} is not a dead letter") from exc
                written = datetime.fromtimestamp(record.timestamp / 1000, UTC)
                return StoredLetter(LetterId(partition=tp.partition, offset=record.offset), written, letter)
        raise BrokerUnavailable(f"no record arrived from {topic}[{tp.partition}] in {STALL_TIMEOUT_S:.0f} s")
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot read {topic}: {exc}") from exc
    finally:
        reader.close()


def read_ledger(settings: Settings) -> dict[LetterId, Replayed]:
    """The replay ledger: the latest entry of every root that was replayed."""
    topic = settings.topics.names.dlq_replays
    missing = f"the replay ledger {topic} does not exist: run `learnstream topics create` (it creates what is missing)"
    entries = read_latest(settings.kafka, topic, "dlq-ledger", STALL_TIMEOUT_S, missing, Replayed.from_bytes)
    ledger: dict[LetterId, Replayed] = {}
    for key, entry in entries.items():
        try:
            ledger[LetterId.parse(key.decode("ascii"))] = entry
        except (UnicodeDecodeError, ValueError):
            logger.warning("ledger key %r is not a dead-letter id; left out", key)
    return ledger


def send_replay(settings: Settings, plan: ReplayPlan, on_sent: Callable[[int], None] | None = None) -> int:
    """Send the plan's records, each with the header naming its root, a chunk at a time; once a chunk is
    acknowledged, record it in the ledger. Returns how many were sent and recorded."""
    ledger_topic = settings.topics.names.dlq_replays
    producer = make_producer(settings.kafka, "dlq-replay", settings.producer)
    sent = 0
    try:
        for start in range(0, len(plan.records), REPLAY_CHUNK):
            chunk = plan.records[start : start + REPLAY_CHUNK]
            futures = [
                producer.send(r.topic, key=r.key, value=r.value, headers=replay_of_headers(r.root)) for r in chunk
            ]
            producer.flush()
            for future in futures:
                future.get(timeout=SEND_TIMEOUT_S)
            now = datetime.now(UTC)
            entries = [
                producer.send(
                    ledger_topic, key=str(r.root).encode("ascii"), value=Replayed(r.letter, now, r.topic).to_bytes()
                )
                for r in chunk
            ]
            producer.flush()
            for future in entries:
                future.get(timeout=SEND_TIMEOUT_S)
            sent += len(chunk)
            if on_sent is not None:
                on_sent(len(chunk))
    except KafkaError as exc:
        failure = kafka_failure(settings.kafka, exc)
        if isinstance(failure, ConfigError):  # a missing ACL: the user must fix it, say so as for any client
            raise failure from exc
        raise BrokerUnavailable(
            f"the replay stopped after {sent:,} of {len(plan.records):,} records: {exc}; run it again to send the "
            "rest (what was sent is in the ledger and is not sent twice)"
        ) from exc
    finally:
        producer.close()
    return sent
