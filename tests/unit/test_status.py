"""`learnstream status` without a broker: lag from offsets, verdicts at and over thresholds, rendering, JSON shape,
connector health records (their writing by `follow`, and the cursor store skipping them)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from learnstream.consumer_lag import first_unconsumed
from learnstream.errors import WarehouseError
from learnstream.settings import Settings, StatusSettings
from learnstream.status import (
    ConnectorHealth,
    ConnectorStatus,
    DeadLetterCounts,
    GroupLag,
    PartitionLag,
    PipelineStatus,
    WarehouseFigures,
    WarehouseStatus,
    format_duration,
    group_lags,
    health_name,
    health_record,
    health_reporter,
    parse_health,
    problems,
    render_table,
    status_document,
    warehouse_figures,
)
from producers.cursors import apply_cursor_record, cursor_document
from producers.instance_config import InstanceConfig
from producers.runtime import follow
from tests.unit.test_cursor_store import TOPIC, FlakySource, RecordingProducer

NOW = 1_800_000_000.0
LIMITS = StatusSettings(max_lag_messages=100, max_lag_seconds=60, max_cursor_age_s=600, max_freshness_s=3600)


def lag(role: str = "worker", messages: int = 0, seconds: float = 0.0, committed: int | None = 5) -> GroupLag:
    partition = PartitionLag(0, committed, (committed or 0) + messages, messages, seconds)
    return GroupLag(role, f"{role}-group", f"ns.{role}.topic", (partition,))


def pipeline(
    *,
    groups: tuple[GroupLag, ...] = (),
    connectors: tuple[ConnectorStatus, ...] = (),
    warehouse: WarehouseStatus | None = None,
    notes: tuple[str, ...] = (),
) -> PipelineStatus:
    return PipelineStatus(
        at=NOW,
        lag=groups or (lag("worker"), lag("loader")),
        connectors=connectors,
        dead_letters=DeadLetterCounts("ns.activity.dlq", {"invalid_json": 2, "schema_invalid": 1}, NOW - 7200),
        warehouse=warehouse or WarehouseStatus("direct", WarehouseFigures(42, NOW - 30, NOW - 86_400)),
        notes=notes,
    )


class TestLag:
    def test_a_group_without_commits_is_behind_by_the_whole_topic_from_its_beginning(self):
        lags = group_lags(committed={}, beginnings={0: 3, 1: 0}, ends={0: 10, 1: 4}, first_timestamps={}, now=NOW)
        assert [(p.partition, p.committed, p.messages) for p in lags] == [(0, None, 7), (1, None, 4)]

    def test_a_committed_offset_behind_retention_counts_from_the_beginning(self):
        assert first_unconsumed(2, beginning=5) == 5
        assert first_unconsumed(7, beginning=5) == 7
        assert first_unconsumed(None, beginning=5) == 5

    def test_seconds_are_the_wait_of_the_first_unconsumed_record_and_0_when_caught_up(self):
        lags = group_lags(
            committed={0: 8, 1: 4},
            beginnings={0: 0, 1: 0},
            ends={0: 10, 1: 4},
            first_timestamps={0: NOW - 90.5, 1: NOW - 500},  # partition 1's timestamp is stale: it is caught up
            now=NOW,
        )
        assert [(p.messages, p.seconds) for p in lags] == [(2, 90.5), (0, 0.0)]
        group = GroupLag("worker", "g", "t", lags)
        assert (group.messages, group.seconds, group.has_commits) == (2, 90.5, True)

    def test_an_end_offset_read_before_the_commit_moved_never_gives_negative_lag(self):
        (only,) = group_lags({0: 12}, {0: 0}, {0: 10}, {}, NOW)
        assert only.messages == 0


class TestVerdict:
    def test_everything_within_its_threshold_is_healthy(self):
        assert problems(pipeline(), LIMITS) == []

    @pytest.mark.parametrize(("messages", "unhealthy"), [(100, False), (101, True)])
    def test_lag_in_messages_at_and_over_the_threshold(self, messages, unhealthy):
        found = problems(pipeline(groups=(lag("loader", messages=messages),)), LIMITS)
        assert bool(found) is unhealthy
        if unhealthy:
            assert found == ["lag: the loader group loader-group is 101 messages behind on ns.loader.topic (max 100)"]

    @pytest.mark.parametrize(("seconds", "unhealthy"), [(60.0, False), (60.5, True)])
    def test_lag_in_seconds_at_and_over_the_threshold(self, seconds, unhealthy):
        found = problems(pipeline(groups=(lag("worker", messages=1, seconds=seconds),)), LIMITS)
        assert bool(found) is unhealthy
        if unhealthy:
            assert "worker group worker-group has yet to read on ns.worker.topic waited 60 s (max 60 s)" in found[0]

    @pytest.mark.parametrize(
        ("age", "follows", "unhealthy"), [(600, True, False), (601, True, True), (10**6, False, False)]
    )
    def test_cursor_age_counts_for_a_connector_that_follows_its_source_only(self, age, follows, unhealthy):
        connector = ConnectorStatus("wiki", follows, NOW - age, None)
        found = problems(pipeline(connectors=(connector,)), LIMITS)
        assert bool(found) is unhealthy
        if unhealthy:
            assert found == ["connector wiki: its cursor was last saved 10 min ago (max 10 min)"]

    def test_a_connector_whose_last_poll_failed_is_unhealthy_and_named(self):
        failed = ConnectorStatus("acme-wiki", True, NOW - 5, ConnectorHealth(False, "the wiki answered 503", NOW - 120))
        recovered = ConnectorStatus("other", True, NOW - 5, ConnectorHealth(True, "", NOW - 60))
        found = problems(pipeline(connectors=(failed, recovered)), LIMITS)
        assert found == ["connector acme-wiki: its last poll failed 2 min ago: the wiki answered 503"]

    @pytest.mark.parametrize(("age", "unhealthy"), [(3600, False), (3601, True)])
    def test_freshness_at_and_over_the_threshold(self, age, unhealthy):
        warehouse = WarehouseStatus("serve", WarehouseFigures(10, NOW - age, NOW - 10**7))
        found = problems(pipeline(warehouse=warehouse), LIMITS)
        assert bool(found) is unhealthy
        if unhealthy:
            assert found == ["warehouse: the newest learning event was stored 60 min ago (max 60 min)"]

    def test_an_empty_warehouse_has_no_freshness_to_judge(self):
        assert problems(pipeline(warehouse=WarehouseStatus("direct", WarehouseFigures(0, None, None))), LIMITS) == []

    def test_an_unreachable_warehouse_and_notes_are_problems(self):
        warehouse = WarehouseStatus("direct", error="cannot open the warehouse at chdb:///x")
        found = problems(pipeline(warehouse=warehouse, notes=("topic t does not exist",)), LIMITS)
        assert found == ["topic t does not exist", "warehouse: cannot open the warehouse at chdb:///x"]

    def test_the_defaults_are_settings_read_from_the_environment(self, monkeypatch):
        monkeypatch.setenv("LEARNSTREAM_STATUS__MAX_LAG_MESSAGES", "7")
        monkeypatch.setenv("LEARNSTREAM_STATUS__MAX_FRESHNESS_S", "0")
        status = Settings().status
        assert (status.max_lag_messages, status.max_freshness_s) == (7, 0)
        assert StatusSettings().max_lag_seconds > 0


class TestRendering:
    @pytest.mark.parametrize(
        ("seconds", "shown"),
        [
            (0.4, "0 s"),
            (89, "89 s"),
            (90, "2 min"),
            (3600, "60 min"),
            (5400, "1.5 h"),
            (3 * 86400, "3.0 d"),
            (-5, "0 s"),
        ],
    )
    def test_durations(self, seconds, shown):
        assert format_duration(seconds) == shown

    def test_the_json_document_has_every_part_and_the_verdict(self):
        failed = ConnectorStatus("acme-wiki", True, NOW - 5, ConnectorHealth(False, "down", NOW - 1))
        status = pipeline(groups=(lag("worker", messages=3, seconds=2.0, committed=None),), connectors=(failed,))
        document = json.loads(json.dumps(status_document(status, LIMITS)))
        assert set(document) == {"at", "lag", "connectors", "dead_letters", "warehouse", "problems", "healthy"}
        assert document["lag"] == [
            {
                "role": "worker",
                "group": "worker-group",
                "topic": "ns.worker.topic",
                "has_commits": False,
                "messages": 3,
                "seconds": 2.0,
                "partitions": [{"partition": 0, "committed": None, "end": 3, "messages": 3, "seconds": 2.0}],
            }
        ]
        assert document["connectors"] == [
            {
                "name": "acme-wiki",
                "follows": True,
                "cursor_saved_at": NOW - 5,
                "cursor_age_s": 5.0,
                "ok": False,
                "last_error": "down",
                "reported_at": NOW - 1,
            }
        ]
        assert document["dead_letters"] == {
            "topic": "ns.activity.dlq",
            "total": 3,
            "by_reason": {"invalid_json": 2, "schema_invalid": 1},
            "newest_at": NOW - 7200,
            "newest_age_s": 7200.0,
        }
        assert document["warehouse"] == {
            "via": "direct",
            "reachable": True,
            "error": None,
            "rows": 42,
            "newest_stored_at": NOW - 30,
            "newest_occurred_at": NOW - 86_400,
            "freshness_s": 30.0,
        }
        assert document["problems"] == ["connector acme-wiki: its last poll failed 1 s ago: down"]
        assert document["healthy"] is False

    def test_an_unreachable_warehouse_shows_in_the_json_without_figures(self):
        status = pipeline(warehouse=WarehouseStatus("serve", error="no answer"))
        warehouse = status_document(status, LIMITS)["warehouse"]
        assert warehouse["reachable"] is False and warehouse["rows"] is None and warehouse["freshness_s"] is None

    def test_the_table_shows_each_part_and_ends_with_one_line_per_problem(self):
        failed = ConnectorStatus("acme-wiki", True, None, ConnectorHealth(False, "the wiki answered 503", NOW - 1))
        groups = (lag("worker", messages=200, seconds=5.0, committed=None), lag("loader"))
        lines = render_table(pipeline(groups=groups, connectors=(failed,)), LIMITS).splitlines()
        text = "\n".join(lines)
        assert "no commits" in text
        assert "dead letters on ns.activity.dlq: 3 (newest 2.0 h ago): invalid_json 2, schema_invalid 1" in text
        assert "warehouse (direct): 42 rows in learning_events, newest stored 30 s ago" in text
        assert "acme-wiki  yes      never         FAILED 1 s ago: the wiki answered 503" in text
        assert lines[-3:] == [
            "UNHEALTHY: 2 problems",
            "  - lag: the worker group worker-group is 200 messages behind on ns.worker.topic (max 100)",
            "  - connector acme-wiki: its last poll failed 1 s ago: the wiki answered 503",
        ]

    def test_a_healthy_table_says_so_last(self):
        assert render_table(pipeline(), LIMITS).splitlines()[-1] == "healthy"


class TestHealthRecords:
    def test_a_record_says_ok_with_no_error_and_not_ok_with_one(self):
        key, value = health_record("acme-wiki", "", NOW)
        assert key == b"health:acme-wiki" and health_name(key) == "acme-wiki"
        assert json.loads(value) == {"last_error": "", "at": NOW, "ok": True}
        assert parse_health(value) == ConnectorHealth(True, "", NOW)
        _, failed = health_record("acme-wiki", "x" * 2000, NOW)
        parsed = parse_health(failed)
        assert parsed.ok is False and len(parsed.last_error) == 500

    def test_a_cursor_key_is_no_health_record_and_a_bad_value_is_refused(self):
        assert health_name(b"acme-wiki") is None and health_name(None) is None
        with pytest.raises(ValueError):
            parse_health(b'{"ok": true}')
        with pytest.raises(ValueError):
            parse_health(b"not json")

    def test_the_reporter_sends_on_the_state_topic_and_survives_a_failed_send(self, caplog):
        producer = RecordingProducer([])
        producer.flushed = True
        report = health_reporter(producer, "ns.connector.state", "acme-wiki", clock=lambda: NOW)
        report("the wiki answered 503")
        assert producer.sent == [
            ("ns.connector.state", b"health:acme-wiki", health_record("acme-wiki", "the wiki answered 503", NOW)[1])
        ]
        broken = RecordingProducer([], fail_from=0)
        broken.flushed = True
        with caplog.at_level(logging.WARNING):
            health_reporter(broken, "ns.connector.state", "acme-wiki")("")
        assert "health of connector acme-wiki not recorded" in caplog.text

    def test_the_cursor_store_skips_health_records(self):
        cursors: dict[str, str] = {}
        apply_cursor_record(cursors, "t", b"acme-wiki", cursor_document("7"))
        apply_cursor_record(cursors, "t", *health_record("acme-wiki", "down", NOW))
        apply_cursor_record(cursors, "t", b"health:acme-wiki", None)  # a health tombstone forgets no cursor
        assert cursors == {"acme-wiki": "7"}

    @pytest.mark.parametrize("name", ["health:acme", "health-acme:x", "Health"])
    def test_no_connector_name_can_look_like_a_health_key(self, name):
        with pytest.raises(ValidationError):
            InstanceConfig(name=name)
        assert InstanceConfig(name="health-acme").name == "health-acme"  # a name may start with the word itself


class TestFollowReportsHealth:
    def test_a_failed_poll_and_the_first_success_after_it_are_reported(self, tmp_path):
        from producers.cursors import FileCursorStore

        reports: list[str] = []
        rounds = iter(range(100))
        follow(
            FlakySource(),
            RecordingProducer([]),
            TOPIC,
            FileCursorStore(tmp_path),
            poll_interval_s=0.2,
            should_stop=lambda: next(rounds) >= 8,
            sleep=lambda _s: None,
            backfill_from=datetime(2026, 1, 1, tzinfo=UTC),
            report_health=reports.append,
        )
        assert reports == ["the source kept failing", ""]  # later successes write nothing

    def test_the_first_poll_of_a_run_that_succeeds_clears_an_earlier_runs_failure(self, tmp_path):
        from producers.cursors import FileCursorStore

        source = FlakySource()
        source.reads.append(-1)  # as if it had read before: this source does not fail
        reports: list[str] = []
        rounds = iter(range(100))
        follow(
            source,
            RecordingProducer([]),
            TOPIC,
            FileCursorStore(tmp_path),
            poll_interval_s=0.2,
            should_stop=lambda: next(rounds) >= 6,
            sleep=lambda _s: None,
            report_health=reports.append,
        )
        assert reports == [""]


class FakeResult:
    def __init__(self, rows):
        self.result_rows = rows


class FakeClient:
    def __init__(self, rows=None, error=None):
        self.rows, self.error, self.sql = rows, error, ""

    def query(self, sql):
        self.sql = sql
        if self.error is not None:
            raise self.error
        return FakeResult(self.rows)


class TestWarehouseFigures:
    def test_rows_and_newest_times_in_seconds(self):
        client = FakeClient([(12, 1_800_000_000_500, 1_700_000_000_000)])
        assert warehouse_figures(client, "learnstream") == WarehouseFigures(12, 1_800_000_000.5, 1_700_000_000.0)
        assert "FROM learnstream.learning_events" in client.sql

    def test_an_empty_table_has_no_newest_times(self):
        assert warehouse_figures(FakeClient([(0, 0, 0)]), "db") == WarehouseFigures(0, None, None)

    def test_a_failed_query_says_to_migrate(self):
        from clickhouse_connect.driver.exceptions import DatabaseError

        with pytest.raises(WarehouseError, match="learnstream warehouse migrate"):
            warehouse_figures(FakeClient(error=DatabaseError("UNKNOWN_DATABASE")), "db")

    def test_serves_answer_round_trips_and_a_wrong_one_is_refused(self):
        figures = WarehouseFigures(3, NOW, None)
        assert WarehouseFigures.from_dict(json.loads(json.dumps(figures.as_dict()))) == figures
        with pytest.raises(ValueError):
            WarehouseFigures.from_dict({"rows": 3})
