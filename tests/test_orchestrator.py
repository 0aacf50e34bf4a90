"""Sequential and parallel runs with real pytest, behave and command suites: order, concurrency, retries."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import ProjectFactory, run_qaagent
from helpers import manifest_of, records_of

PY = sys.executable

WAIT_FOR_OTHER = """
import pathlib, sys, time
me, other = sys.argv[1], sys.argv[2]
pathlib.Path(me).write_text("here")
deadline = time.monotonic() + 10
while not pathlib.Path(other).exists():
    if time.monotonic() > deadline:
        print("the other suite never ran at the same time", flush=True)
        sys.exit(1)
    time.sleep(0.05)
print("met", other, flush=True)
"""


def rendezvous_profile(parallel: bool) -> str:
    a = json.dumps([PY, "meet.py", "a.flag", "b.flag"])
    b = json.dumps([PY, "meet.py", "b.flag", "a.flag"])
    return (
        f"run:\n  parallel: {str(parallel).lower()}\n  timeout: 20\n"
        f"tests:\n  a: {{runner: command, command: {a}}}\n  b: {{runner: command, command: {b}}}\n"
    )


@pytest.mark.slow
def test_parallel_suites_really_run_at_the_same_time(qa_project: ProjectFactory) -> None:
    root = qa_project({"meet.py": WAIT_FOR_OTHER, ".qaagent.yaml": rendezvous_profile(parallel=True)})
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 0, result.stdout
    assert "running 2 suites in parallel, 2 worker(s)" in result.stdout


@pytest.mark.slow
def test_the_same_suites_fail_to_meet_when_sequential(qa_project: ProjectFactory) -> None:
    # Proves the rendezvous test above can fail: one after another, a never sees b.
    root = qa_project({"meet.py": WAIT_FOR_OTHER, ".qaagent.yaml": rendezvous_profile(parallel=False)})
    result = run_qaagent("run-all", "--timeout", "12", cwd=root)
    assert result.returncode == 1
    assert "the other suite never ran at the same time" in result.stdout


@pytest.mark.slow
def test_parallel_results_come_back_in_suite_order(qa_project: ProjectFactory) -> None:
    slow = json.dumps([PY, "-c", "import time; time.sleep(1.5); print('slow done')"])
    fast = json.dumps([PY, "-c", "print('fast done')"])
    root = qa_project(
        {
            ".qaagent.yaml": (
                "run:\n  parallel: true\n  suite_order: [slow, fast]\n"
                f"tests:\n  fast: {{runner: command, command: {fast}}}\n"
                f"  slow: {{runner: command, command: {slow}}}\n"
            )
        }
    )
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert out.index("[fast] passed") < out.index("[slow] passed")  # fast finished first…
    assert [s["name"] for s in manifest_of(root)["suites"]] == ["slow", "fast"]  # …reported second
    junit = (root / "qaagent-junit.xml").read_text()
    assert junit.index('name="slow"') < junit.index('name="fast"')


FLAKY_TESTS = """
import pathlib

def test_steady():
    assert True

def test_flaky():
    marker = pathlib.Path(__file__).with_name("flaky.seen")
    if not marker.exists():
        marker.write_text("1")
        assert 1 == 2, "fails the first time"

def test_broken():
    assert False, "always fails"

class TestGroup:
    def test_in_class(self):
        marker = pathlib.Path(__file__).with_name("class.seen")
        if not marker.exists():
            marker.write_text("1")
            raise RuntimeError("boom once")
"""


@pytest.mark.slow
def test_pytest_retries_rerun_only_failed_node_ids_and_mark_flaky(qa_project: ProjectFactory) -> None:
    root = qa_project(
        {
            "tests/unit/test_things.py": FLAKY_TESTS,
            ".qaagent.yaml": "run:\n  retry_count: 2\ntests:\n  unit: {path: tests/unit}\n",
        }
    )
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 1, result.stdout
    suite = manifest_of(root)["suites"][0]
    attempts = suite["attempts"]
    assert len(attempts) == 3
    assert sorted(attempts[1]["selected"]) == [
        "tests/unit/test_things.py::TestGroup::test_in_class",
        "tests/unit/test_things.py::test_broken",
        "tests/unit/test_things.py::test_flaky",
    ]
    assert attempts[2]["selected"] == ["tests/unit/test_things.py::test_broken"]
    records = {r["name"]: r for r in records_of(root)}
    assert records["test_flaky"]["status"] == "passed"
    assert records["test_flaky"]["flaky"] is True
    assert records["test_flaky"]["attempts"] == 2
    assert records["test_in_class"]["flaky"] is True
    assert records["test_broken"]["status"] == "failed"
    assert records["test_broken"]["attempts"] == 3
    assert records["test_steady"]["attempts"] == 1
    assert records["test_broken"]["file"] == "tests/unit/test_things.py"
    assert records["test_broken"]["line"] == 13  # 1-based: the failing line (the traceback names it)
    junit = (root / "qaagent-junit.xml").read_text()
    assert junit.count("<flakyFailure") == 2  # pytest reports a raised exception as a failure
    assert junit.count("<rerunFailure") == 2
    assert "FLAKY unit › test_flaky" in result.stdout


FEATURE = """
Feature: counting
  Scenario: steady
    Given a number 1
    Then it is 1

  Scenario: flaky
    Given the flaky step
    Then it is 1
"""

STEPS = """
import pathlib
from behave import given, then

@given("a number {n:d}")
def step_number(context, n):
    context.n = n

@given("the flaky step")
def step_flaky(context):
    marker = pathlib.Path("flaky.seen")
    if not marker.exists():
        marker.write_text("1")
        raise AssertionError("first time fails")
    context.n = 1

@then("it is {n:d}")
def step_is(context, n):
    assert context.n == n
"""


@pytest.mark.slow
def test_behave_retry_uses_its_rerun_file(qa_project: ProjectFactory) -> None:
    root = qa_project(
        {
            "features/count.feature": FEATURE,
            "features/steps/steps.py": STEPS,
            ".qaagent.yaml": "run:\n  retry_count: 1\ntests:\n  behave: {path: features}\n",
        }
    )
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 0, result.stdout
    suite = manifest_of(root)["suites"][0]
    assert len(suite["attempts"]) == 2
    assert suite["attempts"][1]["selected"] == ["features/count.feature:6"]
    records = {r["name"]: r for r in records_of(root)}
    flaky = next(r for n, r in records.items() if "flaky" in n)
    assert flaky["flaky"] is True
    assert flaky["status"] == "passed"
    assert suite["counts"] == {
        "total": 2, "passed": 2, "failed": 0, "errors": 0, "skipped": 0, "flaky": 1, "xfailed": 0, "xpassed": 0,
    }  # fmt: skip


@pytest.mark.slow
def test_command_retry_reruns_the_whole_command(qa_project: ProjectFactory) -> None:
    script = (
        "import os, sys\nattempt = int(os.environ['QAAGENT_ATTEMPT'])\n"
        "print('attempt', attempt)\nsys.exit(0 if attempt >= 2 else 1)\n"
    )
    root = qa_project(
        {
            "s.py": script,
            ".qaagent.yaml": f"run:\n  retry_count: 3\ntests:\n  s: {{runner: command, command: {json.dumps([PY, 's.py'])}}}\n",
        }
    )
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 0, result.stdout
    suite = manifest_of(root)["suites"][0]
    assert len(suite["attempts"]) == 2
    assert suite["counts"]["flaky"] == 1


@pytest.mark.slow
def test_fail_on_flaky_fails_the_run(qa_project: ProjectFactory) -> None:
    script = "import os, sys\nsys.exit(0 if os.environ['QAAGENT_ATTEMPT'] == '2' else 1)\n"
    root = qa_project(
        {
            "s.py": script,
            ".qaagent.yaml": f"run:\n  retry_count: 1\ntests:\n  s: {{runner: command, command: {json.dumps([PY, 's.py'])}}}\n",
        }
    )
    # without history: the first run's flaky result would quarantine the test for the second
    assert run_qaagent("run-all", "--no-history", cwd=root).returncode == 0
    assert run_qaagent("run-all", "--no-history", "--fail-on", "failed,error,flaky", cwd=root).returncode == 1


@pytest.mark.slow
def test_suite_selection_keeps_suite_order(qa_project: ProjectFactory) -> None:
    ok = json.dumps([PY, "-c", "pass"])
    root = qa_project(
        {
            ".qaagent.yaml": (
                "run:\n  suite_order: [c, b, a]\n"
                f"tests:\n  a: {{runner: command, command: {ok}}}\n  b: {{runner: command, command: {ok}}}\n"
                f"  c: {{runner: command, command: {ok}}}\n"
            )
        }
    )
    result = run_qaagent("run-all", "--suite", "a", "--suite", "c", cwd=root)
    assert result.returncode == 0
    assert [s["name"] for s in manifest_of(root)["suites"]] == ["c", "a"]
