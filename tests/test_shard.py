"""Sharding: bad `--shard` values, unit discovery and order, `plan --json`, empty shards, balance."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ProjectFactory, run_qaagent
from helpers import manifest_of, records_text
from test_shard_fixtures import build_project, normalized_junit

from qaagent.durations import Durations, SuiteDurations
from qaagent.plan import build_plan
from qaagent.profile_load import load_profile
from qaagent.shard import split, split_reason
from qaagent.units import discover

# cold: shards and merges are separate processes that must agree whatever their hash seeds (a zygote's children share one)
pytestmark = pytest.mark.cold_start


@pytest.mark.slow
@pytest.mark.parametrize("value", ["0/3", "4/3", "a/b", "1/0", "2", "-1/3", "\u0661/\u0663", "1/257"])
def test_bad_shard_is_one_line_exit_2(qa_project: ProjectFactory, value: str) -> None:
    root = build_project(qa_project({}))
    result = run_qaagent("run-all", f"--shard={value}", cwd=root)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "invalid shard" in lines[0]
    assert not (root / ".qaagent").exists()  # nothing ran


@pytest.mark.slow
@pytest.mark.parametrize("count", ["50000000", "257", "\u0663"])
def test_too_many_shards_is_one_line_exit_2(qa_project: ProjectFactory, count: str) -> None:
    root = build_project(qa_project({}))
    result = run_qaagent("plan", "--shards", count, cwd=root, timeout=30)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_durations_from_a_file_of_another_kind_is_exit_2(qa_project: ProjectFactory) -> None:
    root = build_project(qa_project({"notes.txt": "hello", "bad.json": '{"x": 1}', "bad.xml": "<html/>"}))
    for name in ("notes.txt", "bad.json", "bad.xml", "missing.json"):
        result = run_qaagent("plan", "--shards", "2", "--durations-from", name, cwd=root)
        assert result.returncode == 2, name
        assert len(result.stderr.strip().splitlines()) == 1
        assert name in result.stderr


@pytest.mark.slow
def test_units_follow_the_report_order_of_each_runner(tmp_path: Path) -> None:
    root = build_project(tmp_path / "p")
    plan = build_plan(load_profile(root / ".qaagent.yaml"), repo_root=root)
    units = {s.name: [u.rel for u in discover(s, root).units] for s in plan.suites}
    # pytest collects a folder's entries by name, folders where they sort ("api" < "test_mod1.py")
    assert units["unit"] == [
        "tests/api/test_api.py",
        "tests/api/z_test.py",
        *[f"tests/test_mod{i}.py" for i in range(1, 6)],
        "tests/test_zflaky.py",
    ]
    # behave JUnit files are read sorted by name: TESTS-alpha, TESTS-beta, TESTS-delta, TESTS-nested.gamma
    assert units["behave"] == [
        "features/alpha.feature",
        "features/beta.feature",
        "features/delta.feature",
        "features/nested/gamma.feature",
    ]
    assert units["lint"] == [None]  # a command suite is indivisible


@pytest.mark.slow
def test_split_is_deterministic_and_complete(tmp_path: Path) -> None:
    root = build_project(tmp_path / "p")
    plan = build_plan(load_profile(root / ".qaagent.yaml"), repo_root=root)
    durations = Durations("test", {"unit": SuiteDurations(3.0, {"tests/test_mod2.py": 2.0})})
    # listed once for the loop (a child pytest each time costs CPU, not proof); that the listing
    # itself comes out the same each time: split's own listing against this one
    listed = {s.name: discover(s, root) for s in plan.suites}
    assert split(plan, 3, durations) == split(plan, 3, durations, listed)
    for total in (1, 2, 3, 5, 20):
        first = split(plan, total, durations, listed)
        assert first == split(plan, total, durations, listed)
        assert len(first.units) == len(first.shards) == 13
        assert all(0 <= s < total for s in first.shards)


@pytest.mark.slow
def test_plan_json_is_a_matrix(qa_project: ProjectFactory) -> None:
    root = build_project(qa_project({}))
    result = run_qaagent("plan", "--shards", "3", "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1  # fits in a GITHUB_OUTPUT line
    data = json.loads(result.stdout)
    assert data["include"] == [{"shard": "1/3"}, {"shard": "2/3"}, {"shard": "3/3"}]
    assert [s["shard"] for s in data["shards"]] == ["1/3", "2/3", "3/3"]
    listed = [(u["suite"], u["path"]) for s in data["shards"] for u in s["units"]]
    assert len(listed) == len(set(listed)) == 13
    assert all(isinstance(s["estimate"], float) for s in data["shards"])


@pytest.mark.slow
def test_a_shard_with_nothing_to_do_writes_an_empty_valid_bundle(qa_project: ProjectFactory) -> None:
    root = qa_project(
        {
            ".qaagent.yaml": "project: {name: tiny}\ntests:\n  unit: {runner: pytest, path: tests}\n",
            "tests/test_only.py": "def test_it():\n    pass\n",
        }
    )
    result = run_qaagent("run-all", "--shard", "2/2", "--evidence-dir", "ev", cwd=root)
    assert result.returncode == 0, result.stderr + result.stdout
    (bundle,) = (root / "ev").iterdir()
    assert bundle.name.endswith("_shard-2of2")
    assert run_qaagent("verify", str(bundle), cwd=root).returncode == 0
    manifest = manifest_of(bundle)
    assert manifest["shard"] == "2/2"
    assert manifest["suites"] == []
    assert manifest["totals"]["total"] == 0
    assert records_text(bundle) == ""


@pytest.mark.slow
def test_shards_balance_from_a_real_run(qa_project: ProjectFactory) -> None:
    """44 files of uneven lengths, durations recorded by a real run: max ÷ mean <= 1.10 for N = 4."""
    files = {".qaagent.yaml": "project: {name: lots}\ntests:\n  unit: {runner: pytest, path: tests}\n"}
    for i in range(44):
        seconds = 0.01 + (i * 37 % 23) * 0.006  # 0.01 .. 0.14 s, uneven
        files[f"tests/test_f{i:02d}.py"] = f"import time\n\ndef test_it():\n    time.sleep({seconds:.3f})\n"
    root = qa_project(files)
    assert run_qaagent("run-all", "--quiet", "--evidence-dir", "ev", cwd=root).returncode == 0
    (bundle,) = (root / "ev").iterdir()
    result = run_qaagent("plan", "--shards", "4", "--json", "--durations-from", str(bundle), cwd=root)
    data = json.loads(result.stdout)
    assert data["durations"]["known"] == 44
    estimates = [s["estimate"] for s in data["shards"]]
    assert max(estimates) / (sum(estimates) / 4) <= 1.10, estimates
    # every shard job computes the same split from the same inputs
    again = run_qaagent("plan", "--shards", "4", "--json", "--durations-from", str(bundle), cwd=root)
    assert again.stdout == result.stdout


@pytest.mark.slow
def test_pytest_units_are_the_files_pytest_collects(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "check_a.py").write_text("def test_a():\n    pass\n")
    (tmp_path / "tests" / "test_b.py").write_text("def test_b():\n    pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\npython_files = check_*.py test_*.py\n")
    (tmp_path / ".qaagent.yaml").write_text("tests:\n  unit: {path: tests}\n")
    plan = build_plan(load_profile(tmp_path / ".qaagent.yaml"), repo_root=tmp_path)
    units = discover(plan.suites[0], tmp_path).units
    assert [u.rel for u in units] == ["tests/check_a.py", "tests/test_b.py"]  # its own file patterns
    # `-q` in addopts makes the listing `-qq` (``path: count`` lines); `--ignore` is pytest's own
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -q --ignore=tests/test_c.py\n")
    (tmp_path / "tests" / "test_c.py").write_text("def test_c():\n    pass\n")
    units = discover(plan.suites[0], tmp_path).units
    assert [u.rel for u in units] == ["tests/test_b.py"]


@pytest.mark.slow
def test_a_suite_pytest_cannot_collect_is_kept_whole_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_ok.py").write_text("def test_ok():\n    pass\n")
    (tmp_path / "tests" / "test_broken.py").write_text("def test_broken(:\n")  # a syntax error
    (tmp_path / ".qaagent.yaml").write_text("tests:\n  unit: {path: tests}\n")
    plan = build_plan(load_profile(tmp_path / ".qaagent.yaml"), repo_root=tmp_path)
    result = split(plan, 2, Durations(""))
    assert [u.path for u in result.units] == [None]  # never dropped: the whole suite runs in one shard
    assert "suite unit kept whole: pytest --collect-only exited 2" in split_reason(result)
    run = run_qaagent("run-all", "--shard", "1/2", "--evidence-dir", "ev", cwd=tmp_path)
    assert "qaagent: suite unit kept whole: pytest --collect-only exited 2" in run.stdout, run.stdout


@pytest.mark.slow
def test_files_pytest_never_collects_do_not_run_in_a_shard(qa_project: ProjectFactory) -> None:
    """norecursedirs = data: tests/data/test_sample.py is a sample, not a test (sharded == unsharded)."""
    root = qa_project(
        {
            ".qaagent.yaml": "project: {name: ign}\ntests:\n  unit: {runner: pytest, path: tests}\n",
            "pytest.ini": "[pytest]\nnorecursedirs = data\n",
            "tests/test_real.py": "def test_real():\n    pass\n",
            "tests/data/test_sample.py": "def test_sample():\n    assert False, 'a sample, never collected'\n",
        }
    )
    plan = run_qaagent("plan", "--shards", "2", "--json", cwd=root)
    listed = [u["path"] for s in json.loads(plan.stdout)["shards"] for u in s["units"]]
    assert listed == ["tests/test_real.py"]
    whole = run_qaagent("run-all", "--quiet", "--evidence-dir", "ev/full", "--junit", "full.xml", cwd=root)
    assert whole.returncode == 0, whole.stdout + whole.stderr
    for index in (1, 2):
        shard = run_qaagent(
            "run-all", "--quiet", "--evidence-dir", "ev/n2", "--shard", f"{index}/2", cwd=root
        )
        assert shard.returncode == 0, shard.stdout + shard.stderr
    merged = run_qaagent("merge", "ev/n2", "--evidence-dir", "ev/merged", "--junit", "merged.xml", cwd=root)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    (bundle,) = (root / "ev" / "merged").iterdir()
    names = [json.loads(line)["name"] for line in records_text(bundle).splitlines()]
    assert names == ["test_real"]


@pytest.mark.slow
def test_without_durations_the_console_says_equal_shares_not_seconds(qa_project: ProjectFactory) -> None:
    root = build_project(qa_project({}))
    result = run_qaagent("plan", "--shards", "2", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "equal shares (no recorded durations)" in result.stdout
    shares = [line for line in result.stdout.splitlines() if re.match(r"\s*(\d+ )?shard", line)]
    assert shares, result.stdout
    assert not any(re.search(r"\d s\b", line) for line in shares), result.stdout
    # each shard's queue may show seconds, but then says they are guessed from the listed tests
    assert "each runner's guess per test (no recorded durations)" in result.stdout
    run = run_qaagent("run-all", "--shard", "2/2", "--suite", "lint", "--evidence-dir", "ev", cwd=root)
    assert run.returncode == 0, run.stderr + run.stdout
    assert "shard 2/2: " in run.stdout
    assert "equal shares (no recorded durations)" in run.stdout
    assert "estimated" not in run.stdout


@pytest.mark.slow
def test_split_reason_names_the_mean_only_when_some_unit_lacks_a_record(tmp_path: Path) -> None:
    root = build_project(tmp_path / "p")
    plan = build_plan(load_profile(root / ".qaagent.yaml"), repo_root=root)
    listed = {s.name: discover(s, root) for s in plan.suites}  # once: a child pytest lists `unit`
    units = [u for found in listed.values() for u in found.units]
    files: dict[str, dict[str, float]] = {}
    for unit in units:
        if unit.rel is not None:
            files.setdefault(unit.suite, {})[unit.rel] = 1.0
    every = Durations(
        "t",
        {name: SuiteDurations(len(f) * 1.0, f) for name, f in files.items()} | {"lint": SuiteDurations(1.0)},
    )
    all_recorded = split(plan, 2, every, listed)
    assert all_recorded.known == len(units)
    assert split_reason(all_recorded).endswith("(all recorded)")
    some = Durations("t", {"lint": SuiteDurations(1.0)})
    assert "1 recorded, others get the mean" in split_reason(split(plan, 2, some, listed))


def test_the_merge_comparison_ignores_durations_inside_text(tmp_path: Path) -> None:
    """behave's system-out holds timings that differ under load; everything else must still count."""
    first, second, third = tmp_path / "a.xml", tmp_path / "b.xml", tmp_path / "c.xml"
    case = '<testcase name="s" time="{t}"><system-out>Given a number 2 ... passed in {t}s</system-out></testcase>'
    first.write_text(case.format(t="0.000"), encoding="utf-8")
    second.write_text(case.format(t="0.013"), encoding="utf-8")
    third.write_text(case.format(t="0.000").replace("passed", "failed"), encoding="utf-8")
    assert normalized_junit(first) == normalized_junit(second)
    assert normalized_junit(first) != normalized_junit(third)
