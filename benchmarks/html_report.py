"""Benchmark: report.html of a 100,000-test bundle — `qaagent report` time and first render in Chromium.

Builds a bundle through the Python API (10 suites x 10,000 cases; 10% failed
with ~600-character tracebacks and captured output, 5% skipped, 1% flaky),
then times `python -m qaagent report BUNDLE` as a user runs it (best of
--repeat) and opens the page with tests/browser/html_report.cjs in headless
Chromium (first render: navigation start until the script has drawn the first
page of every table). Numbers go in docs/benchmarks.md (## HTML report).

    .venv/bin/python benchmarks/html_report.py [--tests 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qaagent.attempts import Attempt, Rerun
from qaagent.evidence.bundle import Bundle
from qaagent.redact import Redactor
from qaagent.results import CaseStore, SuiteResult, TestCase
from qaagent.run_result import RunResult

ROOT = Path(__file__).resolve().parent.parent
TRACE = "Traceback (most recent call last):\n" + "  File 'tests/test_x.py', line 12, in test\n" * 12


def build_bundle(root: Path, tests: int, suites: int = 10) -> Path:
    names = [f"suite{i:02d}" for i in range(suites)]
    bundle = Bundle.start(
        root,
        "20240501_120000Z",
        project="bench",
        settings={"parallel": True, "max_workers": 4},
        profile_path=None,
        profile_sha256=None,
        repo_root=root,
        suites=names,
        redactor=Redactor([]),
    )
    start = 1_714_564_800.0
    results = []
    per_suite = tests // suites
    for s, name in enumerate(names):
        store = CaseStore()
        for i in range(per_suite):
            n = s * per_suite + i
            kind = n % 100
            common = {
                "suite": name,
                "classname": f"tests.test_mod{i % 50}",
                "file": f"tests/test_mod{i % 50}.py",
            }
            if kind < 10:
                case = TestCase(
                    name=f"test_case_{n}",
                    status="failed",
                    line=i % 400 + 1,
                    message=f"AssertionError: expected {n} got {n + 1}",
                    details=TRACE,
                    stdout="out " * 50,
                    **common,  # type: ignore[arg-type]
                )
            elif kind < 15:
                case = TestCase(name=f"test_case_{n}", status="skipped", message="not here", **common)  # type: ignore[arg-type]
            elif kind == 15:
                case = TestCase(
                    name=f"test_case_{n}",
                    status="passed",
                    flaky=True,
                    attempts=2,
                    reruns=(Rerun("failed", message="flaky", details=TRACE),),
                    **common,  # type: ignore[arg-type]
                )
            else:
                case = TestCase(name=f"test_case_{n}", status="passed", duration=0.01, **common)  # type: ignore[arg-type]
            store.append(case)
        attempt = Attempt(1, ("pytest",), 1, False, start + s, 30.0 + s)  # noqa: FBT003
        results.append(SuiteResult(name=name, runner="pytest", cases=store, attempts=[attempt]))
    run = RunResult("bench", bundle.run_id, results, start, start + 60)
    bundle.finish(run, summary_markdown="bench\n", fail_on=["failed", "error"])
    for suite in results:
        suite.cases.close()
    return bundle.dir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qaagent-html-bench-") as tmp:
        bundle = build_bundle(Path(tmp), args.tests)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        times = []
        cpus = []  # CPU seconds of the child: steadier than wall time on a loaded machine
        for _ in range(args.repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "qaagent", "report", str(bundle)],
                check=True,
                env=env,
                capture_output=True,
            )
            times.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        verify = subprocess.run(
            [sys.executable, "-m", "qaagent", "verify", str(bundle)],
            env=env,
            capture_output=True,
            check=False,
        )
        assert verify.returncode == 0, verify.stdout
        size = (bundle / "report.html").stat().st_size
        print(f"tests: {args.tests:,}; report.html: {size / 1e6:.1f} MB")
        print(
            f"qaagent report: best {min(times):.2f} s, runs {', '.join(f'{t:.2f}' for t in times)};"
            f" CPU {', '.join(f'{t:.2f}' for t in cpus)} s; load {os.getloadavg()[0]:.1f}"
        )
        node_env = {
            **env,
            "QAAGENT_NODE_MODULES": str(ROOT / "examples" / "demo" / "e2e" / "node_modules"),
            "QAAGENT_SEARCH": "test_case_9999",
        }
        renders = []
        for _ in range(args.repeat):
            done = subprocess.run(
                # no screenshot: a full-page one of 100,000 rows' page is not what is measured
                ["node", str(ROOT / "tests" / "browser" / "html_report.cjs"),
                 str(bundle / "report.html"), "-"],
                capture_output=True, text=True, env=node_env, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                raise SystemExit(f"html_report.cjs exited {done.returncode}: {done.stderr.strip()[-2000:]}")
            result = json.loads(done.stdout)
            assert not result["blocked"], result["blocked"]
            assert not result["console"], result["console"]
            assert not result["pageErrors"], result["pageErrors"]
            renders.append(result["firstRenderMs"] / 1000)
        print(
            f"first render in Chromium: best {min(renders):.2f} s, "
            f"runs {', '.join(f'{t:.2f}' for t in renders)}"
        )
        print(f"search for one name among {args.tests:,}: {result['searchRows']} row(s)")


if __name__ == "__main__":
    main()
