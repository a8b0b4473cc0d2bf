"""`learnstream serve`: the one long-running HTTP process (receivers, health and readiness for now)."""

from __future__ import annotations

import logging
import os

import click

from cli.common import reports_errors, settings

logger = logging.getLogger(__name__)


@click.command()
@click.option("--host", default=None, help="Address to listen on (default: LEARNSTREAM_SERVE__HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: LEARNSTREAM_SERVE__PORT, 8800).")
@reports_errors
def serve(host: str | None, port: int | None) -> None:
    """Serve the receivers of the connector file, with /health and /ready, until SIGTERM or Ctrl-C."""
    from aiohttp import web

    from learnstream.errors import BrokerUnavailable
    from learnstream.kafka import ensure_topics
    from producers.connector_config import load_connector_file
    from producers.registry import ConnectorContext, build_receivers, is_receiver
    from server.app import build_app

    current = settings()
    connectors = load_connector_file(current.connectors_file)
    context = ConnectorContext.load(current, connectors, os.environ)
    receivers = [
        receiver
        for config in connectors.connectors
        if is_receiver(config)
        for receiver in build_receivers(config, context)
    ]
    try:
        ensure_topics(current.kafka, current.topics)
    except BrokerUnavailable as exc:  # serve still starts: receivers answer 503 until the broker is back
        logger.warning("%s", exc)
    bound_host, bound_port = host or current.serve.host, port if port is not None else current.serve.port
    for receiver in receivers:
        logger.info("receiver %s at http://%s:%d%s", receiver.name, bound_host, bound_port, receiver.path)
    web.run_app(
        build_app(current, receivers),
        host=bound_host,
        port=bound_port,
        shutdown_timeout=current.serve.shutdown_timeout_s,
        access_log=None,
        print=lambda _message: logger.info("serving on http://%s:%d", bound_host, bound_port),
    )
    click.echo("serve stopped")
