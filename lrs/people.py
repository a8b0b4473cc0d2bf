"""Who an xAPI agent is, as every other source says it: the pseudonym of its person in the directory.

An LMS names a learner by an e-mail address (`mbox`) or an account on the LMS (`account`), and HR's directory
lists both kinds. An `mbox` resolves by the directory's `mbox` accounts, else by the people's e-mail addresses.
An account resolves by `<homePage>|<name>` among the directory's `lms` accounts (so two LMSs whose numeric user
ids collide can be told apart), else by the bare name (what a single LMS's directory lists). Either gives the
person's pseudonym, the same as in chat and the wiki. `mbox_sha1sum` and `openid` cannot be looked up, so they get
a pseudonym scoped to the LRS, like any account the directory does not know.
"""

from __future__ import annotations

from learnstream.errors import ConnectorError
from producers.directory import AccountKind, Directory
from producers.identity import IdentityResolver
from producers.pseudonymise import person_pseudonym
from schemas.activity import SourceSystem

#: Pseudonyms an `XapiPeople` remembers before it starts again: a bound on what many distinct agents can cost.
PSEUDONYM_CACHE = 65_536


class XapiPeople:
    """A `Pseudonymiser` over the identifiers producers/elearning/xapi.py's `actor_identifier` writes."""

    def __init__(self, directory: Directory, key: bytes, instance: str) -> None:
        source = SourceSystem.XAPI.value
        self.directory = directory
        self.key = key
        self.by_mbox = IdentityResolver(directory, key, source, instance, AccountKind.MBOX)
        self.by_account = IdentityResolver(directory, key, source, instance, AccountKind.LMS)
        #: identifier -> its pseudonym: an agent acts many times, and the directory does not change under the
        #: resolvers (nor does what they learn: no e-mail addresses are given to them), so the answer stays the same
        self._pseudonyms: dict[str, str] = {}

    def __call__(self, identifier: str) -> str:
        known = self._pseudonyms.get(identifier)
        if known is None:
            known = self._resolve(identifier)
            if len(self._pseudonyms) >= PSEUDONYM_CACHE:
                self._pseudonyms.clear()
            self._pseudonyms[identifier] = known
        return known

    def _resolve(self, identifier: str) -> str:
        kind, _, value = identifier.partition(":")
        if kind == "mbox":
            address = value.partition(":")[2] if value.lower().startswith("mailto:") else value
            if self.by_mbox.person_of(address) is None and (person := self.directory.by_email(address)) is not None:
                return person_pseudonym(self.key, person)
            return self.by_mbox(address)
        if kind == "account":
            home_page, _, name = value.partition("|")
            qualified = f"{home_page}|{name}"
            return self.by_account(qualified if self.by_account.is_resolved(qualified) else name)
        if kind in ("mbox_sha1sum", "openid"):
            return self.by_account(identifier)  # not in any directory: a pseudonym scoped to this LRS
        raise ConnectorError(f"not an xAPI agent identifier: {kind!r}")
