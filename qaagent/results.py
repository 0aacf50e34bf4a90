"""The result model every part agrees on: test cases, suite results, the run.

Runners produce `TestCase` values; the orchestrator folds attempts into one
`SuiteResult` per suite (its attempts and batches: `qaagent.attempts`); reports
(merged JUnit, evidence bundle, console, GitHub) read a `RunResult` whose suites
are in `suite_order` (the run level and its verdict: `qaagent.run_result`).

Memory stays flat on huge reports: a suite's cases live in a `CaseStore`,
which keeps the first few thousand in memory and spills the rest to a
temporary file in pickled chunks. The first `CaseStore.PROBLEMS_IN_MEMORY`
failing and flaky cases are also kept in memory (retries, annotations and
summaries look at them); later ones are found again in the spilled chunks, so a
report with tens of thousands of failures does not grow memory either, and no
case is written to disk twice.
"""

from __future__ import annotations

import io
import operator
import pickle
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from itertools import starmap
from pathlib import Path
from typing import IO, Any, Literal

from qaagent.attempts import Attempt, Batch, Rerun
from qaagent.counts import Counts
from qaagent.fastinit import builder, install_fast_init

Status = Literal["passed", "failed", "error", "skipped"]

STATUSES: tuple[Status, ...] = ("passed", "failed", "error", "skipped")


@dataclass(frozen=True, slots=True)
class TestCase:
    """One test case as the runner reported it, after retries are folded in."""

    __test__ = False  # not a pytest test class

    suite: str
    classname: str
    name: str
    status: Status
    duration: float = 0.0
    file: str | None = None  #: path relative to the repository root
    line: int | None = None  #: 1-based
    message: str = ""  #: failure/error/skip message
    type: str = ""  #: failure/error type (exception class)
    details: str = ""  #: traceback or failure body
    stdout: str = ""
    stderr: str = ""
    attempts: int = 1
    flaky: bool = False
    reruns: tuple[Rerun, ...] = ()
    artifacts: tuple[str, ...] = ()  #: paths relative to the bundle root
    #: how the result relates to an expected failure the tool declared (pytest xfail, TAP TODO):
    #: "xfail" failed as expected (status skipped), "xpass" passed although expected to fail
    #: (status passed, or failed when the tool is strict about it); None: no expectation
    outcome: Literal["xfail", "xpass"] | None = None

    @property
    def key(self) -> tuple[str, str]:
        """Identity of a test within its suite, used to match retry attempts."""
        return (self.classname, self.name)

    @property
    def is_problem(self) -> bool:
        """Failed, errored or flaky: the cases reports look at closely."""
        return self.status in ("failed", "error") or self.flaky


install_fast_init(TestCase)


#: the fields of a case, in order (TestCase's)
_FIELD_NAMES = [f.name for f in fields(TestCase)]
#: the small fields that identify and classify a case: a spilled chunk pickles them apart, first,
#: so a reader of these alone (the test history's preparation) never unpickles the texts
HEAD_FIELDS = ("suite", "classname", "name", "status", "duration", "file", "attempts", "flaky")
_TAIL_FIELDS = tuple(name for name in _FIELD_NAMES if name not in HEAD_FIELDS)
_head_of = operator.attrgetter(*HEAD_FIELDS)
_tail_of = operator.attrgetter(*_TAIL_FIELDS)
#: a case from its head and tail values, in that order (no reordering per case)
_from_parts = builder(TestCase, HEAD_FIELDS + _TAIL_FIELDS)
_HEAD_STATUS = HEAD_FIELDS.index("status")
_HEAD_FLAKY = HEAD_FIELDS.index("flaky")


class _Spill:
    """Files of chunks of cases: per chunk, two pickles of rows (the head's fields, the rest's).

    Its own temporary file, plus the files of other processes' stores it adopted (`CaseStore.adopt`).
    """

    __slots__ = ("_adopted", "_file", "_starts")

    def __init__(self, file: IO[bytes] | None = None) -> None:
        self._file = file
        self._adopted: list[IO[bytes]] = []
        self._starts: list[tuple[IO[bytes], int]] = []  #: each chunk's file and where its head pickle starts

    def dump(self, cases: list[TestCase]) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="qaagent-cases-")  # noqa: SIM115 - closed in close()
        spill = self._file
        spill.seek(0, io.SEEK_END)  # a reader may have moved the position
        self._starts.append((spill, spill.tell()))
        # plain tuples of field values: ~5x faster to pickle and ~2x faster to load than
        # frozen slotted dataclasses, whose pickling goes through Python-level __getstate__
        pickle.dump(list(map(_head_of, cases)), spill, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(list(map(_tail_of, cases)), spill, protocol=pickle.HIGHEST_PROTOCOL)

    def adopt(self, file: IO[bytes], starts: Sequence[int]) -> None:
        """Another store's chunks, written in `file` at `starts`, after the ones here."""
        self._adopted.append(file)
        self._starts += [(file, start) for start in starts]

    def chunks(self, *, tails: bool = True) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """Each spilled chunk's rows of `HEAD_FIELDS` and of the rest, in order.

        Without `tails` the rest is not read (an empty list): no text is unpickled.
        """
        if self._file is not None:
            self._file.flush()
        for spill, start in list(self._starts):
            spill.seek(start)
            heads = pickle.load(spill)  # noqa: S301 - our own temp files
            yield heads, pickle.load(spill) if tails else []  # noqa: S301

    def __iter__(self) -> Iterator[TestCase]:
        for heads, tails in self.chunks():
            yield from starmap(_from_parts, map(operator.add, heads, tails))

    def problems(self) -> Iterator[TestCase]:
        """The failed, errored and flaky cases among the spilled ones (only those are built)."""
        status, flaky = _HEAD_STATUS, _HEAD_FLAKY
        for heads, tails in self.chunks():
            for head, tail in zip(heads, tails, strict=True):
                if head[status] in ("failed", "error") or head[flaky]:
                    yield _from_parts(*head, *tail)

    def close(self) -> None:
        for spill in self._adopted:
            spill.close()
        self._adopted = []
        if self._file is not None:
            self._file.close()
            self._file = None
        self._starts = []


class ProblemCases:
    """The failed, errored and flaky cases of a store, in order; iterable any number of times.

    Not a list: past `CaseStore.PROBLEMS_IN_MEMORY` they are read back from the
    store's spilled chunks while iterating. `len()` is cheap.
    """

    __slots__ = ("_store",)

    def __init__(self, store: CaseStore) -> None:
        self._store = store

    def __iter__(self) -> Iterator[TestCase]:
        store = self._store
        kept = list(store._problems)  # noqa: SLF001 - a view of its own store
        yield from kept
        skip = len(kept)
        if store._problem_count <= skip:  # noqa: SLF001
            return
        for case in store._all_problems():  # noqa: SLF001
            if skip:
                skip -= 1  # one of the first ones, already given
                continue
            yield case

    def __len__(self) -> int:
        return self._store._problem_count  # noqa: SLF001

    def __bool__(self) -> bool:
        return self._store._problem_count > 0  # noqa: SLF001


class CaseStore:
    """An append-only sequence of test cases that spills to disk when large.

    Iteration yields the cases in the order they were appended. One store
    belongs to one suite and is filled from one thread.
    """

    #: cases kept in memory before the store starts spilling chunks to disk
    SPILL_AT = 2000
    #: failed/errored/flaky cases kept in memory (the first ones; the rest are found in the spill)
    PROBLEMS_IN_MEMORY = 500

    def __init__(self, cases: Iterable[TestCase] = (), *, spill: IO[bytes] | None = None) -> None:
        self._buffer: list[TestCase] = []
        self._spill = _Spill(spill)  #: `spill`: the file to spill to (`export`), else a temporary one
        self.counts = Counts()
        self._problems: list[TestCase] = []  #: the first PROBLEMS_IN_MEMORY
        self._problem_count = 0
        self.extend(cases)

    def append(self, case: TestCase) -> None:
        """Add one case at the end."""
        self.counts.add(case)
        if case.is_problem:
            self._problem_count += 1
            if len(self._problems) < self.PROBLEMS_IN_MEMORY:
                self._problems.append(case)
        self._buffer.append(case)
        if len(self._buffer) >= self.SPILL_AT:
            self._spill.dump(self._buffer)
            self._buffer = []

    def extend(self, cases: Iterable[TestCase]) -> None:
        """Add cases at the end, in order."""
        for case in cases:
            self.append(case)

    def __iter__(self) -> Iterator[TestCase]:
        yield from self._spill
        yield from list(self._buffer)

    def _all_problems(self) -> Iterator[TestCase]:
        yield from self._spill.problems()
        yield from [case for case in self._buffer if case.is_problem]

    def __len__(self) -> int:
        return self.counts.total

    def column_chunks(self, names: Sequence[str]) -> Iterator[tuple[tuple[Any, ...], ...]]:
        """The fields `names` (two or more) of every case, in order, a chunk at a time, as columns.

        Each chunk is one tuple of values per name (no tuple per case). Names among
        `HEAD_FIELDS` read only each spilled chunk's head pickle, transposed as it is,
        never its texts: recording the history of 100,000 cases reads them this way.
        """
        if all(name in HEAD_FIELDS for name in names):
            at = [HEAD_FIELDS.index(name) for name in names]
            for rows, _ in self._spill.chunks(tails=False):
                if rows:
                    columns = list(zip(*rows, strict=True))
                    yield tuple(columns[i] for i in at)
        else:
            of = operator.attrgetter(*names)
            for heads, tails in self._spill.chunks():
                if heads:
                    cases = starmap(_from_parts, map(operator.add, heads, tails))
                    yield tuple(zip(*map(of, cases), strict=True))
        buffer = list(self._buffer)
        if buffer:
            yield tuple(zip(*map(operator.attrgetter(*names), buffer), strict=True))

    @property
    def problems(self) -> ProblemCases:
        """Failed, errored and flaky cases, in order (the first few in memory, the rest from disk)."""
        return ProblemCases(self)

    def export(self) -> dict[str, Any]:
        """Spill everything (and, last, the first problems), for another process's store to `adopt`.

        The store was made with the `spill` file it writes; what it returns (plain JSON values)
        says where in that file each chunk is.
        """
        if self._buffer:
            self._spill.dump(self._buffer)
            self._buffer = []
        file = self._spill._file  # noqa: SLF001 - its own spill
        starts = [start for _, start in self._spill._starts]  # noqa: SLF001
        kept = None
        if file is not None:
            kept = file.seek(0, io.SEEK_END)
            pickle.dump([_head_of(c) + _tail_of(c) for c in self._problems], file, pickle.HIGHEST_PROTOCOL)
            file.flush()
        problems = self._problem_count
        return {"starts": starts, "kept": kept, "counts": self.counts.as_dict(), "problems": problems}

    def adopt(self, file: IO[bytes], exported: Mapping[str, Any]) -> None:
        """The cases another process's store `export`ed into `file`, appended in their order.

        The store takes `file` over (it closes it). Its own cases stay first: the ones in
        memory are spilled before the adopted chunks.
        """
        if self._buffer:
            self._spill.dump(self._buffer)
            self._buffer = []
        self._spill.adopt(file, exported["starts"])
        if exported["kept"] is not None and len(self._problems) == self._problem_count:
            file.seek(exported["kept"])
            rows = pickle.load(file)  # noqa: S301 - our own temp file
            room = self.PROBLEMS_IN_MEMORY - len(self._problems)
            self._problems += [_from_parts(*row) for row in rows[:room]]
        self._problem_count += exported["problems"]
        self.counts += Counts(**exported["counts"])

    def close(self) -> None:
        """Release the spill files."""
        self._spill.close()


@dataclass(frozen=True, slots=True)
class SuiteResult:
    """Everything known about one suite after all its attempts (built once, then read).

    The orchestrator accumulates a suite while it runs and builds this value at
    the end; `qaagent merge` builds it from the shards' bundles. Its `cases`
    store is closed for appending by then: only reports read it.
    """

    name: str
    runner: str
    cases: CaseStore
    attempts: Sequence[Attempt] = ()  #: kept as a tuple
    #: why the suite could not produce (complete) results, if it could not
    error: str | None = None
    working_directory: Path | None = None
    #: evidence files the runner declares (logs, JUnit, artifacts), absolute
    files: Sequence[Path] = ()  #: kept as a tuple
    skipped_reason: str | None = None  #: the whole suite was skipped on purpose
    #: a split suite's batches; its `attempts` are then their union per attempt number
    #: (each one spanning its batches, with the command a whole run runs)
    batches: Sequence[Batch] = ()  #: kept as a tuple

    def __post_init__(self) -> None:
        # Callers may pass lists; the value keeps tuples, so nothing can grow it later.
        object.__setattr__(self, "attempts", tuple(self.attempts))
        object.__setattr__(self, "files", tuple(self.files))
        object.__setattr__(self, "batches", tuple(self.batches))

    @property
    def counts(self) -> Counts:
        """Tallies of the suite's final test statuses."""
        return self.cases.counts

    @property
    def command(self) -> tuple[str, ...]:
        """The first attempt's command line."""
        return self.attempts[0].command if self.attempts else ()

    @property
    def started_at(self) -> float:
        """Epoch seconds when the first attempt started (0 if never)."""
        return self.attempts[0].started_at if self.attempts else 0.0

    @property
    def duration(self) -> float:
        """Seconds spent running this suite, all attempts together (a split suite: wall time)."""
        return sum(a.duration for a in self.attempts)

    @property
    def process_time(self) -> float:
        """Seconds its processes ran, together: `duration`, or the sum over a split suite's batches."""
        if not self.batches:
            return self.duration
        return sum(a.duration for b in self.batches for a in b.attempts)

    @property
    def returncode(self) -> int | None:
        """The last attempt's return code."""
        return self.attempts[-1].returncode if self.attempts else None

    @property
    def timed_out(self) -> bool:
        """Whether any attempt was stopped by its timeout."""
        return any(a.timed_out for a in self.attempts)

    @property
    def status(self) -> Status:
        """Error > failed > passed; a suite with only skipped tests is skipped."""
        c = self.counts
        if c.errors:
            return "error"
        if c.failed:
            return "failed"
        if c.total and c.skipped == c.total:  # xfailed tests are skipped ones
            return "skipped"
        return "passed"
