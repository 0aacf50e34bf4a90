"""Runs the plan's queue — whole suites and batches of split suites — sequentially or over slots.

The queue (`Plan.queue`, longest first) is handed out in order to a pool of
`Plan.workers` threads as they free up, so a suite's tail does not wait
behind another suite. A whole suite runs in `_run_single_suite`; a batch
runs through its suite's `SplitSuite`, which reports the batches as one
suite. Results are put back into `suite_order` whatever order they finish
in. Any exception of our own while running one suite (or batch) becomes an
`error` result for that suite and never stops the others. Runners write only
into their own suite folder; everything shared is written later, from one
thread, by the reporting phase.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
import time
import traceback
from collections.abc import Callable, Collection
from pathlib import Path

from qaagent.app import AppError, AppServer, app_env
from qaagent.attempts import Attempt
from qaagent.console import Console
from qaagent.plan import Plan, SuitePlan, WorkItem
from qaagent.results import CaseStore, SuiteResult
from qaagent.retries import synthetic_case
from qaagent.run_result import RunResult
from qaagent.runners.registry import make_runner
from qaagent.split_suite import SplitSuite
from qaagent.suite_run import SuiteBuilder, SuiteRun


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
        seal: Callable[[Path, Collection[Path], Collection[Path]], None] | None = None,
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
        self._steps = SuiteRun(console=console, cancel=self.cancel, repo_root=plan.repo_root, sealer=seal)
        by_name = {s.name: s for s in plan.suites}
        batches: dict[str, list[WorkItem]] = {}
        for item in plan.queue:
            if item.batch is not None:
                batches.setdefault(item.suite, []).append(item)
        #: the split suites, each reporting its batches as one suite
        self._split = {
            name: SplitSuite(by_name[name], items, folder=suite_dir(name), run=self._steps)
            for name, items in batches.items()
        }

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
                if self.plan.parallel and len(self.plan.queue) > 1:
                    results = self._run_queue_parallel(env)
                else:
                    results = self._run_queue_sequential(env)
                results.update(self._split_results())
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
        cwd = self.plan.app_directory or self.plan.loaded.directory  # confined by `build_plan`
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

    def _run_queue_sequential(self, env: dict[str, str]) -> dict[str, SuiteResult]:
        results: dict[str, SuiteResult] = {}
        by_name = {s.name: s for s in self.plan.suites}
        for item in self.plan.queue:
            if self.cancel.is_set():
                break
            with self.console.untrusted(f"suite {item.label}"):
                outcome = self._run_item(by_name[item.suite], item, env)
            if outcome is not None:
                results[item.suite] = outcome
            if self.orphans_between_suites is not None:
                self.orphans_between_suites(self._app_pids)
        return results

    def _run_queue_parallel(self, env: dict[str, str]) -> dict[str, SuiteResult]:
        by_name = {s.name: s for s in self.plan.suites}
        results: dict[str, SuiteResult] = {}
        queue = self.plan.queue
        queued = f": {len(queue)} items in the queue" if self._split else ""
        self.console.line(
            f"qaagent: running {len(by_name)} suites in parallel, {self.plan.workers} worker(s){queued}"
        )
        with (
            self.console.untrusted(None),
            concurrent.futures.ThreadPoolExecutor(
                max_workers=self.plan.workers, thread_name_prefix="suite"
            ) as pool,
        ):
            # Submitted in queue order: the pool's threads take the next item as each one frees up.
            futures = {pool.submit(self._run_if_not_cancelled, by_name[i.suite], i, env): i for i in queue}
            pending = set(futures)
            while pending:
                # A short timeout keeps the main thread responsive to signals.
                done, pending = concurrent.futures.wait(pending, timeout=0.2)
                for future in done:
                    outcome = future.result()
                    if outcome is not None:
                        results[futures[future].suite] = outcome
        return results

    def _run_if_not_cancelled(
        self, suite: SuitePlan, item: WorkItem, env: dict[str, str]
    ) -> SuiteResult | None:
        if self.cancel.is_set():
            return None
        return self._run_item(suite, item, env)

    def _run_item(self, suite: SuitePlan, item: WorkItem, env: dict[str, str]) -> SuiteResult | None:
        """A whole suite's result; None for a batch (its suite reports once all batches are done)."""
        if item.batch is None:
            return self._run_suite_safely(suite, env)
        try:
            self._split[item.suite].run_batch(item, env)
        except Exception as exc:  # our own bug must not stop the other batches
            reason = (
                f"internal error in qaagent while running batch {item.batch}: {type(exc).__name__}: {exc}"
            )
            self.console.line(f"[{item.label}] {reason}")
        return None

    def _split_results(self) -> dict[str, SuiteResult]:
        results: dict[str, SuiteResult] = {}
        for name, split in self._split.items():
            try:
                built = split.result()
            except Exception as exc:
                built = self._internal_error(split.suite, exc)
            if built is not None:
                results[name] = built
        return results

    def _run_suite_safely(self, suite: SuitePlan, env: dict[str, str]) -> SuiteResult:
        try:
            return self._run_single_suite(suite, env)
        except Exception as exc:
            return self._internal_error(suite, exc)

    def _internal_error(self, suite: SuitePlan, exc: Exception) -> SuiteResult:
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

    # -- one whole suite --------------------------------------------------------------------------

    def _run_single_suite(self, suite: SuitePlan, env: dict[str, str]) -> SuiteResult:
        runner = make_runner(suite, repo_root=self.plan.repo_root, base_env=env)
        folder = self.suite_dir(suite.name)
        result = SuiteBuilder(suite.name, suite.runner, runner.cwd)
        if not self._steps.prepare(runner, folder, result):
            return result.build()
        started = "reading result files" if not runner.runs_command else runner.kind
        self.console.line(f"[{suite.name}] started ({started})")
        result.cases = self._steps.attempts(runner, folder, result, prefix=suite.name)
        if runner.environment_problem:
            result.error = runner.environment_problem
        result.files.extend(self._steps.keep_artifacts(runner, folder, runner.artifacts(folder)))
        self._steps.seal(folder, result)
        built = result.build()
        self._steps.summary_line(suite.name, built)
        return built
