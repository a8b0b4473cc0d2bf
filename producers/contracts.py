"""The two connector contracts: a pull source (reads batches after a typed cursor) and a push receiver (turns one
verified HTTP request into records and an answer).

Both are pure as far as Kafka is concerned: they hand back records and dead letters, and the runtime
(`producers/runtime.py` for pull sources, `producers/receiving.py` for receivers) publishes them and only then
saves the cursor or acknowledges the request.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, NamedTuple, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from learnstream.errors import ConnectorError


class OutgoingRecord(NamedTuple):
    """One Kafka record: its key (the conversation key for an activity, None if unknown) and its bytes.

    A named tuple rather than a frozen dataclass: one is built per activity, and it costs a third as much.
    """

    key: bytes | None
    value: bytes


class Cursor(BaseModel):
    """Where a pull source resumes: a small, validated, immutable model, stored as JSON by the cursor store."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    def to_text(self) -> str:
        """The cursor as the cursor store keeps it."""
        return self.model_dump_json()


CursorT = TypeVar("CursorT", bound=Cursor)


def cursor_from_text(cursor_type: type[CursorT], text: str, name: str) -> CursorT:
    """A stored cursor read back as its source's cursor type; an unreadable one is a ConnectorError naming it."""
    try:
        return cursor_type.model_validate_json(text)
    except ValidationError as exc:
        raise ConnectorError(
            f"the saved cursor of {name} is not a {cursor_type.__name__} ({exc.error_count()} problem(s)); "
            f"run it with --backfill-from to start again from a time"
        ) from exc


@dataclass(frozen=True)
class Batch(Generic[CursorT]):
    """Records read from a source, dead letters for the source records that could not be mapped, and the cursor
    that resumes after all of them. A batch may be empty: it then only moves the cursor."""

    records: list[OutgoingRecord]
    cursor: CursorT
    dead_letters: list[OutgoingRecord] = field(default_factory=list)


@dataclass(frozen=True)
class CheckReport:
    """What `connect check` found: each thing checked, and how many of the accounts seen the directory resolved."""

    checks: list[str]
    accounts_seen: int = 0
    unresolved_accounts: int = 0

    def lines(self) -> list[str]:
        """The report as lines for a terminal."""
        resolved = self.accounts_seen - self.unresolved_accounts
        accounts = (
            f"accounts: {self.accounts_seen} seen, {resolved} resolved through the directory, "
            f"{self.unresolved_accounts} unresolved (source-scoped pseudonyms)"
        )
        return [*self.checks, accounts]


class PullSource(Protocol[CursorT]):
    """A source read by polling: it resumes after a typed cursor and never blocks for long waiting for new data.

    `read` yields batches after the cursor (a first run starts at `start_cursor`) until it has caught up,
    then returns; the runtime calls it again after its poll interval to follow live. A streaming source (SSE)
    yields at least every few seconds, with an empty batch if nothing happened, so a stop request is seen.
    """

    name: str
    cursor_type: type[CursorT]

    def start_cursor(self, since: datetime | None) -> CursorT:
        """The cursor that reads everything from `since` on (a backfill); None: the source's configured start."""
        ...

    def check(self) -> CheckReport:
        """Check the configuration against the source (credentials, scopes, reachability); raise what is wrong."""
        ...

    def read(self, cursor: CursorT) -> Iterator[Batch[CursorT]]:
        """Batches after the cursor, until caught up."""
        ...


@dataclass(frozen=True)
class ReceivedRequest:
    """An HTTP request as a receiver sees it: lower-cased headers, the raw body, the time it arrived (epoch s),
    and the query parameters (a Graph validation request carries its token there)."""

    headers: Mapping[str, str]
    body: bytes
    received_at: float
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """What a receiver made of a request: records, dead letters and pending notifications to publish, then the
    answer to give. `pending` go to `<ns>.connector.pending` for the receiver's fetch half (`connect run`)."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain"
    records: list[OutgoingRecord] = field(default_factory=list)
    dead_letters: list[OutgoingRecord] = field(default_factory=list)
    pending: list[OutgoingRecord] = field(default_factory=list)


class PushReceiver(Protocol):
    """A source that posts to us: verify the request, map it; the runtime publishes, then acknowledges.

    `receive` raises `RequestRejected` (401 for a bad signature, 400 for a body that is not the source's format,
    503 when the source must send again later); it never publishes: an acknowledged request is one whose records
    the broker has acknowledged. A receiver that calls its source's API while receiving sets `blocking`, and the
    runtime runs it off the event loop; one whose source must be answered faster than its API can be read (Graph's
    notifications carry ids only) queues `pending` records instead and fetches in its pull half.
    """

    name: str
    path: str
    max_body_bytes: int
    blocking: bool

    def receive(self, request: ReceivedRequest) -> Receipt:
        """Verify and map one request."""
        ...

    def check(self) -> CheckReport:
        """Check the configuration (secrets present, any source API it calls reachable)."""
        ...
