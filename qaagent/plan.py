"""The effective plan of one run: which suites, in what order, with which settings.

Command-line flags and action inputs override the profile here, for one run,
without touching the loaded profile.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qaagent.command_options import RunOptions
from qaagent.errors import UsageError
from qaagent.options import Shard, SplitSetting
from qaagent.paths import confine, recorded
from qaagent.process import child_environment
from qaagent.profile import AppSettings, LoadedProfile, SuiteConfig
from qaagent.run_result import FailOn
from qaagent.runners.names import PROFILE_RULES, RunnerName


@dataclass(frozen=True)
class SuitePlan:
    """One suite as it will run."""

    name: str
    runner: RunnerName
    config: SuiteConfig
    working_directory: Path  #: absolute
    path: Path | None  #: absolute test path (file or folder), when the suite has one
    timeout: float
    retry_count: int
    env: Mapping[str, str] = field(default_factory=dict)
    #: sharding: only these test files (absolute); None runs the whole `path`
    units: tuple[Path, ...] | None = None
    #: a split suite's batch that runs the rest: its `path` without these files (the other batches');
    #: None: it runs `units` (`Runner.runs_the_rest`)
    excluded: tuple[Path, ...] | None = None
    #: `split:` as the profile asks (the schedule decides whether it splits, and says why not)
    split: SplitSetting = "off"
    #: a batch of a split suite: its number (1-based), for file and console names
    batch: int | None = None
    #: qaagent's own outputs (the merged JUnit report, the evidence folder): never read as results
    own_outputs: tuple[Path, ...] = ()


@dataclass(frozen=True)
class WorkItem:
    """One process slot's work: a whole suite, or one batch of a split suite's test files."""

    suite: str
    batch: int | None = None  #: 1-based; None: the whole suite
    units: tuple[Path, ...] = ()  #: a batch's test files (absolute), in report order
    positions: tuple[int, ...] = ()  #: each file's position in the suite's listing (report order)
    #: estimated seconds, one process start-up included (equal weights when nothing is known)
    estimate: float = 0.0
    #: the batch that runs the suite's path without the other batches' files (their files came from
    #: recorded durations: a file added since runs here, once)
    rest: bool = False

    @property
    def label(self) -> str:
        """``unit#2`` for a batch, ``unit`` for a whole suite (console prefixes, the plan)."""
        return self.suite if self.batch is None else f"{self.suite}#{self.batch}"


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask where there is one), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Plan:
    """Everything the orchestrator and the reports need to know before running."""

    project: str
    loaded: LoadedProfile
    repo_root: Path
    suites: tuple[SuitePlan, ...]  #: in suite_order
    parallel: bool
    #: as asked (flag, input or profile); None: the CPU count. The pool size is `workers`.
    max_workers: int | None
    fail_on: tuple[FailOn, ...]
    junit_path: Path
    evidence_dir: Path
    keep: int
    max_output: int
    app: AppSettings | None
    #: keep files the bundle's redaction cannot see into (reports.keep_unredactable)
    keep_unredactable: bool = False
    #: where the app is started: `app.working_directory` confined to the project, else the profile's folder
    app_directory: Path | None = None
    #: suite names in the order they are started (suite_order unless a scheduler says otherwise)
    start_order: tuple[str, ...] = ()
    start_order_reason: str = "suite_order"
    skipped_disabled: tuple[str, ...] = ()
    #: `I/N` when this run is one shard of a matrix (see qaagent.shard), with the whole split
    shard: Shard | None = None
    shard_layout: Mapping[str, Any] | None = None
    #: the one queue of work, longest first (`qaagent.batching`); empty: each suite whole, in start_order
    work: tuple[WorkItem, ...] = ()
    #: the batches and the predicted makespan, as the manifest records them (None: nothing was split)
    split_layout: Mapping[str, Any] | None = None

    @property
    def slots(self) -> int:
        """Processes at once as asked: `max_workers`, else the CPU count; 1 when sequential."""
        if not self.parallel:
            return 1
        return self.max_workers or cpu_count()

    @property
    def workers(self) -> int:
        """The pool's size: `slots`, at most one per item of work (the one clamp)."""
        items = len(self.work) if self.work else len(self.suites)
        return max(1, min(self.slots, items))

    @property
    def queue(self) -> tuple[WorkItem, ...]:
        """The work in the order it is handed out: `work`, or each suite whole in `start_order`."""
        if self.work:
            return self.work
        by_name = {s.name: s for s in self.suites}
        return tuple(WorkItem(name) for name in self.start_order if name in by_name)

    def settings(self) -> dict[str, Any]:
        """The effective settings, as recorded in the manifest."""
        return {
            "parallel": self.parallel,
            "max_workers": self.workers,
            "fail_on": list(self.fail_on),
            "suite_order": [s.name for s in self.suites],
            "start_order": list(self.start_order),
            "start_order_reason": self.start_order_reason,
            "disabled": list(self.skipped_disabled),
            "junit": str(self.junit_path),
            "evidence_dir": str(self.evidence_dir),
            "keep": self.keep,
            "max_output": self.max_output,
            "keep_unredactable": self.keep_unredactable,
            "suites": {
                s.name: {
                    "runner": s.runner,
                    "timeout": s.timeout,
                    "retry_count": s.retry_count,
                    "working_directory": recorded(s.working_directory, self.repo_root),
                    "path": recorded(s.path, self.repo_root) if s.path else None,
                    "command": list(s.config.command) if s.config.command else None,
                    "args": list(s.config.args),
                    "junit": s.config.junit,
                    "files": list(s.config.files) if s.config.files is not None else None,
                    "format": s.config.format,
                    "artifacts": list(s.config.artifacts),
                    "split": s.split,
                    # names only: values may be secrets, and the profile holds them anyway
                    "env": sorted(s.env),
                }
                for s in self.suites
            },
            "app": None
            if self.app is None
            else {
                "base_url": self.app.base_url,
                "health_endpoint": self.app.health_endpoint,
                "start_command": list(self.app.start_command or ()),
                "startup_timeout": self.app.startup_timeout,
            },
            "shard": None if self.shard_layout is None else dict(self.shard_layout),
            "split": None if self.split_layout is None else dict(self.split_layout),
        }


def find_repo_root(start: Path, environ: Mapping[str, str] | None = None) -> Path:
    """GITHUB_WORKSPACE when it contains `start`, else the git top level, else `start`."""
    env = os.environ if environ is None else environ
    workspace = env.get("GITHUB_WORKSPACE")
    if workspace:
        ws = Path(workspace).resolve()
        if start == ws or ws in start.parents:
            return ws
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=start,
            env=child_environment(os.environ),
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return start
    if out.returncode == 0 and out.stdout.strip():
        return Path(out.stdout.strip()).resolve()
    return start


def build_plan(
    loaded: LoadedProfile, options: RunOptions | None = None, *, repo_root: Path | None = None
) -> Plan:
    """The profile with the run's options applied, every path resolved; `UsageError` on a bad selection."""
    ov = options or RunOptions()
    profile = loaded.profile
    base = loaded.directory
    root = repo_root if repo_root is not None else find_repo_root(base)

    ordered = profile.ordered_suites
    if ov.suites:
        unknown = [name for name in ov.suites if name not in profile.tests]
        if unknown:
            raise UsageError(
                f"{ov.suites_source} names unknown suite(s): {', '.join(unknown)} "
                f"(known: {', '.join(ordered)})"
            )
        chosen = [name for name in ordered if name in ov.suites]
        disabled: list[str] = []
    else:
        chosen = [name for name in ordered if profile.tests[name].enabled]
        disabled = [name for name in ordered if not profile.tests[name].enabled]
    if not chosen:
        msg = "no suite to run: every suite is disabled (enabled: false)"
        raise UsageError(msg)

    timeout = ov.timeout if ov.timeout is not None else profile.run.timeout
    retries = ov.retries
    inside = _ProjectPaths(root.resolve(), _shown(loaded.path))
    suites = []
    for name in chosen:
        config = profile.tests[name]
        workdir = (
            inside.check(config.working_directory, base, f"tests.{name}.working_directory")
            if config.working_directory
            else base
        )
        test_path = config.test_path
        if test_path:
            inside.check(test_path, workdir, f"tests.{name}.path")
        suites.append(
            SuitePlan(
                name=name,
                runner=profile.runner_of(name),
                config=config,
                working_directory=workdir,
                path=(workdir / test_path).resolve() if test_path else None,
                timeout=ov.timeout if ov.timeout is not None else (config.timeout or timeout),
                retry_count=retries
                if retries is not None
                else (config.retry_count if config.retry_count is not None else profile.run.retry_count),
                env=dict(config.env),
                split=config.split,
            )
        )

    app = profile.app
    app_directory = (
        inside.check(app.working_directory, base, "app.working_directory")
        if app is not None and app.working_directory
        else base
    )
    parallel = profile.run.parallel if ov.parallel is None else ov.parallel
    reports = profile.reports
    junit_path = ov.junit if ov.junit is not None else inside.check(reports.junit, base, "reports.junit")
    evidence_dir = (
        ov.evidence_dir
        if ov.evidence_dir is not None
        else inside.check(reports.evidence_dir, base, "reports.evidence_dir")
    )
    own_outputs = (junit_path, evidence_dir)
    return Plan(
        project=profile.project.name,
        loaded=loaded,
        repo_root=root,
        suites=tuple(replace(suite, own_outputs=own_outputs) for suite in suites),
        parallel=parallel,
        max_workers=ov.max_workers or profile.run.max_workers,
        fail_on=tuple(ov.fail_on if ov.fail_on is not None else profile.run.fail_on),
        junit_path=junit_path,
        evidence_dir=evidence_dir,
        keep=ov.keep if ov.keep is not None else reports.keep,
        max_output=reports.max_output,
        keep_unredactable=reports.keep_unredactable,
        app=app,
        app_directory=app_directory,
        start_order=tuple(chosen),
        skipped_disabled=tuple(disabled),
    )


@dataclass(frozen=True)
class _ProjectPaths:
    """Paths from the profile (semi-trusted: a pull request may change it) stay in the project.

    The one check (`qaagent.paths.confine`): resolved with links followed, inside the
    project folder, no control character. Command-line flags are the user's and not checked.
    """

    root: Path
    profile: str  #: the profile as shown in messages

    def check(self, value: str, base: Path, field: str) -> Path:
        what = f"{self.profile}: profile value {field}"
        return confine(value, base=base, root=self.root, what=what, where="the project")


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is below it (as the user typed it)."""
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def describe(plan: Plan) -> list[str]:
    """Human-readable lines for `qaagent validate`."""
    mode = f"parallel, {plan.workers} worker(s)" if plan.parallel else "sequential"
    if plan.parallel and plan.max_workers is None:
        mode += " (max_workers: the CPU count)"
    lines = [
        f"profile: {plan.loaded.path} (sha256 {plan.loaded.sha256[:12]})",
        f"project: {plan.project}",
        f"mode: {mode}; fail on: {', '.join(plan.fail_on)}",
        f"repository root: {plan.repo_root}",
        f"junit: {plan.junit_path}",
        f"evidence: {plan.evidence_dir} (keep {plan.keep})",
    ]
    if plan.app is not None:
        start = " ".join(plan.app.start_command or ()) or "(not started by qaagent)"
        lines.append(f"app: {plan.app.base_url}{plan.app.health_endpoint} ← {start}")
    lines.append("suites (suite_order):")
    for index, suite in enumerate(plan.suites, 1):
        where = recorded(suite.path, plan.repo_root) if suite.path else " ".join(suite.config.command or ())
        if not PROFILE_RULES[suite.runner].runs_command:
            where = f"reads {suite.config.result_key}"
        split = "" if suite.split == "off" else f", split {suite.split}"
        lines.append(
            f"  {index}. {suite.name}: {suite.runner} {where} "
            f"(timeout {suite.timeout:g} s, retries {suite.retry_count}{split})"
        )
    lines.extend(f"  -  {name}: disabled" for name in plan.skipped_disabled)
    return lines
