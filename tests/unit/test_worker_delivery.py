"""The worker's delivery guard (a batch whose sends are not all acknowledged ends the process uncommitted), and
what it writes for each message it reads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import NamedTuple

import pytest

from learnstream.errors import BrokerUnavailable
from schemas.dead_letter import DeadLetter, DeadLetterReason
from schemas.headers import SENT_AT_HEADER
from schemas.learning_event import LearningEvent
from schemas.taxonomy import LearningCategory
from schemas.topics import Topics
from streams import app
from streams.classify import default_classifier
from streams.threads import ThreadMemory, entry_from_bytes


class Exited(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


@pytest.fixture(autouse=True)
def no_real_exit(monkeypatch):
    def exit_(code: int) -> None:
        raise Exited(code)

    monkeypatch.setattr(app.os, "_exit", exit_)
    monkeypatch.setattr(app.logging, "shutdown", lambda: None)


def futures(*outcomes: object) -> list[asyncio.Future[object]]:
    loop = asyncio.get_running_loop()
    made = []
    for outcome in outcomes:
        future: asyncio.Future[object] = loop.create_future()
        if outcome == "cancelled":
            future.cancel()
        elif isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
        made.append(future)
    return made


def run(coroutine_factory):
    async def main():
        return await coroutine_factory()

    return asyncio.run(main())


def test_all_acknowledged_returns():
    run(lambda: app.acknowledged(futures("m1", "m2")))
    run(lambda: app.acknowledged([]))


@pytest.mark.parametrize("failure", [RuntimeError("NotLeaderForPartition"), "cancelled"])
def test_a_failed_or_cancelled_send_exits_with_the_broker_code(failure):
    with pytest.raises(Exited) as exited:
        run(lambda: app.acknowledged(futures("m1", failure)))
    assert exited.value.code == BrokerUnavailable.exit_code


def test_shutdown_half_way_through_sending_a_batch_exits():
    with pytest.raises(Exited):
        run(lambda: app.settle_on_cancel(futures("m1"), sent_all=False))


def test_shutdown_after_a_wholly_sent_and_acknowledged_batch_lets_it_be_acked():
    run(lambda: app.settle_on_cancel(futures("m1", "m2"), sent_all=True))


def test_waiting_returns_once_every_send_is_acknowledged_and_never_cancels_them():
    async def main():
        loop = asyncio.get_running_loop()
        pending = [loop.create_future() for _ in range(3)]
        waiting = asyncio.ensure_future(app.acknowledged(pending))
        await asyncio.sleep(0)
        pending[0].set_result("m0")
        pending[2].set_result("m2")
        await asyncio.sleep(0)
        assert not waiting.done()
        pending[1].set_result("m1")
        await asyncio.wait_for(waiting, 1)
        stuck = [loop.create_future()]
        cancelled = asyncio.ensure_future(app.acknowledged(stuck))
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.sleep(0)
        assert cancelled.cancelled() and not stuck[0].cancelled()

    asyncio.run(main())


class RawMessage(NamedTuple):
    """What the worker reads of a consumed record (faust's Message has these attributes)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] | None


TOPICS = Topics.in_namespace("unit")


def memory() -> ThreadMemory:
    return ThreadMemory(idle_s=86_400, max_entries=100)


NOW = datetime(2026, 11, 29, tzinfo=UTC)
SENT_AT = (SENT_AT_HEADER, b"1764374400000")


def test_a_valid_activity_goes_on_keyed_by_its_conversation_with_the_sent_at_header(make_activity):
    activity = make_activity()
    message = RawMessage(TOPICS.activity_raw, 2, 41, b"raw-key", activity.to_bytes(), (("other", b"x"), SENT_AT))
    out, headers, state = app.outgoing_for(message, TOPICS, NOW, default_classifier(), memory())
    assert out.topic == TOPICS.learning_events
    assert out.key == activity.conversation_key.encode()
    assert LearningEvent.from_bytes(out.value).event_id == activity.activity_id
    assert headers == [SENT_AT]
    assert state is None  # not a question: nothing to remember


def test_a_question_is_remembered_and_its_thread_state_goes_on_keyed_by_its_conversation(make_activity):
    activity = make_activity(text="how do I rotate the kafka credentials?")
    message = RawMessage(TOPICS.activity_raw, 2, 42, b"raw-key", activity.to_bytes(), None)
    threads = memory()
    out, _, state = app.outgoing_for(message, TOPICS, NOW, default_classifier(), threads)
    assert state is not None and (state.topic, state.key) == (TOPICS.thread_state, out.key)
    entry = entry_from_bytes(state.value)
    assert (entry.root_event_id, entry.root_category) == (activity.activity_id, LearningCategory.ASKED)
    assert threads.entries[activity.conversation_key] == entry


def test_an_invalid_message_goes_aside_under_its_raw_key_with_where_it_was_read():
    message = RawMessage(TOPICS.activity_raw, 1, 7, b"raw-key", b"not json", None)
    out, headers, state = app.outgoing_for(message, TOPICS, NOW, default_classifier(), memory())
    assert (out.topic, out.key, headers, state) == (TOPICS.activity_dlq, b"raw-key", None, None)
    letter = DeadLetter.from_bytes(out.value)
    assert (letter.reason, letter.partition, letter.offset) == (DeadLetterReason.INVALID_JSON, 1, 7)
