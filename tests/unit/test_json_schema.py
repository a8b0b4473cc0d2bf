"""The committed JSON Schema files are what the models generate, so they cannot drift from the code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.json_schema import json_schema_documents, write_json_schemas

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "json"


def test_every_contract_has_a_committed_schema():
    assert sorted(path.name for path in COMMITTED.glob("*.schema.json")) == sorted(json_schema_documents())


@pytest.mark.parametrize("name", sorted(json_schema_documents()))
def test_committed_schema_matches_the_model(name):
    committed = (COMMITTED / name).read_text(encoding="utf-8")
    assert committed == json_schema_documents()[name], (
        f"schemas/json/{name} is out of date with the models; run `learnstream schemas export` and commit the result"
    )


def test_activity_schema_forbids_unknown_fields():
    schema = json.loads(json_schema_documents()["activity.schema.json"])
    assert schema["additionalProperties"] is False
    assert "text" in schema["properties"]


def test_learning_event_schema_has_no_text():
    schema = json.loads(json_schema_documents()["learning_event.schema.json"])
    assert "text" not in schema["properties"]
    assert schema["additionalProperties"] is False


def test_write_json_schemas_writes_the_documents(tmp_path):
    written = write_json_schemas(tmp_path / "out")
    assert sorted(path.name for path in written) == sorted(json_schema_documents())
    for path in written:
        assert path.read_text(encoding="utf-8") == json_schema_documents()[path.name]
