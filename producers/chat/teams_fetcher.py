"""The fetch half of a `teams-notifications` instance, run by `connect run <name>` as a pull source: it reads the
notifications its receiver queued on `<ns>.connector.pending`, fetches the messages they name through Graph, and
returns their activities.

Each batch is one bounded poll of the queue. Notifications naming the same message within a batch (an edit, then a
reaction) become one fetch of the message as it now reads, placed where the message was first named, so a reply
never precedes its question. Messages are fetched side by side (`FETCHERS` at a time) and take turns on the
instance's rate limit (`fetch_rate_per_s`). The batch's cursor is the queue's next offset per partition: the runtime
saves it only after the batch's activities and dead letters were confirmed, so a crash fetches the batch again and
publishes the same activity ids. Graph unreachable through the HTTP client's retries is `SourceUnavailable`: the
round is lost and the next resumes at the saved cursor. A message Graph no longer has (404) is a dead letter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from producers.chat.teams_messages import TeamsMessages
from producers.contracts import Batch, CheckReport, OutgoingRecord
from producers.pending import PendingCursor, PendingQueue, PendingRecord
from schemas.pending import PendingNotification

logger = logging.getLogger(__name__)

#: Messages fetched from Graph at once. More would not help: the rate limit, not latency, bounds a burst.
FETCHERS = 8
#: Pending notifications read per batch (and coalesced within it).
BATCH_SIZE = 200


class TeamsNotificationFetcher:
    """The messages a `teams-notifications` receiver queued, fetched through Graph and mapped to activities."""

    cursor_type = PendingCursor

    def __init__(
        self, messages: TeamsMessages, queue: PendingQueue, batch_size: int = BATCH_SIZE, fetchers: int = FETCHERS
    ) -> None:
        self.name = messages.name
        self.messages = messages
        self.queue = queue
        self.batch_size = batch_size
        self.fetchers = ThreadPoolExecutor(fetchers, thread_name_prefix=f"{self.name}-graph")

    def start_cursor(self, since: datetime | None) -> PendingCursor:
        """From the oldest notification the queue keeps; with `since`, from the first queued at or after it."""
        if since is None:
            return PendingCursor()
        return PendingCursor(offsets=self.queue.offsets_at(since))

    def check(self) -> CheckReport:
        """The app gets a token and the pending topic exists."""
        self.messages.graph.token()
        rate = self.messages.rate.per_s
        return CheckReport(
            [
                f"a Graph token was issued for tenant {self.messages.tenant_id}",
                self.queue.check(),
                f"Graph posts change notifications to `serve` at {self.messages.path}; "
                + (f"messages are fetched at most {rate:g} a second" if rate else "message fetches are not limited"),
            ]
        )

    def read(self, cursor: PendingCursor) -> Iterator[Batch[PendingCursor]]:
        """A batch per bounded poll of the queue, until it is caught up."""
        for polled in self.queue.read(cursor.offsets, self.batch_size):
            records, letters = self.fetch(polled.records)
            yield Batch(records, PendingCursor(offsets=polled.offsets), letters)

    def fetch(self, pending: list[PendingRecord]) -> tuple[list[OutgoingRecord], list[OutgoingRecord]]:
        """The activities of the messages the pending records name (each fetched once), and the dead letters."""
        letters: list[OutgoingRecord] = []
        latest: dict[str, Mapping[str, Any]] = {}  # resource -> its latest notification, in first-named order
        oldest: datetime | None = None
        for record in pending:
            try:
                queued = PendingNotification.from_bytes(record.value)
            except ValidationError as exc:
                letters.append(
                    self.messages.unreadable(
                        record.value,
                        f"pending record at partition {record.partition} offset {record.offset} is not a pending "
                        f"notification ({exc.error_count()} problem(s))",
                    )
                )
                continue
            oldest = queued.received_at if oldest is None else min(oldest, queued.received_at)
            reason = self.messages.unusable(queued.notification)
            if reason is not None:
                letters.append(self.messages.dead_letter(queued.notification, reason))
                continue
            latest[str(queued.notification["resource"]).lstrip("/")] = queued.notification
        records: list[OutgoingRecord] = []
        for made, letter in self.fetchers.map(self.messages.fetch, latest.values()):
            records += made
            letters += [letter] if letter is not None else []
        if oldest is not None:
            logger.info(
                "%s: %d notifications, %d messages fetched; the oldest waited %.1f s",
                self.name,
                len(pending),
                len(latest),
                (datetime.now(UTC) - oldest).total_seconds(),
            )
        return records, letters
