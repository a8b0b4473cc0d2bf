"""Shared fixtures of the unit tests: the recorded source data and a builder for valid activities."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas import Activity, ActivityKind, ConversationKind, ConversationRef, SourceSystem

#: The recordings shared by every part of the project (../shared/data from the project root).
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

ALICE = "p_" + "a1" * 12

ActivityFactory = Callable[..., Activity]


@pytest.fixture
def shared_data() -> Path:
    """The directory of recorded source data (Slack export, Wikimedia, xAPI)."""
    assert SHARED_DATA.is_dir(), f"recorded data missing at {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture
def make_activity() -> ActivityFactory:
    """Build a valid Slack message activity; keyword arguments override any field."""

    def build(**overrides: Any) -> Activity:
        fields: dict[str, Any] = {
            "source": SourceSystem.SLACK,
            "source_instance": "acme",
            "native_id": "C01/1700000000.000100",
            "kind": ActivityKind.MESSAGE,
            "occurred_at": datetime(2024, 3, 5, 9, 30, tzinfo=UTC),
            "actor": ALICE,
            "conversation": ConversationRef(kind=ConversationKind.THREAD, id="C01/1700000000.000100"),
            "subject": "engineering",
            "text": "Deployed the new build",
        }
        fields.update(overrides)
        return Activity.create(**fields)

    return build
