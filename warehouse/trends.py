"""Named trend queries over the warehouse, and their rendering. SQL builders and rendering are pure."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from learnstream.errors import WarehouseError
from schemas.taxonomy import LearningCategory
from warehouse.dsn import check_identifier


@dataclass(frozen=True)
class DailyTrend:
    """Learning events on one day, of one category, from one source."""

    day: date
    category: str
    source: str
    events: int


def daily_trends_sql(database: str) -> str:
    """Events per day by category and source, from the replay-safe aggregate (uniqExact of event_id)."""
    database = check_identifier(database, "database")
    return (
        "SELECT day, category, source, uniqExactMerge(events) AS events "
        f"FROM {database}.learning_events_daily "
        "WHERE day >= {since:Date} AND day <= {until:Date} "
        "GROUP BY day, category, source "
        "ORDER BY day, source, category"
    )


def daily_trends(client: Any, database: str, since: date, until: date) -> list[DailyTrend]:
    """Run the daily trend query for a date range (inclusive)."""
    try:
        result = client.query(daily_trends_sql(database), parameters={"since": since, "until": until})
    except ClickHouseError as exc:
        raise WarehouseError(
            f"trend query failed on database {database}: {exc}; run `learnstream warehouse migrate` first"
        ) from exc
    return [
        DailyTrend(day, str(category), str(source), int(events)) for day, category, source, events in result.result_rows
    ]


def render_trend_table(trends: list[DailyTrend]) -> str:
    """A text table: one line per day and source, one column per category, and a total."""
    categories = [category.value for category in LearningCategory]
    cells: dict[tuple[date, str], dict[str, int]] = defaultdict(dict)
    for trend in trends:
        cells[(trend.day, trend.source)][trend.category] = trend.events
    header = ["day", "source", *categories, "total"]
    lines = [header]
    for (day, source), counts in sorted(cells.items()):
        values = [counts.get(category, 0) for category in categories]
        lines.append([day.isoformat(), source, *(str(value) for value in values), str(sum(values))])
    if len(lines) == 1:
        return "no learning events in this period"
    totals = [sum(int(line[index]) for line in lines[1:]) for index in range(2, len(header))]
    lines.append(["total", "", *(str(total) for total in totals)])
    widths = [max(len(line[index]) for line in lines) for index in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if index < 2 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )
