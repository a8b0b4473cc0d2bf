"""The pull sources' HTTP decisions: which status is retried, failed or a configuration error, and how long to wait."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from learnstream.settings import HttpSettings
from producers.http_client import ResponseAction, action_for, parse_retry_after, retry_delay

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
SETTINGS = HttpSettings(backoff_base_s=1.0, backoff_max_s=60.0)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (200, ResponseAction.SUCCESS),
        (204, ResponseAction.SUCCESS),
        (400, ResponseAction.FAIL),
        (401, ResponseAction.CONFIG_ERROR),
        (403, ResponseAction.CONFIG_ERROR),
        (404, ResponseAction.FAIL),
        (408, ResponseAction.RETRY),
        (429, ResponseAction.RETRY),
        (500, ResponseAction.RETRY),
        (503, ResponseAction.RETRY),
        (302, ResponseAction.FAIL),
        (418, ResponseAction.FAIL),
    ],
)
def test_each_status_has_one_action(status, action):
    assert action_for(status) is action


def test_retry_after_in_seconds_or_as_a_date_is_honoured_up_to_the_cap():
    assert retry_delay(1, "7", SETTINGS, NOW) == 7.0
    assert retry_delay(1, "Sun, 29 Nov 2026 12:00:30 GMT", SETTINGS, NOW) == 30.0
    assert retry_delay(1, "Sun, 29 Nov 2026 11:59:00 GMT", SETTINGS, NOW) == 0.0  # already past
    assert retry_delay(1, "3600", SETTINGS, NOW) == 60.0


def test_without_retry_after_the_wait_doubles_with_full_jitter_and_a_cap():
    most = [retry_delay(attempt, None, SETTINGS, NOW, jitter=lambda ceiling: ceiling) for attempt in range(1, 9)]
    assert most == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert retry_delay(3, None, SETTINGS, NOW, jitter=lambda ceiling: 0.0) == 0.0
    assert 0.0 <= retry_delay(3, "soon", SETTINGS, NOW) <= 4.0  # an unreadable header falls back to backoff


def test_retry_after_parsing():
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after(" 12 ", NOW) == 12.0
    assert parse_retry_after("not a date", NOW) is None
