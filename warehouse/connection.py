"""Opening the warehouse through clickhouse-connect, mapping failures to WarehouseUnavailable."""

from __future__ import annotations

from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.exceptions import ClickHouseError

from learnstream.errors import WarehouseUnavailable
from warehouse.dsn import DSN_VARIABLE, WarehouseTarget, server_options


def connect(target: WarehouseTarget) -> Any:
    """A clickhouse-connect client for the target (no default database: every statement names its database)."""
    try:
        if target.engine == "chdb":
            assert target.path is not None
            target.path.mkdir(parents=True, exist_ok=True)
            return clickhouse_connect.get_client(interface="chdb", path=str(target.path))
        return clickhouse_connect.get_client(**server_options(target), connect_timeout=10)
    except (ClickHouseError, OSError) as exc:
        raise WarehouseUnavailable(
            f"cannot open the warehouse at {target.describe()}: {exc}; check {DSN_VARIABLE} "
            "(an embedded chDB directory can be open in only one process at a time)"
        ) from exc
