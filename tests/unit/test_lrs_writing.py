"""Writing Statements: drafting (parse, validate, what the LRS assigns) in worker processes, settling drafts against
what is stored (409, voiding rules, a repeat within a group), and when Statements are readable."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lrs.drafting import Draft, Request, StatementRejected
from lrs.rows import decode_row
from lrs.service import Lrs, Plan
from lrs.store import Known
from lrs.workers import DrafterConfig, DraftingPool
from lrs.writer import GroupWriter
from producers.directory import Directory

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CONFIG = DrafterConfig(Directory([]), b"k" * 32, "https://lrs.example.com", "lrs", frozenset({"moodle"}))
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def statement(**changes: Any) -> dict[str, Any]:
    base = {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": "mailto:ann@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "https://lms.example.com/course/7"},
        "timestamp": "2026-11-30T08:00:00Z",
    }
    return {**base, **changes}


def voiding(target: str, **changes: Any) -> dict[str, Any]:
    return statement(verb={"id": VOIDED}, object={"objectType": "StatementRef", "id": target}, **changes)


def request(body: Any, credential: str = "lms", statement_id: str | None = None) -> Request:
    return Request("application/json", json.dumps(body).encode(), "1.0.3", credential, NOW, statement_id)


def draft(body: Any, credential: str = "lms") -> Draft:
    return CONFIG.drafter().draft(request(body, credential))


def settle(*drafts: Draft, known: dict[str, Known] | None = None) -> list[Plan | StatementRejected]:
    lrs = Lrs(store=None, drafting=None)  # type: ignore[arg-type]  # settling reads neither
    return lrs.settle_group(drafts, {} if known is None else known)


def test_a_draft_holds_what_the_lrs_stores_and_publishes() -> None:
    sent = [statement(), statement()]
    drafted = draft(sent)
    assert [item.id for item in drafted.statements] == [item["id"] for item in sent]
    assert all(item.given and item.outgoing is not None for item in drafted.statements)
    kept = json.loads(decode_row(drafted.statements[0].row).statement)
    assert kept["stored"] == "2026-11-30T09:00:00.000Z"
    assert kept["authority"]["account"] == {"homePage": "https://lrs.example.com", "name": "lms"}
    assert drafted.named() == [item["id"] for item in sent]


def test_an_invalid_statement_is_refused_when_drafted_naming_index_and_path() -> None:
    with pytest.raises(StatementRejected) as refused:
        draft([statement(), statement(verb={"display": {"en-US": "did"}})])
    assert refused.value.status == 400
    assert refused.value.body["violations"][0]["statement"] == 1
    assert refused.value.body["violations"][0]["path"].startswith("verb")


def test_a_refusal_crosses_a_process_boundary_whole() -> None:
    refusal = StatementRejected(409, "taken")
    refusal.body["violations"] = [{"statement": 3}]
    copy = pickle.loads(pickle.dumps(refusal))
    assert (copy.status, str(copy), copy.body) == (409, "taken", refusal.body)


def test_new_statements_are_stored_and_published() -> None:
    [plan] = settle(draft([statement(), statement()]))
    assert isinstance(plan, Plan)
    assert len(plan.rows) == len(plan.outgoing) == 2 and plan.ids == [row.id for row in plan.rows]
    assert [decode_row(row.data).id for row in plan.rows] == plan.ids and all(row.stored == NOW for row in plan.rows)


def test_a_stored_id_sent_again_is_the_same_statement_or_a_conflict() -> None:
    sent = statement()
    stored = draft([sent]).statements[0]
    assert stored.sent_at_ms == int(datetime(2026, 11, 30, 8, tzinfo=UTC).timestamp() * 1000)
    known = {sent["id"]: Known(stored.sent_at_ms, "", statement=decode_row(stored.row).statement)}  # as the store
    [same] = settle(draft([sent]), known=dict(known))
    assert isinstance(same, Plan) and same.ids == [sent["id"]] and not same.rows and not same.outgoing
    equivalent = {  # what the comparison ignores (Data 2.3.1): a verb's display, an activity's definition...
        **sent,
        "verb": {**sent["verb"], "display": {"en-US": "completed"}},
        "object": {**sent["object"], "definition": {"name": {"en-US": "Course 7"}}},
        "authority": {"mbox": "mailto:someone@example.com"},
        "context": {"contextActivities": {"parent": {"id": "https://lms.example.com/program/1"}}},
    }
    listed = {**sent, "context": {"contextActivities": {"parent": [{"id": "https://lms.example.com/program/1"}]}}}
    stored_listed = draft([listed]).statements[0]
    [again] = settle(
        draft([equivalent]), known={sent["id"]: Known(None, "", statement=decode_row(stored_listed.row).statement)}
    )
    assert isinstance(again, Plan) and not again.rows
    [other] = settle(draft([{**sent, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"}}]), known=dict(known))
    assert isinstance(other, StatementRejected) and other.status == 409
    [moved] = settle(draft([{**sent, "timestamp": "2026-11-30T08:00:01Z"}]), known=dict(known))
    assert isinstance(moved, StatementRejected) and moved.status == 409


def test_a_statement_drafted_earlier_in_the_group_counts_as_stored_for_a_later_request() -> None:
    sent = statement()
    first, again, conflicting = settle(
        draft([sent]), draft([sent]), draft([{**sent, "object": {"id": "https://lms.example.com/course/8"}}])
    )
    assert isinstance(first, Plan) and len(first.rows) == 1
    assert isinstance(again, Plan) and not again.rows
    assert isinstance(conflicting, StatementRejected) and conflicting.status == 409


def test_a_derived_id_already_stored_is_the_same_statement_without_comparing() -> None:
    sent = statement()
    del sent["id"]
    [drafted] = draft([sent], credential="moodle").statements
    assert not drafted.given
    other = Known(None, "", statement='{"other": "content"}')
    [plan] = settle(draft([sent], credential="moodle"), known={drafted.id: other})
    assert isinstance(plan, Plan) and plan.ids == [drafted.id] and not plan.rows


def test_a_voiding_statement_cannot_be_voided_stored_or_in_the_same_batch() -> None:
    target = statement()
    first = voiding(target["id"])
    [in_batch] = settle(draft([first, voiding(first["id"])]))
    assert isinstance(in_batch, StatementRejected) and in_batch.status == 400
    assert in_batch.body["violations"][0]["statement"] == 1
    [stored] = settle(draft([voiding(first["id"])]), known={first["id"]: Known(None, target["id"], statement="{}")})
    assert isinstance(stored, StatementRejected) and stored.status == 400
    [plan] = settle(draft([target, first]))
    assert isinstance(plan, Plan) and plan.voided == [(target["id"], first["id"], NOW)]


def test_statements_are_readable_from_before_the_oldest_write_in_progress() -> None:
    writer = GroupWriter(Lrs(store=None, drafting=None), publish=None)  # type: ignore[arg-type]
    assert writer.consistent_through(NOW) == NOW
    writer._arrivals[NOW - timedelta(seconds=2)] += 1
    writer._arrivals[NOW - timedelta(seconds=1)] += 1
    assert writer.consistent_through(NOW) == NOW - timedelta(seconds=2, milliseconds=1)


def test_a_worker_process_drafts_what_this_process_would() -> None:
    pool = DraftingPool(CONFIG, processes=1)
    try:
        sent = request([statement() for _ in range(20)])
        assert asyncio.run(pool.draft(sent)) == CONFIG.drafter().draft(sent)
        with pytest.raises(StatementRejected) as refused:
            asyncio.run(pool.draft(request({"actor": {}})))
        assert refused.value.status == 400 and refused.value.body["violations"]
    finally:
        pool.close()


def test_a_killed_worker_is_replaced_and_the_request_drafted_again() -> None:
    pool = DraftingPool(CONFIG, processes=1)
    try:
        asyncio.run(pool.draft(request([statement()])))
        workers = list(pool._executor._processes)  # type: ignore[attr-defined]  # the only way to reach them
        os.kill(workers[0], signal.SIGKILL)
        drafted = asyncio.run(pool.draft(request([statement()])))
        assert len(drafted.statements) == 1 and pool.restarts == 1
    finally:
        pool.close()


def test_workers_exit_when_serves_process_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, json, os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests.unit.test_lrs_writing import CONFIG, request, statement
        from lrs.workers import DraftingPool

        async def main():
            pool = DraftingPool(CONFIG, processes=2)
            await asyncio.gather(*(pool.draft(request([statement()])) for _ in range(8)))
            print(json.dumps(list(pool._executor._processes)), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        if __name__ == "__main__":
            asyncio.run(main())
        """
    )
    (tmp_path / "serve_like.py").write_text(script)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "serve_like.py")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    workers = json.loads(done.stdout)
    assert workers
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    alive = [pid for pid in workers if _alive(pid)]
    for pid in alive:  # stop what the test started, then fail
        os.kill(pid, signal.SIGKILL)
    assert not alive


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
