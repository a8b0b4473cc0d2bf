"""Logging set-up for entry points. Library modules only call `logging.getLogger(__name__)`.

Logs go to stderr as text (the default) or as JSON lines (`LEARNSTREAM_LOG_FORMAT=json`), one object per record
with `time`, `level`, `logger`, `message` and, for an exception, `error` (its traceback), for log shippers. The
format is read from the environment before anything else, so that errors in the other settings are logged in it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from learnstream.errors import ConfigError

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMAT_VARIABLE = "LEARNSTREAM_LOG_FORMAT"
#: Client libraries that log every retry: only their warnings and errors are kept.
NOISY = ("kafka", "aiokafka", "clickhouse_connect")
#: kafka-python 3's network loop warns whenever one of its steps took over 0.1 s ("It is blocking the event
#: loop"), which a busy 2-core machine causes every few seconds: a diagnostic of the library's internals that an
#: operator cannot act on, and no client setting turns it off. Shown at --log-level debug.
LIBRARY_DIAGNOSTICS = ("kafka.net.selector",)


#: Client libraries whose identical lines are shown once per window: aiokafka logs a failed reconnect 20 times a
#: second while a broker is down (3,570 lines from one worker in a 41 s outage of the fault suite).
REPEATING = ("aiokafka", "kafka", "faust", "mode")
REPEAT_WINDOW_S = 30.0


class RepeatLimiter(logging.Filter):
    """Lets an identical warning or error of a client library through once per `window_s`; the next one after the
    window says how many were held back. Identical: the same logger, level, message and arguments; anything else
    (other loggers, other messages, INFO and below) passes untouched."""

    def __init__(
        self,
        window_s: float = REPEAT_WINDOW_S,
        prefixes: tuple[str, ...] = REPEATING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.window_s = window_s
        self.prefixes = prefixes
        self.clock = clock
        self.lock = threading.Lock()
        self.seen: dict[tuple[str, int, str, str], tuple[float, int]] = {}  # -> (shown at, held back since)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self.prefixes):
            return True
        key = (record.name, record.levelno, str(record.msg), repr(record.args))
        now = self.clock()
        with self.lock:
            shown = self.seen.get(key)
            if shown is not None and now - shown[0] < self.window_s:
                self.seen[key] = (shown[0], shown[1] + 1)
                return False
            if len(self.seen) > 10_000:  # many distinct lines: forget, rather than grow without bound
                self.seen.clear()
            self.seen[key] = (now, 0)
        if shown is not None and shown[1]:
            record.msg = f"{record.msg} (and {shown[1]} more like it in the last {self.window_s:.0f} s)"
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_format() -> str:
    """`text` or `json`, from LEARNSTREAM_LOG_FORMAT."""
    chosen = os.environ.get(FORMAT_VARIABLE, "text").strip().lower() or "text"
    if chosen not in ("text", "json"):
        raise ConfigError(f"{FORMAT_VARIABLE}: text or json, not {chosen!r}")
    return chosen


def formatter() -> logging.Formatter:
    return JsonLinesFormatter() if log_format() == "json" else logging.Formatter(FORMAT)


def configure_logging(level: str = "info") -> None:
    """Log to stderr at the given level, in the configured format; quiets chatty client libraries to WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter())
    handler.addFilter(RepeatLimiter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in LIBRARY_DIAGNOSTICS:
        logging.getLogger(name).setLevel(logging.DEBUG if level.lower() == "debug" else logging.ERROR)


def dict_config(level: str) -> dict[str, Any]:
    """The same set-up as a `logging.config.dictConfig`, for runtimes that configure logging themselves (faust's
    worker)."""
    chosen = "json" if log_format() == "json" else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"text": {"format": FORMAT}, "json": {"()": JsonLinesFormatter}},
        "filters": {"repeats": {"()": RepeatLimiter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": chosen,
                "filters": ["repeats"],
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            **{noisy: {"level": "WARNING"} for noisy in NOISY},
            **{name: {"level": "DEBUG" if level.lower() == "debug" else "ERROR"} for name in LIBRARY_DIAGNOSTICS},
        },
    }
