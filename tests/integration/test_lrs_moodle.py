"""Moodle's logstore_xapi plugin against the xAPI endpoint of `serve`: its batches sent as the plugin sends them
(tests/fixtures/moodle/README.md says which plugin files each Statement follows), stored, read back, published
as pseudonymised activities, and its way of resending a refused batch.

The plugin (src/loader/lrs.php) POSTs `<endpoint>/statements` with Basic credentials, X-Experience-API-Version
1.0.3 (1.0.0 up to release v4.7.0) and the JSON of PHP's `json_encode`; anything but 200 fails the whole batch.
It sends no Statement ids: the LRS assigns them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from learnstream.settings import Settings
from tests.integration import test_lrs
from tests.integration.support import read_topic

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "moodle"
ACADEMY = "academy-logstore_xapi-5.0.1.json"  # accounts: homePage = wwwroot, name = Moodle user id
COMPLIANCE = "compliance-logstore_xapi-5.0.1-mbox.json"  # "Identify users by email" on
CAMPUS = "campus-logstore_xapi-4.7.0.json"  # the older shapes, sent as xAPI 1.0.0
HEADER_VERSION = {ACADEMY: "1.0.3", COMPLIANCE: "1.0.3", CAMPUS: "1.0.0"}
INFO = "http://lrs.learninglocker.net/define/extensions/info"
STATISTICS = "https://academy.northfield.example/course/view.php?id=7"
AMIRA = {"account": {"homePage": "https://academy.northfield.example", "name": "41"}}
AMIRA_BY_EMAIL = {"mbox": "mailto:amira.haddad@northfield.example"}
PRIYA = {"account": {"homePage": "https://compliance.northfield.example", "name": "245"}}  # no e-mail in Moodle

# The fixtures of tests/integration/test_lrs.py, by assignment so that they are not unused imports; `lrs_env` is
# extended below with a people directory, and test_lrs.lrs (the running serve) picks up the extended one.
lrs = test_lrs.lrs
lrs_env_without_directory = test_lrs.lrs_env
WRITER, READER, get = test_lrs.WRITER, test_lrs.READER, test_lrs.get


@pytest.fixture
def lrs_env(lrs_env_without_directory: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The LRS's environment with a people directory (Amira holds Moodle account 41, and her e-mail is the
    directory's, not listed as an mbox account), and the Moodle credential deriving ids (LRS__CREDENTIALS)."""
    people = tmp_path / "people.json"
    amira = {
        "person_id": "hr-1001",
        "email": "amira.haddad@northfield.example",
        "team": "analytics",
        "valid_from": "2024-01-01",
        "accounts": {"lms": ["41"]},  # her mbox resolves through the directory's e-mail address
    }
    people.write_text(json.dumps([amira]))
    connectors = tmp_path / "moodle-connectors.toml"
    connectors.write_text(f"directory = {json.dumps(str(people))}\n")
    credentials = [
        {"name": WRITER[0], "secret": WRITER[1], "scopes": ["write"], "derive_ids": True},
        {"name": READER[0], "secret": READER[1], "scopes": ["read"]},
    ]
    return {
        **lrs_env_without_directory,
        "LEARNSTREAM_CONNECTORS_FILE": str(connectors),
        "LEARNSTREAM_LRS__CREDENTIALS": json.dumps(credentials),
    }


def batch(name: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads((FIXTURES / name).read_text())
    return statements


def as_json_encode(statements: list[dict[str, Any]]) -> bytes:
    """The bytes of PHP's `json_encode` with its default flags: compact, `/` as `\\/`, non-ASCII as `\\uXXXX`."""
    return json.dumps(statements, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def send_like_logstore_xapi(lrs: str, statements: list[dict[str, Any]], version: str) -> httpx.Response:
    """One batch as src/loader/lrs.php sends it, the endpoint set to `<serve>/xapi/` as the README says."""
    endpoint = f"{lrs}/"
    url = endpoint.removesuffix("/statements").rstrip("/") + "/statements"  # src/loader/utils/correct_endpoint.php
    headers = {"X-Experience-API-Version": version, "Content-Type": "application/json"}
    return httpx.post(url, content=as_json_encode(statements), auth=WRITER, headers=headers, timeout=60)


def mentions(activity_id: str) -> Callable[[dict[str, Any]], bool]:
    """Whether a Statement has the Activity as its object or in any contextActivities list."""

    def check(statement: dict[str, Any]) -> bool:
        related = statement.get("context", {}).get("contextActivities", {}).values()
        return statement["object"]["id"] == activity_id or any(item["id"] == activity_id for x in related for item in x)

    return check


def found_ids(lrs: str, **params: str) -> set[str]:
    answer = get(lrs, READER, **params)
    assert answer.status_code == 200, answer.text
    assert not answer.json()["more"]
    return {item["id"] for item in answer.json()["statements"]}


def moodle_events(statements: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The Moodle events a batch came from: the plugin batches events, and a quiz submission gives a Statement for
    the attempt and one per question, all with the event's name, time and actor."""

    def event_of(statement: dict[str, Any]) -> tuple[str, str, str]:
        name = statement["context"]["extensions"][INFO]["event_name"]
        return name, statement["timestamp"], json.dumps(statement["actor"], sort_keys=True)

    events: list[list[dict[str, Any]]] = []
    for statement in statements:
        if events and event_of(events[-1][0]) == event_of(statement):
            events[-1].append(statement)
        else:
            events.append([statement])
    return events


def load_with_resend_failed_batches(
    lrs: str, events: list[list[dict[str, Any]]], version: str, max_batch_size: int = 30
) -> tuple[list[list[dict[str, Any]]], int]:
    """src/loader/utils/load_batch.php with "Resend failed batches" ticked: a batch refused with 400 is sent again
    in halves (PHP's round) until the events that fail are alone. The events that failed, and how many POSTs."""
    posts = 0

    def load(events_batch: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
        nonlocal posts
        posts += 1
        answer = send_like_logstore_xapi(lrs, [s for event in events_batch for s in event], version)
        if answer.status_code == 200:
            return []
        if len(events_batch) == 1 or answer.status_code != 400:
            return events_batch
        half = (len(events_batch) + 1) // 2
        return [
            failed for start in range(0, len(events_batch), half) for failed in load(events_batch[start : start + half])
        ]

    chunks = [events[start : start + max_batch_size] for start in range(0, len(events), max_batch_size)]
    return [failed for chunk in chunks for failed in load(chunk)], posts


def test_the_plugins_batches_are_stored_read_back_and_published_pseudonymised(settings: Settings, lrs: str) -> None:
    ids: dict[str, list[str]] = {}
    for name in (ACADEMY, COMPLIANCE, CAMPUS):
        statements = batch(name)
        stored = send_like_logstore_xapi(lrs, statements, HEADER_VERSION[name])
        assert stored.status_code == 200, f"{name}: {stored.text}"
        assert stored.headers["X-Experience-API-Version"] == "1.0.3"
        ids[name] = stored.json()
        assert len(ids[name]) == len(statements) == len(set(ids[name]))
        assert all(str(uuid.UUID(item)) == item for item in ids[name])  # assigned by the LRS
        for statement_id, sent in zip(ids[name], statements, strict=True):
            kept = get(lrs, statementId=statement_id).json()
            assert {key: kept[key] for key in sent} == sent, f"{name}: {statement_id}"  # in order, as sent
            assert kept["version"] == "1.0.0" and kept["authority"]["account"]["name"] == WRITER[0]
    everything = {key: s for name in ids for key, s in zip(ids[name], batch(name), strict=True)}
    academy = {key: everything[key] for key in ids[ACADEMY]}
    compliance = {key: everything[key] for key in ids[COMPLIANCE]}
    assert len(everything) == 46

    # the course, with and without the Statements that name it in their context (the course's modules, its forum
    # posts, the quiz attempts and their answers), then one learner under each identity the plugin sends
    in_course = {key for key, statement in academy.items() if mentions(STATISTICS)(statement)}
    assert len(in_course) == 20
    assert found_ids(lrs, activity=STATISTICS, related_activities="true") == in_course
    assert found_ids(lrs, activity=STATISTICS) == {key for key, s in academy.items() if s["object"]["id"] == STATISTICS}
    for agent, site in ((AMIRA, academy), (AMIRA_BY_EMAIL, compliance), (PRIYA, compliance)):
        mine = {key for key, statement in site.items() if all(statement["actor"].get(k) == v for k, v in agent.items())}
        assert mine and found_ids(lrs, agent=json.dumps(agent)) == mine
    campus_course = "https://campus.northfield.example/moodle/course/view.php?id=22"
    assert found_ids(lrs, activity=campus_course, related_activities="true") == set(ids[CAMPUS])  # via grouping

    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, len(everything))
    activities = [json.loads(value) for _, value in records]
    assert len(activities) == len(everything)  # one activity per Statement, none twice
    assert {activity["source"] for activity in activities} == {"xapi"}
    by_statement = {activity["native_id"]: activity for activity in activities}
    assert set(by_statement) == set(everything)
    assert {by_statement[key]["attributes"]["verb"] for key in everything} == {
        "http://id.tincanapi.com/verb/viewed",
        "http://adlnet.gov/expapi/verbs/completed",
        "http://adlnet.gov/expapi/verbs/answered",
        "http://activitystrea.ms/create",
        "http://activitystrea.ms/schema/1.0/create",
        "http://id.tincanapi.com/verb/replied",
    }
    # Amira is one person to the directory whether Moodle names her by account (academy) or e-mail (compliance)
    amira = {by_statement[key]["actor"] for key in found_ids(lrs, agent=json.dumps(AMIRA))}
    amira_by_email = {by_statement[key]["actor"] for key in found_ids(lrs, agent=json.dumps(AMIRA_BY_EMAIL))}
    assert len(amira) == 1 and amira == amira_by_email
    raw = b"".join(value for _, value in records)
    assert b"@northfield.example" not in raw and b"mailto" not in raw
    for name in {statement["actor"]["name"] for statement in everything.values()}:
        for encoded in (name.encode(), json.dumps(name)[1:-1].encode()):  # as UTF-8 and as JSON's \u escapes
            assert encoded not in raw, name


def test_an_unanswered_short_answer_refuses_the_batch_and_resending_halves_isolates_the_quiz(
    settings: Settings, lrs: str
) -> None:
    statements = batch(ACADEMY)
    short_answer = next(
        n
        for n, statement in enumerate(statements)
        if statement["object"].get("definition", {}).get("interactionType") == "fill-in"
        and statement["actor"] == {"name": "Amira Haddad", **AMIRA}
    )
    # Moodle's summary of an untouched short-answer question is NULL, and shortanswer.php sends it as it is
    statements[short_answer]["result"]["response"] = None

    refused = send_like_logstore_xapi(lrs, statements, "1.0.3")  # what the plugin does by default: the batch fails
    assert refused.status_code == 400
    (violation,) = refused.json()["violations"]
    assert (violation["statement"], violation["path"], violation["rule"]) == (short_answer, "result.response", "null")
    assert get(lrs, activity=STATISTICS, related_activities="true").json()["statements"] == []

    events = moodle_events(statements)
    assert len(events) == 16  # 22 Statements: two quiz submissions of four
    failed, posts = load_with_resend_failed_batches(lrs, events, "1.0.3")
    (quiz,) = failed  # only Amira's quiz submission: its completed Statement and all three answers
    assert len(quiz) == 4 and statements[short_answer] in quiz
    assert posts == 9  # 16 events -> 8 -> 4 -> 2 -> 1 on the failing side, each good half once
    kept = found_ids(lrs)
    assert len(kept) == len(statements) - len(quiz)
    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, len(kept))
    assert len(records) == len(kept)  # the refused requests published nothing


def test_the_same_batch_sent_again_stores_nothing_new(lrs: str) -> None:
    """logstore_xapi sends no Statement ids and re-sends a failed batch with a new registration: the LRS derives an
    id from the credentials and the content without the registration, so a batch sent again is the same batch."""
    statements = batch(CAMPUS)
    first = send_like_logstore_xapi(lrs, statements, "1.0.0")
    resent = [
        {**item, "context": {**item["context"], "registration": str(uuid.uuid4())}} if "context" in item else item
        for item in statements
    ]
    again = send_like_logstore_xapi(lrs, resent, "1.0.0")
    assert first.status_code == again.status_code == 200
    course = "https://campus.northfield.example/moodle/course/view.php?id=22"
    assert len(found_ids(lrs, activity=course, related_activities="true")) == len(statements)
    assert again.json() == first.json()
