"""What every runner answers: all the knowledge of one kind of test tool, behind one set of hooks.

- preflight: can the suite run at all (path, tool, installability);
- `attempt`: the command of an attempt, including the rerun selection of the
  failed tests on a retry;
- units: `list_units` (the test files, as the tool itself lists them, with
  their test counts), `unit_keys` (how a test case maps back to its file),
  `restricted` / `unit_arguments` (run only these files: shards, batches; the
  files the suite's own `args` name give way to them: `selection`), the
  first-run guesses `nominal_test_seconds` / `startup_seconds`, and
  `whole_suite_command` (a recorded restricted command, as a run of the whole
  suite would have run it: `qaagent merge`);
- its results: `result_files` (the files an attempt left, and those it did
  not read and why), `result_format`, `report_base_dir`, `zero_based_lines`,
  `judged_by_exit_code` / `no_report_problem`, `finish_case`;
- what it can do: `runs_command` (a `report` suite only reads files),
  `retryable`, `first_shard_only` (a suite without units that must be read once
  in a sharded run).

Shards, merge and the orchestrator ask the runner; they never switch on its
name. A runner only builds command lines and reads what its tool wrote; it
never runs the suite itself (that is `qaagent.process`) and never writes
shared files (that is the reporting phase).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from qaagent.attempts import IgnoredFile
from qaagent.paths import shown
from qaagent.plan import SuitePlan
from qaagent.results import TestCase
from qaagent.runners.listing import Selection, UnitListing, relative
from qaagent.runners.result_door import ResultFiles, match_files


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
    #: without a JUnit report, the exit code is the result (one test case), not an error
    judged_by_exit_code: bool = False
    #: JUnit `line` attributes are 0-based (pytest); None: decided from the report itself
    zero_based_lines: bool | None = None
    #: False: the suite runs no command; its one attempt reads result files (`report`)
    runs_command: bool = True
    #: whether a retry can change anything (False: the same files would be read again)
    retryable: bool = True
    #: a suite without units read in shard 1 only, so a sharded run publishes it once
    first_shard_only: bool = False
    #: first-run guesses (no recorded durations): seconds per listed test, and one process's
    #: start-up (interpreter, imports, collection) — recorded durations replace both
    nominal_test_seconds: float = 0.1
    startup_seconds: float = 0.5
    #: whether a batch can run the suite's path without some files (`SuitePlan.excluded`), so a
    #: split may take its files from recorded durations instead of listing them first
    runs_the_rest: bool = False

    def __init__(self, suite: SuitePlan, *, repo_root: Path, base_env: dict[str, str]) -> None:
        self.suite = suite
        self.repo_root = repo_root
        self.base_env = base_env
        #: files a glob of the profile matched but that were refused (outside the project, not
        #: regular files), each with why: the caller warns about them, nothing is copied
        self.refused: list[str] = []

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

    # -- units: the test files a suite can be restricted to (shards, batches) --------------------

    def list_units(self) -> UnitListing | None:
        """The suite's test files in report order, as the tool lists them; None: indivisible."""
        return None

    def unit_keys(self, path: Path) -> tuple[str, ...]:
        """The names a test case of test file `path` may carry (default: its file)."""
        return (relative(path, self.repo_root),)

    def restricted(
        self, units: Sequence[Path], *, batch: int | None = None, excluding: Sequence[Path] | None = None
    ) -> Self:
        """This runner for the same suite, running only the test files `units` (absolute).

        `batch`: the number of a split suite's batch (it names the runner's own temporary files).
        `excluding` (a runner that `runs_the_rest`): run the suite's path without these files
        instead — `units` are the files of it that are known.
        """
        rest = None if excluding is None else tuple(excluding)
        suite = dataclasses.replace(self.suite, units=tuple(units), batch=batch, excluded=rest)
        return type(self)(suite, repo_root=self.repo_root, base_env=self.base_env)

    def selection(self) -> Selection:
        """The suite's `args` taken apart into options and test selections (default: all options)."""
        return Selection(tuple(self.suite.config.args))

    def run_args(self) -> list[str]:
        """The suite's `args` for a run: without its own file selections when restricted to units.

        A shard or batch names its files itself; the files `args` name would run in
        every one of them (a Playwright suite whose args name two specs ran both in each shard).
        """
        if self.suite.units is None:
            return list(self.suite.config.args)
        return list(self.selection().options)

    def selection_problem(self) -> str | None:
        """Why the suite cannot be restricted to files: its `args` select less than whole files."""
        finer = self.selection().finer
        if not finer:
            return None
        shown = ", ".join(finer[:3]) + (" …" if len(finer) > 3 else "")  # noqa: PLR2004 - a short quote
        return f"its args select parts of test files ({shown}): it runs whole"

    def unit_arguments(self, units: Sequence[Path]) -> list[str]:
        """The arguments that restrict a run to `units` (default: their paths relative to `cwd`)."""
        return [Path(os.path.relpath(unit, self.cwd)).as_posix() for unit in units]

    def unit_args(self) -> list[str] | None:
        """The arguments for this suite's units; None when it runs whole."""
        return None if self.suite.units is None else self.unit_arguments(self.suite.units)

    @classmethod
    def whole_suite_command(
        cls, argv: Sequence[str], units: Sequence[str], *, path: str | None, working_directory: str
    ) -> tuple[str, ...]:
        """A recorded command that ran `units` (repository-relative files), as a whole run runs it.

        `path` and `working_directory` are the suite's, as a manifest records them
        (repository-relative). The arguments that restricted the run give way to the
        whole suite's; a command without them (a retry of failed tests) stays as it is.
        """
        cwd = cls.recorded_cwd(path, working_directory)
        for start in range(len(argv) - len(units) + 1):
            if units and all(cls.is_unit_argument(argv[start + i], u, cwd) for i, u in enumerate(units)):
                whole = cls.whole_suite_arguments(path, cwd)
                return (*argv[:start], *whole, *argv[start + len(units) :])
        return tuple(argv)

    @classmethod
    def recorded_cwd(cls, path: str | None, working_directory: str) -> str:  # noqa: ARG003 - the Runner interface
        """Where a recorded command ran, relative to the repository (default: the working directory)."""
        return working_directory

    @classmethod
    def is_unit_argument(cls, argument: str, unit: str, cwd: str) -> bool:
        """Whether `argument` is what `unit_arguments` writes for `unit` (all relative to the repository)."""
        return argument == Path(os.path.relpath(unit, cwd)).as_posix()

    @classmethod
    def whole_suite_arguments(cls, path: str | None, cwd: str) -> list[str]:
        """What a run of the whole suite passes instead of its units (default: its path)."""
        return [os.path.relpath(path, cwd)] if path is not None else []

    def _show(self, path: Path) -> str:
        """`path` as messages name it (`paths.shown`: relative to the project, control characters escaped)."""
        return shown(path, self.repo_root)

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

    def result_files(self, attempt_dir: Path) -> ResultFiles:
        """The result files an attempt wrote (default: `attempt_dir/junit/*.xml`, see `match_files`)."""
        return match_files(["*.xml"], cwd=attempt_dir / "junit", repo_root=self.repo_root, own=True)

    @property
    def result_format(self) -> str | None:
        """The format of `result_files` (a name of `qaagent.formats.NAMES`); None: told from content."""
        return "junit"

    def no_report_problem(self, how_it_ended: str, ignored: Sequence[IgnoredFile] = ()) -> str | None:  # noqa: ARG002 - the Runner interface
        """Why an attempt that wrote no result file is an error; None: its exit code is the result.

        `ignored` are the files that matched but were not read (see `result_files`).
        """
        return f"{self.kind} {how_it_ended} and wrote no JUnit report"

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

    def artifacts(self, folder: Path) -> list[Path]:
        """Files worth keeping as evidence besides logs and JUnit: the profile's globs, the runner's own."""
        return [*self.profile_artifacts(), *self.own_artifacts(folder)]

    def own_artifacts(self, folder: Path) -> list[Path]:  # noqa: ARG002 - the Runner interface
        """What the runner's tool wrote into the suite's (or batch's) evidence `folder` (default: nothing)."""
        return []

    def profile_artifacts(self) -> list[Path]:
        """The files the profile's `artifacts` globs match (once per suite, also when it is split)."""
        matched = match_files(self.suite.config.artifacts, cwd=self.cwd, repo_root=self.repo_root)
        for item in matched.ignored:
            self.refused.append(
                f"`artifacts` matched {self._show(item.path)} ({item.reason}): refused, not kept"
            )
        return [path.resolve() for path in matched.files]


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
