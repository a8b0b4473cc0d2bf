"""Who an xAPI agent is, as every other source says it: the pseudonym of its person in the directory.

An LMS names a learner by an e-mail address (`mbox`) or an account on the LMS (`account.name`), and HR's
directory lists both kinds (AccountKind.MBOX, AccountKind.LMS). Either resolves to the person's pseudonym, the
same as in chat and the wiki. `mbox_sha1sum` and `openid` cannot be looked up, so they get a pseudonym scoped to
the LRS, like any account the directory does not know.
"""

from __future__ import annotations

from learnstream.errors import ConnectorError
from producers.directory import AccountKind, Directory
from producers.identity import IdentityResolver
from schemas.activity import SourceSystem


class XapiPeople:
    """A `Pseudonymiser` over the identifiers producers/elearning/xapi.py's `actor_identifier` writes."""

    def __init__(self, directory: Directory, key: bytes, instance: str) -> None:
        source = SourceSystem.XAPI.value
        self.by_mbox = IdentityResolver(directory, key, source, instance, AccountKind.MBOX)
        self.by_account = IdentityResolver(directory, key, source, instance, AccountKind.LMS)

    def __call__(self, identifier: str) -> str:
        kind, _, value = identifier.partition(":")
        if kind == "mbox":
            return self.by_mbox(value.removeprefix("mailto:").removeprefix("MAILTO:"))
        if kind == "account":
            return self.by_account(value.partition("|")[2])
        if kind in ("mbox_sha1sum", "openid"):
            return self.by_account(identifier)  # not in any directory: a pseudonym scoped to this LRS
        raise ConnectorError(f"not an xAPI agent identifier: {kind!r}")
