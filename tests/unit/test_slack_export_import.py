"""The Slack export as a restartable pull source: every message once, a cursor per batch, bad messages set aside."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from producers.chat.slack_export import ExportPosition, SlackExportImport
from producers.chat.slack_messages import SlackScope
from producers.directory import AccountKind, directory_from_csv
from producers.identity import IdentityResolver
from producers.pseudonymise import account_ids, person_pseudonym, pseudonymiser
from schemas.activity import Activity
from schemas.dead_letter import DeadLetter

KEY, ID_KEY = b"k" * 32, b"i" * 32
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def message(ts: int, user: str = "U0000000A1", text: str = "hello") -> dict[str, Any]:
    return {"type": "message", "user": user, "text": text, "ts": f"{ts}.000100"}


def write_export(path: Path, days: dict[str, dict[str, list[Any]]], users: list[dict[str, Any]] | None = None) -> Path:
    channels = [{"id": f"C{index:09d}", "name": name} for index, name in enumerate(sorted(days))]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("channels.json", json.dumps(channels))
        archive.writestr("users.json", json.dumps(users or []))
        for channel, files in days.items():
            for day, messages in files.items():
                archive.writestr(f"{channel}/{day}.json", json.dumps(messages))
    return path


def importer(path: Path, batch_size: int = 3, resolver: IdentityResolver | None = None) -> SlackExportImport:
    pseudonymise = resolver or pseudonymiser(KEY, "slack", "T1")
    scope = SlackScope("T1", pseudonymise, account_ids(ID_KEY, "slack", "T1"))
    return SlackExportImport("history", path, scope, batch_size=batch_size, resolver=resolver, now=lambda: NOW)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return write_export(
        tmp_path / "export.zip",
        {
            "general": {
                "2024-01-01": [message(1_704_067_200 + i) for i in range(4)],
                "2024-01-02": [message(1_704_153_600)],
            },
            "random": {"2024-01-01": [message(1_704_070_000 + i) for i in range(3)]},
        },
    )


def native_ids(batches) -> list[str]:
    return [Activity.from_bytes(record.value).native_id for batch in batches for record in batch.records]


def test_every_message_is_read_once_in_batches_each_with_the_position_after_it(export: Path):
    source = importer(export)
    batches = list(source.read(source.start_cursor(None)))
    assert len(native_ids(batches)) == 8 == len(set(native_ids(batches)))
    assert [len(batch.records) for batch in batches] == [3, 3, 2]
    assert batches[-1].cursor.day == 3 and batches[-1].cursor.message == 0
    assert list(source.read(batches[-1].cursor)) == []


def test_resuming_from_any_saved_cursor_neither_loses_nor_repeats(export: Path):
    source = importer(export, batch_size=2)
    batches = list(source.read(ExportPosition()))
    everything = native_ids(batches)
    for index, batch in enumerate(batches):
        resumed = list(source.read(ExportPosition.model_validate_json(batch.cursor.to_text())))
        assert native_ids(batches[: index + 1]) + native_ids(resumed) == everything


def test_a_changed_export_is_imported_from_its_start(export: Path, tmp_path: Path):
    source = importer(export)
    done = list(source.read(ExportPosition()))[-1].cursor
    write_export(export, {"general": {"2024-02-01": [message(1_706_745_600)]}})
    again = list(source.read(done))
    assert native_ids(again) == ["C000000000/1706745600.000100"]


def test_a_message_that_cannot_be_mapped_is_a_dead_letter_and_the_rest_go_on(tmp_path: Path):
    broken = {"type": "message", "text": "who wrote me?", "ts": "1704067300.000100"}
    path = write_export(
        tmp_path / "e.zip", {"general": {"2024-01-01": [message(1_704_067_200), broken, "not a message"]}}
    )
    (batch,) = list(importer(path, batch_size=10).read(ExportPosition()))
    assert len(batch.records) == 1
    letters = [DeadLetter.from_bytes(record.value) for record in batch.dead_letters]
    assert [letter.reason.value for letter in letters] == ["source_record_invalid"] * 2
    assert "names no user" in letters[0].detail and "general/2024-01-01.json" in letters[0].detail
    assert json.loads(letters[0].original) == broken
    assert letters[0].source_topic == "slack:T1" and letters[0].partition == -1


def test_people_resolve_through_the_directory_by_account_or_by_the_exports_email(tmp_path: Path):
    directory = directory_from_csv(
        "person_id,email,team,valid_from,slack\n"
        "e1,ada@example.org,platform,2023-01-01,U0000000A1\n"
        "e2,grace@example.org,support,2023-01-01,\n"
    )
    users = [{"id": "U0000000B2", "profile": {"email": "Grace@Example.org"}}, {"id": "U0000000C3", "profile": {}}]
    path = write_export(
        tmp_path / "e.zip",
        {"general": {"2024-01-01": [message(1, "U0000000A1"), message(2, "U0000000B2"), message(3, "U0000000C3")]}},
        users,
    )
    emails = {"U0000000B2": "Grace@Example.org"}
    resolver = IdentityResolver(directory, KEY, "slack", "T1", AccountKind.SLACK, emails)
    source = importer(path, batch_size=10, resolver=resolver)
    (batch,) = list(source.read(ExportPosition()))
    actors = [Activity.from_bytes(record.value).actor for record in batch.records]
    assert actors[:2] == [person_pseudonym(KEY, "e1"), person_pseudonym(KEY, "e2")]
    assert actors[2] not in (person_pseudonym(KEY, "e1"), person_pseudonym(KEY, "e2"))
    report = source.check()
    assert (report.accounts_seen, report.unresolved_accounts) == (2, 1)
