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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from qaagent.app import AppError, AppServer, app_env
from qaagent.console import Console
from qaagent.junit.read import iter_junit_files
from qaagent.plan import Plan, SuitePlan
from qaagent.process import ProcessOutcome, run_process
from qaagent.results import Attempt, CaseStore, Rerun, RunResult, SuiteResult, TestCase
from qaagent.runners import Runner, make_runner

#: `type` of the synthetic test case standing for a suite that produced no (complete) results
SUITE_ERROR_TYPE = "qaagent.SuiteError"
FAILING = ("failed", "error")


def synthetic_case(suite: str, reason: str, tail: str = "", *, status: str = "error") -> TestCase:
    """The test case that stands for a whole suite's problem, so it never disappears."""
    details = f"{reason}\n\n--- last lines of the log ---\n{tail}" if tail else reason
    return TestCase(
        suite=suite,
        classname=suite,
        name=f"{suite} (suite)",
        status="skipped" if status == "skipped" else "error",
        message=reason,
        type=SUITE_ERROR_TYPE,
        details=details,
    )


def as_rerun(case: TestCase) -> Rerun:
    """A failed attempt of a test, kept as history."""
    return Rerun(
        status="error" if case.status == "error" else "failed",
        message=case.message,
        type=case.type,
        details=case.details,
        stdout=case.stdout,
        stderr=case.stderr,
        duration=case.duration,
    )


def fold_retry(old: TestCase, new: TestCase) -> TestCase:
    """Combine a failed test with its result on the next attempt."""
    history = (*old.reruns, as_rerun(old))
    attempts = old.attempts + 1
    # Evidence of the earlier failure (e.g. its screenshot) stays linked after a retry.
    artifacts = tuple(dict.fromkeys((*old.artifacts, *new.artifacts)))
    if new.status == "passed":
        return dataclasses.replace(new, flaky=True, attempts=attempts, reruns=history, artifacts=artifacts)
    return dataclasses.replace(new, attempts=attempts, reruns=history, flaky=False, artifacts=artifacts)


def describe_returncode(code: int | None) -> str:
    """`exited with code 2` / `was killed by signal 9 (SIGKILL)`."""
    if code is None:
        return "did not start"
    if code < 0:
        import signal  # noqa: PLC0415 - only needed for this message

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        return f"was killed by signal {-code} ({name})"
    return f"exited with code {code}"


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
                name="app", runner="app", cases=store, attempts=[attempt], error=str(exc), files=[log]
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
        result = SuiteResult(
            name=suite.name, runner=suite.runner, cases=CaseStore(), working_directory=runner.cwd
        )
        problem = runner.preflight()
        if problem:
            self.console.line(f"[{suite.name}] cannot run: {problem}")
            result.error = problem
            result.cases.append(synthetic_case(suite.name, problem))
            return result

        # Runner hook: one-off setup commands (Playwright: `npm ci`), each logged as its own step.
        if not self._setup(runner, folder, result):
            return result

        self.console.line(f"[{suite.name}] started ({runner.kind})")
        store = self._attempt(runner, 1, folder, [], result)
        for number in range(2, suite.retry_count + 2):
            failed = [c for c in store.problems if c.status in FAILING]
            if not failed or self.cancel.is_set():
                break
            if runner.environment_problem:
                self.console.line(f"[{suite.name}] not retried: {runner.environment_problem}")
                break
            self.console.line(f"[{suite.name}] retry {number - 1}/{suite.retry_count}: {len(failed)} failing")
            spec_failed = failed
            new = self._attempt(runner, number, folder, spec_failed, result)
            partial = bool(result.attempts[-1].selected)
            store = _fold_partial(store, failed, new) if partial else _fold_full(new, failed)
        result.cases = store
        if runner.environment_problem:
            result.error = runner.environment_problem
        result.files.extend(self._keep_artifacts(runner, folder))
        c = result.counts
        self.console.line(
            f"[{suite.name}] {result.status}: {c.passed} passed, {c.failed} failed, {c.errors} errors, "
            f"{c.skipped} skipped, {c.flaky} flaky in {result.duration:.1f} s"
        )
        return result

    def _setup(self, runner: Runner, folder: Path, result: SuiteResult) -> bool:
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
            result.error = reason
            result.cases.append(synthetic_case(suite.name, reason, outcome.tail))
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
        self, runner: Runner, number: int, folder: Path, failed: Sequence[TestCase], result: SuiteResult
    ) -> CaseStore:
        suite = runner.suite
        attempt_dir = folder / f"attempt-{number}"
        attempt_dir.mkdir(parents=True, exist_ok=True)
        (attempt_dir / ".started").touch()
        spec = runner.attempt(number, attempt_dir, failed)
        log_path = attempt_dir / "output.log"
        try:
            outcome = self._run(suite, spec.argv, spec.cwd, spec.env, log_path)
        finally:
            runner.after_attempt(attempt_dir)  # runner hook: e.g. remove a generated config
        junit_files = runner.junit_files(attempt_dir)
        store = CaseStore()
        bad = self._read_cases(runner, junit_files, store, attempt_dir)
        for reason in _attempt_problems(runner, outcome, store, junit_files, bad):
            # runner hook: may rewrite the reason (Playwright: "the browser is not installed: …")
            case = runner.finish_case(synthetic_case(suite.name, reason, outcome.tail), attempt_dir)
            store.append(case)
            if result.error is None:
                result.error = case.message
        if not junit_files and runner.judged_by_exit_code and not outcome.timed_out and not outcome.cancelled:
            store = _exit_code_case(suite.name, outcome, store)
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
            )
        )
        result.files.append(log_path)
        result.files.extend(junit_files)
        return store

    def _read_cases(
        self, runner: Runner, files: Sequence[Path], store: CaseStore, attempt_dir: Path
    ) -> list[str]:
        problems: list[str] = []
        cases = iter_junit_files(
            files,
            suite=runner.suite.name,
            base_dir=runner.report_base_dir(attempt_dir),  # runner hook: Playwright's testDir
            repo_root=self.plan.repo_root,
            problems=problems,
            zero_based_lines=runner.zero_based_lines,  # runner hook: pytest counts lines from 0
        )
        for case in cases:
            store.append(runner.finish_case(case, attempt_dir))  # runner hook: artifacts
        return [f"unreadable JUnit {problem}" for problem in problems]

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


def _attempt_problems(
    runner: Runner, outcome: ProcessOutcome, store: CaseStore, junit_files: list[Path], bad: list[str]
) -> Iterator[str]:
    """Why an attempt's JUnit cannot be the whole truth (each becomes a synthetic error)."""
    suite = runner.suite
    if outcome.start_error:
        yield outcome.start_error
        return
    if outcome.timed_out:
        yield f"timed out after {suite.timeout:g} s"
        return
    if outcome.cancelled:
        yield "cancelled while running"
        return
    yield from bad
    if not junit_files:
        problem = runner.no_report_problem(describe_returncode(outcome.returncode))  # runner hook
        if problem is not None:
            yield problem
        return
    counts = store.counts
    if outcome.returncode not in (0, None) and counts.failed == 0 and counts.errors == 0:
        # The exit code wins over a JUnit file that claims success: something went wrong
        # that the report does not show (a crash after writing it, a plugin error, no tests).
        yield f"{runner.kind} {describe_returncode(outcome.returncode)} although its JUnit reports no failure"
        return
    if runner.requires_tests and counts.total == 0 and not bad:
        yield f"{runner.kind} reported no tests (check the suite's path and selection)"


def _exit_code_case(suite: str, outcome: ProcessOutcome, store: CaseStore) -> CaseStore:
    """A command without JUnit is one test case, passed when it exited 0."""
    passed = outcome.returncode == 0
    case = TestCase(
        suite=suite,
        classname=suite,
        name=suite,
        status="passed" if passed else "failed",
        duration=outcome.duration,
        message="" if passed else f"command {describe_returncode(outcome.returncode)}",
        type="" if passed else "ExitCode",
        details="" if passed else outcome.tail,
    )
    new = CaseStore([case])
    new.extend(store)
    return new


def _fold_partial(old: CaseStore, failed: Sequence[TestCase], new: CaseStore) -> CaseStore:
    """Retry of selected tests: replace the retried ones in place, append new suite errors."""
    wanted = {c.key: c for c in failed}
    replacements: dict[tuple[str, str], TestCase] = {}
    extras: list[TestCase] = []
    for case in new:
        if case.key in wanted and case.key not in replacements:
            replacements[case.key] = fold_retry(wanted[case.key], case)
        elif case.status in FAILING:
            extras.append(case)
    folded = CaseStore()
    for case in old:
        folded.append(replacements.get(case.key, case))
    folded.extend(extras)
    old.close()
    new.close()
    return folded


def _fold_full(new: CaseStore, failed: Sequence[TestCase]) -> CaseStore:
    """Retry of the whole suite: its results stand, with history for tests that failed before."""
    wanted = {c.key: c for c in failed}
    seen: set[tuple[str, str]] = set()
    folded = CaseStore()
    for case in new:
        if case.key in wanted and case.key not in seen:
            seen.add(case.key)
            folded.append(fold_retry(wanted[case.key], case))
        else:
            folded.append(case)
    for key, old in wanted.items():
        if key in seen:
            continue
        if old.type == SUITE_ERROR_TYPE:
            # The suite-level problem of the earlier attempt did not come back: it was flaky.
            ok = dataclasses.replace(old, status="passed", message="", details="", type="")
            folded.append(fold_retry(old, ok))
        else:
            folded.append(old)
    new.close()
    return folded
