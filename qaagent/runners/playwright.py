"""Playwright Test suites: `npx playwright test` with the JUnit reporter added; retries use --last-failed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qaagent.results import TestCase
from qaagent.runners.base import AttemptSpec, Runner

CONFIG_NAMES = (
    "playwright.config.ts",
    "playwright.config.js",
    "playwright.config.mjs",
    "playwright.config.cjs",
)


class PlaywrightRunner(Runner):
    """Runs in the suite's `path` (the folder with `playwright.config.*`)."""

    kind = "playwright"

    @property
    def project_dir(self) -> Path:
        """The Playwright project folder."""
        return self.suite.path if self.suite.path is not None else self.cwd

    @property
    def cwd(self) -> Path:
        """Playwright runs in its project folder."""
        return self.project_dir

    def preflight(self) -> str | None:
        """Project folder, config and npx checks."""
        problem = super().preflight()
        if problem:
            return problem
        if not any((self.project_dir / name).exists() for name in CONFIG_NAMES):
            return f"no playwright.config.* in {self._show(self.project_dir)}"
        return self.tool_missing(self.base_command()[0])

    def base_command(self) -> list[str]:
        """The configured invocation or `npx playwright test`."""
        if self.suite.config.command:
            return list(self.suite.config.command)
        return ["npx", "playwright", "test"]

    def attempt(self, number: int, attempt_dir: Path, failed: Sequence[TestCase]) -> AttemptSpec:  # noqa: ARG002 - the Runner interface
        """First attempt: every test; retries: `--last-failed`."""
        junit = attempt_dir / "junit" / "playwright.xml"
        junit.parent.mkdir(parents=True, exist_ok=True)
        extra = {
            "PLAYWRIGHT_JUNIT_OUTPUT_FILE": str(junit),
            "PLAYWRIGHT_JUNIT_INCLUDE_RETRIES": "1",
            "CI": self.base_env.get("CI", "1") or "1",
        }
        argv = [*self.base_command(), "--reporter=list,junit"]
        selected: tuple[str, ...] = ()
        if failed:
            argv.append("--last-failed")
            selected = tuple(f"{c.classname} › {c.name}" for c in failed)
        argv.extend(self.suite.config.args)
        return AttemptSpec(tuple(argv), self.cwd, self.env(extra), selected)
