"""CaseStore keeps memory flat: cases and problem cases spill to disk, order and content survive."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from collections.abc import Iterable, Iterator
from typing import IO

import pytest

from qaagent import fastinit, results
from qaagent.attempts import Rerun
from qaagent.results import CaseStore, Status, SuiteResult, TestCase
from qaagent.run_result import RunResult


def make(index: int) -> TestCase:
    """Every 3rd case fails, every 7th errors, every 11th is flaky; the rest pass."""
    status: Status = "passed"
    flaky = False
    reruns: tuple[Rerun, ...] = ()
    if index % 3 == 0:
        status = "failed"
    elif index % 7 == 0:
        status = "error"
    elif index % 11 == 0:
        flaky = True
        reruns = (Rerun("failed", f"m{index}", "E", "tb\n" * 5),)
    return TestCase(
        "s",
        f"c{index % 4}",
        f"t{index:05d}",
        status,
        0.5,
        "f.py",
        index + 1,
        message=f"msg {index}" if status != "passed" else "",
        details=f"Traceback {index}\n" * 3 if status != "passed" else "",
        attempts=1 + len(reruns),
        flaky=flaky,
        reruns=reruns,
    )


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tiny spill limits; every store made in the test is closed afterwards (its temp files)."""
    monkeypatch.setattr(CaseStore, "SPILL_AT", 10)
    monkeypatch.setattr(CaseStore, "PROBLEMS_IN_MEMORY", 4)
    made: list[CaseStore] = []
    original = CaseStore.__init__

    def tracking_init(self: CaseStore, cases: Iterable[TestCase] = ()) -> None:
        made.append(self)
        original(self, cases)

    monkeypatch.setattr(CaseStore, "__init__", tracking_init)
    yield
    for store in made:
        store.close()


@pytest.mark.usefixtures("small_limits")
@pytest.mark.parametrize("count", [0, 1, 4, 9, 10, 57])
def test_cases_and_problems_keep_order_and_content_across_spills(count: int) -> None:
    cases = [make(i) for i in range(count)]
    store = CaseStore(cases)
    expected_problems = [c for c in cases if c.is_problem]
    assert list(store) == cases
    assert list(store.problems) == expected_problems
    assert len(store.problems) == len(expected_problems)
    assert bool(store.problems) == bool(expected_problems)
    # iterable again (not a one-shot generator), and appending later keeps order
    assert list(store.problems) == expected_problems
    store.append(make(3 * 1000))
    assert list(store.problems) == [*expected_problems, make(3000)]
    assert list(store)[-1] == make(3000)


@pytest.mark.usefixtures("small_limits")
def test_only_the_first_problems_stay_in_memory() -> None:
    store = CaseStore(make(i) for i in range(300))
    problems = list(store.problems)
    assert len(problems) == store.counts.failed + store.counts.errors + store.counts.flaky
    assert len(store._problems) == CaseStore.PROBLEMS_IN_MEMORY
    assert len(store._buffer) < CaseStore.SPILL_AT


@pytest.mark.usefixtures("small_limits")
def test_later_problems_are_built_from_the_spill_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the first ones in memory, problems come back from the one spill file; passed rows stay rows."""
    store = CaseStore(make(i) for i in range(300))
    expected = [c for c in map(make, range(300)) if c.is_problem]
    built: list[tuple[str, bool]] = []
    original = results._from_parts  # a spilled case is built by it, not by TestCase.__init__

    def counting_build(*values: object) -> TestCase:
        case: TestCase = original(*values)
        built.append((case.status, case.flaky))
        return case

    monkeypatch.setattr(results, "_from_parts", counting_build)
    assert list(store.problems) == expected
    # only failing/flaky spilled rows became cases (the in-memory ones were built long ago)
    assert built
    assert all(status in ("failed", "error") or flaky for status, flaky in built)
    assert len(built) <= len(expected)


@pytest.mark.usefixtures("small_limits")
def test_run_problems_span_suites_in_report_order() -> None:
    first = SuiteResult("a", "pytest", CaseStore(make(i) for i in range(40)))
    second = SuiteResult("b", "pytest", CaseStore(make(i) for i in range(40, 90)))
    run = RunResult("p", "r", [first, second], 0.0, 1.0)
    expected = [c for c in (*map(make, range(90)),) if c.is_problem]
    assert list(run.problems()) == expected


def test_close_releases_spill_files() -> None:
    store = CaseStore(make(i) for i in range(CaseStore.SPILL_AT + 3))
    store.close()
    assert len(list(store)) == 3  # the in-memory tail only


def test_fast_init_behaves_like_the_dataclass_init() -> None:
    reference = dataclasses.make_dataclass(
        "Reference", [(f.name, f.type, f) for f in dataclasses.fields(TestCase)], frozen=True, slots=True
    )
    assert str(inspect.signature(TestCase)) == str(inspect.signature(reference))
    case = TestCase("s", "c", "n", "failed", line=3, reruns=(Rerun("failed"),))
    assert [getattr(case, f.name) for f in dataclasses.fields(TestCase)] == [
        "s",
        "c",
        "n",
        "failed",
        0.0,
        None,
        3,
        "",
        "",
        "",
        "",
        "",
        1,
        False,
        (Rerun("failed"),),
        (),
        None,
    ]
    assert case == TestCase("s", "c", "n", "failed", 0.0, None, 3, reruns=(Rerun("failed"),))
    assert hash(case) == hash(dataclasses.replace(case))
    with pytest.raises(dataclasses.FrozenInstanceError):
        case.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        TestCase("s", "c")  # type: ignore[call-arg]


@pytest.mark.usefixtures("small_limits")
def test_head_columns_read_no_text_of_the_spill(monkeypatch: pytest.MonkeyPatch) -> None:
    """`column_chunks` of head fields loads one pickle per spilled chunk (never its texts), and equals the cases.

    A spilled chunk is two pickles (its `HEAD_FIELDS`, then the rest); the test
    history's preparation reads the head alone. Reading the whole cases (the
    reports), the problems, then the head again, in any order, gives the same values.
    """
    given = [make(i) for i in range(95)]
    store = CaseStore(given)
    loads: list[object] = []
    original = pickle.load

    def counting_load(file: IO[bytes]) -> object:
        loaded = original(file)
        loads.append(loaded)
        return loaded

    monkeypatch.setattr(pickle, "load", counting_load)
    head = list(results.HEAD_FIELDS)
    chunks = list(store.column_chunks(head))
    spilled = len(given) // CaseStore.SPILL_AT
    assert len(loads) == spilled  # the head pickle of each spilled chunk, no tail
    assert all(isinstance(rows, list) and len(rows[0]) == len(head) for rows in loads)
    assert not any("Traceback" in repr(rows) for rows in loads)  # no text was unpickled
    columns = [[value for chunk in chunks for value in chunk[i]] for i in range(len(head))]
    assert columns == [[getattr(c, name) for c in given] for name in head]
    # a field outside the head reads the whole cases
    lines = [value for chunk in store.column_chunks(["name", "line"]) for value in chunk[1]]
    assert lines == [c.line for c in given]
    assert list(store) == given
    assert list(store.problems) == [c for c in given if c.is_problem]
    assert list(store.column_chunks(head)) == chunks  # reading again, after other readers
    store.append(make(95))  # appending after reads: the spill's order holds
    assert list(store)[-1] == make(95)
    assert len(list(store)) == len(given) + 1


def test_the_builder_in_spill_order_equals_the_constructor() -> None:
    """`fastinit.builder` makes the same frozen case as `TestCase(...)` from values in another order."""
    order = results.HEAD_FIELDS + results._TAIL_FIELDS
    for case in map(make, range(40)):
        values = [getattr(case, name) for name in order]
        built = results._from_parts(*values)
        assert type(built) is TestCase
        assert built == case
        assert hash(built) == hash(case)
        with pytest.raises(dataclasses.FrozenInstanceError):
            built.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError, match="each field once"):
        fastinit.builder(TestCase, results.HEAD_FIELDS)
