"""The API's answer cache: kept by key within a byte budget, one rendering for requests that arrive together,
failures never kept."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import pytest

from server.answer_cache import AnswerCache
from server.api_routes import wants_fresh


@dataclass(frozen=True)
class Body:
    text: str

    @property
    def size(self) -> int:
        return len(self.text)


class Renderer:
    """Counts its renderings; `gate` holds them until the test lets them finish."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[str] = []
        self.gate = gate

    def __call__(self, text: str) -> Body:
        self.calls.append(text)
        if self.gate is not None and not self.gate.wait(10):
            raise TimeoutError("the test never opened the gate")
        return Body(text)


def test_a_second_request_is_a_hit_and_renders_nothing() -> None:
    cache: AnswerCache[Body] = AnswerCache(1000)
    render = Renderer()

    async def run() -> list[tuple[Body, str]]:
        return [await cache.get("a", lambda: render("one")), await cache.get("a", lambda: render("two"))]

    assert asyncio.run(run()) == [(Body("one"), "miss"), (Body("one"), "hit")]
    assert render.calls == ["one"]
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries, stats.bytes) == (1, 1, 1, 3)


def test_requests_arriving_together_share_one_rendering() -> None:
    cache: AnswerCache[Body] = AnswerCache(1000)
    gate = threading.Event()
    render = Renderer(gate)

    async def run() -> list[tuple[Body, str]]:
        asks = [asyncio.ensure_future(cache.get("a", lambda: render("x"))) for _ in range(5)]
        await asyncio.sleep(0.05)  # all five are waiting while the first renders
        gate.set()
        return await asyncio.gather(*asks)

    answers = asyncio.run(run())
    assert render.calls == ["x"]
    assert sorted(found for _, found in answers) == ["joined"] * 4 + ["miss"]
    assert {body for body, _ in answers} == {Body("x")}
    assert cache.stats().joined == 4


def test_the_least_recently_used_answers_leave_first_once_the_budget_is_spent() -> None:
    cache: AnswerCache[Body] = AnswerCache(10)
    render = Renderer()

    async def run() -> None:
        await cache.get("a", lambda: render("aaaa"))
        await cache.get("b", lambda: render("bbbb"))
        await cache.get("a", lambda: render("never"))  # a is now the most recent
        await cache.get("c", lambda: render("cccc"))  # 12 bytes: b leaves
        assert (await cache.get("a", lambda: render("never")))[1] == "hit"
        assert (await cache.get("b", lambda: render("bbbb")))[1] == "miss"

    asyncio.run(run())
    assert "never" not in render.calls
    assert cache.stats().bytes <= 10


@pytest.mark.parametrize("budget", [0, 3])
def test_an_answer_bigger_than_the_budget_is_served_but_not_kept(budget: int) -> None:
    cache: AnswerCache[Body] = AnswerCache(budget)
    render = Renderer()

    async def run() -> list[str]:
        return [(await cache.get("a", lambda: render("long")))[1] for _ in range(2)]

    assert asyncio.run(run()) == ["miss", "miss"]
    assert render.calls == ["long", "long"]
    assert cache.stats().entries == 0


def test_a_failed_rendering_reaches_every_waiter_and_is_not_kept() -> None:
    cache: AnswerCache[Body] = AnswerCache(1000)
    gate = threading.Event()
    calls: list[int] = []

    def failing() -> Body:
        calls.append(1)
        gate.wait(10)
        raise RuntimeError("the engine went away")

    async def run() -> list[BaseException | tuple[Body, str]]:
        asks = [asyncio.ensure_future(cache.get("a", failing)) for _ in range(3)]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(*asks, return_exceptions=True)

    outcomes = asyncio.run(run())
    assert len(calls) == 1
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
    assert cache.stats().entries == 0

    async def again() -> tuple[Body, str]:
        return await cache.get("a", lambda: Body("fixed"))

    assert asyncio.run(again()) == (Body("fixed"), "miss")


def test_a_request_that_goes_away_leaves_the_rendering_to_the_others() -> None:
    cache: AnswerCache[Body] = AnswerCache(1000)
    gate = threading.Event()
    render = Renderer(gate)

    async def run() -> tuple[Body, str]:
        first = asyncio.ensure_future(cache.get("a", lambda: render("x")))
        await asyncio.sleep(0.02)
        second = asyncio.ensure_future(cache.get("a", lambda: render("y")))
        await asyncio.sleep(0.02)
        first.cancel()  # the client that started it disconnected
        gate.set()
        return await second

    assert asyncio.run(run()) == (Body("x"), "joined")
    assert render.calls == ["x"]
    assert cache.stats().entries == 1


def test_a_fresh_request_makes_the_answer_anew_and_keeps_it() -> None:
    cache: AnswerCache[Body] = AnswerCache(1000)
    render = Renderer()

    async def run() -> list[tuple[Body, str]]:
        return [
            await cache.get("a", lambda: render("old")),
            await cache.get("a", lambda: render("new"), fresh=True),
            await cache.get("a", lambda: render("never")),
        ]

    assert asyncio.run(run()) == [(Body("old"), "miss"), (Body("new"), "miss"), (Body("new"), "hit")]
    assert render.calls == ["old", "new"]
    assert (cache.stats().entries, cache.stats().bytes) == (1, 3)


@pytest.mark.parametrize(
    ("header", "fresh"),
    [("", False), ("max-age=0", False), ("no-cache", True), ("No-Store", True), ("max-age=0, no-cache", True)],
)
def test_which_requests_ask_for_a_fresh_answer(header: str, fresh: bool) -> None:
    assert wants_fresh(header) is fresh
