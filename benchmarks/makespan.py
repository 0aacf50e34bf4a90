"""Makespan benchmark: longest-first start order vs suite_order vs sequential.

Eight `command` suites sleep 3.0, 2.5, 2.0, 1.5, 1.0, 1.0, 0.5 and 0.5 s and
are listed shortest first in `suite_order` — the worst case for a pool that
starts suites in list order. The optimal schedules take exactly 6 s on two
workers and 4 s on three. One sequential run records the durations; the
parallel runs then use them (`--durations-from` that bundle) or not (a fresh
evidence dir: suite_order). Wall time is qaagent's own run time from the
manifest (`totals.duration`), and the whole process as measured here.

    .venv/bin/python benchmarks/makespan.py        # about 40 s; prints a Markdown table
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLEEPS = [0.5, 0.5, 1.0, 1.0, 1.5, 2.0, 2.5, 3.0]  # suite_order: shortest first
OPTIMUM = {2: 6.0, 3: 4.0}


def profile() -> str:
    """The benchmark project's profile."""
    lines = ["project: {name: makespan}", "run: {timeout: 60}", "tests:"]
    for i, seconds in enumerate(SLEEPS):
        lines.append(f"  s{i}: {{runner: command, command: [sleep, '{seconds}']}}")
    return "\n".join(lines) + "\n"


def run(project: Path, evidence: str, *args: str) -> tuple[float, float, Path]:
    """Run qaagent; return (run wall from the manifest, process wall, bundle)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    env["PYTHONPATH"] = str(ROOT)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "qaagent", "run-all", "--quiet", "--evidence-dir", evidence, *args],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    process = time.perf_counter() - started
    (bundle,) = (project / evidence).iterdir()
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    return float(manifest["totals"]["duration"]), process, bundle


def main() -> None:
    """Run every variant once and print the table."""
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / ".qaagent.yaml").write_text(profile(), encoding="utf-8")
        seq, seq_proc, recorded = run(project, "ev-seq", "--sequential")
        rows = [("sequential", "-", seq, seq_proc, sum(SLEEPS))]
        for workers in (2, 3):
            flags = ("--parallel", "--max-workers", str(workers))
            pool, pool_proc, _ = run(project, f"ev-pool{workers}", *flags)
            lpt, lpt_proc, bundle = run(
                project, f"ev-lpt{workers}", *flags, "--durations-from", str(recorded)
            )
            manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
            order = ",".join(manifest["settings"]["start_order"])
            rows.append((f"suite_order pool, W={workers}", "s0..s7", pool, pool_proc, OPTIMUM[workers]))
            rows.append((f"LPT (recorded), W={workers}", order, lpt, lpt_proc, OPTIMUM[workers]))
    print("| variant | start order | run wall (s) | process wall (s) | optimum (s) | run ÷ optimum |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, order, wall, proc, best in rows:
        print(f"| {name} | {order} | {wall:.2f} | {proc:.2f} | {best:.1f} | {wall / best:.3f} |")


if __name__ == "__main__":
    main()
