"""How attempts fold into one result per test, and the synthetic cases that stand for a suite's problem.

A retry reruns the failed tests only (or the whole suite when the runner
cannot select). A test that passes on a later attempt is `passed` with
`flaky: true` and keeps its earlier failures; one that never passes keeps its
last failure and the others as reruns. A suite that produced no (complete)
results becomes one synthetic `error` case saying why, so it never vanishes
from the report. `attempt_problems` decides when an attempt's JUnit cannot be
the whole truth (a timeout, a crash, an exit code the report does not show).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qaagent.attempts import IgnoredFile, Rerun
from qaagent.results import CaseStore, TestCase
from qaagent.text import cause_line

if TYPE_CHECKING:
    from qaagent.process import ProcessOutcome
    from qaagent.runners.base import Runner

#: `type` of the synthetic test case standing for a suite that produced no (complete) results
SUITE_ERROR_TYPE = "qaagent.SuiteError"
FAILING = ("failed", "error")


def synthetic_case(suite: str, reason: str, tail: str = "", *, status: str = "error") -> TestCase:
    """The test case that stands for a whole suite's problem, so it never disappears."""
    details = f"{reason}\n\n--- last lines of the log ---\n{tail}" if tail else reason
    return TestCase(
        suite=suite,
        classname=suite,
        name=f"{suite} (suite)",
        status="skipped" if status == "skipped" else "error",
        message=reason,
        type=SUITE_ERROR_TYPE,
        details=details,
    )


def as_rerun(case: TestCase) -> Rerun:
    """A failed attempt of a test, kept as history."""
    return Rerun(
        status="error" if case.status == "error" else "failed",
        message=case.message,
        type=case.type,
        details=case.details,
        stdout=case.stdout,
        stderr=case.stderr,
        duration=case.duration,
    )


def fold_retry(old: TestCase, new: TestCase) -> TestCase:
    """Combine a failed test with its result on the next attempt."""
    history = (*old.reruns, as_rerun(old))
    attempts = old.attempts + 1
    # Evidence of the earlier failure (e.g. its screenshot) stays linked after a retry.
    artifacts = tuple(dict.fromkeys((*old.artifacts, *new.artifacts)))
    # A test keeps its location: a passing retry's report often has none (behave finds the
    # scenario's file in the failure text; Playwright's line comes from the failure's stack).
    file, line = new.file, new.line
    if file is None:
        file, line = old.file, old.line
    elif line is None and file == old.file:
        line = old.line
    flaky = new.status == "passed"
    return dataclasses.replace(
        new, flaky=flaky, attempts=attempts, reruns=history, artifacts=artifacts, file=file, line=line
    )


def with_cause(reason: str, outcome: ProcessOutcome) -> str:
    """`reason` and the log's cause line, for an attempt that exited non-zero (`NameError: …`).

    A suite that crashed before it wrote a report says why in one line, on the
    console, in the annotation and in the summary; the log's tail stays in the details.
    """
    if outcome.returncode in (0, None) or outcome.timed_out or outcome.cancelled:
        return reason
    cause = cause_line(outcome.tail)
    return f"{reason}: {cause}" if cause else reason


def describe_returncode(code: int | None) -> str:
    """`exited with code 2` / `was killed by signal 9 (SIGKILL)`."""
    if code is None:
        return "did not start"
    if code < 0:
        import signal  # noqa: PLC0415 - only needed for this message

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        return f"was killed by signal {-code} ({name})"
    return f"exited with code {code}"


def attempt_problems(
    runner: Runner,
    outcome: ProcessOutcome,
    store: CaseStore,
    junit_files: list[Path],
    bad: list[str],
    *,
    ignored: Sequence[IgnoredFile] = (),
) -> Iterator[str]:
    """Why an attempt's results cannot be the whole truth (each becomes a synthetic error).

    `ignored` are the matches of the suite's result globs that were not read (the
    runner's `no_report_problem` says why none was).
    """
    suite = runner.suite
    if outcome.start_error:
        yield outcome.start_error
        return
    if outcome.timed_out:
        yield f"timed out after {suite.timeout:g} s"
        return
    if outcome.cancelled:
        yield "cancelled while running"
        return
    yield from bad
    if not junit_files:
        problem = runner.no_report_problem(describe_returncode(outcome.returncode), ignored)  # runner hook
        if problem is not None:
            yield problem
        return
    counts = store.counts
    if outcome.returncode not in (0, None) and counts.failed == 0 and counts.errors == 0:
        # The exit code wins over a JUnit file that claims success: something went wrong
        # that the report does not show (a crash after writing it, a plugin error, no tests).
        yield f"{runner.kind} {describe_returncode(outcome.returncode)} although its JUnit reports no failure"
        return
    if runner.requires_tests and counts.total == 0 and not bad:
        yield f"{runner.kind} reported no tests (check the suite's path and selection)"


def exit_code_case(suite: str, outcome: ProcessOutcome, store: CaseStore) -> CaseStore:
    """A command without JUnit is one test case, passed when it exited 0."""
    passed = outcome.returncode == 0
    case = TestCase(
        suite=suite,
        classname=suite,
        name=suite,
        status="passed" if passed else "failed",
        duration=outcome.duration,
        message="" if passed else with_cause(f"command {describe_returncode(outcome.returncode)}", outcome),
        type="" if passed else "ExitCode",
        details="" if passed else outcome.tail,
    )
    new = CaseStore([case])
    new.extend(store)
    return new


#: a test's identity in one attempt's report, to match it with its retry: (classname, name,
#: place). `place` tells apart the tests a tool left without a name (behave's untitled
#: ``Scenario:``, ``name=""`` in its JUnit, which carries no line for a passed one): their
#: order among the untitled tests of their class, as the tool listed them (behave lists every
#: scenario of a rerun feature, those not rerun as skipped). 0 for a named test. The
#: identities stay as the tool gave them; only the matching uses the place.
RetryKey = tuple[str, str, int]


def _keyed(cases: Iterable[TestCase]) -> Iterator[tuple[RetryKey, TestCase]]:
    """Each case with its `RetryKey`, in order."""
    untitled: Counter[str] = Counter()
    for case in cases:
        place = 0
        if not case.name:
            place = untitled[case.classname]
            untitled[case.classname] += 1
        yield (case.classname, case.name, place), case


def _wanted(old: Iterable[TestCase], failed: Sequence[TestCase]) -> dict[RetryKey, TestCase]:
    """The failed tests by `RetryKey` (`old` is read through only when one of them has no name)."""
    wanted = {(c.classname, c.name, 0): c for c in failed if c.name}
    if any(not c.name for c in failed):
        wanted.update((key, case) for key, case in _keyed(old) if not case.name and case.status in FAILING)
    return wanted


def fold_partial(old: CaseStore, failed: Sequence[TestCase], new: CaseStore) -> CaseStore:
    """Retry of selected tests: replace the retried ones in place, append new suite errors."""
    wanted = _wanted(old, failed)
    replacements: dict[RetryKey, TestCase] = {}
    extras: list[TestCase] = []
    for key, case in _keyed(new):
        if key in wanted and key not in replacements:
            replacements[key] = fold_retry(wanted[key], case)
        elif case.status in FAILING:
            extras.append(case)
    folded = CaseStore()
    for key, case in _keyed(old):
        folded.append(replacements.get(key, case))
    folded.extend(extras)
    old.close()
    new.close()
    return folded


def fold_full(new: CaseStore, failed: Sequence[TestCase], earlier: Iterable[TestCase] = ()) -> CaseStore:
    """Retry of the whole suite: its results stand, with history for the tests of `earlier` that failed."""
    wanted = _wanted(earlier, failed)
    seen: set[RetryKey] = set()
    folded = CaseStore()
    for key, case in _keyed(new):
        if key in wanted and key not in seen:
            seen.add(key)
            folded.append(fold_retry(wanted[key], case))
        else:
            folded.append(case)
    for key, old in wanted.items():
        if key in seen:
            continue
        if old.type == SUITE_ERROR_TYPE:
            # The suite-level problem of the earlier attempt did not come back: it was flaky.
            ok = dataclasses.replace(old, status="passed", message="", details="", type="")
            folded.append(fold_retry(old, ok))
        else:
            folded.append(old)
    new.close()
    return folded
