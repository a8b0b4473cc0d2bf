"""The pull sources' HTTP client against a local HTTP server playing a busy, failing or refusing API."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from learnstream.errors import ConfigError, ConnectorError, SourceUnavailable
from learnstream.settings import HttpSettings
from producers.http_client import SourceHttpClient

#: path -> the responses it gives in turn (status, headers, body); the last one repeats.
SCRIPT: dict[str, list[tuple[int, dict[str, str], bytes]]] = {
    "/busy": [(429, {"Retry-After": "3"}, b"slow down"), (200, {}, b'{"ok": "busy"}')],
    "/flaky": [(503, {}, b""), (502, {}, b""), (200, {}, b'{"ok": "flaky"}')],
    "/down": [(503, {}, b"")],
    "/auth": [(401, {}, b'{"error": "invalid_auth"}')],
    "/missing": [(404, {}, b"")],
    "/garbled": [(200, {}, b"<html>")],
}


@pytest.fixture
def api() -> Iterator[tuple[str, dict[str, int]]]:
    hits: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            turn = hits.get(path, 0)
            hits[path] = turn + 1
            responses = SCRIPT[path]
            status, headers, body = responses[min(turn, len(responses) - 1)]
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def client(base_url: str, waits: list[float], attempts: int = 4) -> SourceHttpClient:
    settings = HttpSettings(timeout_s=5, max_attempts=attempts, backoff_base_s=0.5, backoff_max_s=10)
    return SourceHttpClient(
        "testwiki", base_url, settings, credentials_setting="LEARNSTREAM_TEST_TOKEN", sleep=waits.append
    )


def test_a_429_waits_as_long_as_retry_after_says_then_succeeds(api):
    base_url, hits = api
    waits: list[float] = []
    assert client(base_url, waits).get_json("/busy") == {"ok": "busy"}
    assert waits == [3.0]
    assert hits["/busy"] == 2


def test_server_errors_are_retried_with_growing_jittered_waits(api):
    base_url, hits = api
    waits: list[float] = []
    assert client(base_url, waits).get_json("/flaky", {"rcstart": "2026-01-01"}) == {"ok": "flaky"}
    assert hits["/flaky"] == 3
    assert len(waits) == 2 and 0 <= waits[0] <= 0.5 and 0 <= waits[1] <= 1.0


def test_a_source_that_stays_down_is_unavailable_after_the_last_try(api):
    base_url, hits = api
    waits: list[float] = []
    with pytest.raises(SourceUnavailable, match=r"testwiki kept failing for /down \(status 503\) after 4 tries"):
        client(base_url, waits).get_json("/down")
    assert hits["/down"] == 4 and len(waits) == 3


def test_refused_credentials_are_a_configuration_error_naming_the_setting(api):
    base_url, hits = api
    with pytest.raises(ConfigError, match="401: check LEARNSTREAM_TEST_TOKEN"):
        client(base_url, []).get_json("/auth")
    assert hits["/auth"] == 1


@pytest.mark.parametrize(("path", "message"), [("/missing", "answered 404"), ("/garbled", "not JSON")])
def test_a_wrong_request_or_a_garbled_body_fails_at_once(api, path, message):
    base_url, hits = api
    with pytest.raises(ConnectorError, match=message):
        client(base_url, []).get_json(path)
    assert hits[path] == 1


def test_nothing_listening_is_retried_then_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the client connects: nothing listens there
    waits: list[float] = []
    with pytest.raises(SourceUnavailable, match="ConnectError"):
        client(f"http://127.0.0.1:{port}", waits, attempts=2).get_json("/anything")
    assert len(waits) == 1
