"""The console summary at the end of a run: suites in order, failures last, totals, where the reports are."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from qaagent.results import SuiteResult, TestCase
from qaagent.run_result import FailOn, RunResult, conclusion
from qaagent.text import controls_shown, display_name, first_line

MARKS = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "SKIP"}
#: failures listed one by one before the rest are only counted
MAX_LISTED = 50


def labels(cases: Sequence[TestCase]) -> list[str]:
    """`suite › name` for each case, `suite › classname › name` where a name repeats in the list.

    Two classes with a `test_x` each must not read as one test listed twice.
    """
    names = Counter((c.suite, c.name) for c in cases)
    out = []
    for case in cases:
        parts = [case.suite]
        if names[(case.suite, case.name)] > 1 and case.classname:
            parts.append(case.classname)
        parts.append(display_name(case.name))
        out.append(controls_shown(" › ".join(parts)))  # a line break in a name cannot forge a line
    return out


def where(case: TestCase) -> str:
    """`file:line` when known, else the class name (control characters escaped: one console line)."""
    if case.file:
        return controls_shown(f"{case.file}:{case.line}" if case.line else case.file)
    return controls_shown(case.classname or case.suite)


def _skip_reason(suite: SuiteResult) -> str:
    """For a suite whose tests were all skipped: the first skip message, if any."""
    if suite.status != "skipped":
        return ""
    for case in suite.cases:
        if case.message:
            return first_line(case.message)
    return ""


def summary_lines(run: RunResult, *, fail_on: Sequence[FailOn], reports: Sequence[str] = ()) -> list[str]:
    """The end-of-run summary as lines of text."""
    width = max([len(s.name) for s in run.suites] + [5])
    lines = ["", "qaagent summary" + (" (cancelled)" if run.cancelled else "")]
    for suite in run.suites:
        c = suite.counts
        lines.append(
            f"  {MARKS[suite.status]:<5} {suite.name:<{width}}  {c.summary_text()}  "
            f"({suite.duration:.1f} s, {len(suite.attempts)} attempt(s))"
        )
        reason = _skip_reason(suite)
        if reason:
            lines.append(f"        {reason}")
    lines.extend(_problem_lines(run))
    c = run.counts
    verdict = conclusion(run, fail_on).upper()
    lines.append("")
    lines.append(
        f"{verdict}: {c.total} tests, {c.summary_text()} in {run.duration:.1f} s wall "
        f"({run.suite_time:.1f} s of suite time)"
    )
    lines.extend(reports)
    return lines


def _problem_lines(run: RunResult) -> list[str]:
    """Flaky tests, then failures, each with file:line; at most MAX_LISTED of each."""
    lines: list[str] = []
    # Only the first MAX_LISTED of each kind are kept: a run can have tens of thousands of failures.
    counts = run.counts
    failures, flaky = _first_problems(run, counts.failed + counts.errors, counts.flaky)
    if flaky:
        lines.append("")
        lines.append(f"flaky ({counts.flaky}): passed on a retry")
        lines.extend(
            f"  FLAKY {label}  {where(case)}" for case, label in zip(flaky, labels(flaky), strict=True)
        )
    failing = counts.failed + counts.errors
    if failures:
        lines.append("")
        lines.append(f"failures ({failing}):")
        for case, label in zip(failures, labels(failures), strict=True):
            mark = MARKS[case.status]
            lines.append(f"  {mark:<5} {label}  {where(case)}")
            message = first_line(case.message or case.details)
            if message:
                lines.append(f"        {message}")
        if failing > len(failures):
            lines.append(f"  … and {failing - len(failures)} more (see the merged JUnit report)")
    return lines


def _first_problems(run: RunResult, failing: int, flaky_count: int) -> tuple[list[TestCase], list[TestCase]]:
    """The first MAX_LISTED failures and flaky tests; reading stops when both are complete.

    A run can have tens of thousands of failures; the later ones are read back from disk.
    """
    failures: list[TestCase] = []
    flaky: list[TestCase] = []
    wanted_failures, wanted_flaky = min(MAX_LISTED, failing), min(MAX_LISTED, flaky_count)
    for case in run.problems():
        if case.status in ("failed", "error"):
            if len(failures) < MAX_LISTED:
                failures.append(case)
        elif case.flaky and len(flaky) < MAX_LISTED:
            flaky.append(case)
        if len(failures) >= wanted_failures and len(flaky) >= wanted_flaky:
            break
    return failures, flaky
