"""The operations endpoint of processes without a web server: /metrics, /health, /ready; and metric helpers."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from learnstream.errors import ConfigError
from learnstream.metrics import WORKER_EVENTS, dead_letter_reason
from learnstream.observability import start_endpoint


def test_metrics_health_and_readiness() -> None:
    why = ["the consumer has no partitions yet"]
    endpoint = start_endpoint("127.0.0.1", 0, "LEARNSTREAM_METRICS__WORKER_PORT", lambda: why[0])
    try:
        WORKER_EVENTS.labels("asked").inc()
        metrics = httpx.get(f"{endpoint.address}/metrics")
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
        assert 'learnstream_worker_events_total{category="asked"}' in metrics.text
        assert httpx.get(f"{endpoint.address}/health").json() == {"status": "ok"}
        not_ready = httpx.get(f"{endpoint.address}/ready")
        assert not_ready.status_code == 503 and not_ready.json()["reason"] == why[0]
        why[0] = ""
        assert httpx.get(f"{endpoint.address}/ready").status_code == 200
        assert httpx.get(f"{endpoint.address}/other").status_code == 404
    finally:
        endpoint.stop()


def test_a_port_in_use_names_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"LEARNSTREAM_METRICS__LOADER_PORT: cannot listen on 127.0.0.1:{port}"):
            start_endpoint("127.0.0.1", port, "LEARNSTREAM_METRICS__LOADER_PORT")


@pytest.mark.parametrize(
    ("letter", "reason"),
    [
        (json.dumps({"reason": "invalid_json", "detail": "x"}).encode(), "invalid_json"),
        (b"not json", "unknown"),
        (b"[1, 2]", "unknown"),
        (json.dumps({"reason": "x" * 200}).encode(), "unknown"),  # never a long label
    ],
)
def test_a_dead_letters_reason_for_its_label(letter: bytes, reason: str) -> None:
    assert dead_letter_reason(letter) == reason
