"""The CLI's side of serve's trends API and warehouse routes: ask the serve that owns the embedded warehouse."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from learnstream.errors import UsageError, WarehouseError, WarehouseUnavailable
from learnstream.settings import Settings
from warehouse.queries import Filters
from warehouse.requests import filter_params

TIMEOUT_S = 600.0


def _token(settings: Settings) -> str | None:
    """The token the CLI presents: the admin token, else the first API token that may read every query."""
    if settings.serve.admin_token is not None:
        return settings.serve.admin_token.get_secret_value()
    readers = [token for token in settings.api.tokens if "trends" in token.scopes]
    return readers[0].token.get_secret_value() if readers else None


def _call(settings: Settings, request: urllib.request.Request) -> Any:
    token = _token(settings)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = str(json.loads(exc.read())["error"])
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {exc.code}"
        if exc.code in (400, 404):
            raise UsageError(message) from None
        raise WarehouseError(f"serve answered {exc.code}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        where = urllib.parse.urlsplit(request.full_url).netloc
        raise WarehouseUnavailable(f"the serve that owns the warehouse ({where}) does not answer: {exc}") from None


def remote_trends(settings: Settings, url: str, name: str, filters: Filters, version: str | None) -> dict[str, Any]:
    """The JSON document of a named query, run by serve."""
    params = [*filter_params(filters), ("format", "json")]
    if version:
        params.append(("classifier_version", version))
    query = urllib.parse.urlencode(params)
    path = urllib.parse.quote(name, safe="")
    document: dict[str, Any] = _call(settings, urllib.request.Request(f"{url}/api/v1/trends/{path}?{query}"))
    return document


def remote_erase(settings: Settings, url: str, pseudonym: str) -> dict[str, Any]:
    """Ask serve to erase one person; returns its report."""
    body = json.dumps({"pseudonym": pseudonym}).encode()
    request = urllib.request.Request(
        f"{url}/warehouse/erase", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    report: dict[str, Any] = _call(settings, request)
    return report


def remote_counts(settings: Settings, url: str, with_ids: bool = False) -> dict[str, Any]:
    """The exact event counts, from serve's `/warehouse/counts`."""
    query = "?ids=true" if with_ids else ""
    document: dict[str, Any] = _call(settings, urllib.request.Request(f"{url}/warehouse/counts{query}"))
    return document
