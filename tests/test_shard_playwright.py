"""Sharding Playwright suites: the spec files are the ones Playwright lists, and a shard runs exactly them.

`playwright test --list` starts no browser, so these tests need Node.js and the
demo's installed Playwright (shared through a symlink) but not Chromium.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import DEMO_MODULES, ROOT, browser_problems, run_qaagent, skip_unless_ready
from helpers import manifest_of

from qaagent.plan import build_plan
from qaagent.process import capture
from qaagent.profile_load import load_profile
from qaagent.runners.playwright import PlaywrightRunner, spec_filter

# cold: shards and merges are separate processes that must agree whatever their hash seeds (a zygote's children share one)
pytestmark = pytest.mark.cold_start

FIXTURE = ROOT / "tests" / "fixtures" / "playwright-project"
SPEC = "const { test } = require('@playwright/test');\ntest('it', async () => {});\n"


def _project(root: Path) -> Path:
    skip_unless_ready(browser_problems(chromium=False))
    root.mkdir(parents=True)
    shutil.copytree(FIXTURE, root / "e2e", ignore=shutil.ignore_patterns("node_modules", "test-results"))
    (root / "e2e" / "node_modules").symlink_to(DEMO_MODULES, target_is_directory=True)
    (root / ".qaagent.yaml").write_text(
        "project: {name: pw}\ntests:\n  e2e: {runner: playwright, path: e2e}\n", encoding="utf-8"
    )
    return root


@pytest.mark.slow
def test_specs_playwright_ignores_are_not_units(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    # the fixture's config ignores slow.spec.js (testIgnore); a helper outside testDir is no spec either
    (root / "e2e" / "helpers.spec.js").write_text(SPEC, encoding="utf-8")
    result = run_qaagent("plan", "--shards", "4", "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    listed = [u["path"] for s in data["shards"] for u in s["units"]]
    assert listed == ["e2e/tests/basic.spec.js", "e2e/tests/flaky.spec.js"]
    assert "kept whole" not in data["reason"]
    # the shards beyond the two specs have nothing to do: an empty bundle, not "No tests found"
    run = run_qaagent("run-all", "--shard", "3/4", "--evidence-dir", "ev", cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    (bundle,) = (root / "ev").iterdir()
    assert manifest_of(bundle)["suites"] == []


@pytest.mark.slow
def test_a_project_playwright_cannot_list_is_kept_whole(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    (root / "e2e" / "tests" / "broken.spec.js").write_text("this is not javascript(\n", encoding="utf-8")
    result = run_qaagent("plan", "--shards", "2", "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [u["path"] for s in data["shards"] for u in s["units"]] == [None]  # the whole suite, in one shard
    assert "suite e2e kept whole: playwright test --list" in data["reason"]


@pytest.mark.slow
def test_a_shard_passes_its_spec_files_as_exact_filters(tmp_path: Path) -> None:
    """Playwright reads file arguments as regular expressions: `(`, `+` and prefixes must not leak."""
    root = _project(tmp_path / "p")
    tests = root / "e2e" / "tests"
    (tests / "x (1)+.spec.js").write_text(SPEC, encoding="utf-8")
    (tests / "sub" / "tests").mkdir(parents=True)
    (tests / "sub" / "tests" / "basic.spec.js").write_text(
        SPEC, encoding="utf-8"
    )  # `tests/basic.spec.js` too
    plan = build_plan(load_profile(root / ".qaagent.yaml"), repo_root=root)
    suite = dataclasses.replace(plan.suites[0], units=(tests / "x (1)+.spec.js", tests / "basic.spec.js"))
    runner = PlaywrightRunner(suite, repo_root=root, base_env={})
    filters = runner.unit_args()
    assert filters is not None
    code, out, err = capture(
        [*runner.base_command(), "--list", "--reporter=json", *filters],
        cwd=root / "e2e",
        env=dict(os.environ),
        timeout=60,
    )
    assert code == 0, err
    files = [s["file"] for s in json.loads(out)["suites"]]
    assert sorted(files) == ["basic.spec.js", "x (1)+.spec.js"]


def test_spec_filter_is_anchored_and_escaped() -> None:
    assert spec_filter(Path("/r/e2e/tests/a (1).spec.js")) == r"/^/r/e2e/tests/a\ \(1\)\.spec\.js$/"
