"""The Statement resource's work between HTTP and the store: what a PUT or POST stores and publishes, what a GET
returns. HTTP itself (credentials, headers, status codes) is server/lrs_routes.py.

A write is drafted without the store (lrs/drafting.py: parsing, validation, attachments, signatures, what the LRS
assigns; in worker processes, lrs/workers.py), then settled here against the store (ids already stored, voiding
rules); the writer (lrs/writer.py) publishes the pseudonymised activities and stores the batch, in that order and
before it answers: a batch whose publication failed is not stored, so the client's retry publishes it again; one
stored after its publication is found identical on a retry and not stored or published twice (activity ids are
deterministic, so a second publication would not count twice either).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from lrs import index
from lrs.drafting import Draft, Drafted, StatementRejected, strict_json
from lrs.iso8601 import parse_timestamp
from lrs.rows import decode_row
from lrs.statements import stored_content_hash
from lrs.store import Attachment, EncodedRow, Known, StatementQuery, StatementStore
from lrs.validation import Violation
from lrs.workers import DraftingPool
from producers.contracts import OutgoingRecord

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


@dataclass
class Plan:
    """What one write stores and publishes, and the ids it answers with (in the order sent)."""

    ids: list[str]
    rows: list[EncodedRow] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    voided: list[tuple[str, str, datetime]] = field(default_factory=list)
    outgoing: list[OutgoingRecord] = field(default_factory=list)


class Lrs:
    """The Statement resource over one store: writes are drafted by `drafting` (lrs/drafting.py, in worker
    processes) and settled here; reads are answered from the store."""

    def __init__(self, store: StatementStore, drafting: DraftingPool) -> None:
        self.store = store
        self.drafting = drafting

    # --- writing ---------------------------------------------------------------------------------------------

    def settle_group(self, drafts: Sequence[Draft], known: dict[str, Known]) -> list[Plan | StatementRejected]:
        """Settle drafts that are written together, in order, against `known` (the stored Statements among the
        ids they name): each gets its plan or its own refusal, and a Statement planned for an earlier draft
        counts as stored for a later one."""
        results: list[Plan | StatementRejected] = []
        for draft in drafts:
            try:
                results.append(self.settle(draft, known))  # settle() adds its Statements to `known`
            except StatementRejected as exc:
                results.append(exc)
        return results

    def settle(self, draft: Draft, known: dict[str, Known]) -> Plan:
        """What a drafted write stores and publishes, given `known`, which it extends with what it stores;
        StatementRejected (400 for voiding a voiding Statement, 409 for another Statement under a stored id)."""
        self._check_voiding(draft, known)
        plan = Plan(ids=[])
        for position, item in enumerate(draft.statements):
            plan.ids.append(item.id)
            if item.id in known:
                if item.given:  # a derived id names its content already: the same Statement, sent again
                    _same_or_conflict(position, item, known[item.id])
                continue
            plan.rows.append(EncodedRow(item.id, draft.stored, item.row))
            known[item.id] = Known(item.sent_at_ms, item.voids, row=item.row)  # a repeat later in the group is compared
            if item.voids:
                plan.voided.append((item.voids, item.id, draft.stored))
            if item.outgoing is not None:
                plan.outgoing.append(item.outgoing)
            else:
                logger.warning("Statement %s is stored but not published: %s", item.id, item.unpublished)
        if plan.rows:
            plan.attachments = draft.attachments
        return plan

    @staticmethod
    def _check_voiding(draft: Draft, known: dict[str, Known]) -> None:
        """A voiding Statement cannot void a voiding Statement (Data 2.3.2), stored or in the same batch."""
        if not draft.voiding:
            return
        voiding = {draft.statements[position].id for position, _ in draft.voiding}
        for position, target in draft.voiding:
            if target in voiding or (target in known and known[target].voids):
                violation = Violation("object.id", "voiding", f"Statement {target} is itself a voiding Statement.")
                raise StatementRejected(400, "a voiding Statement cannot be voided", [(position, violation)])

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


def _same_or_conflict(position: int, sent: Drafted, stored: Known) -> None:
    """A Statement sent again under a stored id is the same one (nothing to do) or a conflict (409): compared by
    the instant of its timestamp (to the millisecond, as stored) when both have one, and by content (Data 2.3.1).
    The content is compared only here, when an id comes again: the JSON of both as stored, whose comparison hash is
    that of the Statement as sent (`content_hash` leaves out everything the LRS assigns)."""
    same = (sent.sent_at_ms is None or stored.sent_at_ms is None or sent.sent_at_ms == stored.sent_at_ms) and (
        stored_content_hash(decode_row(sent.row).statement) == stored_content_hash(stored.content())
    )
    if not same:
        raise StatementRejected(
            409,
            f"Statement {sent.id} is already stored with other content; Statements cannot be changed "
            f"(statement {position})",
        )


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
