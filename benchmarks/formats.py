"""Benchmark of the result-format readers: one 100,000-case file per format, read to the end.

Run: ``.venv/bin/python benchmarks/formats.py [--cases 100000] [--rounds 3]``

For every format it writes one file of ``--cases`` test cases with the mix of
benchmarks/reporting.py (10% failures with a ~600-character traceback, 5%
skipped, 20% with captured output where the format carries output), then reads
it with `qaagent.formats.read.read_results` in a fresh subprocess per
measurement (so peak RSS, from ``ru_maxrss``, is that reader's alone) and
counts the cases. Rounds alternate the formats (the machine is shared: compare
within one run); the table takes each format's fastest round and its largest
peak RSS. JUnit (the existing reader) is the reference.

It measures reading only (`read_results` to the last case, nothing stored): the
reporting path after it is the same for every format (docs/benchmarks.md,
"Reporting path"). Not a timed test; figures go to docs/benchmarks.md by hand.
"""

# ruff: noqa: E501 - each generated document's test is written from one template line

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reporting import STDOUT, TRACEBACK, esc, kind_of  # noqa: E402

TRX_NS = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"
GUID = "{:08x}-0000-4000-8000-{:012x}"


def write_junit(out: TextIO, total: int, rng: random.Random) -> None:
    out.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="pytest">\n')
    for i in range(total):
        kind = kind_of(i)
        attrs = f'classname="tests.test_m{i // 500:04d}.T" name="test_{i:07d}" file="tests/test_m{i // 500:04d}.py" line="{i % 500 * 7}" time="{rng.random() / 10:.6f}"'
        body = ""
        if kind == "failed":
            body = f'<failure message="AssertionError">{esc(TRACEBACK)}</failure>'
        elif kind == "skipped":
            body = '<skipped type="pytest.skip" message="needs the network"/>'
        if i % 5 == 3:
            body += f"<system-out>{esc(STDOUT)}</system-out>"
        out.write(f"<testcase {attrs}>{body}</testcase>\n" if body else f"<testcase {attrs}/>\n")
    out.write("</testsuite></testsuites>\n")


def write_trx(out: TextIO, total: int, rng: random.Random) -> None:
    out.write(
        f'<?xml version="1.0" encoding="utf-8"?>\n<TestRun id="{GUID.format(0, 0)}" name="r" xmlns="{TRX_NS}"><Results>\n'
    )
    outcome = {"passed": "Passed", "failed": "Failed", "skipped": "NotExecuted"}
    for i in range(total):
        kind = kind_of(i)
        inner = ""
        if kind == "failed":
            inner = f"<ErrorInfo><Message>Assert.AreEqual failed.</Message><StackTrace>{esc(TRACEBACK)}\n   at N.C.M() in /src/C.cs:line 12</StackTrace></ErrorInfo>"
        elif kind == "skipped":
            inner = "<ErrorInfo><Message>needs the network</Message></ErrorInfo>"
        if i % 5 == 3:
            inner = f"<StdOut>{esc(STDOUT)}</StdOut>" + inner
        output = f"<Output>{inner}</Output>" if inner else ""
        out.write(
            f'<UnitTestResult executionId="{GUID.format(i, i)}" testId="{GUID.format(i, i)}" testName="Test{i:07d}" '
            f'computerName="ci" duration="00:00:00.{rng.randrange(10**7):07d}" testType="13cdc9d9-ddb5-4fa4-a97d-d965ccfc6d4b" '
            f'outcome="{outcome[kind]}" testListId="8c84fa94-04c1-424b-9868-57a2d4851a1d" relativeResultsDirectory="x">{output}</UnitTestResult>\n'
        )
    out.write("</Results><TestDefinitions>\n")
    for i in range(total):
        out.write(
            f'<UnitTest name="Test{i:07d}" storage="/src/t.dll" id="{GUID.format(i, i)}"><Execution id="{GUID.format(i, i)}"/>'
            f'<TestMethod codeBase="/src/t.dll" adapterTypeName="executor://mstestadapter/v2" className="N.C{i // 500:04d}" name="Test{i:07d}"/></UnitTest>\n'
        )
    out.write("</TestDefinitions></TestRun>\n")


def write_nunit3(out: TextIO, total: int, rng: random.Random) -> None:
    out.write(
        '<?xml version="1.0" encoding="utf-8"?>\n<test-run id="0"><test-suite type="Assembly" name="t.dll">\n'
    )
    result = {"passed": "Passed", "failed": "Failed", "skipped": "Skipped"}
    for i in range(total):
        kind = kind_of(i)
        inner = ""
        if kind == "failed":
            inner = f"<failure><message>Expected: 3</message><stack-trace>{esc(TRACEBACK)}\n   at N.C.M() in /src/C.cs:line 12</stack-trace></failure>"
        elif kind == "skipped":
            inner = "<reason><message>needs the network</message></reason>"
        if i % 5 == 3:
            inner += f"<output>{esc(STDOUT)}</output>"
        out.write(
            f'<test-case id="{i}" name="Test{i:07d}" fullname="N.C.Test{i:07d}" classname="N.C{i // 500:04d}" '
            f'runstate="Runnable" seed="1" result="{result[kind]}" duration="{rng.random() / 10:.6f}" asserts="1">{inner}</test-case>\n'
        )
    out.write("</test-suite></test-run>\n")


def write_xunit2(out: TextIO, total: int, rng: random.Random) -> None:
    out.write(
        '<?xml version="1.0" encoding="utf-8"?>\n<assemblies><assembly name="t.dll"><collection name="c">\n'
    )
    result = {"passed": "Pass", "failed": "Fail", "skipped": "Skip"}
    for i in range(total):
        kind = kind_of(i)
        inner = ""
        if kind == "failed":
            inner = f'<failure exception-type="Xunit.Sdk.EqualException"><message>Assert.Equal() Failure</message><stack-trace>{esc(TRACEBACK)}\n   at N.C.M() in /src/C.cs:line 12</stack-trace></failure>'
        elif kind == "skipped":
            inner = "<reason>needs the network</reason>"
        if i % 5 == 3:
            inner += f"<output>{esc(STDOUT)}</output>"
        out.write(
            f'<test name="N.C.Test{i:07d}" type="N.C{i // 500:04d}" method="Test{i:07d}" time="{rng.random() / 10:.6f}" '
            f'result="{result[kind]}">{inner}</test>\n'
        )
    out.write("</collection></assembly></assemblies>\n")


def write_gotest(out: TextIO, total: int, rng: random.Random) -> None:
    end = {"passed": "pass", "failed": "fail", "skipped": "skip"}
    for i in range(total):
        package, test, kind = f"m/p{i // 500:04d}", f"Test{i:07d}", kind_of(i)
        out.write(json.dumps({"Action": "run", "Package": package, "Test": test}) + "\n")
        lines = [f"=== RUN   {test}\n"]
        if i % 5 == 3:
            lines += STDOUT.splitlines(keepends=True)
        if kind == "failed":
            lines += [f"    p_test.go:12: {line}\n" for line in TRACEBACK.splitlines()[:1]] + [
                line + "\n" for line in TRACEBACK.splitlines()[1:]
            ]
        elif kind == "skipped":
            lines.append("    p_test.go:20: needs the network\n")
        lines.append(f"--- {end[kind].upper()}: {test} (0.00s)\n")
        out.writelines(
            json.dumps({"Action": "output", "Package": package, "Test": test, "Output": line}) + "\n"
            for line in lines
        )
        out.write(
            json.dumps(
                {
                    "Action": end[kind],
                    "Package": package,
                    "Test": test,
                    "Elapsed": round(rng.random() / 10, 3),
                }
            )
            + "\n"
        )
        if i % 500 == 499 or i == total - 1:
            out.write(json.dumps({"Action": "fail", "Package": package, "Elapsed": 1.0}) + "\n")


def write_tap(out: TextIO, total: int, rng: random.Random) -> None:
    out.write(f"TAP version 13\n1..{total}\n")
    for i in range(total):
        kind = kind_of(i)
        name = f"test {i:07d}"
        if kind == "skipped":
            out.write(f"ok {i + 1} - {name} # SKIP needs the network\n")
        elif kind == "failed":
            error = "\n".join("    " + line for line in TRACEBACK.splitlines())
            out.write(
                f"not ok {i + 1} - {name}\n  ---\n  duration_ms: {rng.random() * 100:.6f}\n"
                f"  location: '/src/test/t{i // 500:04d}.test.js:3:1'\n  error: |-\n{error}\n  name: 'AssertionError'\n  ...\n"
            )
        else:
            out.write(f"ok {i + 1} - {name}\n  ---\n  duration_ms: {rng.random() * 100:.6f}\n  ...\n")
        if i % 5 == 3:
            out.write("".join(f"# {line}\n" for line in STDOUT.splitlines()))


def write_cucumber(out: TextIO, total: int, rng: random.Random) -> None:
    out.write("[")
    for feature in range((total + 499) // 500):
        scenarios = []
        for i in range(feature * 500, min(total, feature * 500 + 500)):
            kind = kind_of(i)
            result: dict[str, Any] = {"status": kind, "duration": rng.randrange(10**8)}
            if kind == "failed":
                result["error_message"] = TRACEBACK
            steps = [
                {
                    "keyword": "Given ",
                    "name": "a thing",
                    "line": 4,
                    "match": {"location": "steps.js:3"},
                    "result": {"status": "passed", "duration": 1000},
                },
                {
                    "keyword": "Then ",
                    "name": "it works",
                    "line": 5,
                    "match": {"location": "steps.js:5"},
                    "result": result,
                },
            ]
            scenarios.append(
                {
                    "description": "",
                    "id": f"f;s{i}",
                    "keyword": "Scenario",
                    "line": 3,
                    "name": f"scenario {i:07d}",
                    "steps": steps,
                    "tags": [],
                    "type": "scenario",
                }
            )
        # cucumber-js's order: elements before name and uri
        feature_doc = {
            "description": "",
            "elements": scenarios,
            "id": f"f{feature}",
            "keyword": "Feature",
            "line": 1,
            "name": f"Feature {feature}",
            "tags": [],
            "uri": f"features/f{feature:04d}.feature",
        }
        out.write(("," if feature else "") + json.dumps(feature_doc))
    out.write("]\n")


def write_mocha(out: TextIO, total: int, rng: random.Random) -> None:
    out.write('{\n  "stats": {"tests": %d},\n  "tests": [\n' % total)  # noqa: UP031 - one literal brace pair
    for i in range(total):
        kind = kind_of(i)
        record: dict[str, Any] = {
            "title": f"test {i:07d}",
            "fullTitle": f"suite {i // 500:04d} test {i:07d}",
            "file": f"/src/test/t{i // 500:04d}.spec.js",
            "currentRetry": 0,
            "err": {},
        }
        if kind != "skipped":
            record["duration"] = rng.randrange(100)
            record["speed"] = "fast"
        if kind == "failed":
            record["err"] = {
                "message": "expected 1 to equal 2",
                "stack": "AssertionError: expected 1 to equal 2\n" + TRACEBACK,
                "name": "AssertionError",
            }
        out.write(("    " if i == 0 else ",\n    ") + json.dumps(record))
    out.write('\n  ],\n  "pending": [],\n  "failures": [],\n  "passes": []\n}\n')


WRITERS: dict[str, tuple[str, Callable[[TextIO, int, random.Random], None]]] = {
    "junit": (".xml", write_junit),
    "trx": (".trx", write_trx),
    "nunit3": (".xml", write_nunit3),
    "xunit2": (".xml", write_xunit2),
    "go-test-json": (".jsonl", write_gotest),
    "tap": (".tap", write_tap),
    "cucumber-json": (".json", write_cucumber),
    "mocha-json": (".json", write_mocha),
}


def generate(directory: Path, cases: int) -> None:
    """Write one file per format into `directory`."""
    for fmt, (suffix, writer) in WRITERS.items():
        with (directory / f"results-{fmt}{suffix}").open("w", encoding="utf-8") as out:
            writer(out, cases, random.Random(1234))


def measure(fmt: str, path: Path) -> dict[str, Any]:
    """Read one file to the end (run in a fresh subprocess)."""
    sys.path.insert(0, str(ROOT))
    from qaagent.formats.read import read_results  # noqa: PLC0415 - measured subprocess only

    started = time.perf_counter()
    cases = failed = 0
    for case in read_results(path, format=fmt, suite="s", base_dir=path.parent, repo_root=path.parent):
        cases += 1
        failed += case.status == "failed"
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"format": fmt, "cases": cases, "failed": failed, "seconds": seconds, "peak_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--measure", nargs=2, metavar=("FORMAT", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--generate", nargs=2, metavar=("DIR", "CASES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(Path(args.generate[0]), int(args.generate[1]))
        return
    if args.measure:
        print(json.dumps(measure(args.measure[0], Path(args.measure[1]))))
        return
    print(
        f"# {platform.python_implementation()} {platform.python_version()} on {platform.machine()}, {args.cases} cases"
    )
    with tempfile.TemporaryDirectory(prefix="qaagent-formats-bench-") as tmp:
        # written by a child: a child forked from a parent that grew keeps the parent's peak RSS
        subprocess.run([sys.executable, __file__, "--generate", tmp, str(args.cases)], check=True)
        files = {fmt: Path(tmp) / f"results-{fmt}{suffix}" for fmt, (suffix, _) in WRITERS.items()}
        results: dict[str, list[dict[str, Any]]] = {fmt: [] for fmt in WRITERS}
        for _ in range(args.rounds):
            for fmt, path in files.items():
                run = subprocess.run(
                    [sys.executable, __file__, "--measure", fmt, str(path)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                result = json.loads(run.stdout)
                assert result["cases"] == args.cases, result
                results[fmt].append(result)
        reference = min(r["seconds"] for r in results["junit"])
        print("| format | input | cases | read (fastest of rounds) | vs JUnit | MB/s | peak RSS |")
        print("|---|---|---|---|---|---|---|")
        for fmt, runs in results.items():
            best = min(r["seconds"] for r in runs)
            peak = max(r["peak_mib"] for r in runs)
            size = files[fmt].stat().st_size / 1e6
            print(
                f"| {fmt} | {size:.1f} MB | {runs[0]['cases']:,} | {best:.2f} s | {best / reference:.2f}× "
                f"| {size / best:.0f} | {peak:.1f} MiB |"
            )


if __name__ == "__main__":
    main()
