"""The pull-source runtime: read batches after the saved cursor, publish them, flush, and only then save the cursor.

A source's batch carries the cursor to resume from *after* it, so state is always derived from the saved cursor
and never pre-built. `run_connector` publishes what a source has until it caught up; `follow` does that again
every poll interval until asked to stop, which is how a connector backfills a time range and then follows live.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kafka.errors import KafkaError

from learnstream import metrics
from learnstream.errors import BrokerUnavailable, SourceUnavailable
from producers.contracts import Batch, Cursor, CursorT, PullSource, cursor_from_text
from producers.cursors import CursorStore
from schemas.headers import sent_at_headers

logger = logging.getLogger(__name__)

SEND_TIMEOUT_S = 60.0


@dataclass
class RunStats:
    """What a connector run published."""

    batches: int = 0
    records: int = 0
    dead_letters: int = 0


def start_from(source: PullSource[CursorT], cursors: CursorStore, backfill_from: datetime | None) -> CursorT:
    """Where a run starts: `backfill_from` when given (a backfill), else the saved cursor, else the source's start.

    A source with no saved cursor and no backfill time starts at its own default (`start_cursor` of the
    configured backfill window); a backfill over what was already published only re-sends activities whose ids
    the warehouse already holds.
    """
    if backfill_from is not None:
        return source.start_cursor(backfill_from)
    saved = cursors.load(source.name)
    if saved is None:
        return source.start_cursor(None)
    return cursor_from_text(source.cursor_type, saved, source.name)


def run_connector(
    source: PullSource[CursorT],
    producer: Any,
    topic: str,
    cursors: CursorStore,
    max_batches_in_flight: int = 8,
    dead_letter_topic: str | None = None,
    start: CursorT | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    observe: Callable[[Batch[CursorT]], None] | None = None,
) -> RunStats:
    """Publish every batch the source has after its cursor; save a batch's cursor once it is confirmed.

    Batches are confirmed in order: a cursor is saved only when the broker acknowledged every record (and every
    dead letter) of its batch and of every batch before it. Sending goes on while earlier batches wait for their
    acknowledgements (at most `max_batches_in_flight` of them), so the connector never stalls on a flush between
    batches; the last batches are flushed and confirmed at the end, also when `should_stop` ends the run early.
    Each record carries the time it was handed to Kafka (the sent-at header), so latency can be told downstream.
    `observe` hears each batch once it is confirmed (a progress display).
    """
    stats = RunStats()
    in_flight: deque[tuple[Batch[CursorT], list[Any]]] = deque()
    cursor = start if start is not None else start_from(source, cursors, None)

    def confirm_oldest() -> None:
        batch, futures = in_flight.popleft()
        for future in futures:
            future.get(timeout=SEND_TIMEOUT_S)
        cursors.save(source.name, batch.cursor.to_text())
        metrics.CONNECTOR_CURSOR_SAVED.labels(source.name).set(time.time())
        metrics.CONNECTOR_UP.labels(source.name).set(1)
        if batch.records:
            metrics.CONNECTOR_ACTIVITIES.labels(source.name, topic).inc(len(batch.records))
        for letter in batch.dead_letters:
            metrics.CONNECTOR_DEAD_LETTERS.labels(source.name, metrics.dead_letter_reason(letter.value)).inc()
        stats.batches += 1
        stats.records += len(batch.records)
        stats.dead_letters += len(batch.dead_letters)
        if observe is not None:
            observe(batch)
        if batch.records or batch.dead_letters:
            logger.info(
                "published %d records and %d dead letters (connector=%s)",
                len(batch.records),
                len(batch.dead_letters),
                source.name,
            )

    try:
        for batch in source.read(cursor):
            futures = [
                producer.send(topic, key=record.key, value=record.value, headers=sent_at_headers(time.time()))
                for record in batch.records
            ]
            if batch.dead_letters:
                if dead_letter_topic is None:
                    raise ValueError(f"{source.name} produced dead letters but no dead-letter topic was given")
                futures += [
                    producer.send(dead_letter_topic, key=letter.key, value=letter.value)
                    for letter in batch.dead_letters
                ]
            in_flight.append((batch, futures))
            while in_flight and (len(in_flight) > max_batches_in_flight or acknowledged(in_flight[0][1])):
                confirm_oldest()
            if should_stop():
                break
        producer.flush(timeout=SEND_TIMEOUT_S)
        while in_flight:
            confirm_oldest()
    except KafkaError as exc:
        raise BrokerUnavailable(
            f"publishing to {topic} failed after {stats.records} confirmed records ({exc}); the cursor was not "
            "advanced past them, so running again resumes where this run stopped"
        ) from exc
    return stats


@dataclass
class Health:
    """What a following connector last saw, for its readiness (`follow` keeps it): the last poll's error, if any."""

    last_error: str = ""

    def readiness(self) -> str:
        return f"the last poll failed: {self.last_error}" if self.last_error else ""


def follow(
    source: PullSource[CursorT],
    producer: Any,
    topic: str,
    cursors: CursorStore,
    *,
    poll_interval_s: float,
    should_stop: Callable[[], bool],
    dead_letter_topic: str | None = None,
    backfill_from: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    health: Health | None = None,
    report_health: Callable[[str], None] | None = None,
    observe: Callable[[Batch[CursorT]], None] | None = None,
    caught_up: Callable[[], None] | None = None,
) -> RunStats:
    """Run the source until `should_stop`: catch up, wait the poll interval (waking to check for a stop), again.

    Each round resumes from the cursor the previous one saved, so a stop at any point leaves a cursor that
    resumes exactly after the last confirmed batch. A source that stays down through its HTTP client's retries
    (SourceUnavailable) costs a round, not the process: the next round tries again from the saved cursor (from
    the backfill start, if the failed round saved none). Configuration errors and an unreachable broker end it.

    `report_health` (a health record on the connector-state topic, for `learnstream status`) hears every failed
    poll's error, and "" for the first poll of the run that succeeds and the first success after a failure, so a
    failure an earlier run reported is cleared too.

    `observe` hears each confirmed batch (see `run_connector`); `caught_up` is called once, after the first round
    that read everything, when a backfill has turned into following live.
    """
    total = RunStats()
    start: CursorT | None = start_from(source, cursors, backfill_from)
    failing: bool | None = None  # None: nothing reported yet in this run
    while not should_stop():
        saved_before = cursors.load(source.name)
        try:
            stats = run_connector(
                source,
                producer,
                topic,
                cursors,
                dead_letter_topic=dead_letter_topic,
                start=start,
                should_stop=should_stop,
                observe=observe,
            )
        except SourceUnavailable as exc:
            logger.warning("%s: %s; trying again in %.0f s", source.name, exc, poll_interval_s)
            metrics.CONNECTOR_ERRORS.labels(source.name).inc()
            metrics.CONNECTOR_LAST_ERROR.labels(source.name).set(time.time())
            metrics.CONNECTOR_UP.labels(source.name).set(0)
            if health is not None:
                health.last_error = str(exc)
            if report_health is not None:
                report_health(str(exc))
            failing = True
            if cursors.load(source.name) != saved_before:
                start = None
        else:
            start = None
            if health is not None:
                health.last_error = ""
            if report_health is not None and failing is not False:
                report_health("")
            failing = False
            if caught_up is not None and not should_stop():
                caught_up()
                caught_up = None
            total.batches += stats.batches
            total.records += stats.records
            total.dead_letters += stats.dead_letters
        waited = 0.0
        while waited < poll_interval_s and not should_stop():
            step = min(0.2, poll_interval_s - waited)
            sleep(step)
            waited += step
    return total


def acknowledged(futures: list[Any]) -> bool:
    """Whether the broker has answered every send of a batch (successfully or not)."""
    return all(future.is_done for future in futures)


def cursor_moment(cursor: Cursor) -> datetime | None:
    """The time in its source a cursor has read up to, for a backfill's progress; None for a cursor that holds no
    such time (a file offset, an export position, channels backfilled newest first)."""
    # imported here: the runtime itself stays independent of the sources; only these two read forward in time
    from producers.wiki.confluence_cloud import ConfluenceCursor
    from producers.wiki.recentchanges import WikiChangesCursor

    if isinstance(cursor, WikiChangesCursor):
        return cursor.timestamp
    if isinstance(cursor, ConfluenceCursor):
        return cursor.since
    return None
