"""deploy/kafka/local_kafka.py's pure parts."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "local_kafka.py"


def load_script():
    spec = importlib.util.spec_from_file_location("local_kafka", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    script = load_script()
    dashed = uuid.UUID(bytes=bytes([0xF8]) + bytes(15))  # URL-safe base64 of 0xF8... starts with "-"
    plain = uuid.UUID(bytes=bytes(16))
    drawn = iter([dashed, plain])
    monkeypatch.setattr(script.uuid, "uuid4", lambda: next(drawn))
    assert script.cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"  # the dashed draw was refused, the next one taken
