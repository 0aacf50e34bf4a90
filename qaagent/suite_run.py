"""Running one suite — or one batch of a split suite — through its runner: preflight, setup, attempts.

An attempt is one process of the suite's tool (`qaagent.process.run_process`:
own process group, timeout, log, echo); its JUnit is read into a `CaseStore`,
and what the report cannot show (a timeout, a crash, a missing report)
becomes synthetic error cases (`qaagent.retries`). Retries rerun the failed
tests only and are folded in. A `SuiteBuilder` accumulates what the steps
add; only the thread running the suite (or the batch) touches it.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from qaagent import paths
from qaagent.attempts import Attempt, Batch, IgnoredFile
from qaagent.console import Console
from qaagent.files import append_regular, copy_regular
from qaagent.formats.parallel import read_into
from qaagent.process import ProcessOutcome, run_process
from qaagent.results import CaseStore, SuiteResult, TestCase
from qaagent.retries import (
    FAILING,
    attempt_problems,
    describe_returncode,
    exit_code_case,
    fold_full,
    fold_partial,
    synthetic_case,
    with_cause,
)
from qaagent.runners.base import Runner
from qaagent.runners.command import STALE
from qaagent.runners.result_door import ResultFiles
from qaagent.text import controls_shown

#: the error cases standing for an attempt's problem: (reason, tail of the log, what it reported)
ProblemCases = Callable[[str, str, CaseStore], list[TestCase]]
#: files named one by one on the console per reason they were not read (the log lists all)
_NAMED = 5


def _shown(path: Path, root: Path) -> str:
    """A path as the console and logs show it: `paths.shown` (relative, control characters escaped)."""
    return paths.shown(path, root)


class Limits(Protocol):
    """How long each attempt may take, when more than the suite's own `timeout` decides (a split suite)."""

    def start(self, number: int) -> tuple[float | None, str | None]:
        """Seconds attempt `number` may take (None: it must not start) and the reason if it times out."""

    def end(self, number: int) -> None:
        """Attempt `number` ended."""


@dataclass
class SuiteBuilder:
    """One suite (or batch) while it runs: what its steps add; `build()` makes the frozen `SuiteResult`."""

    name: str
    runner: str
    working_directory: Path | None
    cases: CaseStore = field(default_factory=CaseStore)
    attempts: list[Attempt] = field(default_factory=list)
    error: str | None = None
    files: list[Path] = field(default_factory=list)

    def fail(self, reason: str, tail: str = "") -> None:
        """The suite cannot go on: its error, and the synthetic case that stands for it."""
        self.error = reason
        self.cases.append(synthetic_case(self.name, reason, tail))

    def build(self, batches: Sequence[Batch] = ()) -> SuiteResult:
        """The frozen result."""
        return SuiteResult(
            name=self.name,
            runner=self.runner,
            cases=self.cases,
            attempts=tuple(self.attempts),
            error=self.error,
            working_directory=self.working_directory,
            files=tuple(self.files),
            batches=tuple(batches),
        )


class SuiteRun:
    """The steps of running a suite's processes, for the orchestrator (whole suites) and split suites."""

    def __init__(
        self,
        *,
        console: Console,
        cancel: threading.Event,
        repo_root: Path,
        sealer: Callable[[Path, Collection[Path], Collection[Path]], None] | None = None,
    ) -> None:
        self.console = console
        self.cancel = cancel
        self.repo_root = repo_root
        #: the bundle's `seal`: a folder whose suite (or batch) ended, and the files to spare
        self.sealer = sealer

    def prepare(self, runner: Runner, folder: Path, result: SuiteBuilder) -> bool:
        """Preflight, then the runner's setup steps; False (the suite's error recorded) when one fails."""
        name = runner.suite.name
        problem = runner.preflight()
        if problem:
            self.console.line(f"[{name}] cannot run: {problem}")
            result.fail(problem)
            return False
        # Runner hook: one-off setup commands (Playwright: `npm ci`), each logged as its own step.
        return self._setup(runner, folder, result)

    def attempts(
        self,
        runner: Runner,
        folder: Path,
        result: SuiteBuilder,
        *,
        prefix: str,
        limits: Limits | None = None,
        problem_cases: ProblemCases | None = None,
    ) -> CaseStore:
        """The first attempt and the retries of its failed tests, folded into one store.

        With `limits`, an attempt that may not start ends the attempts (none at all: an empty store).
        """
        suite = runner.suite
        store = CaseStore()
        for number in range(1, suite.retry_count + 2):
            failed = [c for c in store.problems if c.status in FAILING]
            if number > 1 and (not failed or self.cancel.is_set() or not runner.retryable):
                break
            if number > 1 and runner.environment_problem:
                self.console.line(f"[{prefix}] not retried: {runner.environment_problem}")
                break
            timeout, why = limits.start(number) if limits is not None else (suite.timeout, None)
            if timeout is None:
                if number > 1:
                    self.console.line(f"[{prefix}] not retried: {why}")
                break
            if number > 1:
                self.console.line(f"[{prefix}] retry {number - 1}/{suite.retry_count}: {len(failed)} failing")
            try:
                new = self.attempt(
                    runner,
                    number,
                    folder,
                    failed,
                    result,
                    prefix=prefix,
                    limit=(timeout, why),
                    problem_cases=problem_cases,
                )
            finally:
                if limits is not None:
                    limits.end(number)
            if number == 1:
                store = new
                continue
            partial = bool(result.attempts[-1].selected)
            store = fold_partial(store, failed, new) if partial else fold_full(new, failed, store)
        return store

    def _setup(self, runner: Runner, folder: Path, result: SuiteBuilder) -> bool:
        suite = runner.suite
        for step in runner.setup_steps():
            if self.cancel.is_set():
                return False
            log_path = folder / "setup" / f"{step.name}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self.console.line(f"[{suite.name}] setup: {' '.join(step.argv)} (in {step.cwd})")
            outcome = self._run(
                suite.name, step.argv, step.cwd, step.env, log_path=log_path, timeout=suite.timeout
            )
            result.files.append(log_path)
            if outcome.returncode == 0 and not outcome.timed_out and not outcome.cancelled:
                continue
            if outcome.start_error:
                why = outcome.start_error
            elif outcome.timed_out:
                why = f"timed out after {suite.timeout:g} s"
            elif outcome.cancelled:
                why = "was cancelled"
            else:
                why = describe_returncode(outcome.returncode)
            reason = f"setup step `{' '.join(step.argv)}` {why}"
            self.console.line(f"[{suite.name}] cannot run: {reason}")
            result.fail(reason, outcome.tail)
            return False
        return True

    def _run(
        self,
        prefix: str,
        argv: Sequence[str],
        cwd: Path,
        env: dict[str, str],
        *,
        log_path: Path,
        timeout: float,
    ) -> ProcessOutcome:
        """One command, under `timeout` and the run's cancel flag."""
        return run_process(
            argv,
            cwd=cwd,
            env=env,
            timeout=timeout,
            log_path=log_path,
            console=self.console,
            prefix=prefix,
            cancel=self.cancel,
        )

    def attempt(
        self,
        runner: Runner,
        number: int,
        folder: Path,
        failed: Sequence[TestCase],
        result: SuiteBuilder,
        *,
        prefix: str,
        limit: tuple[float, str | None],
        problem_cases: ProblemCases | None = None,
    ) -> CaseStore:
        """One process of the suite's tool; its cases, with synthetic errors for what it could not report."""
        suite = runner.suite
        timeout, timeout_reason = limit
        attempt_dir = folder / f"attempt-{number}"
        attempt_dir.mkdir(parents=True, exist_ok=True)
        spec = runner.attempt(number, attempt_dir, failed)
        log_path = attempt_dir / "output.log"
        began = time.time()
        if runner.runs_command:
            try:
                outcome = self._run(prefix, spec.argv, spec.cwd, spec.env, log_path=log_path, timeout=timeout)
            finally:
                runner.after_attempt(attempt_dir)  # runner hook: e.g. remove a generated config
        collected = runner.result_files(attempt_dir)
        junit_files = collected.files
        store = CaseStore()
        unread: list[Path] = []
        bad = self._read_cases(runner, collected, store, attempt_dir, unread)
        if not runner.runs_command:  # a report suite: its attempt is the reading
            outcome = ProcessOutcome(
                0, timed_out=False, cancelled=False, started_at=began, duration=time.time() - began, tail=""
            )
        self._tell_files(runner, prefix, log_path, collected.sources, collected.ignored)
        reasons = list(attempt_problems(runner, outcome, store, junit_files, bad, ignored=collected.ignored))
        if outcome.timed_out and timeout_reason:
            reasons = [timeout_reason]
        for reason in reasons:
            message = with_cause(reason, outcome)  # the log's `NameError: …` when it crashed
            made = (
                problem_cases(message, outcome.tail, store)
                if problem_cases is not None
                else [synthetic_case(suite.name, message, outcome.tail)]
            )
            for made_case in made:
                # runner hook: may rewrite the reason (Playwright: "the browser is not installed: …")
                case = runner.finish_case(made_case, attempt_dir)
                store.append(case)
                if result.error is None:
                    result.error = case.message
        # the exit code is the result only when nothing else was expected (a report missing is the error)
        exit_code_only = not junit_files and not reasons and runner.judged_by_exit_code
        if exit_code_only and not outcome.timed_out and not outcome.cancelled:
            store = exit_code_case(suite.name, outcome, store)
        result.attempts.append(
            Attempt(
                number=number,
                command=spec.argv,
                returncode=outcome.returncode,
                timed_out=outcome.timed_out,
                started_at=outcome.started_at,
                duration=outcome.duration,
                log_path=log_path,
                junit_files=tuple(junit_files),
                selected=spec.selected,
                cancelled=outcome.cancelled,
                ignored=tuple(collected.ignored),
                log_error=outcome.log_error,
                junit_unread=tuple(unread),
            )
        )
        if outcome.log_error is not None:
            self.console.line(f"[{prefix}] qaagent: its log could not be written: {outcome.log_error}")
        result.files.append(log_path)
        result.files.extend(junit_files)
        return store

    def _tell_files(
        self,
        runner: Runner,
        prefix: str,
        log_path: Path,
        read: Sequence[Path],
        ignored: Sequence[IgnoredFile],
    ) -> None:
        """Say which matches of the result globs were read (a report suite) and which not, and why.

        On the console (a count per reason, the first few files named) and in the
        attempt's log (every file), so nothing is dropped without a word.
        """
        lines: list[str] = []
        if not runner.runs_command:
            lines.append(f"qaagent: {len(read)} result file(s) read:")
            lines.extend(f"  {_shown(path, self.repo_root)}" for path in read)
        by_reason: dict[str, list[IgnoredFile]] = {}
        for item in ignored:
            by_reason.setdefault(item.reason.partition(":")[0], []).append(item)
        matched = len(read) + len(ignored)
        globs = runner.suite.config.result_key
        for reason, items in by_reason.items():
            hint = " (to publish results written earlier, use `runner: report`)" if reason == STALE else ""
            summary = f"{len(items)} of {matched} file(s) matching `{globs}` not read: {reason}{hint}"
            self.console.line(f"[{prefix}] warning: {summary}")
            for item in items[:_NAMED]:
                self.console.line(f"[{prefix}]   {_shown(item.path, self.repo_root)} ({item.reason})")
            if len(items) > _NAMED:
                self.console.line(
                    f"[{prefix}]   … and {len(items) - _NAMED} more (listed in the suite's log)"
                )
            lines.append(f"qaagent: {summary}:")
            lines.extend(f"  {_shown(item.path, self.repo_root)} ({item.reason})" for item in items)
        if lines:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            try:  # the suite may have replaced its log by a link (never followed) or a FIFO
                append_regular(log_path, "".join(line + "\n" for line in lines))
            except OSError as exc:
                said = exc.strerror or str(exc)
                self.console.line(
                    f"[{prefix}] warning: cannot add the list of files to the suite's log: {said}"
                )

    def _read_cases(
        self, runner: Runner, files: ResultFiles, store: CaseStore, attempt_dir: Path, unread: list[Path]
    ) -> list[str]:
        problems: list[str] = []
        result_format = runner.result_format  # runner hook: a command or report suite's `format:`
        adjusts = type(runner).finish_case is not Runner.finish_case  # runner hook: artifacts
        read_into(  # the last files by a second process when they are large and need no adjusting
            store,
            files.files,
            format=result_format,
            suite=runner.suite.name,
            base_dir=runner.report_base_dir(attempt_dir),  # runner hook: Playwright's testDir
            repo_root=self.repo_root,
            problems=problems,
            zero_based_lines=runner.zero_based_lines,  # runner hook: pytest counts lines from 0
            unread=unread,
            origins=files.origins(),  # a reason names the user's file, not its copy in the bundle
            adjust=functools.partial(runner.finish_case, attempt_dir=attempt_dir) if adjusts else None,
        )
        kind = "JUnit" if result_format == "junit" else "result file"
        return [f"unreadable {kind} {problem}" for problem in problems]

    def seal(self, folder: Path, result: SuiteBuilder) -> None:
        """The ended suite's (or batch's) folder redacted now, not only at the run's end (`Bundle.seal`).

        Its logs (redacted as they were written) are spared; its JUnit copies are redacted, kept.
        """
        if self.sealer is None:
            return
        logs = [a.log_path for a in result.attempts if a.log_path is not None]
        self.sealer(folder, logs, [p for a in result.attempts for p in a.junit_files])

    def keep_artifacts(self, runner: Runner, folder: Path, sources: Sequence[Path]) -> list[Path]:
        """`sources` kept as evidence: files already in `folder` as they are, others copied into it."""
        kept: list[Path] = []
        target = folder / "artifacts"
        for refusal in runner.refused:  # what the artifacts globs matched that the door refused
            self.console.line(f"[{runner.suite.name}] warning: {refusal}")
        runner.refused.clear()
        for source in sources:
            if source.is_relative_to(folder):
                kept.append(source)  # the runner wrote it into the bundle itself (Playwright's --output)
                continue
            try:
                rel = source.relative_to(runner.cwd)
            except ValueError:
                rel = Path(source.name)
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                copy_regular(source, dest)  # never a FIFO or a device swapped in since it was matched
            except OSError as exc:
                shown = controls_shown(rel.as_posix())
                self.console.line(f"[{runner.suite.name}] could not keep artifact {shown}: {exc}")
                continue
            with contextlib.suppress(OSError):
                shutil.copystat(source, dest)  # times and mode, as a copy kept them before
            kept.append(dest)
        return kept

    def summary_line(self, prefix: str, built: SuiteResult, extra: str = "") -> None:
        """``[unit] failed: 3 passed, 1 failed, … in 2.1 s`` (xfail/xpass apart, as in the summary)."""
        self.console.line(
            f"[{prefix}] {built.status}: {built.counts.summary_text()} in {built.duration:.1f} s{extra}"
        )
