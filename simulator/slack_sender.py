"""A load sender that plays Slack's Events API: signed POSTs of `event_callback` envelopes to a receiver URL.

Each request is signed as Slack signs it (`X-Slack-Request-Timestamp`, `X-Slack-Signature` = `v0=` + the hex
HMAC-SHA256 of `v0:<ts>:<body>`), freshly for every attempt. A request not answered 2xx within the timeout is
retried as Slack does, up to three times, with `X-Slack-Retry-Num` and `X-Slack-Retry-Reason`; Slack waits
about a minute and then five before its later retries, and a `Retry-After` on 429/503 is honoured; all delays
are multiplied by `delay_scale` so tests and demos do not wait minutes (1.0 is Slack's own schedule).

Bodies are serialised before the clock starts; the stats give the sender's own CPU time, so a benchmark can
state what its load generator cost.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from producers.chat.slack_events import slack_signature

#: Slack's waits before retry 1, 2 and 3 (seconds), before `delay_scale`.
SLACK_RETRY_DELAYS_S = (0.0, 60.0, 300.0)
MAX_RETRIES = 3
SLACK_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class SendStats:
    """What a run delivered: envelopes sent and acknowledged (2xx), retry requests made, envelopes given up on,
    HTTP requests in all, wall and CPU seconds of the sender, and the statuses answered."""

    sent: int
    acknowledged: int
    retried: int
    failed: int
    requests: int
    elapsed_s: float
    cpu_s: float
    statuses: Mapping[int, int] = field(default_factory=dict)

    @property
    def requests_per_s(self) -> float:
        """HTTP requests per wall-clock second."""
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0


def serialize_events(events: Iterable[Mapping[str, Any]]) -> list[bytes]:
    """The request bodies of envelopes, as compact JSON (Slack's bodies carry no insignificant whitespace)."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    return [dumps(event).encode("utf-8") for event in events]


@dataclass
class Tally:
    """Counters the workers share (one event loop, so no lock)."""

    acknowledged: int = 0
    retried: int = 0
    failed: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


def retry_after_s(response: aiohttp.ClientResponse) -> float | None:
    """The `Retry-After` seconds of a 429/503 answer, if it gives a number."""
    if response.status not in (429, 503):
        return None
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


async def deliver(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    secret: bytes,
    tally: Tally,
    max_retries: int,
    delay_scale: float,
) -> None:
    """One envelope: the first attempt, then Slack's retries until a 2xx or the retries are used up."""
    reason = ""
    for attempt in range(max_retries + 1):
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": slack_signature(secret, timestamp, body),
        }
        if attempt:
            headers["X-Slack-Retry-Num"] = str(attempt)
            headers["X-Slack-Retry-Reason"] = reason
            tally.retried += 1
        tally.requests += 1
        wait = SLACK_RETRY_DELAYS_S[min(attempt, len(SLACK_RETRY_DELAYS_S) - 1)]  # before retry attempt + 1
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                tally.statuses[response.status] += 1
                if 200 <= response.status < 300:
                    tally.acknowledged += 1
                    return
                reason = "http_error"
                wait = max(wait, retry_after_s(response) or 0.0)
        except TimeoutError:
            reason = "http_timeout"
        except aiohttp.ClientConnectionError:
            reason = "connection_failed"
        if attempt < max_retries and wait * delay_scale > 0:
            await asyncio.sleep(wait * delay_scale)
    tally.failed += 1


async def post_bodies(
    url: str,
    bodies: Sequence[bytes],
    secret: bytes,
    concurrency: int = 32,
    *,
    timeout_s: float = SLACK_TIMEOUT_S,
    max_retries: int = MAX_RETRIES,
    delay_scale: float = 0.01,
    on_done: Callable[[int], None] | None = None,
) -> SendStats:
    """POST pre-serialised envelopes with `concurrency` requests in flight over a keep-alive connection pool;
    `on_done` hears the index of each body once it is acknowledged or given up (a progress display)."""
    tally = Tally()
    queue: Iterator[tuple[int, bytes]] = enumerate(bodies)
    connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def worker(session: aiohttp.ClientSession) -> None:
        for index, body in queue:  # one shared iterator: each body is taken by exactly one worker
            await deliver(session, url, body, secret, tally, max_retries, delay_scale)
            if on_done is not None:
                on_done(index)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(session) for _ in range(max(1, concurrency))))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return SendStats(
        sent=len(bodies),
        acknowledged=tally.acknowledged,
        retried=tally.retried,
        failed=tally.failed,
        requests=tally.requests,
        elapsed_s=elapsed,
        cpu_s=cpu,
        statuses=dict(tally.statuses),
    )


async def post_events(
    url: str,
    events: Iterable[Mapping[str, Any]],
    secret: bytes,
    concurrency: int = 32,
    *,
    timeout_s: float = SLACK_TIMEOUT_S,
    max_retries: int = MAX_RETRIES,
    delay_scale: float = 0.01,
) -> SendStats:
    """Serialise the envelopes (outside the timed part), then post them as Slack would; the stats of the run."""
    bodies = serialize_events(events)
    return await post_bodies(
        url, bodies, secret, concurrency, timeout_s=timeout_s, max_retries=max_retries, delay_scale=delay_scale
    )
