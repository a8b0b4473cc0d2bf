"""Kafka topic names, defined once.

Every name derives from a namespace (default `learnstream`), so tests and tenants can run side by side on one
cluster with their own topics while production keeps the documented names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_NAMESPACE = "learnstream"
_NAMESPACE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")


@dataclass(frozen=True)
class Topics:
    """The pipeline's topics: raw activity in, dead letters aside, learning events out, the people directory and
    the connectors' cursors (both compacted: the latest record of each person and each connector is kept), the
    notifications receivers acknowledged before fetching their content (time-retained, like the activity topics),
    the worker's memory of question threads (compacted, and expiring with the threads), and the ledger of dead
    letters replayed (compacted, and expiring with the dead letters), which `learnstream dlq replay` keeps."""

    activity_raw: str
    activity_dlq: str
    learning_events: str
    directory: str
    connector_state: str
    connector_pending: str
    thread_state: str
    dlq_replays: str

    @classmethod
    def in_namespace(cls, namespace: str = DEFAULT_NAMESPACE) -> Topics:
        """The topic names under a namespace; `learnstream` gives `learnstream.activity.raw` and so on."""
        if not _NAMESPACE_PATTERN.match(namespace):
            raise ValueError(f"invalid topic namespace {namespace!r}: use letters, digits, '.', '_' or '-'")
        return cls(
            activity_raw=f"{namespace}.activity.raw",
            activity_dlq=f"{namespace}.activity.dlq",
            learning_events=f"{namespace}.learning.events",
            directory=f"{namespace}.directory",
            connector_state=f"{namespace}.connector.state",
            connector_pending=f"{namespace}.connector.pending",
            thread_state=f"{namespace}.thread.state",
            dlq_replays=f"{namespace}.activity.dlq.replays",
        )

    def all(self) -> tuple[str, ...]:
        """All topic names, in pipeline order."""
        return (
            self.activity_raw,
            self.activity_dlq,
            self.learning_events,
            self.directory,
            self.connector_state,
            self.connector_pending,
            self.thread_state,
            self.dlq_replays,
        )
