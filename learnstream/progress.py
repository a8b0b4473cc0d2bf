"""Progress of long CLI work (reprocess, replay, simulate, a connector's backfill): counts, rates and an ETA on stderr.

Formatting is pure: a `Snapshot` in, a line out (`describe`, `format_duration`, ...). The meters only count, keep
a few seconds of history for the recent rate, and decide when to draw:

- on a terminal, one line redrawn in place at most every 0.2 s, ended with a newline by the final line;
- elsewhere (CI logs, cron, pipes), a plain line at most every 10 s, and the final line only when the run took
  longer than that, so a log is not flooded and a short scripted run leaves stderr clean;
- `LEARNSTREAM_PROGRESS` (`Settings.progress`): `auto` as above, `always` also writes the final line of a short
  run, `never` writes nothing. Callers pass it as `enabled=progress_enabled(settings.progress)`.

Three meters, one per kind of "how far": `Progress` (a count toward a total count), `FileProgress` (records,
with the share of a file's bytes read) and `TimeProgress` (records, with the position reached in a time range,
as a backfill moving toward now).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Self, TextIO, TypeVar

T = TypeVar("T")

#: Redraw interval in place on a terminal.
TERMINAL_INTERVAL_S = 0.2
#: Interval between plain lines in a log.
LOG_INTERVAL_S = 10.0
#: The recent rate is measured over at least this much history.
RATE_WINDOW_S = 5.0
#: History is sampled at most this often, so counting one record costs a clock read and two comparisons.
SAMPLE_STEP_S = 0.25
#: Back to the start of the line and clear to its end (ANSI, understood by every terminal we target).
CLEAR_LINE = "\r\x1b[K"
#: What `LEARNSTREAM_PROGRESS` may say, and the `enabled` argument each one means.
MODES: dict[str, bool | None] = {"auto": None, "always": True, "never": False}


def progress_enabled(mode: str) -> bool | None:
    """The `enabled` argument of a meter for a `LEARNSTREAM_PROGRESS` mode: None (auto), True (always), False."""
    return MODES[mode]


@dataclass(frozen=True)
class Snapshot:
    """What a progress line shows, at one moment; `rate` is per second, recent while running, the mean at the end."""

    label: str
    count: int
    unit: str
    elapsed_s: float
    rate: float
    total: int | None = None  # the count's total, shown as "count / total"
    fraction: float | None = None  # share of the work done, 0..1, when known
    eta_s: float | None = None
    reached: datetime | None = None  # the position in a time range
    reached_label: str = "backfilled to"
    final: bool = False
    stopped: bool = False  # final, and the work ended early (an error, Ctrl-C)


def format_count(count: int) -> str:
    """A count with thousands separators: 12,400."""
    return f"{count:,}"


def format_rate(per_s: float) -> str:
    """A rate per second: whole numbers with separators from 10/s on, one decimal below."""
    if per_s <= 0:
        return "0/s"
    return f"{per_s:,.0f}/s" if per_s >= 10 else f"{per_s:.1f}/s"


def format_duration(seconds: float) -> str:
    """A duration as a person says it: 0.4 s, 15 s, 2 min 05 s, 1 h 05 min, 3 d 04 h."""
    if seconds < 1:
        return f"{max(seconds, 0.0):.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    minutes = round(seconds / 60)
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    hours = round(seconds / 3600)
    return f"{hours // 24} d {hours % 24:02d} h"


def format_moment(moment: datetime) -> str:
    """A position in time, to the minute, in UTC: 2026-11-20 14:00 UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_percent(fraction: float) -> str:
    """A share as a percentage with one decimal: 24.8 %."""
    return f"{100 * min(max(fraction, 0.0), 1.0):.1f} %"


def eta_s(remaining: float, rate: float) -> float | None:
    """Seconds until `remaining` is covered at `rate` per second; None when it is not being covered."""
    if rate <= 0 or not math.isfinite(rate):
        return None
    return max(remaining, 0.0) / rate


def describe(snapshot: Snapshot) -> str:
    """The progress line of a snapshot, e.g. `reprocess: 12,400 / 50,000 records (24.8 %), 3,100/s, ETA 15 s`."""
    head = f"{snapshot.label}: {format_count(snapshot.count)}"
    if snapshot.total is not None:
        head += f" / {format_count(snapshot.total)}"
    head += f" {snapshot.unit}"
    if snapshot.reached is not None:
        head += f", {snapshot.reached_label} {format_moment(snapshot.reached)}"
    if snapshot.fraction is not None:
        head += f" ({format_percent(snapshot.fraction)})"
    parts = [head, format_rate(snapshot.rate)]
    if snapshot.final:
        parts.append(f"{'stopped after' if snapshot.stopped else 'took'} {format_duration(snapshot.elapsed_s)}")
    elif snapshot.eta_s is not None:
        parts.append(f"ETA {format_duration(snapshot.eta_s)}")
    return ", ".join(parts)


def is_terminal(stream: TextIO) -> bool:
    """Whether a stream is an interactive terminal (a closed or exotic stream is not)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def terminal_width(stream: TextIO) -> int:
    """Columns of the terminal behind a stream (80 if it cannot tell): a longer line would wrap and `\\r` would
    then redraw only its last row."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 80
    return columns if columns > 0 else 80  # a pseudo-terminal without a size says 0


class _ClearBeforeLogging(logging.Filter):
    """Clears a progress line before a log record is written to the same terminal, so the record starts on a line
    of its own; the progress line is drawn again on its next advance."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress

    def filter(self, record: logging.LogRecord) -> bool:
        self.progress._clear()
        return True


class Progress:
    """Counts work done toward an optional total and draws it on stderr (see the module docstring for when).

    `advance` is cheap enough to call per record; `advance(0)` only redraws if one is due. As a context manager it
    finishes on exit, also on an exception (the final line then says "stopped after").
    """

    #: How a position in time is introduced (`TimeProgress` shows one).
    reached_label = "backfilled to"

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        unit: str = "records",
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.label = label
        self.unit = unit
        self.total = total
        self.count = 0
        self._stream = stream if stream is not None else sys.stderr
        self._terminal = is_terminal(self._stream)
        self._enabled = enabled is not False
        # a terminal shows the final line always (it also ends the line); a log only after a long run, or if asked
        self._final_always = enabled is True or self._terminal
        default_interval = TERMINAL_INTERVAL_S if self._terminal else LOG_INTERVAL_S
        self._interval = interval_s if interval_s is not None else default_interval
        self._clock = clock
        self._started = clock()
        self._last_drawn = self._started  # the first line comes one interval in: a quick run draws nothing live
        self._samples: deque[tuple[float, int, float]] = deque([(self._started, 0, self._position())])
        self._on_screen = False  # a terminal line without its newline yet
        self._redraw = False  # a log record cleared the line
        self._finished = False
        self._filter: _ClearBeforeLogging | None = None
        # a client library may log from its own thread: one write to the terminal at a time
        self._writing = threading.Lock()

    # -- what is counted ---------------------------------------------------------------------------------------

    def advance(self, count: int = 1) -> None:
        """Count `count` more done; redraws at most every interval. Ignored once finished."""
        if self._finished:
            return
        self.count += count
        self._tick()

    def set_total(self, total: int | None) -> None:
        """Change the total (None: unknown), e.g. once a plan knows it."""
        self.total = total

    def track(self, items: Iterable[T]) -> Iterator[T]:
        """The items, counting each one as it is taken."""
        for item in items:
            yield item
            self.advance()

    def finish(self) -> None:
        """Write the final line (count, elapsed, mean rate) and end the terminal line; later calls do nothing."""
        self._finish(stopped=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._finish(stopped=kind is not None)

    # -- what subclasses measure progress by -------------------------------------------------------------------

    def _position(self) -> float:
        """How far along, in the unit the rate toward the end is measured in (here the count)."""
        return float(self.count)

    def _fraction(self) -> float | None:
        if self.total is None:
            return None
        return self.count / self.total if self.total > 0 else 1.0

    def _eta(self, position_rate: float) -> float | None:
        return None if self.total is None else eta_s(self.total - self.count, position_rate)

    def _reached(self) -> datetime | None:
        return None

    def _shown_total(self) -> int | None:
        return self.total

    # -- when and how it is drawn ------------------------------------------------------------------------------

    def snapshot(self, *, final: bool = False, stopped: bool = False) -> Snapshot:
        """What the line would show now."""
        return self._snapshot(self._clock(), final=final, stopped=stopped)

    def _snapshot(self, now: float, *, final: bool = False, stopped: bool = False) -> Snapshot:
        elapsed = now - self._started
        if final:
            rate, eta = (self.count / elapsed if elapsed > 0 else 0.0), None
        else:
            rate, position_rate = self._recent_rates(now)
            eta = self._eta(position_rate)
        return Snapshot(
            label=self.label,
            count=self.count,
            unit=self.unit,
            elapsed_s=elapsed,
            rate=rate,
            total=self._shown_total(),
            fraction=self._fraction(),
            eta_s=eta,
            reached=self._reached(),
            reached_label=self.reached_label,
            final=final,
            stopped=stopped,
        )

    def _tick(self) -> None:
        if not self._enabled:
            return
        now = self._clock()
        if now - self._samples[-1][0] >= SAMPLE_STEP_S:
            self._samples.append((now, self.count, self._position()))
            # keep one sample at or before the window's start, so the rate spans a whole window
            while len(self._samples) > 2 and self._samples[1][0] <= now - RATE_WINDOW_S:
                self._samples.popleft()
        if self._redraw or now - self._last_drawn >= self._interval:
            self._last_drawn = now
            self._write(describe(self._snapshot(now)), final=False)

    def _recent_rates(self, now: float) -> tuple[float, float]:
        """Count and position per second since the oldest sample kept (the window's start)."""
        since, count, position = self._samples[0]
        span = now - since
        if span <= 0:
            return 0.0, 0.0
        return (self.count - count) / span, (self._position() - position) / span

    def _finish(self, *, stopped: bool) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            if not self._enabled:
                return
            now = self._clock()
            if self._final_always or now - self._started >= self._interval:
                self._write(describe(self._snapshot(now, final=True, stopped=stopped)), final=True)
        finally:
            self._release_logging()

    def _write(self, line: str, *, final: bool) -> None:
        with self._writing:
            self._write_now(line, final=final)

    def _write_now(self, line: str, *, final: bool) -> None:
        self._redraw = False
        if self._terminal:
            if not final:  # the final line stays in the scrollback: it may wrap, it is not drawn over
                line = line[: terminal_width(self._stream) - 1]
            self._stream.write(CLEAR_LINE + line + ("\n" if final else ""))
            self._on_screen = not final
            if self._on_screen:
                self._hold_logging()
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def _clear(self) -> None:
        """Take the terminal line away (a log record is about to be written); it comes back on the next advance."""
        with self._writing:
            if self._on_screen:
                self._stream.write(CLEAR_LINE)
                self._stream.flush()
                self._on_screen = False
                self._redraw = True

    def _hold_logging(self) -> None:
        """Clear the line before a record of a log handler writing to the same terminal (once, until finished)."""
        if self._filter is not None:
            return
        self._filter = _ClearBeforeLogging(self)
        for handler in logging.getLogger().handlers:
            if getattr(handler, "stream", None) is self._stream:
                handler.addFilter(self._filter)

    def _release_logging(self) -> None:
        if self._filter is None:
            return
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(ValueError):
                handler.removeFilter(self._filter)
        self._filter = None


class FileProgress(Progress):
    """Records read from a file, with the share of its bytes read: percentage and ETA come from the byte offset."""

    def __init__(
        self,
        label: str,
        *,
        size: int,
        offset: int = 0,
        unit: str = "records",
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.size = size
        self.offset = offset
        super().__init__(label, unit=unit, stream=stream, clock=clock, interval_s=interval_s, enabled=enabled)

    def advance(self, count: int = 1, *, offset: int | None = None) -> None:
        """Count `count` more records, read up to byte `offset` of the file (if given)."""
        if offset is not None and not self._finished:
            self.offset = offset
        super().advance(count)

    def _position(self) -> float:
        return float(self.offset)

    def _fraction(self) -> float | None:
        return self.offset / self.size if self.size > 0 else 1.0

    def _eta(self, position_rate: float) -> float | None:
        return eta_s(self.size - self.offset, position_rate)

    def _shown_total(self) -> int | None:
        return None


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class TimeProgress(Progress):
    """Records published while a position moves through a time range: from `start` to `end`, or toward now when
    there is no end (a backfill catching up). Percentage and ETA come from how fast the range is covered."""

    def __init__(
        self,
        label: str,
        *,
        start: datetime,
        end: datetime | None = None,
        unit: str = "records",
        reached_label: str = "backfilled to",
        now: Callable[[], datetime] = utc_now,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.start = start
        self.end = end
        self.reached = start
        self.reached_label = reached_label
        self._now = now
        super().__init__(label, unit=unit, stream=stream, clock=clock, interval_s=interval_s, enabled=enabled)

    def advance(self, count: int = 1, *, reached: datetime | None = None) -> None:
        """Count `count` more records, the position having reached `reached` (if given; it never moves back)."""
        if reached is not None and not self._finished:
            self.reached = max(self.reached, reached)
        super().advance(count)

    def _position(self) -> float:
        return self.reached.timestamp()

    def _fraction(self) -> float | None:
        span = ((self.end or self._now()) - self.start).total_seconds()
        return (self.reached - self.start).total_seconds() / span if span > 0 else 1.0

    def _eta(self, position_rate: float) -> float | None:
        end = self.end or self._now()
        # toward now, the end moves on at one second per second: the gap closes only at what exceeds that
        closing = position_rate - (0.0 if self.end is not None else 1.0)
        return eta_s((end - self.reached).total_seconds(), closing)

    def _reached(self) -> datetime | None:
        return self.reached

    def _shown_total(self) -> int | None:
        return None
