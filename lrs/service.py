"""The Statement resource's work between HTTP and the store: what a PUT or POST stores and publishes, what a GET
returns. HTTP itself (credentials, headers, status codes) is server/lrs_routes.py.

A write is planned against the store (validation, attachments, signatures, voiding rules, ids already stored),
then the route publishes the pseudonymised activities and stores the batch, in that order and before it answers:
a batch whose publication failed is not stored, so the client's retry publishes it again; one stored after its
publication is found identical on a retry and not stored or published twice (activity ids are deterministic, so a
second publication would not count twice either).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from learnstream.errors import ConnectorError, LearnstreamError, UsageError
from lrs import index
from lrs.attachments import AttachmentPart, attachment_violations, media_type, parse_multipart
from lrs.comparison import canonical
from lrs.iso8601 import parse_timestamp
from lrs.signature import batch_signature_violations
from lrs.statements import authority_for, content_hash, prepared, sent_instant
from lrs.store import Attachment, Known, Record, StatementQuery, StatementStore
from lrs.validation import VOIDED, Violation, batch_violations, is_2_0, voided_statement_id
from producers.contracts import OutgoingRecord
from producers.elearning.xapi import activity_from_statement
from producers.pseudonymise import Pseudonymiser

logger = logging.getLogger(__name__)

#: The parameters GET /statements takes (xAPI 1.0.3 Communication 2.1.3; 2.0 the same).
GET_PARAMETERS = frozenset(
    {
        "statementId",
        "voidedStatementId",
        "agent",
        "verb",
        "activity",
        "registration",
        "related_activities",
        "related_agents",
        "since",
        "until",
        "limit",
        "format",
        "attachments",
        "ascending",
        "more",
    }
)
#: What may come with statementId or voidedStatementId.
SINGLE_PARAMETERS = frozenset({"statementId", "voidedStatementId", "format", "attachments"})
FORMATS = ("exact", "ids", "canonical")
#: The source instance of the activities the LRS publishes (their pseudonyms for unknown accounts are scoped to it).
LRS_INSTANCE = "lrs"


class StatementRejected(UsageError):
    """A Statement request the LRS refuses: `status` (400, 404 or 409) and a JSON body saying why."""

    def __init__(self, status: int, message: str, violations: Sequence[tuple[int | None, Violation]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"error": message}
        if violations:
            self.body["violations"] = [
                {"statement": position, "path": item.path, "rule": item.rule, "message": item.message}
                for position, item in violations
            ]


@dataclass(frozen=True)
class Received:
    """A PUT or POST body: its Statements, the attachment parts, and whether it was one Statement or a list."""

    statements: list[Any]
    parts: list[AttachmentPart]
    single: bool


@dataclass(frozen=True)
class Request:
    """One write: its Statements, the version and credentials it came with, and PUT's statementId."""

    sent: Received
    version: str
    credential: str
    statement_id: str | None = None


@dataclass
class Plan:
    """What one write stores and publishes, and the ids it answers with (in the order sent)."""

    ids: list[str]
    records: list[Record] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    voided: list[tuple[str, str, datetime]] = field(default_factory=list)
    outgoing: list[OutgoingRecord] = field(default_factory=list)


def strict_json(body: bytes) -> Any:
    """JSON with every object's keys once (Data 2.2.s4.b5: duplicate keys are ambiguous, so they are refused)."""

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


class Lrs:
    """The Statement resource over one store, publishing activities as source `xapi` of `instance`."""

    def __init__(
        self,
        store: StatementStore,
        people: Pseudonymiser,
        home_page: str,
        instance: str = LRS_INSTANCE,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        derive_ids: frozenset[str] = frozenset(),
    ) -> None:
        self.derive_ids = derive_ids  # the credentials whose id-less Statements get derived ids
        self.store = store
        self.people = people
        self.home_page = home_page
        self.instance = instance
        self.now = now

    # --- writing ---------------------------------------------------------------------------------------------

    def plan_group(self, requests: Sequence[Request]) -> list[Plan | LearnstreamError]:
        """Plan requests that arrived together, in order, against one lookup of the ids they name: each gets its
        plan or its own error, and a Statement planned for an earlier request counts as stored for a later one."""
        named = [
            str(value).lower()
            for request in requests
            for value in _named_ids(request.sent.statements, request.credential, request.credential in self.derive_ids)
        ]
        named += [request.statement_id.lower() for request in requests if request.statement_id]
        known = self.store.known(sorted(set(named)))
        results: list[Plan | LearnstreamError] = []
        for request in requests:
            try:
                plan = self.plan(request.sent, request.version, request.credential, request.statement_id, known)
            except LearnstreamError as exc:
                results.append(exc)
                continue
            except Exception as exc:  # a fault here fails its own request only, never the group's others
                logger.exception("the LRS failed on a request")
                results.append(StatementRejected(500, f"the LRS failed on this request ({type(exc).__name__})"))
                continue
            results.append(plan)  # plan() added its Statements to `known`: later requests find them
        return results

    def plan(
        self,
        sent: Received,
        version: str,
        credential: str,
        statement_id: str | None = None,
        known: dict[str, Known] | None = None,
    ) -> Plan:
        """Check a PUT (`statement_id`) or POST and say what to store and publish; StatementRejected if refused.
        `known`: the stored Statements among those the request names (looked up here when not given)."""
        statements = sent.statements
        if statement_id is not None:
            statements = self._put_statement(sent, statement_id)
        two = is_2_0(version)
        found: list[tuple[int | None, Violation]] = [*batch_violations(statements, version)]
        if not found:
            found += attachment_violations(statements, sent.parts)
            found += batch_signature_violations(statements, sent.parts)
        if found:
            raise StatementRejected(400, "the request breaks the xAPI specification; nothing was stored", found)
        if known is None:
            named = _named_ids(statements, credential, credential in self.derive_ids)
            known = self.store.known(sorted({str(value).lower() for value in named}))
        self._check_voiding(statements, known)
        stored_at = self.now()
        authority = authority_for(credential, self.home_page)
        plan = Plan(ids=[])
        for position, statement in enumerate(statements):
            if "id" in statement:
                given = str(statement["id"]).lower()
            else:
                derived = derived_id(credential, statement) if credential in self.derive_ids else None
                given = derived or str(uuid.uuid4())
            if given in known:
                if "id" in statement:  # a derived id names its content already: the same Statement, sent again
                    self._same_or_conflict(position, statement, known[given].content_hash, known[given].sent_at)
                plan.ids.append(given)
                continue
            kept = prepared({**statement, "id": given}, stored=stored_at, authority=authority, version_2=two)
            plan.ids.append(kept["id"])
            record = self._record(statement, kept, stored_at)
            plan.records.append(record)
            known[record.id] = Known(record.content_hash, record.sent_at, record.voids)  # a repeat later is the same
            target = voided_statement_id(statement)
            if target is not None:
                plan.voided.append((target.lower(), kept["id"], stored_at))
            try:
                activity = activity_from_statement(kept, self.instance, self.people)
            except (ConnectorError, ValueError) as exc:  # stored as the LRS must, but nobody to count it for
                logger.warning("Statement %s is stored but not published: %s", kept["id"], exc)
                continue
            plan.outgoing.append(OutgoingRecord(activity.conversation_key.encode("utf-8"), activity.to_bytes()))
        if plan.records:
            plan.attachments = self._attachments(statements, sent.parts)
        return plan

    def _put_statement(self, sent: Received, statement_id: str) -> list[Any]:
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

    def _check_voiding(self, statements: list[Any], known: dict[str, Known]) -> None:
        """A voiding Statement cannot void a voiding Statement (Data 2.3.2), stored or in the same batch."""
        targets = {
            str(voided_statement_id(item)).lower(): n for n, item in enumerate(statements) if voided_statement_id(item)
        }
        if not targets:
            return
        in_batch = {str(item.get("id", "")).lower() for item in statements if voided_statement_id(item)}
        stored = {key for key in targets if key in known and known[key].voids}
        for target, position in targets.items():
            if target in in_batch or target in stored:
                violation = Violation("object.id", "voiding", f"Statement {target} is itself a voiding Statement.")
                raise StatementRejected(400, "a voiding Statement cannot be voided", [(position, violation)])

    def _same_or_conflict(
        self, position: int, statement: dict[str, Any], digest: str, sent_at: datetime | None
    ) -> None:
        now_sent = sent_instant(statement)
        same = content_hash(statement) == digest and (
            now_sent is None or sent_at is None or _same_ms(now_sent, sent_at)
        )
        if not same:
            raise StatementRejected(
                409,
                f"Statement {statement['id']} is already stored with other content; Statements cannot be changed "
                f"(statement {position})",
            )

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
            content_hash=content_hash(sent),
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

    def _attachments(self, statements: list[Any], parts: list[AttachmentPart]) -> list[Attachment]:
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

    # --- reading ---------------------------------------------------------------------------------------------

    def query_of(self, params: dict[str, str], max_page: int) -> StatementQuery:
        """The StatementQuery of GET parameters (without statementId); BadParameter-like 400s for wrong ones."""
        if "more" in params:
            return StatementQuery.from_more(params["more"])
        agent = None
        if "agent" in params:
            parsed = strict_json(params["agent"].encode())
            agent = index.agent_key(parsed)
            if agent is None:
                raise StatementRejected(400, "agent: give an Agent or identified Group as JSON, with one identifier")
        limit = _integer(params.get("limit", "0"), "limit")
        return StatementQuery(
            agent=agent,
            related_agents=_boolean(params.get("related_agents", "false"), "related_agents"),
            verb=params.get("verb"),
            activity=params.get("activity"),
            related_activities=_boolean(params.get("related_activities", "false"), "related_activities"),
            registration=params.get("registration"),
            since=_instant(params.get("since"), "since"),
            until=_instant(params.get("until"), "until"),
            limit=max_page if limit == 0 or limit > max_page else limit,
            ascending=_boolean(params.get("ascending", "false"), "ascending"),
            extra={key: params[key] for key in ("format", "attachments") if key in params},
        )


def check_get_parameters(params: dict[str, str]) -> None:
    """Unknown parameters, and filters beside statementId/voidedStatementId, are 400 (Communication 2.1.3)."""
    unknown = sorted(set(params) - GET_PARAMETERS)
    if unknown:
        raise StatementRejected(400, f"unknown parameter(s): {', '.join(unknown)}")
    if "statementId" in params or "voidedStatementId" in params:
        extra = sorted(set(params) - SINGLE_PARAMETERS)
        if extra or ("statementId" in params and "voidedStatementId" in params):
            raise StatementRejected(
                400, "statementId or voidedStatementId takes no other parameter than format and attachments"
            )
    if params.get("format", "exact") not in FORMATS:
        raise StatementRejected(400, f"format: one of {', '.join(FORMATS)}")
    _boolean(params.get("attachments", "false"), "attachments")


#: The namespace of the ids the LRS gives Statements sent without one.
DERIVED_IDS = uuid.UUID("6f1d7c3e-4b8a-5e2f-9a61-3c0d2b7e8f14")


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


def _named_ids(statements: Sequence[Any], credential: str, derive: bool) -> list[str]:
    """The ids a request names: its Statements' own (or derived), and those its voiding Statements void."""
    found: list[str] = []
    for statement in statements:
        if isinstance(statement, dict) and isinstance(statement.get("id"), str):
            found.append(statement["id"])
        elif derive and isinstance(statement, dict) and (derived := derived_id(credential, statement)) is not None:
            found.append(derived)
        if (target := voided_statement_id(statement)) is not None:
            found.append(target)
    return found


def stored_json(statement: dict[str, Any]) -> str:
    """A Statement's JSON as stored (compact)."""
    try:
        return orjson.dumps(statement).decode()
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        return json.dumps(statement, ensure_ascii=False, separators=(",", ":"))


def _identifier_of(key: str) -> str | None:
    """The `actor_identifier` string of an index key (`Agent|mbox|mailto:...` -> `mbox:mailto:...`)."""
    _, kind, rest = key.split("|", 2) if key.count("|") >= 2 else ("", "", "")
    return f"{kind}:{rest}" if kind else None


def _same_ms(first: datetime, second: datetime) -> bool:
    return abs((first - second.replace(tzinfo=second.tzinfo or UTC)).total_seconds()) < 0.001


def _boolean(value: str, name: str) -> bool:
    if value not in ("true", "false"):
        raise StatementRejected(400, f"{name}: true or false, not {value!r}")
    return value == "true"


def _integer(value: str, name: str) -> int:
    if not value.isdigit():
        raise StatementRejected(400, f"{name}: a whole number of 0 or more, not {value!r}")
    return int(value)


def _instant(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    moment = parse_timestamp(value)
    if moment is None:
        raise StatementRejected(400, f"{name}: an ISO 8601 timestamp such as 2026-11-30T08:00:00Z, not {value!r}")
    return moment
