"""Every fault scenario, in the order the table lists them."""

from __future__ import annotations

from faults import infra_faults, input_faults, process_faults, worker_faults
from faults.outcome import Scenario

SCENARIOS: tuple[Scenario, ...] = (
    *worker_faults.SCENARIOS,
    *process_faults.SCENARIOS,
    *infra_faults.SCENARIOS,
    *input_faults.SCENARIOS,
)


def by_name(name: str) -> Scenario:
    """A scenario by name; KeyError naming the known ones."""
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    raise KeyError(f"no scenario {name!r}; known: {', '.join(s.name for s in SCENARIOS)}")
