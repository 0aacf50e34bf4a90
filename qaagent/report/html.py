"""report.html: one self-contained page that people open from a downloaded evidence bundle.

The bundle's JSON and XML are for machines; this page is for the reviewer who
wants to see which suites ran in parallel and for how long, what failed and
why, what was flaky, and the screenshot of the failing page.

It is built from the bundle alone — manifest.json, tests.jsonl, and junit.xml
for tracebacks, captured output and earlier attempts — so `qaagent report
BUNDLE` can rebuild it at any time (after `qaagent merge` too). The page:

- makes no network request of any kind: CSS and JS are inline, there are no
  fonts or CDNs, and a strict Content-Security-Policy (scripts and styles only
  with this page's nonce, images only from the bundle's own folder) enforces it;
- carries the test data as JSON in a `<script type="application/json">` block,
  with `<`, `>`, `&` and U+2028/U+2029 escaped so no test name can end the block;
  the inline script renders tables page by page (100 rows at a time), so a
  100,000-test run does not freeze the browser;
- puts every test-supplied string into the page as text (`textContent` in the
  script, `html.escape` here), never as markup;
- links artifacts by their bundle-relative path (percent-encoded per segment),
  so links and inline screenshots work from an unzipped artifact.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from qaagent.errors import JUnitError
from qaagent.evidence.bundle import replace_file
from qaagent.evidence.read import BundleError, iter_records, load_document, parse_manifest
from qaagent.junit.read import iter_junit_cases
from qaagent.report.timeline import number as _number
from qaagent.report.timeline import svg_timeline
from qaagent.text import fmt_seconds

if TYPE_CHECKING:
    from qaagent.results import TestCase

#: the page's name at the bundle root
REPORT_NAME = "report.html"
#: status letters in the embedded rows (keeps 100,000 rows small)
_STATUS_CODE = {"passed": "p", "failed": "f", "error": "e", "skipped": "s"}
_CONCLUSION_ICON = {"success": "✅", "failure": "❌", "cancelled": "⏹️", "running": "⏳"}
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_JSON_UNSAFE = re.compile("[<>&\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SAFE_URL = re.compile(r"^https://[A-Za-z0-9.-]+(?::\d+)?$")
_SAFE_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


# -- reading the bundle ---------------------------------------------------------------------------


def load_manifest(bundle_dir: Path) -> dict[str, Any]:
    """The bundle's manifest, validated by the one bundle reader, as the JSON object the page shows.

    A `UsageError` when it is not a readable bundle.
    """
    try:
        document = load_document(bundle_dir)
    except BundleError as exc:
        raise BundleError(f"{bundle_dir}: not an evidence bundle ({exc.message})") from None
    parse_manifest(document, bundle_dir)
    return cast("dict[str, Any]", document)


def _attempt_dict(case: TestCase) -> list[dict[str, Any]]:
    return [
        {
            "status": r.status,
            "message": r.message,
            "type": r.type,
            "details": r.details,
            "stdout": r.stdout,
            "stderr": r.stderr,
            "duration": round(r.duration, 3),
        }
        for r in case.reruns
    ]


def junit_details(bundle_dir: Path, wanted: dict[int, str]) -> tuple[dict[int, dict[str, Any]], str | None]:
    """Details of the cases at positions `wanted` (index → expected name) of the merged junit.xml.

    tests.jsonl was written case by case while junit.xml was streamed, so the
    n-th record is the n-th test case; a name that does not match leaves that
    case without details rather than showing another test's traceback.
    Returns the details and a note when junit.xml could not be (fully) read.
    """
    found: dict[int, dict[str, Any]] = {}
    if not wanted:
        return found, None
    path = bundle_dir / "junit.xml"
    if not path.is_file():
        return found, "junit.xml is missing: tracebacks and captured output are not shown"
    last = max(wanted)
    try:
        cases = iter_junit_cases(path, suite="", base_dir=bundle_dir, repo_root=bundle_dir)
        for index, case in enumerate(cases):
            name = wanted.get(index)
            if name is not None and name == case.name:
                found[index] = {
                    "message": case.message,
                    "type": case.type,
                    "details": case.details,
                    "stdout": case.stdout,
                    "stderr": case.stderr,
                    "reruns": _attempt_dict(case),
                }
            if index >= last:
                break
    except JUnitError as error:
        return found, f"junit.xml could not be read completely: {error}"
    return found, None


def _safe_rel(path: object) -> str | None:
    """A bundle-relative POSIX path that cannot leave the bundle, else None."""
    if not isinstance(path, str) or not path or "\\" in path or ":" in path.split("/")[0]:
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        return None
    return pure.as_posix()


# -- building the embedded data -------------------------------------------------------------------


class _Strings:
    """A table of repeated strings (classnames, files): rows hold indexes."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, value: object) -> int:
        if not isinstance(value, str) or not value:
            return -1
        number = self._index.get(value)
        if number is None:
            number = self._index[value] = len(self.items)
            self.items.append(value)
        return number


def build_data(bundle_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The JSON the page's script renders: suites, compact test rows, problem details."""
    suite_names = [str(s.get("name", "")) for s in _suites(manifest)]
    suite_index = {name: i for i, name in enumerate(suite_names)}
    strings = _Strings()
    rows: list[list[Any]] = []
    problems: dict[int, dict[str, Any]] = {}
    wanted: dict[int, str] = {}
    for index, record in enumerate(iter_records(bundle_dir)):
        suite = record.suite
        if suite not in suite_index:
            suite_index[suite] = len(suite_names)
            suite_names.append(suite)
        status = _STATUS_CODE.get(record.status, "e")
        rows.append(
            [
                suite_index[suite],
                strings(record.classname),
                record.name,
                status,
                round(_number(record.duration), 3),
                strings(record.file),
                record.line if record.line is not None else 0,
                1 if record.flaky else 0,
                record.attempts,
                record.id,
                record.message if status != "p" else "",
            ]
        )
        if status in ("f", "e") or record.flaky:
            artifacts = [a for a in (_safe_rel(a) for a in record.artifacts) if a]
            problems[index] = {"category": record.category, "artifacts": artifacts}
            wanted[index] = record.name
    details, note = junit_details(bundle_dir, wanted)
    for index, extra in details.items():
        problems[index].update(extra)
    return {
        "suites": suite_names,
        "strings": strings.items,
        "tests": rows,
        "problems": {str(k): v for k, v in problems.items()},
        "note": note,
    }


def embed_json(data: object) -> str:
    """JSON safe inside `<script type="application/json">`: nothing in it can close the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = _JSON_UNSAFE.sub(lambda m: _JSON_ESCAPES[m.group()], text)
    return _SURROGATE.sub("\ufffd", text)


# -- the page ---------------------------------------------------------------------------------


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _suites(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    suites = manifest.get("suites")
    return [s for s in suites if isinstance(s, dict)] if isinstance(suites, list) else []


def _asset(name: str) -> str:
    return resources.files("qaagent.report").joinpath("assets", name).read_text(encoding="utf-8")


def _ci_link(manifest: dict[str, Any]) -> str:
    ci = _obj(manifest.get("ci"))
    repository = (
        (manifest.get("git") or {}).get("repository") if isinstance(manifest.get("git"), dict) else None
    )
    if not ci or not ci.get("run_id"):
        return ""
    run_id = str(ci.get("run_id"))
    label = f"run {_e(run_id)}" + (f", attempt {_e(ci.get('run_attempt'))}" if ci.get("run_attempt") else "")
    server = str(ci.get("server_url") or "")
    if (
        _SAFE_URL.match(server)
        and isinstance(repository, str)
        and _SAFE_REPO.match(repository)
        and run_id.isdigit()
    ):
        url = f"{server}/{repository}/actions/runs/{run_id}"
        return f'<a href="{_e(url)}" rel="noreferrer">{label}</a>'
    return label


def _header(manifest: dict[str, Any]) -> str:
    totals = _obj(manifest.get("totals"))
    status = str(manifest.get("status") or "unknown")
    git = _obj(manifest.get("git"))
    settings = _obj(manifest.get("settings"))
    tool = _obj(manifest.get("tool"))
    wall = _number(totals.get("duration"))
    suite_time = _number(totals.get("suite_time"))
    speedup = f" · speed-up ×{suite_time / wall:.2f}" if wall > 0 and suite_time > wall else ""
    retries = sorted(
        {
            str(s.get("retry_count"))
            for s in (settings.get("suites") or {}).values()
            if isinstance(s, dict) and s.get("retry_count") is not None
        }
    )
    cells = [
        ("total", "Total"),
        ("passed", "Passed"),
        ("failed", "Failed"),
        ("errors", "Errors"),
        ("skipped", "Skipped"),
        ("flaky", "Flaky"),
    ]
    if _number(totals.get("xfailed")) or _number(totals.get("xpassed")):
        # counted within passed and skipped (as JUnit does); shown apart, as pytest's summary does
        cells[5:5] = [("xfailed", "Xfailed (in skipped)"), ("xpassed", "Xpassed (in passed)")]
    totals_html = "".join(
        f'<div class="tot tot-{key}"><dt>{label}</dt>'
        f'<dd id="total-{key}">{int(_number(totals.get(key)))}</dd></div>'
        for key, label in cells
    )
    workers = settings.get("max_workers")
    fail_on = ", ".join(str(x) for x in manifest.get("fail_on") or settings.get("fail_on") or [])
    settings_text = (
        f"parallel: {'yes' if settings.get('parallel') else 'no'}"
        f" · workers: {workers if workers is not None else '–'}"
        f" · retries: {'/'.join(retries) or '0'}"
        f" · shard: {manifest.get('shard') or '–'}"
        f" · fail on: {fail_on or '–'}"
    )
    facts = [
        ("Wall time", f"{fmt_seconds(wall)} (sum of suite times {fmt_seconds(suite_time)}{speedup})"),
        ("Started", manifest.get("started")),
        ("Finished", manifest.get("finished")),
        ("Commit", git.get("sha")),
        ("Ref", git.get("ref")),
        ("Repository", git.get("repository")),
        ("Settings", settings_text),
        ("Run id", manifest.get("run_id")),
        ("qaagent", tool.get("version")),
    ]
    facts_html = "".join(
        f"<dt>{_e(k)}</dt><dd>{_e(v) if v not in (None, '') else '–'}</dd>" for k, v in facts
    )
    ci = _ci_link(manifest)
    if ci:
        facts_html += f"<dt>CI run</dt><dd>{ci}</dd>"
    not_run = manifest.get("not_run") or []
    extra = f'<p class="warn">Not run: {_e(", ".join(map(str, not_run)))}</p>' if not_run else ""
    project = manifest.get("project") or ""
    return (
        f"<header><h1>qaagent report{' — ' + _e(project) if project else ''}</h1>"
        f'<p class="conclusion c-{_e(status)}" id="conclusion">{_CONCLUSION_ICON.get(status, "")} '
        f"Conclusion: <strong>{_e(status)}</strong></p>"
        f'<dl class="totals" aria-label="Totals">{totals_html}</dl>'
        f'<dl class="facts">{facts_html}</dl>{extra}</header>'
    )


def _suite_sections(manifest: dict[str, Any], data: dict[str, Any]) -> str:
    parts: list[str] = ['<section aria-labelledby="suites-h"><h2 id="suites-h">Suites</h2>']
    manifest_suites = {str(s.get("name")): s for s in _suites(manifest)}
    for index, name in enumerate(data["suites"]):
        suite = manifest_suites.get(name, {})
        counts = _obj(suite.get("counts"))
        count_text = " · ".join(
            f"{int(_number(counts.get(k)))} {k}" for k in ("passed", "failed", "errors", "skipped", "flaky")
        )
        command = " ".join(str(c) for c in suite.get("command") or [])
        attempts_rows = "".join(
            f"<tr><td>{_e(a.get('number'))}</td><td>{_e(a.get('started'))}</td>"
            f"<td>{_e(fmt_seconds(_number(a.get('duration'))))}</td><td>{_e(a.get('returncode'))}</td>"
            f"<td>{'yes' if a.get('timed_out') else 'no'}</td><td>{_log_link(a.get('log'))}</td></tr>"
            for a in suite.get("attempts") or []
            if isinstance(a, dict)
        )
        problem = suite.get("error") or suite.get("skipped_reason")
        parts.append(
            f'<section class="suite" aria-labelledby="s{index}-h"><h3 id="s{index}-h">{_e(name)} '
            f'<span class="badge st-{_e(suite.get("status"))}">{_e(suite.get("status") or "–")}</span></h3>'
            f"<p>{_e(count_text)} · runner {_e(suite.get('runner') or '–')} · "
            f"{_e(fmt_seconds(_number(suite.get('duration'))))}</p>"
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
            + f'<div class="tests" data-suite="{index}"></div></section>'
        )
    parts.append("</section>")
    return "".join(parts)


def _log_link(path: object) -> str:
    rel = _safe_rel(path)
    if rel is None:
        return "–"
    href = "/".join(_quote_segment(s) for s in rel.split("/"))
    return f'<a href="{_e(href)}">{_e(rel)}</a>'


def _quote_segment(segment: str) -> str:
    return quote(segment, safe="")


def page_start(title: str, style: str, *, nonce: str, img_src: str) -> str:
    """A self-contained page up to ``<body>``: the strict CSP, no referrer, no favicon request.

    The CSP allows only this nonce's script and style and images from `img_src`;
    everything else (``default-src 'none'``) is refused.
    """
    csp = (
        f"default-src 'none'; img-src {img_src}; "
        f"style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        "base-uri 'none'; form-action 'none'"
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(title)}</title>"
        f'<style nonce="{nonce}">{style}</style></head><body>'
    )


def render_report(bundle_dir: Path) -> str:
    """The whole report.html of the bundle at `bundle_dir`, as text."""
    manifest = load_manifest(bundle_dir)
    data = build_data(bundle_dir, manifest)
    nonce = secrets.token_urlsafe(18)
    script = _asset("report.js")
    style = _asset("report.css")
    if "</" in script or "</" in style:  # our own assets: a bug, not input
        msg = "report assets must not contain '</'"
        raise AssertionError(msg)
    title = f"qaagent report — {manifest.get('project') or ''} {manifest.get('run_id') or ''}".strip()
    note = f'<p class="warn">{_e(data["note"])}</p>' if data.get("note") else ""
    return (
        page_start(title, style, nonce=nonce, img_src="'self' data:")
        + '<a class="skip" href="#problems">Skip to failed and flaky tests</a>'
        f"{_asset('patterns.svg')}<main>{_header(manifest)}{note}{svg_timeline(manifest)}"
        '<section id="problems" aria-labelledby="problems-h" tabindex="-1">'
        '<h2 id="problems-h">Failed and flaky tests</h2><div id="problem-list"></div></section>'
        f"{_suite_sections(manifest, data)}"
        "<noscript><p>The test tables need JavaScript; "
        "the data is also in tests.jsonl and junit.xml.</p></noscript>"
        "</main>"
        f'<script type="application/json" id="qa-data">{embed_json(data)}</script>'
        f'<script nonce="{nonce}">{script}</script></body></html>\n'
    )


def write_report(bundle_dir: Path) -> Path:
    """Render report.html into the bundle and record its checksum in the manifest (both atomically)."""
    text = render_report(bundle_dir)
    replace_file(bundle_dir, REPORT_NAME, text)
    return bundle_dir / REPORT_NAME
