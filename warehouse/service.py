"""The warehouse inside `learnstream serve`: with the embedded engine, one process owns chDB.

chDB opens a data directory in one process only. So in embedded mode `serve` opens it, runs the loader in a
thread (with its upkeep: directory, erased people, rebuilds), and answers the warehouse commands over HTTP; the
CLI's `trends` and `erase` find it through a marker file in the data directory and talk to it, and open chDB
themselves only when no serve owns it. Every call on the engine goes through one lock, so the loader, queries and
erasures take turns. With a ClickHouse server there is no marker: every process connects directly.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from learnstream.errors import LearnstreamError, ServiceUnavailable, WarehouseError
from learnstream.settings import Settings
from warehouse.connection import connect
from warehouse.dsn import WarehouseTarget, parse_dsn
from warehouse.erasure import ErasureReport, erase_person
from warehouse.loader import EventLoader, LoaderStats
from warehouse.preparation import prepare_warehouse
from warehouse.queries import Filters, TrendResult, run_trend
from warehouse.upkeep import Upkeep
from warehouse.versions import Revision, trends_revision

logger = logging.getLogger(__name__)
#: How long a read revision is reused (a rebuild or an activation shows in answers and ETags after at most this).
REVISION_TTL_S = 1.0

MARKER = "serve.json"
T = TypeVar("T")
#: Pause before the loader thread tries the broker again after it was unreachable.
RETRY_S = 5.0


class LockedClient:
    """A clickhouse-connect client whose calls take turns (the loader thread and request threads share it)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.RLock()

    def query(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._client.query(*args, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._client.command(*args, **kwargs)

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._client.insert(*args, **kwargs)

    def raw_insert(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._client.raw_insert(*args, **kwargs)

    def locked(self, action: Callable[[], T]) -> T:
        """Run several calls as one turn (an erasure and its rebuild)."""
        with self._lock:
            return action()


def marker_path(target: WarehouseTarget) -> Path | None:
    """Where a serve that owns an embedded warehouse leaves its address (None for a ClickHouse server)."""
    return target.path / MARKER if target.engine == "chdb" and target.path is not None else None


def served_url(target: WarehouseTarget) -> str | None:
    """The base URL of the serve that owns this embedded warehouse, if one is running."""
    path = marker_path(target)
    if path is None or not path.exists():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
        pid, url = int(marker["pid"]), str(marker["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a serve killed without cleaning up
    except PermissionError:
        pass  # alive, another user's
    return url


class WarehouseService:
    """The warehouse as serve uses it: the locked client, the commands and, when serve owns the embedded engine
    (`runs_loader`), the loader thread. With a ClickHouse server the loader is a process of its own."""

    def __init__(self, settings: Settings, runs_loader: bool = True) -> None:
        self.settings = settings
        self.target = parse_dsn(settings.warehouse_dsn)
        self.client = LockedClient(connect(self.target))
        self.database = self.target.database
        self.runs_loader = runs_loader
        self._configured_version = configured_version(settings)  # reads the vocabulary files: once
        if runs_loader:  # serve owns the embedded engine; with a server, the loader process prepares it
            prepare_warehouse(self.client, self.database, settings, self._configured_version)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = LoaderStats()
        self.loader_error: str | None = None
        self._revision: tuple[Revision, float] | None = None
        self._revision_lock = threading.Lock()

    # --- the loader thread -----------------------------------------------------------------------------------

    def start_loader(self) -> None:
        if not self.runs_loader:
            return
        self._thread = threading.Thread(target=self._load, name="loader", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _load(self) -> None:
        from learnstream.kafka import loader_membership, make_consumer, make_dead_letter_producer

        current = self.settings
        while not self._stop.is_set():
            try:
                consumer = make_consumer(
                    current.kafka,
                    current.loader.group_id,
                    [current.topics.names.learning_events],
                    "serve-loader",
                    **loader_membership(current.loader),
                )
                producer = make_dead_letter_producer(
                    current.kafka, current.topics, current.producer, "serve-loader-dlq"
                )
            except ServiceUnavailable as exc:
                self.loader_error = str(exc)
                logger.warning("the loader waits for the broker: %s", exc)
                self._stop.wait(RETRY_S)
                continue
            try:
                loader = EventLoader.from_settings(current, consumer, self.client, self.database, producer)
                loader.stats = self.stats
                upkeep = Upkeep(current, self.client, self.database, loader)
                upkeep.refresh_directory()
                upkeep.rebuild()
                self.loader_error = None
                loader.run(self._stop.is_set, tasks=upkeep.tasks())
            except LearnstreamError as exc:  # never let the thread die: note it, wait, start again
                self.loader_error = str(exc)
                logger.error("the loader stopped, restarting in %.0f s: %s", RETRY_S, exc)
                self._stop.wait(RETRY_S)
            finally:
                consumer.close()
                producer.close()

    # --- the commands ----------------------------------------------------------------------------------------

    def trends(self, name: str, filters: Filters, version: str | None = None) -> TrendResult:
        chosen = version or self.revision().version
        return run_trend(self.client, self.database, name, filters, chosen, self.settings.warehouse.min_group_size)

    def revision(self, version: str | None = None) -> Revision:
        """The classifier version a query reads (`version`, else the active one) and when the trend tables last
        changed: what an answer's ETag is made of. Read at most once every REVISION_TTL_S: it costs a turn of the
        engine every request would otherwise queue for. Once that age is past, one request reads it again while
        the others go on with the one read before (they do not wait behind a query for it)."""
        known = self._revision
        stale = known is None or time.monotonic() - known[1] >= REVISION_TTL_S
        if stale and self._revision_lock.acquire(blocking=known is None):  # the very first read waits
            try:
                known = self._revision  # another thread may have read it meanwhile
                if known is None or time.monotonic() - known[1] >= REVISION_TTL_S:
                    found = trends_revision(self.client, self.database, self._configured_version)
                    known = self._revision = (found, time.monotonic())
            finally:
                self._revision_lock.release()
        if known is None:
            raise WarehouseError("the trend tables' revision could not be read")
        return Revision(version, known[0].rebuilt_at) if version else known[0]

    def erase(self, pseudonym: str) -> ErasureReport:
        return self.client.locked(
            lambda: erase_person(self.client, self.database, pseudonym, self.settings.warehouse.cluster)
        )

    def status(self) -> dict[str, Any]:
        alive = self._thread is not None and self._thread.is_alive()
        return {
            "loader": ("running" if alive else "stopped") if self.runs_loader else "a process of its own",
            "loader_error": self.loader_error,
            "rows_inserted": self.stats.rows_inserted,
            "batches_inserted": self.stats.batches_inserted,
            "dead_letters": self.stats.dead_letters,
            "insert_failures": self.stats.insert_failures,
        }

    # --- the marker ------------------------------------------------------------------------------------------

    def publish_address(self, url: str) -> None:
        path = marker_path(self.target)
        if path is not None:
            path.write_text(json.dumps({"pid": os.getpid(), "url": url}), encoding="utf-8")

    def withdraw_address(self) -> None:
        path = marker_path(self.target)
        if path is not None:
            path.unlink(missing_ok=True)


def run_named_query(
    client: Any, database: str, settings: Settings, name: str, filters: Filters, version: str | None
) -> TrendResult:
    """A named query over `version`, else the active classifier version, with the configured k."""
    from warehouse.versions import active_version

    chosen = version or active_version(client, database, configured_version(settings))
    return run_trend(client, database, name, filters, chosen, settings.warehouse.min_group_size)


def configured_version(settings: Settings) -> str:
    """The version of the classifier the settings configure (what queries read until one is activated)."""
    from streams.classify.classifier import load_classifier

    return load_classifier(settings.classifier.vocabulary_files).version
