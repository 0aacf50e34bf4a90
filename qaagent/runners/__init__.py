"""Suite runners, one module per kind, chosen by the profile's `runner:`."""

from __future__ import annotations

from pathlib import Path

from qaagent.plan import SuitePlan
from qaagent.runners.base import AttemptSpec, Runner
from qaagent.runners.behave import BehaveRunner
from qaagent.runners.command import CommandRunner
from qaagent.runners.playwright import PlaywrightRunner
from qaagent.runners.pytest import PytestRunner
from qaagent.runners.report import ReportRunner

RUNNER_CLASSES: dict[str, type[Runner]] = {
    "pytest": PytestRunner,
    "behave": BehaveRunner,
    "playwright": PlaywrightRunner,
    "command": CommandRunner,
    "report": ReportRunner,
}


def make_runner(suite: SuitePlan, *, repo_root: Path, base_env: dict[str, str]) -> Runner:
    """The runner object for one planned suite."""
    return RUNNER_CLASSES[suite.runner](suite, repo_root=repo_root, base_env=base_env)


__all__ = ["RUNNER_CLASSES", "AttemptSpec", "Runner", "make_runner"]
