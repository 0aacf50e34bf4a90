"""The Markdown summary laid out at one level of detail, from what `SummaryCollector` kept.

`qaagent.report.markdown` collects the cases in the one pass and tries the levels of
detail (`Level`) from the fullest down until one fits its byte budget; `Layout` renders
one level: the heading and totals, the base-branch comparison, the suite table, the
timeline, diagnostics, flaky tests, notes, passed-test lists and the failure list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from qaagent.report.budget import Budget, Pieces
from qaagent.report.comparison import markdown_section
from qaagent.report.markdown_text import NAME_CHARS, inline_code
from qaagent.report.timeline import gantt
from qaagent.results import SuiteResult
from qaagent.run_result import FailOn, RunResult, conclusion
from qaagent.text import escape_text, fmt_seconds

if TYPE_CHECKING:
    from qaagent.report.comparison import Comparison

#: tests listed per base-branch group at full detail (`qaagent.report.comparison`)
COMPARED_SHOWN = 10

_CONCLUSION_ICON = {"success": "✅", "failure": "❌", "cancelled": "⏹️"}
STATUS_ICON = {"passed": "✅", "failed": "❌", "error": "💥", "skipped": "⏭️"}


@dataclass(frozen=True, slots=True)
class Level:
    """What one rendering keeps: each step down drops the next piece of detail."""

    output: bool  #: captured stdout/stderr of failures
    passed_lists: bool
    details_for: int | None  #: failures with full details (None: all)
    listed: int | None = None  #: failures listed at all (None: all)
    timeline: bool = False  #: the Mermaid gantt of suite attempts (dropped first)


class Collected(Protocol):
    """What a layout reads of the collector (`qaagent.report.markdown.SummaryCollector`)."""

    comparison: Comparison | None
    categories: Counter[str]
    failures: int
    flaky: int
    flaky_lines: Pieces
    passed: Pieces
    one_line: Pieces
    detailed: Pieces
    detailed_output: Pieces


class Layout:
    """One rendering of the summary at a given level of detail, from the collected pieces."""

    def __init__(
        self,
        collected: Collected,
        run: RunResult,
        *,
        fail_on: Sequence[FailOn],
        evidence_path: str | None,
        notes: Sequence[str],
        detail: str = "full",
        title: str | None = None,
        failure: str | None = None,
    ) -> None:
        self.collected = collected
        self.run = run
        self.detail = detail
        self.heading = escape_text(title) if title else "qaagent"
        self.fail_on = fail_on
        self.evidence_path = evidence_path
        self.notes = notes
        #: why qaagent itself failed (exit 3): said first, in the heading and the line below it
        self.failure = failure
        #: computed once: the levels of detail re-render everything else
        self.timeline = gantt(run) if detail == "full" else ""

    def render(self, level: Level, max_bytes: int | None) -> str | None:
        """The summary, or None as soon as it exceeds `max_bytes`."""
        out = Budget(max_bytes)
        run = self.run
        verdict = conclusion(run, self.fail_on)
        project = f" — {escape_text(run.project)}" if run.project else ""
        out.add(self._heading(verdict, project))
        shortened = _shortened_note(level, self.collected.failures, timeline=bool(self.timeline))
        if shortened:
            out.add(f"> [!NOTE]\n> {shortened}\n\n")
        c = run.counts
        # xfail/xpass get columns of their own when there are any, as pytest's summary counts them
        outcomes = c.xfailed > 0 or c.xpassed > 0
        extra_head = " ✖️ Xfailed | ❗ Xpassed |" if outcomes else ""
        extra_rule = "---:|---:|" if outcomes else ""
        extra_row = f" {c.xfailed} | {c.xpassed} |" if outcomes else ""
        out.add(
            f"| Total | ✅ Passed | ❌ Failed | 💥 Errors | ⏭️ Skipped |{extra_head} 🔁 Flaky | Wall time |\n"
        )
        out.add(f"|---:|---:|---:|---:|---:|{extra_rule}---:|---:|\n")
        out.add(
            f"| {c.total} | {c.shown_passed} | {c.failed} | {c.errors} | {c.shown_skipped} |{extra_row} "
            f"{c.flaky} | {fmt_seconds(run.duration)} |\n\n"
        )
        saved = run.suite_time - run.duration
        timing = f"Wall time {fmt_seconds(run.duration)} · sum of suite times {fmt_seconds(run.suite_time)}"
        if saved > 1:
            timing += f" (parallel execution saved {fmt_seconds(saved)})"
        out.add(timing + f" · fail on: {', '.join(self.fail_on) or 'nothing'}\n\n")
        if run.cancelled:
            out.add("**The run was cancelled**; results below are what finished.\n\n")
        if self.detail == "totals":
            return out.text() if out.ok else None
        # the base-branch groups: ten tests per group, three when details are cut, then counts only
        shown = COMPARED_SHOWN if level.details_for is None else 3 if level.listed is None else 0
        out.add(markdown_section(self.collected.comparison, shown))
        if self.detail == "full":
            self._suites(out)
        if level.timeline:
            out.add(self.timeline)
        self._diagnostics(out)
        self._flaky(out)
        if self.evidence_path:
            out.add(f"**Evidence:** `{inline_code(self.evidence_path)}`\n\n")
        for note in self.notes:
            out.add(note.rstrip("\n") + "\n\n")
        if level.passed_lists and self.detail == "full":
            self._passed(out)
        self._failures(out, level)
        return out.text() if out.ok else None

    def _heading(self, verdict: str, project: str) -> str:
        """The verdict as the heading; when qaagent failed (exit 3), that first, and why, then the verdict."""
        if self.failure is None:
            return f"## {_CONCLUSION_ICON[verdict]} {self.heading}: {verdict}{project}\n\n"
        named = f"{self.heading}: " if self.heading != "qaagent" else ""
        return (
            f"## ❌ {named}qaagent failed (exit 3){project}\n\n{escape_text(self.failure)}\n\n"
            f"The tests' own verdict: {_CONCLUSION_ICON[verdict]} {verdict}\n\n"
        )

    def _suites(self, out: Budget) -> None:
        run = self.run
        c = run.counts
        # the same xfail/xpass columns as the totals table above
        outcomes = c.xfailed > 0 or c.xpassed > 0
        extra_rule = "---:|---:|" if outcomes else ""
        out.add("### Suites\n\n")
        out.add(
            "| Suite | Status | Passed | Failed | Errors | Skipped |"
            + (" Xfailed | Xpassed |" if outcomes else "")
            + " Flaky | Time | Attempts |\n"
        )
        out.add("|---|---|---:|---:|---:|---:|" + extra_rule + "---:|---:|---:|\n")
        for suite in run.suites:
            s = suite.counts
            apart = f" {s.xfailed} | {s.xpassed} |" if outcomes else ""
            out.add(
                f"| {escape_text(suite.name[:NAME_CHARS])} | {_suite_status(suite)} "
                f"| {s.shown_passed} | {s.failed} | {s.errors} | {s.shown_skipped} |{apart} {s.flaky} "
                f"| {fmt_seconds(suite.duration)} | {len(suite.attempts)} |\n"
            )
        dashes = " – |" * (8 if outcomes else 6)
        for name in run.not_run:
            out.add(f"| {escape_text(name[:NAME_CHARS])} | ⏹️ not run |{dashes} 0 |\n")
        out.add("\n")

    def _diagnostics(self, out: Budget) -> None:
        categories = self.collected.categories
        if not categories:
            return
        out.add("### Diagnostics\n\n| Category | Tests |\n|---|---:|\n")
        for category, number in categories.most_common():
            out.add(f"| {escape_text(category[:NAME_CHARS])} | {number} |\n")
        out.add("\n")

    def _flaky(self, out: Budget) -> None:
        collected = self.collected
        if not collected.flaky:
            return
        out.add(f"### 🔁 Flaky tests ({collected.flaky})\n\n")
        lines = collected.flaky_lines
        out.extend(lines.texts, lines.span(0, len(lines.texts)))
        if not lines.complete:
            out.overflow()  # the rest did not fit the largest budget either
        out.add("\n")

    def _passed(self, out: Budget) -> None:
        passed = self.collected.passed
        out.extend(passed.texts, passed.span(0, len(passed.texts)))
        if not passed.complete:
            out.overflow()

    def _failures(self, out: Budget, level: Level) -> None:
        collected = self.collected
        if not collected.failures:
            return
        out.add(f"### ❌ Failures ({collected.failures})\n\n")
        listed = collected.failures if level.listed is None else min(level.listed, collected.failures)
        detailed = collected.detailed_output if level.output else collected.detailed
        with_details = listed if level.details_for is None else min(level.details_for, listed)
        one_line = collected.one_line
        if with_details > len(detailed.texts) or listed > len(one_line.texts):
            out.overflow()  # not all kept: they did not fit the largest budget
            return
        out.extend(
            [*detailed.texts[:with_details], *one_line.texts[with_details:listed]],
            detailed.span(0, with_details) + one_line.span(with_details, listed),
        )
        rest = collected.failures - listed
        if rest:
            out.add(f"\n…and {rest:,} more failing tests not listed here: see the evidence bundle.\n")


def _shortened_note(level: Level, failures: int, *, timeline: bool) -> str:
    dropped = []
    if timeline and not level.timeline:
        dropped.append("timeline omitted")
    if not level.output:
        dropped.append("captured output of failing tests omitted")
    if not level.passed_lists:
        dropped.append("passed tests not listed")
    if level.details_for is not None and failures > level.details_for:
        dropped.append(f"details shown for the first {level.details_for} failures only")
    if level.listed is not None and failures > level.listed:
        dropped.append(f"only the first {level.listed} of {failures} failures listed")
    if not dropped:
        return ""
    return "This summary was shortened to fit the size limit: " + "; ".join(dropped) + "."


def _suite_status(suite: SuiteResult) -> str:
    if suite.skipped_reason:
        return "⏭️ skipped"
    status = suite.status
    text = f"{STATUS_ICON[status]} {status}"
    if suite.timed_out:
        text += " (timed out)"
    elif suite.error and status != "error":
        text += " (incomplete)"
    return text
