"""Benchmark of the reporting path: JUnit files in, merged report + tests.jsonl out.

Run: ``.venv/bin/python benchmarks/reporting.py [--junit-xml-python /tmp/venv/bin/python]``

It generates 10 JUnit files (10% failures with ~600-character tracebacks, 5%
skipped, 20% with stdout) for 100,000 and 400,000 test cases, then measures,
each in a fresh subprocess (so peak RSS, read from ``ru_maxrss``, belongs to
that measurement only):

- ``qaagent``: parse with `qaagent.junit.read.iter_junit_cases`, fill one
  `CaseStore` per file, build a `RunResult`, write the merged report and
  tests.jsonl (`write_merged_junit` with a `RecordWriter`);
- ``junitparser``: the floor — merge the same files with junitparser and
  write them (it holds the whole tree in memory);
- ``junit-xml`` (only with ``--junit-xml-python``, a throwaway venv that has the
  `junit-xml` package): build the same cases as its objects and write the
  report; its output is then checked against the schemas.

It is not a timed test: numbers depend on the machine. Results go to
docs/benchmarks.md by hand, as ratios from one run.
"""

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FILES = 10
SCHEMAS = ROOT / "schemas"
#: junit-xml's output is validated at this size only (xmlschema needs minutes for larger)
SCHEMA_CHECK_MAX = 100_000

TRACEBACK = (
    "self = <tests.test_module.TestThing object at 0x7f3a2c1b9d30>\n\n"
    "    def test_case(self):\n        result = compute(42)\n"
    ">       assert result == {'status': 'ok', 'items': [1, 2, 3]}\n"
    "E       AssertionError: assert {'status': 'error', 'items': []}"
    " == {'status': 'ok', 'items': [1, 2, 3]}\n"
    "E         Differing items:\n"
    "E         {'status': 'error'} != {'status': 'ok'}\n"
    "E         {'items': []} != {'items': [1, 2, 3]}\n"
    "E         Full diff:\n"
    "E         - {'items': [1, 2, 3], 'status': 'ok'}\n"
    "E         + {'items': [], 'status': 'error'}\n\n"
    "tests/test_module.py:123: AssertionError"
)
STDOUT = "setting up fixture database\nconnecting to http://127.0.0.1:8000\n" * 2


def kind_of(index: int) -> str:
    """Deterministic mix: 10% failed, 5% skipped, the rest passed."""
    bucket = index % 20
    if bucket in (0, 1):
        return "failed"
    if bucket == 2:
        return "skipped"
    return "passed"


def esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


FAILURE_MESSAGE = "AssertionError: assert {} == {...}"


def generate(
    directory: Path, total: int, *, failures: Sequence[tuple[str, str]] = ((FAILURE_MESSAGE, TRACEBACK),)
) -> list[Path]:
    """Write FILES JUnit files (pytest xunit1 style) with `total` cases together.

    Failing case number k gets `failures[k % len(failures)]` as (message, traceback);
    the default is the one ~600-character traceback of this benchmark's figures.
    """
    directory.mkdir(parents=True, exist_ok=True)
    per_file = total // FILES
    rng = random.Random(1234)
    escaped = [(esc(message), esc(text)) for message, text in failures]
    stdout = esc(STDOUT)
    paths = []
    for number in range(FILES):
        path = directory / f"junit-{number:02d}.xml"
        with path.open("w", encoding="utf-8") as out:
            out.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites>')
            out.write(f'<testsuite name="pytest" tests="{per_file}" time="1.0">\n')
            for i in range(per_file):
                index = number * per_file + i
                module = f"tests/test_module_{index // 500:04d}.py"
                attrs = (
                    f'classname="tests.test_module_{index // 500:04d}.TestThing" '
                    f'name="test_case_{index:07d}" '
                    f'file="{module}" line="{(index % 500) * 7}" time="{rng.random() / 10:.6f}"'
                )
                kind = kind_of(index)
                body = ""
                if kind == "failed":
                    failure_number = (index // 20) * 2 + index % 20  # kind_of: buckets 0 and 1 of 20
                    message, traceback = escaped[failure_number % len(escaped)]
                    body += f'<failure message="{message}">{traceback}</failure>'
                elif kind == "skipped":
                    body += (
                        f'<skipped type="pytest.skip" message="needs the network">{module}:12: skip</skipped>'
                    )
                if index % 5 == 3:
                    body += f"<system-out>{stdout}</system-out>"
                out.write(f"<testcase {attrs}>{body}</testcase>\n" if body else f"<testcase {attrs}/>\n")
            out.write("</testsuite></testsuites>\n")
        paths.append(path)
    return paths


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_qaagent(paths: list[Path], out_dir: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from qaagent.attempts import Attempt  # noqa: PLC0415
    from qaagent.evidence.diagnostics import categorize  # noqa: PLC0415 - measured subprocess only
    from qaagent.evidence.records import RecordWriter  # noqa: PLC0415
    from qaagent.files import StreamedFile  # noqa: PLC0415
    from qaagent.junit.read import iter_junit_cases  # noqa: PLC0415
    from qaagent.junit.write import DEFAULT_MAX_OUTPUT, MergedJUnit  # noqa: PLC0415
    from qaagent.redact import Redactor  # noqa: PLC0415
    from qaagent.results import CaseStore, SuiteResult  # noqa: PLC0415
    from qaagent.run_result import RunResult  # noqa: PLC0415
    from qaagent.stream import CaseText, stream_run  # noqa: PLC0415

    rss_before = peak_rss_mb()
    started = time.perf_counter()
    suites = []
    for path in paths:
        name = path.stem
        store = CaseStore()
        store.extend(iter_junit_cases(path, suite=name, base_dir=path.parent, repo_root=path.parent))
        attempt = Attempt(
            1, ("pytest",), 1, timed_out=False, started_at=time.time(), duration=1.0, junit_files=(path,)
        )
        suites.append(SuiteResult(name, "pytest", store, [attempt]))
    parsed = time.perf_counter()
    run = RunResult("bench", "r", suites, time.time() - 1, time.time())
    redactor = Redactor.from_environ()
    # the merged report and the records in one pass, as the bundle writes them
    text = CaseText(redactor.redact, DEFAULT_MAX_OUTPUT, categorize)
    junit = MergedJUnit(StreamedFile(out_dir / "junit.xml"), text)
    records = RecordWriter(StreamedFile(out_dir / "tests.jsonl.gz", gzip=True), run.started_at)
    stream_run(run, text, [junit, records], {})
    finished = time.perf_counter()
    for suite in suites:
        suite.cases.close()
    return {
        "cases": run.counts.total,
        "seconds": finished - started,
        "parse_seconds": parsed - started,
        "write_seconds": finished - parsed,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_imports_mb": rss_before,
        "output_mb": (out_dir / "junit.xml").stat().st_size / 1e6,
    }


def measure_junitparser(paths: list[Path], out_dir: Path) -> dict[str, Any]:
    from junitparser import JUnitXml  # noqa: PLC0415 - measured subprocess only

    rss_before = peak_rss_mb()
    started = time.perf_counter()
    merged = JUnitXml()
    for path in paths:
        merged += JUnitXml.fromfile(str(path))
    merged.update_statistics()  # type: ignore[no-untyped-call]
    merged.write(str(out_dir / "junit.xml"))
    finished = time.perf_counter()
    return {
        "seconds": finished - started,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_imports_mb": rss_before,
        "output_mb": (out_dir / "junit.xml").stat().st_size / 1e6,
    }


def measure_junit_xml(total: int, out_dir: Path) -> dict[str, Any]:
    """Build the same cases as `junit-xml` objects (no parsing: it has no reader) and write them."""
    from junit_xml import TestCase, TestSuite, to_xml_report_file  # type: ignore[import-not-found]  # noqa: PLC0415

    rss_before = peak_rss_mb()
    started = time.perf_counter()
    per_file = total // FILES
    suites = []
    for number in range(FILES):
        cases = []
        for i in range(per_file):
            index = number * per_file + i
            case = TestCase(
                f"test_case_{index:07d}",
                classname=f"tests.test_module_{index // 500:04d}.TestThing",
                file=f"tests/test_module_{index // 500:04d}.py",
                line=(index % 500) * 7 + 1,
                elapsed_sec=0.05,
                stdout=STDOUT if index % 5 == 3 else None,
            )
            kind = kind_of(index)
            if kind == "failed":
                case.add_failure_info(message="AssertionError", output=TRACEBACK)
            elif kind == "skipped":
                case.add_skipped_info(message="needs the network")
            cases.append(case)
        suites.append(TestSuite(f"junit-{number:02d}", cases))
    with (out_dir / "junit.xml").open("w", encoding="utf-8") as handle:
        to_xml_report_file(handle, suites, encoding="utf-8")
    finished = time.perf_counter()
    return {
        "seconds": finished - started,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_imports_mb": rss_before,
        "output_mb": (out_dir / "junit.xml").stat().st_size / 1e6,
    }


def run_child(python: str, what: str, data_dir: Path, total: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="qaagent-bench-out-") as out:
        done = subprocess.run(
            [python, __file__, "--child", what, "--data", str(data_dir), "--cases", str(total), "--out", out],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"{what} failed:\n{done.stderr}")
        result: dict[str, Any] = json.loads(done.stdout)
        if what == "junit-xml" and total <= SCHEMA_CHECK_MAX:
            # validated in another child: xmlschema builds the whole tree, and a child
            # process starts with its parent's peak RSS (Linux keeps it across exec)
            check = subprocess.run(
                [sys.executable, __file__, "--child", "schema", "--out", out],
                capture_output=True,
                text=True,
                check=True,
            )
            result["schema"] = json.loads(check.stdout)
        return result


def schema_problems(report: Path) -> dict[str, str]:
    """First validation error of a report against each schema ('valid' if none)."""
    import xmlschema  # noqa: PLC0415 - only when checking junit-xml output

    found = {}
    for name in ("junit-qaagent.xsd", "junit-10.xsd"):
        schema = xmlschema.XMLSchema(SCHEMAS / name)
        error = next(iter(schema.iter_errors(str(report))), None)
        found[name] = "valid" if error is None else str(error.reason)
    return found


def child_main(args: argparse.Namespace) -> None:
    out = Path(args.out)
    if args.child == "schema":
        print(json.dumps(schema_problems(out / "junit.xml")))
        return
    data = Path(args.data)
    paths = sorted(data.glob("junit-*.xml"))
    if args.child == "qaagent":
        result = measure_qaagent(paths, out)
    elif args.child == "junitparser":
        result = measure_junitparser(paths, out)
    else:
        result = measure_junit_xml(args.cases, out)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--junit-xml-python", help="python of a throwaway venv with junit-xml installed")
    parser.add_argument("--sizes", default="100000,400000")
    parser.add_argument(
        "--child", choices=["qaagent", "junitparser", "junit-xml", "schema"], help=argparse.SUPPRESS
    )
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--cases", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {platform.platform()}, Python {platform.python_version()}")
    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="qaagent-bench-") as tmp:
        for total in (int(s) for s in args.sizes.split(",")):
            data = Path(tmp) / f"cases-{total}"
            paths = generate(data, total)
            size_mb = sum(p.stat().st_size for p in paths) / 1e6
            print(f"\n{total:,} cases in {FILES} files, {size_mb:.1f} MB of JUnit")
            row: dict[str, Any] = {"input_mb": size_mb}
            tools = ["qaagent", "junitparser"] + (["junit-xml"] if args.junit_xml_python else [])
            for tool in tools:
                python = args.junit_xml_python if tool == "junit-xml" else sys.executable
                row[tool] = result = run_child(python, tool, data, total)
                extra = f" (parse {result['parse_seconds']:.2f} s)" if "parse_seconds" in result else ""
                schema = f" schema: {result['schema']}" if "schema" in result else ""
                print(
                    f"  {tool:12s} {result['seconds']:6.2f} s{extra}"
                    f"  peak RSS {result['peak_rss_mb']:6.1f} MiB"
                    f" (after imports {result['rss_after_imports_mb']:.1f})"
                    f"  output {result['output_mb']:.1f} MB{schema}"
                )
            ours, floor = row["qaagent"], row["junitparser"]
            print(
                f"  qaagent/junitparser: time {ours['seconds'] / floor['seconds']:.2f}x,"
                f" memory {ours['peak_rss_mb'] / floor['peak_rss_mb']:.2f}x"
            )
            results[total] = row
            for path in paths:
                path.unlink()
    sizes = sorted(results)
    if len(sizes) >= 2:
        small, large = results[sizes[0]]["qaagent"], results[sizes[-1]]["qaagent"]
        print(
            f"\nqaagent {sizes[-1]:,} vs {sizes[0]:,}: time {large['seconds'] / small['seconds']:.2f}x,"
            f" peak RSS {large['peak_rss_mb'] / small['peak_rss_mb']:.2f}x (target <= 1.5x)"
        )
    print("\n" + json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
