"""One aiohttp app under one base URL: health, readiness and every component's routes.

Routes live with their component (the receivers in `producers/`); this face only mounts them, so no route
imports another component. `/health` says the process is alive; `/ready` says whether it can do its work now
(the receivers' producer reaches Kafka), for a load balancer or Kubernetes to route by.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from learnstream.settings import Settings
from producers.contracts import PushReceiver
from producers.receiving import Publisher, receiver_route

PUBLISHER = web.AppKey("publisher", Publisher)


def build_app(settings: Settings, receivers: Sequence[PushReceiver]) -> web.Application:
    """The app with health, readiness and a POST route per receiver; the producer starts with the app."""
    app = web.Application()
    publisher = Publisher(settings)
    app[PUBLISHER] = publisher
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_routes([receiver_route(receiver, publisher) for receiver in receivers])

    async def start(_app: web.Application) -> None:
        publisher.start()

    async def stop(_app: web.Application) -> None:
        await publisher.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


async def health(_request: web.Request) -> web.Response:
    """Alive: the event loop answers."""
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    """Ready when the receivers can publish: 200, else 503 (the body says what is missing)."""
    if await request.app[PUBLISHER].ready():
        return web.json_response({"status": "ready", "kafka": True})
    return web.json_response({"status": "not ready", "kafka": False}, status=503)
