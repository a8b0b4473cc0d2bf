"""The warehouse's pure trend parts: periods, filters, suppression, rendering, and what a batch of rows touches."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from learnstream.errors import UsageError
from tests.unit.test_warehouse_pure import make_event
from warehouse.events_table import COLUMNS, OCCURRED_AT, days_touched, event_row, keep_item_times, without_erased
from warehouse.privacy import TOTAL, Row, derivable, suppress
from warehouse.queries import QUERIES, Filters, Granularity, TrendResult, next_period, period_start, periods, scope
from warehouse.render import render_csv, render_json, render_table, result_document
from warehouse.rollup import month_bounds


class TestPeriods:
    @pytest.mark.parametrize(
        ("day", "granularity", "start"),
        [
            (date(2024, 3, 6), Granularity.DAY, date(2024, 3, 6)),
            (date(2024, 3, 6), Granularity.WEEK, date(2024, 3, 4)),  # a Wednesday: its Monday
            (date(2024, 3, 4), Granularity.WEEK, date(2024, 3, 4)),
            (date(2024, 3, 31), Granularity.MONTH, date(2024, 3, 1)),
            (date(2024, 5, 17), Granularity.QUARTER, date(2024, 4, 1)),
            (date(2024, 12, 31), Granularity.QUARTER, date(2024, 10, 1)),
        ],
    )
    def test_period_start(self, day, granularity, start):
        assert period_start(day, granularity) == start

    def test_next_period_crosses_the_year(self):
        assert next_period(date(2024, 12, 1), Granularity.MONTH) == date(2025, 1, 1)
        assert next_period(date(2024, 10, 1), Granularity.QUARTER) == date(2025, 1, 1)

    def test_ranges_are_widened_to_whole_periods(self):
        aligned = Filters(date(2024, 3, 6), date(2024, 3, 13), Granularity.WEEK).aligned()
        assert (aligned.since, aligned.until) == (date(2024, 3, 4), date(2024, 3, 17))
        assert periods(aligned.since, aligned.until, Granularity.WEEK) == [date(2024, 3, 4), date(2024, 3, 11)]

    def test_a_backwards_range_is_refused(self):
        with pytest.raises(UsageError, match="starts"):
            Filters(date(2024, 3, 6), date(2024, 3, 1)).aligned()

    def test_month_bounds(self):
        assert month_bounds(202412) == (date(2024, 12, 1), date(2025, 1, 1))


class TestScope:
    def test_filters_are_parameters_never_sql(self):
        hostile = "x') OR 1=1 --"
        where = scope("v1", Filters(date(2024, 1, 1), date(2024, 1, 31), teams=(hostile,)), {"team": ["team"]}, "q")
        assert hostile not in where.sql
        assert where.parameters["team"] == [hostile]
        assert "team IN {team:Array(String)}" in where.sql

    def test_unresolved_is_the_empty_team(self):
        where = scope(
            "v1", Filters(date(2024, 1, 1), date(2024, 1, 31), teams=("(unresolved)",)), {"team": ["team"]}, "q"
        )
        assert where.parameters["team"] == [""]

    def test_a_filter_the_query_does_not_take_is_refused(self):
        with pytest.raises(UsageError, match="cannot be filtered by topic"):
            scope("v1", Filters(date(2024, 1, 1), date(2024, 1, 31), topics=("kafka",)), {"team": ["team"]}, "q")

    def test_every_query_names_its_measures_and_filters(self):
        for query in QUERIES.values():
            assert query.measures and query.dims and query.filters <= {"team", "department", "topic", "source"}


def family(values: dict[str, tuple[int, int]], total: tuple[int, int]) -> list[Row]:
    """Rows of one family: category -> (events, people), and the total."""
    rows = [
        Row({"category": name}, {"events": events}, {"events": people}, family="f")
        for name, (events, people) in values.items()
    ]
    rows.append(Row({"category": TOTAL}, {"events": total[0]}, {"events": total[1]}, family="f", is_total=True))
    return rows


class TestSuppression:
    def test_a_cell_below_k_is_withheld_not_dropped(self):
        rows = [Row({"team": "a"}, {"events": 12}, {"events": 4}), Row({"team": "b"}, {"events": 30}, {"events": 5})]
        suppress(rows, 5)
        assert [row.values["events"] for row in rows] == [None, 30]
        assert rows[0].withheld == {"events"}

    def test_one_withheld_sibling_under_a_released_total_takes_the_next_smallest_with_it(self):
        rows = family({"asked": (40, 9), "shared": (20, 6), "taught": (3, 2)}, total=(63, 12))
        suppress(rows, 5, additive=("events",))
        released = {row.dims["category"]: row.values["events"] for row in rows}
        assert released == {"asked": 40, "shared": None, "taught": None, TOTAL: 63}
        assert derivable(rows, "events", 5) == []

    def test_withheld_siblings_that_together_reach_k_need_no_more(self):
        rows = family({"asked": (40, 9), "shared": (4, 3), "taught": (3, 2)}, total=(47, 12))
        suppress(rows, 5, additive=("events",))
        assert [row.values["events"] for row in rows] == [40, None, None, 47]

    def test_a_total_below_k_withholds_the_family(self):
        rows = family({"asked": (4, 3), "shared": (2, 2)}, total=(6, 4))
        suppress(rows, 5, additive=("events",))
        assert all(row.values["events"] is None for row in rows)

    def test_derivable_finds_an_exposed_family(self):
        rows = family({"asked": (40, 9), "taught": (3, 2)}, total=(43, 10))
        suppress(rows, 5)  # no complementary suppression: the total gives `taught` away
        assert derivable(rows, "events", 5) == ["f"]


class TestRendering:
    def result(self) -> TrendResult:
        rows = family({"asked": (40, 9), "shared": (20, 6), "taught": (3, 2)}, total=(63, 12))
        for row in rows:
            row.dims = {"period": "2024-03-04", "team": "platform", **row.dims}
        suppress(rows, 5, additive=("events",))
        query = QUERIES["source-mix"]
        query = type(query)(
            query.name, query.title, query.filters, ("period", "team", "category"), ("events",), query.run
        )
        return TrendResult(query, Filters(date(2024, 3, 4), date(2024, 3, 10)), "v1", 5, rows)

    def test_table_marks_withheld_figures(self):
        text = render_table(result_document(self.result()))
        assert "withheld" in text.splitlines()[4]
        assert "figures about fewer than 5 people withheld" in text

    def test_csv_leaves_withheld_empty_and_names_them(self):
        lines = render_csv(result_document(self.result())).splitlines()
        assert lines[0] == "period,team,category,events,withheld"
        assert lines[2] == "2024-03-04,platform,shared,,events"

    def test_json_carries_the_rule(self):
        document = json.loads(render_json(result_document(self.result())))
        assert document["min_group_size"] == 5
        assert document["rows"][2] == {
            "period": "2024-03-04",
            "team": "platform",
            "category": "taught",
            "events": None,
            "withheld": ["events"],
        }


def row_at(native: str, at: datetime, kind: str = "reply", delay: float | None = None, **fields) -> list:
    event = make_event(native, occurred_at=at.isoformat(), activity_kind=kind, response_delay_seconds=delay, **fields)
    return event_row(event, 0, 0)


class TestBatchRows:
    def test_an_edit_keeps_the_time_of_the_item_stored_before(self):
        original = datetime(2024, 3, 30, 23, tzinfo=UTC)
        edit = row_at("C01/1", original + timedelta(days=3), kind="message_edited")
        assert keep_item_times([edit], {edit[0]: original}) == 1
        assert edit[OCCURRED_AT] == original

    def test_an_edit_keeps_the_time_of_the_item_earlier_in_the_batch(self):
        original = row_at("C01/1", datetime(2024, 3, 30, tzinfo=UTC))
        edit = row_at("C01/1", datetime(2024, 4, 2, tzinfo=UTC), kind="item_deleted")
        assert keep_item_times([original, edit], {}) == 1
        assert edit[OCCURRED_AT] == original[OCCURRED_AT]
        assert edit[COLUMNS.index("retracted")] is True

    def test_an_edit_of_an_unknown_item_keeps_its_own_time(self):
        edit = row_at("C01/1", datetime(2024, 4, 2, tzinfo=UTC), kind="message_edited")
        assert keep_item_times([edit], {}) == 0

    def test_an_answer_touches_the_day_of_its_question(self):
        answer = row_at("C01/1", datetime(2024, 4, 1, 0, 10, tzinfo=UTC), delay=3600.0)
        assert days_touched([answer]) == {date(2024, 4, 1), date(2024, 3, 31)}

    def test_erased_people_are_dropped_and_forgotten_as_counterparts(self):
        actor, counterpart = "p_" + "a" * 24, "p_" + "b" * 24
        rows = [row_at("C01/1", datetime(2024, 4, 1, tzinfo=UTC))]
        assert without_erased(rows, frozenset({actor}))[1] == 1
        kept, dropped = without_erased([row_at("C01/2", datetime(2024, 4, 1, tzinfo=UTC))], frozenset({counterpart}))
        assert dropped == 0 and kept[0][COLUMNS.index("counterpart")] is None


class TestRetention:
    def test_the_ttl_follows_the_setting_and_zero_keeps_everything(self):
        from warehouse.rollup import materialize_ttl_sql, retention_sql

        later = " SETTINGS materialize_ttl_after_modify = 0"  # stored rows expire in the background
        assert retention_sql("db", "learning_events", 730).endswith(
            "MODIFY TTL toDate(occurred_at) + toIntervalDay(730)" + later
        )
        assert retention_sql("db", "activity_cells", 30).endswith("MODIFY TTL day + toIntervalDay(30)" + later)
        assert retention_sql("db", "topic_cells", 0).endswith("topic_cells REMOVE TTL" + later)
        assert materialize_ttl_sql("db", "topic_cells") == (
            "ALTER TABLE db.topic_cells MATERIALIZE TTL SETTINGS mutations_sync = 0"
        )

    def test_events_older_than_the_retention_are_dropped_and_counted(self):
        from warehouse.events_table import without_expired

        old = row_at("C01/1", datetime(2020, 1, 1, tzinfo=UTC))
        new = row_at("C01/2", datetime(2024, 1, 1, tzinfo=UTC))
        assert without_expired([old, new], datetime(2023, 1, 1, tzinfo=UTC)) == ([new], 1)
        assert without_expired([old, new], None) == ([old, new], 0)
