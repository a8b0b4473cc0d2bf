"""xAPI Statement validation (lrs.validation), table-driven from the xAPI text and the ADL LRS conformance suite.

Every row names its source: "Data 2.4.2.1" is a section of xAPI-Data.md 1.0.3, "Comm 2.1.2" one of
xAPI-Communication.md 1.0.3, "XAPI-nnnnn" a requirement id of the ADL LRS conformance requirements (checked by
adlnet/lrs-conformance-test-suite, test/v1_0_3 and test/v2_0), "2.0 ..." a rule of IEEE 9274.1.1 (xAPI 2.0) as the
suite's v2_0 tests check it. Each invalid row breaks one thing in an otherwise valid Statement and names the path
and rule the validator must report; each valid row changes one thing the LRS must still accept.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from learnstream.errors import BadParameter
from lrs.validation import Violation, batch_violations, statement_violations, voided_statement_id

DELETE = object()  # a row's value that removes the property instead of setting it

BOB_SHA1 = hashlib.sha1(b"mailto:bob@example.com").hexdigest()
SHA256 = "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a"
REF_ID = "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"
SIGNATURE = "http://adlnet.gov/expapi/attachments/signature"

#: A Statement using every property of xAPI 1.0.3, shaped like the shared recordings (simple-statement.json,
#: datasim-tccc-statements.json) and the spec's Appendix A and C examples.
FULL: dict[str, Any] = {
    "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
    "actor": {"objectType": "Agent", "name": "Project Tin Can API", "mbox": "mailto:user@example.com"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered", "de": "beantwortete"}},
    "object": {
        "objectType": "Activity",
        "id": "http://example.com/xapi/activity/question-1",
        "definition": {
            "name": {"en-US": "Question 1"},
            "description": {"en-US": "Which of these prototypes are available at the beta site?"},
            "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
            "moreInfo": "https://example.com/xapi/question-1.html",
            "interactionType": "choice",
            "correctResponsesPattern": ["golf[,]tetris"],
            "choices": [
                {"id": "golf", "description": {"en-US": "Golf Example"}},
                {"id": "facebook", "description": {"en-US": "Facebook App"}},
                {"id": "tetris", "description": {"en-US": "Tetris Example"}},
            ],
            "extensions": {"http://example.com/xapi/extensions/difficulty": 3},
        },
    },
    "result": {
        "score": {"scaled": 0.95, "raw": 95, "min": 0, "max": 100},
        "success": True,
        "completion": True,
        "response": "golf[,]tetris",
        "duration": "PT1M30.5S",
        "extensions": {"https://w3id.org/xapi/video/extensions/length": 60},
    },
    "context": {
        "registration": "5389ed44-e618-4a66-9a43-7a0b282fd837",
        "instructor": {"name": "Irene", "account": {"homePage": "https://lms.example.com", "name": "irene"}},
        "team": {
            "objectType": "Group",
            "name": "Team A",
            "member": [{"mbox_sha1sum": BOB_SHA1}, {"openid": "https://openid.example.com/carol"}],
        },
        "contextActivities": {
            "parent": [{"id": "http://example.com/xapi/activity/quiz"}],
            "grouping": [{"id": "http://example.com/xapi/activity/course"}],
            "category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/moveon"}],
            "other": [{"objectType": "Activity", "id": "http://example.com/xapi/activity/textbook"}],
        },
        "revision": "r2",
        "platform": "Example LMS",
        "language": "en-US",
        "statement": {"objectType": "StatementRef", "id": REF_ID},
        "extensions": {"http://example.com/xapi/extensions/room": "B12"},
    },
    "timestamp": "2015-11-18T12:17:00.000+00:00",
    "stored": "2015-11-18T12:17:01.000Z",
    "authority": {
        "objectType": "Agent",
        "name": "client",
        "account": {"homePage": "https://lrs.example.com", "name": "c1"},
    },
    "version": "1.0.0",
    "attachments": [
        {
            "usageType": "http://adlnet.gov/expapi/attachments/certificate",
            "display": {"en-US": "Certificate"},
            "description": {"en-US": "The certificate of completion"},
            "contentType": "application/pdf",
            "length": 65536,
            "sha2": SHA256,
            "fileUrl": "https://example.com/certificates/1.pdf",
        }
    ],
}

#: "I planned (I answered question 1)": a Statement whose object is a SubStatement with its own result and context.
WITH_SUBSTATEMENT: dict[str, Any] = {
    "actor": {"mbox": "mailto:user@example.com"},
    "verb": {"id": "http://example.com/xapi/verbs/planned", "display": {"en-US": "planned"}},
    "object": {
        "objectType": "SubStatement",
        "actor": {"objectType": "Agent", "mbox": "mailto:user@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
        "object": {"id": "http://example.com/xapi/activity/question-1"},
        "result": {"duration": "PT10M"},
        "context": {"revision": "r2", "platform": "Example LMS", "language": "en"},
        "timestamp": "2031-11-30T07:43:53.628Z",
    },
}

#: The full Statement as an xAPI 2.0 client sends it, with contextAgents and contextGroups.
FULL_2_0: dict[str, Any] = copy.deepcopy(FULL) | {"version": "2.0.0"}
FULL_2_0["context"] |= {
    "contextAgents": [
        {
            "objectType": "contextAgent",
            "agent": {"objectType": "Agent", "mbox": "mailto:player-1@example.com"},
            "relevantTypes": ["https://example.com/xapi/activity-types/quarterback"],
        },
        {"objectType": "contextAgent", "agent": {"mbox": "mailto:player-2@example.com"}},
    ],
    "contextGroups": [
        {
            "objectType": "contextGroup",
            "group": {
                "objectType": "Group",
                "mbox": "mailto:team-1@example.com",
                "member": [{"mbox": "mailto:p@x.org"}],
            },
            "relevantTypes": ["https://example.com/xapi/activity-types/team"],
        }
    ],
}

AGENT_OBJECT = {"objectType": "Agent", "mbox": "mailto:bob@example.com"}
GROUP_AS_ACTOR = {"objectType": "Group", "member": [{"mbox": "mailto:bob@example.com"}]}


def changed(statement: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """A deep copy of `statement` with the property at `path` (a.b[2].c) set to `value`, or removed for DELETE."""
    result = copy.deepcopy(statement)
    steps: list[str | int] = [int(step) if step.isdigit() else step for step in re.findall(r"[^.\[\]]+", path)]
    parent: Any = result
    for step in steps[:-1]:
        parent = parent[step]
    if value is DELETE:
        del parent[steps[-1]]
    else:
        parent[steps[-1]] = copy.deepcopy(value)
    return result


def found(violations: list[Violation]) -> set[tuple[str, str]]:
    """The (path, rule) pairs of some violations."""
    return {(violation.path, violation.rule) for violation in violations}


#: An invalid row: (source, path to change, new value, rule reported[, path reported when not the changed one]).
Rejected = tuple[str, str, object, str] | tuple[str, str, object, str, str]

# Changes to FULL the LRS must reject under X-Experience-API-Version 1.0.3.
INVALID: list[Rejected] = [
    # Data 2.2 formatting requirements
    ("XAPI-00003", "actor", DELETE, "required"),
    ("XAPI-00004", "verb", DELETE, "required"),
    ("XAPI-00005", "object", DELETE, "required"),
    ("XAPI-00008", "Actor", AGENT_OBJECT, "unknown-key"),
    ("XAPI-00008", "timeStamp", "2015-11-18T12:17:00Z", "unknown-key"),
    ("XAPI-00010", "comment", "not an xAPI property", "unknown-key"),
    ("XAPI-00001", "context", None, "null"),
    ("XAPI-00001", "result.success", None, "null"),
    ("XAPI-00001", "actor.name", None, "null"),
    ("XAPI-00001", "verb.display.en-US", None, "null"),
    ("XAPI-00001", "object.definition.moreInfo", None, "null"),
    ("XAPI-00001", "context.registration", None, "null"),
    ("XAPI-00014", "result", "not an object", "type"),
    # Data 2.4.1 id, Data 4.4 UUIDs
    ("XAPI-00027", "id", "not-a-uuid", "uuid"),
    ("XAPI-00028", "id", 12345, "type"),
    ("XAPI-00028", "id", {"key": "should fail"}, "type"),
    ("XAPI-00007", "id", "", "uuid"),
    ("XAPI-00030", "id", "AA97B177-9383-4934-8543-0F91A7A028368", "uuid"),
    ("XAPI-00030", "id", "MA97B177-9383-4934-8543-0F91A7A02836", "uuid"),
    ("XAPI-00029", "id", "fd41c918b88b4b20a0a5a4c32391aaa0", "uuid"),
    ("XAPI-00029", "id", "{fd41c918-b88b-4b20-a0a5-a4c32391aaa0}", "uuid"),
    ("XAPI-00029", "id", "urn:uuid:fd41c918-b88b-4b20-a0a5-a4c32391aaa0", "uuid"),
    # Data 2.4.7 timestamp, 2.4.8 stored, 4.5 ISO 8601 timestamps
    ("XAPI-00022", "timestamp", "should fail", "timestamp"),
    ("XAPI-00123", "timestamp", "01/011/2015", "timestamp"),
    ("XAPI-00123", "timestamp", "2008-09-15T15:53:00.601-00:00", "timestamp"),
    ("XAPI-00123", "timestamp", "2008-09-15T15:53:00.601-0000", "timestamp"),
    ("XAPI-00123", "timestamp", "2008-09-15T15:53:00.601-00", "timestamp"),
    ("Data 4.5", "timestamp", "2015-02-30T12:00:00Z", "timestamp"),
    ("Data 4.5", "timestamp", "2015-13-01T12:00:00Z", "timestamp"),
    ("Data 4.5", "timestamp", "2015-11-18T25:00:00Z", "timestamp"),
    ("Data 4.5", "timestamp", "2015-11-18T12:60:00Z", "timestamp"),
    ("Data 4.5", "timestamp", "2015-11-18T12:17:00+25:00", "timestamp"),
    ("Data 4.5", "timestamp", "2015-11-18", "timestamp"),
    ("Data 4.5", "timestamp", "2015-11-18 12:17:00Z", "timestamp"),
    ("Data 4.5", "timestamp", "2015-11-18T12:17:00.Z", "timestamp"),
    ("Data 4.5", "timestamp", "", "timestamp"),
    ("Data 4.5", "timestamp", "2015-11-31T12:00:00Z", "timestamp"),
    ("Data 4.5", "timestamp", "2015-02-29T12:00:00.000Z", "timestamp"),
    ("Data 4.5", "timestamp", "0000-01-01T12:00:00Z", "timestamp"),
    ("Data 4.5", "timestamp", "2015-11-18T24:00:00Z", "timestamp"),
    ("Data 4.5", "timestamp", "2015-11-18T23:59:60Z", "timestamp"),
    ("Data 4.5", "timestamp", "2015-11-18T12:17:00+23:60", "timestamp"),
    ("Data 4.5", "timestamp", "2015-11-18T12:17:00.000Z ", "timestamp"),
    ("XAPI-00006", "timestamp", 1447849020, "type"),
    ("XAPI-00023", "stored", "yesterday", "timestamp"),
    # Data 2.4.10 version
    ("Data 2.4.10", "version", "2.0.0", "version"),
    ("XAPI-00101", "version", "1.1.0", "version"),
    ("XAPI-00101", "version", "0.9.9", "version"),
    ("XAPI-00101", "version", "should fail", "version"),
    ("XAPI-00101", "version", "1.0.x", "version"),
    ("XAPI-00006", "version", 1.0, "type"),
    # Data 2.4.9 authority
    ("XAPI-00024", "authority", "admin", "type"),
    ("XAPI-00024", "authority", {"objectType": "Agent"}, "one-ifi"),
    (
        "XAPI-00100",
        "authority",
        {"objectType": "Group", "member": [AGENT_OBJECT, {"mbox": "mailto:a@x.org"}, {"mbox": "mailto:b@x.org"}]},
        "authority",
    ),
    ("XAPI-00098", "authority", {"objectType": "Group", "member": [AGENT_OBJECT]}, "authority"),
    (
        "XAPI-00098",
        "authority",
        {"objectType": "Group", "mbox": "mailto:g@x.org", "member": [AGENT_OBJECT, {"mbox": "mailto:a@x.org"}]},
        "authority",
    ),
    # Data 2.4.2 actor, 2.4.2.1 Agent, 2.4.2.3 IFIs, 2.4.2.4 account
    ("XAPI-00031", "actor.objectType", "agent", "object-type"),
    ("XAPI-00031", "actor.objectType", "Person", "object-type"),
    ("XAPI-00032", "actor.objectType", 12345, "object-type"),
    ("XAPI-00033", "actor.name", 12345, "type"),
    ("XAPI-00033", "actor.name", {"first": "Ada"}, "type"),
    ("XAPI-00034", "actor.mbox", DELETE, "one-ifi", "actor"),
    ("XAPI-00034", "actor.openid", "https://openid.example.com/user", "one-ifi", "actor"),
    ("XAPI-00034", "actor.mbox_sha1sum", BOB_SHA1, "one-ifi", "actor"),
    ("XAPI-00034", "actor.account", {"homePage": "https://lms.example.com", "name": "u1"}, "one-ifi", "actor"),
    ("XAPI-00038", "actor.mbox", "user@example.com", "mailto"),
    ("XAPI-00038", "actor.mbox", "mailto:", "mailto"),
    ("XAPI-00038", "actor.mbox", "mailto:user", "mailto"),
    ("XAPI-00038", "actor.mbox", "mailto:us er@example.com", "mailto"),
    ("XAPI-00038", "actor.mbox", "http://example.com/user", "mailto"),
    ("XAPI-00038", "actor.mbox", 12345, "type"),
    ("XAPI-00039", "actor", {"mbox_sha1sum": BOB_SHA1[:39]}, "sha1sum", "actor.mbox_sha1sum"),
    ("XAPI-00039", "actor", {"mbox_sha1sum": "z" * 40}, "sha1sum", "actor.mbox_sha1sum"),
    ("XAPI-00039", "actor", {"mbox_sha1sum": 12345}, "type", "actor.mbox_sha1sum"),
    ("XAPI-00040", "actor", {"openid": "open.id.com/testUser"}, "iri", "actor.openid"),
    ("XAPI-00040", "actor", {"openid": {"id": "x"}}, "type", "actor.openid"),
    ("XAPI-00041", "actor", {"account": "u1@lms"}, "type", "actor.account"),
    ("XAPI-00042", "actor", {"account": {"name": "u1"}}, "required", "actor.account.homePage"),
    (
        "XAPI-00042",
        "actor",
        {"account": {"homePage": "homePage.com/u1", "name": "u1"}},
        "irl",
        "actor.account.homePage",
    ),
    ("XAPI-00043", "actor", {"account": {"homePage": "https://lms.example.com"}}, "required", "actor.account.name"),
    ("XAPI-00043", "actor", {"account": {"homePage": "https://x.org", "name": {"k": 1}}}, "type", "actor.account.name"),
    (
        "XAPI-00010",
        "actor",
        {"account": {"homePage": "https://x.org", "name": "u", "id": 7}},
        "unknown-key",
        "actor.account.id",
    ),
    ("XAPI-00035", "actor.member", [AGENT_OBJECT], "unknown-key"),
    ("XAPI-00010", "actor.email", "user@example.com", "unknown-key"),
    ("XAPI-00006", "actor", "mailto:user@example.com", "type"),
    ("XAPI-00006", "actor", [AGENT_OBJECT], "type"),
    # Data 2.4.2.2 Group
    ("XAPI-00037", "actor", {"objectType": "Group", "name": "ad hoc"}, "required", "actor.member"),
    ("XAPI-00037", "actor", {"objectType": "Group", "member": []}, "empty", "actor.member"),
    ("XAPI-00036", "actor", {"objectType": "Group", "member": AGENT_OBJECT}, "type", "actor.member"),
    ("Data 2.4.2.2", "actor", {"objectType": "Group", "member": [GROUP_AS_ACTOR]}, "member", "actor.member[0]"),
    ("XAPI-00036", "actor", {"objectType": "Group", "member": [{"name": "x"}]}, "one-ifi", "actor.member[0]"),
    ("XAPI-00036", "actor", {"objectType": "Group", "member": ["bob"]}, "type", "actor.member[0]"),
    (
        "Data 2.4.2.2",
        "actor",
        {"objectType": "Group", "mbox": "mailto:g@x.org", "openid": "https://openid.example.com/g"},
        "one-ifi",
    ),
    ("Data 2.4.2.2", "actor", {"member": [AGENT_OBJECT]}, "unknown-key", "actor.member"),
    ("XAPI-00009", "actor", {"objectType": "group", "member": [AGENT_OBJECT]}, "object-type", "actor.objectType"),
    ("XAPI-00033", "actor", {"objectType": "Group", "name": 7, "member": [AGENT_OBJECT]}, "type", "actor.name"),
    ("XAPI-00038", "actor", {"objectType": "Group", "mbox": "team@example.com"}, "mailto", "actor.mbox"),
    # Data 2.4.3 verb
    ("XAPI-00044", "verb.id", DELETE, "required"),
    ("XAPI-00011", "verb.id", "adlnet.gov/expapi/verbs/answered", "iri"),
    ("XAPI-00044", "verb.id", "http://example.com/my verb", "iri"),
    ("XAPI-00007", "verb.id", "", "iri"),
    ("XAPI-00044", "verb.id", "http://example.com/100%verbs", "iri"),
    ("XAPI-00044", "verb.id", "http://example.com/100%2", "iri"),
    ("XAPI-00044", "verb.id", "http://example.com/verbs#a#b", "iri"),
    ("XAPI-00044", "verb.id", "http:", "iri"),
    ("XAPI-00044", "verb.id", "http://example.com/<verb>", "iri"),
    ("XAPI-00044", "verb.id", "http://example.com/" + "a" * 600 + " b", "iri"),
    ("XAPI-00006", "verb.id", 42, "type"),
    ("XAPI-00045", "verb.display", "answered", "type"),
    ("XAPI-00045", "verb.display", {"en_US": "answered"}, "language-tag", "verb.display.en_US"),
    ("XAPI-00045", "verb.display", {"en-US": 1}, "type", "verb.display.en-US"),
    ("XAPI-00010", "verb.name", "answered", "unknown-key"),
    ("XAPI-00006", "verb", "http://adlnet.gov/expapi/verbs/answered", "type"),
    # Data 4.2 language maps: RFC 5646 language tags
    ("XAPI-00013", "verb.display", {"": "answered"}, "language-tag", "verb.display."),
    ("XAPI-00013", "verb.display", {"a12345678": "answered"}, "language-tag", "verb.display.a12345678"),
    ("XAPI-00013", "verb.display", {"english-US-x": "answered"}, "language-tag", "verb.display.english-US-x"),
    ("XAPI-00013", "verb.display", {"en-": "answered"}, "language-tag", "verb.display.en-"),
    ("XAPI-00013", "verb.display", {"en-US-US": "answered"}, "language-tag", "verb.display.en-US-US"),
    ("XAPI-00013", "verb.display", {"something": "answered"}, "language-tag", "verb.display.something"),
    ("XAPI-00121", "verb.display", {"x": "answered"}, "language-tag", "verb.display.x"),
    ("XAPI-00121", "verb.display", {"toolonglanguage": "answered"}, "language-tag", "verb.display.toolonglanguage"),
    ("XAPI-00121", "verb.display", {"de-DE-1901-1901": "x"}, "language-tag", "verb.display.de-DE-1901-1901"),
    ("XAPI-00121", "verb.display", {"en-a-bbb-a-ccc": "x"}, "language-tag", "verb.display.en-a-bbb-a-ccc"),
    ("XAPI-00121", "verb.display", {"zh-z-aaa-z-bbb-c-ccc": "x"}, "language-tag", "verb.display.zh-z-aaa-z-bbb-c-ccc"),
    ("XAPI-00121", "verb.display", {"en-US-": "x"}, "language-tag", "verb.display.en-US-"),
    ("XAPI-00121", "verb.display", {"en-x-" + "a" * 80: "x"}, "language-tag", "verb.display.en-x-" + "a" * 80),
    # Data 2.4.4 object, 2.4.4.1 Activity
    ("XAPI-00046", "object.objectType", "activity", "object-type"),
    ("XAPI-00046", "object.objectType", "Statement", "object-type"),
    ("XAPI-00006", "object", "http://example.com/xapi/activity/question-1", "type"),
    ("XAPI-00047", "object.id", DELETE, "required"),
    ("XAPI-00011", "object.id", "example.com/xapi/activity/question-1", "iri"),
    ("Data 2.4.4.1", "object.id", "/xapi/activity/question-1", "iri"),
    ("XAPI-00047", "object.id", 7, "type"),
    ("XAPI-00010", "object.title", "Question 1", "unknown-key"),
    ("XAPI-00048", "object.definition", "Question 1", "type"),
    ("XAPI-00010", "object.definition.title", "Question 1", "unknown-key"),
    ("XAPI-00056", "object.definition.name", "Question 1", "type"),
    ("XAPI-00056", "object.definition.name", {"english": 1}, "type", "object.definition.name.english"),
    ("XAPI-00056", "object.definition.name", {"en_GB": "Q"}, "language-tag", "object.definition.name.en_GB"),
    ("XAPI-00059", "object.definition.description", 12345, "type"),
    ("XAPI-00060", "object.definition.type", "cmi.interaction", "iri"),
    ("XAPI-00061", "object.definition.moreInfo", "example.com/q1.html", "irl"),
    ("XAPI-00057", "object.definition.extensions", "difficulty=3", "type"),
    (
        "XAPI-00118",
        "object.definition.extensions",
        {"not.valid.com/extension": 1234},
        "extension-key",
        "object.definition.extensions.not.valid.com/extension",
    ),
    # Data 2.4.4.1 interaction activities
    ("XAPI-00049", "object.definition.interactionType", "Choice", "interaction-type"),
    ("XAPI-00049", "object.definition.interactionType", "multiple-choice", "interaction-type"),
    ("XAPI-00049", "object.definition.interactionType", 5, "interaction-type"),
    ("XAPI-00049", "object.definition.interactionType", {"k": "v"}, "interaction-type"),
    ("XAPI-00050", "object.definition.correctResponsesPattern", "golf", "type"),
    (
        "XAPI-00050",
        "object.definition.correctResponsesPattern",
        [1],
        "type",
        "object.definition.correctResponsesPattern[0]",
    ),
    (
        "XAPI-00064",
        "object.definition.interactionType",
        DELETE,
        "interaction-type",
        "object.definition.correctResponsesPattern",
    ),
    ("XAPI-00064", "object.definition.interactionType", DELETE, "interaction-type", "object.definition.choices"),
    ("XAPI-00055", "object.definition.choices", {"id": "golf"}, "type"),
    ("XAPI-00063", "object.definition.choices[0]", "golf", "type"),
    ("XAPI-00058", "object.definition.choices[0].id", DELETE, "required"),
    ("XAPI-00058", "object.definition.choices[0].id", 1, "type"),
    ("XAPI-00058", "object.definition.choices[2].id", "golf", "interaction-components"),
    ("XAPI-00062", "object.definition.choices[1].description", "Facebook", "type"),
    (
        "XAPI-00062",
        "object.definition.choices[1].description",
        {"en_US": "F"},
        "language-tag",
        "object.definition.choices[1].description.en_US",
    ),
    ("XAPI-00063", "object.definition.choices[1].name", "Facebook", "unknown-key"),
    ("Data 2.4.4.1", "object.definition.scale", [{"id": "1"}], "interaction-components"),
    ("Data 2.4.4.1", "object.definition.steps", [{"id": "1"}], "interaction-components"),
    (
        "Data 2.4.4.1",
        "object.definition.interactionType",
        "true-false",
        "interaction-components",
        "object.definition.choices",
    ),
    (
        "Data 2.4.4.1",
        "object.definition.interactionType",
        "likert",
        "interaction-components",
        "object.definition.choices",
    ),
    (
        "XAPI-00054",
        "object.definition",
        {"interactionType": "likert", "scale": "1-5"},
        "type",
        "object.definition.scale",
    ),
    (
        "XAPI-00051",
        "object.definition",
        {"interactionType": "performance", "steps": [{}]},
        "required",
        "object.definition.steps[0].id",
    ),
    (
        "XAPI-00052",
        "object.definition",
        {"interactionType": "matching", "target": [7]},
        "type",
        "object.definition.target[0]",
    ),
    (
        "XAPI-00053",
        "object.definition",
        {"interactionType": "matching", "source": {"id": "a"}},
        "type",
        "object.definition.source",
    ),
    # Data 2.4.4.2 Agent or Group as object, 2.4.4.3 StatementRef
    ("XAPI-00065", "object", {"mbox": "mailto:bob@example.com"}, "object-type", "object.objectType"),
    ("XAPI-00065", "object", {"member": [AGENT_OBJECT]}, "object-type", "object.objectType"),
    ("XAPI-00034", "object", AGENT_OBJECT | {"openid": "https://openid.example.com/bob"}, "one-ifi"),
    ("XAPI-00072", "object", {"objectType": "StatementRef"}, "required", "object.id"),
    ("XAPI-00072", "object", {"objectType": "StatementRef", "id": "12345"}, "uuid", "object.id"),
    (
        "XAPI-00010",
        "object",
        {"objectType": "StatementRef", "id": REF_ID, "definition": {}},
        "unknown-key",
        "object.definition",
    ),
    ("XAPI-00073", "object", {"id": REF_ID}, "iri", "object.id"),
    # Data 2.4.5 result, 2.4.5.1 score, 4.6 durations
    ("XAPI-00006", "result", ["passed"], "type"),
    ("XAPI-00010", "result.grade", "A", "unknown-key"),
    ("XAPI-00074", "result.success", "true", "type"),
    ("XAPI-00006", "result.success", "We regret to inform you that your effort was unsuccessful.", "type"),
    ("XAPI-00075", "result.completion", "false", "type"),
    ("XAPI-00075", "result.completion", 1, "type"),
    ("XAPI-00076", "result.response", 12345, "type"),
    ("XAPI-00077", "result.duration", "should fail", "duration"),
    ("XAPI-00077", "result.duration", 12345, "type"),
    ("XAPI-00124", "result.duration", "PA1H0M0S", "duration"),
    ("Data 4.6", "result.duration", "P4W1D", "duration"),
    ("XAPI-00124", "result.duration", "P", "duration"),
    ("XAPI-00124", "result.duration", "PT", "duration"),
    ("XAPI-00124", "result.duration", "P1DT", "duration"),
    ("XAPI-00124", "result.duration", "PT1.5H30M", "duration"),
    ("Data 4.6", "result.duration", "P0003-01-29T04:35:59", "duration"),
    ("XAPI-00124", "result.duration", "-P1D", "duration"),
    ("XAPI-00124", "result.duration", "pt1h", "duration"),
    ("XAPI-00124", "result.duration", "1:30:00", "duration"),
    ("XAPI-00078", "result.extensions", "length=60", "type"),
    ("XAPI-00118", "result.extensions", {"length": 60}, "extension-key", "result.extensions.length"),
    ("XAPI-00079", "result.score", 95, "type"),
    ("XAPI-00083", "result.score.scaled", 1.01, "score-range"),
    ("XAPI-00083", "result.score.scaled", -1.00001, "score-range"),
    ("XAPI-00083", "result.score.scaled", "0.5", "type"),
    ("XAPI-00082", "result.score.raw", 101, "score-range"),
    ("XAPI-00082", "result.score.raw", -0.5, "score-range"),
    ("XAPI-00081", "result.score.min", 150, "score-range"),
    ("XAPI-00080", "result.score.max", 0, "score-range", "result.score.min"),
    ("XAPI-00006", "result.score.max", "one hundred", "type"),
    ("XAPI-00006", "result.score.max", "100", "type"),
    ("XAPI-00006", "result.score.raw", True, "type"),
    ("XAPI-00006", "result.score.scaled", float("nan"), "type"),
    ("XAPI-00006", "result.score.raw", float("inf"), "type"),
    ("XAPI-00010", "result.score.percent", 95, "unknown-key"),
    # Data 2.4.6 context, 2.4.6.2 contextActivities
    ("XAPI-00006", "context", "Example LMS", "type"),
    ("XAPI-00010", "context.location", "Room B12", "unknown-key"),
    ("XAPI-00087", "context.registration", "not-a-uuid", "uuid"),
    ("XAPI-00087", "context.registration", 12345, "type"),
    ("XAPI-00087", "context.instructor", {"name": "Irene"}, "one-ifi"),
    ("XAPI-00087", "context.instructor", "Irene", "type"),
    ("XAPI-00088", "context.team", AGENT_OBJECT, "object-type", "context.team.objectType"),
    ("XAPI-00088", "context.team", {"mbox": "mailto:team@example.com"}, "object-type", "context.team.objectType"),
    ("XAPI-00088", "context.team", "Team A", "type"),
    ("XAPI-00088", "context.team.member[1]", GROUP_AS_ACTOR, "member"),
    ("XAPI-00086", "context.contextActivities", "parent", "type"),
    ("XAPI-00093", "context.contextActivities.consequences", [{"id": "http://x.org/a"}], "unknown-key"),
    ("XAPI-00008", "context.contextActivities.Parent", [{"id": "http://x.org/a"}], "unknown-key"),
    ("XAPI-00095", "context.contextActivities", {}, "empty"),
    ("XAPI-00094", "context.contextActivities.parent", "http://x.org/a", "type"),
    (
        "XAPI-00094",
        "context.contextActivities.parent[0]",
        {"key": "v"},
        "required",
        "context.contextActivities.parent[0].id",
    ),
    ("XAPI-00094", "context.contextActivities.parent[0].id", "quiz", "iri"),
    (
        "XAPI-00094",
        "context.contextActivities.other",
        AGENT_OBJECT,
        "unknown-key",
        "context.contextActivities.other.mbox",
    ),
    ("XAPI-00089", "context.revision", 2, "type"),
    ("XAPI-00090", "context.platform", {"name": "LMS"}, "type"),
    ("XAPI-00084", "object", AGENT_OBJECT, "activity-only", "context.revision"),
    ("XAPI-00085", "object", AGENT_OBJECT, "activity-only", "context.platform"),
    ("XAPI-00084", "object", {"objectType": "StatementRef", "id": REF_ID}, "activity-only", "context.revision"),
    ("XAPI-00085", "object", GROUP_AS_ACTOR, "activity-only", "context.platform"),
    ("XAPI-00091", "context.language", "en US", "language-tag"),
    ("XAPI-00091", "context.language", "en_US", "language-tag"),
    ("XAPI-00091", "context.language", 12345, "type"),
    (
        "XAPI-00092",
        "context.statement",
        {"objectType": "Activity", "id": REF_ID},
        "object-type",
        "context.statement.objectType",
    ),
    ("XAPI-00092", "context.statement.id", "12345", "uuid"),
    ("XAPI-00092", "context.statement", {"id": REF_ID}, "required", "context.statement.objectType"),
    (
        "XAPI-00118",
        "context.extensions",
        {"example.com/extension/wrong": 1234},
        "extension-key",
        "context.extensions.example.com/extension/wrong",
    ),
    ("XAPI-00120", "context.extensions", [["http://x.org/ext", 1]], "type"),
    ("2.0 only", "context.contextAgents", FULL_2_0["context"]["contextAgents"], "unknown-key"),
    ("2.0 only", "context.contextGroups", FULL_2_0["context"]["contextGroups"], "unknown-key"),
    # Data 2.4.11 attachments
    ("XAPI-00025", "attachments", {"usageType": "http://x.org/u"}, "type"),
    ("XAPI-00025", "attachments[0]", "should fail", "type"),
    ("XAPI-00107", "attachments[0].usageType", DELETE, "required"),
    ("XAPI-00107", "attachments[0].usageType", "certificate", "iri"),
    ("XAPI-00106", "attachments[0].display", DELETE, "required"),
    (
        "XAPI-00106",
        "attachments[0].display",
        {"something": "Certificate"},
        "language-tag",
        "attachments[0].display.something",
    ),
    ("Data 2.4.11", "attachments[0].description", "The certificate", "type"),
    ("XAPI-00105", "attachments[0].contentType", DELETE, "required"),
    ("XAPI-00105", "attachments[0].contentType", "should fail", "content-type"),
    ("XAPI-00105", "attachments[0].contentType", 12345, "type"),
    ("XAPI-00102", "attachments[0].length", DELETE, "required"),
    ("XAPI-00102", "attachments[0].length", "27", "length"),
    ("XAPI-00102", "attachments[0].length", -1, "length"),
    ("XAPI-00102", "attachments[0].length", 27.5, "length"),
    ("XAPI-00102", "attachments[0].length", True, "length"),
    ("XAPI-00103", "attachments[0].sha2", DELETE, "required"),
    ("XAPI-00103", "attachments[0].sha2", "not a hash", "sha2"),
    ("XAPI-00103", "attachments[0].sha2", SHA256[:63], "sha2"),
    ("XAPI-00103", "attachments[0].sha2", 12345, "type"),
    ("XAPI-00104", "attachments[0].fileUrl", "over.there.com/file.txt", "irl"),
    ("XAPI-00010", "attachments[0].fileName", "cert.pdf", "unknown-key"),
    ("XAPI-00115", "attachments[0].usageType", SIGNATURE, "signature", "attachments[0].contentType"),
    # Data 2.3.2 voiding
    ("XAPI-00017", "verb", {"id": VOIDED, "display": {"en-US": "voided"}}, "voiding", "object"),
]

# Changes to WITH_SUBSTATEMENT the LRS must reject under 1.0.3.
INVALID_SUBSTATEMENT: list[Rejected] = [
    ("XAPI-00070", "object.id", REF_ID, "substatement"),
    ("XAPI-00069", "object.stored", "2015-11-18T12:17:01Z", "substatement"),
    ("XAPI-00068", "object.version", "1.0.0", "substatement"),
    ("XAPI-00067", "object.authority", AGENT_OBJECT, "substatement"),
    ("XAPI-00071", "object.object", WITH_SUBSTATEMENT["object"], "substatement"),
    ("XAPI-00066", "object.actor", DELETE, "required"),
    ("XAPI-00066", "object.verb", DELETE, "required"),
    ("XAPI-00066", "object.object", DELETE, "required"),
    ("XAPI-00066", "object.actor", {"name": "nobody"}, "one-ifi"),
    ("XAPI-00066", "object.verb.id", "answered", "iri"),
    ("XAPI-00066", "object.timestamp", "2015-11-18T12:17:00.601-00:00", "timestamp"),
    ("XAPI-00066", "object.result.duration", "PT4W", "duration"),
    ("XAPI-00066", "object.context.language", "e", "language-tag"),
    ("XAPI-00066", "object.object.definition", {"name": "Q"}, "type", "object.object.definition.name"),
    ("XAPI-00010", "object.comment", "x", "unknown-key"),
    ("XAPI-00046", "object.objectType", "substatement", "object-type"),
    ("XAPI-00073", "object.objectType", DELETE, "unknown-key", "object.actor"),
    ("XAPI-00084", "object.object", AGENT_OBJECT, "activity-only", "object.context.revision"),
    ("XAPI-00017", "object.verb.id", VOIDED, "voiding", "object.object"),
]

# Changes to FULL_2_0 the LRS must reject under X-Experience-API-Version 2.0.0.
INVALID_2_0: list[Rejected] = [
    ("2.0 4.2.7 Timestamps", "timestamp", "2015-11-18T12:17:00.000", "timestamp"),
    ("2.0 4.2.7 Timestamps", "stored", "2015-11-18T12:17:01", "timestamp"),
    ("XAPI-00123", "timestamp", "2008-09-15T15:53:00.601-00:00", "timestamp"),
    ("2.0 4.2.2.5", "context.contextAgents", {"objectType": "contextAgent"}, "type"),
    ("2.0 4.2.2.5", "context.contextAgents[0].objectType", "Should fail", "object-type"),
    ("2.0 4.2.2.5", "context.contextAgents[0].objectType", DELETE, "required"),
    ("2.0 4.2.2.5", "context.contextAgents[0].agent", DELETE, "required"),
    ("2.0 4.2.2.5", "context.contextAgents[0].agent", {"key": "Should fail"}, "one-ifi"),
    (
        "2.0 4.2.2.5",
        "context.contextAgents[0].agent",
        GROUP_AS_ACTOR,
        "object-type",
        "context.contextAgents[0].agent.objectType",
    ),
    ("2.0 4.2.2.5", "context.contextAgents[0].relevantTypes", [], "empty"),
    (
        "2.0 4.2.2.5",
        "context.contextAgents[0].relevantTypes",
        ["abc"],
        "iri",
        "context.contextAgents[0].relevantTypes[0]",
    ),
    ("2.0 4.2.2.5", "context.contextAgents[0].relevantTypes", "http://x.org/t", "type"),
    ("2.0 4.2.2.5", "context.contextAgents[0].role", "quarterback", "unknown-key"),
    ("2.0 4.2.2.5", "context.contextGroups[0].objectType", "contextAgent", "object-type"),
    (
        "2.0 4.2.2.5",
        "context.contextGroups[0].group",
        {"key": "Should fail"},
        "object-type",
        "context.contextGroups[0].group.objectType",
    ),
    (
        "2.0 4.2.2.5",
        "context.contextGroups[0].group",
        {"objectType": "Group"},
        "required",
        "context.contextGroups[0].group.member",
    ),
    ("2.0 4.2.2.5", "context.contextGroups[0].relevantTypes", [], "empty"),
    ("2.0 4.2.2.5", "context.contextGroups[0].member", [AGENT_OBJECT], "unknown-key"),
    ("2.0 4.2.4.3", "version", "3.0.0", "version"),
    ("2.0 4.2.4.3", "version", "2.1.0", "version"),
    ("XAPI-00030", "id", "not-a-uuid", "uuid"),
]

# (source, path changed in FULL, new value): Statements the LRS must accept under 1.0.3.
VALID: list[tuple[str, str, object]] = [
    ("Data 2.4", "id", DELETE),
    ("Data 4.4", "id", "FD41C918-B88B-4B20-A0A5-A4C32391AAA0"),
    ("Data 2.4.1", "id", "6690e6c9-3ef0-11ed-8b37-7f3964730bee"),
    ("Data 4.4", "id", "00000000-0000-0000-0000-000000000000"),
    ("Data 2.4", "context", DELETE),
    ("Data 2.4", "result", DELETE),
    ("Data 2.4", "attachments", []),
    ("Data 2.4", "version", DELETE),
    ("XAPI-00101", "version", "1.0"),
    ("XAPI-00101", "version", "1.0.9"),
    ("XAPI-00101", "version", "1.0.3"),
    ("XAPI-00097", "stored", DELETE),
    # timestamps
    ("Data 4.5", "timestamp", "2015-11-18T12:17:00Z"),
    ("Data 4.5 (SHOULD* include the time zone)", "timestamp", "2015-11-18T12:17:00"),
    ("XAPI-00123 ISO 8601 basic", "timestamp", "20151118T121700Z"),
    ("XAPI-00123", "timestamp", "2015-11-18T12:17:00.123+0100"),
    ("XAPI-00123", "timestamp", "2015-11-18T12:17:00-05"),
    ("XAPI-00122", "timestamp", "2015-11-18T12:17:00.123456789Z"),
    ("XAPI-00123", "timestamp", "2008-09-15T15:53:00.601+00:00"),
    ("Data 4.5", "timestamp", "2016-02-29T23:59:59.999-12:00"),
    ("Data 4.5", "timestamp", "2015-11-18T12:17Z"),
    ("Data 4.5", "timestamp", "2015-11-18T12:17:00,5Z"),
    ("RFC 3339 5.6", "timestamp", "2015-11-18t12:17:00z"),
    ("Data 2.4.7 (future)", "timestamp", "2031-11-30T07:43:53.628Z"),
    ("Data 4.5", "timestamp", "2015-12-31T23:59:59.999Z"),
    ("Data 4.5", "timestamp", "2016-02-29T12:00:00Z"),
    ("Data 4.5", "timestamp", "0001-01-01T00:00:00Z"),
    ("Data 4.5", "timestamp", "2015-11-18T12:17:00.000-05:00"),
    ("Data 4.5", "timestamp", "2015-11-18T12:17:00+23:59"),
    # actors
    ("Data 2.4.2.1", "actor.objectType", DELETE),
    ("Data 2.4.2.1", "actor.name", DELETE),
    ("Data 2.4.2.3", "actor", {"mbox_sha1sum": BOB_SHA1.upper()}),
    ("Data 2.4.2.3", "actor", {"openid": "https://openid.example.com/bob"}),
    (
        "Data 2.4.2.4",
        "actor",
        {"objectType": "Agent", "account": {"homePage": "http://www.example.com", "name": "1625378"}},
    ),
    ("RFC 3986 3.1", "actor.mbox", "MAILTO:user@example.com"),
    ("Data 2.4.2.2", "actor", GROUP_AS_ACTOR),
    ("Data 2.4.2.2", "actor", {"objectType": "Group", "name": "Team", "mbox": "mailto:team@example.com"}),
    ("Data 2.4.2.2", "actor", {"objectType": "Group", "openid": "https://openid.example.com/t", "member": []}),
    (
        "Data 2.4.2.2",
        "actor",
        {"objectType": "Group", "account": {"homePage": "https://x.org", "name": "t"}, "member": [AGENT_OBJECT]},
    ),
    ("Data 2.4.6", "context.instructor", GROUP_AS_ACTOR),
    (
        "Data 2.4.9",
        "authority",
        {
            "objectType": "Group",
            "member": [
                {"account": {"homePage": "http://example.com/xAPI/OAuth/Token", "name": "oauth_consumer_x75db"}},
                AGENT_OBJECT,
            ],
        },
    ),
    ("Data 2.4.9", "authority", DELETE),
    # verbs, IRIs, language maps
    ("Data 2.4.3", "verb.display", DELETE),
    ("Data 2.4.3.1", "verb.id", "http://example.com/فعل/خواندن"),
    ("Data 4.3", "verb.id", "urn:example:verbs:answered"),
    ("Data 4.3", "verb.id", "http://example.com/xapi/verbs#defenestrated"),
    ("Data 4.3", "verb.id", "http://example.com/100%25"),
    ("Data 4.3", "verb.id", "http:x"),
    ("Data 4.3", "verb.id", "http://example.com/" + "a" * 600),
    ("Data 4.3", "verb.id", "http://example.com/" + "%2F" * 300 + "#fragment"),
    ("Data 4.2", "verb.display", {}),
    ("Data 4.2", "verb.display", {"en-US": ""}),
    ("RFC 5646", "verb.display", {"en": "a", "en-US": "b", "EN-gb": "c", "zh-Hant-TW": "d", "und": "e", "es-419": "f"}),
    ("RFC 5646", "verb.display", {"x-klingon": "a", "i-klingon": "b", "sgn-BE-FR": "c", "zh-min-nan": "d"}),
    ("RFC 5646", "verb.display", {"en-x" + "-abcdefgh" * 10: "a long private use tag"}),
    (
        "RFC 5646",
        "verb.display",
        {"de-CH-1901": "a", "sl-rozaj-biske": "b", "hy-Latn-IT-arevela": "c", "zh-yue-HK": "d"},
    ),
    (
        "RFC 5646",
        "verb.display",
        {"en-a-bbb-x-a-ccc": "a", "qaa-Qaaa-QM-x-southern": "b", "de-Latn-DE-u-co-phonebk": "c"},
    ),
    # objects
    ("Data 2.4.4", "object.objectType", DELETE),
    ("Data 2.4.4.1", "object.definition", DELETE),
    ("Data 2.4.4.1 (verify.js)", "object.definition", {}),
    ("Data 2.4.4.1", "object.id", "urn:uuid:fd41c918-b88b-4b20-a0a5-a4c32391aaa0"),
    ("Data 2.4.4.1", "object.id", "tag:example.com,2024:question-1"),
    ("Data 2.4.4.1", "object.definition.correctResponsesPattern", []),
    ("Data 2.4.4.1", "object.definition.correctResponsesPattern", DELETE),
    ("Data 2.4.4.1", "object.definition.choices[0].description", DELETE),
    ("Data 2.4.4.1", "object.definition.interactionType", "sequencing"),
    ("Appendix C", "object.definition", {"interactionType": "true-false", "correctResponsesPattern": ["true"]}),
    (
        "Appendix C",
        "object.definition",
        {"interactionType": "fill-in", "correctResponsesPattern": ["Bob's your uncle"]},
    ),
    ("Appendix C", "object.definition", {"interactionType": "numeric", "correctResponsesPattern": ["4[:]"]}),
    (
        "Appendix C",
        "object.definition",
        {"interactionType": "other", "correctResponsesPattern": ["(35.937432,-86.868896)"]},
    ),
    (
        "Appendix C",
        "object.definition",
        {"interactionType": "likert", "scale": [{"id": "likert_0"}, {"id": "likert_1"}]},
    ),
    (
        "Appendix C",
        "object.definition",
        {"interactionType": "matching", "source": [{"id": "ben"}], "target": [{"id": "1"}]},
    ),
    ("Appendix C", "object.definition", {"interactionType": "performance", "steps": [{"id": "pong"}, {"id": "dg"}]}),
    # result
    ("XAPI-00080", "result.score", {"raw": 1000}),
    ("Data 2.4.5.1", "result.score", {"scaled": -1}),
    ("Data 2.4.5.1", "result.score", {"scaled": 1, "raw": 0, "min": 0}),
    ("Data 2.4.5.1", "result.score", {"raw": 100, "max": 100}),
    ("Data 2.4.5.1", "result.score", {"raw": -5, "min": -10, "max": -1}),
    ("XAPI-00002", "result.score", {"scaled": 0.12123434, "raw": 12.125, "min": 0.12123434, "max": 45.45}),
    ("Data 2.4.5", "result.response", ""),
    ("Data 4.6", "result.duration", "PT0.5S"),
    ("Data 4.6", "result.duration", "PT4H35M59.14S"),
    ("Data 4.6", "result.duration", "PT16559.14S"),
    ("Data 4.6", "result.duration", "P3Y1M29DT4H35M59.14S"),
    ("Data 4.6", "result.duration", "P3Y"),
    ("Data 4.6", "result.duration", "P4W"),
    ("2.0 4.2.7 Duration", "result.duration", "P1DT12H36M0.12567S"),
    ("Data 4.6", "result.duration", "PT1H0M0.1S"),
    ("Data 4.6", "result.duration", "P0D"),
    ("Data 4.6", "result.duration", "PT0,5S"),
    ("Data 4.6", "result.duration", "P0.5Y"),
    # extensions: any JSON value, XAPI-00119
    ("XAPI-00119", "result.extensions", {}),
    ("XAPI-00119", "result.extensions", {"http://example.com/null": None}),
    ("XAPI-00119", "context.extensions", {"http://example.com/ex": ""}),
    ("XAPI-00119", "object.definition.extensions", {"http://example.com/ex": {}}),
    (
        "Data 4.1",
        "context.extensions",
        {"urn:example:ext": [1, "two", None, {"three": [3.0]}], "http://x.org/b": False},
    ),
    # context
    ("Data 2.4.6.2", "context.contextActivities.parent", {"id": "http://example.com/xapi/activity/quiz"}),
    ("Data 2.4.6.2", "context.contextActivities", {"other": {"objectType": "Activity", "id": "http://x.org/a"}}),
    ("Data 2.4.6.2", "context.contextActivities.grouping", []),
    ("Data 2.4.6", "context.language", "zh-Hant-TW"),
    ("Data 2.4.6", "context", {"registration": "5389ED44-E618-4A66-9A43-7A0B282FD837"}),
    # attachments
    ("Data 2.4.11", "attachments[0].sha2", "a" * 128),
    ("Data 2.4.11", "attachments[0].sha2", SHA256.upper()),
    ("Data 2.4.11", "attachments[0].contentType", "text/plain; charset=ascii"),
    ("Data 2.4.11", "attachments[0].length", 0),
    ("Data 2.4.11", "attachments[0].fileUrl", DELETE),
    ("Data 2.4.11", "attachments[0].description", DELETE),
    (
        "Data 2.6",
        "attachments[0]",
        {
            "usageType": SIGNATURE,
            "display": {"en-US": "Signature"},
            "contentType": "application/octet-stream",
            "length": 4235,
            "sha2": SHA256,
        },
    ),
]

#: FULL without the context properties that only go with an Activity as object (Data 2.4.6).
NOT_ABOUT_AN_ACTIVITY = changed(changed(FULL, "context.revision", DELETE), "context.platform", DELETE)

# (source, new object of NOT_ABOUT_AN_ACTIVITY): objects other than Activities the LRS must accept under 1.0.3.
VALID_OBJECTS: list[tuple[str, object]] = [
    ("Data 2.4.4.2", AGENT_OBJECT),
    ("Data 2.4.4.2", GROUP_AS_ACTOR),
    ("Data 2.4.4.2", {"objectType": "Group", "name": "Team", "openid": "https://openid.example.com/team"}),
    ("Data 2.4.4.3", {"objectType": "StatementRef", "id": REF_ID}),
    ("Data 2.4.4.3", WITH_SUBSTATEMENT["object"]),
]

# (source, path changed in FULL_2_0, new value): Statements the LRS must accept under 2.0.0.
VALID_2_0: list[tuple[str, str, object]] = [
    ("2.0 4.2.2.5", "context.contextAgents[0].relevantTypes", DELETE),
    ("2.0 4.2.2.5", "context.contextGroups[0].relevantTypes", DELETE),
    ("2.0 4.2.2.5", "context.contextGroups[0].group", GROUP_AS_ACTOR),
    ("2.0 4.2.2.5", "context.contextAgents", []),
    ("2.0 4.2.4.3 (version.js)", "version", "1.0.9"),
    ("2.0 4.2.4.3", "version", "2.0"),
    ("2.0 4.2.4.3", "version", DELETE),
    ("2.0 timestamps.js", "timestamp", "2008-09-15T15:53:00.601+00:00"),
    ("2.0 4.2.7 Timestamps", "timestamp", "2023-05-04T12:00:00-05:00"),
    ("2.0 contextactivities.js", "context.contextActivities.parent", {"id": "http://example.com/xapi/activity/quiz"}),
]


def _ids(rows: list[Any]) -> list[str]:
    """Readable test ids: the source and the changed path."""
    return [f"{row[0]}|{row[1]}" for row in rows]


def _rejections(rows: list[Rejected]) -> list[tuple[str, str, object, str, str]]:
    """Rows with the reported path spelled out: (source, path, value, rule, reported path)."""
    return [(row[0], row[1], row[2], row[3], row[4] if len(row) == 5 else row[1]) for row in rows]


@pytest.mark.parametrize(("source", "path", "value", "rule", "where"), _rejections(INVALID), ids=_ids(INVALID))
def test_rejected_1_0(source: str, path: str, value: object, rule: str, where: str) -> None:
    violations = statement_violations(changed(FULL, path, value), "1.0.3")
    assert (where, rule) in found(violations), f"{source}: got {violations}"
    assert all(violation.message.endswith(".") for violation in violations)


@pytest.mark.parametrize(
    ("source", "path", "value", "rule", "where"), _rejections(INVALID_SUBSTATEMENT), ids=_ids(INVALID_SUBSTATEMENT)
)
def test_rejected_in_substatement(source: str, path: str, value: object, rule: str, where: str) -> None:
    violations = statement_violations(changed(WITH_SUBSTATEMENT, path, value), "1.0.3")
    assert (where, rule) in found(violations), f"{source}: got {violations}"


@pytest.mark.parametrize(("source", "path", "value", "rule", "where"), _rejections(INVALID_2_0), ids=_ids(INVALID_2_0))
def test_rejected_2_0(source: str, path: str, value: object, rule: str, where: str) -> None:
    violations = statement_violations(changed(FULL_2_0, path, value), "2.0.0")
    assert (where, rule) in found(violations), f"{source}: got {violations}"


@pytest.mark.parametrize(("source", "path", "value"), VALID, ids=_ids(VALID))
def test_accepted_1_0(source: str, path: str, value: object) -> None:
    assert statement_violations(changed(FULL, path, value), "1.0.3") == [], source


@pytest.mark.parametrize(("source", "target"), VALID_OBJECTS, ids=[row[0] for row in VALID_OBJECTS])
def test_accepted_objects(source: str, target: object) -> None:
    assert statement_violations(changed(NOT_ABOUT_AN_ACTIVITY, "object", target), "1.0.3") == [], source


@pytest.mark.parametrize(("source", "path", "value"), VALID_2_0, ids=_ids(VALID_2_0))
def test_accepted_2_0(source: str, path: str, value: object) -> None:
    assert statement_violations(changed(FULL_2_0, path, value), "2.0.0") == [], source


@pytest.mark.parametrize(
    ("statement", "version"),
    [
        (FULL, "1.0.3"),
        (FULL, "1.0.0"),
        (FULL, "1.0"),
        (FULL, "2.0.0"),
        (WITH_SUBSTATEMENT, "1.0.3"),
        (FULL_2_0, "2.0.0"),
    ],
)
def test_the_base_statements_are_valid(statement: dict[str, Any], version: str) -> None:
    assert statement_violations(statement, version) == []


def test_every_recorded_statement_is_valid(shared_data: Path) -> None:
    """Data 2.4: every Statement recorded from real clients (ADL's simple statement, DATASIM's TCCC run) passes."""
    recorded = json.loads((shared_data / "xapi" / "datasim-tccc-statements.json").read_text(encoding="utf-8"))
    recorded.append(json.loads((shared_data / "xapi" / "simple-statement.json").read_text(encoding="utf-8")))
    assert len(recorded) > 1000
    for version in ("1.0.3", "2.0.0"):
        invalid = {statement["id"]: statement_violations(statement, version) for statement in recorded}
        assert {key: found for key, found in invalid.items() if found} == {}, version


@pytest.mark.parametrize("body", ["a statement", 42, None, ["not", "statements"]])
def test_a_statement_must_be_an_object(body: object) -> None:
    """XAPI-00014: a Statement is a JSON object."""
    violations = [violation for _, violation in batch_violations(body, "1.0.3")]
    assert violations and {violation.rule for violation in violations} == {"type"}
    assert {violation.path for violation in violations} == {""}


def test_every_violation_is_reported_not_only_the_first() -> None:
    statement = changed(changed(changed(FULL, "id", "x"), "verb.id", "answered"), "result.success", "yes")
    assert found(statement_violations(statement)) == {("id", "uuid"), ("verb.id", "iri"), ("result.success", "type")}


def test_a_batch_reports_each_statement_by_index_and_duplicate_ids() -> None:
    """Comm 2.1.2: a batch with two Statements of the same id SHOULD* be rejected (compared as UUIDs, any case)."""
    second = changed(FULL, "id", FULL["id"].upper())
    broken = changed(FULL, "id", "9a4f5a1e-6d7e-4e5f-8a9b-0c1d2e3f4a5b") | {"verb": {"id": "answered"}}
    violations = batch_violations([FULL, second, broken], "1.0.3")
    assert [(index, violation.path, violation.rule) for index, violation in violations] == [
        (1, "id", "duplicate-id"),
        (2, "verb.id", "iri"),
    ]
    assert "Statement 0" in violations[0][1].message


def test_a_batch_of_distinct_statements_or_one_statement_passes() -> None:
    other = changed(FULL, "id", "9a4f5a1e-6d7e-4e5f-8a9b-0c1d2e3f4a5b")
    without_id = changed(FULL, "id", DELETE)
    assert batch_violations([FULL, other, without_id, without_id], "1.0.3") == []
    assert batch_violations(FULL, "1.0.3") == []
    assert batch_violations([], "2.0.0") == []


def test_a_single_statement_body_reports_index_zero() -> None:
    assert batch_violations(changed(FULL, "actor", DELETE), "1.0.3") == [
        (0, Violation("actor", "required", "a Statement must have the property actor."))
    ]


def test_voided_statement_id() -> None:
    """Data 2.3.2: a voiding Statement names the voided Statement by a StatementRef."""
    voiding = {"actor": AGENT_OBJECT, "verb": {"id": VOIDED}, "object": {"objectType": "StatementRef", "id": REF_ID}}
    assert statement_violations(voiding) == []
    assert voided_statement_id(voiding) == REF_ID
    assert voided_statement_id(FULL) is None
    assert voided_statement_id(changed(voiding, "object", {"id": "http://x.org/a"})) is None
    assert voided_statement_id(changed(voiding, "verb", "voided")) is None
    assert voided_statement_id("not a statement") is None


@pytest.mark.parametrize("version", ["0.95", "1.1.0", "3.0.0", "", "2.0.0-rc1"])
def test_an_unsupported_version_header_is_a_bad_parameter(version: str) -> None:
    """Comm 3.3: the LRS rejects requests whose X-Experience-API-Version it does not implement."""
    with pytest.raises(BadParameter) as raised:
        statement_violations(FULL, version)
    assert raised.value.parameter == "X-Experience-API-Version"


def test_violations_say_where_which_rule_and_why_in_full() -> None:
    statement = changed(WITH_SUBSTATEMENT, "object.verb.id", "answered")
    statement = changed(statement, "object.timestamp", "2015-02-29T12:00:00Z")
    statement = changed(statement, "object.verb.display", {"en_US": None})
    statement = changed(statement, "object.context.registration", "12345")
    statement = changed(statement, "object.context.Platform", "x")
    statement = changed(statement, "timestamp", "2015-11-18T12:17:00")
    statement = changed(statement, "verb.display", {"en-US": 1})
    tag_message = "'en_US' in object.verb.display is not an RFC 5646 language tag such as en-US."
    uuid_message = "object.context.registration must be a UUID such as fd41c918-b88b-4b20-a0a5-a4c32391aaa0."
    date_message = (
        "object.timestamp '2015-02-29T12:00:00Z' is not a real date and time (day is out of range for month); "
        "24:00 and leap seconds are not accepted."
    )
    expected = [
        Violation("verb.display.en-US", "type", "verb.display.en-US must be a string, not int."),
        Violation("object.verb.id", "iri", "object.verb.id must be an absolute IRI with a scheme."),
        Violation("object.verb.display.en_US", "language-tag", tag_message),
        Violation("object.verb.display.en_US", "null", "object.verb.display.en_US must not be null."),
        Violation("object.context.Platform", "unknown-key", "'Platform' is not a property of a Context in xAPI 1.0.3."),
        Violation("object.context.registration", "uuid", uuid_message),
        Violation("object.timestamp", "timestamp", date_message),
    ]
    assert statement_violations(statement, "1.0.3") == expected
    no_zone = "timestamp '2015-11-18T12:17:00' has no time zone; add Z or an offset such as +01:00."
    expected[4] = Violation(
        "object.context.Platform", "unknown-key", "'Platform' is not a property of a Context in xAPI 2.0.0."
    )
    assert statement_violations(statement, "2.0.0") == [*expected, Violation("timestamp", "timestamp", no_zone)]


@pytest.mark.parametrize(
    "statement",
    [FULL, FULL_2_0, WITH_SUBSTATEMENT, changed(WITH_SUBSTATEMENT, "object.object", WITH_SUBSTATEMENT["object"])],
    ids=["full", "full-2.0", "substatement", "nested-substatement"],
)
def test_validation_leaves_the_statement_as_it_was(statement: dict[str, Any]) -> None:
    before = copy.deepcopy(statement)
    statement_violations(statement, "2.0.0")
    assert statement == before


def test_asking_twice_gets_the_same_answer() -> None:
    """The checks remember answers for values that repeat (IRIs, language tags); the answers must not change."""
    statement = changed(changed(FULL, "verb.id", "answered"), "verb.display", {"en_US": "answered", "en-US": "a"})
    first = statement_violations(statement, "1.0.3")
    assert found(first) == {("verb.id", "iri"), ("verb.display.en_US", "language-tag")}
    assert statement_violations(statement, "1.0.3") == first
    assert statement_violations(FULL, "1.0.3") == statement_violations(FULL, "1.0.3") == []
