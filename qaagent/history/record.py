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

import gc
import hashlib
import operator
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from qaagent.history.model import (
    MAX_SECONDS,
    MAX_TEXT,
    STATUS_CODE,
    Identities,
    ResultLike,
    RunRecord,
    canonical,
    duration_ms,
)
from qaagent.history.packed import Packed, is_clean, outcome
from qaagent.history.store import Scope, Store, chunks, marks
from qaagent.text import clean_text

#: known tests are looked up key by key below this many new ones, else all at once
_FEW = 2000


@dataclass(frozen=True)
class RunResults:
    """A run's results, prepared once for both comparing and recording."""

    packed: Packed
    counts: tuple[int, int, int, int]  #: passed, failed, errors, skipped
    flaky: int
    units: dict[tuple[str, str, str], float]  #: (suite, F|C, file or classname) → seconds
    #: in the order given: each result's key, and its (hashed prefix, cleaned name, stored file)
    _keys: list[int] = field(repr=False)
    _names: list[tuple[tuple[bytes, str, str], str, str]] = field(repr=False)

    def __len__(self) -> int:
        return len(self.packed)

    def names(self, wanted: Collection[int]) -> dict[int, tuple[str, str, str, str]]:
        """Stored suite, classname, name and file of the `wanted` keys (built only when asked)."""
        found: dict[int, tuple[str, str, str, str]] = {}
        for key, (prefix, name, file) in zip(self._keys, self._names, strict=True):
            if key in wanted and key not in found:
                found[key] = (prefix[1], prefix[2], name if len(name) <= MAX_TEXT else canonical(name), file)
        return found


#: the fields `prepare` reads of each result, in the order of its rows
FIELDS = ("suite", "classname", "name", "status", "duration", "file", "attempts", "flaky")
Row = tuple[str, str, str, str, float, str | None, int, bool]


def prepare(results: Iterable[ResultLike] | RunResults) -> RunResults:
    """Keys, packed outcomes and per-file sums of `results` (the hot path of recording, kept flat).

    `results` may be `ResultRecord` values or anything with the same attributes
    (a finished run's `TestCase` values; `prepare_rows` takes a `CaseStore`'s
    rows without building them). The garbage collector is paused meanwhile: the
    loop makes no cycles, and its 100,000 small tuples would otherwise trigger
    collections worth a quarter of its time.
    """
    if isinstance(results, RunResults):
        return results
    return prepare_rows(map(operator.attrgetter(*FIELDS), results))


def prepare_rows(rows: Iterable[Row]) -> RunResults:
    """`prepare` of rows of the `FIELDS` (``CaseStore.columns(FIELDS)``: no object per result)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return _prepare(rows)
    finally:
        if paused:
            gc.enable()


def _prepare(results: Iterable[Row]) -> RunResults:
    keys: list[int] = []
    codes: list[int] = []
    times: list[int] = []
    names: list[tuple[tuple[bytes, str, str], str, str]] = []
    counts = [0, 0, 0, 0]
    flaky = 0
    units: dict[tuple[str, str, str], float] = {}
    identities = Identities()
    prefixes = identities.prefixes
    prefix_of = identities.prefix
    files: dict[str, str] = {}
    status_codes = STATUS_CODE
    add_key, add_code, add_time, add_name = keys.append, codes.append, times.append, names.append
    blake2b = hashlib.blake2b
    from_bytes = int.from_bytes
    for suite, classname, raw_name, status_name, raw_seconds, raw_file, attempts, is_flaky in results:
        prefix = prefixes.get((suite, classname)) or prefix_of(suite, classname)
        name = raw_name if raw_name.isascii() and raw_name.isprintable() else clean_text(raw_name)
        add_key(
            from_bytes(blake2b(prefix[0] + name.encode(), digest_size=8).digest(), "little") >> 1
        )  # name_key
        status = status_codes.get(status_name, 2)
        counts[status] += 1
        code = status | 8  # one attempt
        if is_flaky:
            flaky += 1
            code |= 4
        if attempts != 1:
            code = outcome(status, flaky=bool(is_flaky), attempts=attempts if type(attempts) is int else 1)
        add_code(code)
        file = (files.get(raw_file) or files.setdefault(raw_file, canonical(raw_file))) if raw_file else ""
        add_name((prefix, name, file))
        seconds = raw_seconds
        if type(seconds) is not float or not 0 < seconds < MAX_SECONDS:
            seconds = duration_ms(seconds) / 1000
        unit = (prefix[1], "F", file) if file else (prefix[1], "C", prefix[2])
        units[unit] = units.get(unit, 0.0) + seconds
        add_time(int(seconds * 1000 + 0.5))
    packed = Packed.sorted(keys, codes, times)
    return RunResults(packed, (counts[0], counts[1], counts[2], counts[3]), flaky, units, keys, names)


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a run did."""

    run: int  #: the run's row id
    results: int
    replaced: bool  #: the run had been recorded before (its old rows were replaced)
    superseded: bool  #: this shard run is already superseded by a recorded merge
    supersedes: int  #: shard runs this merged run now supersedes


def record(store: Store, run: RunRecord, results: Iterable[ResultLike] | RunResults) -> Recorded:
    """Record `run` and its results in one writer transaction (replacing an earlier recording)."""
    prepared = prepare(results)
    scope = Scope(run.project, run.repository)
    backend = store.backend
    with backend.writing(f"qaagent-history:{scope.project}\x00{scope.repository}"):
        project = store.project_id(scope, create=True)
        assert project is not None  # noqa: S101 - created above
        replaced = _forget(store, project, run)
        row = _insert_run(store, project, run, prepared)
        supersedes = _supersede(store, project, row, run)
        superseded = _superseded_on_arrival(store, project, row, run)
        _add_tests(store, project, prepared)
        packed = prepared.packed
        backend.insert_many(
            "qa_results",
            ("run", "count", "keys", "outcomes", "durations"),
            [(row, len(packed), *packed.blobs())],
        )
        backend.insert_many(
            "qa_problems",
            ("run", "test", "outcome"),
            [(row, k, o) for k, o in zip(packed.keys, packed.outcomes, strict=True) if not is_clean(o)],
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
    """
    backend = store.backend
    latest = backend.query(
        "SELECT r.run FROM qa_results r JOIN qa_runs u ON u.id = r.run WHERE u.project_id = ?"
        " ORDER BY u.id DESC LIMIT 1",
        (project,),
    )
    previous: set[int] = set()
    if latest:
        previous = set(store.results([int(latest[0][0])])[int(latest[0][0])].keys)
    candidates = sorted(set(prepared.packed.keys) - previous)
    if not candidates:
        return
    known: set[int] = set()
    if len(candidates) > _FEW:
        known = {
            int(k) for (k,) in backend.query("SELECT test FROM qa_tests WHERE project_id = ?", (project,))
        }
    else:
        for part in chunks(candidates):
            known.update(
                int(k)
                for (k,) in backend.query(
                    f"SELECT test FROM qa_tests WHERE project_id = ? AND test IN ({marks(len(part))})",  # noqa: S608
                    (project, *part),
                )
            )
    names = prepared.names({k for k in candidates if k not in known})
    new = [(project, k, *names[k]) for k in candidates if k in names]
    if new:
        backend.insert_many("qa_tests", ("project_id", "test", "suite", "classname", "name", "file"), new)
