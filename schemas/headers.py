"""Kafka record headers the pipeline carries from stage to stage.

`learnstream-sent-at`: when a connector handed the activity to Kafka, in milliseconds since the epoch as ASCII
digits. The worker copies it onto the learning event, so the loader can tell how long an activity took to become
queryable.
"""

from __future__ import annotations

from collections.abc import Iterable

SENT_AT_HEADER = "learnstream-sent-at"

Headers = list[tuple[str, bytes]]


def sent_at_headers(sent_at_s: float) -> Headers:
    """The headers of a record handed to Kafka at `sent_at_s` (seconds since the epoch)."""
    return [(SENT_AT_HEADER, str(int(sent_at_s * 1000)).encode("ascii"))]


def read_sent_at(headers: Iterable[tuple[str, bytes]] | None) -> float | None:
    """The send time in seconds since the epoch, or None if the record has no readable sent-at header."""
    for name, value in headers or ():
        if name == SENT_AT_HEADER:
            try:
                return int(value) / 1000
            except (TypeError, ValueError):
                return None
    return None


def forwarded_headers(headers: Iterable[tuple[str, bytes]] | None) -> Headers | None:
    """The headers a stage copies from the record it read onto the record it writes (None when there are none).

    Kafka clients hand a consumed record's headers over as (name, value) pairs.
    """
    kept = [(name, value) for name, value in headers or () if name == SENT_AT_HEADER]
    return kept or None
