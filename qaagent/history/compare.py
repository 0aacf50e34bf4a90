"""A new run's results against the base branch's latest recorded run.

Each test of the new run that matters lands in one group:

- **quarantined**: in the quarantine set (whatever its status here; its failure
  is counted but, in part 2, does not fail the run);
- **new**: failed or errored here, and not failing on the base run (passed,
  skipped or absent there — a new test that fails is a new failure);
- **still failing**: failing here and on the base run, with the commit and time
  of the first base-branch run of that unbroken failing streak ("since");
- **flaky**: passed here on a retry, with its flake rate over the window;
- **fixed**: failing on the base run, passed here.

Without a recorded base run there is nothing to compare with: `base` is None
and failures are in `unknown`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from qaagent.history.model import STATUS_NAME, ResultLike, TestId
from qaagent.history.packed import is_flaky, status_of, worst
from qaagent.history.prepared import RunResults, prepare
from qaagent.history.queries import RunInfo, latest_run, window_runs
from qaagent.history.rates import NO_QUARANTINE, FlakeRate, Quarantine, flake_rates
from qaagent.history.store import Scope, Store, chunks, marks
from qaagent.run_result import Excused

_FAILING = (1, 2)


@dataclass(frozen=True, slots=True)
class Entry:
    """One test in a group."""

    test: TestId
    status: str  #: its status in the new run
    file: str | None = None
    base_status: str | None = None  #: its status on the base run (None: absent there)
    since_commit: str | None = None  #: still failing: the first failing base-branch run's commit
    since_at: float | None = None  #: … and its start (epoch)
    rate: FlakeRate | None = None  #: flaky and quarantined: the window's rate
    flaky: bool = False  #: it passed here on a retry
    #: its results here that failed, errored, passed on a retry (a test id that ran twice has two)
    failed_results: int = 0
    error_results: int = 0
    flaky_results: int = 0

    @property
    def failing_results(self) -> int:
        """Its failed and errored results here (every occurrence of its id)."""
        return self.failed_results + self.error_results

    @property
    def note(self) -> str:
        """What a writer shows beside the test id (plain text): its status here, since when, its rate."""
        parts = [self.status + (" (flaky)" if self.flaky else "")]
        if self.since_commit or self.since_at:
            when = time.strftime("%Y-%m-%d", time.gmtime(self.since_at)) if self.since_at else ""
            commit = self.since_commit[:12] if self.since_commit else ""
            parts.append("failing on the base branch since " + " ".join(p for p in (commit, when) if p))
        if self.rate is not None and self.rate.flaky:
            parts.append(f"flake rate {self.rate.rate:.0%} ({self.rate.flaky} of {self.rate.results} runs)")
        return " · ".join(parts)


@dataclass(frozen=True)
class Comparison:
    """The groups of a new run against its base branch."""

    base_branch: str
    base: RunInfo | None
    new: list[Entry] = field(default_factory=list)
    still_failing: list[Entry] = field(default_factory=list)
    flaky: list[Entry] = field(default_factory=list)
    quarantined: list[Entry] = field(default_factory=list)
    fixed: list[Entry] = field(default_factory=list)
    unknown: list[Entry] = field(default_factory=list)  #: failing, with no base run to compare

    def groups(self) -> list[tuple[str, str, list[Entry]]]:
        """(key, heading, entries) of each group, in the order every writer shows them.

        Without a base run only the quarantined tests (and, on a pull request whose base
        branch has no recorded run, the failures nothing can be compared with) are grouped.
        """
        found = [
            ("new", "New failures (not failing on the base branch)", self.new),
            ("still_failing", "Still failing (failing on the base branch too)", self.still_failing),
            ("flaky", "Flaky (passed on a retry)", self.flaky),
            ("quarantined", "Quarantined (reported, not failing the run)", self.quarantined),
            ("fixed", "Fixed (failing on the base branch, passing here)", self.fixed),
        ]
        if self.base is None:
            found = [g for g in found if g[0] == "quarantined"]
            if self.unknown and self.base_branch:  # a push has no base: its failures are just failures
                heading = "Failures (no recorded base-branch run to compare with)"
                found.insert(0, ("unknown", heading, self.unknown))
        return found

    @property
    def shown(self) -> bool:
        """Whether the writers show a section at all: a base branch, or a quarantined test."""
        return bool(self.base_branch) or any(entries for _, _, entries in self.groups())

    @property
    def base_label(self) -> str:
        """Which run this run was compared with, in words (plain text: a writer escapes it)."""
        if not self.base_branch:
            return "no base branch (quarantine only)"
        if self.base is None:
            return f"{self.base_branch}: no recorded run to compare with"
        commit = f", commit {self.base.commit[:12]}" if self.base.commit else ""
        return f"{self.base_branch} (run {self.base.run_id}{commit})"

    def excused(self) -> Excused:
        """What the verdict leaves out (`run_result.conclusion`): quarantined problems; known failures.

        Results, not tests, as `RunResult.counts` counts them: a test id that occurs
        twice in the run is excused twice.
        """
        return Excused(
            quarantined_failed=sum(e.failed_results for e in self.quarantined),
            quarantined_errors=sum(e.error_results for e in self.quarantined),
            quarantined_flaky=sum(e.flaky_results for e in self.quarantined),
            known_failed=sum(e.failed_results for e in self.still_failing),
            known_errors=sum(e.error_results for e in self.still_failing),
        )


def compare(
    store: Store,
    scope: Scope,
    results: Iterable[ResultLike] | RunResults,
    *,
    base_branch: str,
    window: int,
    quarantined: Quarantine = NO_QUARANTINE,
) -> Comparison:
    """Group the new run's `results` against the latest recorded run of `base_branch`.

    An empty `base_branch` (a push, no pull request) compares with nothing: only the
    quarantined tests are grouped (the only group a push shows or excuses: `groups`,
    `excused`), so no entry is built for its other failures and no flake rate is read
    for its flaky tests.

    Only problems are looked at — this run's (failed, errored, flaky), the base
    run's (from ``qa_problems``) and the quarantined tests — so the cost follows
    the failures, not the size of the run.
    """
    prepared = prepare(results)
    mine = prepared.packed
    project = store.project_id(scope)
    base = latest_run(store, project, branch=base_branch) if project is not None and base_branch else None
    base_packed = store.results([base.row])[base.row] if base is not None else None
    base_failing = _failing_in(store, base.row) if base is not None else set()
    problems = mine.problems() if base_branch else {}  # a push groups the quarantined tests only
    held = {k for k in quarantined.keys if mine.outcome(k) is not None}
    wanted = [k for k, code in problems.items() if is_flaky(code)] + sorted(held)
    rates: Mapping[int, FlakeRate] = {}
    if project is not None and wanted:
        rates = flake_rates(store, scope, branch=base_branch or None, window=window, only=wanted)
    result = Comparison(base_branch, base)
    still: list[tuple[int, Entry]] = []
    looked_at = {*problems, *held, *(k for k in base_failing if mine.outcome(k) is not None)}
    names = prepared.names(looked_at)
    for key in sorted(looked_at, key=names.__getitem__):
        codes = mine.codes(key)
        code = worst(codes)
        if code is None:
            continue
        before = base_packed.outcome(key) if base_packed is not None else None
        suite, classname, name, file = names[key]
        failed, errors, flaky = _counts(codes)
        entry = Entry(
            TestId(suite, classname, name, key),
            STATUS_NAME[status_of(code)],
            file or None,
            None if before is None else STATUS_NAME[status_of(before)],
            flaky=is_flaky(code),
            failed_results=failed,
            error_results=errors,
            flaky_results=flaky,
        )
        group = _group(code, before, held=key in held, has_base=base is not None)
        if group == "quarantined":
            result.quarantined.append(_with_rate(entry, rates.get(key) or quarantined.rates.get(key)))
        elif group == "still_failing":
            still.append((key, entry))
        elif group == "flaky":
            result.flaky.append(_with_rate(entry, rates.get(key)))
        elif group is not None:
            getattr(result, group).append(entry)
    if still and project is not None:
        since = _failing_since(store, project, base_branch, [k for k, _ in still])
        for key, entry in still:
            commit, at = since.get(key, (None, None))
            result.still_failing.append(_since(entry, commit, at))
    return result


def _counts(codes: list[int]) -> tuple[int, int, int]:
    """How many of a test's results (its packed `codes`) failed, errored, passed on a retry."""
    if len(codes) == 1:  # the usual case: the test ran once
        status = status_of(codes[0])
        return int(status == 1), int(status == 2), int(is_flaky(codes[0]))  # noqa: PLR2004 - status codes
    statuses = list(map(status_of, codes))
    return statuses.count(1), statuses.count(2), sum(map(is_flaky, codes))


def _failing_in(store: Store, run: int) -> set[int]:
    """The tests that failed or errored in one run."""
    rows = store.backend.query("SELECT test, outcome FROM qa_problems WHERE run = ?", (run,))
    return {int(key) for key, code in rows if status_of(int(code)) in _FAILING}


def _group(code: int, before: int | None, *, held: bool, has_base: bool) -> str | None:
    """Which group of `Comparison` a test with outcome `code` (base: `before`) belongs in."""
    failing = status_of(code) in _FAILING
    failed_before = before is not None and status_of(before) in _FAILING
    if held:
        return "quarantined"
    if failing:
        return "still_failing" if failed_before else "new" if has_base else "unknown"
    if is_flaky(code):
        return "flaky"
    return "fixed" if status_of(code) == 0 and failed_before else None


def _with_rate(entry: Entry, rate: FlakeRate | None) -> Entry:
    return dataclasses.replace(entry, rate=rate)


def _since(entry: Entry, commit: str | None, at: float | None) -> Entry:
    return dataclasses.replace(entry, since_commit=commit, since_at=at)


#: base-branch runs searched back for the start of a failing streak
SINCE_RUNS = 1000


def _failing_since(
    store: Store, project: int, branch: str, keys: list[int]
) -> dict[int, tuple[str | None, float | None]]:
    """For each test, the commit and start of the oldest run of its newest unbroken failing streak.

    Walks the base branch's complete runs newest first (at most `SINCE_RUNS`); a
    run where the test did not fail (passed, skipped, or did not run) ends its streak.
    """
    runs = window_runs(store, project, branch=branch, window=SINCE_RUNS, kinds=("run", "merge"))
    failing: dict[int, set[int]] = {}
    open_keys = set(keys)
    since: dict[int, tuple[str | None, float | None]] = {}
    previous: RunInfo | None = None  # the oldest run walked whose failures continued the streaks
    for start in range(0, len(runs), 50):
        batch = runs[start : start + 50]
        rows = [r.row for r in batch]
        for part in chunks(sorted(open_keys)):
            for run, key, code in store.backend.query(
                f"SELECT run, test, outcome FROM qa_problems WHERE run IN ({marks(len(rows))})"  # noqa: S608
                f" AND test IN ({marks(len(part))})",
                (*rows, *part),
            ):
                if status_of(int(code)) in _FAILING:
                    failing.setdefault(int(run), set()).add(int(key))
        for info in batch:
            kept = open_keys & failing.get(info.row, set())  # a run where it did not fail ends its streak
            if previous is not None:
                since.update(dict.fromkeys(open_keys - kept, (previous.commit or None, previous.started_at)))
            open_keys, previous = kept, info
            if not open_keys:
                return since
    if previous is not None:
        since.update(dict.fromkeys(open_keys, (previous.commit or None, previous.started_at)))
    return since
