"""What recording a run computes and stores, pinned (so making `prepared.prepare` faster cannot change it).

`prepare` is the hot path of recording (100,000 results per run; see docs/benchmarks.md,
"Test history"). Here its output for a small input of every awkward kind — hostile and
long names, unknown statuses, bad durations, odd attempts, missing files, a test that ran
twice — is checked twice: against a plain one-result-at-a-time account of the rules
(`TestId.of`, `outcome`, `canonical`), and against digests of what it computed and of the
rows `record` wrote, taken before the fast path was rewritten.
"""

from __future__ import annotations

import hashlib
import math
import random
import sqlite3
import tracemalloc
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from history_support import SCOPE, run

from qaagent.history import backends
from qaagent.history import record as recording
from qaagent.history.faults import HistoryError
from qaagent.history.model import MAX_SECONDS, MAX_TEXT, STATUS_CODE, TestId, canonical, duration_ms
from qaagent.history.packed import Packed, outcome
from qaagent.history.prepared import FIELDS, Row, RunResults, prepare_columns, prepare_rows
from qaagent.history.rates import flake_rates
from qaagent.history.record import record
from qaagent.history.store import Store, open_store
from qaagent.results import CaseStore, TestCase

NAMES = [
    "plain",
    "with space[param-1]",
    "\x1b[31mred\x1b[0m",
    "nul\x00inside",
    "tab\tand\r\nnewline",
    "😀 emoji",
    "lone \ud800 surrogate",
    "<script>alert(1)</script>",
    "::colons::",
    "x" * (MAX_TEXT + 50),
]
STATUSES = ["passed", "failed", "error", "skipped", "weird"]
SECONDS: list[float] = [0.25, 0.0, -1.0, math.nan, math.inf, 3, 0.0025, MAX_SECONDS * 2, 1e-9, 12.3456]
ATTEMPTS: list[int] = [1, 2, 0, True, 9000, 1]
FILES = [None, "", "tests/test_a.py", "tests/\x1b[1mb\x1b[0m.py", "tests/test_a.py"]


def rows(count: int = 9000) -> Iterator[Row]:
    """`count` rows of `FIELDS` cycling through every awkward value (more than one batch)."""
    for i in range(count):
        name = NAMES[i % len(NAMES)] + ("" if i % 11 == 0 else f"-{i % 4000}")  # repeats: tests ran twice
        yield (
            f"suite{i % 3}" if i % 17 else "su\x1bite",
            f"tests.mod{i % 7}" if i % 13 else "Cls\x00",
            name,
            STATUSES[i % len(STATUSES)],
            SECONDS[i % len(SECONDS)] + (i % 5) * 0.001,
            FILES[i % len(FILES)],
            ATTEMPTS[i % len(ATTEMPTS)],
            i % 9 == 0,
        )


def one_at_a_time(given: list[Row]) -> tuple[list[tuple[int, int, int]], dict[tuple[str, str, str], float]]:
    """The rules, one result at a time: (key, outcome, ms) sorted by key (stably), and per-unit seconds."""
    entries: list[tuple[int, int, int]] = []
    units: dict[tuple[str, str, str], float] = {}
    for suite, classname, name, status, raw_seconds, file, attempts, flaky in given:
        test = TestId.of(suite, classname, name)
        code = outcome(
            STATUS_CODE.get(status, 2), flaky=bool(flaky), attempts=attempts if type(attempts) is int else 1
        )
        seconds = raw_seconds
        if type(seconds) is not float or not 0 < seconds < MAX_SECONDS:
            seconds = duration_ms(seconds) / 1000
        entries.append((test.key, code, int(seconds * 1000 + 0.5)))  # half up, as stored
        stored = canonical(file) if file else ""
        unit = (test.suite, "F", stored) if stored else (test.suite, "C", test.classname)
        units[unit] = units.get(unit, 0.0) + seconds
    entries.sort(key=lambda e: e[0])
    return entries, units


SUBSETS: dict[str, Callable[[Row], bool]] = {
    "every kind": bool,
    "one suite (as a CaseStore's chunks are)": lambda r: r[0] == "suite1",
    "one suite, every result with a file": lambda r: r[0] == "suite1" and bool(r[5]),
    "plain durations and names (every chunk on the fast paths)": lambda r: (
        type(r[4]) is float and 0 < r[4] < MAX_SECONDS and r[2].isascii() and r[2].isprintable()
    ),
}


@pytest.mark.parametrize("subset", list(SUBSETS))
def test_prepare_follows_the_rules_one_result_at_a_time(subset: str) -> None:
    given = [r for r in rows() if SUBSETS[subset](r)]
    assert len(given) > 1000
    prepared = prepare_rows(iter(given))
    entries, units = one_at_a_time(given)
    packed = prepared.packed
    assert list(zip(packed.keys, packed.outcomes, packed.durations, strict=True)) == entries
    assert len(set(packed.keys)) < len(packed)  # some tests ran twice
    assert prepared.units == units
    assert list(prepared.units) == list(units)  # the same order, so the same rows in the same order
    statuses = [STATUS_CODE.get(r[3], 2) for r in given]
    assert prepared.counts == tuple(statuses.count(s) for s in range(4))
    assert prepared.flaky == sum(1 for r in given if r[7])
    first: dict[int, tuple[str, str, str, str]] = {}
    for suite, classname, name, _, _, file, _, _ in given:  # the first seen of a test wins
        test = TestId.of(suite, classname, name)
        first.setdefault(test.key, (test.suite, test.classname, test.name, canonical(file) if file else ""))
    assert prepared.names(set(packed.keys)) == first


def test_packed_sorts_stably_by_key() -> None:
    """`Packed.sorted` is the stable sort by key: reruns of a test keep their order; any 64-bit key."""
    generator = random.Random(14)
    keys = [generator.getrandbits(63) for _ in range(5000)]
    keys += [*keys[:700], 0, (1 << 63) - 1, 0, -1, -(1 << 63)]
    codes = [generator.randrange(1 << 16) for _ in keys]
    times = [generator.randrange(1 << 32) for _ in keys]
    expected = sorted(zip(keys, codes, times, strict=True), key=lambda e: e[0])
    packed = Packed.sorted(keys, codes, times)
    assert list(zip(packed.keys, packed.outcomes, packed.durations, strict=True)) == expected


def digest(prepared: RunResults) -> str:
    """A digest of everything `prepare` computed."""
    text = repr(
        (
            prepared.packed.blobs(),
            prepared.counts,
            prepared.flaky,
            list(prepared.units.items()),
            sorted(prepared.names(set(prepared.packed.keys)).items()),
        )
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def test_what_prepare_computes_is_pinned() -> None:
    assert digest(prepare_rows(rows())) == "dc55e851adcd9efdd74f59b3feb8a0e9b4207b777c95e613e5dc283e437631ad"


def test_what_record_stores_and_the_flake_rates_are_pinned(store: Store) -> None:
    given = list(rows(3000))
    record(store, run(1, commit="aaa"), prepare_rows(iter(given)))
    flipped = [(*r[:3], "failed" if r[3] == "passed" else r[3], *r[4:]) for r in given]
    record(store, run(2, commit="aaa"), prepare_rows(iter(flipped)))
    tables = {
        table: sorted(tuple(row) for row in store.backend.query(f"SELECT {columns} FROM {table}"))  # noqa: S608
        for table, columns in [
            ("qa_results", "count, keys, outcomes, durations"),
            ("qa_problems", "test, outcome"),
            ("qa_run_units", "suite, kind, unit, duration_ms"),
            ("qa_tests", "test, suite, classname, name, file"),
        ]
    }
    stored = [(table, [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in found])
              for table, found in tables.items()]  # fmt: skip
    assert (
        hashlib.sha256(repr(stored).encode()).hexdigest()
        == "7792ef26861119bbe2c97b9c8ec872a9e842105c27d3958899cb09544c5296c8"
    )
    rates = sorted(
        (r.test.text, r.results, r.flaky, r.clean_streak, r.last_flaky_commit)
        for r in flake_rates(store, SCOPE, branch="main", window=50).values()
    )
    assert len(rates) > 100
    assert (
        hashlib.sha256(repr(rates).encode()).hexdigest()
        == "b6003a44f3c363f41689208c80bbe8e2e51f6e99e0097fbf793daab7efc4d14b"
    )


def test_a_case_stores_column_chunks_prepare_alike() -> None:
    """The live path (`CaseStore.column_chunks`, spilled and in memory) computes what rows do."""
    given = list(rows(5000))
    cases = CaseStore(TestCase(s, c, n, st, d, f, attempts=a, flaky=fl) for s, c, n, st, d, f, a, fl in given)  # type: ignore[arg-type]
    try:
        assert len(list(cases.column_chunks(FIELDS))) > 2  # spilled chunks, then the buffer
        live = prepare_columns(lambda: cases.column_chunks(FIELDS))
        assert digest(live) == digest(prepare_rows(iter(given)))
    finally:
        cases.close()


def held_by(count: int) -> tuple[int, RunResults]:
    """Bytes a prepared run of `count` results keeps allocated (its input made before, so not counted)."""
    given = list(rows(count))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        prepared = prepare_rows(given)
        return tracemalloc.get_traced_memory()[0] - before, prepared
    finally:
        tracemalloc.stop()


def test_a_prepared_run_holds_packed_arrays_not_an_object_per_result() -> None:
    """Issue 13's flat memory: the history keeps 22 bytes per result (arrays), no name, tuple or int object.

    Between the judge and the record the reports are written; what the history holds meanwhile
    must not be Python objects per result (each 28 bytes or more, before its list slot).
    """
    small, _ = held_by(4000)
    large, kept_large = held_by(36000)
    assert len(kept_large) == 36000
    per_result = (large - small) / 32000
    assert per_result <= 22 * 1.15  # the three sorted arrays and the keys in order (arrays over-allocate)
    assert not any(isinstance(v, list) for v in vars(kept_large).values())


def test_names_are_read_again_and_only_the_wanted_ones() -> None:
    """`named` reads the results once more and names only the wanted keys, the first seen of each."""
    given = list(rows(5000))
    reads = 0

    def source() -> Iterator[tuple[tuple[object, ...], ...]]:
        nonlocal reads
        reads += 1
        for at in range(0, len(given), 1000):
            yield tuple(zip(*given[at : at + 1000], strict=True))

    prepared = prepare_columns(source)
    assert reads == 1
    every = prepared.names(set(prepared.packed.keys))
    assert reads == 2
    some = sorted(prepared.packed.keys)[::50]
    assert prepared.names(some) == {k: every[k] for k in some}
    assert list(prepared.named(set())) == []
    assert reads == 3  # an empty wish reads nothing


@pytest.mark.parametrize("known", [False, True], ids=["fresh-store", "known-store"])
def test_results_read_again_short_are_an_error_and_nothing_is_recorded(store: Store, known: bool) -> None:
    """A second read of the results that ends early (a spill gone or cut) loses no test silently."""
    given = list(rows(3000))
    if known:
        record(store, run(1), prepare_rows(given[:1000]))  # the store knows a third of the tests
    reads = 0

    def source() -> Iterator[tuple[tuple[object, ...], ...]]:
        nonlocal reads
        reads += 1
        end = len(given) if reads == 1 else 1000  # the second read comes back short
        for at in range(0, end, 500):
            yield tuple(zip(*given[at : at + 500], strict=True))

    prepared = prepare_columns(source)
    runs = store.backend.query("SELECT count(*) FROM qa_runs")
    tests = store.backend.query("SELECT count(*) FROM qa_tests")
    with pytest.raises(HistoryError, match=r"read again were 1000 of 3000"):
        record(store, run(2), prepared)
    assert reads == 2
    assert store.backend.query("SELECT count(*) FROM qa_runs") == runs  # the one transaction rolled back
    assert store.backend.query("SELECT count(*) FROM qa_tests") == tests


def test_new_tests_are_compared_and_added_a_range_at_a_time(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_add_tests` in ranges and batches smaller than the run stores what one batch would."""
    monkeypatch.setattr(recording, "_RANGE", 500)
    monkeypatch.setattr(recording, "_ROWS", 500)
    monkeypatch.setattr(recording, "_FEW", 40)  # both ways of checking the tests table
    given = list(rows(3000))
    query = "SELECT test, suite, classname, name, file FROM qa_tests"
    for number, results in enumerate([given, given[:2000] + NEW, [*given, *NEW]], start=1):
        prepared = prepare_rows(results)
        before = {row[0]: tuple(row[1:]) for row in store.backend.query(query)}
        record(store, run(number), prepared)
        after = {row[0]: tuple(row[1:]) for row in store.backend.query(query)}
        assert after == {
            **prepared.names(set(prepared.packed.keys)),
            **before,
        }  # a test keeps its first names


NEW: list[Row] = [
    ("suite9", "tests.new", f"new {i}", "passed", 0.5, "tests/new.py", 1, False) for i in range(700)
]


def unique_rows(count: int) -> list[Row]:
    """`count` results of `count` different tests (and one test that ran twice)."""
    given: list[Row] = [
        (
            f"suite{i % 3}",
            f"tests.mod{i % 7}",
            f"test_{i}",
            "failed" if i % 50 == 0 else "passed",
            0.25,
            f"tests/m{i % 7}.py",
            1,
            False,
        )
        for i in range(count)
    ]
    return [*given, given[count // 2]]


def first_run_peak(tmp_path: Path, count: int) -> int:
    """Peak bytes (Python's) that recording a project's first run of `count` tests allocates."""
    prepared = prepare_rows(unique_rows(count))
    opened = open_store(str(tmp_path / f"first-{count}.sqlite"), base_dir=tmp_path)
    try:
        tracemalloc.start()
        try:
            record(opened, run(1), prepared)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        opened.close()


def test_a_first_run_is_recorded_without_an_object_per_new_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13, history10: a fresh store names the new tests a batch at a time, with no set of them.

    Every test of a project's first run is new: what recording holds then must not grow by
    a Python object per test (a set of the new keys is ~70 bytes a test), nor (history11) by
    a copy of the packed blobs (14 bytes a result): on SQLite the new tests stream into a
    temporary table and the blobs are written from the arrays' own buffers, so the peak
    does not grow with the run (main at 445291e: 22.5 bytes a test).
    """
    monkeypatch.setattr(recording, "_ROWS", 1000)
    small = first_run_peak(tmp_path, 10000)
    large = first_run_peak(tmp_path, 40000)
    assert (large - small) / 30000 <= 6


def test_a_first_run_names_every_test_once_and_stores_what_the_set_would(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`named(None)` (no set of wanted keys) names the first seen of each key, as `named(every key)` does."""
    given = list(rows(3000))
    prepared = prepare_rows(given)
    every = list(prepared.named(set(prepared.packed.keys)))
    assert list(prepared.named(None)) == every
    assert len(every) < len(given)  # some tests ran twice: named once
    monkeypatch.setattr(recording, "_ROWS", 300)
    inserted: list[list[object]] = []
    insert_many = store.backend.insert_many

    def watched(table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        if table in ("qa_tests", "temp.qa_filling"):
            listed = list(rows)
            inserted.append([r[1] for r in listed])
            rows = listed
        insert_many(table, columns, rows)

    monkeypatch.setattr(store.backend, "insert_many", watched)
    monkeypatch.setattr(recording, "_new_keys", None)  # a first run compares no keys
    record(store, run(1), prepared)
    if store.backend.dialect == "sqlite":  # one stream into a temporary table, sorted by SQLite
        assert [len(batch) for batch in inserted] == [len(every)]
        assert store.backend.query("SELECT count(*) FROM sqlite_temp_master") == [(0,)]  # dropped
    else:  # batches, each sorted
        assert max(map(len, inserted)) == 300
        assert all(batch == sorted(batch) for batch in inserted)  # type: ignore[type-var]
    assert sorted(key for batch in inserted for key in batch) == sorted(row[0] for row in every)  # type: ignore[type-var]
    stored = store.backend.query("SELECT test, suite, classname, name, file FROM qa_tests")
    assert sorted(tuple(r) for r in stored) == sorted(every)


def test_a_store_not_in_wal_mode_keeps_its_cache_while_filling(tmp_path: Path) -> None:
    """Outside WAL mode a small cache would spill under the exclusive lock, again and again while a
    reader holds the file (a record that waits out the busy timeout per spill): no small cache there."""
    opened = open_store(str(tmp_path / "history.sqlite"), base_dir=tmp_path)
    backend = opened.backend
    try:
        assert backend.query("PRAGMA journal_mode") == [("wal",)]
        backend.query("PRAGMA journal_mode=delete")  # as a store the open could not switch to WAL
        with backend.writing("lock"), backend.filling():
            assert backend.query("PRAGMA cache_size") == [(-65536,)]
        assert backend.query("PRAGMA cache_size") == [(-65536,)]
    finally:
        opened.close()


def test_a_commit_the_lock_refuses_is_rolled_back(tmp_path: Path) -> None:
    """A store outside WAL mode with a reader in a read transaction: the COMMIT fails after the busy
    timeout, and the run's transaction is rolled back (not left open on the connection)."""
    path = tmp_path / "history.sqlite"
    opened = open_store(str(path), base_dir=tmp_path)
    backend = opened.backend
    reader = sqlite3.connect(str(path), isolation_level=None)
    try:
        backend.query("PRAGMA journal_mode=delete")
        backend.query("PRAGMA busy_timeout=200")
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM qa_runs").fetchone()  # holds the file's shared lock
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            record(opened, run(1), prepare_rows(list(rows(200))))
        reader.execute("COMMIT")
        assert backend.query("SELECT count(*) FROM qa_runs") == [(0,)]  # nothing left open
        record(opened, run(1), prepare_rows(list(rows(200))))  # and the store still records
        assert backend.query("SELECT count(*) FROM qa_runs") == [(1,)]
    finally:
        reader.close()
        opened.close()


def test_sqlite_fills_a_table_with_a_small_page_cache_in_the_same_transaction(tmp_path: Path) -> None:
    """`filling` bounds SQLite's page cache while the new tests go in, then gives the lookups theirs back."""
    opened = open_store(str(tmp_path / "history.sqlite"), base_dir=tmp_path)
    backend = opened.backend
    try:
        assert backend.query("PRAGMA cache_size") == [(-65536,)]

        def fill_then_fail() -> None:
            with backend.writing("lock"):
                backend.query("INSERT INTO qa_projects (project, repository) VALUES ('p', 'r')")
                with backend.filling():
                    assert backend.query("PRAGMA cache_size") == [(-4096,)]
                    raise RuntimeError

        with pytest.raises(RuntimeError):
            fill_then_fail()
        assert backend.query("PRAGMA cache_size") == [(-65536,)]
        assert backend.query("SELECT count(*) FROM qa_projects") == [(0,)]  # one transaction: rolled back
    finally:
        opened.close()


def test_sqlite_writes_the_blobs_in_pieces_from_the_arrays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`insert_blobs` writes each packed array in pieces (incremental blob I/O): the bytes `blobs()` gives."""
    monkeypatch.setattr(backends, "_BLOB_PIECE", 1000)  # many pieces, one cut inside an item
    prepared = prepare_rows(list(rows(3000)))
    opened = open_store(str(tmp_path / "history.sqlite"), base_dir=tmp_path)
    try:
        record(opened, run(1), prepared)
        stored = opened.backend.query("SELECT count, keys, outcomes, durations FROM qa_results")
        assert stored == [(len(prepared), *prepared.packed.blobs())]
        assert len(prepared.packed.blobs()[0]) > 10 * 1000
    finally:
        opened.close()


def test_sqlite_without_temporary_storage_still_records_every_new_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's temporary table of new tests needs its temporary directory. Where it has none (a
    read-only container: "unable to open database file", reproduced with read-only mounts of /tmp
    and /var/tmp), the statement fails alone, the run's transaction stays open, and the new tests
    are named again and go in sorted batches: the same rows as with the temporary table, on a
    first run and on later runs that add tests (each pass names from a copy of the new keys).
    Later records on the same connection (`history import` of several bundles) go straight to
    the batches: reproduced, the second record there failed with "database disk image is malformed"."""
    query = "SELECT project_id, test, suite, classname, name, file FROM qa_tests ORDER BY test"
    given = list(rows(3000))
    runs = [given, given[:2000] + NEW, [*given, *NEW]]
    reference = open_store(str(tmp_path / "reference.sqlite"), base_dir=tmp_path)
    try:
        for number, results in enumerate(runs, start=1):
            record(reference, run(number), prepare_rows(results))
        expected = reference.backend.query(query)
    finally:
        reference.close()
    filling = backends.SqliteBackend.insert_many
    failed: list[str] = []

    def no_temporary_storage(
        self: backends.SqliteBackend, table: str, columns: Sequence[str], items: Any
    ) -> None:
        if table == "temp.qa_filling":
            next(iter(items), None)  # a row went in before SQLite needed its temporary file
            failed.append(table)
            msg = "unable to open database file"
            raise sqlite3.OperationalError(msg)
        filling(self, table, columns, items)

    monkeypatch.setattr(backends.SqliteBackend, "insert_many", no_temporary_storage)
    store = open_store(str(tmp_path / "no-temp.sqlite"), base_dir=tmp_path)
    try:
        for number, results in enumerate(runs, start=1):
            assert record(store, run(number), prepare_rows(results)).results == len(results)
        assert store.backend.query(query) == expected
    finally:
        store.close()
    # once: the connection then keeps to sorted batches (its temporary database is replaced by one
    # in memory at the next transaction's start), so the run that added NEW never tried it
    assert failed == ["temp.qa_filling"]
