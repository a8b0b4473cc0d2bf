"""Fault scenarios: infra faults (being written)."""

from __future__ import annotations

from faults.outcome import Scenario

SCENARIOS: list[Scenario] = []
