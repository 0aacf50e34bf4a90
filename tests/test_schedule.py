"""LPT scheduling: longest first, deterministic ties, every item once, within Graham's bound."""

from __future__ import annotations

import itertools
import json

import pytest
from conftest import ProjectFactory, run_qaagent
from helpers import manifest_of
from hypothesis import given, settings
from hypothesis import strategies as st

from qaagent.schedule import fill_unknown, list_schedule_makespan, lpt_partition


def test_unknown_durations_get_the_mean() -> None:
    weights, known = fill_unknown([2.0, None, 4.0, float("nan")])
    assert weights == [2.0, 3.0, 4.0, 3.0]
    assert known == 2


def test_no_history_means_equal_weights() -> None:
    assert fill_unknown([None, None]) == ([1.0, 1.0], 0)


def test_lpt_beats_list_order_on_the_textbook_case() -> None:
    # two workers, jobs of 1, 1 and 2 in that order: list order takes 3, LPT takes the optimal 2
    assert list_schedule_makespan([1, 1, 2], 2) == 3
    assert lpt_partition([1.0, 1.0, 2.0], 2).makespan == 2


def test_partition_puts_every_item_in_exactly_one_bin() -> None:
    part = lpt_partition([5.0, 1.0, 1.0, 1.0, 1.0, 1.0], 3)
    items = sorted(i for members in part.bins for i in members)
    assert items == list(range(6))
    assert part.loads == (5.0, 3.0, 2.0)
    assert lpt_partition([], 4).bins == ((), (), (), ())
    assert lpt_partition([1.0], 3).loads == (1.0, 0.0, 0.0)


def _optimum(weights: list[float], bins: int) -> float:
    best = float("inf")
    for assignment in itertools.product(range(bins), repeat=len(weights)):
        loads = [0.0] * bins
        for weight, b in zip(weights, assignment, strict=True):
            loads[b] += weight
        best = min(best, max(loads))
    return best


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=1, max_size=7),
    st.integers(min_value=1, max_value=3),
)
def test_lpt_is_within_grahams_bound(weights: list[float], bins: int) -> None:
    part = lpt_partition(weights, bins)
    assert part == lpt_partition(weights, bins)
    assert sorted(i for members in part.bins for i in members) == list(range(len(weights)))
    bound = 4 / 3 - 1 / (3 * bins)
    assert part.makespan <= bound * _optimum(weights, bins) + 1e-9


@pytest.mark.slow
def test_parallel_run_starts_longest_first_and_reports_in_suite_order(qa_project: ProjectFactory) -> None:
    suites = "".join(f"  {n}: {{runner: command, command: ['true']}}\n" for n in ("a", "b", "c", "d"))
    durations = {
        "format": "qaagent-durations",
        "suites": {"a": {"duration": 1.0}, "b": {"duration": 3.0}, "c": {"duration": 2.0}},
    }
    root = qa_project(
        {
            ".qaagent.yaml": f"project: {{name: o}}\nrun: {{parallel: true, max_workers: 2}}\ntests:\n{suites}",
            "d.json": json.dumps(durations),
        }
    )
    result = run_qaagent("run-all", "--evidence-dir", "ev", "--durations-from", "d.json", cwd=root)
    assert result.returncode == 0, result.stderr
    # d has no record: it gets the mean (2.0) and follows c, which comes first in suite_order
    assert "start order: b, c, d, a — longest first by durations from" in result.stdout
    assert "3 of 4 suites recorded, others get the mean" in result.stdout
    (bundle,) = (root / "ev").iterdir()
    manifest = manifest_of(bundle)
    assert manifest["settings"]["start_order"] == ["b", "c", "d", "a"]
    assert [s["name"] for s in manifest["suites"]] == ["a", "b", "c", "d"]
    # no history at all: suite_order, and the console says why
    plain = run_qaagent("run-all", "--evidence-dir", "ev2", "--no-history", cwd=root)
    assert "start order: a, b, c, d — suite_order (no recorded durations)" in plain.stdout
