"""The sent-at header: written by connectors, copied by the worker, read by the loader."""

from __future__ import annotations

from schemas.headers import SENT_AT_HEADER, forwarded_headers, read_sent_at, sent_at_headers


def test_round_trip_in_milliseconds():
    headers = sent_at_headers(1_764_000_000.1234)
    assert headers == [(SENT_AT_HEADER, b"1764000000123")]
    assert read_sent_at(headers) == 1_764_000_000.123


def test_missing_or_unreadable_is_none():
    assert read_sent_at(None) is None
    assert read_sent_at([("other", b"1")]) is None
    assert read_sent_at([(SENT_AT_HEADER, b"yesterday")]) is None


def test_only_the_sent_at_header_is_forwarded():
    headers = [("traceparent", b"00-abc"), (SENT_AT_HEADER, b"17")]
    assert forwarded_headers(headers) == [(SENT_AT_HEADER, b"17")]
    assert forwarded_headers([("traceparent", b"x")]) is None
    assert forwarded_headers(None) is None
