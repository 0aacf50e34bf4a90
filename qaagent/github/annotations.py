"""Annotations for a run: workflow-command lines and the shared choice of what to annotate.

GitHub shows at most 10 annotations of each level (error, warning, notice)
per step and 50 per job, in the order they were printed (actions/toolkit,
docs/problem-matchers.md). So the step prints the most useful ones first:
the summary, then errors, then failures, then flaky tests, each group in
suite order, at most 10 of a level, and one notice saying how many were left
out. The check run (checks.py) has no such limit and carries all of them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, TextIO

from qaagent.github.commands import write_command
from qaagent.results import FailOn, RunResult, TestCase, conclusion
from qaagent.text import display_name, first_lines, shorten

Level = Literal["error", "warning", "notice"]

#: GitHub shows this many annotations of one level per step
PER_LEVEL_LIMIT = 10
#: lines of a failure message shown in an annotation
MESSAGE_LINES = 12
#: characters of a failure message shown in an annotation
MESSAGE_CHARS = 2000
#: characters of an annotation title
TITLE_CHARS = 250

_RANK = {"error": 0, "failed": 1}


@dataclass(frozen=True, slots=True)
class Problem:
    """A test case worth an annotation, with where and how to show it."""

    case: TestCase
    level: Level  #: error for failed/errored tests, warning for flaky ones
    path: str | None  #: relative to the repository root, POSIX
    title: str
    message: str


def case_title(case: TestCase, limit: int = TITLE_CHARS) -> str:
    """`suite › classname › name`, one line, at most `limit` characters."""
    parts = [case.suite, case.classname, display_name(case.name)]
    title = " › ".join(p for p in parts if p)
    return shorten(" ".join(title.split()), limit)


def failure_message(case: TestCase) -> str:
    """What an annotation says about a case: its message, else the start of its details."""
    if case.flaky and case.status == "passed":
        first = case.reruns[0] if case.reruns else None
        why = first_lines(first.message or first.details, MESSAGE_LINES, MESSAGE_CHARS) if first else ""
        text = f"Flaky: passed on attempt {case.attempts} after {max(1, case.attempts - 1)} failure(s)."
        return f"{text}\nEarlier failure: {why}" if why else text
    return first_lines(case.message or case.details, MESSAGE_LINES, MESSAGE_CHARS) or f"Test {case.status}."


def posix_path(path: str | None) -> str | None:
    """A test's file as GitHub wants it: POSIX separators, normalised; None when unknown."""
    return posixpath.normpath(path.replace("\\", "/")) if path else None


def problems(run: RunResult) -> Iterator[Problem]:
    """Every case worth annotating: errors, then failures, then flaky; suite order within."""
    cases = sorted(
        (c for c in run.problems() if c.status in ("failed", "error") or c.flaky),
        key=lambda c: _RANK.get(c.status, 2),
    )
    for case in cases:
        level: Level = "error" if case.status in ("failed", "error") else "warning"
        yield Problem(
            case=case,
            level=level,
            path=posix_path(case.file),
            title=case_title(case),
            message=failure_message(case),
        )


def summary_line(run: RunResult, fail_on: Iterable[FailOn]) -> tuple[Level, str]:
    """The level and text of the run's summary annotation."""
    c = run.counts
    verdict = conclusion(run, fail_on)
    text = (
        f"{verdict}: {c.total} tests, {c.shown_passed} passed, {c.failed} failed, {c.errors} errors, "
        f"{c.shown_skipped} skipped{c.outcome_text()}, {c.flaky} flaky in {run.duration:.1f} s"
    )
    if run.not_run:
        text += f"; not run: {', '.join(run.not_run)}"
    return ("error" if verdict == "failure" else "notice"), text


@dataclass(frozen=True, slots=True)
class AnnotationCounts:
    """What `write_annotations` printed and what it left out."""

    errors: int
    warnings: int
    omitted_errors: int
    omitted_warnings: int


def write_annotations(
    run: RunResult,
    *,
    fail_on: Iterable[FailOn],
    stream: TextIO,
    per_level: int = PER_LEVEL_LIMIT,
) -> AnnotationCounts:
    """Print the summary annotation and the most useful test annotations to `stream`."""
    level, text = summary_line(run, fail_on)
    write_command(stream, level, text, title="qaagent")
    budget: dict[Level, int] = {"error": per_level, "warning": per_level, "notice": per_level}
    budget[level] -= 1
    shown: dict[Level, int] = {"error": 0, "warning": 0}
    omitted: dict[Level, int] = {"error": 0, "warning": 0}
    for problem in problems(run):
        if budget[problem.level] <= 0:
            omitted[problem.level] += 1
            continue
        budget[problem.level] -= 1
        shown[problem.level] += 1
        line = problem.case.line if problem.path else None
        write_command(
            stream, problem.level, problem.message, file=problem.path, line=line, title=problem.title
        )
    if omitted["error"] or omitted["warning"]:
        left = []
        if omitted["error"]:
            left.append(f"{omitted['error']} failing test(s)")
        if omitted["warning"]:
            left.append(f"{omitted['warning']} flaky test(s)")
        write_command(
            stream,
            "notice",
            f"{' and '.join(left)} not annotated here: GitHub shows only {per_level} annotations "
            "of a kind per step. See the job summary, the check run or the evidence bundle.",
            title="qaagent",
        )
    return AnnotationCounts(shown["error"], shown["warning"], omitted["error"], omitted["warning"])
