"""The operations endpoint of a long-running process without a web server of its own (the worker, the loader,
`connect run`): `/metrics` (Prometheus text), `/health` (alive: the endpoint answers) and `/ready` (200 when the
process can do its work, 503 with the reason otherwise), on a thread. `serve` answers the same paths itself.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from learnstream.errors import ConfigError

logger = logging.getLogger(__name__)

#: Why a process is not ready ("" when it is).
Readiness = Callable[[], str]


class Endpoint:
    """A started endpoint; `address` is where it listens, `stop()` ends it."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, name="metrics-endpoint", daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_endpoint(host: str, port: int, setting: str, readiness: Readiness = lambda: "") -> Endpoint:
    """Serve /metrics, /health and /ready on host:port (0: a free port); ConfigError naming `setting` when the
    port cannot be bound."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._answer(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif self.path == "/health":
                self._answer(200, json.dumps({"status": "ok"}).encode(), "application/json")
            elif self.path == "/ready":
                why = readiness()
                status = {"status": "ready"} if not why else {"status": "not ready", "reason": why}
                self._answer(503 if why else 200, json.dumps(status).encode(), "application/json")
            else:
                self._answer(404, b'{"error": "not found: /metrics, /health or /ready"}', "application/json")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes every few seconds are not news

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot listen on {host}:{port} ({exc.strerror}); choose another port") from None
    endpoint = Endpoint(server)
    logger.info("metrics, health and readiness at %s/metrics", endpoint.address)
    return endpoint
