"""The run as Markdown: the job summary, the evidence bundle's summary.md, the PR comment.

GitHub caps a step summary at 1 MiB, a check-run summary at 65,535 and a
comment at 65,536 characters, and test names and messages are untrusted.
So `render_summary` escapes every untrusted string (no raw HTML, no table
breakage), caps each item, and when the whole is still over `max_bytes`
drops detail step by step — the timeline first, then captured output, then the passed-test lists,
then failure details beyond the first few, then the tail of the failure
list — and says so at the top. It never cuts a UTF-8 character or a table
row in half.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from qaagent.evidence import diagnostics
from qaagent.report.timeline import gantt
from qaagent.results import FailOn, RunResult, SuiteResult, TestCase, conclusion
from qaagent.text import display_name, fmt_seconds, truncate_utf8

Categorize = Callable[[TestCase], str]

#: characters of a test name shown anywhere
NAME_CHARS = 300
#: characters of a failure message / traceback / captured output per failure
MESSAGE_CHARS = 2_000
DETAILS_CHARS = 8_000
OUTPUT_CHARS = 4_000
#: failures that keep their details at each shortening step
_DETAIL_STEPS = (None, 50, 10, 3, 0)

_CONCLUSION_ICON = {"success": "✅", "failure": "❌", "cancelled": "⏹️"}
_STATUS_ICON = {"passed": "✅", "failed": "❌", "error": "💥", "skipped": "⏭️"}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# -- escaping ---------------------------------------------------------------


def escape_text(text: str) -> str:
    """Untrusted text as inert inline Markdown: no HTML, no formatting, one line."""
    text = _CONTROL.sub(" ", " ".join(text.split()))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def code_block(text: str, info: str = "text") -> str:
    """Untrusted text in a fenced code block whose fence the text cannot close."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit:,} more characters)"


# -- formatting -------------------------------------------------------------


def case_label(case: TestCase) -> str:
    """`suite › classname › name`, escaped and capped."""
    parts = [p for p in (case.suite, case.classname, display_name(case.name)) if p]
    raw = " › ".join(parts)
    if len(raw) > NAME_CHARS:
        raw = raw[: NAME_CHARS - 1] + "…"
    return escape_text(raw)


def _location(case: TestCase, link_base: str | None, sha: str | None) -> str:
    if not case.file:
        return ""
    path = case.file.replace("\\", "/")
    shown = escape_text(path[:NAME_CHARS]) + (f":{case.line}" if case.line else "")
    if not link_base:
        return shown
    url = f"{link_base.rstrip('/')}/blob/{quote(sha or 'HEAD', safe='')}/{quote(path.lstrip('/'), safe='/')}"
    if case.line:
        url += f"#L{case.line}"
    return f"[{shown}]({url})"


def _suite_status(suite: SuiteResult) -> str:
    if suite.skipped_reason:
        return "⏭️ skipped"
    status = suite.status
    text = f"{_STATUS_ICON[status]} {status}"
    if suite.timed_out:
        text += " (timed out)"
    elif suite.error and status != "error":
        text += " (incomplete)"
    return text


# -- rendering --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Level:
    output: bool  #: captured stdout/stderr of failures
    passed_lists: bool
    details_for: int | None  #: failures with full details (None: all)
    listed: int | None = None  #: failures listed at all (None: all)
    timeline: bool = False  #: the Mermaid gantt of suite attempts (dropped first)


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
) -> str:
    """The run as Markdown within `max_bytes` UTF-8 bytes.

    `link_base` is the repository's web address (`https://github.com/o/r`);
    with it, failure locations link to `link_base/blob/<sha>/<file>#L<line>`
    (`sha` defaults to HEAD). `categorize` names a failure's diagnostic
    category; by default `qaagent.evidence.diagnostics.categorize`, the one
    the bundle's records use. `notes` are trusted Markdown lines added before the failures.
    """
    categorize = categorize or diagnostics.categorize
    problems = list(run.problems())
    failures = [c for c in problems if c.status in ("failed", "error")]
    flaky = [c for c in problems if c.flaky and c.status not in ("failed", "error")]
    ctx = _Render(
        run,
        fail_on=fail_on,
        evidence_path=evidence_path,
        link_base=link_base,
        sha=sha,
        notes=notes,
        categorize=categorize,
        failures=failures,
        flaky=flaky,
    )
    levels = [_Level(output=True, passed_lists=True, details_for=None, timeline=True)] if ctx.timeline else []
    levels += [_Level(output=True, passed_lists=True, details_for=None)]
    levels += [_Level(output=False, passed_lists=True, details_for=None)]
    levels += [_Level(output=False, passed_lists=False, details_for=n) for n in _DETAIL_STEPS]
    for level in levels:
        text = ctx.render(level, max_bytes)
        if text is not None:
            return text
    # Even one-line failures do not all fit: list as many as fit.
    low, high = 0, len(failures)
    best = ctx.render(_Level(output=False, passed_lists=False, details_for=0, listed=0), max_bytes)
    while low < high:
        mid = (low + high + 1) // 2
        attempt = ctx.render(_Level(output=False, passed_lists=False, details_for=0, listed=mid), max_bytes)
        if attempt is None:
            high = mid - 1
        else:
            best, low = attempt, mid
    if best is not None:
        return best
    # The fixed part alone is too big (a tiny budget or a huge number of suites).
    full = ctx.render(_Level(output=False, passed_lists=False, details_for=0, listed=0), None) or ""
    return truncate_utf8(full, max_bytes, "_Summary cut to fit the size limit; see the evidence bundle._")


class _Render:
    """One rendering of the summary at a given level of detail."""

    def __init__(
        self,
        run: RunResult,
        *,
        fail_on: Sequence[FailOn],
        evidence_path: str | None,
        link_base: str | None,
        sha: str | None,
        notes: Sequence[str],
        categorize: Categorize | None,
        failures: list[TestCase],
        flaky: list[TestCase],
    ) -> None:
        self.run = run
        self.fail_on = fail_on
        self.evidence_path = evidence_path
        self.link_base = link_base
        self.sha = sha
        self.notes = notes
        self.failures = failures
        self.flaky = flaky
        #: computed once: the levels of detail re-render everything else
        self.timeline = gantt(run)
        self.categories: Counter[str] = Counter()
        if categorize is not None:
            for case in [*failures, *flaky]:
                try:
                    self.categories[str(categorize(case))] += 1
                except Exception:
                    self.categories["unknown"] += 1

    def render(self, level: _Level, max_bytes: int | None) -> str | None:
        """The summary, or None as soon as it exceeds `max_bytes`."""
        out = _Budget(max_bytes)
        run = self.run
        verdict = conclusion(run, self.fail_on)
        project = f" — {escape_text(run.project)}" if run.project else ""
        out.add(f"## {_CONCLUSION_ICON[verdict]} qaagent: {verdict}{project}\n\n")
        shortened = _shortened_note(level, len(self.failures), timeline=bool(self.timeline))
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
        if level.timeline:
            out.add(self.timeline)
        self._diagnostics(out)
        self._flaky(out)
        if self.evidence_path:
            out.add(f"**Evidence:** `{_inline_code(self.evidence_path)}`\n\n")
        for note in self.notes:
            out.add(note.rstrip("\n") + "\n\n")
        if level.passed_lists:
            self._passed(out)
        self._failures(out, level)
        return out.text() if out.ok else None

    def _diagnostics(self, out: _Budget) -> None:
        if not self.categories:
            return
        out.add("### Diagnostics\n\n| Category | Tests |\n|---|---:|\n")
        for category, number in self.categories.most_common():
            out.add(f"| {escape_text(category[:NAME_CHARS])} | {number} |\n")
        out.add("\n")

    def _flaky(self, out: _Budget) -> None:
        if not self.flaky:
            return
        out.add(f"### 🔁 Flaky tests ({len(self.flaky)})\n\n")
        for case in self.flaky:
            where = _location(case, self.link_base, self.sha)
            evidence = f" · evidence: {_artifact_list(case)}" if case.artifacts else ""
            out.add(
                f"- {case_label(case)} — passed on attempt {case.attempts}"
                + (f" · {where}" if where else "")
                + f"{evidence}\n"
            )
        out.add("\n")

    def _passed(self, out: _Budget) -> None:
        for suite in self.run.suites:
            if not suite.counts.passed:
                continue
            out.add(f"<details><summary>Passed tests of {escape_text(suite.name[:NAME_CHARS])}</summary>\n\n")
            for case in suite.cases:
                if case.status == "passed":
                    out.add(f"- {case_label(case)}\n")
                    if not out.ok:
                        return
            out.add("\n</details>\n\n")

    def _failures(self, out: _Budget, level: _Level) -> None:
        if not self.failures:
            return
        out.add(f"### ❌ Failures ({len(self.failures)})\n\n")
        listed = self.failures if level.listed is None else self.failures[: level.listed]
        for index, case in enumerate(listed):
            with_details = level.details_for is None or index < level.details_for
            out.add(self._failure(case, detailed=with_details, output=level.output))
            if not out.ok:
                return
        rest = len(self.failures) - len(listed)
        if rest:
            out.add(f"\n…and {rest:,} more failing tests not listed here: see the evidence bundle.\n")

    def _failure(self, case: TestCase, *, detailed: bool, output: bool) -> str:
        icon = _STATUS_ICON[case.status]
        where = _location(case, self.link_base, self.sha)
        attempts = f" · {case.attempts} attempts" if case.attempts > 1 else ""
        if not detailed:
            first = (case.message or case.details).strip().splitlines()
            summary = escape_text(first[0][:200]) if first else ""
            tail = f" — {summary}" if summary else ""
            return f"- {icon} {case_label(case)}" + (f" · {where}" if where else "") + f"{attempts}{tail}\n"
        parts = [f"#### {icon} {case_label(case)}\n\n"]
        parts.append(f"{case.status}" + (f" at {where}" if where else "") + f"{attempts}\n\n")
        if case.message:
            parts.append(code_block(_cut(case.message, MESSAGE_CHARS)) + "\n\n")
        if case.details and case.details.strip() != case.message.strip():
            parts.append("<details><summary>Details</summary>\n\n")
            parts.append(code_block(_cut(case.details, DETAILS_CHARS)) + "\n\n</details>\n\n")
        if case.artifacts:
            # Screenshots, traces, videos: paths inside the evidence bundle the workflow uploads.
            parts.append(f"Evidence in the bundle: {_artifact_list(case)}\n\n")
        if output:
            for label, text in (("stdout", case.stdout), ("stderr", case.stderr)):
                if text.strip():
                    parts.append(f"<details><summary>Captured {label}</summary>\n\n")
                    parts.append(code_block(_cut(text, OUTPUT_CHARS)) + "\n\n</details>\n\n")
        return "".join(parts)


#: artifacts named per failing test in the summary
MAX_ARTIFACTS = 10


def _artifact_list(case: TestCase) -> str:
    """The case's artifacts (bundle-relative paths) as inline code, at most MAX_ARTIFACTS."""
    shown = ", ".join(_code_span(path) for path in case.artifacts[:MAX_ARTIFACTS])
    more = len(case.artifacts) - MAX_ARTIFACTS
    return shown + (f" and {more} more" if more > 0 else "")


def _code_span(text: str) -> str:
    """Inline code that untrusted text cannot break out of (no backticks, no line breaks)."""
    clean = " ".join(text.replace("`", "'").split())[:300]
    return f"`{clean}`"


def _shortened_note(level: _Level, failures: int, *, timeline: bool) -> str:
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


def _inline_code(text: str) -> str:
    return _CONTROL.sub(" ", " ".join(text.split())).replace("`", "'")


class _Budget:
    """Collects parts and stops counting once over the byte budget."""

    def __init__(self, max_bytes: int | None) -> None:
        self.max_bytes = max_bytes
        self.parts: list[str] = []
        self.size = 0
        self.ok = True

    def add(self, text: str) -> None:
        if not self.ok:
            return
        self.size += len(text.encode("utf-8"))
        if self.max_bytes is not None and self.size > self.max_bytes:
            self.ok = False
            return
        self.parts.append(text)

    def text(self) -> str:
        return "".join(self.parts)
