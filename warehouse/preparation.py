"""Bringing a warehouse up to date for the settings: what `warehouse migrate`, the loader and an embedded `serve`
each do before anything else. Every step is idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from learnstream.settings import Settings
from warehouse.bi import apply_bi_views
from warehouse.migrations import Migration, migrate
from warehouse.rollup import LRS_RETAINED, apply_retention


@dataclass(frozen=True)
class Preparation:
    """What preparing changed: the migrations applied now, the tables whose retention changed, the BI views."""

    applied: list[Migration]
    retained: list[str]
    views: list[str]


def prepare_warehouse(client: Any, database: str, settings: Settings, configured_version: str) -> Preparation:
    """The migrations not yet applied, the retention of `WAREHOUSE__RETENTION_DAYS`, and the BI views for k and
    the configured classifier version."""
    warehouse = settings.warehouse
    applied = migrate(client, database, cluster=warehouse.cluster)
    retained = apply_retention(client, database, warehouse.retention_days, warehouse.cluster)
    retained += apply_retention(client, database, settings.lrs.retention_days, warehouse.cluster, LRS_RETAINED)
    views = apply_bi_views(client, database, warehouse.min_group_size, configured_version, warehouse.cluster)
    return Preparation(applied, retained, views)
