"""Annotations for a run: workflow-command lines and the shared choice of what to annotate.

GitHub shows at most 10 annotations of each level (error, warning, notice)
per step and 50 per job, in the order they were printed (actions/toolkit,
docs/problem-matchers.md). So the step prints the most useful ones first:
the summary, then errors, then failures, then flaky tests, each group in
suite order, and one notice saying how many were left out. What the step
printed before counts (`commands.annotations_left`), and `RESERVED` of each
level stay free for qaagent's own messages after them: the one warning that
sums up publishing problems (API, `GITHUB_OUTPUT`) and an error report. The
check run (checks.py) has no such limit and carries all of them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, TextIO

from qaagent.github.commands import ANNOTATIONS_PER_LEVEL, annotations_left, write_command
from qaagent.options import AnnotateMode
from qaagent.results import TestCase
from qaagent.run_result import FailOn, RunResult, conclusion
from qaagent.text import display_name, first_lines, shorten

Level = Literal["error", "warning", "notice"]

#: GitHub shows this many annotations of one level per step
PER_LEVEL_LIMIT = ANNOTATIONS_PER_LEVEL
#: annotations of each level kept for qaagent's own warning or error after the test annotations
RESERVED = 1
#: lines of a failure message shown in an annotation
MESSAGE_LINES = 12
#: characters of a failure message shown in an annotation
MESSAGE_CHARS = 2000
#: characters of an annotation title
TITLE_CHARS = 250

_RANK = {"error": 0, "failed": 1}
_FAILED = ("failed", "error")


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


def problems(run: RunResult, annotate: AnnotateMode = "failures-and-flaky") -> Iterator[Problem]:
    """Every case worth annotating: errors, then failures, then flaky; suite order within.

    `annotate` chooses: `failures` (failed and errored tests), `failures-and-flaky` (and the
    flaky ones, as warnings), `all` (and the skipped ones, as notices, last).
    """
    cases = sorted(
        (c for c in run.problems() if c.status in _FAILED or (c.flaky and annotate != "failures")),
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
    if annotate == "all":
        for suite in run.suites:
            for case in suite.cases:
                if case.status == "skipped":
                    yield Problem(
                        case=case,
                        level="notice",
                        path=posix_path(case.file),
                        title=case_title(case),
                        message=first_lines(case.message, MESSAGE_LINES, MESSAGE_CHARS) or "Skipped.",
                    )


def summary_line(run: RunResult, fail_on: Iterable[FailOn]) -> tuple[Level, str]:
    """The level and text of the run's summary annotation."""
    c = run.counts
    verdict = conclusion(run, fail_on)
    text = f"{verdict}: {c.total} tests, {c.summary_text()} in {run.duration:.1f} s"
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
    notices: int = 0
    omitted_notices: int = 0


def write_annotations(
    run: RunResult,
    *,
    fail_on: Iterable[FailOn],
    stream: TextIO,
    per_level: int = PER_LEVEL_LIMIT,
    annotate: AnnotateMode = "failures-and-flaky",
) -> AnnotationCounts:
    """Print the summary annotation and the most useful test annotations to `stream`.

    At most `per_level` test annotations of each level, and never more than GitHub shows
    (`PER_LEVEL_LIMIT` of a level, the summary and the omission notice included).
    """
    level, text = summary_line(run, fail_on)
    write_command(stream, level, text, title="qaagent")
    levels: tuple[Level, ...] = ("error", "warning", "notice")
    budget = {lvl: max(0, min(per_level, annotations_left(stream, lvl) - RESERVED)) for lvl in levels}
    shown: dict[Level, int] = {"error": 0, "warning": 0, "notice": 0}
    omitted: dict[Level, int] = {"error": 0, "warning": 0, "notice": 0}
    for problem in problems(run, annotate):
        if budget[problem.level] <= 0:
            omitted[problem.level] += 1
            continue
        budget[problem.level] -= 1
        shown[problem.level] += 1
        line = problem.case.line if problem.path else None
        write_command(
            stream, problem.level, problem.message, file=problem.path, line=line, title=problem.title
        )
    if any(omitted.values()):
        kinds: tuple[tuple[Level, str], ...] = (
            ("error", "failing"),
            ("warning", "flaky"),
            ("notice", "skipped"),
        )
        left = [f"{omitted[lvl]} {what} test(s)" for lvl, what in kinds if omitted[lvl]]
        why = (
            f"GitHub shows only {PER_LEVEL_LIMIT} annotations of a kind per step"
            if per_level >= PER_LEVEL_LIMIT
            else f"annotations-limit is {per_level} per kind"
        )
        write_command(
            stream,
            "notice",
            f"{' and '.join(left)} not annotated here: {why}. "
            "See the job summary, the check run or the evidence bundle.",
            title="qaagent",
        )
    return AnnotationCounts(
        shown["error"],
        shown["warning"],
        omitted["error"],
        omitted["warning"],
        shown["notice"],
        omitted["notice"],
    )
