"""The first half of a Statement write: everything that needs no store. Pure, so it runs in worker processes.

A PUT or POST body is parsed, validated (Statements, attachments, signatures), and each Statement is drafted as
the LRS would store it (id, stored, authority...), with the columns its filters read and the pseudonymised
activity it publishes. What depends on the store (ids already stored, voiding a voiding Statement, 409) is the
second half, lrs/service.py's `Lrs.settle`, in serve's process. The split lets both cores parse and validate
while serve's process publishes and stores (lrs/workers.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from learnstream.errors import ConnectorError, UsageError
from lrs import index
from lrs.attachments import AttachmentPart, attachment_violations, media_type, parse_multipart
from lrs.comparison import canonical
from lrs.rows import Record, encode_row, milliseconds
from lrs.signature import batch_signature_violations
from lrs.statements import authority_for, prepared, sent_instant
from lrs.store import Attachment
from lrs.validation import VOIDED, Violation, batch_violations, is_2_0, voided_statement_id
from producers.contracts import OutgoingRecord
from producers.elearning.xapi import statement_record
from producers.pseudonymise import Pseudonymiser

#: The namespace of the ids the LRS gives Statements sent without one.
DERIVED_IDS = uuid.UUID("6f1d7c3e-4b8a-5e2f-9a61-3c0d2b7e8f14")


class StatementRejected(UsageError):
    """A Statement request the LRS refuses: `status` (400, 404, 409 or 500) and a JSON body saying why."""

    def __init__(self, status: int, message: str, violations: Sequence[tuple[int | None, Violation]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"error": message}
        if violations:
            self.body["violations"] = [
                {"statement": position, "path": item.path, "rule": item.rule, "message": item.message}
                for position, item in violations
            ]

    def __reduce__(self) -> tuple[Any, ...]:  # it crosses from a worker process: keep status and body
        return (_rejected, (self.status, str(self), self.body))


def _rejected(status: int, message: str, body: dict[str, Any]) -> StatementRejected:
    rejected = StatementRejected(status, message)
    rejected.body = body
    return rejected


@dataclass(frozen=True)
class Received:
    """A PUT or POST body: its Statements, the attachment parts, and whether it was one Statement or a list."""

    statements: list[Any]
    parts: list[AttachmentPart]
    single: bool


@dataclass(frozen=True)
class Request:
    """One write as it arrived: the body and its Content-Type, the version and credentials it came with, PUT's
    statementId, and when it arrived (the `stored` of its Statements)."""

    content_type: str
    body: bytes
    version: str
    credential: str
    stored: datetime
    statement_id: str | None = None


class Drafted(NamedTuple):
    """One Statement of a request, ready to store unless its id is stored already: its row, encoded (lrs/rows.py),
    what a re-sent id is compared by, and its activity. A named tuple of plain values: one crosses from a worker
    process per Statement."""

    id: str
    given: bool  # the client sent the id (a derived id names the content: sent again, it is the same Statement)
    sent_at_ms: int | None  # the timestamp the client sent, in milliseconds since the epoch
    voids: str  # the id it voids, if it is a voiding Statement
    row: bytes
    outgoing: OutgoingRecord | None  # None: stored as the LRS must, but nobody to count it for (`unpublished`)
    unpublished: str = ""


@dataclass(frozen=True)
class Draft:
    """A valid request's Statements, in the order sent, and what settling it against the store needs."""

    statements: list[Drafted]
    stored: datetime  # the request's arrival: the `stored` of its Statements
    attachments: list[Attachment] = field(default_factory=list)
    voiding: list[tuple[int, str]] = field(default_factory=list)  # (position, the id it voids) per voiding Statement

    def named(self) -> list[str]:
        """The ids the store is asked about: the Statements' own and those their voiding Statements void."""
        return [item.id for item in self.statements] + [target for _, target in self.voiding]


@dataclass(frozen=True)
class Drafter:
    """Drafts writes for the LRS whose authority's homePage is `home_page`, publishing as source `xapi` of
    `instance`; `derive_ids` names the credentials whose id-less Statements get derived ids."""

    people: Pseudonymiser
    home_page: str
    instance: str
    derive_ids: frozenset[str] = frozenset()

    def draft(self, request: Request) -> Draft:
        """The request's Draft; StatementRejected (400) when it breaks the specification."""
        sent = received(request.content_type, request.body)
        statements = sent.statements
        if request.statement_id is not None:
            statements = _put_statement(sent, request.statement_id)
        found: list[tuple[int | None, Violation]] = [*batch_violations(statements, request.version)]
        if not found:
            found += attachment_violations(statements, sent.parts)
            found += batch_signature_violations(statements, sent.parts)
        if found:
            raise StatementRejected(400, "the request breaks the xAPI specification; nothing was stored", found)
        two = is_2_0(request.version)
        authority = authority_for(request.credential, self.home_page)
        derive = request.credential in self.derive_ids
        drafted: list[Drafted] = []
        voiding: list[tuple[int, str]] = []
        for position, statement in enumerate(statements):
            given = "id" in statement
            if given:
                statement_id = str(statement["id"]).lower()
            else:
                derived = derived_id(request.credential, statement) if derive else None
                statement_id = derived or str(uuid.uuid4())
            kept = prepared(
                {**statement, "id": statement_id}, stored=request.stored, authority=authority, version_2=two
            )
            outgoing, unpublished = None, ""
            try:
                outgoing = statement_record(kept, self.instance, self.people)
            except (ConnectorError, ValueError) as exc:
                unpublished = str(exc)
            record = self._record(statement, kept, request.stored)
            sent_at = None if record.sent_at is None else milliseconds(record.sent_at)
            row = encode_row(record)
            drafted.append(Drafted(statement_id, given, sent_at, record.voids, row, outgoing, unpublished))
            if (target := voided_statement_id(statement)) is not None:
                voiding.append((position, target.lower()))
        return Draft(drafted, request.stored, _attachments(statements, sent.parts), voiding)

    def _record(self, sent: dict[str, Any], kept: dict[str, Any], stored_at: datetime) -> Record:
        target = kept["object"]
        ref = str(target.get("id", "")).lower() if target.get("objectType") == "StatementRef" else ""
        people = []
        for key in index.everyone(kept):
            identifier = _identifier_of(key)
            if identifier is not None:
                people.append(self.people(identifier))
        registration = (kept.get("context") or {}).get("registration")
        return Record(
            id=kept["id"],
            stored=stored_at,
            sent_at=sent_instant(sent),
            verb=kept["verb"]["id"],
            ref=ref,
            voids=ref if kept["verb"]["id"] == VOIDED else "",
            actors=index.actors(kept),
            agents=index.related_agents(kept),
            activity=index.object_activity(kept),
            activities=index.related_activities(kept),
            registration=str(registration).lower() if registration else "",
            people=sorted(set(people)),
            # every declared hash: one with a fileUrl may have come with its data too (then it is returned as well)
            attachments=sorted({str(item["sha2"]) for item in kept.get("attachments") or []}),
            statement=stored_json(kept),
        )


#: The body with JSON's whitespace removed (inside strings too) and every digit written 0: a text where every key
#: ends in `":` and an integer beyond 64 bits (which orjson would read as a float) shows as twenty 0s in a row.
_SQUEEZE = bytes.maketrans(b"123456789", b"000000000")
_WHITESPACE = b" \t\n\r"
_LONG_INTEGER = b"0" * 20


def strict_json(body: bytes) -> Any:
    """JSON with every object's keys once (Data 2.2.s4.b5: duplicate keys are ambiguous, so they are refused).

    orjson reads a body at a third of the cost of `json` with a hook that checks every object, but it keeps the
    last of duplicate keys silently. So its document is taken only when it certainly has every key the text has:
    without whitespace, every key of the text ends in `":`, and only a key or a string holding `":` does, so the
    text has at most that many keys; the document has that many less one per duplicate; if it has exactly that
    many, there is none. Any other body (a string holding `":`, an integer beyond 64 bits, what orjson refuses) is
    read the exact way, `json` with the check, which also names the duplicate key and refuses what is not JSON as
    before. (The worker checks activities the same way: streams/processing.py `duplicate_key_problem`.)"""
    squeezed = body.translate(_SQUEEZE, _WHITESPACE)
    if _LONG_INTEGER not in squeezed:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        else:
            if squeezed.count(b'":') == _keys_in(document):
                return document
    return _checked_json(body)


def _keys_in(value: Any) -> int:
    """How many keys the objects of a JSON document hold, nested ones included."""
    items: Iterable[Any]
    if type(value) is dict:
        count, items = len(value), value.values()
    elif type(value) is list:
        count, items = 0, value
    else:
        return 0
    for item in items:
        if type(item) is dict or type(item) is list:
            count += _keys_in(item)
    return count


def _checked_json(body: bytes) -> Any:
    """`json` with every object's keys checked as it is read."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in items:
            if key in found:
                raise StatementRejected(400, f"the JSON has the key {key!r} twice in one object")
            found[key] = value
        return found

    try:
        return json.loads(body, object_pairs_hook=pairs)
    except (UnicodeDecodeError, ValueError) as exc:
        raise StatementRejected(400, f"the body is not JSON: {exc}") from exc


def received(content_type: str, body: bytes) -> Received:
    """The Statements of a PUT or POST, from application/json or multipart/mixed."""
    kind = media_type(content_type or "application/json")
    parts: list[AttachmentPart] = []
    if kind == "multipart/mixed":
        multipart = parse_multipart(content_type, body)
        body, parts = multipart.statements, list(multipart.attachments)
    elif kind != "application/json":
        raise StatementRejected(
            400, f"Content-Type {kind!r}: send application/json, or multipart/mixed with attachments"
        )
    document = strict_json(body)
    if isinstance(document, list):
        return Received(document, parts, single=False)
    return Received([document], parts, single=True)


def derived_id(credential: str, statement: dict[str, Any]) -> str | None:
    """For credentials with `derive_ids`: the id of a Statement sent without one but with a timestamp, derived from
    the credentials and everything it holds but its registration, so a client that sends it again (Moodle's
    logstore_xapi sends no ids and re-sends failed batches with a new registration) gets the same id, and it is
    stored and counted once. None without a timestamp: two such Statements may well be two events."""
    if not isinstance(statement.get("timestamp"), str):
        return None
    context = statement.get("context")
    if isinstance(context, dict) and "registration" in context:
        statement = {**statement, "context": {key: value for key, value in context.items() if key != "registration"}}
    return str(uuid.uuid5(DERIVED_IDS, credential + "\x1f" + canonical(statement)))


def stored_json(statement: dict[str, Any]) -> str:
    """A Statement's JSON as stored (compact)."""
    try:
        return orjson.dumps(statement).decode()
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        return json.dumps(statement, ensure_ascii=False, separators=(",", ":"))


def _put_statement(sent: Received, statement_id: str) -> list[Any]:
    if not sent.single:
        raise StatementRejected(400, "PUT takes one Statement, not a list; POST a list")
    statement = sent.statements[0]
    if isinstance(statement, dict):
        if "id" not in statement:
            return [{**statement, "id": statement_id}]
        given = statement["id"]
        if isinstance(given, str) and given.lower() != statement_id.lower():
            raise StatementRejected(400, f"the Statement's id {given} is not the statementId {statement_id}")
    return [statement]  # an id that is not a string is the validation's to refuse


def _attachments(statements: list[Any], parts: list[AttachmentPart]) -> list[Attachment]:
    """The attachment parts a Statement declares, once per hash."""
    declared = {
        str(item.get("sha2", "")).lower(): str(item.get("contentType", "application/octet-stream"))
        for statement in statements
        for item in statement.get("attachments") or []
    }
    kept: dict[str, Attachment] = {}
    for part in parts:
        sha2 = (part.sha2 or "").strip().lower()
        if sha2 in declared:
            kept[sha2] = Attachment(sha2, part.content_type or declared[sha2], part.data)
    return list(kept.values())


def _identifier_of(key: str) -> str | None:
    """The `actor_identifier` string of an index key (`Agent|mbox|mailto:...` -> `mbox:mailto:...`)."""
    _, kind, rest = key.split("|", 2) if key.count("|") >= 2 else ("", "", "")
    return f"{kind}:{rest}" if kind else None
