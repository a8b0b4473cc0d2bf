"""Statement writes: drafted in parallel, committed in groups.

Each request is drafted on its own (lrs/workers.py: parsing and validation, in worker processes), then joins the
requests waiting to be committed; the requests that arrive while one group is being committed form the next. A
group costs one lookup of the ids it names, one publication of its activities and one insert, however many
requests it holds: the engine's insert costs about the same for one row as for thousands. Each request still
gets its own answer: its ids, its own 400 or 409 (settled alone within the group), or the group's 503 when
publishing or storing failed, in which case nothing of the group was stored (publication comes first, and a
retried request is published again: activity ids are deterministic, so it never counts twice). Groups run one at
a time, so no two can store one id.

A request's Statements are `stored` at the instant it arrived, so Statements become readable a little after their
`stored`: `consistent_through` is the instant before which every Statement is readable (the oldest arrival still
being written), which GET answers in X-Experience-API-Consistent-Through.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from learnstream import metrics
from lrs.drafting import Draft, Request
from lrs.service import Lrs, Plan
from producers.contracts import OutgoingRecord

Publish = Callable[[Sequence[OutgoingRecord]], Awaitable[None]]


@dataclass
class _Waiting:
    draft: Draft
    answer: asyncio.Future[list[str]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupWriter:
    """Writes requests' Statements through `lrs` (drafted in its workers, settled, stored), publishing with
    `publish`; one group at a time."""

    def __init__(self, lrs: Lrs, publish: Publish, max_statements: int = 10_000) -> None:
        self.lrs = lrs
        self.publish = publish
        self.max_statements = max_statements
        self._waiting: list[_Waiting] = []
        self._draining: asyncio.Task[None] | None = None
        self._arrivals: Counter[datetime] = Counter()  # the `stored` of the requests being written
        self.groups = 0
        self.requests = 0

    async def write(self, request: Request) -> list[str]:
        """The ids of the request's Statements once they are published and stored (its own error otherwise)."""
        self._arrivals[request.stored] += 1
        try:
            waiting = _Waiting(await self.lrs.drafting.draft(request))
            self._waiting.append(waiting)
            if self._draining is None or self._draining.done():
                self._draining = asyncio.ensure_future(self._drain())
            return await asyncio.shield(waiting.answer)
        finally:
            self._arrivals[request.stored] -= 1
            if not self._arrivals[request.stored]:
                del self._arrivals[request.stored]

    def consistent_through(self, now: datetime) -> datetime:
        """Every Statement stored before the returned instant is readable."""
        if not self._arrivals:
            return now
        return min(min(self._arrivals) - timedelta(milliseconds=1), now)

    async def _drain(self) -> None:
        while self._waiting:
            group = self._next_group()
            try:
                await self._commit(group)
            except BaseException as exc:  # every waiter must be answered, whatever happened
                for waiting in group:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise

    def _next_group(self) -> list[_Waiting]:
        group: list[_Waiting] = []
        size = 0
        while self._waiting and (not group or size + len(self._waiting[0].draft.statements) <= self.max_statements):
            waiting = self._waiting.pop(0)
            size += len(waiting.draft.statements)
            group.append(waiting)
        return group

    async def _commit(self, group: list[_Waiting]) -> None:
        named = sorted({name for waiting in group for name in waiting.draft.named()})
        known = await asyncio.to_thread(self.lrs.store.known, named)
        results = self.lrs.settle_group([waiting.draft for waiting in group], known)
        planned: list[tuple[_Waiting, Plan]] = []
        for waiting, result in zip(group, results, strict=True):
            if isinstance(result, Plan):
                planned.append((waiting, result))
            else:
                waiting.answer.set_exception(result)
        outgoing = [record for _, plan in planned for record in plan.outgoing]
        if outgoing:
            await self.publish(outgoing)
        rows = [row for _, plan in planned for row in plan.rows]
        if rows:
            attachments = {item.sha2: item for _, plan in planned for item in plan.attachments}
            voided = [item for _, plan in planned for item in plan.voided]
            await asyncio.to_thread(self.lrs.store.write, rows, list(attachments.values()), voided)
            metrics.LRS_GROUP_STATEMENTS.observe(len(rows))
        for waiting, plan in planned:
            waiting.answer.set_result(plan.ids)
        self.groups += 1
        self.requests += len(group)
