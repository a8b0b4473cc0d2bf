"""The Statement store on the warehouse engine (tables in warehouse/migrations/0006_xapi_statements.sql).

The LRS writes a batch here before it answers, so a conflict and a GET are always checked against what was
stored. Statements are never updated: a voiding Statement adds a row to xapi_voided. The SQL of a Statement query
is built by `query_sql`, pure; the engine's errors become WarehouseError here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from clickhouse_connect.driver.exceptions import ClickHouseError

from learnstream.errors import BadParameter, WarehouseError
from lrs.rows import COLUMNS, decode_row, milliseconds
from lrs.stored_ids import StoredIds
from warehouse.dsn import check_identifier

ATTACHMENT_COLUMNS = {"sha2": "String", "content_type": "String", "data": "String", "stored": "DateTime64(3, 'UTC')"}
VOIDED_COLUMNS = {"id": "String", "voided_by": "String", "stored": "DateTime64(3, 'UTC')"}


class EncodedRow(NamedTuple):
    """A Statement's row as the store inserts it: RowBinary (lrs/rows.py), with its id and `stored`."""

    id: str
    stored: datetime
    data: bytes


class Known(NamedTuple):
    """A stored Statement, or one planned in the group being written, as a re-sent id is compared with it: its
    timestamp as sent (milliseconds since the epoch), the id it voids if it is a voiding Statement, and its JSON
    (`statement` from the store, or the `row` planned), read only when an id is sent again."""

    sent_at_ms: int | None
    voids: str
    statement: str = ""
    row: bytes = b""

    def content(self) -> str:
        """The Statement's JSON as stored."""
        return self.statement or decode_row(self.row).statement


@dataclass(frozen=True)
class Attachment:
    sha2: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class StatementQuery:
    """The filters of GET /statements (without statementId), and where the previous page ended."""

    agent: str | None = None  # lrs/index.py agent_key
    related_agents: bool = False
    verb: str | None = None
    activity: str | None = None
    related_activities: bool = False
    registration: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    ascending: bool = False
    after: tuple[datetime, str] | None = None  # (stored, id) of the last Statement of the previous page
    extra: dict[str, str] = field(default_factory=dict)  # format, attachments: kept for the next page

    def more_token(self, last: tuple[datetime, str]) -> str:
        """An opaque token for the page after `last` (the `more` link)."""
        fields = {
            "agent": self.agent,
            "related_agents": self.related_agents,
            "verb": self.verb,
            "activity": self.activity,
            "related_activities": self.related_activities,
            "registration": self.registration,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "limit": self.limit,
            "ascending": self.ascending,
            "after": [last[0].isoformat(), last[1]],
            "extra": self.extra,
        }
        return base64.urlsafe_b64encode(json.dumps(fields, separators=(",", ":")).encode()).decode().rstrip("=")

    @staticmethod
    def from_more(token: str) -> StatementQuery:
        try:
            fields = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            after = fields["after"]
            return StatementQuery(
                agent=fields["agent"],
                related_agents=bool(fields["related_agents"]),
                verb=fields["verb"],
                activity=fields["activity"],
                related_activities=bool(fields["related_activities"]),
                registration=fields["registration"],
                since=datetime.fromisoformat(fields["since"]) if fields["since"] else None,
                until=datetime.fromisoformat(fields["until"]) if fields["until"] else None,
                limit=int(fields["limit"]),
                ascending=bool(fields["ascending"]),
                after=(datetime.fromisoformat(after[0]), str(after[1])),
                extra={str(key): str(value) for key, value in fields["extra"].items()},
            )
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise BadParameter("more", "is not a link this LRS gave") from exc


def query_sql(database: str, query: StatementQuery) -> tuple[str, dict[str, Any]]:
    """The SELECT of one page (one row more than the limit, to know whether another page follows). Filters other
    than time and paging also match a Statement whose StatementRef targets a matching one (Communication 2.1.3)."""
    db = check_identifier(database, "database")
    matches: list[str] = []
    parameters: dict[str, Any] = {}
    if query.agent is not None:
        matches.append(f"has({'agents' if query.related_agents else 'actors'}, {{agent:String}})")
        parameters["agent"] = query.agent
    if query.verb is not None:
        matches.append("verb = {verb:String}")
        parameters["verb"] = query.verb
    if query.activity is not None:
        matches.append(
            "has(activities, {activity:String})" if query.related_activities else "activity = {activity:String}"
        )
        parameters["activity"] = query.activity
    if query.registration is not None:
        matches.append("registration = {registration:String}")
        parameters["registration"] = query.registration.lower()
    conditions = [f"id NOT IN (SELECT id FROM {db}.xapi_voided)"]
    if matches:
        matching = " AND ".join(matches)
        conditions.append(
            f"(({matching}) OR (ref != '' AND ref IN (SELECT id FROM {db}.xapi_statements WHERE {matching})))"
        )
    if query.since is not None:
        conditions.append("stored > {since:DateTime64(3, 'UTC')}")
        parameters["since"] = query.since
    if query.until is not None:
        conditions.append("stored <= {until:DateTime64(3, 'UTC')}")
        parameters["until"] = query.until
    order = "ASC" if query.ascending else "DESC"
    if query.after is not None:
        beyond = ">" if query.ascending else "<"
        conditions.append(f"(stored, id) {beyond} ({{after_stored:DateTime64(3, 'UTC')}}, {{after_id:String}})")
        parameters["after_stored"], parameters["after_id"] = query.after
    sql = (
        f"SELECT statement, stored, id FROM {db}.xapi_statements WHERE {' AND '.join(conditions)} "
        f"ORDER BY stored {order}, id {order} LIMIT {int(query.limit) + 1}"
    )
    return sql, parameters


class StatementStore:
    """The Statement tables through a clickhouse-connect client (serve's locked one in embedded mode). With
    `stored_ids` (only where this process is the tables' only writer), ids it certainly lacks are not looked up."""

    def __init__(self, client: Any, database: str, stored_ids: StoredIds | None = None) -> None:
        self.client = client
        self.db = check_identifier(database, "database")
        self.stored_ids = stored_ids

    def count(self) -> int:
        """How many Statements are stored."""
        return int(self._query(f"SELECT count() FROM {self.db}.xapi_statements", {})[0][0])

    def seed_stored_ids(self, page: int = 200_000) -> None:
        """Add every stored id to `stored_ids`, page by page in id order, then trust it (serve runs this on a thread
        of its own at start; until it is done, every id is looked up)."""
        if self.stored_ids is None:
            return
        after = ""
        while True:
            rows = self._query(
                f"SELECT id FROM {self.db}.xapi_statements WHERE id > {{after:String}} ORDER BY id LIMIT {int(page)}",
                {"after": after},
            )
            self.stored_ids.add(str(row[0]) for row in rows)
            if len(rows) < page:
                break
            after = str(rows[-1][0])
        self.stored_ids.seeded = True

    def known(self, ids: Sequence[str]) -> dict[str, Known]:
        """The stored Statements among `ids` (lowercase)."""
        if self.stored_ids is not None:
            ids = [item for item in ids if self.stored_ids.might_hold(item)]
        if not ids:
            return {}
        rows = self._query(
            f"SELECT id, any(sent_at), any(voids), any(statement) FROM {self.db}.xapi_statements "
            "WHERE id IN {ids:Array(String)} GROUP BY id",
            {"ids": list(ids)},
        )
        return {
            str(row[0]): Known(None if row[1] is None else milliseconds(row[1]), str(row[2]), str(row[3]))
            for row in rows
        }

    def write(
        self, rows: Sequence[EncodedRow], attachments: Sequence[Attachment], voided: Sequence[tuple[str, str, datetime]]
    ) -> None:
        """Store a batch: attachments first, then the Statements, then what they void (each insert is atomic; a
        batch cut short is stored again whole when the client retries, and identical Statements are not stored
        twice: `known` finds them). The rows go to the engine as they are, in one RowBinary insert."""
        if self.stored_ids is not None:
            self.stored_ids.add(row.id for row in rows)  # before the insert: it must never miss an id
        try:
            if attachments:
                self.client.insert(
                    "xapi_attachments",
                    [[item.sha2, item.content_type, item.data, rows[0].stored] for item in attachments],
                    column_names=list(ATTACHMENT_COLUMNS),
                    column_type_names=list(ATTACHMENT_COLUMNS.values()),
                    database=self.db,
                )
            if rows:
                self.client.raw_insert(
                    f"{self.db}.xapi_statements",
                    list(COLUMNS),
                    b"".join(row.data for row in rows),
                    fmt="RowBinary",
                )
            if voided:
                self.client.insert(
                    "xapi_voided",
                    [list(item) for item in voided],
                    column_names=list(VOIDED_COLUMNS),
                    column_type_names=list(VOIDED_COLUMNS.values()),
                    database=self.db,
                )
        except ClickHouseError as exc:
            raise WarehouseError(f"cannot store the Statements: {exc}") from exc

    def one(self, statement_id: str, voided: bool) -> tuple[str, datetime, list[str]] | None:
        """A Statement by id: with `voided`, only if it is voided (voidedStatementId), else only if it is not."""
        test = "IN" if voided else "NOT IN"
        rows = self._query(
            f"SELECT statement, stored, attachments FROM {self.db}.xapi_statements WHERE id = {{id:String}} "
            f"AND id {test} (SELECT id FROM {self.db}.xapi_voided WHERE id = {{id:String}}) ORDER BY stored LIMIT 1",
            {"id": statement_id.lower()},
        )
        return (str(rows[0][0]), rows[0][1], list(rows[0][2])) if rows else None

    def find(self, query: StatementQuery) -> tuple[list[str], tuple[datetime, str] | None]:
        """One page of Statements (their JSON) and, when more follow, where this page ended."""
        sql, parameters = query_sql(self.db, query)
        rows = self._query(sql, parameters)
        page = rows[: query.limit]
        last = (page[-1][1], str(page[-1][2])) if len(rows) > query.limit and page else None
        return [str(row[0]) for row in page], last

    def attachments(self, hashes: Sequence[str]) -> list[Attachment]:
        if not hashes:
            return []
        rows = self._query(
            f"SELECT sha2, any(content_type), any(data) FROM {self.db}.xapi_attachments "
            "WHERE sha2 IN {hashes:Array(String)} GROUP BY sha2",
            {"hashes": list(hashes)},
            binary=True,  # the contents are bytes, not text
        )
        return [Attachment(_text(row[0]), _text(row[1]), _bytes(row[2])) for row in rows]

    def latest_stored(self) -> datetime | None:
        rows = self._query(f"SELECT max(stored), count() FROM {self.db}.xapi_statements", {})
        return rows[0][0] if rows and rows[0][1] else None

    def _query(self, sql: str, parameters: dict[str, Any], binary: bool = False) -> list[Any]:
        formats = {"String": "bytes"} if binary else None
        try:
            return list(self.client.query(sql, parameters=parameters, query_formats=formats).result_rows)
        except ClickHouseError as exc:
            raise WarehouseError(f"cannot read the Statements: {exc}") from exc


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
