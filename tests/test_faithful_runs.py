"""Real pytest and behave runs: retries select what failed, flaky tests keep their place,
a crash says its cause — what each tool said, not a guess."""

from __future__ import annotations

import pytest
from conftest import ProjectFactory, run_qaagent
from helpers import manifest_of, records_of

COLLECTION_ERROR = """
import not_a_module_anywhere  # collection fails here
"""
ONE_FAILS = """
def test_passes():
    pass

def test_fails():
    assert 1 == 2
"""


@pytest.mark.slow
def test_a_retry_after_a_collection_error_reruns_the_failed_node_ids(qa_project: ProjectFactory) -> None:
    root = qa_project(
        {
            "tests/test_broken.py": COLLECTION_ERROR,
            "tests/test_mixed.py": ONE_FAILS,
            "tests/test_fine.py": "def test_fine():\n    pass\n",
            # the other files still run (the 2,000-test library's CI does the same)
            ".qaagent.yaml": "run: {retry_count: 1}\ntests:\n"
            "  unit: {runner: pytest, path: tests, args: [--continue-on-collection-errors]}\n",
        }
    )
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 1, result.stdout + result.stderr
    (suite,) = manifest_of(root)["suites"]
    first, second = suite["attempts"]
    assert first["selected"] == []
    assert second["selected"] == ["tests/test_broken.py", "tests/test_mixed.py::test_fails"]
    assert "tests/test_broken.py" in second["command"]
    assert "tests" not in second["command"]  # not the whole suite again
    records = {r["name"]: r for r in records_of(root)}
    broken = records["tests.test_broken"]
    assert (broken["classname"], broken["status"], broken["attempts"]) == ("", "error", 2)
    assert broken["message"].startswith("ModuleNotFoundError: No module named 'not_a_module_anywhere'")
    assert records["test_fine"]["attempts"] == 1


FLAKY_FEATURE = """\
Feature: Checkout

  Scenario: pays once
    Given a cart
    Then the payment goes through

  Scenario:
    Given a cart
"""
FLAKY_STEPS = """\
from pathlib import Path
from behave import given, then

@given("a cart")
def cart(context):
    pass

@then("the payment goes through")
def pays(context):
    marker = Path(__file__).parent / "tried"
    if not marker.exists():
        marker.write_text("once")
        raise AssertionError("the payment service timed out")
"""


@pytest.mark.slow
def test_a_flaky_behave_scenario_keeps_its_file_and_line(qa_project: ProjectFactory) -> None:
    root = qa_project(
        {
            "features/checkout.feature": FLAKY_FEATURE,
            "features/steps/steps.py": FLAKY_STEPS,
            ".qaagent.yaml": "run: {retry_count: 1}\ntests:\n  behave: {runner: behave, path: features}\n",
        }
    )
    result = run_qaagent("run-all", cwd=root, env={"GITHUB_ACTIONS": "true"})
    assert result.returncode == 0, result.stdout + result.stderr
    records = {r["name"]: r for r in records_of(root)}
    flaky = records["pays once"]
    assert flaky["flaky"] is True
    # the failing step of the first attempt (the passing retry's report names no line)
    assert (flaky["file"], flaky["line"]) == ("features/checkout.feature", 5)
    warnings = [line for line in result.stdout.splitlines() if line.startswith("::warning ")]
    assert any("file=features/checkout.feature,line=5" in line for line in warnings), warnings
    # The untitled scenario keeps behave's empty name; the console shows a label.
    assert records[""]["status"] == "passed"
    assert "FLAKY behave › pays once  features/checkout.feature:5" in result.stdout


BROKEN_STEPS = """\
from behave import given

undefined_thing()

@given("a cart")
def cart(context):
    pass
"""


@pytest.mark.slow
def test_a_behave_suite_that_crashed_before_its_report_says_why(qa_project: ProjectFactory) -> None:
    root = qa_project(
        {
            "features/checkout.feature": FLAKY_FEATURE,
            "features/steps/steps.py": BROKEN_STEPS,
            ".qaagent.yaml": "tests:\n  behave: {runner: behave, path: features}\n",
        }
    )
    result = run_qaagent("run-all", cwd=root, env={"GITHUB_ACTIONS": "true"})
    assert result.returncode == 1
    cause = "NameError: name 'undefined_thing' is not defined"
    (record,) = records_of(root)
    assert record["message"] == f"behave exited with code 1 and wrote no JUnit report: {cause}"
    failures = result.stdout.split("failures (1):", 1)[1].splitlines()
    assert failures[2].strip() == record["message"]  # the console line
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert any(cause in line for line in errors), errors  # the annotation
    summary = next((root / ".qaagent" / "evidence").iterdir()) / "summary.md"
    assert cause in summary.read_text(encoding="utf-8")  # in the failure's code block


UNTITLED_FEATURE = """\
Feature: things

  Scenario:
    Given it works

  Scenario:
    Given it fails

  Scenario:
    Given it fails once
"""
UNTITLED_STEPS = """\
from pathlib import Path
from behave import given

@given("it works")
def works(context):
    pass

@given("it fails")
def fails(context):
    raise AssertionError("boom")

@given("it fails once")
def fails_once(context):
    marker = Path(__file__).parent / "tried"
    if not marker.exists():
        marker.write_text("once")
        raise AssertionError("the first time")
"""


@pytest.mark.slow
def test_untitled_behave_scenarios_keep_their_own_results_through_a_retry(qa_project: ProjectFactory) -> None:
    root = qa_project(
        {
            "features/a.feature": UNTITLED_FEATURE,
            "features/steps/steps.py": UNTITLED_STEPS,
            ".qaagent.yaml": "run: {retry_count: 1}\ntests:\n  behave: {runner: behave, path: features}\n",
        }
    )
    result = run_qaagent("run-all", "--no-history", cwd=root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILURE: 3 tests, 2 passed, 1 failed, 0 errors, 0 skipped, 1 flaky" in result.stdout, (
        result.stdout
    )
    records = records_of(root)
    # the identities stay behave's (no name); each keeps its own result and attempts
    assert [(r["classname"], r["name"], r["status"], r["flaky"], r["attempts"]) for r in records] == [
        ("a.things", "", "passed", False, 1),
        ("a.things", "", "failed", False, 2),
        ("a.things", "", "passed", True, 2),
    ]
    assert [r["message"] for r in records][1] == "boom"
