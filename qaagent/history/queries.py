"""Reading the history: windows of runs, durations (p50), the slowest tests, trends, one test's record.

A *window* is the last N runs of a branch (or of every branch) that count:
not superseded by a merge, not cancelled. Durations are medians (p50) over
the window, so one slow run does not reorder the schedule.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from qaagent.durations import Durations, SuiteDurations
from qaagent.history.model import STATUS_NAME, TestId
from qaagent.history.packed import attempts_of, is_flaky, status_of
from qaagent.history.store import Scope, Store, chunks, effective, marks

#: runs searched back for one test's record (`outcomes`)
SEARCH_RUNS = 2000
RUN_COLUMNS = (
    "id, run_id, started, started_at, kind, commit_sha, branch, base_branch, pr_number, shard, status,"
    " tests, passed, failed, errors, skipped, flaky, duration"
)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A recorded run as queries see it."""

    row: int
    run_id: str
    started: str
    started_at: float
    kind: str
    commit: str
    branch: str
    base_branch: str
    pr_number: int | None
    shard: str
    status: str
    tests: int
    passed: int
    failed: int
    errors: int
    skipped: int
    flaky: int
    duration: float | None

    @classmethod
    def of(cls, row: Sequence[Any]) -> RunInfo:
        """From a row of `RUN_COLUMNS`."""
        (rid, run_id, started, at, kind, commit, branch, base, pr, shard, status, *numbers, duration) = row
        tests, passed, failed, errors, skipped, flaky = (int(n) for n in numbers)
        return cls(
            int(rid), str(run_id), str(started), float(at), str(kind), str(commit), str(branch), str(base),
            None if pr is None else int(pr), str(shard), str(status), tests, passed, failed, errors,
            skipped, flaky, None if duration is None else float(duration),
        )  # fmt: skip

    @property
    def pass_rate(self) -> float | None:
        """Passed (flaky included) over the tests that ran (skipped ones left out)."""
        ran = self.tests - self.skipped
        return self.passed / ran if ran > 0 else None


def window_runs(
    store: Store,
    project: int,
    *,
    branch: str | None,
    window: int,
    kinds: Sequence[str] = ("run", "shard", "merge"),
) -> list[RunInfo]:
    """The last `window` effective runs of `branch` (None: any branch), newest first."""
    params: list[Any] = [project, *kinds]
    where = f"project_id = ? AND kind IN ({marks(len(kinds))}) AND {effective()}"
    if branch is not None:
        where += " AND branch = ?"
        params.append(branch)
    rows = store.backend.query(
        f"SELECT {RUN_COLUMNS} FROM qa_runs WHERE {where} ORDER BY started_at DESC, id DESC LIMIT ?",  # noqa: S608
        (*params, window),
    )
    return [RunInfo.of(row) for row in rows]


def latest_run(store: Store, project: int, *, branch: str) -> RunInfo | None:
    """The newest complete run of `branch` (a whole run or a merge; not a lone shard)."""
    runs = window_runs(store, project, branch=branch, window=1, kinds=("run", "merge"))
    return runs[0] if runs else None


def p50(values: Sequence[float]) -> float:
    """The median (the mean of the middle two for an even count)."""
    return float(statistics.median(values))


def durations(
    store: Store,
    scope: Scope,
    *,
    branch: str | None,
    window: int,
    kinds: Sequence[str] = ("run", "shard", "merge"),
) -> Durations:
    """p50 seconds per suite, per test file and per file-less classname, over the window.

    Suite totals come from whole runs only (a shard ran part of a suite; a merge's
    suite time is a span across machines); file and classname times from every
    run in the window of `kinds`. The result plugs into scheduling like a
    `--durations-from` file.
    """
    project = store.project_id(scope)
    if project is None:
        return Durations(source="")
    runs = window_runs(store, project, branch=branch, window=window, kinds=kinds)
    if not runs:
        return Durations(source="")
    whole = {r.row for r in runs if r.kind == "run"}
    samples: dict[tuple[str, str, str], list[float]] = {}
    for part in chunks([r.row for r in runs]):
        for run, suite, kind, unit, ms in store.backend.query(
            f"SELECT run, suite, kind, unit, duration_ms FROM qa_run_units WHERE run IN ({marks(len(part))})",  # noqa: S608
            part,
        ):
            if kind == "S" and run not in whole:
                continue
            samples.setdefault((str(suite), str(kind), str(unit)), []).append(ms / 1000)
    totals: dict[str, float] = {}
    files: dict[str, dict[str, float]] = {}
    classes: dict[str, dict[str, float]] = {}
    for (suite, kind, unit), values in samples.items():
        value = round(p50(values), 3)
        if kind == "S":
            totals[suite] = value
        else:
            (files if kind == "F" else classes).setdefault(suite, {})[unit] = value
    names = dict.fromkeys([*totals, *files, *classes])
    where = f"branch {branch}" if branch is not None else "all branches"
    return Durations(
        source=f"history {store.display} (p50 of {len(runs)} run(s), {where})",
        suites={n: SuiteDurations(totals.get(n), files.get(n, {}), classes.get(n, {})) for n in names},
    )


def test_names(store: Store, project: int, keys: Sequence[int]) -> dict[int, tuple[TestId, str]]:
    """Identity and file of each test key."""
    found: dict[int, tuple[TestId, str]] = {}
    for part in chunks(list(keys)):
        for key, suite, classname, name, file in store.backend.query(
            f"SELECT test, suite, classname, name, file FROM qa_tests WHERE project_id = ? AND test IN ({marks(len(part))})",  # noqa: S608, E501
            (project, *part),
        ):
            found[int(key)] = (TestId(str(suite), str(classname), str(name), int(key)), str(file))
    return found


@dataclass(frozen=True, slots=True)
class Slow:
    """One row of ``qaagent history slowest``."""

    label: str  #: the test id, ``suite file`` or the suite
    p50: float  #: seconds
    runs: int  #: results the median is taken over


def slowest(
    store: Store,
    scope: Scope,
    *,
    branch: str | None,
    window: int,
    by: Literal["test", "file", "suite"] = "test",
    limit: int = 20,
) -> list[Slow]:
    """The slowest tests, files or suites by p50 duration over the window."""
    project = store.project_id(scope)
    if project is None:
        return []
    runs = [r.row for r in window_runs(store, project, branch=branch, window=window)]
    if by != "test":
        found = durations(store, scope, branch=branch, window=window)
        rows: list[Slow] = []
        for suite, entry in found.suites.items():
            if by == "suite":
                total = found.suite_total(suite)
                if total is not None:
                    rows.append(Slow(suite, total, 0))
            else:
                rows.extend(Slow(f"{suite} {file}", seconds, 0) for file, seconds in entry.files.items())
        return sorted(rows, key=lambda s: (-s.p50, s.label))[:limit]
    samples = _test_samples(store, runs)
    ranked = sorted(((p50(v) / 1000, len(v), k) for k, v in samples.items()), key=lambda t: (-t[0], t[2]))[
        :limit
    ]
    names = test_names(store, project, [k for _, _, k in ranked])
    return [Slow(names[k][0].text if k in names else str(k), value, n) for value, n, k in ranked]


def _test_samples(store: Store, runs: Sequence[int]) -> dict[int, list[int]]:
    """Each test's milliseconds in `runs`."""
    samples: dict[int, list[int]] = {}
    for packed in store.results(runs, durations=True).values():
        for key, ms in zip(packed.keys, packed.durations, strict=True):
            times = samples.get(key)
            if times is None:
                samples[key] = [ms]
            else:
                times.append(ms)
    return samples


@dataclass(frozen=True, slots=True)
class Trends:
    """Runs oldest first, with each suite's time per run (None where a suite did not run)."""

    runs: list[RunInfo]
    suites: dict[str, list[float | None]]


def trends(store: Store, scope: Scope, *, branch: str | None, limit: int) -> Trends:
    """Pass rate and suite durations of the last `limit` effective runs (whole runs and merges)."""
    project = store.project_id(scope)
    if project is None:
        return Trends([], {})
    runs = list(reversed(window_runs(store, project, branch=branch, window=limit, kinds=("run", "merge"))))
    index = {r.row: i for i, r in enumerate(runs)}
    suite_time: dict[str, list[float | None]] = {}
    case_time: dict[str, list[float]] = {}
    for part in chunks(list(index)):
        for run, suite, kind, ms in store.backend.query(
            f"SELECT run, suite, kind, duration_ms FROM qa_run_units WHERE run IN ({marks(len(part))})",  # noqa: S608
            part,
        ):
            name = str(suite)
            if kind == "S":
                suite_time.setdefault(name, [None] * len(runs))[index[run]] = ms / 1000
            else:
                sums = case_time.setdefault(name, [0.0] * len(runs))
                sums[index[run]] += ms / 1000
    for name, sums in case_time.items():  # a suite without a recorded total: the sum of its cases
        row = suite_time.setdefault(name, [None] * len(runs))
        for i, value in enumerate(sums):
            if row[i] is None and value > 0:
                row[i] = value
    return Trends(runs, dict(sorted(suite_time.items())))


@dataclass(frozen=True, slots=True)
class Outcome:
    """One test's result in one run."""

    run: RunInfo
    status: str
    duration: float
    attempts: int
    flaky: bool


def find_tests(store: Store, scope: Scope, text: str, *, limit: int = 20) -> list[tuple[TestId, str]]:
    """Tests whose id is `text`, else whose id contains it (at most `limit`)."""
    project = store.project_id(scope)
    if project is None:
        return []
    exact = TestId.parse(text)
    if exact is not None:
        hit = test_names(store, project, [exact.key])
        if hit:
            return list(hit.values())
    rows = store.backend.query(
        "SELECT test, suite, classname, name, file FROM qa_tests WHERE project_id = ?"
        " ORDER BY suite, classname, name",
        (project,),
    )
    found: list[tuple[TestId, str]] = []
    for key, suite, classname, name, file in rows:
        test = TestId(str(suite), str(classname), str(name), int(key))
        if test.text == text:
            return [(test, str(file))]
        if text in test.text and len(found) <= limit:
            found.append((test, str(file)))
    return found


def outcomes(store: Store, scope: Scope, test: TestId, *, branch: str | None, limit: int) -> list[Outcome]:
    """The test's results in the last `limit` effective runs it ran in, newest first.

    Runs are read newest first, `limit` at a time, until `limit` results are found
    (a test that stopped running is searched at most `SEARCH_RUNS` runs back).
    """
    project = store.project_id(scope)
    if project is None:
        return []
    runs = window_runs(store, project, branch=branch, window=SEARCH_RUNS)
    found: list[Outcome] = []
    for start in range(0, len(runs), max(limit, 1)):
        batch = runs[start : start + max(limit, 1)]
        packed = store.results([r.row for r in batch], durations=True)
        for info in batch:
            results = packed.get(info.row)
            if results is None:
                continue
            for index in results.find(test.key):
                code = results.outcomes[index]
                found.append(
                    Outcome(
                        info,
                        STATUS_NAME[status_of(code)],
                        results.durations[index] / 1000,
                        attempts_of(code),
                        is_flaky(code),
                    )
                )
            if len(found) >= limit:
                return found[:limit]
    return found
