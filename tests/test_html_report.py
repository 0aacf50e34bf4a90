"""report.html: built from the bundle alone, self-contained, escaped, and checked in a real Chromium.

The browser tests open the page with `tests/browser/html_report.cjs` (Playwright
from the demo's node_modules driving Debian's Chromium): every request other
than the page and files of its own folder is blocked and recorded, console
errors are collected, and a screenshot of the page is saved under
`$QAAGENT_TEST_ARTIFACTS` (default: the test's tmp dir) for CI to keep. They
skip on a laptop without Chromium or node_modules, and fail when `CI=true`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    DEBIAN_CHROMIUM,
    ROOT,
    TEST_CHROMIUM,
    ProjectFactory,
    browser_problems,
    run_qaagent,
    skip_unless_ready,
)
from helpers import case, manifest_of, records_of

import qaagent
from qaagent.attempts import Attempt, Rerun
from qaagent.evidence.bundle import Bundle
from qaagent.evidence.read import BundleError
from qaagent.evidence.verify import record_file, verify_bundle
from qaagent.files import Digest, StreamedFile
from qaagent.redact import Redactor
from qaagent.report.from_bundle import write_report
from qaagent.report.html import REPORT_NAME, HtmlReport
from qaagent.report.page import embed_json
from qaagent.results import CaseStore, SuiteResult, TestCase
from qaagent.run_result import RunResult

NODE_SCRIPT = ROOT / "tests" / "browser" / "html_report.cjs"
DEMO_MODULES = ROOT / "examples" / "demo" / "e2e" / "node_modules"
PLAYWRIGHT_FIXTURE = ROOT / "tests" / "fixtures" / "playwright-project"
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
)

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "</script><script>alert(3)</script>",
    "'; alert(4); '",
    "line\u2028separator\u2029paragraph",
    "&lt;b&gt;entity&lt;/b&gt; & <!-- comment -->",
    "<b>bold</b>",
]


# -- helpers ----------------------------------------------------------------------------------


def artifacts_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("QAAGENT_TEST_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def require_chromium() -> dict[str, str]:
    """Skip (fail when CI=true) unless node, the demo's Playwright and Chromium are there."""
    skip_unless_ready(browser_problems(tool="node"))
    return {"QAAGENT_NODE_MODULES": str(DEMO_MODULES), "QAAGENT_CHROMIUM": TEST_CHROMIUM or DEBIAN_CHROMIUM}


def open_in_chromium(report: Path, screenshot: Path, *, search: str = "") -> dict[str, Any]:
    return run_browser_script(NODE_SCRIPT, str(report), str(screenshot), env={"QAAGENT_SEARCH": search})


def run_browser_script(script: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a tests/browser script with node (Playwright, Chromium) and return the JSON it prints."""
    done = subprocess.run(
        ["node", str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **require_chromium(), **(env or {})},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def assert_offline_and_clean(result: dict[str, Any], bundle: Path) -> None:
    assert result["blocked"] == [], "the page tried to reach the network"
    folder = bundle.resolve().as_uri() + "/"
    assert all(url.startswith(folder) for url in result["requests"]), result["requests"]
    assert result["console"] == []
    assert result["pageErrors"] == []
    assert result["state"]["injected"] == 0


def api_bundle(
    tmp_path: Path,
    suites: dict[str, list[TestCase]],
    *,
    attempts: int = 1,
    history: dict[str, Any] | None = None,
) -> Path:
    """A finished bundle made through the Python API, with report.html written by write_report.

    `history`: the manifest's comparison with the base branch (`qaagent.report.comparison.document`).
    """
    bundle = Bundle.start(
        tmp_path / "evidence",
        "20240501_120000Z",
        project="shop",
        settings={"parallel": True, "max_workers": 2},
        profile_path=None,
        profile_sha256=None,
        repo_root=tmp_path,
        suites=list(suites),
        redactor=Redactor([]),
    )
    started = 1_714_564_800.0
    results = []
    for offset, (name, cases) in enumerate(suites.items()):
        suite_dir = bundle.suite_dir(name)
        tries = [
            Attempt(
                number=n,
                command=("python", "-m", "pytest"),
                returncode=1 if n < attempts else 0,
                timed_out=False,
                started_at=started + offset + 2 * (n - 1),
                duration=1.5,
                log_path=suite_dir / f"attempt-{n}.log",
            )
            for n in range(1, attempts + 1)
        ]
        for attempt in tries:
            assert attempt.log_path is not None
            attempt.log_path.write_text("log\n", encoding="utf-8")
        results.append(SuiteResult(name=name, runner="pytest", cases=CaseStore(cases), attempts=tries))
    run = RunResult("shop", bundle.run_id, results, started, started + 2 * attempts + len(suites))
    bundle.finish(run, summary_markdown="# summary\n", fail_on=["failed", "error"], history=history)
    write_report(bundle.dir)
    return bundle.dir


class _Scripts(HTMLParser):
    """Collects <script> elements (attributes and text) and the CSP meta."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[dict[str, str | None]] = []
        self.csp: str | None = None
        self._in: dict[str, str | None] | None = None
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        data = dict(attrs)
        if tag == "script":
            self._in = data
            self.scripts.append((data, ""))
        elif tag == "style":
            self.styles.append(data)
        elif tag == "meta" and data.get("http-equiv") == "Content-Security-Policy":
            self.csp = data.get("content")

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in = None


def parse(page: str) -> _Scripts:
    parser = _Scripts()
    parser.feed(page)
    parser.close()
    return parser


def page_data(page: str) -> dict[str, Any]:
    """The page's data block: base64 of a zlib stream of one JSON document (see report.js)."""
    (block,) = [text for attrs, text in parse(page).scripts if attrs.get("id") == "qa-data"]
    data: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(block, validate=True)))
    return data


def problem(data: dict[str, Any], index: int) -> dict[str, Any]:
    """The details of the failed, errored or flaky case at `index` (the row's last element)."""
    row = data["rows"][index]
    assert len(row) == 12, row
    details: dict[str, Any] = row[11]
    return details


# -- the page from the bundle alone ------------------------------------------------------------


def test_embedded_json_cannot_break_out() -> None:
    text = embed_json({"n": HOSTILE, "s": "\ud800 lone surrogate"})
    assert not re.search(r"[<>&\u2028\u2029]", text)
    assert json.loads(text)["n"] == HOSTILE
    assert json.loads(text)["s"] == "\ufffd lone surrogate"


def test_escaping_corpus_renders_as_text_in_the_markup(tmp_path: Path) -> None:
    huge = "n" * 1_000_000
    cases = [case(name, "failed", message=name, details=name, stdout=name) for name in HOSTILE]
    cases.append(case(huge, "failed", message="big"))
    cases.append(case("ok"))
    bundle = api_bundle(tmp_path, {"unit": cases})
    page = (bundle / REPORT_NAME).read_text(encoding="utf-8")

    parsed = parse(page)
    # exactly the data block and our nonce'd script; nothing a test wrote became a tag
    assert [attrs.get("type") for attrs, _ in parsed.scripts] == ["application/octet-stream", None]
    assert re.fullmatch(
        r"[A-Za-z0-9+/]*={0,2}", parsed.scripts[0][1]
    )  # base64 alone: it cannot end the block
    assert set(parsed.tags) <= {
        "html", "head", "meta", "link", "title", "style", "body", "a", "svg", "defs", "pattern",
        "rect", "path", "circle", "main", "header", "h1", "p", "strong", "dl", "div", "dt", "dd",
        "section", "h2", "span", "g", "text", "h3", "table", "caption", "thead", "tr", "th", "tbody",
        "td", "code", "noscript", "script",
    }  # fmt: skip
    data = page_data(page)
    names = [row[2] for row in data["rows"]]
    assert names[: len(HOSTILE)] == HOSTILE
    assert huge in names
    first = problem(data, 0)
    assert (first["message"], first["details"], first["stdout"]) == (HOSTILE[0],) * 3
    for name in HOSTILE:
        assert name not in page
    # CSP: scripts and styles only with this page's nonce, no network
    assert parsed.csp is not None
    nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]+)'", parsed.csp)
    assert nonce
    assert parsed.scripts[1][0].get("nonce") == nonce.group(1)
    assert [s.get("nonce") for s in parsed.styles] == [nonce.group(1)]
    assert "default-src 'none'" in parsed.csp
    assert "img-src 'self' data:" in parsed.csp
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page


@pytest.mark.slow
@pytest.mark.browser
def test_escaping_corpus_renders_as_text_in_chromium(tmp_path: Path) -> None:
    require_chromium()
    cases = [case(name, "failed", message=name, details=name) for name in HOSTILE]
    cases.append(case("n" * 1_000_000, "failed", message="big"))
    bundle = api_bundle(tmp_path, {"unit": cases})
    result = open_in_chromium(bundle / REPORT_NAME, artifacts_dir(tmp_path) / "html-report-escaping.png")
    assert_offline_and_clean(result, bundle)
    shown = result["state"]["problems"]
    for name in HOSTILE:
        expected = " ".join(name.split()) if "\u2028" not in name else None
        if expected:
            assert any(expected in " ".join(h.split()) for h in shown), name
    assert any("1,000,000 characters" in h for h in shown)
    assert result["state"]["title"] == "qaagent report — shop 20240501_120000Z"


@pytest.mark.slow
@pytest.mark.browser
def test_a_test_without_a_name_is_shown_unnamed_in_chromium(tmp_path: Path) -> None:
    # behave's untitled `Scenario:`: the identity stays "" in the data, the page labels it
    require_chromium()
    cases = [case("", "failed", message="undefined step: Given x"), case("named", "failed", message="m")]
    bundle = api_bundle(tmp_path, {"unit": cases})
    assert [row[2] for row in page_data((bundle / REPORT_NAME).read_text(encoding="utf-8"))["rows"]] == [
        "",
        "named",
    ]
    result = open_in_chromium(bundle / REPORT_NAME, Path("-"))
    assert_offline_and_clean(result, bundle)
    problems = [" ".join(h.split()) for h in result["state"]["problems"]]
    assert problems == ["✗ failed tests.test_x › (unnamed)", "✗ failed tests.test_x › named"]
    assert [row["name"] for row in result["failedRows"]] == [
        "tests.test_x › (unnamed)",
        "tests.test_x › named",
    ]


def test_artifact_links_stay_inside_the_bundle(tmp_path: Path) -> None:
    artifacts = ("suites/unit/shot 1.png", "../outside.png", "/etc/passwd", "javascript:alert(1)", "a\\b")
    bundle = api_bundle(tmp_path, {"unit": [case("t", "failed", artifacts=artifacts)]})
    data = page_data((bundle / REPORT_NAME).read_text(encoding="utf-8"))
    assert problem(data, 0)["artifacts"] == ["suites/unit/shot 1.png"]


def test_report_lists_every_attempt_and_rerun(tmp_path: Path) -> None:
    flaky = case(
        "flaky",
        flaky=True,
        attempts=3,
        reruns=(Rerun("failed", message="first", details="tb1"), Rerun("error", message="second")),
    )
    bundle = api_bundle(
        tmp_path, {"unit": [flaky, case("ok")], "api": [case("x", "skipped", suite="api")]}, attempts=2
    )
    page = (bundle / REPORT_NAME).read_text(encoding="utf-8")
    data = page_data(page)
    reruns = problem(data, 0)["reruns"]
    assert [(r["status"], r["message"]) for r in reruns] == [("failed", "first"), ("error", "second")]
    assert data["suites"] == ["unit", "api"]
    assert page.count('<g class="bar ') == 4  # 2 suites x 2 attempts
    assert 'id="total-flaky">1<' in page
    assert 'id="total-skipped">1<' in page
    assert 'href="suites/unit/attempt-1.log"' in page
    assert verify_bundle(bundle) == []


def test_write_report_updates_the_manifest_checksum(tmp_path: Path) -> None:
    bundle = api_bundle(tmp_path, {"unit": [case("ok")]})
    assert verify_bundle(bundle) == []
    (bundle / REPORT_NAME).write_text("tampered", encoding="utf-8")
    assert verify_bundle(bundle) == [f"changed: {REPORT_NAME}"]
    write_report(bundle)
    assert verify_bundle(bundle) == []
    manifest = manifest_of(bundle)
    paths = [f["path"] for f in manifest["files"]]
    assert paths == sorted(paths)
    assert paths.count(REPORT_NAME) == 1


def test_the_page_reads_the_manifest_through_the_typed_bundle_reader(tmp_path: Path) -> None:
    bundle = api_bundle(tmp_path, {"unit": [case("ok")]})
    page_text = (bundle / REPORT_NAME).read_text(encoding="utf-8")
    assert f"<dt>qaagent</dt><dd>{qaagent.__version__}</dd>" in page_text  # the model's `tool`
    manifest = manifest_of(bundle)
    manifest["suites"][0]["attempts"] = "not a list"
    page = HtmlReport(StreamedFile(tmp_path / "page.html"))
    with pytest.raises(BundleError, match=r"suites\.0\.attempts"):  # the reader's message
        page.begin(None, manifest)
    page.abort()
    assert not (tmp_path / "page.html").exists()


def test_record_file_refuses_paths_outside_and_non_bundles(tmp_path: Path) -> None:
    from qaagent.errors import QAAgentError, UsageError  # noqa: PLC0415

    bundle = api_bundle(tmp_path, {"unit": [case("ok")]})
    before = (bundle / "manifest.json").read_bytes()
    for bad in ("../x.html", "/tmp/x.html", "manifest.json"):
        with pytest.raises(QAAgentError):
            record_file(bundle, bad, Digest("0" * 64, 1))
    assert (bundle / "manifest.json").read_bytes() == before
    with pytest.raises(UsageError):
        write_report(tmp_path / "nowhere")


def test_assets_are_package_data() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assets = ROOT / "qaagent" / "report" / "assets"
    for path in assets.iterdir():
        assert f'"report/assets/*{path.suffix}"' in text, path.name


# -- real runs --------------------------------------------------------------------------------

GENERATOR = """
import os, sys, time
attempt = int(os.environ["QAAGENT_ATTEMPT"])
time.sleep(0.2)
cases = [
    '<testcase classname="t.ok" name="passes" time="0.1"/>',
    '<testcase classname="t.bad" name="fails &lt;script&gt;alert(1)&lt;/script&gt;" file="t/bad.py" line="7">'
    '<failure message="boom">Traceback\\nAssertionError: boom</failure><system-out>captured</system-out></testcase>',
    '<testcase classname="t.skip" name="skipped one"><skipped message="not today"/></testcase>',
    '<testcase classname="t.flaky" name="flaky one">'
    + ('<failure message="first time">tb</failure>' if attempt == 1 else '') + '</testcase>',
]
with open(os.path.join(os.environ["QAAGENT_JUNIT_DIR"], "r.xml"), "w") as handle:
    handle.write('<testsuite name="gen">' + "".join(cases) + "</testsuite>")
sys.exit(1)
"""


def command_project(qa_project: ProjectFactory) -> Path:
    python = json.dumps(sys.executable)
    return qa_project(
        {
            "gen.py": GENERATOR,
            ".qaagent.yaml": f"""
                project: {{name: html}}
                run: {{parallel: true, retry_count: 1}}
                tests:
                  api: {{runner: command, command: [{python}, gen.py]}}
                  web: {{runner: command, command: [{python}, gen.py]}}
            """,
        }
    )


def only_bundle(project: Path, evidence: str = ".qaagent/evidence") -> Path:
    (bundle,) = [p for p in (project / evidence).iterdir() if p.is_dir()]
    return bundle


@pytest.mark.slow
def test_run_all_writes_report_and_qaagent_report_rebuilds_it(qa_project: ProjectFactory) -> None:
    project = command_project(qa_project)
    done = run_qaagent("run-all", "--quiet", cwd=project)
    assert done.returncode == 1, done.stdout + done.stderr
    bundle = only_bundle(project)
    report = bundle / REPORT_NAME
    assert report.is_file()
    assert "```mermaid" in (bundle / "summary.md").read_text(encoding="utf-8")
    assert run_qaagent("verify", str(bundle), cwd=project).returncode == 0
    first = report.read_text(encoding="utf-8")
    assert "fails &lt;script&gt;" not in first  # test names live only in the packed data block
    assert "fails <script>alert(1)</script>" in [row[2] for row in page_data(first)["rows"]]

    report.unlink()
    assert run_qaagent("verify", str(bundle), cwd=project).returncode == 1
    rebuilt = run_qaagent("report", str(bundle), cwd=project)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.strip() == str(bundle / REPORT_NAME)
    assert run_qaagent("verify", str(bundle), cwd=project).stdout.strip().endswith("OK")
    second = report.read_text(encoding="utf-8")
    nonce = re.compile(r"nonce-[A-Za-z0-9_-]+|nonce=\"[A-Za-z0-9_-]+\"")
    assert nonce.sub("", first) == nonce.sub("", second)  # the same page, fresh nonce


@pytest.mark.slow
def test_report_command_bad_input_is_one_line(tmp_path: Path) -> None:
    missing = run_qaagent("report", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1, missing.stderr
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json", encoding="utf-8")
    broken = run_qaagent("report", str(tmp_path / "broken"), cwd=tmp_path)
    assert broken.returncode == 2
    assert broken.stderr.startswith("qaagent: error: ")
    assert broken.stderr.count("\n") == 1, broken.stderr


@pytest.mark.browser
@pytest.mark.slow
def test_real_run_report_in_chromium(tmp_path: Path) -> None:
    """Playwright (failure with screenshot, flaky, skipped) and a command suite, in parallel."""
    require_chromium()
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(
        PLAYWRIGHT_FIXTURE,
        project / "e2e",
        ignore=shutil.ignore_patterns("node_modules", "test-results", "reports"),
    )
    (project / "e2e" / "node_modules").symlink_to(DEMO_MODULES, target_is_directory=True)
    (project / "gen.py").write_text(GENERATOR, encoding="utf-8")
    (project / ".qaagent.yaml").write_text(
        "project: {name: html}\n"
        "run: {retry_count: 1, timeout: 120, parallel: true}\n"
        "reports: {keep_unredactable: true}\n"  # the page links the screenshot, kept knowingly
        "tests:\n"
        "  e2e: {runner: playwright, path: e2e}\n"
        f"  api: {{runner: command, command: [{json.dumps(sys.executable)}, gen.py]}}\n",
        encoding="utf-8",
    )
    started = time.monotonic()
    done = run_qaagent("run-all", "--quiet", cwd=project, timeout=180)
    assert done.returncode == 1, done.stdout + done.stderr
    bundle = only_bundle(project)
    assert run_qaagent("verify", str(bundle), cwd=project).returncode == 0
    manifest = manifest_of(bundle)
    records = records_of(bundle)
    assert {r["status"] for r in records} >= {"passed", "failed", "skipped"}
    assert any(r["flaky"] for r in records)
    shots = [a for r in records for a in r["artifacts"] if a.endswith(".png")]
    assert shots, "the Playwright failure left no screenshot"

    result = open_in_chromium(
        bundle / REPORT_NAME, artifacts_dir(tmp_path) / "html-report.png", search="greeting"
    )
    print(f"run + render took {time.monotonic() - started:.1f} s; first render {result['firstRenderMs']} ms")

    assert_offline_and_clean(result, bundle)
    state = result["state"]
    totals = manifest["totals"]
    assert state["totals"] == {
        k: totals[k] for k in ("total", "passed", "failed", "errors", "skipped", "flaky")
    }
    attempts = [(s["name"], a["number"]) for s in manifest["suites"] for a in s["attempts"]]
    assert len(state["bars"]) == len(attempts) >= 3
    assert [b.split(":")[0] for b in state["bars"]] == [f"{name} attempt {n}" for name, n in attempts]
    assert state["barsFocusable"]
    assert result["focusInfo"] == state["bars"][0]

    failed = [r for r in records if r["status"] == "failed"]
    assert sorted(row["name"].split(" › ")[-1] for row in result["failedRows"]) == sorted(
        r["name"] for r in failed
    )
    assert {row["status"] for row in result["failedRows"]} == {"failed"}

    assert result["images"], "no screenshot shown inline"
    for image in result["images"]:
        assert image["naturalWidth"] > 0, image
    assert {img["src"] for img in result["images"]} <= {a.replace(" ", "%20") for a in shots}
    assert result["searchRows"] == 1  # "shows the greeting" in the first suite's table
    assert (artifacts_dir(tmp_path) / "html-report.png").stat().st_size > 10_000
