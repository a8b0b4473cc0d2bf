"""Wikimedia EventStreams (`/v2/stream/recentchange`, server-sent events) as a pull source for one wiki.

The stream carries every wiki's changes; the source keeps those of its wiki (and wanted namespaces and types)
and resumes after the last event it read by sending that event's `id` back as `Last-Event-ID`. A stream never
ends, so `read` hands out a batch at least every `max_wait_s` (an empty one if nothing came) and returns after
`max_batches` or when the server closes the stream; the runtime then saves the cursor, checks for a stop
request and calls `read` again. A dropped connection is retried by the rules of `producers/http_client.py`.

A reader thread parses the stream into a queue, so waiting for the next event never blocks past a batch's end.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import AwareDatetime, ValidationError

from learnstream.errors import ConfigError, ConnectorError, SourceUnavailable
from learnstream.settings import HttpSettings
from producers.contracts import Batch, CheckReport, Cursor, OutgoingRecord
from producers.dead_letters import source_dead_letter
from producers.http_client import ResponseAction, action_for, retry_delay
from producers.pseudonymise import Pseudonymiser
from producers.wiki.mediawiki import UnusableChange, checked_recentchange
from schemas.activity import SourceSystem

logger = logging.getLogger(__name__)

CHANGE_TYPES = ("edit", "new")


class StreamPosition(Cursor):
    """Where the stream resumes: after the event whose `id` is `last_event_id`; before any, from `since`
    (None: from the moment of connecting)."""

    last_event_id: str = ""
    since: AwareDatetime | None = None


@dataclass(frozen=True)
class StreamEvent:
    """One server-sent event: its id (empty if it had none) and its data."""

    event_id: str
    data: str


@dataclass(frozen=True)
class StreamEnded:
    """The server closed the stream (`error` None) or the connection dropped (`error` says how)."""

    error: str | None


class EventFeed:
    """An open stream, parsed in a reader thread into a queue of StreamEvent, then one StreamEnded."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.items: queue.Queue[StreamEvent | StreamEnded] = queue.Queue()
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self.pump, name="eventstreams-reader", daemon=True)
        self.thread.start()

    def pump(self) -> None:
        """Read lines into events until the stream ends (SSE: `field: value` lines, a blank line ends an event)."""
        event_id, data = "", list[str]()
        try:
            for line in self.response.iter_lines():
                if not line:
                    if data:
                        self.items.put(StreamEvent(event_id, "\n".join(data)))
                    event_id, data = "", []
                elif line.startswith(":"):
                    continue  # a comment: the server's heartbeat
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "data":
                        data.append(value)
                    elif name == "id":
                        event_id = value
        except (httpx.HTTPError, OSError) as exc:
            self.items.put(StreamEnded(None if self.closing.is_set() else type(exc).__name__))
            return
        self.items.put(StreamEnded(None))

    def next(self, timeout: float) -> StreamEvent | StreamEnded | None:
        """The next item, or None if none came within `timeout` seconds."""
        try:
            return self.items.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None

    def close(self) -> None:
        """Close the connection; the reader thread ends with it."""
        self.closing.set()
        self.response.close()


class EventStreamsSource:
    """The recentchange event stream of one wiki: edits and page creations of the wanted namespaces."""

    cursor_type = StreamPosition

    def __init__(
        self,
        name: str,
        stream_url: str,
        server_name: str,
        resolver: Pseudonymiser,
        settings: HttpSettings,
        *,
        namespaces: Sequence[int] | None = None,
        types: Sequence[str] = CHANGE_TYPES,
        exclude_bots: bool = False,
        headers: Mapping[str, str] | None = None,
        batch_size: int = 500,
        max_wait_s: float = 1.0,
        max_batches: int = 60,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        unknown = sorted(set(types) - set(CHANGE_TYPES))
        if unknown or not types:
            raise ConfigError(f"{name}: change types must be among {', '.join(CHANGE_TYPES)}, not {unknown or 'none'}")
        self.name = name
        self.stream_url = stream_url
        self.server_name = server_name
        self.resolver = resolver
        self.settings = settings
        self.namespaces = None if namespaces is None else tuple(namespaces)
        self.types = tuple(types)
        self.exclude_bots = exclude_bots
        self.batch_size = batch_size
        self.max_wait_s = max_wait_s
        self.max_batches = max_batches
        self.now = now
        self.sleep = sleep
        self.clock = clock
        # no read timeout: a quiet stream is normal, and the reader thread waits on it, not the caller
        timeout = httpx.Timeout(settings.timeout_s, read=None)
        self.client = httpx.Client(headers=dict(headers or {}), timeout=timeout, transport=transport)

    def start_cursor(self, since: datetime | None) -> StreamPosition:
        """From `since` (the stream keeps only a few days), or None: from the moment of connecting."""
        return StreamPosition(since=None if since is None else since.astimezone(UTC))

    def check(self) -> CheckReport:
        """The stream answers: connect, then close at once."""
        feed = self.connect(StreamPosition())
        if not isinstance(feed, EventFeed):
            raise SourceUnavailable(f"{self.name}: {self.stream_url} did not answer ({feed[0]})")
        feed.close()
        return CheckReport([f"{self.stream_url}: stream open, keeping {self.server_name}"])

    def read(self, cursor: StreamPosition) -> Iterator[Batch[StreamPosition]]:
        """Batches of at most `batch_size` events, one at least every `max_wait_s`; at most `max_batches`."""
        batches, failures = 0, 0
        while batches < self.max_batches:
            opened = self.connect(cursor)
            if not isinstance(opened, EventFeed):
                failures += 1
                self.wait_before_retry(failures, *opened)
                continue
            ended: StreamEnded | None = None
            try:
                while batches < self.max_batches and ended is None:
                    records: list[OutgoingRecord] = []
                    letters: list[OutgoingRecord] = []
                    deadline = self.clock() + self.max_wait_s
                    while len(records) + len(letters) < self.batch_size:
                        item = opened.next(deadline - self.clock())
                        if item is None:
                            break
                        if isinstance(item, StreamEnded):
                            ended = item
                            break
                        failures = 0  # events flow again: the next drop starts its backoff afresh
                        cursor = self.take(item, cursor, records, letters)
                    yield Batch(records, cursor, letters)
                    batches += 1
            finally:
                opened.close()
            if ended is None or ended.error is None:
                return  # enough batches for this call, or the server ended the stream
            failures += 1
            self.wait_before_retry(failures, f"connection dropped ({ended.error})", None)

    def take(
        self,
        event: StreamEvent,
        cursor: StreamPosition,
        records: list[OutgoingRecord],
        letters: list[OutgoingRecord],
    ) -> StreamPosition:
        """Map one event into the batch; the cursor after it (every event moves it, kept or not)."""
        if event.event_id:
            cursor = StreamPosition(last_event_id=event.event_id)
        try:
            change = json.loads(event.data)
        except ValueError as exc:
            letters.append(self.dead_letter(event.data, f"event data is not JSON: {exc}"))
            return cursor
        if not isinstance(change, dict):
            letters.append(self.dead_letter(event.data, f"event data is a JSON {type(change).__name__}, not an object"))
            return cursor
        if not self.wanted(change):
            return cursor
        try:
            activity = checked_recentchange(change, self.resolver)
        except UnusableChange as exc:
            letters.append(self.dead_letter(event.data, str(exc)))
        except ValidationError as exc:
            letters.append(self.dead_letter(event.data, f"not a valid activity: {exc.errors()[0]['msg']}"))
        else:
            if activity is not None:
                records.append(OutgoingRecord(activity.conversation_key.encode("utf-8"), activity.to_bytes()))
        return cursor

    def wanted(self, change: Mapping[str, Any]) -> bool:
        """An event of this wiki (not a canary), of a wanted namespace and type, and not a bot's if excluded."""
        meta = change.get("meta")
        if isinstance(meta, dict) and meta.get("domain") == "canary":
            return False
        if change.get("server_name") != self.server_name:
            return False
        if self.namespaces is not None and change.get("namespace") not in self.namespaces:
            return False
        if change.get("type") not in self.types:
            return False
        return not (self.exclude_bots and change.get("bot") is True)

    def connect(self, cursor: StreamPosition) -> EventFeed | tuple[str, str | None]:
        """Open the stream after the cursor; (reason, Retry-After) if that failed in a way worth retrying."""
        headers = {"Accept": "text/event-stream"}
        params: dict[str, str] = {}
        if cursor.last_event_id:
            headers["Last-Event-ID"] = cursor.last_event_id
        elif cursor.since is not None:
            params["since"] = cursor.since.strftime("%Y-%m-%dT%H:%M:%SZ")
        request = self.client.build_request("GET", self.stream_url, headers=headers, params=params)
        try:
            response = self.client.send(request, stream=True)
        except httpx.TransportError as exc:
            return type(exc).__name__, None
        action = action_for(response.status_code)
        if action is ResponseAction.SUCCESS:
            return EventFeed(response)
        response.close()
        if action is ResponseAction.CONFIG_ERROR:
            raise ConfigError(f"{self.name}: {self.stream_url} refused the stream with {response.status_code}")
        if action is ResponseAction.FAIL:
            raise ConnectorError(f"{self.name}: {self.stream_url} answered {response.status_code}; not retried")
        return f"status {response.status_code}", response.headers.get("Retry-After")

    def wait_before_retry(self, attempt: int, reason: str, retry_after: str | None) -> None:
        """Wait as `retry_delay` says, or give up after the configured number of tries."""
        if attempt >= self.settings.max_attempts:
            raise SourceUnavailable(
                f"{self.name}: {self.stream_url} kept failing ({reason}) after {attempt} tries; the cursor was not "
                "advanced, so the next run resumes here"
            )
        delay = retry_delay(attempt, retry_after, self.settings, self.now())
        logger.warning("%s: %s; reconnecting in %.1f s", self.name, reason, delay)
        self.sleep(delay)

    def dead_letter(self, data: str, detail: str) -> OutgoingRecord:
        """The dead letter for an event this source cannot use."""
        return source_dead_letter(SourceSystem.MEDIAWIKI, self.server_name, detail, data.encode("utf-8"), self.now())

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()
