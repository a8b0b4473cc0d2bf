"""Kafka record headers the pipeline carries from stage to stage.

`learnstream-sent-at`: when a connector handed the activity to Kafka, in milliseconds since the epoch as ASCII
digits. The worker copies it onto the learning event, so the loader can tell how long an activity took to become
queryable.

`learnstream-replay-of`: on a record `learnstream dlq replay` wrote back to its topic, the id of the dead letter it
came from (`<partition>:<offset>` in the dead-letter topic, ASCII): the first dead letter of that message, however
often it was replayed. A stage that sets the record aside again notes it in the new dead letter's `replay_of`, and
every stage carries it on with the record.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.dead_letter import LetterId

SENT_AT_HEADER = "learnstream-sent-at"
REPLAY_OF_HEADER = "learnstream-replay-of"
#: The headers a stage carries from the record it read onto the records it writes.
FORWARDED_HEADERS = frozenset({SENT_AT_HEADER, REPLAY_OF_HEADER})

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
    kept = [(name, value) for name, value in headers or () if name in FORWARDED_HEADERS]
    return kept or None


def replay_of_headers(letter: LetterId) -> Headers:
    """The header of a record replayed from the dead letter `letter`."""
    return [(REPLAY_OF_HEADER, str(letter).encode("ascii"))]


def read_replay_of(headers: Iterable[tuple[str, bytes]] | None) -> LetterId | None:
    """The dead letter a replayed record came from, or None (not a replay, or an unreadable header)."""
    for name, value in headers or ():
        if name == REPLAY_OF_HEADER:
            try:
                return LetterId.parse(value.decode("ascii"))
            except (AttributeError, UnicodeDecodeError, ValueError):
                return None
    return None
