"""CaseStore keeps memory flat: cases and problem cases spill to disk, order and content survive."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterable, Iterator

import pytest

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
    original = TestCase.__init__

    def counting_init(self: TestCase, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        built.append((self.status, self.flaky))

    monkeypatch.setattr(TestCase, "__init__", counting_init)
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
