"""Pseudonymisation at the edge: people become stable keyed hashes before anything leaves the connector."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import lru_cache

Pseudonymiser = Callable[[str], str]
#: A source account -> the opaque stand-in for it inside native and activity ids.
AccountIds = Callable[[str], str]


def keyed_hash(key: bytes, *parts: str) -> str:
    """24 hex digits of HMAC-SHA256 over the parts joined by the unit separator: stable, not reversible."""
    material = "\x1f".join(parts).encode("utf-8")
    return hmac.new(key, material, hashlib.sha256).hexdigest()[:24]


def pseudonym(key: bytes, source: str, source_instance: str, person_id: str) -> str:
    """`p_` and 24 hex digits of HMAC-SHA256(key, source, instance, person id): stable, not reversible without key."""
    return "p_" + keyed_hash(key, source, source_instance, person_id)


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


#: The `source` part of an opaque account id's material: ids and pseudonyms never share a hash input.
ID_SCOPE = "id"


def opaque_account_id(id_key: bytes, source: str, source_instance: str, account: str) -> str:
    """`a_` and 24 hex digits of HMAC-SHA256 under the id key: stands for a source account inside ids.

    Ids must not change when the pseudonym key is rotated (a replay would then create new activities), and
    must not contain a raw account id or a pseudonym; so a part of an id that names a person is derived from
    a separate key that is set once and never rotated.
    """
    return "a_" + keyed_hash(id_key, ID_SCOPE, source, source_instance, account)


#: Accounts whose opaque id each `account_ids` function remembers (an account reacts many times).
ACCOUNT_ID_CACHE = 65_536


def account_ids(id_key: bytes, source: str, source_instance: str) -> AccountIds:
    """A function from a source's account to its opaque id, for one source instance (memoised in a bounded LRU)."""

    @lru_cache(maxsize=ACCOUNT_ID_CACHE)
    def apply(account: str) -> str:
        return opaque_account_id(id_key, source, source_instance, account)

    return apply
