"""Deterministic identifiers: the same source item always gets the same id, wherever and however often it is seen."""

from __future__ import annotations

import hashlib
import re

ACTIVITY_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
_SEPARATOR = "\x1f"  # ASCII unit separator: cannot appear in the parts we join, so no two inputs collide


def activity_id_for(source: str, source_instance: str, native_id: str) -> str:
    """The activity id: 128 bits of SHA-256 over source system, source instance and the source's native id."""
    material = _SEPARATOR.join((source, source_instance, native_id)).encode("utf-8")
    return hashlib.sha256(material).hexdigest()[:32]
