"""The model behind issue 15's batch rule: how k (bins per slot) and the cap's factor m play out.

    .venv/bin/python benchmarks/batch_rule.py [--shuffles 200]

No process runs: the batches `qaagent.schedule.pack` makes from the estimates qaagent would
have (recorded seconds, or listed test counts × the runner's guess per test) are dispatched
in queue order over W slots with each batch's true duration plus one start-up; the makespan
is compared with the bound max(longest file, total ÷ W) + one start-up. The plans are the
benchmark's (`split.py`: 40 skewed pytest files, 30 behave features); "shuffled" moves the
true durations over the files at random (counts stay), to see the tail a plan's own luck
hides. The figures are in docs/decisions.md ("One suite over all workers").
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from split import FilePlan, behave_plan, pytest_plan

from qaagent.runners.behave import BehaveRunner
from qaagent.runners.pytest import PytestRunner
from qaagent.schedule import pack


def dispatch(batches: Sequence[float], workers: int) -> float:
    """Wall time of handing `batches` (seconds, in order) to `workers` slots as they free up."""
    slots = [0.0] * workers
    for seconds in batches:
        heapq.heapreplace(slots, slots[0] + seconds)
    return max(slots)


def ratio(
    plan: Sequence[FilePlan],
    workers: int,
    *,
    bins_per_slot: int,
    factor: float,
    startup: float,
    recorded: bool,
    nominal: float,
    shuffle: int | None = None,
) -> float:
    """Makespan ÷ bound of one plan under one rule (see the module docstring)."""
    true = [p.seconds for p in plan]
    if shuffle is not None:
        random.Random(shuffle).shuffle(true)
    if recorded:
        estimates, setup, bins = true, startup, workers
    else:
        estimates, setup, bins = [len(p.tests) * nominal for p in plan], 0.5, bins_per_slot * workers
    cap = max(1, int(sum(estimates) // (factor * setup))) if factor else len(plan)
    packed = pack(estimates, [0] * len(plan), bins=bins, setup={0: setup}, caps={0: cap})
    batches = sorted((b[0] for b in packed.bins if b), key=lambda b: -sum(estimates[i] for i in b))
    wall = dispatch([sum(true[i] for i in b) + startup for b in batches], workers)
    return wall / (max(*true, sum(true) / workers) + startup)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the two tables of docs/decisions.md."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--shuffles", type=int, default=200, help="random placements per cell (default 200)")
    args = parser.parse_args(argv)
    plans = {
        "pytest": (pytest_plan(), PytestRunner.nominal_test_seconds),
        "behave": (behave_plan(), BehaveRunner.nominal_test_seconds),
    }
    print("k (bins per slot), test counts only, no cap, start-up 0.35 s: median / p90 of makespan ÷ bound")
    for name, (plan, nominal) in plans.items():
        for workers in (2, 4):
            for k in (1, 2, 3, 4, 8):
                if k == 1:
                    recorded = ratio(
                        plan, workers, bins_per_slot=1, factor=0, startup=0.35, recorded=True, nominal=nominal
                    )
                    print(f"  {name} W={workers} recorded durations, k=1: {recorded:.2f}")
                found = sorted(
                    ratio(
                        plan,
                        workers,
                        bins_per_slot=k,
                        factor=0,
                        startup=0.35,
                        recorded=False,
                        nominal=nominal,
                        shuffle=seed,
                    )
                    for seed in range(args.shuffles)
                )
                p90 = found[int(0.9 * (len(found) - 1))]
                print(f"  {name} W={workers} k={k}: {statistics.median(found):.2f} / {p90:.2f}")
    print("m (a batch >= m start-ups), the plans as they are: makespan ÷ bound")
    for name, (plan, nominal) in plans.items():
        for workers in (2, 4):
            for startup in (0.35, 2.3):
                cells = []
                for m in (2, 3, 4, 6, 9):
                    first = ratio(
                        plan,
                        workers,
                        bins_per_slot=3,
                        factor=m,
                        startup=startup,
                        recorded=False,
                        nominal=nominal,
                    )
                    known = ratio(
                        plan,
                        workers,
                        bins_per_slot=3,
                        factor=m,
                        startup=startup,
                        recorded=True,
                        nominal=nominal,
                    )
                    cells.append(f"m={m} {first:.2f}/{known:.2f}")
                print(f"  {name} W={workers} start-up {startup} s (first run/recorded): " + "; ".join(cells))


if __name__ == "__main__":
    main()
