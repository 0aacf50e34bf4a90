"""A split suite while its batches run, and the one suite they are reported as.

Each batch is a process of the suite's own tool over some of its test files
(`Runner.restricted`), with its own attempts and retries of its own failed
tests, in ``suites/<name>/batch-<n>/``. What the batches share lives here:

- **prepared once**: the first batch to start runs the suite's preflight and
  setup steps (``npm ci``); a failure there is the suite's one error and no
  batch runs;
- **the suite's timeout**: each batch attempt may take the suite's `timeout`,
  and attempt N of all batches together may keep the suite busy (any of them
  running) for at most `timeout` as well — the budget an unsplit attempt
  has. A batch whose budget ran out does not start; its files become errors
  that say so;
- **one suite in the report**: cases merged back into the order an unsplit
  run reports them (by the position of their test file in the listing, then
  in the batch's own order), attempts united per attempt number with the
  command a whole run runs, and each batch's own attempts and logs kept in
  `SuiteResult.batches`. A batch that crashed, hung or was cancelled makes
  errors (or skips) of the files it did not report; the others' results stand.
"""

from __future__ import annotations

import dataclasses
import heapq
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qaagent.attempts import Attempt, Batch
from qaagent.plan import SuitePlan, WorkItem
from qaagent.results import CaseStore, SuiteResult, TestCase
from qaagent.retries import SUITE_ERROR_TYPE, synthetic_case
from qaagent.runners.base import Runner
from qaagent.runners.listing import UnitListing, relative
from qaagent.runners.registry import make_runner
from qaagent.suite_run import SuiteBuilder, SuiteRun
from qaagent.units import Unit, key_index, locate_unit

#: how a case names the batch it stands for
_BATCH_NAME = "{suite} (batch {batch})"


class Budget:
    """The suite's timeout per attempt number, counted while any of its batches runs that attempt.

    Each batch attempt may take `timeout` itself, but no more than is left of
    the suite's: then the suite's busy time for that attempt never exceeds it.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._running: dict[int, int] = {}
        self._busy: dict[int, float] = {}
        self._since: dict[int, float] = {}

    def seconds(self, number: int) -> float | None:
        """Seconds attempt `number` of one more batch may take (None: the suite's budget is spent)."""
        with self._lock:
            self._flush(number)
            left = self.timeout - self._busy.get(number, 0.0)
            if left <= 0:
                return None
            self._running[number] = self._running.get(number, 0) + 1
            return min(self.timeout, left)

    def start(self, number: int) -> tuple[float | None, str | None]:
        """`suite_run.Limits`: the seconds, and the reason a timeout gives when the suite's ran out."""
        seconds = self.seconds(number)
        ran_out = f"the suite's timeout of {self.timeout:g} s (its batches together) ran out"
        if seconds is None:
            return None, ran_out
        return seconds, (f"timed out: {ran_out}" if seconds < self.timeout else None)

    def end(self, number: int) -> None:
        """A batch's attempt `number` ended."""
        with self._lock:
            self._flush(number)
            self._running[number] = max(0, self._running.get(number, 0) - 1)

    def _flush(self, number: int) -> None:
        now = time.monotonic()
        if self._running.get(number, 0) > 0:
            self._busy[number] = self._busy.get(number, 0.0) + now - self._since.get(number, now)
        self._since[number] = now


@dataclass
class _BatchResult:
    item: WorkItem
    units: tuple[str, ...]  #: repository-relative
    result: SuiteBuilder
    store: CaseStore = field(default_factory=CaseStore)


class SplitSuite:
    """The batches of one split suite: run them (from any slot's thread), then `result()`."""

    def __init__(self, suite: SuitePlan, items: Sequence[WorkItem], *, folder: Path, run: SuiteRun) -> None:
        self.suite = suite
        self.items = tuple(sorted(items, key=lambda i: i.batch or 0))
        self.folder = folder
        self.run = run
        ordered = sorted((p, u) for i in self.items for p, u in zip(i.positions, i.units, strict=True))
        self.units = tuple(u for _, u in ordered)  #: all its files in report order
        self.budget = Budget(suite.timeout)
        self._lock = threading.Lock()
        self._prepared: bool | None = None
        self._runner: Runner | None = None
        self._setup = SuiteBuilder(suite.name, suite.runner, suite.working_directory)
        self._done: dict[int, _BatchResult] = {}
        #: files from recorded durations: the tool lists them alongside the batches, for the report's order
        self._listing: threading.Thread | None = None
        self._listed: UnitListing | None = None

    def run_batch(self, item: WorkItem, env: dict[str, str]) -> None:
        """Run one batch (prepares the suite first if no batch did); records its result."""
        runner = self._prepare(env)
        if runner is None or self.run.cancel.is_set():
            return
        assert item.batch is not None  # noqa: S101 - only batches come here
        others = [u for i in self.items if i.batch != item.batch for u in i.units] if item.rest else None
        batch = runner.restricted(item.units, batch=item.batch, excluding=others)
        units = tuple(relative(u, runner.repo_root) for u in item.units)
        label = item.label
        folder = self.folder / f"batch-{item.batch}"
        result = SuiteBuilder(self.suite.name, self.suite.runner, runner.cwd)
        record = _BatchResult(item, units, result)
        rest = " and every file the other batches do not run" if item.rest else ""
        self.run.console.line(f"[{label}] started ({runner.kind}): {len(units)} test file(s){rest}")

        def problems(reason: str, tail: str, store: CaseStore) -> list[TestCase]:
            return self._problem_cases(batch, item, units, reason=reason, tail=tail, store=store)

        try:
            record.store = self.run.attempts(
                batch, folder, result, prefix=label, limits=self.budget, problem_cases=problems
            )
        except Exception as exc:  # our own bug: this batch's files are errors, the others stand
            why = f"internal error in qaagent while running batch {item.batch}: {type(exc).__name__}: {exc}"
            self.run.console.line(f"[{label}] {why}")
            record.store = CaseStore(
                self._unit_cases(item, units, why, traceback.format_exc(), status="error")
            )
            result.error = why
        try:
            if not result.attempts and result.error is None:  # the suite's budget was spent
                why = (
                    f"not run: the suite's timeout of {self.suite.timeout:g} s (its batches together) ran out"
                )
                record.store = CaseStore(self._unit_cases(item, units, why, "", status="error"))
                result.error = why
            result.files.extend(self.run.keep_artifacts(batch, folder, batch.own_artifacts(folder)))
            self.run.seal(folder, result)
            if batch.environment_problem:
                result.error = batch.environment_problem
        finally:
            with self._lock:
                self._done[item.batch] = record
        result.cases = record.store
        self.run.summary_line(label, result.build())

    def _prepare(self, env: dict[str, str]) -> Runner | None:
        """The suite's runner once its preflight and setup passed (run by the first batch); else None."""
        with self._lock:
            if self._prepared is None:
                runner = make_runner(self.suite, repo_root=self.run.repo_root, base_env=env)
                self._setup.working_directory = runner.cwd
                self.run.console.line(
                    f"[{self.suite.name}] started ({runner.kind}): {len(self.items)} batches"
                )
                self._prepared = self.run.prepare(runner, self.folder, self._setup)
                self._runner = runner
                if self._prepared and any(i.rest for i in self.items):
                    self._listing = threading.Thread(
                        target=self._list, args=(runner,), name=f"list-{self.suite.name}", daemon=True
                    )
                    self._listing.start()
            return self._runner if self._prepared else None

    def _list(self, runner: Runner) -> None:
        try:
            self._listed = runner.list_units()
        except Exception as exc:  # our own bug: the recorded order stands, and says why
            self._listed = UnitListing(problem=f"internal error in qaagent: {type(exc).__name__}: {exc}")

    def _report_order(self, runner: Runner, done: Sequence[_BatchResult]) -> tuple[Path, ...]:
        """The suite's files in the order an unsplit run reports them.

        Files from recorded durations were not listed before the batches started: the
        listing ran alongside them, and its order (files it lists that were not recorded ran
        in the last batch) is the report's; without it, the recorded order (by path).
        """
        listing = self._listing
        if listing is None:
            return self.units
        if not self.run.cancel.is_set():
            listing.join()
        listed = self._listed
        name = self.suite.name
        if listed is None or listed.problem:
            why = "the run was cancelled" if listed is None else listed.problem
            self.run.console.line(f"[{name}] cases in the recorded order of their files ({why})")
            return self.units
        order = [u.path for u in listed.units]
        known = set(self.units)
        added = [relative(p, runner.repo_root) for p in order if p not in known]
        rest = next((b.item.batch for b in done if b.item.rest), None)
        if added:
            shown = ", ".join(added[:5]) + (" …" if len(added) > 5 else "")  # noqa: PLR2004 - a short quote
            self.run.console.line(
                f"[{name}] {len(added)} test file(s) not in the recorded durations"
                f" ran in batch {rest}: {shown}"
            )
        listed_set = set(order)
        return (*order, *(u for u in self.units if u not in listed_set))

    @property
    def started(self) -> bool:
        """Whether any batch started (or the suite's preparation did)."""
        return self._prepared is not None

    # -- the synthetic cases of a batch ---------------------------------------------------------

    def _problem_cases(
        self,
        runner: Runner,
        item: WorkItem,
        units: Sequence[str],
        *,
        reason: str,
        tail: str,
        store: CaseStore,
    ) -> list[TestCase]:
        """Errors for the batch's files that reported nothing; one batch case when all of them did."""
        index = key_index_for(runner, item.units)
        reported = {locate_unit(c.file, c.classname, index) for c in store}
        silent = [i for i in range(len(units)) if i not in reported]
        if not silent:
            case = synthetic_case(self.suite.name, reason, tail)
            name = _BATCH_NAME.format(suite=self.suite.name, batch=item.batch)
            return [_renamed(case, name)]
        return self._unit_cases(item, [units[i] for i in silent], reason, tail, status="error")

    def _unit_cases(
        self, item: WorkItem, units: Sequence[str], reason: str, tail: str, *, status: str
    ) -> list[TestCase]:
        """One case per test file of a batch that has no result of its own, saying why."""
        details = f"{reason}\n\n--- last lines of the batch's log ---\n{tail}" if tail else reason
        return [
            TestCase(
                suite=self.suite.name,
                classname=self.suite.name,
                name=f"{unit} (batch {item.batch})",
                status="skipped" if status == "skipped" else "error",
                file=unit,
                message=f"{reason}; no result for {unit}",
                type=SUITE_ERROR_TYPE,
                details=details,
            )
            for unit in units
        ]

    # -- the one suite ---------------------------------------------------------------------------

    def result(self) -> SuiteResult | None:
        """The suite as one result (None when nothing of it started: a cancelled run)."""
        if self._prepared is None:
            return None
        if not self._prepared:
            return self._setup.build()
        runner = self._runner
        assert runner is not None  # noqa: S101 - prepared
        done = [self._done[i.batch] for i in self.items if i.batch in self._done]
        missing = [i for i in self.items if i.batch not in self._done]
        for item in missing:  # cancelled before it started
            units = tuple(relative(u, runner.repo_root) for u in item.units)
            why = "not run: the run was cancelled before this batch started"
            store = CaseStore(self._unit_cases(item, units, why, "", status="skipped"))
            done.append(
                _BatchResult(item, units, SuiteBuilder(self.suite.name, self.suite.runner, None), store)
            )
        done.sort(key=lambda b: b.item.batch or 0)
        built = SuiteBuilder(self.suite.name, self.suite.runner, runner.cwd)
        built.cases = CaseStore(_in_report_order(runner, self._report_order(runner, done), done))
        for record in done:
            record.store.close()
        built.files = [*self._setup.files]
        for record in done:
            built.files.extend(record.result.files)
        built.files.extend(self.run.keep_artifacts(runner, self.folder, runner.profile_artifacts()))
        built.error = self._setup.error or next((b.result.error for b in done if b.result.error), None)
        built.attempts = _united(runner, self.folder, done)
        batches = [Batch(b.item.batch or 0, b.units, tuple(b.result.attempts)) for b in done]
        suite = built.build(batches)
        self.run.summary_line(self.suite.name, suite, f" ({len(done)} batches)")
        return suite


def key_index_for(runner: Runner, units: Sequence[Path]) -> dict[str, int]:
    """Key -> position of `units` (as the runner names its cases)."""
    return key_index([Unit(runner.suite.name, u, None, runner.unit_keys(u)) for u in units])


def _renamed(case: TestCase, name: str) -> TestCase:
    return dataclasses.replace(case, name=name)


def _in_report_order(
    runner: Runner, units: Sequence[Path], done: Sequence[_BatchResult]
) -> Iterator[TestCase]:
    """The batches' cases merged by the position of their test file (a case without one keeps its place)."""
    index = key_index_for(runner, units)
    positions = {u: i for i, u in enumerate(units)}

    def keyed(record: _BatchResult, order: int) -> Iterator[tuple[int, int, int, TestCase]]:
        last = min((positions.get(u, 0) for u in record.item.units), default=0)
        for sequence, case in enumerate(record.store):
            found = locate_unit(case.file, case.classname, index)
            last = found if found is not None else last
            yield last, order, sequence, case

    streams = [keyed(record, order) for order, record in enumerate(done)]
    for *_, case in heapq.merge(*streams, key=lambda t: (t[0], t[1], t[2])):
        yield case


def _united(runner: Runner, folder: Path, done: Sequence[_BatchResult]) -> list[Attempt]:
    """Attempt k of the suite: the union of its batches' attempt k, with the command a whole run runs."""
    by_number: dict[int, list[tuple[_BatchResult, Attempt]]] = {}
    for record in done:
        for attempt in record.result.attempts:
            by_number.setdefault(attempt.number, []).append((record, attempt))
    united: list[Attempt] = []
    suite = runner.suite
    path = relative(suite.path, runner.repo_root) if suite.path is not None else None
    workdir = relative(suite.working_directory, runner.repo_root)
    for number in sorted(by_number):
        group = by_number[number]
        codes = [a.returncode for _, a in group]
        failing = [c for c in codes if c not in (0, None)]
        start = min(a.started_at for _, a in group)
        end = max(a.started_at + a.duration for _, a in group)
        first, attempt = group[0]
        batch_folder = str(folder / f"batch-{first.item.batch}")
        argv = [part.replace(batch_folder, str(folder)) for part in attempt.command]
        command = type(runner).whole_suite_command(argv, first.units, path=path, working_directory=workdir)
        united.append(
            Attempt(
                number=number,
                command=command,
                returncode=failing[0] if failing else next((c for c in codes if c is not None), None),
                timed_out=any(a.timed_out for _, a in group),
                started_at=start,
                duration=max(0.0, end - start),
                log_path=None,  # each batch has its own log (`SuiteResult.batches`)
                junit_files=tuple(f for _, a in group for f in a.junit_files),
                selected=tuple(x for _, a in group for x in a.selected),
                cancelled=any(a.cancelled for _, a in group),
            )
        )
    return united
