"""Logs as text or JSON lines, chosen by LEARNSTREAM_LOG_FORMAT, the same for the CLI and the faust worker."""

from __future__ import annotations

import json
import logging
import logging.config

import pytest

from learnstream.errors import ConfigError
from learnstream.logs import JsonLinesFormatter, RepeatLimiter, configure_logging, dict_config, formatter, log_format


def record(message: str, *args: object, error: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(error), error, error.__traceback__) if error is not None else None
    return logging.LogRecord("learnstream.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_a_json_line_per_record_with_the_traceback_as_error() -> None:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        line = JsonLinesFormatter().format(record('loaded %d rows; "quoted"\nnext', 3, error=exc))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "learnstream.test"
    assert entry["message"] == 'loaded 3 rows; "quoted"\nnext'
    assert "ValueError: boom" in entry["error"] and entry["time"].endswith("+00:00")


def test_the_format_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEARNSTREAM_LOG_FORMAT", raising=False)
    assert log_format() == "text" and not isinstance(formatter(), JsonLinesFormatter)
    monkeypatch.setenv("LEARNSTREAM_LOG_FORMAT", "JSON")
    assert isinstance(formatter(), JsonLinesFormatter)
    assert dict_config("info")["handlers"]["stderr"]["formatter"] == "json"
    root, handlers, level = logging.getLogger(), logging.getLogger().handlers[:], logging.getLogger().level
    try:
        logging.config.dictConfig(dict_config("info"))  # what faust's worker is given must load
        assert isinstance(root.handlers[0].formatter, JsonLinesFormatter)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    monkeypatch.setenv("LEARNSTREAM_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="LEARNSTREAM_LOG_FORMAT"):
        log_format()


def test_kafka_pythons_event_loop_diagnostics_are_kept_out_unless_debugging() -> None:
    selector, kafka, root = logging.getLogger("kafka.net.selector"), logging.getLogger("kafka"), logging.getLogger()
    handlers, level = list(root.handlers), root.level  # configure_logging replaces them: given back below
    try:
        configure_logging("info")
        assert not selector.isEnabledFor(logging.WARNING) and selector.isEnabledFor(logging.ERROR)
        assert kafka.isEnabledFor(logging.WARNING)  # the rest of kafka-python still warns
        configure_logging("debug")
        assert selector.isEnabledFor(logging.WARNING)
        loggers = dict_config("info")["loggers"]
        assert loggers["kafka.net.selector"] == {"level": "ERROR"} and loggers["kafka"] == {"level": "WARNING"}
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name in ("kafka", "kafka.net.selector"):
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_a_client_librarys_identical_lines_are_shown_once_per_window() -> None:
    now = [0.0]
    limiter = RepeatLimiter(window_s=30, clock=lambda: now[0])

    def line(name: str, message: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, message, args, None)

    refused = ("aiokafka", "Unable connect to node with id %s: %s", 1, "Connect call failed")
    assert limiter.filter(line(*refused))
    held = [limiter.filter(line(*refused)) for _ in range(40)]  # 20 a second while the broker is down
    assert not any(held)
    assert limiter.filter(line(*refused[:2], 2, "Connect call failed"))  # another node: another line
    assert limiter.filter(line("learnstream.loader", "batch not stored"))  # our own lines are never held
    assert limiter.filter(line("learnstream.loader", "batch not stored"))
    assert limiter.filter(line("aiokafka", "retrying", level=logging.INFO))  # below WARNING: untouched
    assert limiter.filter(line("aiokafka", "retrying", level=logging.INFO))
    now[0] = 31.0
    after = line(*refused)
    assert limiter.filter(after)
    assert (
        after.getMessage()
        == "Unable connect to node with id 1: Connect call failed (and 40 more like it in the last 30 s)"
    )
    assert not limiter.filter(line(*refused))


def test_the_worker_and_the_cli_both_hold_back_repeats() -> None:
    config = dict_config("info")
    assert config["handlers"]["stderr"]["filters"] == ["repeats"]
    assert config["filters"]["repeats"]["()"] is RepeatLimiter
