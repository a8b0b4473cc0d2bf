"""What every simulated vendor API shares: an HTTP server on 127.0.0.1 in a background thread, started and
stopped explicitly or as a context manager, and the base URL it answers on."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self


class LocalServer:
    """A vendor's API on 127.0.0.1 (port 0: any free port). Subclasses give the request handler class."""

    #: Named in errors and in the serving thread's name.
    label = "simulated API"

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

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
