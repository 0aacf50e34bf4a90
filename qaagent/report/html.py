"""report.html: one self-contained page that people open from a downloaded evidence bundle.

The bundle's JSON and XML are for machines; this page is for the reviewer who
wants to see which suites ran in parallel and for how long, what failed and
why, what was flaky, and the screenshot of the failing page.

`HtmlReport` is one writer of the one pass over a finished run
(`qaagent.stream`): the page is streamed to its file as the cases arrive, never
built in memory. `qaagent report BUNDLE` rebuilds it from the bundle alone through the same
writer (`qaagent.report.from_bundle`); the page's head and escaping are
`qaagent.report.page`'s. The page:

- makes no network request of any kind: CSS and JS are inline, there are no
  fonts or CDNs, and a strict Content-Security-Policy (scripts and styles only
  with this page's nonce, images only from the bundle's own folder) enforces it;
- carries the test data as the base64 of a zlib-compressed JSON document in a
  `<script type="application/octet-stream">` block (base64 cannot end the block,
  and the data is a tenth of its JSON size); the inline script unpacks it with the
  browser's `DecompressionStream` and renders tables page by page (100 rows at a
  time), so a 100,000-test run does not freeze the browser;
- puts every test-supplied string into the page as text (`textContent` in the
  script, `html.escape` here), never as markup;
- links artifacts by their bundle-relative path (percent-encoded per segment),
  so links and inline screenshots work from an unzipped artifact.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import fields
from importlib import resources
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from qaagent.counts import Counts
from qaagent.evidence.read import AttemptEntry, CiInfo, Manifest, SuiteEntry, Totals, parse_manifest
from qaagent.evidence.records import MESSAGE_LIMIT, id_prefix_of
from qaagent.files import StreamedFile
from qaagent.report.comparison import html_groups
from qaagent.report.page import escape as _e
from qaagent.report.page import page_start
from qaagent.report.timeline import number as _number
from qaagent.report.timeline import svg_timeline
from qaagent.stream import ReportCase, ReportRerun
from qaagent.text import fmt_seconds, truncate

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from qaagent.evidence.sections import Settings
    from qaagent.results import SuiteResult
    from qaagent.run_result import RunResult

#: the page's name at the bundle root
REPORT_NAME = "report.html"
#: the version of the embedded data's layout (report.js reads this one)
DATA_VERSION = 2
#: status letters in the embedded rows (keeps 100,000 rows small)
STATUS_CODE = {"passed": "p", "failed": "f", "error": "e", "skipped": "s"}
_CONCLUSION_ICON = {"success": "✅", "failure": "❌", "cancelled": "⏹️", "running": "⏳"}
_SAFE_URL = re.compile(r"^https://[A-Za-z0-9.-]+(?::\d+)?\Z")
_SAFE_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\Z")
#: the JSON string encoder (C, ``ensure_ascii=False``); the data block is base64, so no HTML escaping
_json = json.encoder.encode_basestring
_CACHE_SIZE = 4096


def _safe_rel(path: object) -> str | None:
    """A bundle-relative POSIX path that cannot leave the bundle, else None."""
    if not isinstance(path, str) or not path or "\\" in path or ":" in path.split("/")[0]:
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        return None
    return pure.as_posix()


# -- the page, streamed ---------------------------------------------------------------------------


class HtmlReport:
    """report.html as a `qaagent.stream.CaseWriter`: the page head, the packed data, the script.

    `max_output` cuts each failure's message as the merged JUnit cuts it (0: as it
    comes, for cases read back from a bundle); `note` is shown above the tables.
    """

    files: tuple[str, ...] = (REPORT_NAME,)

    def __init__(
        self,
        out: StreamedFile,
        *,
        max_output: int = 0,
        note: str | None = None,
    ) -> None:
        self.out = out
        self.max_output = max_output
        self.note = note
        #: the manifest's comparison with the base branch (`qaagent.report.comparison`), for the data
        self._compared: dict[str, Any] | None = None
        self.strings: list[str] = []
        self._string_index: dict[str, int] = {}
        self._suite_index: dict[str, int] = {}
        self._suite_names: list[str] = []
        self._rows = 0
        self._prefix = ""
        self._nonce = secrets.token_urlsafe(18)

    # -- CaseWriter ------------------------------------------------------------------------------

    def begin(self, run: RunResult | None, manifest: Mapping[str, Any]) -> None:  # noqa: ARG002 - the CaseWriter protocol
        """Everything up to the data: head, header, timeline, suite sections; the data's start."""
        document = parse_manifest(dict(manifest), self.out.path.parent)  # the one reader's typed view
        self._suite_names = [s.name for s in document.suites]
        self._suite_index = {name: i for i, name in enumerate(self._suite_names)}
        self._prefix = id_prefix_of(document.started)
        self._compared = html_groups(document.history)
        style = _asset("report.css")
        if "</" in style:  # our own asset: a bug, not input
            msg = "report assets must not contain '</'"
            raise AssertionError(msg)
        title = f"qaagent report — {document.project} {document.run_id}".strip()
        self.out.write(
            page_start(title, style, nonce=self._nonce, img_src="'self' data:")
            + '<a class="skip" href="#problems">Skip to failed and flaky tests</a>'
            f"{_asset('patterns.svg')}<main>{_header(document)}"
            '<p class="warn" id="data-note" hidden></p>'
            f"{svg_timeline(document)}{_base_branch_section(self._compared)}"
            '<section id="problems" aria-labelledby="problems-h" tabindex="-1">'
            '<h2 id="problems-h">Failed and flaky tests</h2><div id="problem-list"></div></section>'
            f"{_suite_sections(document, self._suite_names)}"
            "<noscript><p>The test tables need JavaScript; "
            "the data is also in tests.jsonl.gz and junit.xml.</p></noscript>"
            "</main>"
            '<script type="application/octet-stream" id="qa-data" data-encoding="deflate">'
        )
        self.out.begin_packed()
        # the suites' names come at the end, with any a case names that the manifest does not list
        self.out.write(f'{{"v":{DATA_VERSION},"idPrefix":{_json(self._prefix)},"rows":[')

    def begin_suite(self, suite: SuiteResult) -> None:
        """Nothing per suite: rows carry their suite."""

    def end_suite(self, suite: SuiteResult) -> None:
        """Nothing per suite."""

    def cases(self, batch: Sequence[ReportCase]) -> None:
        """The rows of the next cases."""
        row = self._row
        text = ",".join([row(item) for item in batch])
        self.out.write("," + text if self._rows else text)
        self._rows += len(batch)

    def end(self, note: str | None = None) -> None:
        """The data's end (the string table, the note), the script, and the file replaces its target."""
        note = note or self.note
        self.out.write(
            f'],"strings":[{",".join(_json(s) for s in self.strings)}],'
            f'"suites":[{",".join(_json(n) for n in self._suite_names)}],'
            f'"compared":{json.dumps(self._compared, ensure_ascii=False)},'
            f'"note":{_json(note) if note else "null"}}}'
        )
        self.out.end_packed()
        script = _asset("report.js")
        if "</" in script:  # our own asset: a bug, not input
            msg = "report assets must not contain '</'"
            raise AssertionError(msg)
        self.out.write(f'</script><script nonce="{self._nonce}">{script}</script></body></html>\n')
        self.digest = self.out.close()

    def abort(self) -> None:
        """Remove the half-written page."""
        self.out.abort()

    # -- rows ------------------------------------------------------------------------------------

    def _string(self, value: str | None) -> int:
        if not value:
            return -1
        number = self._string_index.get(value)
        if number is None:
            number = self._string_index[value] = len(self.strings)
            self.strings.append(value)
        return number

    def _suite(self, name: str) -> int:
        number = self._suite_index.get(name)
        if number is None:  # a case of a suite the manifest does not list (a hand-made bundle)
            number = self._suite_index[name] = len(self._suite_names)
            self._suite_names.append(name)
        return number

    def _row(self, item: ReportCase) -> str:
        case = item.case
        status = STATUS_CODE.get(case.status, "e")
        duration = case.duration
        duration = round(duration, 3) if 0 <= duration < float("inf") else 0.0
        line = case.line if isinstance(case.line, int) and case.line > 0 else 0
        message = _json(item.message[:MESSAGE_LIMIT]) if status != "p" and item.message else '""'
        head = (
            f"[{self._suite(item.suite)},{self._string(item.classname)},{_json(item.name)},"
            f'"{status}",{duration!r},{self._string(item.file)},{line},{1 if case.flaky else 0},'
            f"{case.attempts if isinstance(case.attempts, int) else 1},0,{message}"
        )
        if status in ("f", "e") or case.flaky:
            return f"{head},{self._problem(item)}]"
        return head + "]"

    def _problem(self, item: ReportCase) -> str:
        """A failed, errored or flaky case's details, as a JSON object (empty fields left out)."""
        fields = [f'"category":{_json(item.category) if item.category else "null"}']
        artifacts = [a for a in (_safe_rel(a) for a in item.artifacts) if a]
        if artifacts:
            fields.append(f'"artifacts":[{",".join(_json(a) for a in artifacts)}]')
        message = truncate(item.message, self.max_output) if self.max_output else item.message
        for key, value in (
            ("message", message),
            ("type", item.type),
            ("details", item.details),
            ("stdout", item.stdout),
            ("stderr", item.stderr),
        ):
            if value:
                fields.append(f'"{key}":{_json(value)}')
        if item.reruns:
            fields.append(f'"reruns":[{",".join(_rerun(r) for r in item.reruns)}]')
        return "{" + ",".join(fields) + "}"


def _rerun(rerun: ReportRerun) -> str:
    duration = round(rerun.duration, 3) if 0 <= rerun.duration < float("inf") else 0.0
    # the type the merged JUnit gives an attempt without one (Surefire requires it), as the bundle reads back
    type_ = rerun.type or ("failure" if rerun.status == "failed" else "error")
    return (
        f'{{"status":{_json(rerun.status)},"message":{_json(rerun.message)},"type":{_json(type_)},'
        f'"details":{_json(rerun.details)},"stdout":{_json(rerun.stdout)},"stderr":{_json(rerun.stderr)},'
        f'"duration":{duration!r}}}'
    )


# -- the page's parts -------------------------------------------------------------------------------


def _asset(name: str) -> str:
    return resources.files("qaagent.report").joinpath("assets", name).read_text(encoding="utf-8")


def _ci_link(manifest: Manifest) -> str:
    ci = manifest.ci or CiInfo()
    repository = manifest.git.repository
    run_id = ci.run_id
    if not run_id:
        return ""
    attempt = ci.run_attempt
    label = f"run {_e(run_id)}" + (f", attempt {_e(attempt)}" if attempt else "")
    server = ci.server_url or ""
    if _SAFE_URL.match(server) and repository and _SAFE_REPO.match(repository) and run_id.isdigit():
        url = f"{server}/{repository}/actions/runs/{run_id}"
        return f'<a href="{_e(url)}" rel="noreferrer">{label}</a>'
    return label


def _retries(settings: Settings) -> list[str]:
    """The suites' retry counts in the plan's settings."""
    return sorted({str(s.retry_count) for s in settings.suites.values() if s.retry_count is not None})


def _counts(totals: Totals) -> Counts:
    """The run's counts in the manifest's `totals`."""
    return Counts(**{f.name: getattr(totals, f.name) for f in fields(Counts)})


def _header(manifest: Manifest) -> str:
    totals = manifest.totals or Totals()
    status = manifest.status or "unknown"
    git = manifest.git
    settings = manifest.settings
    wall = _number(totals.duration)
    suite_time = _number(totals.suite_time)
    speedup = f" · speed-up ×{suite_time / wall:.2f}" if wall > 0 and suite_time > wall else ""
    # xfailed and xpassed apart from skipped and passed, as every summary counts (`Counts.summary_text`)
    c = _counts(totals)
    cells = [
        ("total", "Total", c.total),
        ("passed", "Passed", c.shown_passed),
        ("failed", "Failed", c.failed),
        ("errors", "Errors", c.errors),
        ("skipped", "Skipped", c.shown_skipped),
        ("flaky", "Flaky", c.flaky),
    ]
    if c.xfailed or c.xpassed:
        cells[5:5] = [("xfailed", "Xfailed", c.xfailed), ("xpassed", "Xpassed", c.xpassed)]
    totals_html = "".join(
        f'<div class="tot tot-{key}"><dt>{label}</dt><dd id="total-{key}">{n}</dd></div>'
        for key, label, n in cells
    )
    workers = settings.max_workers
    fail_on = ", ".join(manifest.fail_on or settings.fail_on)
    settings_text = (
        f"parallel: {'yes' if settings.parallel else 'no'}"
        f" · workers: {workers if workers is not None else '–'}"
        f" · retries: {'/'.join(_retries(settings)) or '0'}"
        f" · shard: {manifest.shard or '–'}"
        f" · fail on: {fail_on or '–'}"
    )
    facts = [
        ("Wall time", f"{fmt_seconds(wall)} (sum of suite times {fmt_seconds(suite_time)}{speedup})"),
        ("Started", manifest.started),
        ("Finished", manifest.finished),
        ("Commit", git.sha),
        ("Ref", git.ref),
        ("Repository", git.repository),
        ("Settings", settings_text),
        ("Run id", manifest.run_id),
        ("qaagent", manifest.tool.version),
    ]
    facts_html = "".join(
        f"<dt>{_e(k)}</dt><dd>{_e(v) if v not in (None, '') else '–'}</dd>" for k, v in facts
    )
    ci = _ci_link(manifest)
    if ci:
        facts_html += f"<dt>CI run</dt><dd>{ci}</dd>"
    not_run = manifest.not_run
    extra = f'<p class="warn">Not run: {_e(", ".join(not_run))}</p>' if not_run else ""
    project = manifest.project
    return (
        f"<header><h1>qaagent report{' — ' + _e(project) if project else ''}</h1>"
        f'<p class="conclusion c-{_e(status)}" id="conclusion">{_CONCLUSION_ICON.get(status, "")} '
        f"Conclusion: <strong>{_e(status)}</strong></p>"
        f'<dl class="totals" aria-label="Totals">{totals_html}</dl>'
        f'<dl class="facts">{facts_html}</dl>{extra}</header>'
    )


def _base_branch_section(compared: dict[str, Any] | None) -> str:
    """The empty section the script fills with the base-branch groups (test ids live in the data)."""
    if compared is None:
        return ""
    return (
        '<section id="base-branch" aria-labelledby="base-branch-h">'
        '<h2 id="base-branch-h">Against the base branch</h2><div id="base-branch-groups"></div></section>'
    )


def _suite_sections(manifest: Manifest, names: list[str]) -> str:
    parts: list[str] = ['<section aria-labelledby="suites-h"><h2 id="suites-h">Suites</h2>']
    for index, name in enumerate(names):
        suite = manifest.suite(name) or SuiteEntry(name=name, status="")
        counts = suite.counts
        count_text = Counts(**counts.model_dump()).summary_text()
        command = " ".join(suite.command)
        attempts_rows = "".join(f"<tr>{_attempt_cells(a)}</tr>" for a in suite.attempts)
        batch_rows = "".join(
            f"<tr><td>{_e(b.batch)}</td><td>{_e(len(b.units))}</td>{_attempt_cells(a)}</tr>"
            for b in suite.batches
            for a in b.attempts
        )
        problem = suite.error or suite.skipped_reason
        parts.append(
            f'<section class="suite" aria-labelledby="s{index}-h"><h3 id="s{index}-h">{_e(name)} '
            f'<span class="badge st-{_e(suite.status)}">{_e(suite.status or "–")}</span></h3>'
            f"<p>{_e(count_text)} · runner {_e(suite.runner or '–')} · "
            f"{_e(fmt_seconds(_number(suite.duration)))}</p>"
            + (f"<p>Command: <code>{_e(command)}</code></p>" if command else "")
            + (f'<p class="warn">{_e(problem)}</p>' if problem else "")
            + (
                '<table class="attempts"><caption>Attempts</caption><thead><tr><th scope="col">#</th>'
                '<th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Return code</th>'
                '<th scope="col">Timed out</th><th scope="col">Log</th></tr></thead>'
                f"<tbody>{attempts_rows}</tbody></table>"
                if attempts_rows
                else ""
            )
            + (
                '<table class="attempts"><caption>Batches (processes of a split suite)</caption><thead><tr>'
                '<th scope="col">Batch</th><th scope="col">Files</th><th scope="col">#</th>'
                '<th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Return code</th>'
                '<th scope="col">Timed out</th><th scope="col">Log</th></tr></thead>'
                f"<tbody>{batch_rows}</tbody></table>"
                if batch_rows
                else ""
            )
            + f'<div class="tests" data-suite="{index}"></div></section>'
        )
    parts.append('<div id="more-suites"></div></section>')
    return "".join(parts)


def _attempt_cells(attempt: AttemptEntry) -> str:
    """An attempt's cells: number, start, duration, return code, timed out, log."""
    return (
        f"<td>{_e(attempt.number)}</td><td>{_e(attempt.started)}</td>"
        f"<td>{_e(fmt_seconds(_number(attempt.duration)))}</td><td>{_e(attempt.returncode)}</td>"
        f"<td>{'yes' if attempt.timed_out else 'no'}</td><td>{_log_link(attempt.log)}</td>"
    )


def _log_link(path: object) -> str:
    rel = _safe_rel(path)
    if rel is None:
        return "–"
    href = "/".join(_quote_segment(s) for s in rel.split("/"))
    return f'<a href="{_e(href)}">{_e(rel)}</a>'


def _quote_segment(segment: str) -> str:
    return quote(segment, safe="")
