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
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": chosen}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            **{noisy: {"level": "WARNING"} for noisy in NOISY},
            **{name: {"level": "DEBUG" if level.lower() == "debug" else "ERROR"} for name in LIBRARY_DIAGNOSTICS},
        },
    }
