"""What the Statement API's filters match (lrs/index.py), and who an xAPI agent is (lrs/people.py)."""

from __future__ import annotations

from typing import Any

import pytest

from learnstream.errors import ConnectorError
from lrs.index import actors, everyone, identifiers, object_activity, related_activities, related_agents
from lrs.people import XapiPeople
from producers.directory import directory_from_csv
from producers.pseudonymise import person_pseudonym, pseudonym

KEY = b"unit-test-key"
ANN = {"mbox": "mailto:ann@Example.COM"}
BOB = {"objectType": "Agent", "account": {"homePage": "https://lms.example", "name": "bob"}}
TEAM = {"objectType": "Group", "mbox": "mailto:team@example.com", "member": [ANN, {"openid": "https://id.example/c"}]}
STATEMENT: dict[str, Any] = {
    "actor": ANN,
    "verb": {"id": "http://adlnet.gov/expapi/verbs/commented"},
    "object": {
        "objectType": "SubStatement",
        "actor": {"objectType": "Group", "member": [BOB]},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "http://example.com/lesson"},
        "context": {"instructor": BOB, "contextActivities": {"parent": {"id": "http://example.com/course"}}},
    },
    "context": {
        "team": TEAM,
        "contextActivities": {"grouping": [{"id": "http://example.com/program"}], "other": []},
        "contextAgents": [{"objectType": "contextAgent", "agent": {"mbox_sha1sum": "ABC"}}],
    },
    "authority": {"objectType": "Agent", "account": {"homePage": "https://lrs.example", "name": "moodle"}},
}
ANN_KEY = "Agent|mbox|mailto:ann@example.com"
BOB_KEY = "Agent|account|https://lms.example|bob"


def test_the_agent_filter_matches_the_actor_and_an_agent_as_object() -> None:
    assert actors(STATEMENT) == [ANN_KEY]
    assert actors({"actor": ANN, "object": BOB}) == [BOB_KEY, ANN_KEY]
    assert actors({"actor": ANN, "object": {**ANN, "objectType": "Agent"}}) == [ANN_KEY]
    assert actors({"actor": {"objectType": "Group", "member": [ANN]}, "object": {"id": "http://x"}}) == []


def test_related_agents_widen_to_the_authority_the_context_and_a_substatement() -> None:
    assert related_agents(STATEMENT) == [
        BOB_KEY,
        "Agent|account|https://lrs.example|moodle",
        ANN_KEY,
        "Group|mbox|mailto:team@example.com",
    ]


def test_everyone_named_is_found_group_members_and_context_agents_included() -> None:
    assert everyone(STATEMENT) == [
        BOB_KEY,
        "Agent|mbox_sha1sum|abc",
        ANN_KEY,
        "Agent|openid|https://id.example/c",
        "Group|mbox|mailto:team@example.com",
    ]
    assert list(identifiers(TEAM)) == [
        "Group|mbox|mailto:team@example.com",
        ANN_KEY,
        "Agent|openid|https://id.example/c",
    ]


def test_related_activities_are_the_object_the_context_and_a_substatements() -> None:
    assert object_activity(STATEMENT) == ""
    assert object_activity(STATEMENT["object"]) == "http://example.com/lesson"
    assert related_activities(STATEMENT) == [
        "http://example.com/course",
        "http://example.com/lesson",
        "http://example.com/program",
    ]


def test_an_agent_is_the_same_pseudonym_every_time_it_is_asked_for() -> None:
    directory = directory_from_csv("person_id,email,team,valid_from,lms\ne1,ann@example.com,data,2026-01-01,bob\n")
    people = XapiPeople(directory, KEY, "lrs")
    for _ in range(2):  # the second time from what the first one resolved
        assert people("mbox:mailto:Ann@example.com") == person_pseudonym(KEY, "e1")
        assert people("account:https://lms.example|bob") == person_pseudonym(KEY, "e1")
        assert people("openid:https://id.example/c") == pseudonym(KEY, "xapi", "lrs", "openid:https://id.example/c")
        with pytest.raises(ConnectorError):
            people("phone:123")
