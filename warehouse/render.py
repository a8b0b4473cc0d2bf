"""A trend result as a JSON document, a text table or CSV. Pure. A withheld figure is shown as withheld, never
dropped. The table and CSV are made from the document, so the CLI renders a result the same way whether it ran
the query itself or asked the serve that owns the warehouse."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from warehouse.queries import TrendResult

WITHHELD = "withheld"


def result_document(result: TrendResult) -> dict[str, Any]:
    """The JSON document of a result: the query, its aligned filters, the version, k and the rows."""
    filters = result.filters
    # every row has every column, in this order (a row's dims and values hold exactly these names)
    columns = dict.fromkeys((*result.query.dims, *result.query.measures))
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
        "rows": [{**columns, **row.dims, **row.values, "withheld": sorted(row.withheld)} for row in result.rows],
    }


def render_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2)


def _cell(value: Any, withheld: bool) -> str:
    if withheld:
        return WITHHELD
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def render_table(document: dict[str, Any]) -> str:
    """Aligned columns: dimensions left, measures right; a header line and a footnote on what withheld means."""
    dims, measures = list(document["dimensions"]), list(document["measures"])
    k = document["min_group_size"]
    named = ", ".join(f"{name}={'|'.join(values)}" for name, values in document["filters"].items())
    lines = [
        f"{document['query']}: {document['title']}",
        f"{document['since']} to {document['until']} by {document['granularity']}"
        + (f", {named}" if named else "")
        + f"; classifier {document['classifier_version']}; figures about fewer than {k} people withheld",
    ]
    rows = document["rows"]
    if not rows:
        return "\n".join([*lines, "no learning events match"])
    grid = [[*dims, *measures]]
    for row in rows:
        grid.append(
            [str(row.get(name) or "") for name in dims]
            + [_cell(row.get(name), name in row["withheld"]) for name in measures]
        )
    widths = [max(len(line[index]) for line in grid) for index in range(len(grid[0]))]
    for line in grid:
        cells = [
            cell.ljust(width) if index < len(dims) else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    if any(row["withheld"] for row in rows):
        lines.append(
            f"withheld: counts fewer than {k} people, or would give such a figure away by subtraction from a total"
        )
    return "\n".join(lines)


def render_csv(document: dict[str, Any]) -> str:
    """One header line, one line per row; a withheld figure is empty and named in the `withheld` column."""
    dims, measures = list(document["dimensions"]), list(document["measures"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*dims, *measures, WITHHELD])
    for row in document["rows"]:
        writer.writerow(
            [row.get(name) or "" for name in dims]
            + [_cell(row.get(name), False) for name in measures]
            + [" ".join(row["withheld"])]
        )
    return out.getvalue()
