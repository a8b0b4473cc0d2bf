"""The xAPI Statement store on the real engine (chDB): conflicts found by id, Statements by id and voided id,
filters, paging that neither skips nor repeats, StatementRef targets, binary attachments."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lrs.index import actors, agent_key, object_activity, related_activities, related_agents
from lrs.rows import COLUMN_TYPES, COLUMNS, Record, encode_row
from lrs.store import ATTACHMENT_COLUMNS, VOIDED_COLUMNS, Attachment, EncodedRow, StatementQuery, StatementStore
from lrs.stored_ids import StoredIds
from warehouse.connection import connect
from warehouse.dsn import WarehouseTarget
from warehouse.migrations import bundled_migrations, migrate
from warehouse.rollup import LRS_RETAINED, apply_retention

ANN = {"mbox": "mailto:ann@example.com"}
BOB = {"account": {"homePage": "https://lms.example.com", "name": "bob"}}
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"
START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def store(warehouse_path: Path) -> Iterator[StatementStore]:
    database = f"lrs_{uuid.uuid4().hex[:10]}"
    client = connect(WarehouseTarget(engine="chdb", database=database, path=warehouse_path))
    migrate(client, database)
    yield StatementStore(client, database)
    client.command(f"DROP DATABASE IF EXISTS {database}")


def record(statement: dict[str, Any], stored: datetime, attachments: tuple[str, ...] = ()) -> EncodedRow:
    target = statement["object"]
    ref = target["id"] if target.get("objectType") == "StatementRef" else ""
    made = Record(
        id=statement["id"],
        stored=stored,
        sent_at=None,
        verb=statement["verb"]["id"],
        ref=ref,
        voids=ref if statement["verb"]["id"] == VOIDED else "",
        actors=actors(statement),
        agents=related_agents(statement),
        activity=object_activity(statement),
        activities=related_activities(statement),
        registration=str(statement.get("context", {}).get("registration", "")).lower(),
        people=[],
        attachments=list(attachments),
        statement=json.dumps(statement),
    )
    return EncodedRow(made.id, stored, encode_row(made))


def statement(actor: dict[str, Any], verb: str, target: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "actor": actor, "verb": {"id": verb}, "object": target, **more}


def course(number: int) -> dict[str, Any]:
    return {"id": f"http://example.com/course/{number}"}


def ids(found: list[str]) -> list[str]:
    return [json.loads(text)["id"] for text in found]


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("xapi_statements", dict(zip(COLUMNS, COLUMN_TYPES, strict=True))),
        ("xapi_attachments", ATTACHMENT_COLUMNS),
        ("xapi_voided", VOIDED_COLUMNS),
    ],
)
def test_inserts_name_the_tables_column_types(store: StatementStore, table: str, columns: dict[str, str]) -> None:
    described = store.client.query(f"DESCRIBE TABLE {store.db}.{table}").result_rows
    assert {row[0]: row[1] for row in described} == columns


def test_the_statement_table_merges_its_small_parts_less_often(store: StatementStore) -> None:
    engine = store.client.query(
        f"SELECT engine_full FROM system.tables WHERE database = '{store.db}' AND name = 'xapi_statements'"
    ).result_rows[0][0]
    assert "merge_selector_base = 20" in engine


def test_a_row_is_stored_exactly_as_encoded(store: StatementStore) -> None:
    made = Record(
        id=str(uuid.uuid4()),
        stored=datetime(2026, 11, 30, 9, 0, 0, 123_000, tzinfo=UTC),
        sent_at=datetime(1969, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),  # before the epoch: a negative Int64
        verb="http://adlnet.gov/expapi/verbs/answered",
        ref="",
        voids="",
        actors=["Agent|mbox|mailto:zoë@example.com"],
        agents=[],
        activity="http://example.com/ü" + "x" * 200,  # a length over 127: a two-byte varint
        activities=["a", "b" * 20_000],  # over 16,383: a three-byte varint
        registration="",
        people=["p1", "p2"],
        attachments=[],
        statement=json.dumps({"text": "日本語" * 3000}),
    )
    without_timestamp = made._replace(id=str(uuid.uuid4()), sent_at=None)
    store.write([EncodedRow(item.id, item.stored, encode_row(item)) for item in (made, without_timestamp)], [], [])
    rows = store.client.query(
        f"SELECT {', '.join(COLUMNS)} FROM {store.db}.xapi_statements ORDER BY sent_at NULLS LAST"
    ).result_rows
    read = [Record(*row) for row in rows]
    assert len(read) == 2
    for item, expected in zip(read, (made, without_timestamp), strict=True):
        assert item._replace(stored=expected.stored, sent_at=expected.sent_at) == expected
        assert item.stored.astimezone(UTC) == expected.stored
        assert (item.sent_at and item.sent_at.astimezone(UTC)) == expected.sent_at


def test_statements_stored_before_migration_8_are_kept_and_compared(warehouse_path: Path) -> None:
    database = f"lrs_{uuid.uuid4().hex[:10]}"
    client = connect(WarehouseTarget(engine="chdb", database=database, path=warehouse_path))
    try:
        migrate(client, database, bundled_migrations()[:7])
        old = statement(ANN, COMPLETED, course(1))
        client.command(
            f"INSERT INTO {database}.xapi_statements (id, stored, content_hash, verb, statement) VALUES "
            "({id:String}, now64(3), 'an old hash', {verb:String}, {json:String})",
            parameters={"id": old["id"], "verb": COMPLETED, "json": json.dumps(old)},
        )
        assert [migration.version for migration in migrate(client, database)] == [8]
        store = StatementStore(client, database)
        known = store.known([old["id"]])
        assert json.loads(known[old["id"]].content()) == old
        found = store.one(old["id"], voided=False)
        assert found is not None and json.loads(found[0]) == old
    finally:
        client.command(f"DROP DATABASE IF EXISTS {database}")


def test_stored_statements_are_found_by_id_with_what_they_are_compared_by(store: StatementStore) -> None:
    first = statement(ANN, COMPLETED, course(1))
    store.write([record(first, START)], [], [])
    known = store.known([first["id"], str(uuid.uuid4())])
    assert set(known) == {first["id"]} and json.loads(known[first["id"]].content()) == first
    assert known[first["id"]].sent_at_ms is None and known[first["id"]].voids == ""
    found = store.one(first["id"], voided=False)
    assert found is not None and json.loads(found[0]) == first
    assert store.one(first["id"], voided=True) is None


def test_with_a_filter_of_stored_ids_lookups_still_find_every_stored_statement(store: StatementStore) -> None:
    before = [statement(ANN, COMPLETED, course(n)) for n in range(3)]
    store.write([record(item, START) for item in before], [], [])
    filtered = StatementStore(store.client, store.db, StoredIds(capacity=1000))
    assert set(filtered.known([item["id"] for item in before])) == {item["id"] for item in before}  # not seeded
    filtered.seed_stored_ids(page=2)  # pages of two: the last page is short
    assert filtered.stored_ids is not None and filtered.stored_ids.seeded and filtered.stored_ids.count == 3
    after = statement(ANN, COMPLETED, course(9))
    filtered.write([record(after, START)], [], [])
    wanted = [item["id"] for item in [*before, after]]
    assert set(filtered.known([*wanted, str(uuid.uuid4())])) == set(wanted)


def test_a_voided_statement_is_found_only_by_its_voided_id_and_leaves_every_list(store: StatementStore) -> None:
    target = statement(ANN, COMPLETED, course(1))
    voiding = statement(BOB, VOIDED, {"objectType": "StatementRef", "id": target["id"]})
    store.write([record(target, START)], [], [])
    store.write([record(voiding, START + timedelta(seconds=1))], [], [(target["id"], voiding["id"], START)])
    assert store.one(target["id"], voided=False) is None
    assert store.one(target["id"], voided=True) is not None
    listed, _ = store.find(StatementQuery())
    assert ids(listed) == [voiding["id"]]


def test_filters_match_as_the_spec_says(store: StatementStore) -> None:
    ann_one = statement(ANN, COMPLETED, course(1), context={"registration": "AAAAAAAA-0000-4000-8000-000000000001"})
    bob_two = statement(BOB, "http://adlnet.gov/expapi/verbs/attempted", course(2))
    about_ann = statement(BOB, COMPLETED, {"objectType": "Agent", **ANN})
    in_context = statement(
        BOB,
        COMPLETED,
        course(3),
        context={"instructor": ANN, "contextActivities": {"parent": [course(1)]}},
    )
    referring = statement(BOB, "http://example.com/verbs/liked", {"objectType": "StatementRef", "id": ann_one["id"]})
    batch = [ann_one, bob_two, about_ann, in_context, referring]
    store.write([record(item, START + timedelta(seconds=n)) for n, item in enumerate(batch)], [], [])

    def find(**filters: Any) -> set[str]:
        found, _ = store.find(StatementQuery(**filters))
        return set(ids(found))

    ann = agent_key({"objectType": "Agent", **ANN})
    assert find(agent=ann) == {ann_one["id"], about_ann["id"], referring["id"]}  # the ref targets a match
    assert find(agent=ann, related_agents=True) == {ann_one["id"], about_ann["id"], in_context["id"], referring["id"]}
    assert find(verb=COMPLETED) == {ann_one["id"], about_ann["id"], in_context["id"], referring["id"]}
    assert find(activity=course(1)["id"]) == {ann_one["id"], referring["id"]}
    assert find(activity=course(1)["id"], related_activities=True) == {ann_one["id"], in_context["id"], referring["id"]}
    assert find(registration="aaaaaaaa-0000-4000-8000-000000000001") == {ann_one["id"], referring["id"]}
    assert find(since=START + timedelta(seconds=2)) == {in_context["id"], referring["id"]}  # since is exclusive
    assert find(until=START + timedelta(seconds=1)) == {ann_one["id"], bob_two["id"]}  # until is inclusive


@pytest.mark.parametrize("ascending", [False, True])
def test_pages_follow_each_other_without_gaps_or_repeats(store: StatementStore, ascending: bool) -> None:
    same_time = START + timedelta(minutes=5)  # ties in `stored` are ordered by id
    made = [statement(ANN, COMPLETED, course(n)) for n in range(23)]
    store.write(
        [record(item, same_time if n % 3 else START + timedelta(seconds=n)) for n, item in enumerate(made)], [], []
    )
    seen: list[str] = []
    query = StatementQuery(limit=5, ascending=ascending)
    while True:
        found, last = store.find(query)
        seen += ids(found)
        if last is None:
            break
        query = StatementQuery.from_more(query.more_token(last))
    assert sorted(seen) == sorted(item["id"] for item in made) and len(seen) == len(set(seen))


def test_attachments_keep_their_bytes(store: StatementStore) -> None:
    data = bytes(range(256)) + b"\r\n--boundary\r\n"
    store.write(
        [record(statement(ANN, COMPLETED, course(1)), START, ("abc",))], [Attachment("abc", "image/png", data)], []
    )
    assert store.attachments(["abc"]) == [Attachment("abc", "image/png", data)]


def test_statements_expire_after_their_own_retention(store: StatementStore) -> None:
    old, recent = statement(ANN, COMPLETED, course(1)), statement(ANN, COMPLETED, course(2))
    now = datetime.now(UTC)
    store.write(
        [record(old, now - timedelta(days=90), ("old",)), record(recent, now - timedelta(days=3))],
        [Attachment("old", "text/plain", b"x")],
        [],
    )
    assert apply_retention(store.client, store.db, 30, tables=LRS_RETAINED) == list(LRS_RETAINED)
    deadline = time.monotonic() + 60  # the rows already stored expire in a background mutation
    while time.monotonic() < deadline and store.one(old["id"], voided=False) is not None:
        time.sleep(0.5)
    assert store.one(old["id"], voided=False) is None and store.one(recent["id"], voided=False) is not None
    assert store.attachments(["old"]) == []
    assert apply_retention(store.client, store.db, 30, tables=LRS_RETAINED) == []
