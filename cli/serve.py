"""`learnstream serve`: the one long-running HTTP process (receivers, health and readiness for now)."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING

import click

from cli.common import reports_errors, settings

if TYPE_CHECKING:
    from lrs.store import StatementStore

logger = logging.getLogger(__name__)


@click.command()
@click.option("--host", default=None, help="Address to listen on (default: LEARNSTREAM_SERVE__HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: LEARNSTREAM_SERVE__PORT, 8800).")
@reports_errors
def serve(host: str | None, port: int | None) -> None:
    """Serve the receivers of the connector file, with /health and /ready, until SIGTERM or Ctrl-C.

    With LEARNSTREAM_SERVE__WAREHOUSE (on by default) serve also answers the trends API and the dashboard; with the
    embedded warehouse it owns chDB: it runs the loader and answers `trends` and `erase` for the CLI."""
    from aiohttp import web

    from learnstream.collection import freeze_what_exists, tune_for_throughput
    from learnstream.errors import BrokerUnavailable, WarehouseUnavailable
    from learnstream.kafka import ensure_topics
    from lrs.service import LRS_INSTANCE, Lrs
    from lrs.store import StatementStore
    from lrs.stored_ids import StoredIds
    from lrs.workers import DrafterConfig, DraftingPool
    from producers.connector_config import load_connector_file
    from producers.registry import ConnectorContext, build_receivers, is_receiver
    from server.app import build_app
    from warehouse.dsn import parse_dsn
    from warehouse.service import WarehouseService

    tune_for_throughput()
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
    warehouse = None
    embedded = parse_dsn(current.warehouse_dsn).engine == "chdb"
    if current.serve.warehouse:
        try:
            warehouse = WarehouseService(current, runs_loader=embedded)
        except WarehouseUnavailable as exc:
            hint = "is a `learnstream loader` or another serve using it? " if embedded else ""
            raise WarehouseUnavailable(
                f"{exc}; {hint}(LEARNSTREAM_SERVE__WAREHOUSE=false serves the receivers only)"
            ) from exc
        if embedded:
            logger.info("serve owns the embedded warehouse %s: the loader runs here", warehouse.target.describe())
        else:
            logger.info("serve answers the trends API from %s", warehouse.target.describe())
    lrs = None
    if warehouse is not None:  # the LRS keeps its Statements in the warehouse
        drafting = DrafterConfig(
            context.directory,
            context.pseudonym_key,
            current.lrs.authority_home_page,
            LRS_INSTANCE,
            derive_ids=frozenset(credential.name for credential in current.lrs.credentials if credential.derive_ids),
        )
        store = StatementStore(warehouse.client, warehouse.database)
        if embedded:  # serve is the only writer of its chDB: ids it never stored need no lookup
            store.stored_ids = StoredIds(capacity=max(1_000_000, 2 * store.count()))
            threading.Thread(target=seed_stored_ids, args=(store,), name="lrs-stored-ids", daemon=True).start()
        lrs = Lrs(store, DraftingPool(drafting, current.lrs.drafting_processes))
        logger.info(
            "xAPI LRS at http://%s:%d/xapi/ (%d credential(s), %d drafting process(es))",
            bound_host,
            bound_port,
            len(current.lrs.credentials),
            current.lrs.drafting_processes,
        )
    local_host = "127.0.0.1" if bound_host in ("0.0.0.0", "::", "") else bound_host
    app = build_app(current, receivers, warehouse, f"http://{local_host}:{bound_port}" if bound_port else None, lrs)

    async def started(_app: web.Application) -> None:
        freeze_what_exists()

    app.on_startup.append(started)
    web.run_app(
        app,
        host=bound_host,
        port=bound_port,
        shutdown_timeout=current.serve.shutdown_timeout_s,
        access_log=None,
        print=lambda _message: logger.info("serving on http://%s:%d", bound_host, bound_port),
    )
    click.echo("serve stopped")


def seed_stored_ids(store: StatementStore) -> None:
    """Fill the store's filter of stored ids from the table (on a thread of its own: lookups go to the engine
    until it is done)."""
    from learnstream.errors import WarehouseError

    started = time.monotonic()
    try:
        store.seed_stored_ids()
    except WarehouseError as exc:
        logger.warning("xAPI: every Statement id is looked up in the store (its ids could not be read: %s)", exc)
        return
    ids = store.stored_ids
    assert ids is not None
    logger.info(
        "xAPI: %d stored Statement ids read in %.1f s (%.1f MB filter)",
        ids.count,
        time.monotonic() - started,
        ids.bytes / 1e6,
    )
