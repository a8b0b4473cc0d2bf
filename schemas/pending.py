"""The records of `<ns>.connector.pending`: notifications a receiver acknowledged before fetching what they point at.

A receiver whose source posts ids only (Graph's basic change notifications) answers at once and leaves one record
per notification here; its fetch half (`connect run <name>`) reads them back, fetches and publishes activities.
A record holds the notification as the source sent it, less any shared secret, never message content. The key is
`<receiver name>/<group>`: one group's notifications (a channel's) share a partition and so keep their order, and
each fetch half reads only the records whose key names its receiver.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from schemas.activity import StrictModel

PENDING_SCHEMA_VERSION: Literal[1] = 1
#: Between the receiver name (which never holds it) and the group in a key.
KEY_SEPARATOR = "/"


class PendingNotification(StrictModel):
    """One notification a receiver acknowledged, waiting for its fetch half."""

    schema_version: Literal[1] = PENDING_SCHEMA_VERSION
    receiver: str = Field(min_length=1, max_length=64, description="The receiver instance that acknowledged it.")
    received_at: AwareDatetime = Field(description="When the receiver received the request that carried it.")
    notification: dict[str, Any] = Field(description="The notification as the source sent it, less its secrets.")


def pending_key(receiver: str, group: str) -> bytes:
    """The key of a pending record: the receiver, then the group whose notifications must stay in order."""
    return f"{receiver}{KEY_SEPARATOR}{group}".encode()


def is_for(key: bytes | None, receiver: str) -> bool:
    """Whether a pending record's key names `receiver`."""
    return key is not None and key.startswith(f"{receiver}{KEY_SEPARATOR}".encode())
