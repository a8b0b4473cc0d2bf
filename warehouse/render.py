"""A trend result as a text table, CSV or JSON. Pure. A withheld figure is shown as withheld, never dropped."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from warehouse.queries import TrendResult

WITHHELD = "withheld"


def _columns(result: TrendResult) -> tuple[list[str], list[str]]:
    return list(result.query.dims), list(result.query.measures)


def _cell(value: float | int | None, withheld: bool) -> str:
    if withheld:
        return WITHHELD
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def render_table(result: TrendResult) -> str:
    """Aligned columns: dimensions left, measures right; a header line and a footnote on what withheld means."""
    dims, measures = _columns(result)
    filters = result.filters
    named = ", ".join(f"{name}={'|'.join(values)}" for name, values in filters.named().items())
    lines = [
        f"{result.query.name}: {result.query.title}",
        f"{filters.since} to {filters.until} by {filters.granularity.value}"
        + (f", {named}" if named else "")
        + f"; classifier {result.classifier_version}; figures about fewer than {result.min_group_size} people withheld",
    ]
    if not result.rows:
        return "\n".join([*lines, "no learning events match"])
    grid = [[*dims, *measures]]
    for row in result.rows:
        grid.append(
            [row.dims.get(name, "") for name in dims]
            + [_cell(row.values.get(name), name in row.withheld) for name in measures]
        )
    widths = [max(len(line[index]) for line in grid) for index in range(len(grid[0]))]
    for line in grid:
        cells = [
            cell.ljust(width) if index < len(dims) else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    if any(row.withheld for row in result.rows):
        lines.append(
            f"withheld: counts fewer than {result.min_group_size} people, or would give such a figure away by "
            "subtraction from a total"
        )
    return "\n".join(lines)


def render_csv(result: TrendResult) -> str:
    """One header line, one line per row; a withheld figure is empty and named in the `withheld` column."""
    dims, measures = _columns(result)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*dims, *measures, WITHHELD])
    for row in result.rows:
        writer.writerow(
            [row.dims.get(name, "") for name in dims]
            + [_cell(row.values.get(name), False) for name in measures]
            + [" ".join(sorted(row.withheld))]
        )
    return out.getvalue()


def result_document(result: TrendResult) -> dict[str, Any]:
    """The JSON document of a result: the query, its aligned filters, the version, k and the rows."""
    filters = result.filters
    return {
        "query": result.query.name,
        "title": result.query.title,
        "since": filters.since.isoformat(),
        "until": filters.until.isoformat(),
        "granularity": filters.granularity.value,
        "filters": {name: list(values) for name, values in filters.named().items()},
        "classifier_version": result.classifier_version,
        "min_group_size": result.min_group_size,
        "dimensions": list(result.query.dims),
        "measures": list(result.query.measures),
        "rows": [
            {
                **{name: row.dims.get(name) for name in result.query.dims},
                **{name: row.values.get(name) for name in result.query.measures},
                "withheld": sorted(row.withheld),
            }
            for row in result.rows
        ],
    }


def render_json(result: TrendResult) -> str:
    return json.dumps(result_document(result), indent=2)
