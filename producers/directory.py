"""The people directory: an HR export read at the edge, so every connector resolves a source account to one person.

The export is CSV or JSON, one row per person and period: who the person is (an HR id), their e-mail, team,
department and manager from `valid_from` on, and the accounts they hold in each tool where HR knows them. A person
who moved team has one row per period; accounts may be given on any of their rows. Names and e-mail addresses
are read here only to resolve accounts: nothing of them leaves the connector.

CSV columns: `person_id`, `email`, `team`, `department`, `manager_id`, `valid_from` (an ISO date), and one column
per account kind (`slack`, `wiki`, `confluence`, `mattermost`, `teams`, `lms`, `mbox`) holding `;`-separated
accounts; any of those columns may be left out. JSON: a list of objects with the same fields, accounts as
`{"slack": [...], "wiki": [...], ...}` under `accounts`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from learnstream.errors import ConnectorError
from learnstream.settings import Settings, require_secret_keys
from producers.contracts import Batch, CheckReport, Cursor, OutgoingRecord
from producers.pseudonymise import person_pseudonym
from schemas.directory import DirectoryRecord, TeamMembership

logger = logging.getLogger(__name__)

ACCOUNT_SEPARATOR = ";"
REQUIRED_FIELDS = ("person_id", "team", "valid_from")


class AccountKind(StrEnum):
    """The kinds of source account HR can name for a person."""

    SLACK = "slack"  # a Slack user id (U…/W…), the same in every workspace of an Enterprise Grid
    WIKI = "wiki"  # a MediaWiki user name
    CONFLUENCE = "confluence"  # an Atlassian account id (Confluence Cloud) or a Data Center user key
    MATTERMOST = "mattermost"  # a Mattermost user id
    TEAMS = "teams"  # a Microsoft Entra ID user object id (Teams, Graph)
    LMS = "lms"  # an LMS account name (xAPI `account.name`)
    MBOX = "mbox"  # an e-mail address used as an xAPI `mbox`


@dataclass(frozen=True)
class Membership:
    """Where a person sat in the organisation from `valid_from` on (until their next membership starts)."""

    valid_from: date
    team: str
    department: str | None
    manager_id: str | None


@dataclass(frozen=True)
class Person:
    """One person of the directory: their HR id, e-mail, memberships over time (oldest first) and accounts."""

    person_id: str
    email: str | None
    memberships: tuple[Membership, ...]
    accounts: frozenset[tuple[AccountKind, str]]

    def membership_at(self, day: date) -> Membership | None:
        """The membership in force on `day`: the latest that started on or before it (None before the first)."""
        current = None
        for membership in self.memberships:
            if membership.valid_from > day:
                break
            current = membership
        return current


class Directory:
    """People by HR id, and the index from each source account and e-mail address to its person."""

    def __init__(self, people: Iterable[Person]) -> None:
        self.people: dict[str, Person] = {}
        self._by_account: dict[tuple[AccountKind, str], str] = {}
        self._by_email: dict[str, str] = {}
        for person in people:
            self.people[person.person_id] = person
            for account in person.accounts:
                owner = self._by_account.setdefault(account, person.person_id)
                if owner != person.person_id:
                    raise ConnectorError(  # the account itself is not echoed: it may be an e-mail address
                        f"directory: persons {owner!r} and {person.person_id!r} both hold the same {account[0].value} "
                        "account; an account must name one person"
                    )
            if person.email:
                self._by_email.setdefault(normalise_email(person.email), person.person_id)

    def __len__(self) -> int:
        return len(self.people)

    def by_account(self, kind: AccountKind, account: str) -> str | None:
        """The HR id of the person holding this account, or None if HR does not list it."""
        key = normalise_email(account) if kind is AccountKind.MBOX else account
        return self._by_account.get((kind, key))

    def by_email(self, email: str) -> str | None:
        """The HR id of the person with this e-mail address (case-insensitive), or None."""
        return self._by_email.get(normalise_email(email))


def normalise_email(address: str) -> str:
    """An e-mail address as compared here: without a `mailto:` prefix, surrounding space and case."""
    address = address.strip()
    if address.lower().startswith("mailto:"):
        address = address[len("mailto:") :]
    return address.lower()


def load_directory(path: Path) -> Directory:
    """Read an HR export, CSV or JSON by its suffix; any problem is a ConnectorError naming the file and row."""
    return directory_from_export(read_export(path), path)


def read_export(path: Path) -> bytes:
    """The bytes of an HR export, once its suffix says it is CSV or JSON."""
    if path.suffix.lower() not in EXPORT_FORMATS:
        raise ConnectorError(f"directory export {path}: use a .csv or .json file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConnectorError(f"cannot read the directory export {path}: {exc}") from exc


def directory_from_export(data: bytes, path: Path) -> Directory:
    """A directory from the bytes of an export, read as the format its path's suffix names."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConnectorError(f"directory export {path} is not UTF-8: {exc}") from exc
    return EXPORT_FORMATS[path.suffix.lower()](text, str(path))


def directory_from_csv(text: str, origin: str = "<csv>") -> Directory:
    """A directory from CSV text with a header row (see the module's docstring for the columns)."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))  # spreadsheets often write a BOM
    missing = [name for name in REQUIRED_FIELDS if name not in (reader.fieldnames or ())]
    if missing:
        raise ConnectorError(f"directory export {origin}: the header lacks {', '.join(missing)}")
    rows = []
    for line, row in enumerate(reader, start=2):
        accounts = {kind.value: split_accounts(row.get(kind.value)) for kind in AccountKind}
        rows.append((f"{origin} line {line}", {**row, "accounts": accounts}))
    return directory_from_rows(rows)


def directory_from_json(text: str, origin: str = "<json>") -> Directory:
    """A directory from a JSON list of people (see the module's docstring for the fields)."""
    try:
        document = json.loads(text.removeprefix("\ufeff"))
    except ValueError as exc:
        raise ConnectorError(f"directory export {origin} is not JSON: {exc}") from exc
    if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
        raise ConnectorError(f"directory export {origin}: expected a JSON list of objects, one per person and period")
    return directory_from_rows((f"{origin} item {index}", item) for index, item in enumerate(document))


EXPORT_FORMATS = {".csv": directory_from_csv, ".json": directory_from_json}


def split_accounts(cell: str | None) -> list[str]:
    """The accounts of one CSV cell: `;`-separated, blanks ignored."""
    return [part.strip() for part in (cell or "").split(ACCOUNT_SEPARATOR) if part.strip()]


#: One row of a person: the membership it gives, the e-mail address on it, the accounts it names.
Period = tuple[Membership, str | None, set[tuple[AccountKind, str]]]


def directory_from_rows(rows: Iterable[tuple[str, Mapping[str, Any]]]) -> Directory:
    """People from rows (`where`, fields): a person's rows are merged into memberships ordered by `valid_from`."""
    found: dict[str, list[Period]] = {}
    for where, row in rows:
        person_id = required_text(row, "person_id", where)
        membership = Membership(
            valid_from=parse_day(required_text(row, "valid_from", where), where),
            team=required_text(row, "team", where),
            department=optional_text(row, "department", where),
            manager_id=optional_text(row, "manager_id", where),
        )
        email = optional_text(row, "email", where)
        found.setdefault(person_id, []).append((membership, email, accounts_of(row, where)))
    return Directory(person_from_rows(person_id, periods) for person_id, periods in found.items())


def person_from_rows(person_id: str, periods: Sequence[Period]) -> Person:
    """One person from their rows: memberships by start date (two on one date is an error), every account named."""
    memberships = sorted((membership for membership, _, _ in periods), key=lambda membership: membership.valid_from)
    starts = [membership.valid_from for membership in memberships]
    if len(set(starts)) < len(starts):
        raise ConnectorError(f"directory: person {person_id!r} has two rows valid from the same day")
    emails = [email for _, email, _ in periods if email]
    accounts = frozenset(account for _, _, held in periods for account in held)
    return Person(person_id, emails[-1] if emails else None, tuple(memberships), accounts)


def accounts_of(row: Mapping[str, Any], where: str) -> set[tuple[AccountKind, str]]:
    """The (kind, account) pairs of a row's `accounts` mapping; unknown kinds and non-text accounts are errors."""
    given = row.get("accounts") or {}
    if not isinstance(given, Mapping):
        raise ConnectorError(f"{where}: accounts must be an object of account kind -> list of accounts")
    held: set[tuple[AccountKind, str]] = set()
    for kind_name, names in given.items():
        try:
            kind = AccountKind(kind_name)
        except ValueError:
            known = ", ".join(kind.value for kind in AccountKind)
            raise ConnectorError(f"{where}: unknown account kind {kind_name!r} (known: {known})") from None
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise ConnectorError(f"{where}: {kind.value} accounts must be a list of strings")
        held.update((kind, normalise_email(name) if kind is AccountKind.MBOX else name.strip()) for name in names)
    return held


def required_text(row: Mapping[str, Any], field: str, where: str) -> str:
    """A field that must be non-empty text."""
    value = optional_text(row, field, where)
    if value is None:
        raise ConnectorError(f"{where}: {field} is missing")
    return value


def optional_text(row: Mapping[str, Any], field: str, where: str) -> str | None:
    """A text field, stripped; None when absent or blank."""
    value = row.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConnectorError(f"{where}: {field} must be text, not {type(value).__name__}")
    return value.strip() or None


def parse_day(value: str, where: str) -> date:
    """An ISO date (YYYY-MM-DD)."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConnectorError(f"{where}: valid_from {value!r} is not a date (YYYY-MM-DD)") from None


def directory_records(directory: Directory, key: bytes) -> list[DirectoryRecord]:
    """What the directory topic holds of each person: pseudonyms and teams, no HR id, name or e-mail address."""
    return [
        DirectoryRecord(
            person=person_pseudonym(key, person.person_id),
            memberships=tuple(
                TeamMembership(
                    valid_from=membership.valid_from,
                    team=membership.team,
                    department=membership.department,
                    manager=person_pseudonym(key, membership.manager_id) if membership.manager_id else None,
                )
                for membership in person.memberships
            ),
        )
        for person in sorted(directory.people.values(), key=lambda person: person.person_id)
    ]


class ExportDigest(Cursor):
    """The directory connector's cursor: the SHA-256 of the export last published (empty before the first)."""

    sha256: str = ""


class DirectorySnapshot:
    """A connector that publishes the whole directory export, keyed by each person's pseudonym, when it changed.

    The cursor is the SHA-256 of the export's bytes: running again on an unchanged export publishes nothing, and
    a changed export is published whole (the topic is compacted, so each person's latest record is what stays).
    """

    cursor_type = ExportDigest

    def __init__(self, path: Path, key: bytes, name: str = "directory") -> None:
        self.path = path
        self.key = key
        self.name = name

    @classmethod
    def from_settings(cls, settings: Settings, path: Path, name: str = "directory") -> DirectorySnapshot:
        """The connector for an export, pseudonymising with the configured key (never the development key)."""
        require_secret_keys(settings)
        return cls(path, settings.pseudonym_key.get_secret_value().encode("utf-8"), name)

    def start_cursor(self, since: datetime | None) -> ExportDigest:
        """Nothing published yet: the next read publishes the whole export."""
        return ExportDigest()

    def check(self) -> CheckReport:
        """The export parses; how many people, teams and accounts it names."""
        directory = load_directory(self.path)
        teams = {membership.team for person in directory.people.values() for membership in person.memberships}
        accounts = sum(len(person.accounts) for person in directory.people.values())
        return CheckReport([f"{self.path}: {len(directory)} people in {len(teams)} teams, {accounts} accounts"])

    def read(self, cursor: ExportDigest) -> Iterator[Batch[ExportDigest]]:
        """One batch of every person's record, unless the export is the one the cursor names."""
        data = read_export(self.path)  # read once: the cursor names exactly the bytes that were published
        digest = hashlib.sha256(data).hexdigest()
        if digest == cursor.sha256:
            logger.info("directory export %s unchanged since it was last published", self.path)
            return
        records = directory_records(directory_from_export(data, self.path), self.key)
        yield Batch(
            [OutgoingRecord(record.person.encode("ascii"), record.to_bytes()) for record in records],
            ExportDigest(sha256=digest),
        )
