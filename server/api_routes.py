"""The HTTP API of `serve`: every named trend query as JSON or CSV, the query list, and the OpenAPI description.

`GET /api/v1/trends/{query}` takes the parameters of `learnstream trends` under the same names and answers the
same document (or its CSV), with every figure about fewer than k people withheld. Who may read what is
server/api_access.py. An answer carries an ETag made of the request (filters aligned to whole periods), the
classifier version read, k and the time the trend tables last changed, so `If-None-Match` is answered 304 without
running the query until a rebuild, an erasure or an activation changes the figures; `Cache-Control: private`
lets a client reuse it for `LEARNSTREAM_API__CACHE_MAX_AGE_S`. serve keeps rendered answers by that ETag too
(server/answer_cache.py, `LEARNSTREAM_API__ANSWER_CACHE_MB`): the second client asking the same view costs no
query. A wrong parameter is a 400 whose body names it.
The engine and the rendering run in a thread, so receivers keep answering while a query runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import orjson
from aiohttp import web

from learnstream.collection import collection_paused
from learnstream.errors import BadParameter, LearnstreamError, UsageError, WarehouseError
from server.answer_cache import AnswerCache
from server.api_access import STATUS, Access, check_access, query_scopes
from server.openapi import API_PREFIX, openapi_document, query_list
from warehouse.queries import QUERIES, Filters
from warehouse.render import render_csv, result_document
from warehouse.requests import filter_params, parse_filters
from warehouse.service import WarehouseService
from warehouse.versions import Revision

logger = logging.getLogger(__name__)

CSV = "text/csv"
JSON = "application/json"


@dataclass(frozen=True)
class Answer:
    """A rendered answer: its body and media type."""

    body: bytes
    content_type: str
    spent_ms: float = 0.0  # the query and the rendering, in the worker thread

    @property
    def size(self) -> int:
        return len(self.body)


def answer_etag(name: str, filters: Filters, revision: Revision, k: int, output: str) -> str:
    """A strong ETag for one answer: the same request over the same figures gets the same tag."""
    rebuilt = revision.rebuilt_at.isoformat() if revision.rebuilt_at else "never"
    parts = [
        name,
        output,
        revision.version,
        rebuilt,
        str(k),
        *(f"{key}={value}" for key, value in filter_params(filters)),
    ]
    return '"' + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32] + '"'


def chosen_output(format_param: str | None, accept: str) -> str:
    """csv or json: the `format` parameter if given, else CSV when the client accepts it and not JSON."""
    if format_param is not None:
        if format_param not in ("json", "csv"):
            raise BadParameter("format", f"{format_param!r} is not one of json, csv")
        return format_param
    accepted = accept.lower()
    return "csv" if CSV in accepted and JSON not in accepted else "json"


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names this ETag (or `*`)."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def render(document: dict[str, Any], output: str) -> Answer:
    if output == "csv":
        return Answer(render_csv(document).encode(), CSV)
    return Answer(orjson.dumps(document), JSON)


def wants_fresh(cache_control: str) -> bool:
    """Whether a request's Cache-Control asks for an answer made afresh rather than a kept one."""
    directives = {part.strip().split("=", 1)[0].lower() for part in cache_control.split(",")}
    return bool(directives & {"no-cache", "no-store"})


def server_timing(found: str, answer: Answer) -> str:
    """The Server-Timing header: whether the answer was kept, and the milliseconds its query and rendering took
    when it was made (a browser's developer tools show both)."""
    return f'cache;desc="{found}", render;dur={answer.spent_ms:.1f}'


def error_response(status: int, message: str, parameter: str | None = None, **headers: str) -> web.Response:
    body: dict[str, str] = {"error": message}
    if parameter is not None:
        body["parameter"] = parameter
    return web.json_response(body, status=status, headers=headers or None)


def refusal(access: Access) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="learnstream"'} if access.status == 401 else {}
    return error_response(access.status, access.message, **headers)


def failure(exc: LearnstreamError) -> web.Response:
    if isinstance(exc, BadParameter):
        return error_response(400, str(exc), exc.parameter)
    if isinstance(exc, UsageError):
        return error_response(400, str(exc))
    if isinstance(exc, WarehouseError):
        logger.error("a trend query failed: %s", exc)
        return error_response(500, str(exc))
    return error_response(503, str(exc))


def learnstream_version() -> str:
    try:
        return version("learnstream")
    except PackageNotFoundError:
        return "0"


def api_routes(service: WarehouseService) -> list[web.RouteDef]:
    """The API's routes over one warehouse service."""
    settings = service.settings
    api, admin_token = settings.api, settings.serve.admin_token
    k = settings.warehouse.min_group_size
    spec = json.dumps(openapi_document(learnstream_version())).encode()
    cache: AnswerCache[Answer] = AnswerCache(api.answer_cache_mb * 1024 * 1024)

    def access(request: web.Request, needed: tuple[str, ...]) -> Access:
        return check_access(request.headers.get("Authorization"), request.remote, api.tokens, admin_token, needed)

    def cache_headers(etag: str, revision: Revision) -> dict[str, str]:
        headers = {
            "ETag": etag,
            "Cache-Control": f"private, max-age={api.cache_max_age_s}",
            "Vary": "Authorization, Accept",
        }
        if revision.rebuilt_at is not None:
            headers["Last-Modified"] = format_datetime(revision.rebuilt_at.astimezone(UTC), usegmt=True)
        return headers

    async def trend(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        allowed = access(request, query_scopes(name))
        if not allowed.allowed:
            return refusal(allowed)
        if name not in QUERIES:
            return error_response(404, f"no trend query named {name!r}; the queries are: {', '.join(QUERIES)}")
        params: dict[str, list[str]] = {}
        for key, value in request.query.items():
            params.setdefault(key, []).append(value)
        try:
            formats, versions = params.get("format") or [], params.get("classifier_version") or []
            if len(formats) > 1 or len(versions) > 1:
                raise BadParameter("format" if len(formats) > 1 else "classifier_version", "give it once")
            output = chosen_output(formats[0] if formats else None, request.headers.get("Accept", ""))
            filters = parse_filters(params, datetime.now(UTC).date())
            aligned = filters.aligned()
            revision = await asyncio.to_thread(service.revision, versions[0] if versions else None)
            etag = answer_etag(name, aligned, revision, k, output)
            headers = cache_headers(etag, revision)
            if matches(request.headers.get("If-None-Match"), etag):
                return web.Response(status=304, headers=headers)

            def run() -> Answer:
                began = time.perf_counter()
                with collection_paused():  # tens of thousands of objects, all alive until the body is made
                    made = render(result_document(service.trends(name, filters, revision.version)), output)
                return replace(made, spent_ms=(time.perf_counter() - began) * 1000)

            answer, found = await cache.get(etag, run, fresh=wants_fresh(request.headers.get("Cache-Control", "")))
        except LearnstreamError as exc:
            return failure(exc)
        headers["Server-Timing"] = server_timing(found, answer)
        return web.Response(body=answer.body, content_type=answer.content_type, headers=headers)

    async def queries(request: web.Request) -> web.StreamResponse:
        allowed = access(request, tuple(scope for name in QUERIES for scope in query_scopes(name)))
        if not allowed.allowed:
            return refusal(allowed)
        return web.json_response(query_list([name for name in QUERIES if allowed.may_read(query_scopes(name))]))

    async def openapi(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=spec, content_type=JSON, headers={"Cache-Control": "public, max-age=3600"})

    async def status(request: web.Request) -> web.StreamResponse:
        allowed = access(request, (STATUS,))
        if not allowed.allowed:
            return refusal(allowed)
        try:
            revision = await asyncio.to_thread(service.revision)
        except LearnstreamError as exc:
            return failure(exc)
        return web.json_response(
            {
                **service.status(),
                "answer_cache": asdict(cache.stats()),
                "classifier_version": revision.version,
                "trend_tables_rebuilt_at": revision.rebuilt_at.isoformat() if revision.rebuilt_at else None,
                "min_group_size": k,
            }
        )

    return [
        web.get(f"{API_PREFIX}/trends/{{name}}", trend),
        web.get(f"{API_PREFIX}/queries", queries),
        web.get(f"{API_PREFIX}/openapi.json", openapi),
        web.get(f"{API_PREFIX}/status", status),
    ]
