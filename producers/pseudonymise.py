"""Pseudonymisation at the edge: people become stable keyed hashes before anything leaves the connector."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

Pseudonymiser = Callable[[str], str]


def pseudonym(key: bytes, source: str, source_instance: str, person_id: str) -> str:
    """`p_` and 24 hex digits of HMAC-SHA256(key, source, instance, person id): stable, not reversible without key."""
    material = "\x1f".join((source, source_instance, person_id)).encode("utf-8")
    return "p_" + hmac.new(key, material, hashlib.sha256).hexdigest()[:24]


def pseudonymiser(key: bytes, source: str, source_instance: str) -> Pseudonymiser:
    """A function from a source's person id to its pseudonym, for one source instance."""

    def apply(person_id: str) -> str:
        return pseudonym(key, source, source_instance, person_id)

    return apply


#: The `source` part of a directory person's pseudonym: not a source system, so it never collides with one.
PERSON_SCOPE = "person"


def person_pseudonym(key: bytes, person_id: str) -> str:
    """One pseudonym per person across every source: the keyed hash of the person's id in the people directory."""
    return pseudonym(key, PERSON_SCOPE, "directory", person_id)
