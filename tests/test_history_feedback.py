"""The base-branch groups in every writer: job summary, PR comment, check run, report.html.

A run on `main` records what fails there (qaagent run-all, as a push would); the pull
request's run is the action's entrypoint against the fake GitHub API. The comparison is
computed once (`RunHistory.judge`); each writer only renders it (`qaagent.report.comparison`).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run_qaagent
from github_server import GitHubServer
from helpers import TOKEN, manifest_of
from history_support import SCOPE, result, run
from test_entrypoint import Action
from test_html_report import (
    api_bundle,
    artifacts_dir,
    assert_offline_and_clean,
    open_in_chromium,
    page_data,
    require_chromium,
)

from qaagent.evidence.sections import History
from qaagent.history.compare import Comparison, Entry, compare
from qaagent.history.model import TestId
from qaagent.history.queries import RunInfo
from qaagent.history.rates import quarantine
from qaagent.history.record import record
from qaagent.history.settings import HistorySettings
from qaagent.history.store import Store, open_store
from qaagent.report.comparison import document, html_groups, markdown_section
from qaagent.report.markdown import SummaryCollector, collect
from qaagent.results import CaseStore, SuiteResult, TestCase
from qaagent.run_result import RunResult

BASE_SHA = "9049f1265b7d61be4a8904a9a27120d2064dab3b"
PROFILE = (
    "project: {name: shop}\ntests:\n  unit: {runner: pytest, path: tests}\n"
    "history: {quarantine: list, quarantine_file: quarantine.txt}\n"
)
HOSTILE = "test_four"  # quarantined; its id is in the list file


def source(failing: set[str]) -> str:
    names = ("one", "two", "three", "four")
    return "".join(f"def test_{n}():\n    assert {'False' if n in failing else 'True'}\n\n" for n in names)


@pytest.fixture
def api() -> Any:
    with GitHubServer(token=TOKEN) as server:
        yield server


@pytest.mark.slow
def test_every_writer_shows_the_groups_against_the_base_branch(tmp_path: Path, api: GitHubServer) -> None:
    action = Action(tmp_path, api.url)
    ws = action.workspace
    (ws / ".qaagent.yaml").write_text(PROFILE, encoding="utf-8")
    (ws / "quarantine.txt").write_text("unit::tests.test_shop::test_four\n", encoding="utf-8")
    (ws / "tests").mkdir()
    # main: test_two and test_three fail
    (ws / "tests" / "test_shop.py").write_text(source({"two", "three"}), encoding="utf-8")
    main_env = {"GITHUB_REF": "refs/heads/main", "GITHUB_SHA": BASE_SHA, "GITHUB_REPOSITORY": "octo/shop"}
    on_main = run_qaagent("run-all", cwd=ws, env=main_env)
    assert on_main.returncode == 1, on_main.stdout + on_main.stderr
    # the PR: test_one breaks (new), test_two still fails, test_three is fixed, test_four (quarantined) fails
    (ws / "tests" / "test_shop.py").write_text(source({"one", "two", "four"}), encoding="utf-8")
    action.env.update({"GITHUB_BASE_REF": "main", "GITHUB_HEAD_REF": "fast-checkout"})
    action.inputs.update({"check-name": "qaagent", "comment": "true"})
    result = action.run(timeout=180)
    assert result.returncode == 1, (result.stdout[-3000:], result.stderr)

    test = "unit::tests\\.test\\_shop::test\\_"  # as escape_text writes the ids
    wanted = [
        "### Against the base branch: main (run ",
        f"commit {BASE_SHA[:12]})",
        "**New failures (not failing on the base branch): 1**",
        f"- {test}one — failed\n",
        "**Still failing (failing on the base branch too): 1**",
        f"- {test}two — failed · failing on the base branch since {BASE_SHA[:12]} ",
        "**Quarantined (reported, not failing the run): 1**",
        f"- {test}four — failed\n",
        "**Fixed (failing on the base branch, passing here): 1**",
        f"- {test}three — passed\n",
    ]
    summary = action.summary.read_text(encoding="utf-8")
    (comment,) = [c["body"] for c in api.comments.get(7, []) if c["body"].startswith("<!-- qaagent:")]
    (check,) = api.check_runs.values()
    check_text = json.dumps(check)
    for text in wanted:
        assert text in summary, (text, summary[:3000])
        assert text in comment, (text, comment[:3000])
        assert json.dumps(text)[1:-1] in check_text, (text, check_text[:3000])
    # report.html: the section, filled by the page's script from the data block (ids as text)
    bundle = max((ws / ".qaagent" / "evidence").iterdir())
    html = (bundle / "report.html").read_text(encoding="utf-8")
    assert '<section id="base-branch"' in html
    assert "test_shop::test_one" not in html.split('id="qa-data"')[0]  # ids live only in the data
    groups = {g["key"]: g for g in page_data(html)["compared"]["groups"]}
    assert list(groups) == ["new", "still_failing", "quarantined", "fixed"]
    for key, test in (("new", "one"), ("still_failing", "two"), ("quarantined", "four"), ("fixed", "three")):
        assert groups[key]["count"] == 1
        assert groups[key]["tests"][0]["id"] == f"unit::tests.test_shop::test_{test}"
    assert groups["still_failing"]["tests"][0]["note"].startswith(
        f"failed · failing on the base branch since {BASE_SHA[:12]}"
    )
    manifest = manifest_of(bundle)
    assert manifest["history"]["groups"][0]["tests"][0]["id"] == "unit::tests.test_shop::test_one"
    # qaagent report rebuilds the same page from the bundle alone
    before = page_data(html)
    (bundle / "report.html").unlink()
    assert run_qaagent("report", str(bundle), cwd=ws).returncode == 0
    assert page_data((bundle / "report.html").read_text(encoding="utf-8"))["compared"] == before["compared"]


# -- report.html in a real Chromium ------------------------------------------------------------------


def test_report_html_shows_each_group_with_its_tests_in_chromium(tmp_path: Path) -> None:
    """A run with history of every kind: report.js renders each group, with the right tests, in Chromium."""
    require_chromium()  # before the work: skipped on a laptop without it, failed when CI=true
    with contextlib.closing(open_store(str(tmp_path / "history.sqlite"), base_dir=tmp_path)) as store:
        found = _every_kind(store, tmp_path)
    bundle = api_bundle(tmp_path, {"unit": found[1]}, history=document(found[0]))
    shot = artifacts_dir(tmp_path) / "html-report-history-groups.png"
    shown = open_in_chromium(bundle / "report.html", shot)
    assert_offline_and_clean(shown, bundle)
    compared = shown["state"]["compared"]
    assert compared["heading"].startswith("Against the base branch: main (run ")
    groups = {g["key"]: g for g in compared["groups"]}
    test = "unit::tests.test_mod::"
    assert list(groups) == [
        "group-new", "group-still_failing", "group-flaky", "group-quarantined", "group-fixed",
    ]  # fmt: skip
    expected = {
        "group-new": ("New failures", "breaks — failed"),
        "group-still_failing": (
            "Still failing",
            "stuck — failed · failing on the base branch since c1 2024-05-01",
        ),
        "group-flaky": ("Flaky", "hazy — passed (flaky)"),
        "group-quarantined": ("Quarantined", "wobbly — failed · flake rate 100% (2 of 2 runs)"),
        "group-fixed": ("Fixed", "mended — passed"),
    }
    for key, (heading, item) in expected.items():
        group = groups[key]
        assert group["heading"].startswith(heading), group
        assert group["heading"].endswith(": 1"), group
        assert group["items"] == [test + item], key


def _every_kind(store: Store, tmp_path: Path) -> tuple[Comparison, list[TestCase]]:
    """Two runs of main, then a run with a new, a still failing, a flaky, a quarantined and a fixed test."""
    # main's history: `wobbly` flaky in both runs (quarantined: rate 1.0 > 0.05), `stuck` failing
    # since run 1, `mended` failing in the latest run, `breaks` and `hazy` passing
    base = ["breaks", "stuck", "mended", "hazy", "wobbly", "steady"]
    states = [{"stuck": "failed"}, {"stuck": "failed", "mended": "error"}]
    for number, failing in enumerate(states, start=1):
        record(
            store,
            run(number, commit=f"c{number}"),
            [result(n, failing.get(n, "passed"), flaky=n == "wobbly") for n in base],
        )
    now = {"breaks": "failed", "stuck": "failed", "wobbly": "failed"}  # mended passes, hazy is flaky
    cases = [
        TestCase("unit", "tests.test_mod", n, now.get(n, "passed"), 0.1, "tests/test_mod.py",  # type: ignore[arg-type]
                 message="boom" if n in now else "", attempts=2 if n == "hazy" else 1, flaky=n == "hazy")
        for n in base
    ]  # fmt: skip
    held = quarantine(store, SCOPE, HistorySettings(), branch="main", base_dir=tmp_path)
    assert [r.test.name for r in held.rates.values()] == ["wobbly"]
    return compare(store, SCOPE, cases, base_branch="main", window=50, quarantined=held), cases


# -- in process: the size cap, hostile ids ----------------------------------------------------------


def _comparison(count: int, name: str) -> Comparison:
    base = RunInfo(
        1, "20240501_120000Z", "2024-05-01T12:00:00.000Z", 1.7e9, "run", "a" * 40, "main", "", None, "",
        "failure", count, 0, count, 0, 0, 0, 1.0,
    )  # fmt: skip
    entries = [Entry(TestId("unit", "c", f"{name}{i}", i), "failed") for i in range(count)]
    return Comparison("main", base, new=entries, still_failing=list(entries), fixed=[])


def _run(count: int) -> RunResult:
    cases = [TestCase("unit", "c", f"t{i}", "failed", 0.1, message="boom") for i in range(count)]
    return RunResult("p", "r", [SuiteResult("unit", "pytest", CaseStore(cases))], 0.0, 1.0)


def test_the_comment_stays_within_its_cap_with_thousands_of_new_failures() -> None:
    found = _comparison(5000, "test_" + "x" * 400)
    run = _run(5000)
    try:
        collector = collect(run, SummaryCollector(comparison=found))
    finally:
        for suite in run.suites:
            suite.cases.close()
    for cap in (65_000, 20_000, 4_000):
        text = collector.render(fail_on=("failed",), max_bytes=cap)
        assert len(text.encode()) <= cap
        assert "New failures (not failing on the base branch): 5000" in text or cap < 5000
    full = collector.render(fail_on=("failed",))
    assert "…and 4,990 more" in full  # ten listed per group at full detail


def test_hostile_test_ids_are_inert_in_markdown_and_html() -> None:
    found = _comparison(1, "<script>alert(1)</script> @team #12 `x` \n| cell")
    markdown = markdown_section(found, 10)
    assert "<script>" not in markdown
    assert "\n| cell" not in markdown
    assert "@team" not in markdown  # no mention
    kept = html_groups(History.model_validate(document(found)))  # what report.html's data carries: text
    assert kept is not None
    assert kept["groups"][0]["tests"][0]["id"].startswith("unit::c::<script>")
    assert html_groups(None) is None
    assert html_groups(History.model_validate({"groups": [{"tests": [{"id": "x" * 10_000}]}]})) == {
        "label": "",
        "groups": [{"key": "", "heading": "", "count": 1, "tests": [{"id": "x" * 300, "note": ""}]}],
    }


def test_without_a_base_branch_only_the_quarantine_is_shown() -> None:
    quarantined = [Entry(TestId("unit", "c", "q", 1), "failed")]
    failing = [Entry(TestId("unit", "c", "f", 2), "failed")]
    text = markdown_section(Comparison("", None, quarantined=quarantined, unknown=failing), 10)
    assert "no base branch (quarantine only)" in text
    assert "Quarantined (reported, not failing the run): 1" in text
    assert "unit::c::f" not in text  # a push's failures are just failures
    unrecorded = markdown_section(Comparison("main", None, unknown=failing), 10)
    assert "main: no recorded run to compare with" in unrecorded
    assert "Failures (no recorded base-branch run to compare with): 1" in unrecorded
    assert markdown_section(Comparison("", None, unknown=failing), 10) == ""
    assert markdown_section(None, 10) == ""
    assert document(Comparison("", None, unknown=failing)) is None
