"""The dashboard page of `serve`: our own HTML, script and style, and ECharts from the npm package `make setup`
installs (server/dashboard/node_modules), all served from here: no CDN, which many networks cannot reach.

The page holds no figure: it asks the trends API (server/api_routes.py), which checks the token and withholds
what counts fewer than k people, so the page itself is served to anyone who can reach serve.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

DASHBOARD = Path(__file__).parent / "dashboard"
#: The files of ours the page loads, by the name in its address.
STATIC = {"dashboard.js": "application/javascript", "dashboard.css": "text/css"}
ECHARTS = DASHBOARD / "node_modules" / "echarts" / "dist" / "echarts.min.js"


async def page(_request: web.Request) -> web.StreamResponse:
    return web.FileResponse(DASHBOARD / "index.html", headers={"Cache-Control": "no-cache"})


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound(text=f"no dashboard file named {name!r}")
    return web.FileResponse(DASHBOARD / name, headers={"Cache-Control": "no-cache", "Content-Type": STATIC[name]})


async def echarts(_request: web.Request) -> web.StreamResponse:
    if not ECHARTS.is_file():
        return web.Response(
            status=503,
            text="the dashboard's charting library is not installed: run `make setup` "
            "(or `npm ci --prefix server/dashboard`)",
        )
    return web.FileResponse(
        ECHARTS, headers={"Cache-Control": "public, max-age=86400", "Content-Type": "application/javascript"}
    )


def dashboard_routes() -> list[web.RouteDef]:
    """The page at /dashboard, its files under /dashboard/static/, the charting library under /dashboard/vendor/."""
    return [
        web.get("/dashboard", page),
        web.get("/dashboard/", page),
        web.get("/dashboard/static/{name}", static),
        web.get("/dashboard/vendor/echarts.min.js", echarts),
    ]
