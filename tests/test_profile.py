"""Profile loading: good profiles, and every bad input of the core issue as exit 2 with one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ProjectFactory, run_qaagent

from qaagent import __version__
from qaagent.command_options import RunOptions
from qaagent.errors import ProfileError
from qaagent.plan import build_plan, cpu_count
from qaagent.profile_load import load_profile, parse_profile

GOOD = """
project: {name: shop}
run:
  parallel: true
  max_workers: 2
  retry_count: 1
  timeout: 60
  suite_order: [behave, unit]
tests:
  unit: {path: tests/unit}
  behave: {output_dir: features}
  e2e: {path: e2e, enabled: false}
  jest: {runner: command, command: "npx jest --ci", junit: "reports/*.xml", timeout: 30}
app:
  base_url: http://127.0.0.1:8000/
  start_command: python -m shop.server
  health_endpoint: /health
"""


def test_original_field_names_load_and_runners_default_from_suite_names() -> None:
    profile = parse_profile(GOOD)
    assert profile.run.parallel is True
    assert profile.run.max_workers == 2
    assert profile.runner_of("unit") == "pytest"
    assert profile.runner_of("behave") == "behave"
    assert profile.runner_of("e2e") == "playwright"
    assert profile.tests["behave"].test_path == "features"
    assert profile.tests["jest"].command == ("npx", "jest", "--ci")
    assert profile.app is not None
    assert profile.app.base_url == "http://127.0.0.1:8000"
    assert profile.app.start_command == ("python", "-m", "shop.server")
    assert profile.ordered_suites == ["behave", "unit", "e2e", "jest"]


def test_models_are_frozen() -> None:
    profile = parse_profile(GOOD)
    with pytest.raises(Exception, match="frozen"):
        profile.run.parallel = False


def test_overrides_do_not_mutate_the_profile(tmp_path: Path) -> None:
    path = tmp_path / ".qaagent.yaml"
    path.write_text(GOOD)
    loaded = load_profile(path)
    plan = build_plan(loaded, RunOptions(parallel=False, retries=3, suites=("unit",)), repo_root=tmp_path)
    assert plan.parallel is False
    assert [s.name for s in plan.suites] == ["unit"]
    assert plan.suites[0].retry_count == 3
    assert loaded.profile.run.parallel is True
    assert loaded.profile.run.retry_count == 1


def test_plan_keeps_suite_order_skips_disabled_and_defaults_workers(tmp_path: Path) -> None:
    path = tmp_path / ".qaagent.yaml"
    path.write_text(GOOD.replace("max_workers: 2", "max_workers: null"))
    plan = build_plan(load_profile(path), repo_root=tmp_path)
    assert [s.name for s in plan.suites] == ["behave", "unit", "jest"]
    assert plan.skipped_disabled == ("e2e",)
    assert plan.max_workers is None
    # default: the CPU count, at most one worker per item of work (three whole suites here)
    assert plan.workers == min(3, cpu_count())
    assert plan.suites[2].timeout == 30
    assert plan.suites[0].path == (tmp_path / "features").resolve()


BAD_PROFILES = {
    "empty": ("", "empty"),
    "only-comment": ("# nothing\n", "empty"),
    "syntax": ("run:\n  parallel: [true\ntests: {}\n", "line"),
    "unknown-key": ("run:\n  paralel: true\ntests:\n  unit: {path: t}\n", "run.paralel: unknown key"),
    "wrong-type": ("run:\n  max_workers: many\ntests:\n  unit: {path: t}\n", "run.max_workers"),
    "zero-workers": ("run:\n  max_workers: 0\ntests:\n  unit: {path: t}\n", "run.max_workers"),
    "negative-workers": ("run:\n  max_workers: -2\ntests:\n  unit: {path: t}\n", "run.max_workers"),
    "order-unknown": ("run:\n  suite_order: [unit, nope]\ntests:\n  unit: {path: t}\n", "nope (line 2)"),
    "unknown-runner": ("tests:\n  unit: {runner: jest, path: t}\n", "tests.unit.runner"),
    "command-without-command": ("tests:\n  lint: {runner: command}\n", "needs `command:`"),
    "negative-timeout": ("run:\n  timeout: -5\ntests:\n  unit: {path: t}\n", "run.timeout"),
    "list": ("- unit\n- behave\n", "must be a mapping"),
    "no-runner": (
        "tests:\n  unit: {path: u}\n  smoke: {path: t}\n",
        "needs `runner:` (one of pytest, behave, playwright, command, report) (line 3)",
    ),
    "no-tests": ("run: {parallel: true}\n", "tests: required key is missing"),
    "duplicate-key": ("tests:\n  unit: {path: a}\n  unit: {path: b}\n", "duplicate key 'unit'"),
    "tab-indent": ("tests:\n\tunit: {path: a}\n", "line 2"),
    "bool-workers": ("run:\n  max_workers: true\ntests:\n  unit: {path: t}\n", "run.max_workers"),
    # text the --max-workers flag refuses is refused here too (one validator)
    "signed-text-workers": ('run:\n  max_workers: "+3"\ntests:\n  unit: {path: t}\n', "got '+3'"),
    "underscore-text-workers": ('run:\n  max_workers: "1_0"\ntests:\n  unit: {path: t}\n', "got '1_0'"),
    "padded-text-retries": ('run:\n  retry_count: " 3 "\ntests:\n  unit: {path: t}\n', "got ' 3 '"),
    "text-keep": ('reports:\n  keep: "+5"\ntests:\n  unit: {path: t}\n', "reports.keep"),
    "bad-suite-name": ("tests:\n  'a/b': {runner: pytest, path: t}\n", "suite name"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD_PROFILES))
def test_bad_profile_is_one_line_exit_2_and_runs_nothing(case: str, qa_project: ProjectFactory) -> None:
    text, expected = BAD_PROFILES[case]
    root = qa_project({".qaagent.yaml": text})
    result = run_qaagent("run-all", "--profile", ".qaagent.yaml", cwd=root)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("qaagent: error: .qaagent.yaml")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (root / ".qaagent").exists(), "nothing may run or be written for a bad profile"


def test_yaml_error_names_the_line() -> None:
    with pytest.raises(ProfileError, match=r"YAML syntax error at line 2, column 16: mapping values"):
        parse_profile("run:\n  parallel: yes: no\ntests: {}\n")


def test_field_error_names_the_line() -> None:
    with pytest.raises(ProfileError, match=r"tests\.unit\.timeout: .*\(line 3\)"):
        parse_profile("tests:\n  unit:\n    timeout: -1\n")


def test_alias_bomb_is_refused() -> None:
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 12):
        prev = "a" if i == 1 else f"l{i - 1}"
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*{prev}"] * 10) + "]")
    with pytest.raises(ProfileError, match="aliases"):
        parse_profile("\n".join(lines) + "\ntests: {}\n")


def test_missing_profile(tmp_path: Path) -> None:
    result = run_qaagent("validate", "--profile", "nope.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "qaagent: error: nope.yaml: profile not found: write one with `qaagent init` (it detects the "
        "project's suites), or publish result files written earlier with `--files GLOB`"
    )


def test_non_utf8_profile(qa_project: ProjectFactory) -> None:
    root = qa_project({})
    (root / "p.yaml").write_bytes(b"tests:\n  unit: {path: \xff\xfe}\n")
    result = run_qaagent("validate", "--profile", "p.yaml", cwd=root)
    assert result.returncode == 2
    assert "not UTF-8 (bad byte at line 2)" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--max-workers", "abc"], "--max-workers: expected a whole number from 1 to 256, got 'abc'"),
        (["--max-workers", "0"], "--max-workers"),
        (["--max-workers", "257"], "--max-workers: expected a whole number from 1 to 256, got '257'"),
        (["--max-workers", "٣"], "--max-workers: expected a whole number from 1 to 256, got '٣'"),
        (["--retries", "99999999999"], "--retries"),
        (["--retries", "-1"], "--retries"),
        (["--timeout", "0"], "--timeout"),
        (["--suite", "nope"], "--suite names unknown suite(s): nope"),
        (["--suite", ""], "--suite needs a suite name (got '')"),
        (["--suite", " , "], "--suite needs a suite name (got ' , ')"),
        (["--fail-on", "sometimes"], "--fail-on"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_flags_are_one_line_exit_2(flags: list[str], expected: str, qa_project: ProjectFactory) -> None:
    root = qa_project({".qaagent.yaml": "tests:\n  unit: {path: t}\n"})
    result = run_qaagent("run-all", *flags, cwd=root)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert expected in result.stderr
    assert not (root / ".qaagent").exists()


def test_validate_prints_the_plan_and_runs_nothing(qa_project: ProjectFactory) -> None:
    root = qa_project({".qaagent.yaml": GOOD})
    result = run_qaagent("validate", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "mode: parallel, 2 worker(s)" in result.stdout
    assert "1. behave: behave features" in result.stdout
    assert "e2e: disabled" in result.stdout
    assert result.stdout.strip().endswith("profile OK")
    assert not (root / ".qaagent").exists()


def test_version(tmp_path: Path) -> None:
    result = run_qaagent("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"qaagent {__version__}"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        # what `--retries`, `--timeout` and `run.*` refuse, every field of the same kind refuses
        ("tests:\n  unit:\n    retry_count: 1_0\n", "tests.unit.retry_count: expected a whole number from 0 to 20"),
        ("tests:\n  unit:\n    retry_count: true\n", "tests.unit.retry_count: expected a whole number from 0 to 20"),
        ("tests:\n  unit:\n    retry_count: 2.0\n", "tests.unit.retry_count: expected a whole number from 0 to 20"),
        ("tests:\n  unit:\n    retry_count: ' 2'\n", "tests.unit.retry_count: expected a whole number from 0 to 20"),
        ("tests:\n  unit:\n    retry_count: 21\n", "tests.unit.retry_count: expected a whole number from 0 to 20"),
        ("run:\n  timeout: true\ntests: {}\n", "run.timeout: expected seconds > 0"),
        ("tests:\n  unit:\n    timeout: yes\n", "tests.unit.timeout: expected seconds > 0"),
        ("tests:\n  unit:\n    timeout: .inf\n", "tests.unit.timeout: expected seconds > 0"),
        ("tests:\n  unit:\n    timeout: 0\n", "tests.unit.timeout: expected seconds > 0"),
        ("app:\n  start_command: x\n  base_url: http://127.0.0.1:1\n  startup_timeout: true\ntests: {}\n",
         "app.startup_timeout: expected seconds > 0"),
        ("reports:\n  max_output: true\ntests: {}\n", "reports.max_output: expected a whole number from 0 to 65536"),
        ("reports:\n  max_output: '1_0'\ntests: {}\n", "reports.max_output: expected a whole number from 0 to 65536"),
        ("reports:\n  max_output: 10.0\ntests: {}\n", "reports.max_output: expected a whole number from 0 to 65536"),
        ("reports:\n  max_output: 70000\ntests: {}\n", "reports.max_output: expected a whole number from 0 to 65536"),
    ],
)  # fmt: skip
def test_every_number_of_the_profile_takes_what_the_flags_take(yaml_text: str, expected: str) -> None:
    with pytest.raises(ProfileError, match=re.escape(expected)):
        parse_profile(yaml_text)


def test_the_profiles_numbers_in_range_still_load() -> None:
    profile = parse_profile(
        "run:\n  timeout: 90\nreports:\n  max_output: 0\ntests:\n  unit:\n    retry_count: 3\n    timeout: 1.5\n"
    )
    assert (profile.run.timeout, profile.reports.max_output) == (90.0, 0)
    assert (profile.tests["unit"].retry_count, profile.tests["unit"].timeout) == (3, 1.5)


def test_a_number_too_long_to_read_is_a_profile_error_naming_its_line() -> None:
    """A second review's finding: past 4,300 digits `int()` refuses, and that was exit 3, "internal error"."""
    with pytest.raises(ProfileError, match=r"a number too long to read \(line 2\)") as raised:
        parse_profile("run:\n  max_workers: " + "9" * 5_000 + "\ntests: {}\n")
    assert raised.value.exit_code == 2
    assert len(str(raised.value)) < 300
