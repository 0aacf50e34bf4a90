"""The run as Markdown: the job summary, the evidence bundle's summary.md, the PR comment.

GitHub caps a step summary at 1 MiB, a check-run summary at 65,535 and a
comment at 65,536 characters, and test names and messages are untrusted.
So `render_summary` escapes every untrusted string (no raw HTML, no table
breakage), caps each item, and when the whole is still over `max_bytes`
drops detail step by step — the timeline first, then captured output, then the passed-test lists,
then failure details beyond the first few, then the tail of the failure
list — and says so at the top. It never cuts a UTF-8 character or a table
row in half.

The cases come from the one pass over the run (`qaagent.stream`):
`SummaryCollector` is one of its writers. It keeps, already rendered, only what
the largest summary can show — the first passed-test lines, flaky lines and
failures (one-line and detailed) up to `max_bytes` in all — and counts the
rest; `render` then lays out any level of detail for any smaller budget (the
check run's and the comment's) without reading the cases again; one level's layout is
`qaagent.report.markdown_layout`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from qaagent.evidence import diagnostics
from qaagent.report.budget import Pieces
from qaagent.report.markdown_layout import STATUS_ICON, Layout, Level
from qaagent.report.markdown_text import (
    NAME_CHARS,
    artifact_list,
    case_label,
    code_block,
    cut,
    location,
)
from qaagent.results import SuiteResult, TestCase
from qaagent.run_result import FailOn, RunResult
from qaagent.stream import CaseText, ReportCase, stream_run
from qaagent.text import escape_text, truncate_utf8

if TYPE_CHECKING:
    from qaagent.report.comparison import Comparison

Categorize = Callable[[TestCase], str]

#: characters of a failure message / traceback / captured output per failure
MESSAGE_CHARS = 2_000
DETAILS_CHARS = 8_000
OUTPUT_CHARS = 4_000
#: failures that keep their details at each shortening step
_DETAIL_STEPS = (None, 50, 10, 3, 0)


# -- collecting from the one pass ------------------------------------------------


class SummaryCollector:
    """The summary's share of the one pass (a `qaagent.stream.CaseWriter` that writes no file).

    `link_base` and `sha` make failure locations links (see `render_summary`);
    `categorize`, when given, replaces the pass's diagnostic categories.
    """

    files: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        max_bytes: int = 1_000_000,
        link_base: str | None = None,
        sha: str | None = None,
        categorize: Categorize | None = None,
        comparison: Comparison | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.link_base = link_base
        self.sha = sha
        self.categorize = categorize
        #: the run against the base branch (`RunHistory.judge`), rendered as its own section
        self.comparison = comparison
        self.run: RunResult | None = None
        self.categories: Counter[str] = Counter()
        self.failures = 0
        self.flaky = 0
        self.flaky_lines = Pieces(max_bytes)
        #: the passed-test lists: per suite with passed tests its header, its lines and its end, in order
        self.passed = Pieces(max_bytes)
        self.one_line = Pieces(max_bytes)
        self.detailed = Pieces(max_bytes)
        self.detailed_output = Pieces(max_bytes)
        self._listing = False  #: the current suite's passed tests are being listed

    # -- CaseWriter ------------------------------------------------------------------------------

    def begin(self, run: RunResult, manifest: Mapping[str, Any]) -> None:  # noqa: ARG002 - the CaseWriter protocol
        """The run whose counts and suites the summary shows."""
        self.run = run

    def begin_suite(self, suite: SuiteResult) -> None:
        """Passed-test lines of this suite start (when it has passed tests)."""
        self._listing = bool(suite.counts.passed) and self.passed.add(
            f"<details><summary>Passed tests of {escape_text(suite.name[:NAME_CHARS])}</summary>\n\n"
        )

    def cases(self, batch: Sequence[ReportCase]) -> None:
        """Count and render what the summary can show of the next cases."""
        passed = self.passed
        for item in batch:
            status = item.case.status
            if status == "passed":
                if self._listing and passed.complete:
                    passed.add(f"- {case_label(item)}\n")  # flaky ones too: they passed
                if item.case.flaky:
                    self._flaky(item)
            elif status in ("failed", "error"):
                self._category(item)
                self._failure(item)

    def end_suite(self, suite: SuiteResult) -> None:  # noqa: ARG002 - the CaseWriter protocol
        """The end of the suite's passed-test list."""
        if self._listing:
            self.passed.add("\n</details>\n\n")
        self._listing = False

    def end(self) -> None:
        """Nothing to write: `render` lays the summary out."""

    def abort(self) -> None:
        """Nothing to remove."""

    # -- the pieces ------------------------------------------------------------------------------

    def _category(self, item: ReportCase) -> None:
        if self.categorize is not None:
            try:
                self.categories[str(self.categorize(item.case))] += 1
            except Exception:
                self.categories["unknown"] += 1
        elif item.category is not None:
            self.categories[item.category] += 1

    def _flaky(self, item: ReportCase) -> None:
        self._category(item)
        self.flaky += 1
        if not self.flaky_lines.complete:
            return
        where = location(item.file, item.case.line, self.link_base, self.sha)
        evidence = f" · evidence: {artifact_list(item.artifacts)}" if item.artifacts else ""
        self.flaky_lines.add(
            f"- {case_label(item)} — passed on attempt {item.case.attempts}"
            + (f" · {where}" if where else "")
            + f"{evidence}\n"
        )

    def _failure(self, item: ReportCase) -> None:
        self.failures += 1
        if not (self.one_line.complete or self.detailed.complete or self.detailed_output.complete):
            return
        case = item.case
        icon = STATUS_ICON[case.status]
        where = location(item.file, case.line, self.link_base, self.sha)
        attempts = f" · {case.attempts} attempts" if case.attempts > 1 else ""
        if self.one_line.complete:
            first = (item.message or item.details).strip().splitlines()
            summary = escape_text(first[0][:200]) if first else ""
            tail = f" — {summary}" if summary else ""
            self.one_line.add(
                f"- {icon} {case_label(item)}" + (f" · {where}" if where else "") + f"{attempts}{tail}\n"
            )
        if not (self.detailed.complete or self.detailed_output.complete):
            return
        parts = [f"#### {icon} {case_label(item)}\n\n"]
        parts.append(f"{case.status}" + (f" at {where}" if where else "") + f"{attempts}\n\n")
        if item.message:
            parts.append(code_block(cut(item.message, MESSAGE_CHARS)) + "\n\n")
        if item.details and item.details.strip() != item.message.strip():
            parts.append("<details><summary>Details</summary>\n\n")
            parts.append(code_block(cut(item.details, DETAILS_CHARS)) + "\n\n</details>\n\n")
        if item.artifacts:
            # Screenshots, traces, videos: paths inside the evidence bundle the workflow uploads.
            parts.append(f"Evidence in the bundle: {artifact_list(item.artifacts)}\n\n")
        detailed = "".join(parts)
        self.detailed.add(detailed)
        if self.detailed_output.complete:
            for label, text in (("stdout", item.stdout), ("stderr", item.stderr)):
                if text.strip():
                    parts.append(f"<details><summary>Captured {label}</summary>\n\n")
                    parts.append(code_block(cut(text, OUTPUT_CHARS)) + "\n\n</details>\n\n")
            self.detailed_output.add("".join(parts))

    # -- rendering -------------------------------------------------------------------------------

    def render(
        self,
        *,
        fail_on: Sequence[FailOn],
        evidence_path: str | None = None,
        notes: Sequence[str] = (),
        max_bytes: int | None = None,
        detail: str = "full",
        title: str | None = None,
        failure: str | None = None,
    ) -> str:
        """The summary within `max_bytes` (at most the collector's own; default: that).

        `detail`, `title` and `failure`: as `render_summary` takes them.
        """
        assert self.run is not None  # noqa: S101 - begin() was called by the pass
        budget = self.max_bytes if max_bytes is None else min(max_bytes, self.max_bytes)
        ctx = Layout(
            self,
            self.run,
            fail_on=fail_on,
            evidence_path=evidence_path,
            notes=notes,
            detail=detail,
            title=title,
            failure=failure,
        )
        levels = (
            [Level(output=True, passed_lists=True, details_for=None, timeline=True)] if ctx.timeline else []
        )
        levels += [Level(output=True, passed_lists=True, details_for=None)]
        levels += [Level(output=False, passed_lists=True, details_for=None)]
        levels += [Level(output=False, passed_lists=False, details_for=n) for n in _DETAIL_STEPS]
        for level in levels:
            text = ctx.render(level, budget)
            if text is not None:
                return text
        # Even one-line failures do not all fit: list as many as fit.
        low, high = 0, self.failures
        best = ctx.render(Level(output=False, passed_lists=False, details_for=0, listed=0), budget)
        while low < high:
            mid = (low + high + 1) // 2
            attempt = ctx.render(Level(output=False, passed_lists=False, details_for=0, listed=mid), budget)
            if attempt is None:
                high = mid - 1
            else:
                best, low = attempt, mid
        if best is not None:
            return best
        # The fixed part alone is too big (a tiny budget or a huge number of suites).
        full = ctx.render(Level(output=False, passed_lists=False, details_for=0, listed=0), None) or ""
        return truncate_utf8(full, budget, "_Summary cut to fit the size limit; see the evidence bundle._")


def collect(run: RunResult, collector: SummaryCollector) -> SummaryCollector:
    """`collector` fed with `run` by a pass of its own (the bundle's pass feeds it with the others)."""
    stream_run(run, CaseText(str, 0, diagnostics.categorize), [collector], {})
    return collector


def render_summary(
    run: RunResult,
    *,
    fail_on: Sequence[FailOn],
    evidence_path: str | None = None,
    max_bytes: int = 1_000_000,
    link_base: str | None = None,
    notes: Sequence[str] = (),
    sha: str | None = None,
    categorize: Categorize | None = None,
    detail: str = "full",
    title: str | None = None,
    failure: str | None = None,
) -> str:
    """The run as Markdown within `max_bytes` UTF-8 bytes.

    `link_base` is the repository's web address (`https://github.com/o/r`);
    with it, failure locations link to `link_base/blob/<sha>/<file>#L<line>`
    (`sha` defaults to HEAD). `categorize` names a failure's diagnostic
    category; by default `qaagent.evidence.diagnostics.categorize`, the one
    the bundle's records use. `notes` are trusted Markdown lines added before the failures.
    `detail` (the action's `summary` input): `full`; `failures` leaves out the suite table,
    the timeline and the passed tests; `totals` is the heading, the totals and the timing
    line only. `title` replaces "qaagent" in the heading (escaped). `failure`: why qaagent
    itself failed (exit 3), one line of plain text: the heading says so and the line under it
    why (escaped), before the tests' own verdict and counts.
    A pass of its own over the run: the bundle's one pass feeds a `SummaryCollector` instead.
    """
    collector = SummaryCollector(max_bytes=max_bytes, link_base=link_base, sha=sha, categorize=categorize)
    return collect(run, collector).render(
        fail_on=fail_on, evidence_path=evidence_path, notes=notes, detail=detail, title=title, failure=failure
    )
