"""What the LRS assigns to a Statement, and when a re-sent Statement is the same one (Data 2.3.1)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from lrs.comparison import canonical, canonical_bytes
from lrs.drafting import derived_id
from lrs.iso8601 import parse_timestamp
from lrs.statements import authority_for, content_hash, iso_utc, prepared, sent_instant

SENT: dict[str, Any] = {
    "actor": {"objectType": "Agent", "name": "Ann", "mbox": "mailto:ann@Example.com"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
    "object": {"id": "http://example.com/course/1", "definition": {"name": {"en-US": "Course 1"}}},
    "result": {"duration": "PT1H"},
    "context": {"contextActivities": {"parent": [{"id": "http://example.com/program"}]}},
}
NOW = datetime(2026, 11, 30, 8, 0, 0, 123456, tzinfo=UTC)
AUTHORITY = authority_for("moodle", "https://lrs.example.com")


def edited(**changes: Any) -> dict[str, Any]:
    statement = copy.deepcopy(SENT)
    for key, value in changes.items():
        statement[key] = value
    return statement


def test_the_lrs_assigns_id_stored_timestamp_version_and_authority() -> None:
    result = prepared(SENT, stored=NOW, authority=AUTHORITY, version_2=False, new_id=lambda: "new-id")
    assert result["id"] == "new-id"
    assert result["stored"] == result["timestamp"] == "2026-11-30T08:00:00.123Z"
    assert result["version"] == "1.0.0"
    assert result["authority"] == AUTHORITY
    assert "id" not in SENT  # the input is left as it was
    two = prepared(SENT, stored=NOW, authority=AUTHORITY, version_2=True)
    assert two["version"] == "2.0.0"


def test_what_the_client_set_is_kept_but_its_authority_is_overwritten() -> None:
    given = edited(
        id="0E1F2D3C-4B5A-4978-8695-A4B3C2D1E0F9",
        timestamp="2026-11-29T10:00:00+01:00",
        version="1.0.3",
        authority={"objectType": "Agent", "mbox": "mailto:someone@else.org"},
    )
    result = prepared(given, stored=NOW, authority=AUTHORITY, version_2=False)
    assert result["id"] == "0e1f2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
    assert result["timestamp"] == "2026-11-29T10:00:00+01:00" and result["version"] == "1.0.3"
    assert result["authority"] == AUTHORITY


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(edited(id="0e1f2d3c-4b5a-4978-8695-a4b3c2d1e0f9"), id="an id"),
        pytest.param(edited(stored="2020-01-01T00:00:00Z", version="1.0.0"), id="stored and version"),
        pytest.param(edited(authority={"objectType": "Agent", "mbox": "mailto:x@y.org"}), id="authority"),
        pytest.param(edited(verb={"id": SENT["verb"]["id"], "display": {"de": "abgeschlossen"}}), id="verb display"),
        pytest.param(edited(object={"id": "http://example.com/course/1"}), id="activity definition"),
        pytest.param(edited(actor={**SENT["actor"], "mbox": "mailto:ann@example.COM"}), id="e-mail domain case"),
        pytest.param(
            edited(context={"contextActivities": {"parent": {"id": "http://example.com/program"}}}),
            id="one activity or a list of one",
        ),
        pytest.param(edited(timestamp="2026-11-29T10:00:00Z"), id="a timestamp compared apart"),
    ],
)
def test_differences_the_lrs_may_cause_are_ignored(other: dict[str, Any]) -> None:
    assert content_hash(other) == content_hash(SENT)


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(edited(verb={"id": "http://adlnet.gov/expapi/verbs/passed"}), id="verb"),
        pytest.param(edited(object={"id": "http://example.com/course/2"}), id="object"),
        pytest.param(edited(result={"duration": "PT60M"}), id="a duration is a string"),
        pytest.param(edited(actor={**SENT["actor"], "mbox": "mailto:Ann@example.com"}), id="e-mail local part"),
        pytest.param(edited(actor={**SENT["actor"], "name": "Anne"}), id="actor name"),
        pytest.param(edited(result=None), id="result removed"),
    ],
)
def test_every_other_difference_counts(other: dict[str, Any]) -> None:
    if other.get("result") is None:
        other.pop("result")
    assert content_hash(other) != content_hash(SENT)


def test_group_members_in_any_order_are_the_same_group() -> None:
    members = [{"mbox": "mailto:a@example.com"}, {"mbox": "mailto:b@example.com"}]
    group = {"objectType": "Group", "member": members}
    turned = {"objectType": "Group", "member": list(reversed(members))}
    assert content_hash(edited(actor=group)) == content_hash(edited(actor=turned))


def test_the_sent_timestamp_is_an_instant() -> None:
    assert sent_instant(edited(timestamp="2026-11-29T10:00:00+01:00")) == datetime(2026, 11, 29, 9, tzinfo=UTC)
    assert sent_instant(SENT) is None
    assert iso_utc(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000Z"


@pytest.mark.parametrize(
    ("sent", "instant"),
    [
        ("2015-11-18T12:17:00.5+01:00", datetime(2015, 11, 18, 11, 17, 0, 500000, tzinfo=UTC)),
        ("2015-11-18T12:17:00.1234567Z", datetime(2015, 11, 18, 12, 17, 0, 123456, tzinfo=UTC)),  # microseconds
        ("2015-11-18T23:59:59-05:30", datetime(2015, 11, 19, 5, 29, 59, tzinfo=UTC)),
        ("2015-11-30T12:17:00Z", datetime(2015, 11, 30, 12, 17, tzinfo=UTC)),  # past the 28th: the full checks
        ("20151118T121700,25Z", datetime(2015, 11, 18, 12, 17, 0, 250000, tzinfo=UTC)),  # basic format
        ("2015-11-18T12:17+0100", datetime(2015, 11, 18, 11, 17, tzinfo=UTC)),
        ("2015-11-18T12:17:00", datetime(2015, 11, 18, 12, 17, tzinfo=UTC)),  # no zone: UTC
        ("2015-02-29T12:17:00Z", None),
        ("2015-11-18T12:17:00-00:00", None),
    ],
)
def test_timestamps_name_their_instant_on_the_fast_path_and_off_it(sent: str, instant: datetime | None) -> None:
    assert parse_timestamp(sent) == instant


def test_a_statement_sent_without_an_id_gets_one_derived_from_its_content() -> None:
    sent = edited(timestamp="2026-11-29T10:00:00Z", context={"registration": "0e1f2d3c-4b5a-4978-8695-a4b3c2d1e0f9"})
    again = edited(timestamp="2026-11-29T10:00:00Z", context={"registration": "11111111-2222-4333-8444-555555555555"})
    assert derived_id("moodle", sent) == derived_id("moodle", again)  # sent again with a new registration
    assert derived_id("moodle", sent) != derived_id("other-lms", sent)
    assert derived_id("moodle", sent) != derived_id("moodle", edited(timestamp="2026-11-29T10:00:01Z"))
    assert derived_id("moodle", sent) != derived_id("moodle", {**sent, "verb": {"id": "http://example.com/v"}})
    defined = {**sent, "object": {**sent["object"], "definition": {"name": {"en-US": "Another name"}}}}
    assert derived_id("moodle", sent) != derived_id("moodle", defined)  # everything sent counts
    assert derived_id("moodle", edited()) is None  # without a timestamp two such Statements may be two events


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param({"b": 1.0, "a": [2.5, -0.0]}, '{"a":[2.5,0],"b":1}', id="integral floats as integers"),
        pytest.param({"x": 1e16, "y": 1e-7}, '{"x":10000000000000000,"y":1e-7}', id="exponents"),
        pytest.param(3.0, "3", id="a bare number"),
        pytest.param({"v": "v1.0]", "w": "1.0,2e+5"}, '{"v":"v1.0]","w":"1.0,2e+5"}', id="number-like text"),
        pytest.param({"n": 2**70, "s": "ä"}, '{"n":1180591620717411303424,"s":"ä"}', id="beyond 64 bits"),
        pytest.param({"n": 1e300, "m": 1.5}, '{"m":1.5,"n":' + str(int(1e300)) + "}", id="a float beyond 64 bits"),
        pytest.param({"t": True, "l": [None, "\u2028\n"]}, '{"l":[null,"\u2028\\n"],"t":true}', id="JSON"),
    ],
)
def test_canonical_text_is_one_per_json_value(value: object, text: str) -> None:
    assert canonical(value) == text
    assert canonical_bytes(value) == text.encode()


def test_a_score_sent_as_1_0_or_1_is_the_same_statement() -> None:
    scored = edited(result={"score": {"scaled": 1.0, "raw": 5.0}})
    assert content_hash(scored) == content_hash(edited(result={"score": {"scaled": 1, "raw": 5}}))
    assert content_hash(scored) != content_hash(edited(result={"score": {"scaled": 0.5, "raw": 5}}))


def test_statements_stored_at_one_instant_or_another_say_so() -> None:
    later = NOW.replace(second=1)
    assert prepared(SENT, stored=NOW, authority=AUTHORITY, version_2=False)["stored"] == "2026-11-30T08:00:00.123Z"
    assert prepared(SENT, stored=later, authority=AUTHORITY, version_2=False)["stored"] == "2026-11-30T08:00:01.123Z"
    assert prepared(SENT, stored=NOW, authority=AUTHORITY, version_2=False)["stored"] == "2026-11-30T08:00:00.123Z"


def recorded_statements() -> list[dict[str, Any]]:
    import json
    from pathlib import Path

    found: list[dict[str, Any]] = []
    for path in sorted((Path(__file__).resolve().parents[3] / "shared" / "data" / "xapi").glob("*.json")):
        document = json.loads(path.read_text())
        found += document if isinstance(document, list) else [document]
    return found


def test_a_statement_as_stored_has_the_hash_of_the_statement_as_sent() -> None:
    """Re-sent ids are compared by the hash of both as stored (lrs/service.py): all the LRS adds is left out."""
    import json

    from lrs.drafting import stored_json
    from lrs.statements import stored_content_hash

    sent_forms = [SENT, edited(context={"contextActivities": {"parent": {"id": "http://example.com/program"}}})]
    sent_forms += [edited(version="1.0.3", timestamp="2026-11-29T08:00:00+01:00", authority={"mbox": "mailto:x@y.z"})]
    statements = sent_forms + recorded_statements()
    assert len(statements) > 100
    for statement in statements:
        for two in (False, True):
            stored = prepared(statement, stored=NOW, authority=AUTHORITY, version_2=two)
            assert stored_content_hash(stored_json(stored)) == content_hash(statement)
            assert stored_content_hash(json.dumps(stored)) == content_hash(statement)
