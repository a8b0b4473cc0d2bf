"""JSON Schema files for the contracts, generated from the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.activity import Activity
from schemas.dead_letter import DeadLetter
from schemas.directory import DirectoryRecord
from schemas.learning_event import LearningEvent

CONTRACTS: dict[str, type[BaseModel]] = {
    "activity": Activity,
    "learning_event": LearningEvent,
    "dead_letter": DeadLetter,
    "directory_record": DirectoryRecord,
}


def json_schema_documents() -> dict[str, str]:
    """File name -> JSON Schema text, for every contract (validation mode: what a producer must send)."""
    return {
        f"{name}.schema.json": json.dumps(model.model_json_schema(mode="validation"), indent=2, sort_keys=True) + "\n"
        for name, model in CONTRACTS.items()
    }


def write_json_schemas(out_dir: Path) -> list[Path]:
    """Write every contract's JSON Schema into out_dir; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in json_schema_documents().items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
