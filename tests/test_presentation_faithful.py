"""What the reports show is what the tools said: xfail/xpass apart, classes where names repeat,
a label for a test without a name (the identity stays empty), the cause of a crash in one line."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from conftest import ProjectFactory, run_qaagent
from helpers import case, manifest_of, run_of, suite

from qaagent.evidence.bundle import Bundle
from qaagent.evidence.read import iter_records, read_manifest
from qaagent.github.annotations import summary_line, write_annotations
from qaagent.process import ProcessOutcome
from qaagent.rebuild import ShardBundle, read_cases
from qaagent.redact import Redactor
from qaagent.report.console import summary_lines
from qaagent.report.from_bundle import write_report
from qaagent.report.markdown import render_summary
from qaagent.results import CaseStore, TestCase
from qaagent.retries import exit_code_case, with_cause
from qaagent.text import CONTROL, UNNAMED, cause_line


def outcomes_run() -> list[TestCase]:
    xfail = dataclasses.replace(case("test_known_bug", "skipped", message="bug 12"), outcome="xfail")
    xpass = dataclasses.replace(case("test_fixed_bug"), outcome="xpass")
    return [case("test_ok"), xfail, xpass, case("test_skip", "skipped", message="no db")]


def test_xfail_and_xpass_are_counted_apart_as_pytest_does() -> None:
    run = run_of(suite("unit", outcomes_run()))
    counts = run.counts
    # JUnit's numbers (merged report, manifest, outputs) keep them within skipped and passed
    assert (counts.passed, counts.skipped, counts.xfailed, counts.xpassed) == (2, 2, 1, 1)
    text = "\n".join(summary_lines(run, fail_on=("failed", "error")))
    assert "1 passed, 0 failed, 0 errors, 1 skipped, 1 xfailed, 1 xpassed, 0 flaky" in text
    assert "SUCCESS: 4 tests, 1 passed, 0 failed, 0 errors, 1 skipped, 1 xfailed, 1 xpassed" in text
    _, line = summary_line(run, ("failed", "error"))
    assert line.startswith("success: 4 tests, 1 passed, 0 failed, 0 errors, 1 skipped, 1 xfailed, 1 xpassed")
    markdown = render_summary(run, fail_on=("failed", "error"))
    assert (
        "| Total | ✅ Passed | ❌ Failed | 💥 Errors | ⏭️ Skipped | ✖️ Xfailed | ❗ Xpassed | 🔁 Flaky |"
        in markdown
    )
    assert "| 4 | 1 | 0 | 0 | 1 | 1 | 1 | 0 |" in markdown
    assert "| unit | ✅ passed | 1 | 0 | 0 | 1 | 1 | 1 | 0 |" in markdown


def test_without_xfail_the_summaries_keep_their_columns() -> None:
    run = run_of(suite("unit", [case("test_ok"), case("test_skip", "skipped")]))
    markdown = render_summary(run, fail_on=("failed", "error"))
    assert "| Total | ✅ Passed | ❌ Failed | 💥 Errors | ⏭️ Skipped | 🔁 Flaky | Wall time |" in markdown
    assert "xfailed" not in "\n".join(summary_lines(run, fail_on=("failed",)))


def test_outcome_is_kept_in_tests_jsonl(tmp_path: Path) -> None:
    run = run_of(suite("unit", outcomes_run()))
    bundle = Bundle.start(
        tmp_path, "20240501_120000Z", project="p", settings={}, profile_path=None, profile_sha256=None,
        repo_root=tmp_path, suites=["unit"], redactor=Redactor([]),
    )  # fmt: skip
    bundle.finish(run, summary_markdown="", fail_on=("failed", "error"))
    records = list(iter_records(bundle.dir))
    assert [r.outcome for r in records] == [None, "xfail", "xpass", None]
    manifest = manifest_of(bundle.dir)
    assert manifest["totals"]["xfailed"] == 1
    assert manifest["totals"]["xpassed"] == 1
    page = write_report(bundle.dir).read_text(encoding="utf-8")
    # counted apart as the console and summary.md count them: 1 passed, 1 skipped, 1 xfailed, 1 xpassed
    # (the manifest's totals, like JUnit, have 2 passed and 2 skipped)
    assert (manifest["totals"]["passed"], manifest["totals"]["skipped"]) == (2, 2)
    assert '<dt>Passed</dt><dd id="total-passed">1</dd>' in page
    assert '<dt>Skipped</dt><dd id="total-skipped">1</dd>' in page
    assert '<dt>Xfailed</dt><dd id="total-xfailed">1</dd>' in page
    assert '<dt>Xpassed</dt><dd id="total-xpassed">1</dd>' in page
    assert "<p>1 passed, 0 failed, 0 errors, 1 skipped, 1 xfailed, 1 xpassed, 0 flaky · runner " in page


def test_the_console_names_the_class_where_names_repeat() -> None:
    failures = [
        case("test_x", "failed", classname="tests.test_tz.TestA", line=10, message="a"),
        case("test_x", "failed", classname="tests.test_tz.TestB", line=20, message="b"),
        case("test_y", "failed", classname="tests.test_tz.TestB", line=30, message="c"),
    ]
    text = "\n".join(summary_lines(run_of(suite("unit", failures)), fail_on=("failed",)))
    assert "FAIL  unit › tests.test_tz.TestA › test_x  tests/test_x.py:10" in text
    assert "FAIL  unit › tests.test_tz.TestB › test_x  tests/test_x.py:20" in text
    assert "FAIL  unit › test_y  tests/test_x.py:30" in text  # a unique name stays short


def test_the_class_is_shown_where_names_repeat_in_the_list_as_the_readme_says() -> None:
    """The README's rule, word for word: within the listed failures, not against passing tests."""
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8").split())
    assert (
        "The console's list of failures (and its list of flaky tests) names a test's class where two "
        "tests in that list share a suite and a name (`unit › TestA › test_x`); a failure whose name "
        "only a passing test shares is listed without its class, by its `file:line`."
    ) in readme
    tests = [
        case("test_x", "failed", classname="tests.test_tz.TestA", line=10, message="a"),
        case("test_x", classname="tests.test_tz.TestB", line=20),
        case("test_f", flaky=True, classname="tests.test_tz.TestA", line=30),
        case("test_f", flaky=True, classname="tests.test_tz.TestB", line=40),
    ]
    lines = summary_lines(run_of(suite("unit", tests)), fail_on=("failed",))
    assert "  FAIL  unit › test_x  tests/test_x.py:10" in lines
    assert "  FLAKY unit › tests.test_tz.TestA › test_f  tests/test_x.py:30" in lines
    assert "  FLAKY unit › tests.test_tz.TestB › test_f  tests/test_x.py:40" in lines


def test_a_file_or_name_with_a_line_break_stays_on_its_console_line() -> None:
    """What a report says is hostile: its `file` or name cannot split (or forge) a summary line."""
    forged = [
        case("test_a", "failed", file="t/a\nFAIL  unit › forged  t/x.py", line=3, message="boom"),
        case("test_b\rFAIL  unit › forged", "failed", message="bang"),
        case("test_c", flaky=True, file="t/c\u2028.py"),
    ]
    lines = summary_lines(run_of(suite("unit", forged)), fail_on=("failed",))
    assert "  FAIL  unit › test_a  t/a\\x0aFAIL  unit › forged  t/x.py:3" in lines
    assert "  FAIL  unit › test_b\\x0dFAIL  unit › forged  tests/test_x.py:3" in lines
    assert "  FLAKY unit › test_c  t/c\\u2028.py:3" in lines
    assert not any(CONTROL.search(line) for line in lines)


def test_a_test_without_a_name_gets_a_label_and_keeps_its_identity(tmp_path: Path) -> None:
    unnamed = case("", "failed", suite="behave", classname="features.login", file="features/login.feature",
                   line=7, message="undefined step: Given x")  # fmt: skip
    run = run_of(suite("behave", [unnamed], runner="behave"))
    text = "\n".join(summary_lines(run, fail_on=("failed",)))
    assert f"FAIL  behave › {UNNAMED}  features/login.feature:7" in text
    stream = io.StringIO()
    write_annotations(run, fail_on=("failed",), stream=stream)
    assert f"title=behave › features.login › {UNNAMED}" in stream.getvalue()
    assert UNNAMED.replace("(", "\\(").replace(")", "\\)") in render_summary(run, fail_on=("failed",))
    bundle = Bundle.start(
        tmp_path, "20240501_120000Z", project="p", settings={}, profile_path=None, profile_sha256=None,
        repo_root=tmp_path, suites=["behave"], redactor=Redactor([]),
    )  # fmt: skip
    bundle.finish(run, summary_markdown="", fail_on=("failed",))
    assert [r.name for r in iter_records(bundle.dir)] == [""]  # the identity is the tool's
    assert 'name=""' in (bundle.dir / "junit.xml").read_text(encoding="utf-8")


def _outcome(code: int | None, tail: str) -> ProcessOutcome:
    return ProcessOutcome(code, timed_out=False, cancelled=False, started_at=0.0, duration=1.0, tail=tail)


BEHAVE_CRASH = """\
Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/behave/runner_util.py", line 548, in exec_file
    exec(code, globals_, locals_)
  File "features/steps/steps.py", line 3, in <module>
    undefined_thing()
NameError: name 'undefined_thing' is not defined
"""
PLAYWRIGHT_CRASH = 'Error: Project(s) "chromium" not found. Available projects: ""\n'
NPX = (
    'npm error npx canceled due to missing packages and no YES option: ["playwright@1.65.1"]\n'
    "npm error A complete log of this run can be found in: /home/ci/.npm/_logs/x-debug-0.log\n"
)


def test_the_cause_line_of_a_crash_is_the_last_error_looking_line() -> None:
    assert cause_line(BEHAVE_CRASH) == "NameError: name 'undefined_thing' is not defined"
    assert cause_line(PLAYWRIGHT_CRASH) == 'Error: Project(s) "chromium" not found. Available projects: ""'
    assert (
        cause_line(NPX)
        == 'npm error npx canceled due to missing packages and no YES option: ["playwright@1.65.1"]'
    )
    assert cause_line("=== 3 passed, 1 error in 0.2s ===\n") is None
    assert cause_line("all fine\n") is None


def test_a_crash_reason_carries_its_cause_only_when_the_tool_failed() -> None:
    reason = "behave exited with code 1 and wrote no JUnit report"
    assert with_cause(reason, _outcome(1, BEHAVE_CRASH)) == (
        f"{reason}: NameError: name 'undefined_thing' is not defined"
    )
    assert with_cause(reason, _outcome(0, BEHAVE_CRASH)) == reason
    timed_out = dataclasses.replace(_outcome(None, BEHAVE_CRASH), timed_out=True)
    assert with_cause(reason, timed_out) == reason
    (judged,) = exit_code_case(
        "lint", _outcome(2, "src/x.py:3: error: Name 'y' is not defined\n"), CaseStore()
    )
    assert judged.message == "command exited with code 2: src/x.py:3: error: Name 'y' is not defined"


def test_a_merge_keeps_the_outcome_junit_cannot_carry(tmp_path: Path) -> None:
    """A passing TAP TODO is an xpass; the merged JUnit writes a plain pass, tests.jsonl says xpass."""
    run = run_of(suite("unit", outcomes_run()))
    bundle = Bundle.start(
        tmp_path, "20240501_120000Z", project="p", settings={}, profile_path=None, profile_sha256=None,
        repo_root=tmp_path, suites=["unit"], redactor=Redactor([]),
    )  # fmt: skip
    bundle.finish(run, summary_markdown="", fail_on=("failed", "error"))
    shard = ShardBundle(bundle.dir, read_manifest(bundle.dir), 1, 1)
    assert [c.outcome for c in read_cases(shard, "shards/x/")] == [None, "xfail", "xpass", None]


@pytest.mark.slow
def test_the_suite_line_counts_xfail_apart_like_the_summary(qa_project: ProjectFactory) -> None:
    tests = (
        "import pytest\n\n"
        "def test_ok():\n    pass\n\n"
        "@pytest.mark.xfail(reason='bug 12')\ndef test_known_bug():\n    assert False\n\n"
        "@pytest.mark.xfail(reason='fixed?')\ndef test_fixed_bug():\n    pass\n\n"
        "@pytest.mark.skip(reason='no db')\ndef test_skip():\n    pass\n"
    )
    root = qa_project(
        {".qaagent.yaml": "tests:\n  unit: {runner: pytest, path: tests}\n", "tests/test_x.py": tests}
    )
    result = run_qaagent("run-all", "--no-history", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    # pytest's JUnit writes a (non-strict) xpass as a plain pass: 2 passed
    counts = "2 passed, 0 failed, 0 errors, 1 skipped, 1 xfailed, 0 flaky"
    assert f"[unit] passed: {counts} in " in result.stdout, result.stdout
    (summary,) = [line for line in result.stdout.splitlines() if line.startswith("  PASS  unit")]
    assert counts in summary
