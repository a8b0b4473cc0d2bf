"""Rendered API answers kept by their ETag, and one rendering for requests that arrive together.

An answer's ETag names everything its figures depend on: the query, its aligned filters, the output format, the
classifier version, k and the last change of the trend tables (server/api_routes.py). So a body made once stays
right until one of them changes, and then the request's tag is another one: nothing is ever invalidated, old
tags just stop being asked for and fall out of the least-recently-used end. The budget counts body bytes.

Requests for a tag being rendered wait for that rendering instead of running the query again (8 dashboards opened
at once cost one query each). A request sent with `Cache-Control: no-cache` (or `no-store`) gets its answer made
afresh, as HTTP caches do for it. Everything here runs on the event loop's thread; the rendering itself runs in a
worker thread. A failed rendering is not kept: every waiter gets its error and the next request tries again.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Sized(Protocol):
    @property
    def size(self) -> int: ...


A = TypeVar("A", bound=Sized)


@dataclass
class CacheStats:
    """What the cache did since serve started."""

    hits: int = 0
    misses: int = 0
    joined: int = 0  # requests that waited for a rendering another request had started
    entries: int = 0
    bytes: int = 0
    max_bytes: int = 0


class AnswerCache(Generic[A]):
    """Answers by key, least recently used first out once their bodies exceed `max_bytes` (0: keep nothing)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._answers: OrderedDict[str, A] = OrderedDict()
        self._pending: dict[str, asyncio.Future[A]] = {}
        self._bytes = 0
        self._hits = self._misses = self._joined = 0

    async def get(self, key: str, make: Callable[[], A], fresh: bool = False) -> tuple[A, str]:
        """The answer for `key` and how it was found: `hit`, `joined` (another request's rendering) or `miss`
        (`make` ran in a worker thread). The rendering belongs to no request: one that goes away leaves it running
        for the others and for the cache. `fresh` (a request's `Cache-Control: no-cache`) always makes it anew,
        alone, and keeps the new one."""
        if fresh:
            self._misses += 1
            answer = await asyncio.to_thread(make)
            self._keep(key, answer)
            return answer, "miss"
        kept = self._answers.get(key)
        if kept is not None:
            self._answers.move_to_end(key)
            self._hits += 1
            return kept, "hit"
        rendering = self._pending.get(key)
        if rendering is None:
            self._misses += 1
            rendering = asyncio.ensure_future(asyncio.to_thread(make))
            self._pending[key] = rendering
            rendering.add_done_callback(lambda done: self._settle(key, done))
            found = "miss"
        else:
            self._joined += 1
            found = "joined"
        return await asyncio.shield(rendering), found

    def _settle(self, key: str, done: asyncio.Future[A]) -> None:
        del self._pending[key]
        if done.cancelled() or done.exception() is not None:  # reading the exception marks it seen
            return
        self._keep(key, done.result())

    def _keep(self, key: str, answer: A) -> None:
        replaced = self._answers.pop(key, None)
        if replaced is not None:
            self._bytes -= replaced.size
        if answer.size > self.max_bytes:
            return  # bigger than the whole budget (or the cache is off): serve it, keep nothing
        self._answers[key] = answer
        self._bytes += answer.size
        while self._bytes > self.max_bytes:
            _, dropped = self._answers.popitem(last=False)
            self._bytes -= dropped.size

    def stats(self) -> CacheStats:
        return CacheStats(self._hits, self._misses, self._joined, len(self._answers), self._bytes, self.max_bytes)
