"""The pull sources' HTTP decisions: which status is retried, failed or a configuration error, and how long to wait."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from learnstream.errors import ConfigError, ConnectorError
from learnstream.settings import HttpSettings
from producers.http_client import (
    CredentialsRefused,
    RequestFailed,
    ResponseAction,
    SourceHttpClient,
    action_for,
    parse_retry_after,
    retry_delay,
)

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


def scripted_client(responses: list[httpx.Response], seen: list[httpx.Request], waits: list[float]) -> SourceHttpClient:
    """A client whose transport answers with `responses` in turn and keeps each request it was sent."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses.pop(0)

    settings = HttpSettings(max_attempts=3, backoff_base_s=0.5, backoff_max_s=10)
    transport = httpx.MockTransport(answer)
    return SourceHttpClient("graph", "https://api.test/v1.0/", settings, None, "SECRET_VAR", waits.append, transport)


def test_a_post_sends_its_json_body_again_after_a_429_and_returns_the_answer():
    seen: list[httpx.Request] = []
    waits: list[float] = []
    busy = httpx.Response(429, headers={"Retry-After": "2"})
    client = scripted_client([busy, httpx.Response(201, json={"id": "s1"})], seen, waits)
    assert client.request_json("POST", "subscriptions", json={"resource": "r"}) == {"id": "s1"}
    assert waits == [2.0] and [r.method for r in seen] == ["POST", "POST"]
    assert all(json.loads(r.content) == {"resource": "r"} for r in seen)


def test_patch_form_and_empty_answers():
    seen: list[httpx.Request] = []
    client = scripted_client([httpx.Response(200, json={"ok": True}), httpx.Response(204)], seen, [])
    assert client.request_json("PATCH", "subscriptions/s1", json={"expirationDateTime": "x"}) == {"ok": True}
    assert client.request_json("POST", "https://login.test/token", data={"grant_type": "client_credentials"}) is None
    assert seen[0].method == "PATCH" and str(seen[1].url) == "https://login.test/token"
    assert seen[1].content == b"grant_type=client_credentials"


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [(401, CredentialsRefused, "POST x with 401: check SECRET_VAR"), (404, RequestFailed, "404 for POST x")],
)
def test_refusals_and_failures_keep_their_status(status, error, message):
    client = scripted_client([httpx.Response(status)], [], [])
    with pytest.raises(error, match=message) as caught:
        client.request_json("POST", "x", headers={"Authorization": "Bearer t"})
    assert caught.value.status == status
    assert isinstance(caught.value, ConfigError if status == 401 else ConnectorError)
