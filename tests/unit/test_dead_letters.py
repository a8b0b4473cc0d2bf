"""Dead-letter tooling without Kafka: ids, the replay header through the worker and the loader, what a replay sends
(each message once, never what was replayed already, never a connector's records) and what `dlq` prints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import pytest

from cli.dlq import parse_since
from learnstream.dead_letters import (
    LetterFilter,
    Replayed,
    ReplayState,
    StoredLetter,
    left_out_lines,
    letter_document,
    letter_table,
    newest_by_root,
    original_preview,
    plan_replay,
    replay_state,
    summary_line,
)
from schemas.dead_letter import NO_KAFKA_COORDINATE, DeadLetter, DeadLetterReason, LetterId
from schemas.headers import REPLAY_OF_HEADER, SENT_AT_HEADER, forwarded_headers, read_replay_of, replay_of_headers
from schemas.topics import Topics
from streams import app
from streams.classify import default_classifier
from streams.threads import ThreadMemory
from tests.unit.test_worker_delivery import RawMessage
from warehouse.loader import decode_records

TOPICS = Topics.in_namespace("unit")
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def lid(text: str) -> LetterId:
    return LetterId.parse(text)


def stored(
    letter_id: str,
    *,
    stage: str = "worker",
    reason: DeadLetterReason = DeadLetterReason.INVALID_JSON,
    topic: str | None = None,
    value: bytes = b"{broken",
    key: bytes | None = b"conv-1",
    replay_of: str | None = None,
    minutes: int = 0,
) -> StoredLetter:
    source_topic = topic or {"worker": TOPICS.activity_raw, "loader": TOPICS.learning_events}.get(stage, "slack:T1")
    coordinate = NO_KAFKA_COORDINATE if stage == "connector" else 3
    letter = DeadLetter.for_message(
        reason=reason,
        detail="not JSON: EOF while parsing",
        stage=stage,
        topic=source_topic,
        partition=coordinate,
        offset=coordinate,
        key=key,
        value=value,
        failed_at=NOW + timedelta(minutes=minutes),
        replay_of=lid(replay_of) if replay_of else None,
    )
    return StoredLetter(lid(letter_id), NOW + timedelta(minutes=minutes), letter)


class TestLetterId:
    def test_round_trip(self):
        assert str(LetterId.parse("2:1200")) == "2:1200"
        assert LetterId.parse(" 0:0 ") == LetterId(partition=0, offset=0)

    @pytest.mark.parametrize("text", ["", "12", "a:1", "1:", ":1", "1:-2", "1:2:3"])
    def test_anything_else_is_refused_with_the_expected_form(self, text):
        with pytest.raises(ValueError, match="<partition>:<offset>"):
            LetterId.parse(text)


class TestReplayHeader:
    def test_round_trip_and_carried_on_with_the_sent_at_header(self):
        headers = [*replay_of_headers(lid("1:7")), (SENT_AT_HEADER, b"17"), ("traceparent", b"x")]
        assert read_replay_of(headers) == lid("1:7")
        assert forwarded_headers(headers) == [(REPLAY_OF_HEADER, b"1:7"), (SENT_AT_HEADER, b"17")]

    @pytest.mark.parametrize("value", [b"seven", b"\xff:1", b""])
    def test_an_unreadable_header_is_no_replay(self, value):
        assert read_replay_of([(REPLAY_OF_HEADER, value)]) is None
        assert read_replay_of(None) is None


class TestStagesNoteTheReplay:
    def test_the_worker_notes_the_first_dead_letter_when_a_replayed_record_fails_again(self):
        message = RawMessage(TOPICS.activity_raw, 1, 90, b"k", b"still not json", tuple(replay_of_headers(lid("0:4"))))
        memory = ThreadMemory(idle_s=60, max_entries=10)
        out, headers, _ = app.outgoing_for(message, TOPICS, NOW, default_classifier(), memory)
        letter = DeadLetter.from_bytes(out.value)
        assert (out.topic, letter.replay_of, letter.offset) == (TOPICS.activity_dlq, lid("0:4"), 90)
        assert headers == [(REPLAY_OF_HEADER, b"0:4")]

    def test_the_worker_sets_no_replay_of_on_a_first_failure(self):
        message = RawMessage(TOPICS.activity_raw, 1, 91, b"k", b"not json", None)
        out, _, _ = app.outgoing_for(message, TOPICS, NOW, default_classifier(), ThreadMemory(60, 10))
        assert DeadLetter.from_bytes(out.value).replay_of is None

    def test_a_replayed_record_that_passes_carries_the_header_to_the_loader(self, make_activity):
        message = RawMessage(
            TOPICS.activity_raw, 0, 5, b"k", make_activity().to_bytes(), (("learnstream-replay-of", b"2:8"),)
        )
        out, headers, _ = app.outgoing_for(message, TOPICS, NOW, default_classifier(), ThreadMemory(60, 10))
        assert out.topic == TOPICS.learning_events
        assert headers == [(REPLAY_OF_HEADER, b"2:8")]

    def test_the_loader_notes_it_too(self):
        class Record(NamedTuple):
            offset: int
            key: bytes | None
            value: bytes | None
            headers: list[tuple[str, bytes]]

        _, (letter,) = decode_records("events", 0, [Record(5, None, b"garbage", replay_of_headers(lid("1:3")))], NOW)
        assert (letter.stage, letter.replay_of) == ("loader", lid("1:3"))


class TestPlanReplay:
    def test_worker_and_loader_letters_go_back_to_the_topic_they_were_read_from_with_key_and_bytes(self):
        letters = [stored("0:1", value=b"raw bytes"), stored("0:2", stage="loader", value=b"event bytes", key=None)]
        plan = plan_replay(letters, {}, TOPICS, LetterFilter())
        assert [(r.root, r.letter, r.topic, r.key, r.value) for r in plan.records] == [
            (lid("0:1"), lid("0:1"), TOPICS.activity_raw, b"conv-1", b"raw bytes"),
            (lid("0:2"), lid("0:2"), TOPICS.learning_events, None, b"event bytes"),
        ]
        assert plan.by_topic() == {TOPICS.activity_raw: 1, TOPICS.learning_events: 1}

    def test_connector_letters_and_other_namespaces_are_left_out_and_counted(self):
        letters = [
            stored("0:1", stage="connector", reason=DeadLetterReason.SOURCE_RECORD_INVALID),
            stored("0:2", topic="other.activity.raw"),
        ]
        plan = plan_replay(letters, {}, TOPICS, LetterFilter())
        assert (plan.records, plan.from_connectors, plan.other_namespace) == ([], 1, 1)
        assert any("--backfill-from" in line for line in left_out_lines(plan, again=False))

    def test_a_message_that_failed_again_is_sent_once_with_its_newest_bytes_and_first_id(self):
        letters = [
            stored("0:4", value=b"v1"),
            stored("1:9", value=b"v1", replay_of="0:4", minutes=5),
            stored("2:3", value=b"v1", replay_of="0:4", minutes=9),
        ]
        plan = plan_replay(letters, {}, TOPICS, LetterFilter())
        assert [(r.root, r.letter) for r in plan.records] == [(lid("0:4"), lid("2:3"))]
        assert plan.superseded == 2

    def test_what_was_replayed_and_not_set_aside_since_is_not_sent_again_unless_asked(self):
        letters = [stored("0:4")]
        ledger = {lid("0:4"): Replayed(lid("0:4"), NOW, TOPICS.activity_raw)}
        assert replay_state(letters[0], ledger) is ReplayState.REPLAYED
        plan = plan_replay(letters, ledger, TOPICS, LetterFilter())
        assert (plan.records, plan.already_replayed) == ([], 1)
        assert "--again" in left_out_lines(plan, again=False)[0]
        assert [r.letter for r in plan_replay(letters, ledger, TOPICS, LetterFilter(), again=True).records] == [
            lid("0:4")
        ]

    def test_a_message_that_failed_again_after_its_replay_is_sent_by_the_next_replay(self):
        letters = [stored("0:4"), stored("1:9", replay_of="0:4", minutes=5)]
        ledger = {lid("0:4"): Replayed(lid("0:4"), NOW, TOPICS.activity_raw)}
        newest = newest_by_root(letters)[lid("0:4")]
        assert replay_state(newest, ledger) is ReplayState.FAILED_AGAIN
        plan = plan_replay(letters, ledger, TOPICS, LetterFilter())
        assert [(r.root, r.letter) for r in plan.records] == [(lid("0:4"), lid("1:9"))]

    def test_filters_apply_to_the_newest_letter_of_each_message(self):
        letters = [
            stored("0:1", reason=DeadLetterReason.INVALID_JSON),
            stored("0:2", reason=DeadLetterReason.SCHEMA_INVALID, minutes=1),
            stored("0:3", reason=DeadLetterReason.SCHEMA_INVALID, stage="loader", minutes=2),
            stored("0:9", reason=DeadLetterReason.SCHEMA_INVALID, replay_of="0:1", minutes=3),
        ]
        by_reason = plan_replay(letters, {}, TOPICS, LetterFilter(reasons=frozenset({DeadLetterReason.INVALID_JSON})))
        assert by_reason.records == [] and by_reason.not_matching == 3
        schema = LetterFilter(reasons=frozenset({DeadLetterReason.SCHEMA_INVALID}), stages=frozenset({"worker"}))
        assert [r.letter for r in plan_replay(letters, {}, TOPICS, schema).records] == [lid("0:9"), lid("0:2")]
        recent = LetterFilter(since=NOW + timedelta(minutes=2))
        assert [r.letter for r in plan_replay(letters, {}, TOPICS, recent).records] == [lid("0:9"), lid("0:3")]


class TestLedger:
    def test_round_trip(self):
        entry = Replayed(lid("3:12"), NOW, TOPICS.activity_raw)
        assert Replayed.from_bytes(entry.to_bytes()) == entry

    @pytest.mark.parametrize(
        "value",
        [b"[]", b"{}", b'{"letter":"3:12","replayed_at":"2026-11-30T12:00:00","topic":"t"}', b"{x"],
    )
    def test_anything_else_is_refused(self, value):
        with pytest.raises((ValueError, TypeError, KeyError)):
            Replayed.from_bytes(value)


class TestPrinting:
    def test_since_takes_an_age_or_a_time(self):
        assert parse_since("90m", NOW) == NOW - timedelta(minutes=90)
        assert parse_since("7d", NOW) == NOW - timedelta(days=7)
        assert parse_since("2026-11-30", NOW) == datetime(2026, 11, 30, tzinfo=UTC)
        assert parse_since("2026-11-30T08:00:00+01:00", NOW) == datetime(2026, 11, 30, 7, tzinfo=UTC)

    def test_since_refuses_anything_else(self):
        import click

        with pytest.raises(click.BadParameter, match="an age"):
            parse_since("yesterday", NOW)

    def test_summary_counts_by_reason(self):
        letters = [stored("0:1"), stored("0:2"), stored("0:3", reason=DeadLetterReason.SCHEMA_INVALID)]
        assert summary_line("t.dlq", letters) == "3 dead letters on t.dlq: invalid_json 2, schema_invalid 1"
        assert summary_line("t.dlq", []) == "0 dead letters on t.dlq"

    def test_the_table_shows_ids_state_and_origin_but_no_content(self):
        first, again = stored("0:4", value=b"secret text"), stored("1:9", replay_of="0:4", minutes=5)
        ledger = {lid("0:4"): Replayed(lid("0:4"), NOW, TOPICS.activity_raw)}
        rows = [(s, replay_state(again, ledger), ledger.get(s.root)) for s in (first, again)]
        header, line1, line2 = letter_table(rows)
        assert header.split()[:3] == ["ID", "WRITTEN", "(UTC)"]
        assert line1.startswith("0:4 ") and "failed again (of 0:4)" in line1
        assert f"{TOPICS.activity_raw}[3]@3" in line2
        assert "secret" not in "\n".join([header, line1, line2])

    def test_the_json_document_holds_the_original_only_when_asked(self):
        letter = stored("0:4", value=b"secret text")
        plain = letter_document(letter, ReplayState.NEVER, None)
        assert plain["id"] == "0:4" and plain["original_bytes"] == 11 and "original_base64" not in plain
        assert json.dumps(plain)  # serialisable
        assert "original_base64" in letter_document(letter, ReplayState.NEVER, None, with_original=True)

    def test_the_original_is_shown_as_json_text_or_base64(self):
        assert original_preview(b'{"a":1}') == ("utf-8", '{\n  "a": 1\n}')
        assert original_preview(b"plain") == ("utf-8", "plain")
        assert original_preview(b"\xff\xfe") == ("base64", "//4=")
        encoding, text = original_preview(b"x" * 100, limit=10)
        assert encoding == "utf-8" and text.startswith("x" * 10) and "100 bytes" in text
