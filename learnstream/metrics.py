"""Every Prometheus metric learnstream exports, in one place (the `prometheus-client` library).

Names follow `learnstream_<component>_<what>_<unit>`: the component is `connector` (pull connectors and `serve`'s
receivers), `lrs`, `worker` or `loader`; counters end in `_total`, durations in `_seconds`, sizes in `_rows`.
Labels are low-cardinality: a connector's name, a source, a topic, a reason, a category, a partition; never a
person, a message or an id. Each long-running process serves them at `/metrics` (learnstream/observability.py).
"""

from __future__ import annotations

import orjson
from prometheus_client import Counter, Gauge, Histogram

# --- connectors and receivers ----------------------------------------------------------------------------------
CONNECTOR_ACTIVITIES = Counter(
    "learnstream_connector_activities_total",
    "Activities a connector or receiver published (the broker acknowledged them), by connector and topic.",
    ["connector", "topic"],
)
CONNECTOR_DEAD_LETTERS = Counter(
    "learnstream_connector_dead_letters_total",
    "Source items a connector or receiver could not map, sent to the dead-letter topic, by reason.",
    ["connector", "reason"],
)
CONNECTOR_CURSOR_SAVED = Gauge(
    "learnstream_connector_cursor_saved_timestamp_seconds",
    "When a connector last saved its cursor (its age is time() minus this).",
    ["connector"],
)
CONNECTOR_ERRORS = Counter(
    "learnstream_connector_errors_total", "Polls or deliveries of a connector that failed.", ["connector"]
)
CONNECTOR_LAST_ERROR = Gauge(
    "learnstream_connector_last_error_timestamp_seconds",
    "When a connector's last poll or delivery failed (0: never).",
    ["connector"],
)
CONNECTOR_UP = Gauge(
    "learnstream_connector_up",
    "1 while a connector's last poll or delivery succeeded, 0 after a failure.",
    ["connector"],
)

# --- the LRS -------------------------------------------------------------------------------------------------
LRS_STATEMENTS = Counter(
    "learnstream_lrs_statements_total",
    "xAPI Statements the LRS accepted (stored, or found stored already), by credential.",
    ["credential"],
)
LRS_REFUSED = Counter(
    "learnstream_lrs_refused_requests_total", "Statement requests the LRS refused, by HTTP status.", ["status"]
)
LRS_GROUP_STATEMENTS = Histogram(
    "learnstream_lrs_group_statements",
    "Statements stored per insert (the requests that arrived while the previous group was written, together): "
    "larger groups cost the warehouse less per Statement.",
    buckets=(1, 10, 50, 100, 200, 400, 800, 1600, 3200, 6400, 10_000),
)

# --- the worker ----------------------------------------------------------------------------------------------
WORKER_ACTIVITIES = Counter(
    "learnstream_worker_activities_total", "Activities the worker read from the raw topic, by source.", ["source"]
)
WORKER_EVENTS = Counter(
    "learnstream_worker_events_total", "Learning events the worker wrote, by category.", ["category"]
)
WORKER_DEAD_LETTERS = Counter(
    "learnstream_worker_dead_letters_total",
    "Activities the worker sent to the dead-letter topic, by reason.",
    ["reason"],
)

# --- the loader ----------------------------------------------------------------------------------------------
LOADER_EVENTS = Counter("learnstream_loader_events_total", "Learning events the loader stored in the warehouse.")
LOADER_DEAD_LETTERS = Counter(
    "learnstream_loader_dead_letters_total", "Events the loader could not store, by reason.", ["reason"]
)
LOADER_DROPPED = Counter(
    "learnstream_loader_dropped_events_total",
    "Events the loader left out on purpose, by reason: `erased` (an erased person's) or `expired` (past retention).",
    ["reason"],
)
LOADER_BATCH_ROWS = Histogram(
    "learnstream_loader_batch_rows",
    "Rows per warehouse insert.",
    buckets=(1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000),
)
LOADER_INSERT_SECONDS = Histogram(
    "learnstream_loader_insert_seconds",
    "Time one warehouse insert took.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LOADER_INSERT_ERRORS = Counter("learnstream_loader_insert_errors_total", "Warehouse inserts that failed (retried).")
LOADER_NEWEST_SENT = Gauge(
    "learnstream_loader_newest_event_sent_timestamp_seconds",
    "When the newest event the loader stored was handed to Kafka by its connector.",
)
LOADER_FRESHNESS = Gauge(
    "learnstream_loader_freshness_seconds",
    "End-to-end freshness: now minus when the newest stored event was handed to Kafka (grows while nothing lands).",
)

# --- consumer lag (the worker's and the loader's own groups) ------------------------------------------------------
CONSUMER_LAG = Gauge(
    "learnstream_consumer_lag_messages",
    "Messages of a partition its consumer group has not committed yet: the end offset minus the committed offset.",
    ["group", "topic", "partition"],
)


def dead_letter_reason(letter: bytes) -> str:
    """The reason code of a dead letter's JSON (schemas/dead_letter.py), for a label; `unknown` if unreadable."""
    try:
        reason = orjson.loads(letter).get("reason")
    except (orjson.JSONDecodeError, AttributeError):
        return "unknown"
    return reason if isinstance(reason, str) and len(reason) <= 64 else "unknown"
