"""Runs the planned suites, sequentially or in a thread pool, retries failures, folds attempts.

Each suite's work happens in `_run_single_suite`; the pool only decides when
it starts. Results are put back into `suite_order` whatever order suites
finish in. Any exception of our own while running one suite becomes an
`error` result for that suite and never stops the others. Runners write only
into their own suite folder; everything shared is written later, from one
thread, by the reporting phase.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import shutil
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qaagent.app import AppError, AppServer, app_env
from qaagent.console import Console
from qaagent.formats.read import iter_result_files
from qaagent.plan import Plan, SuitePlan
from qaagent.process import ProcessOutcome, run_process
from qaagent.results import Attempt, CaseStore, IgnoredFile, RunResult, SuiteResult, TestCase
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
from qaagent.runners import Runner, make_runner
from qaagent.runners.command import STALE


@dataclass
class _SuiteBuilder:
    """One suite while it runs: what its steps add; `build()` makes the frozen `SuiteResult`.

    Only the thread running the suite touches it.
    """

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

    def build(self) -> SuiteResult:
        return SuiteResult(
            name=self.name,
            runner=self.runner,
            cases=self.cases,
            attempts=tuple(self.attempts),
            error=self.error,
            working_directory=self.working_directory,
            files=tuple(self.files),
        )


#: files named one by one on the console per reason they were not read (the log lists all)
_NAMED = 5


def _shown(path: Path, root: Path) -> str:
    """A path as the console and logs show it: relative to the repository when inside it."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


class RunOrchestrator:
    """Runs a plan and returns a `RunResult` in `suite_order`."""

    def __init__(
        self,
        plan: Plan,
        *,
        run_id: str,
        suite_dir: Callable[[str], Path],
        console: Console,
        cancel: threading.Event | None = None,
        base_env: dict[str, str] | None = None,
        app_log: Path | None = None,
        orphans_between_suites: Callable[[set[int]], object] | None = None,
    ) -> None:
        self.plan = plan
        self.run_id = run_id
        self.suite_dir = suite_dir
        self.console = console
        self.cancel = cancel if cancel is not None else threading.Event()
        self.base_env = dict(base_env) if base_env is not None else {}
        self.app_log = app_log
        #: in a sequential run, called after each suite: stops daemons a suite left behind outside
        #: its process group before the next suite starts (they would hold its ports and CPU)
        self.orphans_between_suites = orphans_between_suites
        self._app_pids: set[int] = set()

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Start the app (if any), run every suite, stop the app; never raises for a suite's sake."""
        started = time.time()
        env = dict(self.base_env)
        env["QAAGENT_RUN_ID"] = self.run_id
        extra: list[SuiteResult] = []
        app: AppServer | None = None
        results: dict[str, SuiteResult] = {}
        try:
            if self.plan.app is not None:
                env["BASE_URL"] = self.plan.app.base_url
                if self.plan.app.start_command and not self.cancel.is_set():
                    app, app_failure = self._start_app(env)
                    if app.proc is not None:
                        self._app_pids = {app.proc.pid}
                        # On a cancel the app stops at once, while the suites stop, not after them.
                        threading.Thread(
                            target=self._stop_app_on_cancel, args=(app,), name="app-stop", daemon=True
                        ).start()
                    if app_failure is not None:
                        extra.append(app_failure)
            if not self.cancel.is_set():
                if self.plan.parallel and len(self.plan.suites) > 1:
                    results = self._run_suites_parallel(env)
                else:
                    results = self._run_suites_sequential(env)
        finally:
            if app is not None:
                app.stop(hurry=self.cancel.is_set())
        ordered = extra[:]
        not_run: list[str] = []
        for suite in self.plan.suites:
            if suite.name in results:
                ordered.append(results[suite.name])
            else:
                not_run.append(suite.name)
                ordered.append(self._not_run(suite))
        return RunResult(
            project=self.plan.project,
            run_id=self.run_id,
            suites=ordered,
            started_at=started,
            finished_at=time.time(),
            cancelled=self.cancel.is_set(),
            not_run=not_run,
        )

    def _stop_app_on_cancel(self, app: AppServer) -> None:
        if self.cancel.wait():
            app.stop(hurry=True)

    def _start_app(self, env: dict[str, str]) -> tuple[AppServer, SuiteResult | None]:
        settings = self.plan.app
        assert settings is not None  # noqa: S101 - checked by the caller
        cwd = self.plan.loaded.directory
        if settings.working_directory:
            cwd = (cwd / settings.working_directory).resolve()
        log = self.app_log if self.app_log is not None else self.suite_dir("app") / "app.log"
        server = AppServer(settings, cwd=cwd, env=app_env(env, settings), log_path=log, console=self.console)
        self.console.line(f"qaagent: starting the app: {' '.join(settings.start_command or ())}")
        started = time.time()
        try:
            server.start(self.cancel)
        except AppError as exc:
            self.console.line(f"qaagent: {exc}")
            store = CaseStore([synthetic_case("app", str(exc), exc.tail)])
            attempt = Attempt(
                number=1,
                command=tuple(settings.start_command or ()),
                returncode=server.proc.poll() if server.proc else None,
                timed_out=False,
                started_at=started,
                duration=time.time() - started,
                log_path=log,
            )
            return server, SuiteResult(
                name="app", runner="app", cases=store, attempts=(attempt,), error=str(exc), files=(log,)
            )
        return server, None

    def _not_run(self, suite: SuitePlan) -> SuiteResult:
        reason = "not run: the run was cancelled before this suite started"
        return SuiteResult(
            name=suite.name,
            runner=suite.runner,
            cases=CaseStore([synthetic_case(suite.name, reason, status="skipped")]),
            skipped_reason=reason,
            working_directory=suite.working_directory,
        )

    def _run_suites_sequential(self, env: dict[str, str]) -> dict[str, SuiteResult]:
        results: dict[str, SuiteResult] = {}
        by_name = {s.name: s for s in self.plan.suites}
        for name in self.plan.start_order:
            if self.cancel.is_set():
                break
            with self.console.untrusted(f"suite {name}"):
                results[name] = self._run_suite_safely(by_name[name], env)
            if self.orphans_between_suites is not None:
                self.orphans_between_suites(self._app_pids)
        return results

    def _run_suites_parallel(self, env: dict[str, str]) -> dict[str, SuiteResult]:
        by_name = {s.name: s for s in self.plan.suites}
        results: dict[str, SuiteResult] = {}
        self.console.line(
            f"qaagent: running {len(by_name)} suites in parallel, {self.plan.workers} worker(s)"
        )
        with (
            self.console.untrusted(None),
            concurrent.futures.ThreadPoolExecutor(
                max_workers=self.plan.workers, thread_name_prefix="suite"
            ) as pool,
        ):
            futures = {
                pool.submit(self._run_if_not_cancelled, by_name[name], env): name
                for name in self.plan.start_order
            }
            pending = set(futures)
            while pending:
                # A short timeout keeps the main thread responsive to signals.
                done, pending = concurrent.futures.wait(pending, timeout=0.2)
                for future in done:
                    name = futures[future]
                    outcome = future.result()
                    if outcome is not None:
                        results[name] = outcome
        return results

    def _run_if_not_cancelled(self, suite: SuitePlan, env: dict[str, str]) -> SuiteResult | None:
        if self.cancel.is_set():
            return None
        return self._run_suite_safely(suite, env)

    def _run_suite_safely(self, suite: SuitePlan, env: dict[str, str]) -> SuiteResult:
        try:
            return self._run_single_suite(suite, env)
        except Exception as exc:  # our own bug must not stop the other suites
            reason = f"internal error in qaagent while running this suite: {type(exc).__name__}: {exc}"
            self.console.line(f"[{suite.name}] {reason}")
            case = dataclasses.replace(synthetic_case(suite.name, reason), details=traceback.format_exc())
            return SuiteResult(
                name=suite.name,
                runner=suite.runner,
                cases=CaseStore([case]),
                error=reason,
                working_directory=suite.working_directory,
            )

    # -- one suite -------------------------------------------------------------------------------

    def _run_single_suite(self, suite: SuitePlan, env: dict[str, str]) -> SuiteResult:
        runner = make_runner(suite, repo_root=self.plan.repo_root, base_env=env)
        folder = self.suite_dir(suite.name)
        result = _SuiteBuilder(suite.name, suite.runner, runner.cwd)
        problem = runner.preflight()
        if problem:
            self.console.line(f"[{suite.name}] cannot run: {problem}")
            result.fail(problem)
            return result.build()

        # Runner hook: one-off setup commands (Playwright: `npm ci`), each logged as its own step.
        if not self._setup(runner, folder, result):
            return result.build()

        started = "reading result files" if not runner.runs_command else runner.kind
        self.console.line(f"[{suite.name}] started ({started})")
        store = self._attempt(runner, 1, folder, [], result)
        for number in range(2, suite.retry_count + 2):
            failed = [c for c in store.problems if c.status in FAILING]
            if not failed or self.cancel.is_set() or not runner.retryable:
                break
            if runner.environment_problem:
                self.console.line(f"[{suite.name}] not retried: {runner.environment_problem}")
                break
            self.console.line(f"[{suite.name}] retry {number - 1}/{suite.retry_count}: {len(failed)} failing")
            spec_failed = failed
            new = self._attempt(runner, number, folder, spec_failed, result)
            partial = bool(result.attempts[-1].selected)
            store = fold_partial(store, failed, new) if partial else fold_full(new, failed)
        result.cases = store
        if runner.environment_problem:
            result.error = runner.environment_problem
        result.files.extend(self._keep_artifacts(runner, folder))
        built = result.build()
        c = built.counts
        self.console.line(
            f"[{suite.name}] {built.status}: {c.passed} passed, {c.failed} failed, {c.errors} errors, "
            f"{c.skipped} skipped, {c.flaky} flaky in {built.duration:.1f} s"
        )
        return built

    def _setup(self, runner: Runner, folder: Path, result: _SuiteBuilder) -> bool:
        """Run the runner's setup steps; False (with the suite's error recorded) when one fails."""
        suite = runner.suite
        for step in runner.setup_steps():
            if self.cancel.is_set():
                return False
            log_path = folder / "setup" / f"{step.name}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self.console.line(f"[{suite.name}] setup: {' '.join(step.argv)} (in {step.cwd})")
            outcome = self._run(suite, step.argv, step.cwd, step.env, log_path)
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
        self, suite: SuitePlan, argv: Sequence[str], cwd: Path, env: dict[str, str], log_path: Path
    ) -> ProcessOutcome:
        """One command of a suite, under the suite's timeout and the run's cancel flag."""
        return run_process(
            argv,
            cwd=cwd,
            env=env,
            timeout=suite.timeout,
            log_path=log_path,
            console=self.console,
            prefix=suite.name,
            cancel=self.cancel,
        )

    def _attempt(
        self, runner: Runner, number: int, folder: Path, failed: Sequence[TestCase], result: _SuiteBuilder
    ) -> CaseStore:
        suite = runner.suite
        attempt_dir = folder / f"attempt-{number}"
        attempt_dir.mkdir(parents=True, exist_ok=True)
        (attempt_dir / ".started").touch()
        spec = runner.attempt(number, attempt_dir, failed)
        log_path = attempt_dir / "output.log"
        began = time.time()
        if runner.runs_command:
            try:
                outcome = self._run(suite, spec.argv, spec.cwd, spec.env, log_path)
            finally:
                runner.after_attempt(attempt_dir)  # runner hook: e.g. remove a generated config
        collected = runner.result_files(attempt_dir)
        junit_files = collected.files
        store = CaseStore()
        unread: list[Path] = []
        bad = self._read_cases(runner, junit_files, store, attempt_dir, unread)
        if not runner.runs_command:  # a report suite: its attempt is the reading
            outcome = ProcessOutcome(
                0, timed_out=False, cancelled=False, started_at=began, duration=time.time() - began, tail=""
            )
        self._tell_files(runner, log_path, collected.sources, collected.ignored)
        for reason in attempt_problems(runner, outcome, store, junit_files, bad, ignored=collected.ignored):
            # runner hook: may rewrite the reason (Playwright: "the browser is not installed: …")
            message = with_cause(reason, outcome)  # the log's `NameError: …` when it crashed
            case = runner.finish_case(synthetic_case(suite.name, message, outcome.tail), attempt_dir)
            store.append(case)
            if result.error is None:
                result.error = case.message
        if not junit_files and runner.judged_by_exit_code and not outcome.timed_out and not outcome.cancelled:
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
                junit_unread=tuple(unread),
            )
        )
        result.files.append(log_path)
        result.files.extend(junit_files)
        return store

    def _tell_files(
        self, runner: Runner, log_path: Path, read: Sequence[Path], ignored: Sequence[IgnoredFile]
    ) -> None:
        """Say which matches of the result globs were read (a report suite) and which not, and why.

        On the console (a count per reason, the first few files named) and in the
        attempt's log (every file), so nothing is dropped without a word.
        """
        name = runner.suite.name
        lines: list[str] = []
        if not runner.runs_command:
            lines.append(f"qaagent: {len(read)} result file(s) read:")
            lines.extend(f"  {_shown(path, self.plan.repo_root)}" for path in read)
        by_reason: dict[str, list[IgnoredFile]] = {}
        for item in ignored:
            by_reason.setdefault(item.reason.partition(":")[0], []).append(item)
        matched = len(read) + len(ignored)
        globs = runner.suite.config.result_key
        for reason, items in by_reason.items():
            hint = " (to publish results written earlier, use `runner: report`)" if reason == STALE else ""
            summary = f"{len(items)} of {matched} file(s) matching `{globs}` not read: {reason}{hint}"
            self.console.line(f"[{name}] warning: {summary}")
            for item in items[:_NAMED]:
                self.console.line(f"[{name}]   {_shown(item.path, self.plan.repo_root)} ({item.reason})")
            if len(items) > _NAMED:
                self.console.line(f"[{name}]   … and {len(items) - _NAMED} more (listed in the suite's log)")
            lines.append(f"qaagent: {summary}:")
            lines.extend(f"  {_shown(item.path, self.plan.repo_root)} ({item.reason})" for item in items)
        if lines:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("a", encoding="utf-8", errors="replace") as log:
                log.writelines(line + "\n" for line in lines)

    def _read_cases(
        self, runner: Runner, files: Sequence[Path], store: CaseStore, attempt_dir: Path, unread: list[Path]
    ) -> list[str]:
        problems: list[str] = []
        result_format = runner.result_format  # runner hook: a command or report suite's `format:`
        cases = iter_result_files(
            files,
            format=result_format,
            suite=runner.suite.name,
            base_dir=runner.report_base_dir(attempt_dir),  # runner hook: Playwright's testDir
            repo_root=self.plan.repo_root,
            problems=problems,
            zero_based_lines=runner.zero_based_lines,  # runner hook: pytest counts lines from 0
            unread=unread,
        )
        for case in cases:
            store.append(runner.finish_case(case, attempt_dir))  # runner hook: artifacts
        kind = "JUnit" if result_format == "junit" else "result file"
        return [f"unreadable {kind} {problem}" for problem in problems]

    def _keep_artifacts(self, runner: Runner, folder: Path) -> list[Path]:
        kept: list[Path] = []
        target = folder / "artifacts"
        for source in runner.artifacts(folder):
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
                shutil.copy2(source, dest)
            except OSError as exc:
                self.console.line(f"[{runner.suite.name}] could not keep artifact {rel}: {exc}")
                continue
            kept.append(dest)
        return kept
