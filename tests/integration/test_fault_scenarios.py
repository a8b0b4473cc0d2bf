"""The fault scenarios that fit in a CI run (`in_ci`), each against the real processes, judged as
`bench/faults.py` judges them: every valid activity stored exactly once, every invalid one set aside with its
reason, every process alive, and the pipeline caught up (given up on as a hang only after faults.outcome.HANG_S;
how long recovery took is printed, never asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from faults.catalog import SCENARIOS
from faults.outcome import Scenario, table

IN_CI = [scenario for scenario in SCENARIOS if scenario.in_ci]


@pytest.mark.parametrize("scenario", IN_CI, ids=[scenario.name for scenario in IN_CI])
def test_the_promise_holds_under_the_fault(scenario: Scenario, kafka_bootstrap: str, tmp_path: Path) -> None:
    # a scenario that stops the broker gets one of its own; the others share the session's
    outcome = scenario.run(
        tmp_path / scenario.name, None if scenario.owns_broker else kafka_bootstrap, scenario.ci_size
    )
    print(table([outcome]))
    for note in outcome.notes:
        print(f"  {note}")
    assert outcome.ok, "; ".join(outcome.problems())
