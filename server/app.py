"""One aiohttp app under one base URL: health, readiness and every component's routes (receivers, the trends
API, the warehouse's admin routes).

Routes live with their component (the receivers in `producers/`); this face only mounts them, so no route
imports another component. `/health` says the process is alive; `/ready` says whether it can do its work now
(the receivers' producer reaches Kafka), for a load balancer or Kubernetes to route by.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from learnstream.settings import Settings
from lrs.service import Lrs
from producers.contracts import PushReceiver
from producers.receiving import Publisher, receiver_route
from server.api_routes import api_routes
from server.dashboard_routes import dashboard_routes
from server.lrs_routes import lrs_routes
from server.warehouse_routes import warehouse_routes
from warehouse.service import WarehouseService

PUBLISHER = web.AppKey("publisher", Publisher)


def build_app(
    settings: Settings,
    receivers: Sequence[PushReceiver],
    warehouse: WarehouseService | None = None,
    address: str | None = None,
    lrs: Lrs | None = None,
) -> web.Application:
    """The app with health, readiness and a POST route per receiver; the producer starts with the app. With a
    warehouse (embedded mode), its routes too, its loader running while the app runs, and its `address` published
    for the CLI. With an `lrs`, the xAPI endpoint under /xapi/."""
    app = web.Application()
    publisher = Publisher(settings)
    app[PUBLISHER] = publisher
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", prometheus)
    app.router.add_routes([receiver_route(receiver, publisher) for receiver in receivers])
    if warehouse is not None:
        app.router.add_routes(api_routes(warehouse))
        app.router.add_routes(dashboard_routes())
        app.router.add_routes(warehouse_routes(warehouse))
    if lrs is not None:
        app.router.add_routes(lrs_routes(lrs, publisher, settings.lrs))

    async def start(_app: web.Application) -> None:
        publisher.start()
        if warehouse is not None:
            warehouse.start_loader()
            if address is not None:
                warehouse.publish_address(address)

    async def stop(_app: web.Application) -> None:
        await publisher.stop()
        if warehouse is not None:
            warehouse.withdraw_address()
            await asyncio.to_thread(warehouse.stop)
        if lrs is not None:
            await asyncio.to_thread(lrs.drafting.close)

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


async def prometheus(_request: web.Request) -> web.Response:
    """Every metric of this process (learnstream/metrics.py), in Prometheus' text format."""
    body = generate_latest()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def health(_request: web.Request) -> web.Response:
    """Alive: the event loop answers."""
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    """Ready when the receivers can publish: 200, else 503 (the body says what is missing)."""
    if await request.app[PUBLISHER].ready():
        return web.json_response({"status": "ready", "kafka": True})
    return web.json_response({"status": "not ready", "kafka": False}, status=503)
