"""The history in the verdict: `fail_on: [new-failures]`, and quarantined failures that do not fail the run.

Real `qaagent run-all` runs of a small pytest project: a run on `main` records what
fails there; a pull-request run (GITHUB_BASE_REF=main) is then judged against it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import ProjectFactory, run_qaagent
from github_server import GitHubServer
from helpers import TOKEN, manifest_of
from test_entrypoint import Action, assert_input_error

from qaagent import options
from qaagent.action import action_run
from qaagent.command_options import RunOptions
from qaagent.errors import ProfileError
from qaagent.options import InvalidValue
from qaagent.profile_load import load_profile

MAIN = {"GITHUB_REF": "refs/heads/main", "GITHUB_SHA": "a" * 40}
PR = {"GITHUB_REF": "refs/pull/7/merge", "GITHUB_HEAD_REF": "feature", "GITHUB_BASE_REF": "main"}


def source_failing(*names: str) -> str:
    """A test file of test_one, test_two, test_three, of which `names` fail."""
    return "".join(
        f"def test_{n}():\n    assert {'False' if n in names else 'True'}\n\n"
        for n in ("one", "two", "three")
    )


def project(qa_project: ProjectFactory, profile: str, failing: tuple[str, ...]) -> Path:
    return qa_project({"tests/test_things.py": source_failing(*failing), ".qaagent.yaml": profile})


def rerun(root: Path, failing: tuple[str, ...], *args: str, env: dict[str, str]) -> Any:
    (root / "tests" / "test_things.py").write_text(source_failing(*failing), encoding="utf-8")
    return run_qaagent("run-all", *args, cwd=root, env=env)


def manifest(root: Path) -> dict[str, Any]:
    return manifest_of(root)  # the newest bundle


# -- fail_on: [new-failures] -----------------------------------------------------------------------


@pytest.mark.slow
def test_new_failures_fail_the_run_and_known_ones_do_not(qa_project: ProjectFactory) -> None:
    profile = "run: {fail_on: [new-failures]}\ntests:\n  unit: {path: tests}\n"
    root = project(qa_project, profile, ("two",))
    on_main = run_qaagent("run-all", cwd=root, env=MAIN)
    assert on_main.returncode == 1, on_main.stdout  # no base branch: every failure counts as new
    # the PR still fails test_two, as main does: nothing new, the run passes (and says so)
    known = rerun(root, ("two",), env=PR)
    assert known.returncode == 0, known.stdout + known.stderr
    assert "0 new failure(s), 1 still failing" in known.stdout
    assert manifest(root)["status"] == "success"
    assert manifest(root)["fail_on"] == ["new-failures"]
    # test_one breaks on the PR: a new failure fails the run
    new = rerun(root, ("one", "two"), env=PR)
    assert new.returncode == 1, new.stdout
    assert "1 new failure(s), 1 still failing" in new.stdout
    assert manifest(root)["status"] == "failure"
    # the default fail_on is unchanged: the known failure still fails the run
    default = rerun(root, ("two",), "--fail-on", "failed,error", env=PR)
    assert default.returncode == 1
    # and the flag gives new-failures as the profile does
    flag = rerun(root, ("two",), "--fail-on", "new-failures", env=PR)
    assert flag.returncode == 0, flag.stdout


@pytest.mark.slow
def test_new_failures_without_any_history_fail_on_every_failure(qa_project: ProjectFactory) -> None:
    root = project(qa_project, "tests:\n  unit: {path: tests}\n", ("two",))
    done = run_qaagent("run-all", "--fail-on", "new-failures", "--no-history", cwd=root, env=PR)
    assert done.returncode == 1  # nothing to compare with: a failure may be new


@pytest.mark.parametrize("text", ["new-failures,failed", "error new-failures", "new-failures sometimes", ""])
def test_new_failures_is_one_validator_for_flag_profile_and_input(
    text: str, tmp_path: Path, qa_project: ProjectFactory
) -> None:
    with pytest.raises(InvalidValue):
        options.fail_on(text)
    items = [f"'{i}'" for i in options.items(text)]
    profile = tmp_path / ".qaagent.yaml"
    profile.write_text(f"run: {{fail_on: [{', '.join(items)}]}}\ntests: {{unit: {{}}}}\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"run\.fail_on: "):
        load_profile(profile)
    root = qa_project({".qaagent.yaml": "tests:\n  unit: {path: tests}\n"})
    done = run_qaagent("run-all", "--fail-on", text, cwd=root)
    assert done.returncode == 2
    assert "--fail-on" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_action_input_takes_new_failures(tmp_path: Path) -> None:
    with GitHubServer(token=TOKEN) as api:
        action = Action(tmp_path, api.url)
        action.inputs["fail-on"] = "New-Failures flaky"
        run = action_run(action.environment())
        assert isinstance(run.options, RunOptions)
        assert run.options.fail_on == ("new-failures", "flaky")
        action.inputs["fail-on"] = "failed,new-failures"
        assert_input_error(action.check(), "fail-on")


# -- quarantine ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_quarantined_failure_is_reported_but_does_not_fail_the_run(qa_project: ProjectFactory) -> None:
    profile = "tests:\n  unit: {path: tests}\nhistory: {quarantine: list, quarantine_file: quarantine.txt}\n"
    root = project(qa_project, profile, ("two",))
    (root / "quarantine.txt").write_text(
        "# flaky on CI\nunit::tests.test_things::test_two\n", encoding="utf-8"
    )
    done = run_qaagent("run-all", cwd=root, env=MAIN)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "qaagent: history: 1 quarantined test(s) failed: reported, not failing the run" in done.stdout
    assert "qaagent: history:   quarantined: unit::tests.test_things::test_two" in done.stdout
    assert "1 failed" in done.stdout  # still counted and reported
    found = manifest(root)
    assert found["status"] == "success"
    assert found["totals"]["failed"] == 1
    # a failure of a test that is not quarantined still fails the run
    other = rerun(root, ("two", "three"), env=MAIN)
    assert other.returncode == 1
    # and with the quarantine off, the same failure fails it again
    (root / ".qaagent.yaml").write_text("tests:\n  unit: {path: tests}\nhistory: {quarantine: 'off'}\n")
    off = rerun(root, ("two",), env=MAIN)
    assert off.returncode == 1


@pytest.mark.slow
def test_auto_quarantine_after_a_flip_on_one_commit(qa_project: ProjectFactory) -> None:
    """test_two passes and fails on the same commit: flaky (rate 1/2 > 0.05), so quarantined next time."""
    root = project(qa_project, "tests:\n  unit: {path: tests}\n", ())
    assert run_qaagent("run-all", cwd=root, env=MAIN).returncode == 0
    assert rerun(root, ("two",), env=MAIN).returncode == 1  # not quarantined yet: no flake recorded
    quarantined = rerun(root, ("two",), env=MAIN)
    assert quarantined.returncode == 0, quarantined.stdout
    assert "quarantined: unit::tests.test_things::test_two" in quarantined.stdout


# -- a test id that occurs twice in a run ----------------------------------------------------------

TWICE = (
    '<testsuite name="s" tests="2" failures="2">'
    '<testcase classname="c" name="dup"><failure message="x"/></testcase>'
    '<testcase classname="c" name="dup"><failure message="y"/></testcase>'
    "</testsuite>"
)


@pytest.mark.slow
def test_a_test_id_that_occurs_twice_is_excused_twice(qa_project: ProjectFactory) -> None:
    """Both failing results of one id are quarantined (or known): the verdict counts results, not ids."""
    quarantined = "history: {quarantine: list, quarantine_file: q.txt}\n"
    root = qa_project(
        {"r/a.xml": TWICE, ".qaagent.yaml": "tests:\n  pub: {runner: report, files: r/a.xml}\n"}
    )
    (root / "q.txt").write_text("pub::c::dup\n", encoding="utf-8")
    # the base branch records the same two failures
    assert run_qaagent("run-all", cwd=root, env=MAIN).returncode == 1
    (root / ".qaagent.yaml").write_text(
        "tests:\n  pub: {runner: report, files: r/a.xml}\n" + quarantined, encoding="utf-8"
    )
    held = run_qaagent("run-all", cwd=root, env=MAIN)
    assert held.returncode == 0, held.stdout + held.stderr
    assert "1 (2 results) quarantined test(s) failed: reported, not failing the run" in held.stdout
    assert manifest(root)["status"] == "success"
    (root / ".qaagent.yaml").write_text("tests:\n  pub: {runner: report, files: r/a.xml}\n", encoding="utf-8")
    known = run_qaagent("run-all", "--base-branch", "main", "--fail-on", "new-failures", cwd=root, env=PR)
    assert known.returncode == 0, known.stdout + known.stderr
    assert "0 new failure(s), 1 (2 results) still failing" in known.stdout
    assert manifest(root)["status"] == "success"


@pytest.mark.slow
def test_a_missing_or_partly_bad_quarantine_list_is_said(qa_project: ProjectFactory) -> None:
    profile = "tests:\n  unit: {path: tests}\nhistory: {quarantine: list, quarantine_file: q.txt}\n"
    root = project(qa_project, profile, ("two",))
    missing = run_qaagent("run-all", cwd=root, env=MAIN)
    assert missing.returncode == 1
    listing = root / "q.txt"
    assert f"qaagent: warning: history: quarantine list {listing} not found: nothing is quarantined" in (
        missing.stdout
    )
    # one bad byte drops its line only: the valid id on the next line still quarantines
    listing.write_bytes(b"\xff\xfe garbage\nunit::tests.test_things::test_two\n")
    partly = run_qaagent("run-all", cwd=root, env=MAIN)
    assert partly.returncode == 0, partly.stdout + partly.stderr
    assert f"qaagent: warning: history: quarantine list {listing}: line 1 is not UTF-8 (left out)" in (
        partly.stdout
    )
    assert "1 quarantined test(s) failed: reported, not failing the run" in partly.stdout
