"""Every SQL of the Grafana dashboard runs on the real engine (chDB, no Grafana): Grafana's variables and the
ClickHouse plugin's macros are replaced by the concrete SQL they expand to, so a panel naming a missing view or
column, or writing SQL the engine refuses, fails here.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_bi_views import fill
from tests.integration.test_trend_privacy import VERSION
from warehouse.bi import apply_bi_views
from warehouse.connection import connect
from warehouse.dsn import WarehouseTarget
from warehouse.migrations import migrate

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards" / "learnstream-trends.json"
SINCE, UNTIL = date(2024, 3, 1), date(2024, 6, 30)


@pytest.fixture
def filled_warehouse(warehouse_path: Path) -> Iterator[tuple[Any, str]]:
    """A fresh database with random activity and the bi_ views (no Kafka needed), dropped afterwards."""
    database = f"panels_{uuid.uuid4().hex[:10]}"
    client = connect(WarehouseTarget(engine="chdb", database=database, path=warehouse_path))
    migrate(client, database)
    fill(client, database, 21)
    apply_bi_views(client, database, 5, VERSION)
    yield client, database
    client.command(f"DROP DATABASE IF EXISTS {database}")


def expand(sql: str, database: str, grain: str, team: str) -> str:
    """What Grafana and the ClickHouse plugin send for this SQL (the macros as the plugin's documentation gives
    them); any `$` left over is a variable or macro this test does not know, and fails."""
    first = int(datetime(SINCE.year, SINCE.month, SINCE.day).timestamp())
    last = int(datetime(UNTIL.year, UNTIL.month, UNTIL.day, 23, 59, 59).timestamp())
    replaced = (
        sql.replace("${database}", database)
        .replace("${grain:singlequote}", f"'{grain}'")
        .replace("${team:singlequote}", f"'{team}'")
    )
    replaced = re.sub(
        r"\$__dateFilter\((\w+)\)",
        rf"\1 >= toDate('{SINCE.isoformat()}') AND \1 <= toDate('{UNTIL.isoformat()}')",
        replaced,
    )
    replaced = re.sub(r"\$__timeFilter\((\w+)\)", rf"\1 >= toDateTime({first}) AND \1 <= toDateTime({last})", replaced)
    replaced = replaced.replace("$__fromTime", f"toDateTime({first})").replace("$__toTime", f"toDateTime({last})")
    assert "$" not in replaced, replaced
    return replaced


def test_every_panel_and_variable_query_runs(filled_warehouse) -> None:
    client, database = filled_warehouse
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    (team_variable,) = [variable for variable in board["templating"]["list"] if variable["name"] == "team"]
    teams = [row[0] for row in client.query(expand(team_variable["query"], database, "", "")).result_rows]
    assert "team0" in teams
    rows_seen = 0
    for grain in ("day", "week", "month"):
        for panel in board["panels"]:
            for target in panel["targets"]:
                result = client.query(expand(target["rawSql"], database, grain, "team0"))
                rows_seen += len(result.result_rows)
                if target["format"] == 0:  # time series: a DateTime column named time first
                    assert result.column_names[0] == "time", panel["title"]
                    assert all(isinstance(row[0], datetime) for row in result.result_rows), panel["title"]
    assert rows_seen > 0
