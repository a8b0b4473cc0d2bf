"""Statement writes committed in groups: the requests that arrive while one group is being written form the next.

A group costs one lookup of the ids it names, one publication of its activities and one insert, however many
requests it holds, instead of one of each per request: the engine's insert costs about the same for one row as for
thousands. Each request still gets its own answer: its ids, its own 400 or 409 (planned alone within the group),
or the group's 503 when publishing or storing failed, in which case nothing of the group was stored (publication
comes first, and a retried request is published again: activity ids are deterministic, so it never counts twice).
Groups run one at a time, so no two can store one id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from lrs.service import Lrs, Plan, Request
from producers.contracts import OutgoingRecord

Publish = Callable[[Sequence[OutgoingRecord]], Awaitable[None]]


@dataclass
class _Waiting:
    request: Request
    answer: asyncio.Future[list[str]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupWriter:
    """Writes requests' Statements through `lrs`, publishing with `publish`; one group at a time."""

    def __init__(self, lrs: Lrs, publish: Publish, max_statements: int = 10_000) -> None:
        self.lrs = lrs
        self.publish = publish
        self.max_statements = max_statements
        self._waiting: list[_Waiting] = []
        self._draining: asyncio.Task[None] | None = None
        self.groups = 0
        self.requests = 0

    async def write(self, request: Request) -> list[str]:
        """The ids of the request's Statements once they are published and stored (its own error otherwise)."""
        waiting = _Waiting(request)
        self._waiting.append(waiting)
        if self._draining is None or self._draining.done():
            self._draining = asyncio.ensure_future(self._drain())
        return await asyncio.shield(waiting.answer)

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
        while self._waiting and (
            not group or size + len(self._waiting[0].request.sent.statements) <= self.max_statements
        ):
            waiting = self._waiting.pop(0)
            size += len(waiting.request.sent.statements)
            group.append(waiting)
        return group

    async def _commit(self, group: list[_Waiting]) -> None:
        results = await asyncio.to_thread(self.lrs.plan_group, [waiting.request for waiting in group])
        planned: list[tuple[_Waiting, Plan]] = []
        for waiting, result in zip(group, results, strict=True):
            if isinstance(result, Plan):
                planned.append((waiting, result))
            else:
                waiting.answer.set_exception(result)
        outgoing = [record for _, plan in planned for record in plan.outgoing]
        if outgoing:
            await self.publish(outgoing)
        records = [record for _, plan in planned for record in plan.records]
        if records:
            attachments = {item.sha2: item for _, plan in planned for item in plan.attachments}
            voided = [item for _, plan in planned for item in plan.voided]
            await asyncio.to_thread(self.lrs.store.write, records, list(attachments.values()), voided)
        for waiting, plan in planned:
            waiting.answer.set_result(plan.ids)
        self.groups += 1
        self.requests += len(group)
