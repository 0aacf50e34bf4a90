"""The reports of one varied run, byte for byte: a faster pass must write exactly the same files.

A pytest-style JUnit report (written here, deterministic) with what makes the one pass
take short cuts — tracebacks repeated across cases and files (remembered locations,
categories and cut text), a secret inside a repeated traceback (redaction),
terminal codes, NUL and other controls, Markdown and HTML specials, `@` mentions, output
longer than `max_output` (truncation), texts longer than every memo's limit, flaky
cases with reruns — is read by the real reader, then the merged JUnit, tests.jsonl
and summary.md are written by the real writers and compared with the files in
`tests/fixtures/pinned/`. Those were written by the code before the speed-ups of
issue 13 (session 25); a deliberate change of a format rewrites them with
`python tests/test_reports_pinned.py tests/fixtures/pinned` (and the diff is reviewed).
"""

from __future__ import annotations

import sys
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from qaagent.attempts import Attempt
from qaagent.evidence.diagnostics import categorize
from qaagent.evidence.records import RecordWriter
from qaagent.files import StreamedFile
from qaagent.junit.read import iter_junit_cases
from qaagent.junit.write import MergedJUnit
from qaagent.redact import Redactor
from qaagent.report.markdown import render_summary
from qaagent.results import CaseStore, SuiteResult, TestCase
from qaagent.run_result import RunResult
from qaagent.stream import CaseText, CaseWriter, stream_run

PINNED = Path(__file__).parent / "fixtures" / "pinned"
T0 = 1_714_566_645.0  # 2024-05-01 12:30:45 UTC
SECRET = "pinned-s3cr3t-value"  # noqa: S105 - a fake secret
MAX_OUTPUT = 700
FILES = ("junit.xml", "tests.jsonl", "summary.md")


def _traceback(number: int, file: str) -> str:
    frames = "".join(f'  File "/repo/lib/mod_{number}.py", line {10 + k}, in f{k}\n' for k in range(3))
    return (
        f"self = <Thing id={number}>\n\n    def test_it(self):\n>       assert value == {number}\n"
        f"E       AssertionError: assert {number} == {number + 1}\n\n{file}:{20 + number}: AssertionError\n"
        f"Traceback (most recent call last):\n{frames}AssertionError\n"
    )


#: the failures' (message, type, body): few, so they repeat across cases (and files)
_FAILURES = (
    ("AssertionError: assert 1 == 2", "AssertionError", _traceback(1, "tests/test_m0.py")),
    ("requests timed out after 30 s", "TimeoutError", _traceback(2, "tests/test_m1.py")),
    (f"login with {SECRET} refused (401)", "PermissionError", f"token={SECRET}\n{_traceback(3, 'x.py')}"),
    ("\x1b[31mred\x1b[0m NUL\x00 and \u2028 *bold* <b>&amp; @octocat #12 `code` | pipe", "E", "x\x07y"),
    ("KeyError: 'id'", "KeyError", "data\n" * 400),  # longer than max_output: cut, head and tail
    ("long", "Error", ("é" * 9000) + "\nconnection refused"),  # beyond the memos' limits
)


def _case(number: int) -> str:
    module = number % 4
    name = f"test_{number:03d}[p-{number % 3}]" + (" @octo #7 <b>*x*</b> & `y`" if number % 10 == 6 else "")
    attrs = (
        f'classname="tests.test_m{module}.TestThing" name={quoteattr(name)}'
        f' file="tests/test_m{module}.py" line="{number}" time="{number / 7:.6f}"'
    )
    kind = number % 9
    if kind in (0, 1, 2) and number % 2:  # a failure, one of a few: repeated across files
        message, type_, body = _FAILURES[number % len(_FAILURES)]
        element = "error" if number % 5 == 0 else "failure"
        out = f"<system-out>{escape('captured ' * (number % 5) + SECRET * (number % 2))}</system-out>"
        return (
            f"<testcase {attrs}><{element} message={quoteattr(message)} type={quoteattr(type_)}>"
            f"{escape(body)}</{element}>{out}</testcase>"
        )
    if kind == 3:
        return f'<testcase {attrs}><skipped message="not on this platform @team"/></testcase>'
    if kind == 4:  # flaky: passed after a failure (pytest-rerunfailures / Surefire spelling)
        message, _, body = _FAILURES[number % 3]
        return (
            f'<testcase {attrs}><flakyFailure message={quoteattr(message)} type="AssertionError">'
            f"<stackTrace>{escape(body)}</stackTrace></flakyFailure></testcase>"
        )
    if kind == 5:
        return f"<testcase {attrs}><system-err>{escape('warn ' + chr(0x2028) + ' ' * number)}</system-err></testcase>"
    return f"<testcase {attrs}/>"


def write_input(path: Path) -> None:
    """A pytest-style (xunit1: `file`, 0-based `line`) JUnit report of 90 varied cases."""
    cases = "".join(_case(number) for number in range(90))
    path.write_text(
        f'<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="pytest" tests="90">'
        f"{cases}</testsuite></testsuites>\n",
        encoding="utf-8",
    )


def direct_cases() -> list[TestCase]:
    """Cases as a runner hands them over without XML (Go, TAP): controls the JUnit reader cannot see."""
    hostile = "\x1b[1;31mboom\x1b[0m NUL\x00 lone \ud800 bell\x07 " + SECRET
    return [
        TestCase(
            "direct",
            "pkg",
            f"TestHostile/{number % 2}",
            "failed" if number % 3 else "error",
            0.5,
            "pkg/x_test.go",
            number + 1,
            message=hostile,
            type="panic",
            details=(hostile + "\n") * (1 + number % 2),
            stdout=hostile * (50 if number == 3 else 1),
        )
        for number in range(6)
    ]


def write_reports(folder: Path) -> None:
    """Read the varied input, then write the merged JUnit, tests.jsonl and summary.md into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "input.xml"
    write_input(source)
    cases = list(iter_junit_cases(source, suite="unit", base_dir=Path("/repo"), repo_root=Path("/repo")))
    source.unlink()
    attempt = Attempt(1, ("pytest", "tests"), 1, False, T0 + 1, 2.0)
    suite = SuiteResult("unit", "pytest", CaseStore(cases), [attempt])
    direct = SuiteResult("direct", "go", CaseStore(direct_cases()), [attempt])
    run = RunResult("pinned", "20240501_123045Z", [suite, direct], T0, T0 + 10.5)
    text = CaseText(Redactor([SECRET]).redact, MAX_OUTPUT, categorize)
    writers: list[CaseWriter] = [
        MergedJUnit(StreamedFile(folder / "junit.xml"), text),
        RecordWriter(StreamedFile(folder / "tests.jsonl"), T0),
    ]
    assert stream_run(run, text, writers, {}) == []
    summary = render_summary(run, fail_on=["failed", "error"], evidence_path="evidence/x", sha="0" * 40)
    (folder / "summary.md").write_text(Redactor([SECRET]).redact(summary), encoding="utf-8")


def test_the_reports_of_a_varied_run_are_the_pinned_bytes(tmp_path: Path) -> None:
    write_reports(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (PINNED / name).read_bytes(), name


def test_the_pinned_run_exercises_what_it_says() -> None:
    junit = (PINNED / "junit.xml").read_text(encoding="utf-8")
    assert SECRET not in junit
    assert "***" in junit  # redacted, in a traceback that repeats
    assert "bytes truncated ...]" in junit  # cut to max_output
    assert "\\x00" in junit  # NUL shown, not dropped
    assert 'file="tests/test_m0.py" line="21"' in junit  # the line in the traceback, not the report's
    assert "@\u200d" in (PINNED / "summary.md").read_text(encoding="utf-8")  # no mention


if __name__ == "__main__":  # regenerate the pinned files after a deliberate change of a format
    write_reports(Path(sys.argv[1]))
