"""The runner registry: each runner name (`qaagent.runners.names`) to its `Runner` class."""

from __future__ import annotations

from pathlib import Path

from qaagent.plan import SuitePlan
from qaagent.runners.base import Runner
from qaagent.runners.behave import BehaveRunner
from qaagent.runners.command import CommandRunner
from qaagent.runners.names import RunnerName
from qaagent.runners.playwright import PlaywrightRunner
from qaagent.runners.pytest import PytestRunner
from qaagent.runners.report import ReportRunner

RUNNER_CLASSES: dict[RunnerName, type[Runner]] = {
    "pytest": PytestRunner,
    "behave": BehaveRunner,
    "playwright": PlaywrightRunner,
    "command": CommandRunner,
    "report": ReportRunner,
}


def runner_class(name: object) -> type[Runner] | None:
    """The class of the runner named `name` (text read from a bundle, say); None for no runner."""
    return next((cls for known, cls in RUNNER_CLASSES.items() if known == name), None)


def make_runner(suite: SuitePlan, *, repo_root: Path, base_env: dict[str, str]) -> Runner:
    """The runner object for one planned suite."""
    return RUNNER_CLASSES[suite.runner](suite, repo_root=repo_root, base_env=base_env)
