"""Progress lines of long commands: pure formatting of a snapshot, and when the meters draw (an injected clock and a
StringIO stream stand in for time and the terminal)."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta

import pytest

from learnstream.errors import ConfigError
from learnstream.progress import (
    CLEAR_LINE,
    FileProgress,
    Progress,
    Snapshot,
    TimeProgress,
    describe,
    format_duration,
    format_moment,
    format_rate,
    progress_enabled,
)
from learnstream.settings import load_settings
from producers.file_replay import ByteOffset
from producers.runtime import cursor_moment
from producers.wiki.recentchanges import WikiChangesCursor
from streams.reprocess import ReprocessPlan

NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def lines_of(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


# -- formatting ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.04, "0.0 s"),
        (0.4, "0.4 s"),
        (15.2, "15 s"),
        (59.6, "1 min 00 s"),
        (130, "2 min 10 s"),
        (3900, "1 h 05 min"),
        (86_400 * 2 + 3600 * 4, "2 d 04 h"),
    ],
)
def test_durations_read_as_a_person_says_them(seconds: float, said: str) -> None:
    assert format_duration(seconds) == said


@pytest.mark.parametrize(("rate", "said"), [(0.0, "0/s"), (-3.0, "0/s"), (2.46, "2.5/s"), (3100.4, "3,100/s")])
def test_rates_have_separators_and_a_decimal_only_when_small(rate: float, said: str) -> None:
    assert format_rate(rate) == said


def test_a_count_toward_a_total_shows_the_percentage_the_recent_rate_and_the_eta() -> None:
    line = describe(Snapshot("reprocess", 12_400, "records", 4.0, 3100.0, total=50_000, fraction=0.248, eta_s=15.2))
    assert line == "reprocess: 12,400 / 50,000 records (24.8 %), 3,100/s, ETA 15 s"


def test_an_unknown_total_shows_the_count_and_rate_only() -> None:
    assert describe(Snapshot("import", 1_234_567, "records", 9.0, 9.5)) == "import: 1,234,567 records, 9.5/s"


def test_a_stalled_run_has_no_eta() -> None:
    line = describe(Snapshot("reprocess", 10, "records", 30.0, 0.0, total=100, fraction=0.1, eta_s=None))
    assert line == "reprocess: 10 / 100 records (10.0 %), 0/s"


def test_a_time_range_shows_the_position_reached_and_the_share_covered() -> None:
    reached = datetime(2026, 11, 20, 14, 0, 59, tzinfo=UTC)
    line = describe(Snapshot("sim-wiki", 4_200, "records", 60.0, 310.0, fraction=0.62, eta_s=130, reached=reached))
    assert line == "sim-wiki: 4,200 records, backfilled to 2026-11-20 14:00 UTC (62.0 %), 310/s, ETA 2 min 10 s"


def test_positions_are_shown_in_utc() -> None:
    assert format_moment(datetime(2026, 11, 20, 15, 0, tzinfo=UTC).astimezone()) == "2026-11-20 15:00 UTC"


def test_the_final_line_gives_the_mean_rate_and_how_long_it_took_or_that_it_stopped() -> None:
    done = Snapshot("reprocess", 50_000, "records", 16.0, 3125.0, total=50_000, fraction=1.0, final=True)
    assert describe(done) == "reprocess: 50,000 / 50,000 records (100.0 %), 3,125/s, took 16 s"
    stopped = Snapshot("replay a.jsonl", 900, "records", 2.0, 450.0, fraction=0.3, final=True, stopped=True)
    assert describe(stopped) == "replay a.jsonl: 900 records (30.0 %), 450/s, stopped after 2 s"


# -- when the meters draw ------------------------------------------------------------------------------------------


def test_in_a_log_a_line_comes_every_ten_seconds_and_the_final_line_once() -> None:
    clock, log = Clock(), io.StringIO()
    progress = Progress("reprocess", total=2500, stream=log, clock=clock)
    for _ in range(25):
        clock.now += 1.0
        progress.advance(100)
    assert lines_of(log) == [
        "reprocess: 1,000 / 2,500 records (40.0 %), 100/s, ETA 15 s",
        "reprocess: 2,000 / 2,500 records (80.0 %), 100/s, ETA 5 s",
    ]
    progress.finish()
    progress.finish()
    progress.advance(100)  # after the end: not counted, nothing drawn
    assert lines_of(log)[2:] == ["reprocess: 2,500 / 2,500 records (100.0 %), 100/s, took 25 s"]
    assert progress.count == 2500


def test_a_short_run_in_a_log_leaves_stderr_clean_unless_always_is_asked_for() -> None:
    clock, log = Clock(), io.StringIO()
    with Progress("replay", stream=log, clock=clock) as progress:
        clock.now += 3.0
        progress.advance(42)
    assert log.getvalue() == ""
    with Progress("replay", stream=log, clock=clock, enabled=True) as progress:
        clock.now += 3.0
        progress.advance(42)
    assert lines_of(log) == ["replay: 42 records, 14/s, took 3 s"]


def test_the_interval_can_be_set() -> None:
    clock, log = Clock(), io.StringIO()
    progress = Progress("replay", stream=log, clock=clock, interval_s=1.0)
    for _ in range(3):
        clock.now += 1.0
        progress.advance()
    assert len(lines_of(log)) == 3


def test_never_writes_nothing_but_still_counts() -> None:
    clock, terminal = Clock(), Terminal()
    with Progress("reprocess", total=10, stream=terminal, clock=clock, enabled=False) as progress:
        for _ in range(10):
            clock.now += 30.0
            progress.advance()
    assert terminal.getvalue() == "" and progress.count == 10


def test_on_a_terminal_one_line_is_redrawn_in_place_at_most_every_fifth_of_a_second() -> None:
    clock, terminal = Clock(), Terminal()
    with Progress("reprocess", total=40, stream=terminal, clock=clock) as progress:
        for _ in range(40):
            clock.now += 0.125  # exact in binary: no rounding decides whether 0.2 s have passed
            progress.advance()
        assert "\n" not in terminal.getvalue()
        draws = terminal.getvalue().split(CLEAR_LINE)[1:]
        assert len(draws) == 20  # every other advance: 0.125 s is too soon, 0.25 s is not
        assert draws[-1] == "reprocess: 40 / 40 records (100.0 %), 8.0/s, ETA 0.0 s"
    assert terminal.getvalue().endswith(CLEAR_LINE + "reprocess: 40 / 40 records (100.0 %), 8.0/s, took 5 s\n")


def test_a_short_run_on_a_terminal_still_ends_with_its_final_line() -> None:
    clock, terminal = Clock(), Terminal()
    with Progress("replay", stream=terminal, clock=clock) as progress:
        clock.now += 0.1
        progress.advance(5)
    assert terminal.getvalue() == CLEAR_LINE + "replay: 5 records, 50/s, took 0.1 s\n"


def test_an_exception_ends_the_line_saying_the_work_stopped() -> None:
    clock, terminal = Clock(), Terminal()
    with pytest.raises(RuntimeError), Progress("reprocess", total=100, stream=terminal, clock=clock) as progress:
        clock.now += 2.0
        progress.advance(30)
        raise RuntimeError("the broker went away")
    assert terminal.getvalue().endswith("reprocess: 30 / 100 records (30.0 %), 15/s, stopped after 2 s\n")


def test_the_rate_is_the_recent_one_not_the_mean_since_the_start() -> None:
    clock, log = Clock(), io.StringIO()
    progress = Progress("reprocess", total=100_000, stream=log, clock=clock, interval_s=20.0)
    for _ in range(40):  # 10 s at 100/s, then 10 s at 1,000/s
        clock.now += 0.5
        progress.advance(50 if clock.now <= 1010 else 500)
    assert lines_of(log) == ["reprocess: 11,000 / 100,000 records (11.0 %), 1,000/s, ETA 1 min 29 s"]
    progress.finish()
    assert lines_of(log)[-1].endswith(", 550/s, took 20 s")  # the final line gives the mean


def test_track_counts_each_item_taken() -> None:
    progress = Progress("reprocess", stream=io.StringIO(), clock=Clock())
    assert list(progress.track("abc")) == ["a", "b", "c"] and progress.count == 3


def test_a_total_learnt_later_is_shown() -> None:
    clock, log = Clock(), io.StringIO()
    progress = Progress("confluence", unit="deliveries", stream=log, clock=clock, enabled=True)
    progress.set_total(4)
    clock.now += 1.0
    progress.advance(2)
    progress.finish()
    assert lines_of(log) == ["confluence: 2 / 4 deliveries (50.0 %), 2.0/s, took 1 s"]


def test_a_file_is_measured_by_its_bytes_read() -> None:
    clock, log = Clock(), io.StringIO()
    progress = FileProgress("replay a.jsonl", size=1_000_000, offset=200_000, stream=log, clock=clock)
    for _ in range(10):
        clock.now += 1.0
        progress.advance(100, offset=progress.offset + 20_000)
    assert lines_of(log) == ["replay a.jsonl: 1,000 records (40.0 %), 100/s, ETA 30 s"]


def test_a_backfill_toward_now_closes_the_gap_at_what_exceeds_one_second_per_second() -> None:
    clock, log = Clock(), io.StringIO()
    wall = [NOVEMBER + timedelta(days=10)]
    progress = TimeProgress("sim-wiki", start=NOVEMBER, now=lambda: wall[0], stream=log, clock=clock)
    for step in range(1, 11):
        clock.now += 1.0
        wall[0] += timedelta(seconds=1)
        progress.advance(30, reached=NOVEMBER + timedelta(hours=6 * step))  # 6 h of the source per second
    progress.advance(0, reached=NOVEMBER)  # a position never moves back
    [line] = lines_of(log)
    # 60 h of a 240 h range; the remaining 180 h close at 6 h - 1 s per second: about 30 s
    assert line == "sim-wiki: 300 records, backfilled to 2026-11-03 12:00 UTC (25.0 %), 30/s, ETA 30 s"


def test_a_fixed_time_range_and_a_position_past_its_end() -> None:
    clock, terminal = Clock(), Terminal()
    end = NOVEMBER + timedelta(days=2)
    with TimeProgress(
        "slack", start=NOVEMBER, end=end, unit="events", reached_label="up to", stream=terminal, clock=clock
    ) as progress:
        clock.now += 1.0
        progress.advance(10, reached=NOVEMBER + timedelta(days=1))
        assert terminal.getvalue().endswith("slack: 10 events, up to 2026-11-02 00:00 UTC (50.0 %), 10/s, ETA 1 s")
        clock.now += 1.0
        progress.advance(10, reached=end + timedelta(hours=3))  # late replies spill past the period
    assert terminal.getvalue().endswith("slack: 20 events, up to 2026-11-03 03:00 UTC (100.0 %), 10/s, took 2 s\n")


def test_a_log_record_clears_the_terminal_line_which_comes_back_on_the_next_advance() -> None:
    clock, terminal = Clock(), Terminal()
    handler = logging.StreamHandler(terminal)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        progress = Progress("replay", stream=terminal, clock=clock)
        clock.now += 1.0
        progress.advance(10)
        logging.getLogger("tests.progress").warning("published a batch")
        progress.advance(0)  # no interval since the last draw: drawn again because the log took it away
        progress.finish()
        assert terminal.getvalue() == (
            f"{CLEAR_LINE}replay: 10 records, 10/s{CLEAR_LINE}published a batch\n"
            f"{CLEAR_LINE}replay: 10 records, 10/s{CLEAR_LINE}replay: 10 records, 10/s, took 1 s\n"
        )
        assert handler.filters == []  # released once finished
    finally:
        root.removeHandler(handler)


# -- the setting, and what the commands measure by ---------------------------------------------------------------


def test_the_setting_maps_to_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [progress_enabled(mode) for mode in ("auto", "always", "never")] == [None, True, False]
    monkeypatch.setenv("LEARNSTREAM_PROGRESS", "never")
    assert load_settings().progress == "never"
    monkeypatch.setenv("LEARNSTREAM_PROGRESS", "sometimes")
    with pytest.raises(ConfigError, match="LEARNSTREAM_PROGRESS"):
        load_settings()


def test_a_reprocess_reads_from_each_partitions_warm_up_start_to_its_end() -> None:
    plan = ReprocessPlan(read_from={0: 10, 1: 0, 2: 7}, decide_from={0: 20, 1: 5, 2: 7}, end={0: 110, 1: 50, 2: 7})
    assert plan.records_to_read == 150


def test_a_cursor_tells_the_time_it_reached_when_its_source_reads_in_time_order() -> None:
    reached = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    assert cursor_moment(WikiChangesCursor(phase="allrevisions", timestamp=reached, last_id=7)) == reached
    assert cursor_moment(ByteOffset(offset=1200)) is None
