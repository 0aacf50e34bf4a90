"""Playwright suites under `qaagent run-all`, in a real Chromium with the real Playwright Test.

The project is `tests/fixtures/playwright-project` (pass, fail, flaky via
Playwright's own retries, skipped), copied into a temporary folder. One test
installs it with qaagent's own `npm ci` step; the others share the demo's
`node_modules` through a symlink to save time.

Browser tests skip on a laptop without Chromium or without
`examples/demo/e2e/node_modules` (run `npm ci` there), but fail when `CI=true`,
so CI can never go green by skipping them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from conftest import (
    ROOT,
    SCHEMAS,
    ProjectFactory,
    browser_problems,
    run_qaagent,
    skip_unless_ready,
    start_qaagent,
    unique_marker,
)
from helpers import manifest_of, records_text

FIXTURE = ROOT / "tests" / "fixtures" / "playwright-project"
DEMO_MODULES = ROOT / "examples" / "demo" / "e2e" / "node_modules"


def require_browser(*, chromium: bool = True) -> None:
    """Skip (fail when CI=true) unless npx, the installed Playwright and (if asked) Chromium exist.

    The browser is the tests' own (conftest.TEST_CHROMIUM), passed to every qaagent they start.
    """
    skip_unless_ready(browser_problems(chromium=chromium))


def make_project(root: Path, *, link_modules: bool = True, suite: str = "", keep_media: bool = False) -> Path:
    """A project with the fixture under `e2e/` and a profile; returns the project root.

    `keep_media`: the profile keeps what the redaction cannot see into (screenshots, traces).
    """
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        FIXTURE, root / "e2e", ignore=shutil.ignore_patterns("node_modules", "test-results", "reports")
    )
    if link_modules:
        (root / "e2e" / "node_modules").symlink_to(DEMO_MODULES, target_is_directory=True)
    (root / ".qaagent.yaml").write_text(
        "project: {name: pw}\n"
        "run: {retry_count: 1, timeout: 120}\n"
        + ("reports: {keep_unredactable: true}\n" if keep_media else "")
        + "tests:\n"
        f"  e2e: {{runner: playwright, path: e2e{suite}}}\n",
        encoding="utf-8",
    )
    return root


def bundle_of(project: Path) -> Path:
    """The one evidence bundle of a run."""
    bundles = sorted((project / ".qaagent" / "evidence").iterdir())
    assert len(bundles) == 1, bundles
    return bundles[0]


def records(bundle: Path) -> dict[str, dict[str, Any]]:
    """tests.jsonl by test name."""
    lines = records_text(bundle).splitlines()
    return {r["name"]: r for r in map(json.loads, lines)}


def processes_with_env(marker: str) -> dict[int, str]:
    """Live processes (pid → name) whose environment contains `marker`; browsers inherit it."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            status = (entry / "status").read_text()
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if marker.encode() in environ and "\nState:\tZ" not in status:
            found[int(entry.name)] = name
    return found


@pytest.mark.browser
@pytest.mark.slow
def test_real_project_counts_flaky_location_artifacts(tmp_path: Path) -> None:
    require_browser()
    # qaagent runs `npm ci` itself; the profile keeps screenshots and traces (unredactable)
    project = make_project(tmp_path / "project", link_modules=False, keep_media=True)

    done = run_qaagent("run-all", "--profile", ".qaagent.yaml", cwd=project, timeout=180)

    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "setup: npm ci" in out
    assert "2 passed, 1 failed, 0 errors, 1 skipped, 1 flaky" in out
    bundle = bundle_of(project)
    by_name = records(bundle)
    assert {n: r["status"] for n, r in by_name.items()} == {
        "shows the greeting": "passed",
        "fails on purpose": "failed",
        "is skipped": "skipped",
        "passes on the retry": "passed",
    }
    flaky = by_name["passes on the retry"]
    assert flaky["flaky"] is True
    assert flaky["attempts"] == 2
    # a flaky test keeps the line of its failure (the passing retry has no stack to take it from)
    assert (flaky["file"], flaky["line"]) == ("e2e/tests/flaky.spec.js", 9)
    failed = by_name["fails on purpose"]
    assert (failed["file"], failed["line"]) == ("e2e/tests/basic.spec.js", 13)
    assert failed["attempts"] == 2
    assert by_name["shows the greeting"]["file"] == "e2e/tests/basic.spec.js"  # via testDir

    # Screenshots and traces are in the bundle, linked from the failing and flaky tests.
    for record in (failed, flaky):
        names = [Path(a).name for a in record["artifacts"]]
        assert "test-failed-1.png" in names, record["artifacts"]
        assert "trace.zip" in names, record["artifacts"]
        for rel in record["artifacts"]:
            assert rel.startswith("suites/e2e/artifacts/"), rel
            assert (bundle / rel).is_file(), rel
    manifest = manifest_of(bundle)
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    for rel in failed["artifacts"]:
        assert listed[rel] == hashlib.sha256((bundle / rel).read_bytes()).hexdigest()
    (suite,) = manifest["suites"]
    assert set(failed["artifacts"]) <= set(suite["files"])
    assert "suites/e2e/setup/npm-ci.log" in suite["files"]
    verified = run_qaagent("verify", str(bundle), cwd=project)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # qaagent's retry ran only the failed test, with --last-failed.
    first, second = suite["attempts"]
    assert "--last-failed" not in first["command"]
    assert "--last-failed" in second["command"]
    # (its JUnit was read completely, so the bundle keeps its digest and junit.xml its case)
    assert [Path(r["path"]).name for r in second["junit_read"]] == ["playwright.xml"]
    retry_log = (bundle / "suites" / "e2e" / "attempt-2" / "output.log").read_text(encoding="utf-8")
    assert "Running 1 test" in retry_log, retry_log[-2000:]

    # The project's own reporters still ran; the generated wrapper config is gone.
    assert (project / "e2e" / "reports" / "results.json").is_file()
    assert not list((project / "e2e").glob(".qaagent-*"))

    # The merged JUnit is valid and says flaky the Surefire way.
    merged = bundle / "junit.xml"
    xmlschema.XMLSchema(SCHEMAS / "junit-qaagent.xsd").validate(str(merged))
    cases = {c.get("name"): c for c in ET.parse(merged).iter("testcase")}  # noqa: S314 - our own output
    assert cases["passes on the retry"].find("flakyFailure") is not None
    assert cases["fails on purpose"].find("failure") is not None
    assert cases["fails on purpose"].get("line") == "13"


@pytest.mark.browser
@pytest.mark.slow
def test_timeout_mid_test_leaves_no_browser(tmp_path: Path) -> None:
    require_browser()
    marker = unique_marker()
    # 25 s: at load ~9 on 2 cores, Playwright's start took more than 10 s, and the timeout
    # stopped the suite before the browser it is here to kill had started (seen with both
    # Debian browsers, 2026-12-02). The longer wait is idle, not CPU.
    project = make_project(
        tmp_path / "project",
        suite=f", timeout: 25, retry_count: 0, env: {{FIXTURE_SLOW: '1', QA_MARKER: {marker}}}, "
        "args: [tests/slow.spec.js]",
    )
    proc = start_qaagent("run-all", "--profile", ".qaagent.yaml", cwd=project)
    try:
        browser_seen = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if any("chrom" in name for name in processes_with_env(marker).values()):
                browser_seen = True
                break
            time.sleep(0.2)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert browser_seen, f"the browser never started:\n{out}"
    assert proc.returncode == 1, out
    assert "timed out after 25 s" in out
    left: dict[int, str] = {}
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        left = processes_with_env(marker)
        if not left:
            break
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    assert not left, f"processes left running after the timeout: {left}"


@pytest.mark.slow
@pytest.mark.browser
def test_missing_chromium_is_a_suite_error_saying_what_to_install(tmp_path: Path) -> None:
    require_browser(chromium=False)
    project = make_project(tmp_path / "project", suite=", retry_count: 2, args: [--grep, greeting]")

    done = run_qaagent(
        "run-all", "--profile", ".qaagent.yaml", cwd=project, env={"QAAGENT_CHROMIUM": "/nope"}, timeout=90
    )

    assert done.returncode == 1, done.stdout + done.stderr
    (record,) = records(bundle_of(project)).values()
    assert record["status"] == "error"
    assert record["message"].startswith("the browser is not installed (Playwright looked for /nope)")
    assert "apt-get install chromium" in record["message"]
    assert "\n" not in record["message"]
    assert "Traceback" not in done.stderr
    # The suite itself says why, and a missing browser is not retried: it would fail the same way.
    manifest = manifest_of(bundle_of(project))
    (entry,) = manifest["suites"]
    assert entry["error"] == record["message"]
    assert len(entry["attempts"]) == 1
    assert "[e2e] not retried: the browser is not installed" in done.stdout


@pytest.mark.browser
@pytest.mark.slow
def test_a_crash_before_the_report_says_its_cause(tmp_path: Path) -> None:
    """Playwright's `Project(s) "…" not found` in the console line, the summary and the annotation."""
    require_browser(chromium=False)
    project = make_project(tmp_path / "project", suite=", args: [--project=nope]")
    done = run_qaagent("run-all", "--profile", ".qaagent.yaml", cwd=project, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    cause = 'Error: Project(s) "nope" not found.'
    (record,) = records(bundle_of(project)).values()
    assert record["status"] == "error"
    assert record["message"].startswith("playwright exited with code 1 and wrote no JUnit report: " + cause)
    failures = done.stdout.split("failures (1):", 1)[1]
    assert cause in failures.splitlines()[2]  # the console line under the suite error
    summary = (bundle_of(project) / "summary.md").read_text(encoding="utf-8")
    assert 'Project(s) "nope" not found' in summary


@pytest.mark.browser
@pytest.mark.slow
def test_plan_without_playwright_shows_npx_line(qa_project: ProjectFactory) -> None:
    """Listing spec files when Playwright is missing: npx's own line, not npm's log pointer."""
    require_browser(chromium=False)
    project = qa_project(
        {
            ".qaagent.yaml": "tests:\n  e2e: {runner: playwright, path: e2e}\n",
            "e2e/playwright.config.js": "module.exports = {};\n",
            "e2e/package.json": '{"name": "x", "version": "1.0.0"}\n',
        }
    )
    done = run_qaagent("plan", "--shards", "2", cwd=project, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "npx canceled due to missing packages" in done.stdout
    assert "A complete log of this run" not in done.stdout


@pytest.mark.slow
def test_path_without_playwright_config(qa_project: ProjectFactory) -> None:
    project = qa_project(
        {
            ".qaagent.yaml": """
                project: {name: pw}
                tests:
                  e2e: {runner: playwright, path: e2e}
            """,
            "e2e/tests/a.spec.js": "// no config next to me\n",
        }
    )
    done = run_qaagent("run-all", "--profile", ".qaagent.yaml", cwd=project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no playwright.config.* in e2e" in done.stdout
    (record,) = records(bundle_of(project)).values()
    assert record["status"] == "error"
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_project_without_lockfile(qa_project: ProjectFactory) -> None:
    project = qa_project(
        {
            ".qaagent.yaml": """
                project: {name: pw}
                tests:
                  e2e: {runner: playwright, path: e2e}
            """,
            "e2e/package.json": '{"name": "x", "devDependencies": {"@playwright/test": "1.65.1"}}\n',
            "e2e/playwright.config.js": "module.exports = {};\n",
        }
    )
    done = run_qaagent("run-all", "--profile", ".qaagent.yaml", cwd=project)
    assert done.returncode == 1, done.stdout + done.stderr
    (record,) = records(bundle_of(project)).values()
    assert record["status"] == "error"
    assert "commit package-lock.json" in record["message"]
    assert "npm ci" in record["message"]
    assert not (project / "e2e" / "node_modules").exists()  # nothing was installed
