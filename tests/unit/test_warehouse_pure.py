"""The warehouse's pure parts: migration files, the trend query and table, event rows, insert tokens, decoding."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from learnstream.errors import ConfigError
from schemas import DeadLetterReason, LearningEvent, activity_id_for
from warehouse.events_table import COLUMNS, event_row, insert_token
from warehouse.loader import decode_records
from warehouse.migrations import Migration, bundled_migrations

NOW = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


def make_event(native_id: str = "C01/1", **overrides) -> LearningEvent:
    activity_id = activity_id_for("slack", "acme", native_id)
    fields = {
        "event_id": activity_id,
        "activity_id": activity_id,
        "source": "slack",
        "source_instance": "acme",
        "conversation_key": f"slack:acme:thread:{native_id}",
        "activity_kind": "reply",
        "occurred_at": "2024-03-05T09:30:00.250000Z",
        "actor": "p_" + "a" * 24,
        "counterpart": "p_" + "b" * 24,
        "category": "answered",
        "formal": False,
        "confidence": 0.6,
        "decided_by": "chat.substantive_reply",
        "classifier_version": "rules-1",
        "topics": ["kafka", "python"],
        "response_delay_seconds": 95.5,
        **overrides,
    }
    return LearningEvent.from_bytes(json.dumps(fields).encode())


@dataclass
class FakeRecord:
    """The attributes of a kafka-python ConsumerRecord that the loader reads."""

    offset: int
    key: bytes | None
    value: bytes | None


class TestMigrations:
    def test_versions_are_ordered(self):
        migrations = bundled_migrations()
        assert [(migration.version, migration.name) for migration in migrations] == [
            (1, "learning_events"),
            (2, "daily_trends"),
            (3, "team_memberships"),
            (4, "events_by_id_and_trend_cells"),
            (5, "team_summaries"),
            (6, "xapi_statements"),
            (7, "xapi_statement_merges"),
            (8, "xapi_statements_without_content_hash"),
        ]

    def test_statements_name_the_database(self):
        first, second, third, fourth, fifth, sixth, *_later = bundled_migrations()
        (create_events,) = first.statements("tenant_a")
        assert "CREATE TABLE IF NOT EXISTS tenant_a.learning_events" in create_events
        assert "{database}" not in create_events
        assert create_events.rstrip().endswith("non_replicated_deduplication_window = 10000")
        daily, view = second.statements("tenant_a")
        assert "CREATE TABLE IF NOT EXISTS tenant_a.learning_events_daily" in daily
        assert view.startswith("CREATE MATERIALIZED VIEW IF NOT EXISTS tenant_a.learning_events_daily_mv")
        assert "TO tenant_a.learning_events_daily" in view
        assert "FROM tenant_a.learning_events" in view
        table, current, joined = third.statements("tenant_a")
        assert "CREATE TABLE IF NOT EXISTS tenant_a.team_memberships" in table
        assert "FROM tenant_a.team_memberships FINAL" in current
        assert "ASOF LEFT JOIN tenant_a.current_team_memberships" in joined
        rebuilt = fourth.statements("tenant_a")
        assert "EXCHANGE TABLES tenant_a.learning_events AND tenant_a.learning_events_next" in rebuilt
        assert all("{database}" not in statement for statement in rebuilt)
        summaries = fifth.statements("tenant_a")
        assert "CREATE TABLE IF NOT EXISTS tenant_a.team_activity_staging AS tenant_a.team_activity" in summaries
        assert all("{database}" not in statement for statement in summaries)
        statements, voided, attachments = sixth.statements("tenant_a")
        assert "CREATE TABLE IF NOT EXISTS tenant_a.xapi_statements" in statements
        assert "tenant_a.xapi_voided" in voided and "tenant_a.xapi_attachments" in attachments

    def test_every_create_and_drop_is_idempotent(self):
        statements = [statement for m in bundled_migrations() for statement in m.statements("db")]
        creates = [statement for statement in statements if statement.startswith("CREATE")]
        drops = [statement for statement in statements if statement.startswith("DROP")]
        assert len(creates) == 29 and len(drops) == 4
        assert all("IF NOT EXISTS" in statement for statement in creates)
        assert all("IF EXISTS" in statement for statement in drops)
        assert not any(statement.rstrip().endswith(";") for statement in statements)

    def test_events_table_has_no_text_column(self):
        statements = bundled_migrations()[3].statements("db")
        (create_events,) = [s for s in statements if s.startswith("CREATE TABLE IF NOT EXISTS db.learning_events_next")]
        code = "\n".join(line for line in create_events.splitlines() if not line.strip().startswith("--"))
        assert not re.search(r"^\s*text\s", code, re.MULTILINE)
        for column in COLUMNS:
            assert re.search(rf"^\s*{column}\s", code, re.MULTILINE), f"column {column} missing from the DDL"

    @pytest.mark.parametrize("database", ["bad-name", "db; DROP TABLE x", ""])
    def test_bad_database_identifier_is_rejected(self, database):
        with pytest.raises(ConfigError, match="is not a plain identifier"):
            bundled_migrations()[0].statements(database)

    def test_comment_only_pieces_are_dropped(self):
        migration = Migration(version=9, name="x", sql="CREATE TABLE {database}.t (a UInt8);\n-- the end\n")
        assert migration.statements("db") == ["CREATE TABLE db.t (a UInt8)"]

    def test_semicolon_ending_a_comment_line_does_not_split_a_statement(self):
        sql = "CREATE TABLE {database}.t\n(\n    a UInt8, -- see ADR 7;\n    b UInt8\n)\nENGINE = Log;\n"
        statements = Migration(version=9, name="x", sql=sql).statements("db")
        assert len(statements) == 1, statements
        assert statements[0].startswith("CREATE TABLE db.t")
        assert statements[0].endswith("ENGINE = Log")

    def test_checksum_follows_the_sql(self):
        one = Migration(version=1, name="a", sql="SELECT 1")
        assert one.checksum == Migration(version=1, name="b", sql="SELECT 1").checksum
        assert one.checksum != Migration(version=1, name="a", sql="SELECT 2").checksum


class TestEventRows:
    def test_row_follows_columns(self):
        event = make_event()
        row = dict(zip(COLUMNS, event_row(event, partition=2, offset=1041), strict=True))
        assert row == {
            "event_id": event.event_id,
            "activity_id": event.activity_id,
            "schema_version": 1,
            "source": "slack",
            "source_instance": "acme",
            "conversation_key": "slack:acme:thread:C01/1",
            "activity_kind": "reply",
            "occurred_at": datetime(2024, 3, 5, 9, 30, 0, 250000, tzinfo=UTC),
            "actor": "p_" + "a" * 24,
            "counterpart": "p_" + "b" * 24,
            "category": "answered",
            "formal": False,
            "confidence": 0.6,
            "decided_by": "chat.substantive_reply",
            "classifier_version": "rules-1",
            "topics": ("kafka", "python"),
            "response_delay_seconds": 95.5,
            "retracted": False,
            "page_refs": (),
            "kafka_partition": 2,
            "kafka_offset": 1041,
        }

    def test_row_length_matches_columns(self):
        assert len(event_row(make_event(counterpart=None, response_delay_seconds=None), 0, 0)) == len(COLUMNS)
        assert len(set(COLUMNS)) == len(COLUMNS)

    def test_insert_token_is_deterministic(self):
        token = insert_token("learnstream-loader", "learnstream.learning.events", 1, 100, 199)
        assert token == "learnstream-loader/learnstream.learning.events/1/100-199"
        assert token == insert_token("learnstream-loader", "learnstream.learning.events", 1, 100, 199)
        assert token != insert_token("learnstream-loader", "learnstream.learning.events", 2, 100, 199)
        assert token != insert_token("learnstream-loader", "learnstream.learning.events", 1, 100, 200)


class TestDecodeRecords:
    def test_splits_events_from_garbage(self):
        good = [make_event("C01/1"), make_event("C01/2")]
        records = [
            FakeRecord(10, b"k1", good[0].to_bytes()),
            FakeRecord(11, b"k-bad", b"\xff not json"),
            FakeRecord(12, None, None),
            FakeRecord(13, b"k2", good[1].to_bytes()),
            FakeRecord(14, None, json.dumps({**json.loads(good[0].to_bytes()), "text": "secret"}).encode()),
        ]
        batch, letters = decode_records("events", 4, records, NOW)
        assert batch is not None
        assert (batch.topic, batch.partition, batch.first_offset, batch.last_offset) == ("events", 4, 10, 14)
        assert [row[0] for row in batch.rows] == [good[0].event_id, good[1].event_id]
        assert [row[-1] for row in batch.rows] == [10, 13]
        assert [row[-2] for row in batch.rows] == [4, 4]
        assert [letter.offset for letter in letters] == [11, 12, 14]
        assert {letter.reason for letter in letters} == {DeadLetterReason.SCHEMA_INVALID}
        assert {letter.stage for letter in letters} == {"loader"}
        assert {letter.source_topic for letter in letters} == {"events"}
        assert {letter.partition for letter in letters} == {4}
        assert [letter.original for letter in letters] == [records[1].value, b"", records[4].value]
        assert [letter.key for letter in letters] == [b"k-bad", None, None]
        assert all(letter.failed_at == NOW for letter in letters)
        assert all(letter.detail.startswith("not a valid LearningEvent: ") for letter in letters)

    def test_dead_letter_keeps_the_original_base64(self):
        _, (letter,) = decode_records("events", 0, [FakeRecord(5, None, b"garbage")], NOW)
        assert letter.original_base64 == base64.b64encode(b"garbage").decode("ascii")

    def test_all_garbage_still_spans_the_offsets(self):
        batch, letters = decode_records("events", 0, [FakeRecord(7, None, b"x"), FakeRecord(8, None, b"y")], NOW)
        assert batch is not None
        assert batch.rows == []
        assert (batch.first_offset, batch.last_offset) == (7, 8)
        assert len(letters) == 2

    def test_no_records(self):
        assert decode_records("events", 0, [], NOW) == (None, [])


def test_membership_rows_are_one_per_membership_stamped_with_the_load_time():
    from datetime import UTC, datetime

    from schemas.directory import DirectoryRecord, TeamMembership
    from warehouse.directory import membership_rows

    person = "p_" + "a1" * 12
    record = DirectoryRecord(
        person=person,
        memberships=(
            TeamMembership(valid_from=date(2024, 1, 1), team="platform", department="Engineering"),
            TeamMembership(valid_from=date(2024, 6, 1), team="data"),
        ),
    )
    at = datetime(2026, 11, 30, tzinfo=UTC)
    assert membership_rows([record], at) == [
        (person, date(2024, 1, 1), "platform", "Engineering", None, at),
        (person, date(2024, 6, 1), "data", None, None, at),
    ]
