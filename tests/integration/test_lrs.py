"""The xAPI endpoint of `serve`, the real process over the real broker and chDB: Statements stored and read back
as an LRS must, with their pseudonymised activities on the raw topic and never the Statements themselves."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from learnstream.settings import Settings
from lrs.attachments import AttachmentPart, parse_multipart, render_multipart
from tests.integration.conftest import Serve
from tests.integration.support import TEST_KEYS, read_topic, run_cli, settings_env

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "xapi" / "datasim-tccc-statements.json"
WRITER = ("moodle", "moodle-writer-secret-0123456789")
READER = ("analyst", "analyst-reader-secret-0123456789")
VERSION = {"X-Experience-API-Version": "1.0.3"}


def datasim(count: int) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads(DATA.read_text())[:count]
    return copy.deepcopy(statements)


@pytest.fixture
def lrs_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "no-connectors.toml").write_text("")
    credentials = [
        {"name": WRITER[0], "secret": WRITER[1], "scopes": ["write"]},
        {"name": READER[0], "secret": READER[1], "scopes": ["read"]},
    ]
    return {
        **settings_env(settings),
        **TEST_KEYS,
        "LEARNSTREAM_CONNECTORS_FILE": str(tmp_path / "no-connectors.toml"),
        "LEARNSTREAM_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'lrs-warehouse'}",
        "LEARNSTREAM_SERVE__WAREHOUSE": "true",
        "LEARNSTREAM_LRS__CREDENTIALS": json.dumps(credentials),
    }


@pytest.fixture
def lrs(lrs_env: dict[str, str], start_serve: Serve) -> Iterator[str]:
    _, base = start_serve(lrs_env)
    yield f"{base}/xapi"


def post(lrs: str, body: Any, auth: tuple[str, str] = WRITER, **headers: str) -> httpx.Response:
    return httpx.post(f"{lrs}/statements", json=body, auth=auth, headers={**VERSION, **headers}, timeout=60)


def get(lrs: str, auth: tuple[str, str] = READER, **params: str) -> httpx.Response:
    return httpx.get(f"{lrs}/statements", params=params, auth=auth, headers=VERSION, timeout=60)


def test_a_batch_is_stored_published_and_read_back(settings: Settings, lrs: str) -> None:
    statements = datasim(50)
    stored = post(lrs, statements)
    assert stored.status_code == 200, stored.text
    assert stored.json() == [item["id"] for item in statements]
    assert stored.headers["X-Experience-API-Version"] == "1.0.3"

    one = get(lrs, statementId=statements[3]["id"])
    assert one.status_code == 200
    kept = one.json()
    assert {key: kept[key] for key in statements[3]} == statements[3]  # as sent, with what the LRS assigned
    assert kept["authority"]["account"]["name"] == WRITER[0] and kept["version"] == "1.0.0" and kept["stored"]
    assert "X-Experience-API-Consistent-Through" in one.headers and "Last-Modified" in one.headers

    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, 50)
    activities = [json.loads(value) for _, value in records]
    assert {activity["source"] for activity in activities} == {"xapi"}
    raw = b"".join(value for _, value in records)
    assert b"steve@example.org" not in raw and b"Steve Stewart" not in raw  # pseudonyms only

    pages: list[str] = []
    answer = get(lrs, limit="20").json()
    while True:
        pages += [item["id"] for item in answer["statements"]]
        if not answer["more"]:
            break
        answer = httpx.get(lrs.removesuffix("/xapi") + answer["more"], auth=READER, headers=VERSION, timeout=60).json()
    assert sorted(pages) == sorted(item["id"] for item in statements)

    assert post(lrs, [{"actor": {}}]).status_code == 400
    metrics = httpx.get(lrs.removesuffix("/xapi") + "/metrics", timeout=30).text  # serve's own /metrics
    assert f'learnstream_lrs_statements_total{{credential="{WRITER[0]}"}} 50.0' in metrics
    assert 'learnstream_connector_activities_total{connector="lrs",' in metrics
    assert 'learnstream_lrs_refused_requests_total{status="400"} 1.0' in metrics
    assert "learnstream_lrs_group_statements_count 1.0" in metrics  # one insert, of the one batch of 50
    assert "learnstream_lrs_group_statements_sum 50.0" in metrics


def test_the_same_statement_again_changes_nothing_and_other_content_is_a_conflict(lrs: str) -> None:
    (statement,) = datasim(1)
    assert post(lrs, statement).status_code == 200
    assert post(lrs, statement).status_code == 200  # identical: accepted, stored once
    assert len(get(lrs, verb=statement["verb"]["id"]).json()["statements"]) == 1
    changed = {**statement, "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"}}
    conflict = post(lrs, changed)
    assert conflict.status_code == 409 and statement["id"] in conflict.json()["error"]
    put = httpx.put(
        f"{lrs}/statements",
        params={"statementId": str(uuid.uuid4())},
        json=changed | {"id": None},
        auth=WRITER,
        headers=VERSION,
        timeout=60,
    )
    assert put.status_code == 400  # an id of null is not a UUID


def test_an_invalid_statement_rejects_the_whole_batch_naming_index_path_and_rule(lrs: str) -> None:
    statements = datasim(3)
    statements[2]["actor"]["mbox"] = "steve@example.org"  # not a mailto IRI
    refused = post(lrs, statements)
    assert refused.status_code == 400
    (violation,) = refused.json()["violations"]
    assert (violation["statement"], violation["path"], violation["rule"]) == (2, "actor.mbox", "mailto")
    assert get(lrs, statementId=statements[0]["id"]).status_code == 404  # nothing of the batch was stored


def test_voiding_hides_a_statement_but_its_voided_id_finds_it(lrs: str) -> None:
    (target,) = datasim(1)
    voiding = {
        "actor": target["actor"],
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
        "object": {"objectType": "StatementRef", "id": target["id"]},
    }
    assert post(lrs, [target]).status_code == 200
    (voiding_id,) = post(lrs, voiding).json()
    assert get(lrs, statementId=target["id"]).status_code == 404
    assert get(lrs, voidedStatementId=target["id"]).status_code == 200
    again = {**voiding, "object": {"objectType": "StatementRef", "id": voiding_id}}
    assert post(lrs, again).status_code == 400  # a voiding Statement cannot be voided


def test_credentials_and_scopes(lrs: str) -> None:
    (statement,) = datasim(1)
    assert post(lrs, statement, auth=("moodle", "wrong-secret-0123456789abcdef")).status_code == 401
    assert post(lrs, statement, auth=READER).status_code == 403
    assert get(lrs, auth=WRITER).status_code == 403
    missing = httpx.get(f"{lrs}/statements", headers=VERSION, timeout=60)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Basic")
    assert httpx.get(f"{lrs}/statements", auth=READER, timeout=60).status_code == 400  # no version header
    about = httpx.get(f"{lrs}/about", timeout=60)
    assert about.status_code == 200 and "1.0.3" in about.json()["version"]
    assert httpx.get(f"{lrs}/activities/state", auth=READER, headers=VERSION, timeout=60).status_code == 501


def test_erase_deletes_the_statements_that_name_a_person(settings: Settings, lrs_env: dict[str, str], lrs: str) -> None:
    steve = [item for item in datasim(200) if item["actor"].get("mbox") == "mailto:steve@example.org"][:3]
    others = [item for item in datasim(200) if item["actor"].get("mbox") != "mailto:steve@example.org"][:3]
    assert len(steve) == 3 and len(others) == 3
    assert post(lrs, steve + others).status_code == 200
    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, 6)
    by_statement = {json.loads(value)["native_id"]: json.loads(value)["actor"] for _, value in records}
    pseudonym = by_statement[steve[0]["id"]]
    erased = run_cli(lrs_env, "erase", "--pseudonym", pseudonym, "--yes")
    assert erased.returncode == 0, erased.stderr
    assert "3 xAPI Statements deleted" in erased.stdout
    assert all(get(lrs, statementId=item["id"]).status_code == 404 for item in steve)
    assert all(get(lrs, statementId=item["id"]).status_code == 200 for item in others)


def test_the_alternate_request_syntax_stands_for_the_headers_and_the_query(lrs: str) -> None:
    """xAPI 1.0.3 Communication 1.3: POST ?method=..., headers, parameters and content in a form."""
    (statement,) = datasim(1)
    basic = "Basic " + base64.b64encode(f"{WRITER[0]}:{WRITER[1]}".encode()).decode()
    form = {
        "Authorization": basic,
        "X-Experience-API-Version": "1.0.3",
        "Content-Type": "application/json",
        "statementId": statement["id"],
        "content": json.dumps(statement),
    }
    put = httpx.post(f"{lrs}/statements", params={"method": "PUT"}, data=form, timeout=60)
    assert put.status_code == 204, put.text
    reader = "Basic " + base64.b64encode(f"{READER[0]}:{READER[1]}".encode()).decode()
    found = httpx.post(
        f"{lrs}/statements",
        params={"method": "GET"},
        data={"Authorization": reader, "X-Experience-API-Version": "1.0.3", "statementId": statement["id"]},
        timeout=60,
    )
    assert found.status_code == 200 and found.json()["id"] == statement["id"]
    mixed = httpx.post(
        f"{lrs}/statements", params={"method": "GET", "statementId": statement["id"]}, data=form, timeout=60
    )
    assert mixed.status_code == 400  # other parameters belong in the form


def test_canonical_format_keeps_one_language_per_map(lrs: str) -> None:
    (statement,) = datasim(1)
    statement["verb"]["display"] = {"en-US": "initialized", "de-DE": "initialisierte"}
    assert post(lrs, statement).status_code == 200
    shown = httpx.get(
        f"{lrs}/statements",
        params={"statementId": statement["id"], "format": "canonical"},
        auth=READER,
        headers={**VERSION, "Accept-Language": "de"},
        timeout=60,
    )
    assert shown.json()["verb"]["display"] == {"de-DE": "initialisierte"}
    head = httpx.head(f"{lrs}/statements", params={"statementId": statement["id"]}, auth=READER, headers=VERSION)
    assert head.status_code == 200 and not head.content and head.headers["X-Experience-API-Version"] == "1.0.3"


def test_requests_arriving_together_each_get_their_own_answer(lrs: str) -> None:
    """Writes are committed in groups (lrs/writer.py): one request's 409 or 400 does not touch the others."""
    statements = datasim(120)
    first = statements[:20]
    assert post(lrs, first).status_code == 200
    conflicting = [{**first[0], "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"}}]
    invalid = [{**statements[20], "actor": {"mbox": "not-an-iri"}}]
    bodies = [statements[20:40], statements[40:60], statements[60:80], statements[80:100], first, conflicting, invalid]
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda body: post(lrs, body), bodies))
    assert [answer.status_code for answer in answers] == [200, 200, 200, 200, 200, 409, 400]
    assert answers[4].json() == [item["id"] for item in first]  # identical again: accepted, not stored twice
    listed = get(lrs, limit="500").json()["statements"]
    assert sorted(item["id"] for item in listed) == sorted(item["id"] for item in statements[:100])


def test_statements_reach_the_trends_and_a_voiding_statement_takes_its_event_back(
    lrs_env: dict[str, str], start_serve: Serve, start_worker: Any
) -> None:
    """Through the worker and serve's loader: formal learning in the same trends as the rest, voiding retracts."""
    env = {**lrs_env, "LEARNSTREAM_WAREHOUSE__ROLLUP_INTERVAL_S": "1", "LEARNSTREAM_WAREHOUSE__MIN_GROUP_SIZE": "2"}
    _, base = start_serve(env)
    start_worker()
    statements = datasim(400)  # six learners over three days of February 2020
    assert post(f"{base}/xapi", statements).status_code == 200
    params = {"since": "2020-02-01", "until": "2020-02-29", "granularity": "month", "source": "xapi"}

    def formal_events(expected: int | None = None) -> int:
        deadline, found = time.monotonic() + 180, -1
        while time.monotonic() < deadline:
            rows = httpx.get(f"{base}/api/v1/trends/formal-ratio", params=params, timeout=60).json()["rows"]
            found = sum(row["formal_events"] or 0 for row in rows)
            if found and (expected is None or found == expected):
                return found
            time.sleep(1)
        raise AssertionError(f"formal events stayed at {found}, expected {expected}")

    before = formal_events()
    completed = next(item for item in statements if item["verb"]["id"].endswith("/completed"))
    voiding = {
        "actor": completed["actor"],
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
        "object": {"objectType": "StatementRef", "id": completed["id"]},
    }
    assert post(f"{base}/xapi", voiding).status_code == 200
    assert formal_events(before - 1) == before - 1


def test_what_adls_conformance_suite_found(lrs: str) -> None:
    """Statements whose object has no id, an anonymous Group as actor, a single context Activity, and the headers
    of reads that fail (found by running adlnet/lrs-conformance-test-suite against this endpoint)."""
    (base,) = datasim(1)
    actor, verb = base["actor"], base["verb"]
    sub = {"objectType": "SubStatement", "actor": actor, "verb": verb, "object": {"id": "http://example.com/a"}}
    group = {"objectType": "Group", "member": [actor, {"mbox": "mailto:other@example.com"}]}
    statements = [
        {"actor": actor, "verb": verb, "object": sub},
        {"actor": actor, "verb": verb, "object": {"objectType": "Agent", "mbox": "mailto:peer@example.com"}},
        {"actor": group, "verb": verb, "object": {"id": "http://example.com/b"}},
        {**base, "id": str(uuid.uuid4()), "context": {"contextActivities": {"parent": {"id": "http://example.com/p"}}}},
    ]
    stored = post(lrs, statements)
    assert stored.status_code == 200, stored.text
    parent = get(lrs, statementId=stored.json()[3]).json()["context"]["contextActivities"]["parent"]
    assert parent == [{"id": "http://example.com/p"}]  # a single Activity is returned as a list of one
    missing = get(lrs, statementId=str(uuid.uuid4()))
    assert missing.status_code == 404 and "X-Experience-API-Consistent-Through" in missing.headers
    wrong = get(lrs, LIMIT="1")
    assert wrong.status_code == 400 and "X-Experience-API-Consistent-Through" in wrong.headers
    with_parts = get(lrs, statementId=stored.json()[0], attachments="true")
    assert with_parts.headers["Content-Type"].startswith("multipart/mixed; boundary=")
    twice = [
        {"actor": actor, "verb": verb, "object": {"id": "http://example.com/c"}, "timestamp": base["timestamp"]}
    ] * 2
    first, second = (post(lrs, [item]).json()[0] for item in twice)
    assert first != second  # without derive_ids, every Statement sent without an id is a new one


def test_attachments_are_stored_and_returned_with_their_statement(lrs: str) -> None:
    (statement,) = datasim(1)
    data = b"binary \x00\xff\r\n--not-a-boundary\r\n bytes"
    sha2 = hashlib.sha256(data).hexdigest()
    statement["attachments"] = [
        {
            "usageType": "http://example.com/attachment-usage/test",
            "display": {"en-US": "notes"},
            "contentType": "application/octet-stream",
            "length": len(data),
            "sha2": sha2,
            "fileUrl": "http://example.com/notes.bin",  # a fileUrl, and the data sent too: both are kept
        }
    ]
    content_type, body = render_multipart(
        json.dumps([statement]).encode(), [AttachmentPart.for_data(data, sha2, "application/octet-stream")]
    )
    sent = httpx.post(
        f"{lrs}/statements", content=body, auth=WRITER, headers={**VERSION, "Content-Type": content_type}, timeout=60
    )
    assert sent.status_code == 200, sent.text
    back = get(lrs, statementId=statement["id"], attachments="true")
    assert back.headers["Content-Type"].startswith("multipart/mixed")
    parsed = parse_multipart(back.headers["Content-Type"], back.content)
    assert [part.data for part in parsed.attachments] == [data]
    assert json.loads(parsed.statements)["id"] == statement["id"]
    assert get(lrs, statementId=statement["id"]).headers["Content-Type"].startswith("application/json")


def test_the_simulators_lms_sends_its_courses_statements(
    lrs_env: dict[str, str], start_serve: Serve, tmp_path: Path
) -> None:
    """`learnstream simulate --sources lms --post-to` posts the organisation's course Statements to /xapi/."""
    secret = "simulated-lms-secret-0123456789abcdef"
    credentials = [*json.loads(lrs_env["LEARNSTREAM_LRS__CREDENTIALS"])]
    credentials.append({"name": "simulated-lms", "secret": secret, "scopes": ["write"]})
    env = {**lrs_env, "LEARNSTREAM_LRS__CREDENTIALS": json.dumps(credentials), "SIMULATED_LMS_SECRET": secret}
    _, base = start_serve(env)
    simulation = ["simulate", "--people", "40", "--days", "10", "--seed", "4", "--sources", "lms"]
    posted = run_cli(env, *simulation, "--out", str(tmp_path / "sim"), "--post-to", base)
    assert posted.returncode == 0, posted.stderr
    sent = int(re.search(r"lms: ([\d,]+) xAPI Statements posted", posted.stdout)[1].replace(",", ""))  # type: ignore[index]
    stored = get(f"{base}/xapi", limit="500").json()["statements"]
    assert sent > 20 and len(stored) == min(sent, 500)
    assert any(item["verb"]["id"].endswith("/completed") for item in stored)
    again = run_cli(env, *simulation, "--out", str(tmp_path / "sim"), "--post-to", base)
    assert again.returncode == 0, again.stderr  # the same ids again: accepted, nothing stored twice
    assert len(get(f"{base}/xapi", limit="500").json()["statements"]) == len(stored)
    no_secret = {key: value for key, value in env.items() if key != "SIMULATED_LMS_SECRET"}
    without = run_cli(no_secret, *simulation, "--out", str(tmp_path / "sim"), "--post-to", base)
    assert without.returncode != 0 and "SIMULATED_LMS_SECRET" in without.stderr
