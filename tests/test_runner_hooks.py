"""The runner hooks shards, merge and the orchestrator ask (in-process: runners only build commands).

"Run this suite restricted to these test files" is a runner operation of its own
(`Runner.restricted`), so that work can be split by file without knowing the tool.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qaagent.errors import ProfileError
from qaagent.junit.read import iter_junit_cases
from qaagent.plan import SuitePlan
from qaagent.profile import SuiteConfig
from qaagent.profile_load import load_profile
from qaagent.runners.names import PROFILE_RULES, RUNNERS
from qaagent.runners.playwright import spec_filter
from qaagent.runners.registry import RUNNER_CLASSES, make_runner, runner_class


def suite_plan(tmp_path: Path, runner: str, path: str | None, **config: object) -> SuitePlan:
    folder = tmp_path / path if path else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    return SuitePlan(
        name=runner,
        runner=runner,  # type: ignore[arg-type]  # the names are RUNNER_CLASSES' keys
        config=SuiteConfig.model_validate({"runner": runner, "path": path, **config}),
        working_directory=tmp_path,
        path=folder,
        timeout=60,
        retry_count=0,
    )


@pytest.mark.parametrize(
    ("runner", "argument"),
    [
        ("pytest", "tests/test_b.py"),
        ("behave", "tests/test_b.py"),
        ("playwright", None),  # an anchored filter on the absolute path: spec_filter
    ],
)
def test_a_runner_restricted_to_some_files_runs_only_those(
    tmp_path: Path, runner: str, argument: str | None
) -> None:
    whole = make_runner(suite_plan(tmp_path, runner, "tests"), repo_root=tmp_path, base_env={})
    wanted = tmp_path / "tests" / "test_b.py"
    restricted = whole.restricted([wanted])
    assert whole.suite.units is None
    assert restricted.suite.units == (wanted,)
    assert restricted.unit_arguments([wanted]) == [argument or spec_filter(wanted)]
    assert restricted.unit_args() == [argument or spec_filter(wanted)]
    if runner != "playwright":  # Playwright needs its config to build a command
        (tmp_path / "attempt-1").mkdir()
        argv = restricted.attempt(1, tmp_path / "attempt-1", []).argv
        assert argument in argv
        assert "tests" not in argv  # the suite's whole path gave way to the file


def test_a_command_suite_is_one_indivisible_unit(tmp_path: Path) -> None:
    runner = make_runner(
        suite_plan(tmp_path, "command", None, command=["make", "check"]), repo_root=tmp_path, base_env={}
    )
    assert runner.list_units() is None
    assert runner.judged_by_exit_code
    assert runner.no_report_problem("exited with code 0") is None  # its exit code is the result


def test_behave_units_are_features_in_report_order_with_their_dotted_names(tmp_path: Path) -> None:
    for rel in ("b/zeta.feature", "a.feature", ".hidden/x.feature", "b/alpha.feature", "notes.txt"):
        (tmp_path / "features" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "features" / rel).write_text("Feature: x\n")
    runner = make_runner(suite_plan(tmp_path, "behave", "features"), repo_root=tmp_path, base_env={})
    listing = runner.list_units()
    assert listing is not None
    assert [u.keys for u in listing.units] == [
        ("features/a.feature", "a"),
        ("features/b/alpha.feature", "b.alpha"),
        ("features/b/zeta.feature", "b.zeta"),
    ]


def test_playwright_keys_are_every_tail_of_the_spec_path(tmp_path: Path) -> None:
    runner = make_runner(suite_plan(tmp_path, "playwright", "e2e"), repo_root=tmp_path, base_env={})
    assert runner.unit_keys(tmp_path / "e2e" / "tests" / "login.spec.ts") == (
        "e2e/tests/login.spec.ts",
        "tests/login.spec.ts",
        "login.spec.ts",
    )


def test_whole_suite_command_replaces_exactly_the_recorded_unit_filters() -> None:
    pytest_runner, playwright = RUNNER_CLASSES["pytest"], RUNNER_CLASSES["playwright"]
    units = ["tests/a.py", "tests/b.py"]
    # relative to the working directory the suite ran in
    assert pytest_runner.whole_suite_command(
        ["py", "-m", "pytest", "a.py", "b.py", "--junitxml=x"], units, path="tests", working_directory="tests"
    ) == ("py", "-m", "pytest", ".", "--junitxml=x")
    assert pytest_runner.whole_suite_command(
        ["py", "-m", "pytest", "tests/a.py", "tests/b.py"], units, path="tests", working_directory="."
    ) == ("py", "-m", "pytest", "tests")
    not_these = ["py", "-m", "pytest", "tests/a.py", "tests/c.py"]
    assert pytest_runner.whole_suite_command(not_these, units, path="tests", working_directory=".") == tuple(
        not_these
    )
    other_machine = spec_filter(Path("/elsewhere/repo/e2e/tests/x.spec.js"))
    assert playwright.whole_suite_command(
        ["npx", "playwright", "test", other_machine, "--grep", "y"],
        ["e2e/tests/x.spec.js"],
        path="e2e",
        working_directory=".",
    ) == ("npx", "playwright", "test", "--grep", "y")
    retry = ["npx", "playwright", "test", "--last-failed"]  # no unit filter: stays as it is
    assert playwright.whole_suite_command(
        retry, ["e2e/tests/x.spec.js"], path="e2e", working_directory="."
    ) == tuple(retry)


def test_pytest_says_its_lines_are_zero_based_whatever_the_report_looks_like(tmp_path: Path) -> None:
    # A suite renamed with junit_suite_name and an attribute from record_xml_attribute: the
    # report alone no longer looks like pytest's, the runner still knows.
    report = tmp_path / "r.xml"
    report.write_text(
        '<testsuite name="custom"><testcase classname="t" name="x" file="t.py" line="4" owner="me"/></testsuite>'
    )
    read = [
        case.line
        for zero_based in (None, RUNNER_CLASSES["pytest"].zero_based_lines)
        for case in iter_junit_cases(
            report, suite="s", base_dir=tmp_path, repo_root=tmp_path, zero_based_lines=zero_based
        )
    ]
    assert read == [4, 5]


def test_the_registry_has_a_class_for_every_runner_name_and_no_other() -> None:
    assert tuple(RUNNER_CLASSES) == RUNNERS
    assert all(runner_class(name) is RUNNER_CLASSES[name] for name in RUNNERS)
    assert runner_class("nose") is None
    assert runner_class(None) is None


def test_the_profile_takes_its_runner_names_from_the_one_list(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("tests:\n  lint: {path: t}\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=f"needs `runner:` \\(one of {', '.join(RUNNERS)}\\)"):
        load_profile(tmp_path / "p.yaml")
    (tmp_path / "p.yaml").write_text("tests:\n  lint: {path: t, runner: nose}\n", encoding="utf-8")
    *rest, last = (f"'{name}'" for name in RUNNERS)
    with pytest.raises(ProfileError, match=f"{', '.join(rest)} or {last}"):
        load_profile(tmp_path / "p.yaml")


def test_what_the_profile_asks_of_a_runner_is_the_runners_own_answer(tmp_path: Path) -> None:
    """`PROFILE_RULES` (below the runner classes) and each class agree; the profile checks by them."""
    assert tuple(PROFILE_RULES) == RUNNERS
    assert all(RUNNER_CLASSES[name].runs_command == PROFILE_RULES[name].runs_command for name in RUNNERS)
    readers = [name for name in RUNNERS if PROFILE_RULES[name].reads_result_files]
    for name in RUNNERS:
        rules = PROFILE_RULES[name]
        files = "files: [r.xml]" if rules.reads_result_files else "path: t"
        command = ", command: [echo]" if rules.runs_command and rules.reads_result_files else ""
        (tmp_path / "p.yaml").write_text(
            f"tests:\n  s: {{runner: {name}, {files}{command}}}\n", encoding="utf-8"
        )
        load_profile(tmp_path / "p.yaml")  # each runner's own minimal suite loads
        if not rules.reads_result_files:
            bad = f"tests:\n  s: {{runner: {name}, path: t, files: [r.xml]}}\n"
            (tmp_path / "p.yaml").write_text(bad, encoding="utf-8")
            with pytest.raises(ProfileError, match=f"are for {' and '.join(readers)} suites"):
                load_profile(tmp_path / "p.yaml")
        if rules.needs_command:
            (tmp_path / "p.yaml").write_text(f"tests:\n  s: {{runner: {name}}}\n", encoding="utf-8")
            with pytest.raises(ProfileError, match=f"uses the {name} runner and needs `command:`"):
                load_profile(tmp_path / "p.yaml")
        if not rules.runs_command:
            bad = f"tests:\n  s: {{runner: {name}, files: [r.xml], args: [-x]}}\n"
            (tmp_path / "p.yaml").write_text(bad, encoding="utf-8")
            with pytest.raises(ProfileError, match="which runs nothing: `args` does not apply"):
                load_profile(tmp_path / "p.yaml")
