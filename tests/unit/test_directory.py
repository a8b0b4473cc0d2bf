"""The people directory read from an HR export, and identity resolution through it."""

from __future__ import annotations

import json
from datetime import date

import pytest
from pydantic import SecretStr

from learnstream.errors import ConfigError, ConnectorError
from learnstream.settings import DEVELOPMENT_PSEUDONYM_KEY, Settings
from producers.directory import (
    AccountKind,
    DirectorySnapshot,
    directory_from_csv,
    directory_from_json,
    directory_records,
    load_directory,
)
from producers.identity import IdentityResolver
from producers.pseudonymise import person_pseudonym, pseudonym
from schemas.directory import DirectoryRecord

KEY = b"unit-test-key"

CSV_EXPORT = """\ufeffperson_id,email,team,department,manager_id,valid_from,slack,wiki,lms,mbox
e1,Ada@Example.org,platform,engineering,e9,2026-01-01,U01;W01,Ada Lovelace,,
e1,ada@example.org,data,engineering,e8,2026-06-01,,,ada.l,mailto:ada@example.org
e2,bob@example.org,data,engineering,e8,2026-03-15,U02,,,
e3,,support,,,2026-02-01,,Carol,,
"""


def test_csv_rows_of_one_person_become_memberships_in_time_order_with_every_account():
    directory = directory_from_csv(CSV_EXPORT)
    assert len(directory) == 3
    ada = directory.people["e1"]
    assert [(m.valid_from, m.team, m.manager_id) for m in ada.memberships] == [
        (date(2026, 1, 1), "platform", "e9"),
        (date(2026, 6, 1), "data", "e8"),
    ]
    assert ada.accounts == {
        (AccountKind.SLACK, "U01"),
        (AccountKind.SLACK, "W01"),
        (AccountKind.WIKI, "Ada Lovelace"),
        (AccountKind.LMS, "ada.l"),
        (AccountKind.MBOX, "ada@example.org"),
    }
    assert directory.people["e3"].memberships[0].department is None


def test_the_membership_in_force_is_the_latest_started_on_or_before_the_day():
    ada = directory_from_csv(CSV_EXPORT).people["e1"]
    assert ada.membership_at(date(2025, 12, 31)) is None
    assert ada.membership_at(date(2026, 1, 1)).team == "platform"  # type: ignore[union-attr]
    assert ada.membership_at(date(2026, 5, 31)).team == "platform"  # type: ignore[union-attr]
    assert ada.membership_at(date(2026, 6, 1)).team == "data"  # type: ignore[union-attr]


def test_accounts_and_emails_resolve_to_their_person():
    directory = directory_from_csv(CSV_EXPORT)
    assert directory.by_account(AccountKind.SLACK, "W01") == "e1"
    assert directory.by_account(AccountKind.WIKI, "Carol") == "e3"
    assert directory.by_account(AccountKind.MBOX, "MAILTO:Ada@example.org ") == "e1"
    assert directory.by_account(AccountKind.SLACK, "U99") is None
    assert directory.by_account(AccountKind.WIKI, "U01") is None  # an account is looked up in its own kind
    assert directory.by_email(" BOB@example.org") == "e2"
    assert directory.by_email("nobody@example.org") is None


def test_json_export_reads_the_same_as_csv(tmp_path):
    people = [
        {
            "person_id": "e1",
            "email": "ada@example.org",
            "team": "platform",
            "department": "engineering",
            "manager_id": "e9",
            "valid_from": "2026-01-01",
            "accounts": {"slack": ["U01"], "wiki": ["Ada Lovelace"]},
        },
        {"person_id": "e2", "team": "data", "valid_from": "2026-03-15"},
    ]
    path = tmp_path / "people.json"
    path.write_text(json.dumps(people), encoding="utf-8")
    directory = load_directory(path)
    assert directory.by_account(AccountKind.SLACK, "U01") == "e1"
    assert directory.people["e2"].email is None
    assert directory.people["e2"].accounts == frozenset()


@pytest.mark.parametrize(
    ("export", "message"),
    [
        ("person_id,team\ne1,platform\n", "the header lacks valid_from"),
        ("person_id,team,valid_from\ne1,,2026-01-01\n", "line 2: team is missing"),
        ("person_id,team,valid_from\ne1,platform,01/02/2026\n", "line 2: valid_from '01/02/2026' is not a date"),
        (
            "person_id,team,valid_from\ne1,platform,2026-01-01\ne1,data,2026-01-01\n",
            "two rows valid from the same day",
        ),
        (
            "person_id,team,valid_from,slack\ne1,platform,2026-01-01,U01\ne2,data,2026-01-01,U01\n",
            "both hold the same slack account",
        ),
    ],
)
def test_a_bad_csv_export_names_what_is_wrong_and_where(export, message):
    with pytest.raises(ConnectorError, match=message):
        directory_from_csv(export, "people.csv")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "is not JSON"),
        ('{"person_id": "e1"}', "expected a JSON list of objects"),
        ('[{"person_id": 7, "team": "t", "valid_from": "2026-01-01"}]', "item 0: person_id must be text, not int"),
        (
            '[{"person_id": "e1", "team": "t", "valid_from": "2026-01-01", "accounts": {"github": ["x"]}}]',
            "unknown account kind 'github'",
        ),
        (
            '[{"person_id": "e1", "team": "t", "valid_from": "2026-01-01", "accounts": {"slack": "U01"}}]',
            "slack accounts must be a list of strings",
        ),
    ],
)
def test_a_bad_json_export_names_what_is_wrong_and_where(document, message):
    with pytest.raises(ConnectorError, match=message):
        directory_from_json(document, "people.json")


def test_an_export_that_is_neither_csv_nor_json_or_is_missing_is_refused(tmp_path):
    with pytest.raises(ConnectorError, match=r"use a \.csv or \.json file"):
        load_directory(tmp_path / "people.xlsx")
    with pytest.raises(ConnectorError, match="cannot read the directory export"):
        load_directory(tmp_path / "missing.csv")


def test_a_duplicate_mbox_account_error_does_not_echo_the_address():
    export = "person_id,team,valid_from,mbox\ne1,a,2026-01-01,x@example.org\ne2,b,2026-01-01,X@example.org\n"
    with pytest.raises(ConnectorError) as raised:
        directory_from_csv(export)
    assert "example.org" not in str(raised.value)


def test_one_person_has_one_pseudonym_in_every_source():
    directory = directory_from_csv(CSV_EXPORT)
    slack = IdentityResolver(directory, KEY, "slack", "T01", AccountKind.SLACK)
    wiki = IdentityResolver(directory, KEY, "mediawiki", "wiki.example.org", AccountKind.WIKI)
    lms = IdentityResolver(directory, KEY, "xapi", "lrs", AccountKind.MBOX)
    ada = person_pseudonym(KEY, "e1")
    assert slack("U01") == slack("W01") == wiki("Ada Lovelace") == lms("mailto:ada@example.org") == ada
    assert slack.resolved == {"U01", "W01"}
    assert not slack.unresolved


def test_an_account_hr_does_not_list_resolves_by_the_source_email_else_stays_source_scoped():
    directory = directory_from_csv(CSV_EXPORT)
    slack = IdentityResolver(
        directory, KEY, "slack", "T01", AccountKind.SLACK, emails={"U77": "bob@example.org", "U78": "x@example.org"}
    )
    assert slack("U77") == person_pseudonym(KEY, "e2")
    assert slack("U78") == pseudonym(KEY, "slack", "T01", "U78")
    assert slack("U79") == pseudonym(KEY, "slack", "T01", "U79")
    assert slack.unresolved == {"U78", "U79"}
    assert slack.is_resolved("U77")
    assert not slack.is_resolved("U79")


def test_a_person_pseudonym_never_equals_a_source_scoped_one_for_the_same_id():
    assert person_pseudonym(KEY, "U01") != pseudonym(KEY, "slack", "T01", "U01")
    assert person_pseudonym(KEY, "e1") != person_pseudonym(b"another key", "e1")


def test_directory_records_carry_pseudonyms_and_teams_only():
    records = directory_records(directory_from_csv(CSV_EXPORT), KEY)
    assert [record.person for record in records] == [person_pseudonym(KEY, p) for p in ("e1", "e2", "e3")]
    ada = records[0]
    assert [(m.valid_from, m.team, m.department) for m in ada.memberships] == [
        (date(2026, 1, 1), "platform", "engineering"),
        (date(2026, 6, 1), "data", "engineering"),
    ]
    assert ada.memberships[0].manager == person_pseudonym(KEY, "e9")
    assert records[2].memberships[0].manager is None
    published = b"".join(record.to_bytes() for record in records)
    assert b"example.org" not in published and b"Ada" not in published and b'"e1"' not in published


def test_the_snapshot_connector_publishes_the_export_whole_and_only_when_it_changed(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(CSV_EXPORT, encoding="utf-8")
    connector = DirectorySnapshot(path, KEY)
    [batch] = list(connector.read(connector.start_cursor(None)))
    assert len(batch.records) == 3
    assert [record.key for record in batch.records] == [person_pseudonym(KEY, p).encode() for p in ("e1", "e2", "e3")]
    assert list(connector.read(batch.cursor)) == []
    path.write_text(CSV_EXPORT.replace("support", "helpdesk"), encoding="utf-8")
    [changed] = list(connector.read(batch.cursor))
    assert changed.cursor != batch.cursor
    assert DirectoryRecord.from_bytes(changed.records[2].value).memberships[0].team == "helpdesk"


def test_the_snapshot_connector_from_settings_refuses_the_development_key(tmp_path):
    with pytest.raises(ConfigError, match="LEARNSTREAM_PSEUDONYM_KEY is not set"):
        development_keys = Settings(pseudonym_key=SecretStr(DEVELOPMENT_PSEUDONYM_KEY), development=False)
        DirectorySnapshot.from_settings(development_keys, tmp_path / "people.csv")
    strong = SecretStr("s" * 40)
    strong_keys = Settings(pseudonym_key=strong, id_key=strong, development=False)
    connector = DirectorySnapshot.from_settings(strong_keys, tmp_path / "people.csv")
    assert connector.key == b"s" * 40


def test_an_account_unresolved_at_first_resolves_once_its_email_is_learnt():
    directory = directory_from_csv("person_id,email,team,valid_from\ne7,lin@example.org,platform,2024-01-01\n")
    resolver = IdentityResolver(directory, KEY, "teams", "tenant", AccountKind.TEAMS)
    before = resolver("user-7")
    assert before == pseudonym(KEY, "teams", "tenant", "user-7") and "user-7" in resolver.unresolved
    resolver.emails["user-7"] = "Lin@example.org"  # a Graph user lookup answered later
    assert resolver("user-7") == person_pseudonym(KEY, "e7")
    assert "user-7" in resolver.resolved and "user-7" not in resolver.unresolved
