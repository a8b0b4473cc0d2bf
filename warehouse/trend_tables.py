"""The names of the trend tables, in the order a rebuild builds them (a summary after the table it summarises):
one list for the rebuild (warehouse/rollup.py) and the cluster layout (warehouse/cluster.py)."""

from __future__ import annotations

TREND_TABLES: tuple[str, ...] = (
    "activity_cells",
    "team_activity",
    "topic_cells",
    "flow_cells",
    "team_flow",
    "question_cells",
    "reuse_cells",
)
