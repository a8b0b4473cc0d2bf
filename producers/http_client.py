"""One HTTP client for every pull source: timeouts, retries with backoff and jitter, `429`/`Retry-After`, and
what each status means (retry, fail, or a configuration error), decided by a table rather than ad hoc.

The decisions are pure functions (`action_for`, `retry_delay`), so they are tested without a network; the
client is the thin loop around them. Retry-After is honoured up to `backoff_max_s`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import httpx

from learnstream.errors import ConfigError, ConnectorError, SourceUnavailable
from learnstream.settings import HttpSettings

logger = logging.getLogger(__name__)


class ResponseAction(StrEnum):
    """What a pull source does with a response."""

    SUCCESS = "success"
    RETRY = "retry"  # the source is busy or briefly down: wait and try again
    FAIL = "fail"  # the request itself is wrong: retrying gives the same answer
    CONFIG_ERROR = "config_error"  # the credentials or their scopes: an operator must fix the settings


#: Status -> action where the class of the status alone does not say it (the airbyte-cdk pattern).
ERROR_MAPPING: Mapping[int, ResponseAction] = {
    400: ResponseAction.FAIL,
    401: ResponseAction.CONFIG_ERROR,
    403: ResponseAction.CONFIG_ERROR,
    404: ResponseAction.FAIL,
    408: ResponseAction.RETRY,
    409: ResponseAction.RETRY,
    425: ResponseAction.RETRY,
    429: ResponseAction.RETRY,
}


def action_for(status: int) -> ResponseAction:
    """The action for a status: the table first, then 2xx success, 5xx retry, anything else a failure."""
    if status in ERROR_MAPPING:
        return ERROR_MAPPING[status]
    if 200 <= status < 300:
        return ResponseAction.SUCCESS
    if status >= 500:
        return ResponseAction.RETRY
    return ResponseAction.FAIL


def retry_delay(
    attempt: int,
    retry_after: str | None,
    settings: HttpSettings,
    now: datetime,
    jitter: Callable[[float], float] = lambda most: random.uniform(0, most),
) -> float:
    """Seconds to wait before try `attempt + 1` (attempts count from 1).

    A `Retry-After` header (seconds or an HTTP date) is honoured as given, capped at `backoff_max_s`; without
    one, exponential backoff with full jitter: a random wait up to base x 2^(attempt-1), capped.
    """
    asked = parse_retry_after(retry_after, now)
    if asked is not None:
        return min(asked, settings.backoff_max_s)
    return jitter(min(settings.backoff_max_s, settings.backoff_base_s * 2 ** (attempt - 1)))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """A Retry-After value in seconds from now, or None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class CredentialsRefused(ConfigError):
    """The source refused the credentials (401) or their scopes (403); `status` says which."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RequestFailed(ConnectorError):
    """The source answered that the request itself is wrong or names nothing (400, 404, ...): not retried."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class SourceHttpClient:
    """JSON from one source's API (GET, or POST/PATCH/DELETE), retrying what is worth retrying; errors name the source
    and the status."""

    def __init__(
        self,
        source: str,
        base_url: str,
        settings: HttpSettings,
        headers: Mapping[str, str] | None = None,
        credentials_setting: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.source = source
        self.settings = settings
        self.credentials_setting = credentials_setting
        self.sleep = sleep
        self.client = httpx.Client(
            base_url=base_url, headers=dict(headers or {}), timeout=settings.timeout_s, transport=transport
        )

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The JSON body of a successful GET, after as many tries as the settings allow."""
        return self.request_json("GET", path, params)

    def request_json(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The JSON body of a successful request (None for an empty one, as a 204 has), retried by the same table:
        a JSON or form body is sent again unchanged, so only requests that are safe to repeat belong here."""
        what = path if method == "GET" else f"{method} {path}"
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                response = self.client.request(method, path, params=params, json=json, data=data, headers=headers)
            except httpx.TransportError as exc:  # connection refused, reset, timeout: worth another try
                reason, retry_after = f"{type(exc).__name__}", None
            else:
                action = action_for(response.status_code)
                if action is ResponseAction.SUCCESS:
                    if response.status_code == 204 or (method != "GET" and not response.content):
                        return None  # a GET must answer JSON: an empty body stays an error of the source
                    return self.json_of(response, what)
                if action is ResponseAction.CONFIG_ERROR:
                    fix = f"check {self.credentials_setting}" if self.credentials_setting else "check its credentials"
                    raise CredentialsRefused(
                        response.status_code,
                        f"{self.source} refused the request for {what} with {response.status_code}: {fix} and "
                        "the scopes it grants",
                    )
                if action is ResponseAction.FAIL:
                    raise RequestFailed(
                        response.status_code, f"{self.source} answered {response.status_code} for {what}; not retried"
                    )
                reason, retry_after = f"status {response.status_code}", response.headers.get("Retry-After")
            if attempt == self.settings.max_attempts:
                raise SourceUnavailable(
                    f"{self.source} kept failing for {what} ({reason}) after {attempt} tries; the cursor was not "
                    "advanced, so the next run resumes here"
                )
            delay = retry_delay(attempt, retry_after, self.settings, datetime.now(UTC))
            logger.warning("%s: %s for %s; try %d in %.1f s", self.source, reason, what, attempt + 1, delay)
            self.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def json_of(self, response: httpx.Response, path: str) -> Any:
        """The response body as JSON; a body that is not JSON is a failure of the source, named as such."""
        try:
            return response.json()
        except ValueError as exc:
            raise ConnectorError(f"{self.source} answered {path} with a body that is not JSON: {exc}") from exc

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()
