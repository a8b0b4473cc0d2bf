"""The fault-injection suite: run each scenario against the real processes and print what it cost.

    python bench/faults.py                      # every scenario, each in a rig of its own
    python bench/faults.py worker-kill --size 20000
    python bench/faults.py --list
    python bench/faults.py --markdown           # the table as Markdown, for bench/README.md

Each scenario starts its own broker when it stops the broker, else one broker is shared by all; every process is
stopped by pid at the end. Exit 1 when any scenario broke the promise (a valid activity not stored exactly once, an
invalid one not set aside, a process left dead, or no recovery in time).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import local_broker, machine
from faults.catalog import SCENARIOS, by_name
from faults.outcome import Outcome, table
from faults.rig import Recovery


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", help="scenario names (default: all)")
    parser.add_argument("--size", type=int, default=None, help="activities per scenario (default: each one's own)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--work", type=Path, default=None, help="keep the rigs' directories (logs) here")
    args = parser.parse_args()
    if args.list:
        for scenario in SCENARIOS:
            print(f"{scenario.name:28} {scenario.description}")
        return
    chosen = [by_name(name) for name in args.scenarios] if args.scenarios else list(SCENARIOS)
    work = args.work or Path(tempfile.mkdtemp(prefix="learnstream-faults-"))
    print(f"fault suite on {machine()}; rigs under {work}", flush=True)
    outcomes: list[Outcome] = []
    with local_broker() as shared:
        for scenario in chosen:
            size = args.size or scenario.default_size
            started = time.monotonic()
            print(f"== {scenario.name}: {scenario.description} ({size:,} activities)", flush=True)
            try:
                outcome = scenario.run(work / scenario.name, None if scenario.owns_broker else shared, size)
            except Exception as exc:  # a scenario that crashes is a failed scenario, not the end of the suite
                traceback.print_exc()
                outcome = Outcome(scenario.name, 0, 0, {}, Recovery(None, None), {}, [f"crashed: {exc!r}"])
            outcomes.append(outcome)
            for note in outcome.notes:
                print(f"   {note}", flush=True)
            print(f"   {'ok' if outcome.ok else 'FAILED'} in {time.monotonic() - started:.0f} s", flush=True)
    print()
    print(table(outcomes, markdown=args.markdown))
    sys.exit(0 if all(outcome.ok for outcome in outcomes) else 1)


if __name__ == "__main__":
    main()
