"""What every runner provides: a preflight check, the command of an attempt, its JUnit files.

A runner only builds command lines and knows where its tool writes JUnit; it
never runs processes itself (that is `qaagent.process`) and never writes
shared files (that is the reporting phase).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qaagent.plan import SuitePlan
from qaagent.results import TestCase


@dataclass(frozen=True)
class AttemptSpec:
    """The command of one attempt and what it was limited to."""

    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str]
    #: test ids a retry is limited to; empty: the whole suite
    selected: tuple[str, ...] = ()


@dataclass(frozen=True)
class SetupStep:
    """A command a runner needs once before its first attempt (e.g. `npm ci`).

    The orchestrator runs and logs it like an attempt, bounded by the suite's timeout.
    """

    name: str  #: short label for the console and the log file name
    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str]


class Runner(ABC):
    """Base class of the suite runners."""

    #: the `runner:` value in the profile
    kind: str = ""
    #: whether a suite that reports no test at all is an error (a typo in a path must not pass)
    requires_tests: bool = True

    def __init__(self, suite: SuitePlan, *, repo_root: Path, base_env: dict[str, str]) -> None:
        self.suite = suite
        self.repo_root = repo_root
        self.base_env = base_env

    @property
    def cwd(self) -> Path:
        """Where the suite's command runs."""
        return self.suite.working_directory

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The attempt's environment: ours, then the suite's `env`, then the runner's own."""
        env = dict(self.base_env)
        env.update(self.suite.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        if extra:
            env.update(extra)
        return env

    def preflight(self) -> str | None:
        """A reason the suite cannot run at all (missing path or tool), or None."""
        if not self.cwd.is_dir():
            return f"working directory does not exist: {self._show(self.cwd)}"
        if self.suite.path is not None and not self.suite.path.exists():
            return f"test path does not exist: {self._show(self.suite.path)}"
        return None

    def unit_args(self) -> list[str] | None:
        """A shard's test files as arguments relative to `cwd`; None: the suite's whole path."""
        if self.suite.units is None:
            return None
        return [Path(os.path.relpath(unit, self.cwd)).as_posix() for unit in self.suite.units]

    def _show(self, path: Path) -> str:
        try:
            return path.relative_to(self.repo_root).as_posix()
        except ValueError:
            return str(path)

    def tool_missing(self, argv0: str) -> str | None:
        """A message when `argv0` cannot be found (absolute paths must exist; names on PATH)."""
        if os.sep in argv0:
            candidate = Path(argv0) if Path(argv0).is_absolute() else self.cwd / argv0
            return None if candidate.exists() else f"tool not found: {argv0}"
        path = self.env().get("PATH", os.environ.get("PATH", ""))
        return None if shutil.which(argv0, path=path) else f"tool not found on PATH: {argv0}"

    @abstractmethod
    def attempt(self, number: int, attempt_dir: Path, failed: Sequence[TestCase]) -> AttemptSpec:
        """The command of attempt `number` (1-based); `failed` is empty on the first attempt."""

    def junit_files(self, attempt_dir: Path) -> list[Path]:
        """The JUnit files an attempt wrote (default: `attempt_dir/junit/*.xml`)."""
        return sorted((attempt_dir / "junit").glob("*.xml"))

    #: set by a runner when an attempt failed because of the machine, not the tests (the browser
    #: is missing): it becomes the suite's error, and retrying cannot help
    environment_problem: str | None = None

    # -- hooks with do-nothing defaults (the Playwright runner uses them) ------------------------

    def setup_steps(self) -> list[SetupStep]:
        """Commands to run once before the first attempt; a failing one makes the suite an error."""
        return []

    def report_base_dir(self, attempt_dir: Path) -> Path:  # noqa: ARG002 - the Runner interface
        """The folder the JUnit's relative paths start from (default: where the command ran)."""
        return self.cwd

    def finish_case(self, case: TestCase, attempt_dir: Path) -> TestCase:  # noqa: ARG002 - the Runner interface
        """Adjust a case read from an attempt's JUnit (attach artifacts, explain failures)."""
        return case

    def after_attempt(self, attempt_dir: Path) -> None:  # noqa: B027 - an optional hook, not abstract
        """Clean up after an attempt's process ended, whatever happened (always called)."""

    def artifacts(self, attempt_dir: Path) -> list[Path]:  # noqa: ARG002 - the Runner interface
        """Files worth keeping as evidence besides logs and JUnit (default: the profile's globs)."""
        found: list[Path] = []
        for pattern in self.suite.config.artifacts:
            for match in sorted(glob.glob(pattern, root_dir=self.cwd, recursive=True)):
                path = (self.cwd / match).resolve()
                if path.is_file():
                    found.append(path)
        return found


def glob_files(pattern: str, root: Path) -> list[Path]:
    """Files matching a glob relative to `root` (absolute patterns allowed), sorted."""
    if Path(pattern).is_absolute():
        matches = glob.glob(pattern, recursive=True)
    else:
        matches = [str(root / m) for m in glob.glob(pattern, root_dir=root, recursive=True)]
    return sorted(Path(m) for m in matches if Path(m).is_file())


class PythonToolRunner(Runner):
    """A runner whose tool is a Python module: `python -m MODULE`, or the profile's `command:`."""

    #: the module run with this interpreter when the profile gives no `command:`
    module: str = ""

    def base_command(self) -> list[str]:
        """The configured invocation, or this interpreter's `-m MODULE`."""
        if self.suite.config.command:
            return list(self.suite.config.command)
        return [sys.executable, "-m", self.module]

    def preflight(self) -> str | None:
        """Path checks, then whether the module is installed here (or the configured tool on PATH)."""
        problem = super().preflight()
        if problem:
            return problem
        if self.suite.config.command:
            return self.tool_missing(self.base_command()[0])
        if importlib.util.find_spec(self.module) is None:
            return f"{self.module} is not installed for {sys.executable} (pip install {self.module})"
        return None
