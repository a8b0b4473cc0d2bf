"""The warehouse's admin routes of `serve`: erase, status, the event figures `learnstream status` reads and the exact
counts `learnstream warehouse counts` reads, for the CLI on this machine (trends are the API's).

Without LEARNSTREAM_SERVE__ADMIN_TOKEN they answer loopback clients only; with it, a request must carry it as a
Bearer token. The engine calls run in threads, so receivers keep answering while a query runs."""

from __future__ import annotations

import asyncio
import hmac
import re

from aiohttp import web

from learnstream.errors import LearnstreamError, UsageError, WarehouseError
from learnstream.status import warehouse_figures
from schemas.activity import PSEUDONYM_RE
from server.api_access import is_loopback
from warehouse.counts import event_id_counts
from warehouse.service import WarehouseService


def warehouse_routes(service: WarehouseService) -> list[web.RouteDef]:
    token = service.settings.serve.admin_token

    def allowed(request: web.Request) -> web.Response | None:
        if token is not None:
            given = request.headers.get("Authorization", "")
            expected = f"Bearer {token.get_secret_value()}"
            if hmac.compare_digest(given.encode(), expected.encode()):
                return None
            return web.json_response({"error": "a valid admin token (Authorization: Bearer …) is required"}, status=401)
        if is_loopback(request.remote):
            return None
        return web.json_response(
            {"error": "the warehouse routes answer this machine only; set LEARNSTREAM_SERVE__ADMIN_TOKEN"}, status=403
        )

    async def erase(request: web.Request) -> web.StreamResponse:
        refused = allowed(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
            pseudonym = str(body["pseudonym"]) if isinstance(body, dict) and "pseudonym" in body else ""
        except ValueError:
            pseudonym = ""
        if not re.fullmatch(PSEUDONYM_RE, pseudonym):
            return failure(UsageError('the body must be {"pseudonym": "p_ and 24 hex digits"}'))
        try:
            report = await asyncio.to_thread(service.erase, pseudonym)
        except LearnstreamError as exc:
            return failure(exc)
        return web.json_response(report.as_dict())

    async def status(request: web.Request) -> web.StreamResponse:
        refused = allowed(request)
        return refused if refused is not None else web.json_response(service.status())

    async def events(request: web.Request) -> web.StreamResponse:
        """The rows of learning_events and the newest times stored: for `learnstream status`."""
        refused = allowed(request)
        if refused is not None:
            return refused
        try:
            figures = await asyncio.to_thread(warehouse_figures, service.client, service.database)
        except LearnstreamError as exc:
            return failure(exc)
        return web.json_response(figures.as_dict())

    async def counts(request: web.Request) -> web.StreamResponse:
        """Exact figures by event id (`?ids=true` adds the ids): for `learnstream warehouse counts`."""
        refused = allowed(request)
        if refused is not None:
            return refused
        with_ids = request.query.get("ids", "false").lower() in ("1", "true", "yes")
        try:
            found = await asyncio.to_thread(event_id_counts, service.client, service.database, with_ids)
        except LearnstreamError as exc:
            return failure(exc)
        return web.json_response(found.as_dict())

    return [
        web.get("/warehouse/counts", counts),
        web.post("/warehouse/erase", erase),
        web.get("/warehouse/status", status),
        web.get("/warehouse/events", events),
    ]


def failure(exc: LearnstreamError) -> web.Response:
    status = 400 if isinstance(exc, UsageError) else 503 if not isinstance(exc, WarehouseError) else 500
    return web.json_response({"error": str(exc)}, status=status)
