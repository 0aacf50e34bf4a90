"""Recording a run: its results prepared once (keys, packed arrays, sums), then one writer transaction.

**Recording is idempotent.** A run is identified in its project by its run id
and start time. Recording it again — a re-import, or the live run imported
later from its bundle — replaces what was recorded for it, in one writer
transaction: nothing is lost, nothing is counted twice.

**A merged run supersedes its shards.** A merged run names the shard runs it
was built from (``qa_run_parts``). Those shard runs stay in the store but get
``superseded_by`` set, whichever was recorded first (the merge looks for its
shards, each shard looks for a merge that names it), and every query reads
only runs that are not superseded. Two shards and their merge recording at
the same moment are serialised by the writer lock, so neither can miss the
other. Results are therefore counted once: from the merge when there is one,
from the shards until then.
"""

from __future__ import annotations

import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from qaagent.history.model import (
    ResultLike,
    RunRecord,
    canonical,
    duration_ms,
)
from qaagent.history.prepared import RunResults, prepare
from qaagent.history.store import Scope, Store, chunks, marks

#: known tests are looked up key by key below this many new ones in a range of keys, else the range at once
_FEW = 2000


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a run did."""

    run: int  #: the run's row id
    results: int
    replaced: bool  #: the run had been recorded before (its old rows were replaced)
    superseded: bool  #: this shard run is already superseded by a recorded merge
    supersedes: int  #: shard runs this merged run now supersedes


def record(store: Store, run: RunRecord, results: Iterable[ResultLike] | RunResults) -> Recorded:
    """Record `run` and its results in one writer transaction (replacing an earlier recording).

    The transaction's rows (a first run's every test, the packed blobs) are written with
    the backend's bounded cache (`Backend.filling`): SQLite spills dirty pages to its WAL
    instead of holding them all until the commit. The blobs are the packed arrays' own
    buffers (`Backend.insert_blobs`: SQLite writes them in pieces, no copy of them).
    """
    prepared = prepare(results)
    scope = Scope(run.project, run.repository)
    backend = store.backend
    with backend.writing(f"qaagent-history:{scope.project}\x00{scope.repository}"), backend.filling():
        project = store.project_id(scope, create=True)
        assert project is not None  # noqa: S101 - created above
        replaced = _forget(store, project, run)
        row = _insert_run(store, project, run, prepared)
        supersedes = _supersede(store, project, row, run)
        superseded = _superseded_on_arrival(store, project, row, run)
        _add_tests(store, project, prepared)
        packed = prepared.packed
        keys, outcomes, durations = packed.buffers()
        backend.insert_blobs(
            "qa_results",
            ("run", "count"),
            (row, len(packed)),
            {"keys": keys, "outcomes": outcomes, "durations": durations},
        )
        backend.insert_many(
            "qa_problems",
            ("run", "test", "outcome"),
            ((row, k, o) for k, o in packed.unclean()),  # streamed, not a list of every unclean result
        )
        units = dict(prepared.units)
        for suite, seconds in run.suite_durations.items():
            if isinstance(seconds, int | float) and seconds >= 0:
                units[(canonical(suite), "S", "")] = float(seconds)
        backend.insert_many(
            "qa_run_units",
            ("run", "suite", "kind", "unit", "duration_ms"),
            [
                (row, suite, kind, unit, duration_ms(seconds))
                for (suite, kind, unit), seconds in units.items()
            ],
        )
    return Recorded(row, len(packed), replaced, superseded, supersedes)


def _forget(store: Store, project: int, run: RunRecord) -> bool:
    backend = store.backend
    rows = backend.query(
        "SELECT id FROM qa_runs WHERE project_id = ? AND run_id = ? AND started = ?",
        (project, canonical(run.run_id), canonical(run.started)),
    )
    if not rows:
        return False
    old = rows[0][0]
    for table in ("qa_results", "qa_problems", "qa_run_units", "qa_run_parts"):
        backend.query(f"DELETE FROM {table} WHERE run = ?", (old,))  # noqa: S608 - our own names
    backend.query("UPDATE qa_runs SET superseded_by = NULL WHERE superseded_by = ?", (old,))
    backend.query("DELETE FROM qa_runs WHERE id = ?", (old,))
    return True


def _insert_run(store: Store, project: int, run: RunRecord, prepared: RunResults) -> int:
    passed, failed, errors, skipped = prepared.counts
    finished = run.finished_at
    columns = {
        "project_id": project,
        "run_id": canonical(run.run_id),
        "started": canonical(run.started),
        "started_at": float(run.started_at),
        "finished_at": finished,
        "kind": run.kind,
        "commit_sha": canonical(run.commit),
        "branch": canonical(run.branch),
        "base_branch": canonical(run.base_branch),
        "pr_number": run.pr_number,
        "ci_run_id": canonical(run.ci_run_id),
        "ci_run_attempt": canonical(run.ci_run_attempt),
        "shard": canonical(run.shard),
        "status": canonical(run.status),
        "tests": len(prepared),
        "passed": passed,
        "failed": failed,
        "errors": errors,
        "skipped": skipped,
        "flaky": prepared.flaky,
        "duration": (finished - run.started_at) if finished is not None else None,
        "superseded_by": None,
        "recorded_at": time.time(),
    }
    sql = f"INSERT INTO qa_runs ({', '.join(columns)}) VALUES ({marks(len(columns))}) RETURNING id"  # noqa: S608
    return int(store.backend.query(sql, tuple(columns.values()))[0][0])


def _supersede(store: Store, project: int, row: int, run: RunRecord) -> int:
    parts = sorted({(canonical(p.run_id), canonical(p.started)) for p in run.merged_from})
    if not parts:
        return 0
    store.backend.insert_many(
        "qa_run_parts", ("run", "part_run_id", "part_started"), [(row, *p) for p in parts]
    )
    count = 0
    for part_id, part_started in parts:
        count += len(
            store.backend.query(
                "UPDATE qa_runs SET superseded_by = ? WHERE project_id = ? AND run_id = ? AND id <> ?"
                " AND (? = '' OR started = ?) RETURNING id",
                (row, project, part_id, row, part_started, part_started),
            )
        )
    return count


def _superseded_on_arrival(store: Store, project: int, row: int, run: RunRecord) -> bool:
    found = store.backend.query(
        "SELECT p.run FROM qa_run_parts p JOIN qa_runs m ON m.id = p.run"
        " WHERE p.part_run_id = ? AND (p.part_started = '' OR p.part_started = ?)"
        " AND m.project_id = ? AND m.id <> ? ORDER BY m.started_at DESC",
        (canonical(run.run_id), canonical(run.started), project, row),
    )
    if not found:
        return False
    store.backend.query("UPDATE qa_runs SET superseded_by = ? WHERE id = ?", (found[0][0], row))
    return True


def _add_tests(store: Store, project: int, prepared: RunResults) -> None:
    """Add the tests this project has not seen (a test keeps the file it was first seen in).

    New tests are the keys the project's newest recorded run did not have,
    then checked against the tests table — no lookup for the tests every run has.
    The keys are compared a range of them at a time (sets of at most `_RANGE` keys);
    the new tests are then named in one more pass over the results, a chunk at a
    time, and streamed into `Backend.insert_in_order`, which fills the table in key
    order (SQLite: a temporary table sorted by SQLite; PostgreSQL: batches of `_ROWS`,
    each sorted). What is held is a set of the new keys and one chunk of rows (one
    batch on PostgreSQL), not a name per result of the run.

    A project's first run (no tests of it stored) compares nothing and builds no set:
    every test is new, so every result is named (the first seen of a key given twice).
    `record` calls this inside `Backend.filling`: SQLite holds a bounded part of the
    rows (its page cache), still inside the run's one writer transaction.
    """
    backend = store.backend
    latest = backend.query(
        "SELECT r.run FROM qa_results r JOIN qa_runs u ON u.id = r.run WHERE u.project_id = ?"
        " ORDER BY u.id DESC LIMIT 1",
        (project,),
    )
    mine = prepared.packed.keys
    previous = store.keys([int(latest[0][0])])[int(latest[0][0])] if latest else None
    if previous == mine:  # the same tests as the newest run (both sorted): nothing new, no sets built
        return
    first = previous is None and not backend.query(
        "SELECT 1 FROM qa_tests WHERE project_id = ? LIMIT 1", (project,)
    )
    wanted: set[int] | None = None  # the project's first run: every test is new, no set of them
    if not first:
        wanted = _new_keys(store, project, mine, previous)
        if not wanted:
            return

    def rows() -> Iterator[tuple[Any, ...]]:
        """The new tests' rows, one at a time; each pass names from a copy (`named` empties its set)."""
        return ((project, *row) for row in prepared.named(None if wanted is None else set(wanted)))

    backend.insert_in_order(
        "qa_tests",
        ("project_id", "test", "suite", "classname", "name", "file"),
        rows,
        key="test",
        batch=_ROWS,
    )


#: keys compared at a time by `_add_tests`
_RANGE = 32768
#: new tests inserted at a time on PostgreSQL (`Backend.insert_in_order`: each batch in key order)
_ROWS = 8192


def _new_keys(store: Store, project: int, mine: array[int], previous: array[int] | None) -> set[int]:
    """The keys of `mine` (sorted) in neither `previous` (sorted) nor the project's tests table."""
    backend = store.backend
    new: set[int] = set()
    at = 0
    while at < len(mine):
        end = bisect_right(mine, mine[min(at + _RANGE, len(mine)) - 1])  # a key's reruns in one range
        low, high = mine[at], mine[end - 1]
        candidates = set(mine[at:end])
        at = end
        if previous is not None:
            candidates.difference_update(previous[bisect_left(previous, low) : bisect_right(previous, high)])
        if len(candidates) > _FEW:
            known = backend.query(
                "SELECT test FROM qa_tests WHERE project_id = ? AND test >= ? AND test <= ?",
                (project, low, high),
            )
            candidates.difference_update(int(k) for (k,) in known)
        else:
            for part in chunks(sorted(candidates)):
                candidates.difference_update(
                    int(k)
                    for (k,) in backend.query(
                        f"SELECT test FROM qa_tests WHERE project_id = ? AND test IN ({marks(len(part))})",  # noqa: S608
                        (project, *part),
                    )
                )
        new |= candidates
    return new
