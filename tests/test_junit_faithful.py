"""The JUnit reader says what the tools said (issue 16), on the real tools' output.

Golden files from scripts/regen-format-fixtures.sh (versions in
tests/fixtures/formats/VERSIONS.txt); each test names the rule it checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import read_junit_files

from qaagent.attempts import Attempt, Rerun
from qaagent.junit.write import write_merged_junit
from qaagent.redact import Redactor
from qaagent.results import CaseStore, SuiteResult, TestCase
from qaagent.run_result import RunResult

FIXTURES = Path(__file__).parent / "fixtures" / "formats"
PROJECT = FIXTURES / "project"
#: where scripts/regen-format-fixtures.sh ran the tools (absolute paths in the outputs name it)
GENERATED_IN = Path("/tmp/qaagent-format-fixtures/project")


def read(path: Path, base_dir: Path, repo_root: Path | None = None) -> list[TestCase]:
    cases, errors = read_junit_files([path], suite="s", base_dir=base_dir, repo_root=repo_root or base_dir)
    assert errors == []
    return cases


def by_name(cases: list[TestCase]) -> dict[str, TestCase]:
    return {case.name: case for case in cases}


# -- pytest ---------------------------------------------------------------------------------


def test_pytest_collection_error_keeps_its_identity_and_names_the_cause() -> None:
    [case] = read(FIXTURES / "pytest" / "collection-error.xml", PROJECT / "pytest")
    # pytest wrote classname="" name="collect.test_collect": kept, not replaced by the suite's name
    assert (case.classname, case.name, case.status) == ("", "collect.test_collect", "error")
    assert case.file == "collect/test_collect.py"
    # pytest's message is "collection failure"; the cause is the traceback's E line
    assert case.message == (
        "pytest.PytestRemovedIn10Warning: Passing a non-Collection iterable to parametrize is deprecated."
    )
    assert "collection failure" not in case.message
    assert case.details.rstrip().endswith(
        "See https://docs.pytest.org/en/stable/deprecations.html#parametrize-iterators"
    )


def test_pytest_failing_line_comes_from_the_traceback() -> None:
    cases = by_name(read(FIXTURES / "pytest" / "outcomes.xml", PROJECT / "pytest"))
    source = (PROJECT / "pytest" / "tests" / "test_outcomes.py").read_text().splitlines()

    def line_of(case: TestCase) -> str:
        assert case.line is not None
        return source[case.line - 1].strip()

    body = cases["test_fails_in_body"]
    assert (body.file, body.line) == ("tests/test_outcomes.py", 12)
    assert line_of(body) == "assert value == 2"
    # the failure is in a helper of the same file: its line (the last traceback entry in the file)
    assert line_of(cases["test_fails_in_helper"]) == 'assert value == 2, "checked in a helper"'
    # passing tests keep pytest's def line (0-based in the report, 1-based here; decorators first)
    assert line_of(cases["test_xpass"]) == '@pytest.mark.xfail(reason="fixed meanwhile")'


def test_pytest_xfail_and_strict_xpass_are_outcomes() -> None:
    cases = by_name(read(FIXTURES / "pytest" / "outcomes.xml", PROJECT / "pytest"))
    assert [
        (c.status, c.outcome, c.message) for c in (cases["test_xfail"], cases["test_xfail_at_run_time"])
    ] == [
        ("skipped", "xfail", "known bug"),
        ("skipped", "xfail", "decided at run time"),
    ]
    assert (cases["test_xpass_strict"].status, cases["test_xpass_strict"].outcome) == ("failed", "xpass")
    # a non-strict xpass is a plain passed testcase in pytest's JUnit: nothing says xpass
    assert (cases["test_xpass"].status, cases["test_xpass"].outcome) == ("passed", None)
    assert cases["test_fails_in_body"].outcome is None


# -- behave ---------------------------------------------------------------------------------


def test_behave_scenarios_without_a_title_keep_the_empty_name() -> None:
    cases = read(FIXTURES / "behave" / "junit" / "TESTS-unnamed.xml", PROJECT / "behave")
    assert [(c.classname, c.name, c.status) for c in cases] == [
        ("unnamed.Things without names", "", "passed"),
        ("unnamed.Things without names", "", "failed"),
        ("unnamed.Things without names", "Undefined here", "error"),
    ]
    assert (cases[1].file, cases[1].line, cases[1].message) == (
        "features/unnamed.feature",
        9,
        "expected 3, got 2",
    )


def test_behave_undefined_step_says_what_happened() -> None:
    case = read(FIXTURES / "behave" / "junit" / "TESTS-unnamed.xml", PROJECT / "behave")[2]
    # behave wrote <error type="NoneType" message="None">
    assert case.message == "undefined step: When something nobody wrote happens"
    assert case.type == "NoneType"
    assert (case.file, case.line) == ("features/unnamed.feature", 13)


# -- Playwright -----------------------------------------------------------------------------


def test_old_playwright_message_is_the_errors_first_line_not_the_title() -> None:
    report = FIXTURES / "playwright" / "playwright-1.45.3.xml"
    assert 'message="sample.spec.js:3:1 heading is wrong"' in report.read_text()
    cases = read(report, GENERATED_IN / "playwright" / "e2e", GENERATED_IN / "playwright")
    assert [(c.name, c.message, c.file, c.line) for c in cases] == [
        (
            "heading is wrong",
            "Timed out 1000ms waiting for expect(locator).toHaveText(expected)",
            "e2e/sample.spec.js",
            5,
        ),
        ("throws", "injected real failure", "e2e/sample.spec.js", 9),
    ]


def test_new_playwright_message_is_kept() -> None:
    cases = read(Path(__file__).parent / "fixtures" / "junit" / "playwright-plain.xml", GENERATED_IN)
    assert cases[1].message == "expect(locator).toHaveText(expected) failed"


# -- gotestsum and node's junit reporter ------------------------------------------------------


def test_gotestsum_junit_message_file_and_line_come_from_the_output() -> None:
    cases = read(FIXTURES / "go" / "gotestsum.xml", PROJECT / "go")
    first = cases[0]
    assert (first.classname, first.name, first.status) == (
        "example.com/qaagent/fixture/calc",
        "TestAddFails",
        "failed",
    )
    # gotestsum writes message="Failed"
    assert first.message == "Add(1, 1) = 2, want 3"
    assert (first.file, first.line) == ("calc/calc_test.go", 18)
    table = by_name(cases)["TestTable/2+2"]
    assert (table.message, table.line) == ("got 4, want 5", 31)
    skipped = by_name(cases)["TestSkipped"]
    assert (skipped.status, skipped.message, skipped.line) == ("skipped", "not on this platform", 23)
    # --rerun-fails lists every run as its own testcase (folding them is the caller's job)
    assert [c.status for c in cases if c.name == "TestAddFails"] == ["failed", "failed", "failed"]
    assert [c.status for c in cases if c.name == "TestFlaky"] == ["failed", "passed"]


def test_gotestsum_junit_without_the_module_has_no_file(tmp_path: Path) -> None:
    cases = read(FIXTURES / "go" / "gotestsum.xml", tmp_path)
    assert (cases[0].file, cases[0].line, cases[0].message) == (None, 18, "Add(1, 1) = 2, want 3")


def test_node_junit_todo_tests_are_xfail_and_xpass() -> None:
    cases = by_name(read(FIXTURES / "node" / "node-test-junit.xml", PROJECT / "node"))
    failing, passing = cases["todo failing"], cases["todo passing"]
    assert (failing.status, failing.outcome, failing.message, failing.type) == (
        "skipped",
        "xfail",
        "known bug",
        "todo",
    )
    assert "still broken" in failing.details
    assert (passing.status, passing.outcome, passing.message) == ("passed", "xpass", "not finished")
    assert (cases["skipped on purpose"].status, cases["skipped on purpose"].outcome) == ("skipped", None)
    assert cases["is broken"].status == "failed"


# -- qaagent's own merged JUnit -------------------------------------------------------------


def _run(cases: list[TestCase]) -> RunResult:
    attempt = Attempt(1, ("pytest",), 1, False, 1_700_000_000.0, 1.0)
    suite = SuiteResult("pytest", "pytest", CaseStore(cases), [attempt])
    return RunResult("p", "r", [suite], 1_700_000_000.0, 1_700_000_001.0)


def test_merged_junit_is_read_back_unchanged(tmp_path: Path) -> None:
    """A suite named "pytest" with pytest's attributes used to be taken for 0-based: +1 per re-read."""
    cases = [
        *read(FIXTURES / "pytest" / "outcomes.xml", PROJECT / "pytest"),
        TestCase(
            "s", "", "", "failed", 0.1, "tests/x.py", 1, "None", "NoneType", "Failing step: X ... undefined"
        ),
        TestCase(
            "s", "c", "t", "failed", 0.1, "tests/x.py", 7, "collection failure", "", "E   ValueError: no"
        ),
        TestCase(
            "s", "c", "flaky", "passed", 0.1, "tests/x.py", 3, reruns=(Rerun("failed", "m"),), flaky=True
        ),
    ]
    out = tmp_path / "junit.xml"
    write_merged_junit(_run(cases), out, redact=Redactor().redact)
    assert '<property name="written_by" value="qaagent"/>' in out.read_text()
    again = read(out, tmp_path)
    assert [(c.classname, c.name, c.status, c.file, c.line, c.message) for c in again] == [
        (c.classname, c.name, c.status, c.file, c.line, c.message) for c in cases
    ]
    assert [c.outcome for c in again] == [c.outcome if c.status != "passed" else None for c in cases]
    # and a third time: nothing moves
    out2 = tmp_path / "again.xml"
    write_merged_junit(_run(again), out2, redact=Redactor().redact)
    assert [(c.file, c.line) for c in read(out2, tmp_path)] == [(c.file, c.line) for c in cases]


def test_merged_junit_of_older_qaagent_is_recognised_by_its_properties(tmp_path: Path) -> None:
    report = tmp_path / "old.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest" tests="1" failures="0" errors="0"><properties>'
        '<property name="runner" value="pytest"/><property name="attempts" value="1"/>'
        '<property name="returncode" value="0"/><property name="command" value="pytest"/>'
        '<property name="timed_out" value="false"/></properties>'
        '<testcase name="t" classname="m" time="0.1" file="m.py" line="4"/></testsuite></testsuites>'
    )
    assert read(report, tmp_path)[0].line == 4


@pytest.mark.parametrize("marker", ['<property name="written_by" value="someone"/>', ""])
def test_without_the_marker_pytest_lines_are_still_zero_based(tmp_path: Path, marker: str) -> None:
    report = tmp_path / "r.xml"
    report.write_text(
        f'<testsuites><testsuite name="pytest"><properties>{marker}</properties>'
        '<testcase name="t" classname="m" time="0.1" file="m.py" line="4"/></testsuite></testsuites>'
    )
    assert read(report, tmp_path)[0].line == 5
