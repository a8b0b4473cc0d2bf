"""Identity resolution at the edge: a source account becomes the pseudonym of its person in the directory.

An account is resolved by the account itself (HR listed it), else by the e-mail address the source's own user
list gives for it; a resolved account gets the person's pseudonym, the same in every source. An account that
cannot be resolved gets a pseudonym scoped to its source instance, and is counted, so `connect check` can say
how many there are.
"""

from __future__ import annotations

from collections.abc import Mapping

from producers.directory import AccountKind, Directory
from producers.pseudonymise import person_pseudonym, pseudonym


class IdentityResolver:
    """A `Pseudonymiser` for one source instance that resolves accounts through the directory first."""

    def __init__(
        self,
        directory: Directory,
        key: bytes,
        source: str,
        source_instance: str,
        account_kind: AccountKind,
        emails: Mapping[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.key = key
        self.source = source
        self.source_instance = source_instance
        self.account_kind = account_kind
        self.emails = dict(emails or {})
        self.resolved: set[str] = set()
        self.unresolved: set[str] = set()
        #: account -> its person's pseudonym: an account acts many times, and once resolved it stays resolved (the
        #: directory does not change under a resolver)
        self._pseudonyms: dict[str, str] = {}
        #: account -> its source-scoped pseudonym, while no e-mail is known for it: an e-mail learnt later (a user
        #: lookup) may still resolve the account, so a cached entry counts only while `emails` lacks the account
        self._stand_ins: dict[str, str] = {}

    def person_of(self, account: str) -> str | None:
        """The directory's id of the person holding `account`, by the account, else by the source's e-mail for it."""
        person_id = self.directory.by_account(self.account_kind, account)
        if person_id is None and (email := self.emails.get(account)):
            person_id = self.directory.by_email(email)
        return person_id

    def __call__(self, account: str) -> str:
        """The account's pseudonym: its person's, or one scoped to this source instance if it is unresolved."""
        known = self._pseudonyms.get(account)
        if known is not None:
            return known
        stand_in = self._stand_ins.get(account)
        if stand_in is not None and account not in self.emails:
            return stand_in
        person_id = self.person_of(account)
        if person_id is None:
            self.unresolved.add(account)
            made = self._stand_ins[account] = pseudonym(self.key, self.source, self.source_instance, account)
            return made
        self.unresolved.discard(account)
        self.resolved.add(account)
        made = self._pseudonyms[account] = person_pseudonym(self.key, person_id)
        return made

    def is_resolved(self, account: str) -> bool:
        """Whether the account belongs to a person of the directory."""
        return self.person_of(account) is not None
