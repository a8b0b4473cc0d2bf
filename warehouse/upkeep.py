"""What the loader does between batches besides loading: the directory, the erased people, the trend tables."""

from __future__ import annotations

import logging
from typing import Any

from learnstream.errors import LearnstreamError
from learnstream.settings import Settings
from warehouse.directory import load_directory
from warehouse.erasure import erased_people, purge_erased
from warehouse.loader import EventLoader, PeriodicTask
from warehouse.rollup import rebuild_due

logger = logging.getLogger(__name__)


class Upkeep:
    """The loader's periodic tasks. A failure is logged and tried again at the next period: the loader keeps
    loading (figures are then late, never wrong, as each day stays due until a rebuild of it succeeds)."""

    def __init__(self, settings: Settings, client: Any, database: str, loader: EventLoader) -> None:
        self.settings = settings
        self.client = client
        self.database = database
        self.loader = loader

    def refresh_directory(self) -> None:
        """Load the people directory into the team dimension (the days of people who moved become due)."""
        names = self.settings.topics.names
        self._guarded(
            "directory refresh",
            lambda: load_directory(self.settings.kafka, names.directory, self.client, self.database),
        )

    def rebuild(self) -> None:
        """Refresh the erased people, then rebuild the trend tables of the days due (within the rebuild budget)."""

        def run() -> None:
            self.loader.erased = erased_people(self.client, self.database)
            purge_erased(self.client, self.database, self.loader.erased, self.settings.warehouse.cluster)
            warehouse = self.settings.warehouse
            rebuild_due(self.client, self.database, warehouse.cluster, warehouse.rebuild_budget_s)

        self._guarded("trend table rebuild", run)

    def tasks(self) -> list[PeriodicTask]:
        return [
            PeriodicTask("directory", self.settings.loader.directory_refresh_s, self.refresh_directory),
            PeriodicTask("rebuild", self.settings.warehouse.rollup_interval_s, self.rebuild, at_stop=True),
        ]

    def _guarded(self, what: str, action: Any) -> None:
        try:
            action()
        except LearnstreamError as exc:
            logger.error("%s failed, trying again at the next period: %s", what, exc)
