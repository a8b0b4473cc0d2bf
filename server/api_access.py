"""Who may read what from the HTTP API and the dashboard. Pure.

With tokens in `LEARNSTREAM_API__TOKENS` (or an admin token, which may read everything), every request carries one
as `Authorization: Bearer …`: none, or one that is not configured, is 401; a token without a scope the request
needs is 403. With no token configured at all, the API answers clients on this machine only (403 for others), as
the warehouse routes do, so a fresh install exposes nothing. Tokens are compared in constant time, every one.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import SecretStr

from learnstream.settings import ApiToken

TRENDS = "trends"
STATUS = "status"


def query_scopes(name: str) -> tuple[str, str]:
    """The scopes that may read one named query: every query's, or its own."""
    return TRENDS, f"{TRENDS}:{name}"


@dataclass(frozen=True)
class Access:
    """The answer: whether the request may go on, else its status and message; `client` names it in logs."""

    allowed: bool
    status: int = 200
    message: str = ""
    client: str = ""
    scopes: frozenset[str] = frozenset()

    def may_read(self, scopes: Sequence[str]) -> bool:
        """Whether this client holds any of `scopes` (an admin or this machine without tokens holds all)."""
        return "*" in self.scopes or any(scope in self.scopes for scope in scopes)


def is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def check_access(
    authorization: str | None,
    remote: str | None,
    tokens: Sequence[ApiToken],
    admin_token: SecretStr | None,
    needed: Sequence[str],
) -> Access:
    """Whether a request with this Authorization header from this address may read something `needed` allows."""
    if not tokens and admin_token is None:
        if is_loopback(remote):
            return Access(True, client="this machine", scopes=frozenset({"*"}))
        return Access(
            False,
            403,
            "the API answers this machine only; set LEARNSTREAM_API__TOKENS to give other clients read-only tokens",
        )
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return Access(False, 401, "an API token is required: send `Authorization: Bearer <token>`")
    presented = given.strip().encode()
    holder: Access | None = None
    candidates = [(token.name, token.token, frozenset(token.scopes)) for token in tokens]
    if admin_token is not None:
        candidates.append(("admin", admin_token, frozenset({"*"})))
    for name, secret, scopes in candidates:  # every one compared, so the time says nothing about which matched
        if hmac.compare_digest(presented, secret.get_secret_value().encode()) and holder is None:
            holder = Access(True, client=name, scopes=scopes)
    if holder is None:
        return Access(False, 401, "the API token is not valid")
    if not holder.may_read(needed):
        wanted = " or ".join(f"`{scope}`" for scope in needed)
        return Access(False, 403, f"the token {holder.client!r} lacks the scope {wanted}", holder.client)
    return holder
