"""`qaagent init`: the suites it finds, the profile it writes (which validates), and real runs of it.

The jest and vitest runs use tests/fixtures/node-runners/node_modules (jest, jest-junit,
vitest from the npm registry, installed by `make test`); the Playwright run the demo's
Playwright and a Chromium. They skip with the reason on a laptop without them and fail
when CI=true.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, ProjectFactory, browser_problems, run_qaagent, skip_unless_ready
from helpers import manifest_of, records_of

from qaagent.init_profile import detect, render
from qaagent.profile_load import parse_profile

NODE_MODULES = ROOT / "tests" / "fixtures" / "node-runners" / "node_modules"
PLAYWRIGHT_FIXTURE = ROOT / "tests" / "fixtures" / "playwright-project"
DEMO_MODULES = ROOT / "examples" / "demo" / "e2e" / "node_modules"

PYTEST_PROJECT = {
    "pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-q'\n",
    "tests/test_cart.py": "def test_total():\n    assert 2 + 3 == 5\n",
}
BEHAVE_PROJECT = {
    "features/cart.feature": "Feature: Cart\n  Scenario: empty\n    Given an empty cart\n",
    "features/steps/steps.py": "from behave import given\n\n@given('an empty cart')\ndef empty(context):\n    pass\n",
}
JEST_PROJECT = {
    "package.json": '{"name": "shop", "scripts": {"test": "jest"}, "devDependencies": {"jest": "*", "jest-junit": "*"}}',
    "sum.test.js": "test('adds', () => { expect(1 + 2).toBe(3); });\n"
    "test('fails on purpose', () => { expect(1 + 1).toBe(3); });\n",
}
VITEST_PROJECT = {
    "web/package.json": '{"name": "web", "scripts": {"test": "vitest"}}',
    "web/sum.test.mjs": "import { test, expect } from 'vitest';\n"
    "test('adds', () => { expect(1 + 2).toBe(3); });\n"
    "test('fails on purpose', () => { expect(1 + 1).toBe(3); });\n",
}


def suites_of(root: Path) -> dict[str, dict[str, object]]:
    profile = yaml.safe_load((root / ".qaagent.yaml").read_text(encoding="utf-8"))
    tests: dict[str, dict[str, object]] = profile["tests"]
    return tests


def test_each_kind_is_detected_and_the_profile_validates(qa_project: ProjectFactory) -> None:
    root = qa_project(
        {
            **PYTEST_PROJECT,
            **BEHAVE_PROJECT,
            **JEST_PROJECT,
            **VITEST_PROJECT,
            "e2e/playwright.config.ts": "export default {};\n",
            "node_modules/x/playwright.config.js": "not a project of ours\n",
        }
    )
    found = detect(root)
    assert [s.name for s in found.suites] == ["unit", "behave", "e2e", "jest", "vitest"]
    text = render(found)
    profile = parse_profile(text)
    assert profile.runner_of("unit") == "pytest"
    assert profile.tests["e2e"].path == "e2e"
    assert profile.tests["vitest"].working_directory == "web"
    assert profile.tests["jest"].env["JEST_JUNIT_OUTPUT_DIR"] == "reports/jest"
    assert "# pytest (pyproject.toml [tool.pytest.ini_options])" in text
    result = run_qaagent("init", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "qaagent: wrote" in result.stdout
    assert "  e2e: Playwright (e2e/playwright.config.ts)" in result.stdout
    validate = run_qaagent("validate", cwd=root)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "profile OK" in validate.stdout


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"pytest.ini": "[pytest]\n"}, {"unit": {"runner": "pytest", "path": "."}}),
        ({"tox.ini": "[tox]\n[pytest]\n"}, {"unit": {"runner": "pytest", "path": "."}}),
        (
            {"setup.cfg": "[tool:pytest]\n", "test/test_a.py": ""},
            {"unit": {"runner": "pytest", "path": "test"}},
        ),
        ({"tests/test_a.py": ""}, {"unit": {"runner": "pytest", "path": "tests"}}),
        ({"package.json": '{"scripts": {"test": "node --test"}}', "README.md": "hello"}, {}),
        ({"features/a.feature": "Feature: x\n"}, {}),  # no steps: not a behave project
    ],
)
def test_what_counts_as_a_suite(
    qa_project: ProjectFactory, files: dict[str, str], expected: dict[str, object]
) -> None:
    root = qa_project(files)
    found = {s.name: dict(line.split(": ", 1) for line in s.entry) for s in detect(root).suites}
    assert {n: {k: yaml.safe_load(v) for k, v in e.items()} for n, e in found.items()} == expected


def test_jest_without_jest_junit_is_told_what_to_install(qa_project: ProjectFactory) -> None:
    root = qa_project({"package.json": '{"scripts": {"test": "jest --coverage"}}'})
    text = render(detect(root))
    assert "# jest-junit is not in package.json yet: npm install --save-dev jest-junit" in text


def test_init_never_overwrites_without_force(qa_project: ProjectFactory) -> None:
    root = qa_project({**PYTEST_PROJECT, ".qaagent.yaml": "# mine\n"})
    result = run_qaagent("init", cwd=root)
    assert result.returncode == 2
    assert "exists already: qaagent init never overwrites a profile (--force does)" in result.stderr
    assert (root / ".qaagent.yaml").read_text(encoding="utf-8") == "# mine\n"
    forced = run_qaagent("init", "--force", cwd=root)
    assert forced.returncode == 0, forced.stderr
    assert "unit" in suites_of(root)


def test_nothing_found_is_a_usage_error_that_says_what_was_looked_for(tmp_path: Path) -> None:
    result = run_qaagent("init", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "no test suite found in" in result.stderr
    assert "playwright.config.*" in result.stderr
    assert not (tmp_path / ".qaagent.yaml").exists()


def test_a_missing_profile_suggests_init(tmp_path: Path) -> None:
    result = run_qaagent("run-all", cwd=tmp_path)
    assert result.returncode == 2
    assert "write one with `qaagent init`" in result.stderr


# -- the generated profiles, run ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("files", [PYTEST_PROJECT, BEHAVE_PROJECT], ids=["pytest", "behave"])
def test_the_generated_profile_runs_python_suites(qa_project: ProjectFactory, files: dict[str, str]) -> None:
    root = qa_project(files)
    assert run_qaagent("init", cwd=root).returncode == 0
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    (suite,) = manifest_of(root)["suites"]
    assert suite["counts"]["passed"] == 1


def node_ready() -> None:
    problems = [] if shutil.which("npx") else ["npx (Node.js) is not on PATH"]
    if not (NODE_MODULES / ".bin" / "jest").exists() or not (NODE_MODULES / ".bin" / "vitest").exists():
        problems.append(
            "jest and vitest are not installed: make node-deps (npm ci in tests/fixtures/node-runners)"
        )
    skip_unless_ready(problems)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("files", "folder", "suite"),
    [(JEST_PROJECT, ".", "jest"), (VITEST_PROJECT, "web", "vitest")],
    ids=["jest", "vitest"],
)
def test_the_generated_profile_runs_jest_and_vitest(
    qa_project: ProjectFactory, files: dict[str, str], folder: str, suite: str
) -> None:
    """The README's jest and vitest suites (what init writes) produce JUnit for real."""
    node_ready()
    root = qa_project(files)
    (root / folder / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    assert run_qaagent("init", cwd=root).returncode == 0
    assert list(suites_of(root)) == [suite]
    result = run_qaagent("run-all", cwd=root, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr  # one test fails on purpose
    records = {r["name"]: r for r in records_of(root) if r["suite"] == suite}
    assert records["adds"]["status"] == "passed"
    assert records["fails on purpose"]["status"] == "failed"
    failed = records["fails on purpose"]
    # each tool's own words: jest's "expect(received).toBe(expected)", vitest's "expected 2 to be 3"
    assert failed["message"] in (
        "Error: expect(received).toBe(expected) // Object.is equality",
        "expected 2 to be 3 // Object.is equality",
    ), failed["message"]
    where = ("sum.test.js", 2) if suite == "jest" else ("web/sum.test.mjs", 3)  # the failing expect
    assert (failed["file"], failed["line"]) == where
    (entry,) = manifest_of(root)["suites"]
    assert entry["error"] is None  # the report was found: no "no JUnit file" error


@pytest.mark.browser
@pytest.mark.slow
def test_the_generated_profile_runs_playwright(tmp_path: Path) -> None:
    skip_unless_ready(browser_problems())
    root = tmp_path / "project"
    shutil.copytree(
        PLAYWRIGHT_FIXTURE, root / "e2e", ignore=shutil.ignore_patterns("node_modules", "reports")
    )
    (root / "e2e" / "node_modules").symlink_to(DEMO_MODULES, target_is_directory=True)
    assert run_qaagent("init", cwd=root).returncode == 0
    assert suites_of(root) == {"e2e": {"runner": "playwright", "path": "e2e"}}
    result = run_qaagent("run-all", cwd=root, timeout=180)
    assert result.returncode == 1, result.stdout + result.stderr  # the fixture fails one test on purpose
    records = {r["name"]: r["status"] for r in records_of(root)}
    assert records["shows the greeting"] == "passed"
    assert records["fails on purpose"] == "failed"
