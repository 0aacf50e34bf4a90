"""The Playwright runner's decisions without a browser: install plans, wrapper configs, messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from qaagent.attempts import Rerun
from qaagent.plan import SuitePlan
from qaagent.profile import SuiteConfig
from qaagent.results import TestCase
from qaagent.runners.npm import plan_install
from qaagent.runners.playwright import BROWSER_ERROR_TYPE, PlaywrightRunner, browser_problem


def runner(tmp_path: Path, **config: object) -> PlaywrightRunner:
    project = tmp_path / "e2e"
    project.mkdir(exist_ok=True)
    suite = SuitePlan(
        name="e2e",
        runner="playwright",
        config=SuiteConfig.model_validate({"runner": "playwright", "path": "e2e", **config}),
        working_directory=tmp_path,
        path=project,
        timeout=60,
        retry_count=1,
    )
    return PlaywrightRunner(suite, repo_root=tmp_path, base_env={"PATH": "/usr/bin:/bin"})


def test_install_plan_npm_ci_only_with_a_lockfile(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text("{}")
    assert "commit package-lock.json" in (
        plan_install(tmp_path, tmp_path, "@playwright/test", show="e2e").problem or ""
    )
    (tmp_path / "yarn.lock").write_text("")
    assert "yarn install --frozen-lockfile" in (
        plan_install(tmp_path, tmp_path, "x", show="e2e").problem or ""
    )
    (tmp_path / "package-lock.json").write_text("{}")
    plan = plan_install(tmp_path, tmp_path, "x", show="e2e")
    assert plan.problem is None
    assert plan.argv[:2] == ("npm", "ci")
    assert plan.package_dir == tmp_path
    installed = tmp_path / "node_modules" / "x"
    installed.mkdir(parents=True)
    (installed / "package.json").write_text("{}")
    assert plan_install(tmp_path / "sub", tmp_path, "x", show="e2e").argv == ()  # found walking up


def test_install_plan_without_package_json(tmp_path: Path) -> None:
    problem = plan_install(tmp_path, tmp_path, "@playwright/test", show="e2e").problem or ""
    assert "no package.json in e2e" in problem


def test_wrapper_keeps_user_config_and_args(tmp_path: Path) -> None:
    r = runner(tmp_path, args=["--config", "custom.config.ts", "--grep", "x"])
    (tmp_path / "e2e" / "custom.config.ts").write_text("export default {};\n")
    attempt_dir = tmp_path / "bundle" / "suites" / "e2e" / "attempt-1"
    attempt_dir.mkdir(parents=True)
    spec = r.attempt(1, attempt_dir, [])
    wrapper = r.wrapper_path(attempt_dir)
    assert wrapper.suffix == ".ts"
    assert wrapper.parent == tmp_path / "e2e"  # relative paths in the user's config still resolve
    text = wrapper.read_text()
    assert 'import * as loaded from "./custom.config.ts";' in text
    assert "import.meta" not in text  # TypeScript may be compiled to CommonJS
    argv = list(spec.argv)
    assert argv[argv.index("--config") + 1] == str(wrapper)
    assert argv.count("--config") == 1
    assert argv[-2:] == ["--grep", "x"]
    assert argv[argv.index("--output") + 1] == str(
        tmp_path / "bundle" / "suites" / "e2e" / "artifacts" / "attempt-1"
    )
    assert spec.env["PLAYWRIGHT_JUNIT_INCLUDE_RETRIES"] == "1"
    assert spec.env["PLAYWRIGHT_JUNIT_OUTPUT_FILE"] == str(attempt_dir / "junit" / "playwright.xml")
    r.after_attempt(attempt_dir)
    assert not wrapper.exists()


def test_retry_uses_last_failed_only_with_the_previous_record(tmp_path: Path) -> None:
    r = runner(tmp_path)
    (tmp_path / "e2e" / "playwright.config.js").write_text("module.exports = {};\n")
    suite_dir = tmp_path / "suites" / "e2e"
    failed = [TestCase(suite="e2e", classname="a.spec.js", name="t", status="failed")]
    (suite_dir / "attempt-2").mkdir(parents=True)
    spec = r.attempt(2, suite_dir / "attempt-2", failed)
    assert "--last-failed" not in spec.argv  # no record: the whole suite runs again
    assert spec.selected == ()
    record = suite_dir / "artifacts" / "attempt-2" / ".last-run.json"
    record.write_text('{"status": "failed", "failedTests": ["x"]}')
    (suite_dir / "attempt-3").mkdir()
    spec = r.attempt(3, suite_dir / "attempt-3", failed)
    assert "--last-failed" in spec.argv
    assert spec.selected == ("a.spec.js › t",)
    assert (suite_dir / "artifacts" / "attempt-3" / ".last-run.json").read_text() == record.read_text()
    assert r.wrapper_path(suite_dir / "attempt-3").suffix == ".mjs"


def test_finish_case_links_attachments_inside_the_bundle(tmp_path: Path) -> None:
    r = runner(tmp_path)
    attempt_dir = tmp_path / "suites" / "e2e" / "attempt-1"
    shot = tmp_path / "suites" / "e2e" / "artifacts" / "attempt-1" / "t" / "test-failed-1.png"
    shot.parent.mkdir(parents=True)
    shot.write_bytes(b"png")
    (tmp_path / "outside.png").write_bytes(b"png")
    case = TestCase(
        suite="e2e",
        classname="a.spec.js",
        name="t",
        status="passed",
        stdout="[[ATTACHMENT|../../artifacts/attempt-1/gone.png]]\n[[ATTACHMENT|../../../../outside.png]]",
        reruns=(
            Rerun(status="failed", stdout="\n[[ATTACHMENT|../../artifacts/attempt-1/t/test-failed-1.png]]\n"),
        ),
    )
    done = r.finish_case(case, attempt_dir)
    assert done.artifacts == ("suites/e2e/artifacts/attempt-1/t/test-failed-1.png",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Error: browserType.launch: Executable doesn't exist at /nope\n╔═══ many lines ═══╗",
            "the browser is not installed (Playwright looked for /nope): install it with `apt-get install chromium`",
        ),
        (
            "Error: browserType.launch: Target page, context or browser has been closed\nlog...",
            "the browser failed to launch (Error: browserType.launch: Target page",
        ),
        ("expect(locator).toHaveText(expected) failed", None),
    ],
)
def test_browser_problem(text: str, expected: str | None) -> None:
    message = browser_problem(text)
    if expected is None:
        assert message is None
    else:
        assert message is not None
        assert message.startswith(expected)
        assert "\n" not in message


def test_finish_case_rewrites_browser_failures(tmp_path: Path) -> None:
    r = runner(tmp_path)
    case = TestCase(
        suite="e2e",
        classname="a.spec.js",
        name="t",
        status="failed",
        message="browserType.launch: Executable doesn't exist at /opt/chrome",
        details="long stack",
    )
    done = r.finish_case(case, tmp_path / "suites" / "e2e" / "attempt-1")
    assert done.status == "error"
    assert done.type == BROWSER_ERROR_TYPE
    assert done.details == "long stack"  # kept for whoever needs it
    assert "npx playwright install --with-deps chromium" in done.message
