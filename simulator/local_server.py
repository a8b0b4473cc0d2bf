"""What every simulated vendor API shares: an HTTP server on 127.0.0.1 in a background thread, started and
stopped explicitly or as a context manager, the base URL it answers on, injected failures (a status, and
Retry-After, for the next requests), and a request handler that answers JSON and keeps quiet."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass(frozen=True)
class Failure:
    """A status one request answers with instead of its answer (429, 503, ...), with Retry-After if given."""

    status: int
    retry_after: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        """The Retry-After header, if the failure has one."""
        return {"Retry-After": self.retry_after} if self.retry_after else {}


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler answering JSON (an empty body for 204) and writing no access log."""

    content_type = "application/json"

    def send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        data = b"" if status == 204 else json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LocalServer:
    """A vendor's API on 127.0.0.1 (port 0: any free port). Subclasses give the request handler class."""

    #: Named in errors and in the serving thread's name.
    label = "simulated API"

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._failures: deque[Failure] = deque()
        self._failures_lock = threading.Lock()

    def fail_next(self, status: int, retry_after: str | None = None, times: int = 1) -> None:
        """Answer the next `times` requests with `status` (and Retry-After if given)."""
        with self._failures_lock:
            self._failures.extend([Failure(status, retry_after)] * times)

    def next_failure(self) -> Failure | None:
        """The failure the request being answered must give, if one is pending."""
        with self._failures_lock:
            return self._failures.popleft() if self._failures else None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class, bound to this server's state."""
        raise NotImplementedError

    def start(self) -> str:
        """Serve in a background thread; the base URL (`http://127.0.0.1:<port>`)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler())
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05), name=self.label, daemon=True
        )
        self._thread.start()
        return self.base_url

    def before_stop(self) -> None:
        """What to end before the server stops (open streams); nothing by default."""

    def stop(self) -> None:
        """Stop serving and wait for the serving thread."""
        self.before_stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Where the server listens."""
        if self._server is None:
            raise RuntimeError(f"the {self.label} is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"
