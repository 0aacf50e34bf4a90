"""The small pure helpers of benchmarks/run_all.py, benchmarks/split.py and their shared benchlib.py.

No benchmark runs here: statistics, the inputs' counts, the project plans, the peer
driver's and the scripts' argument handling, the outcome comparison.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from conftest import ROOT, load_file_module

BENCH = ROOT / "benchmarks"
benchlib = load_file_module(BENCH / "benchlib.py", "benchlib")
run_all = load_file_module(BENCH / "run_all.py", "run_all")
split = load_file_module(BENCH / "split.py", "split_bench")
peer_pipeline = load_file_module(BENCH / "peer_pipeline.py", "peer_pipeline")

#: GNU time 1.9's `-v` report of `/usr/bin/time -v true`, as written to its `-o` file
TIME_REPORT = """\
\tCommand being timed: "python -m qaagent run-all"
\tUser time (seconds): 4.31
\tSystem time (seconds): 0.52
\tPercent of CPU this job got: 92%
\tElapsed (wall clock) time (h:mm:ss or m:ss): 0:05.21
\tAverage shared text size (kbytes): 0
\tMaximum resident set size (kbytes): 159436
\tMajor (requiring I/O) page faults: 0
\tMinor (reclaiming a frame) page faults: 72
\tExit status: 1
"""


# --- statistics -----------------------------------------------------------------------------------


def test_summarize_gives_median_and_range() -> None:
    summary = benchlib.summarize([5.2, 4.9, 7.8, 5.0, 5.5])
    assert (summary.median, summary.low, summary.high, summary.count) == (5.2, 4.9, 7.8, 5)
    assert benchlib.summarize([1.0, 3.0]).median == 2.0
    assert summary.text() == "5.20 s (4.90–7.80)"
    assert benchlib.summarize([155.7]).text("MiB", 1) == "155.7 MiB"


def test_summarize_refuses_no_values() -> None:
    with pytest.raises(ValueError, match="no values"):
        benchlib.summarize([])


def test_paired_ratios_pair_rounds_and_skip_zero_denominators() -> None:
    assert benchlib.paired_ratios([2.0, 3.0, 1.0], [1.0, 2.0, 0.0]) == [2.0, 1.5]
    with pytest.raises(ValueError, match="different number"):
        benchlib.paired_ratios([1.0], [1.0, 2.0])


def test_rotation_alternates_and_starts_each_round_with_the_next_variant() -> None:
    rounds = benchlib.rotation(["a", "b", "c"], 4)
    assert rounds == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds)
    assert benchlib.rotation([], 3) == []


@pytest.mark.parametrize(
    ("text", "cases"),
    [
        ("100k", 100_000),
        ("400K", 400_000),
        ("1m", 1_000_000),
        ("2500", 2500),
        ("1.5k", 1500),
        ("10_000", 10_000),
    ],
)
def test_parse_size(text: str, cases: int) -> None:
    assert benchlib.parse_size(text) == cases


@pytest.mark.parametrize("text", ["", "k", "abc", "0", "-5k", "1.2345k", "12q"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"size|whole number"):
        benchlib.parse_size(text)


def test_size_label_is_the_inverse_for_round_sizes() -> None:
    for cases in (100_000, 400_000, 2_000_000, 2500):
        assert benchlib.parse_size(benchlib.size_label(cases)) == cases
    assert benchlib.size_label(100_000) == "100k"


def test_gnu_time_report_gives_cpu_and_max_rss() -> None:
    fields = benchlib.parse_time_v(TIME_REPORT)
    assert fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"] == "0:05.21"
    sample = benchlib.sample_from_report("qaagent", TIME_REPORT, 5.3, 1, 1.5)
    assert sample.cpu == pytest.approx(4.83)
    assert sample.max_rss_mib == pytest.approx(155.7, abs=0.01)
    assert (sample.variant, sample.wall, sample.returncode, sample.load_before) == ("qaagent", 5.3, 1, 1.5)


def test_a_report_that_is_not_gnu_time_is_refused() -> None:
    with pytest.raises(ValueError, match="not a GNU time"):
        benchlib.sample_from_report("x", "real 0m1.0s\nuser 0m0.5s\n", 1.0, 0, 0.0)


def test_descendants_follow_the_parent_links() -> None:
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 99: 98}
    assert benchlib.descendants(parents, 10) == {10, 11, 12, 13}
    assert benchlib.descendants(parents, 99) == {99}
    assert benchlib.descendants(parents, 5) == {5}


def test_user_env_drops_ci_and_github_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("QAAGENT_GITHUB_TOKEN", "x")
    monkeypatch.setenv("CI", "true")
    env = benchlib.user_env({"EXTRA": "1"})
    assert "GITHUB_ACTIONS" not in env
    assert "QAAGENT_GITHUB_TOKEN" not in env
    assert "CI" not in env
    assert env["EXTRA"] == "1"
    assert env["PATH"] == os.environ["PATH"]


# --- run_all.py: inputs ----------------------------------------------------------------------------


def _cases(directory: Path) -> list[ET.Element]:
    files = sorted(directory.glob("junit-*.xml"))
    return [c for f in files for c in ET.parse(f).getroot().iter("testcase")]  # noqa: S314 - generated here


def test_inputs_have_the_issue_mix(tmp_path: Path) -> None:
    inputs = run_all.ensure_inputs(tmp_path, 2000, progress=lambda _: None)
    assert len(inputs.files) == 10
    cases = _cases(inputs.directory)
    assert len(cases) == 2000
    failures = [c.find("failure") for c in cases if c.find("failure") is not None]
    assert len(failures) == 200  # 10 %
    assert sum(1 for c in cases if c.find("skipped") is not None) == 100  # 5 %
    # pytest xunit1: file and 0-based line on every case
    assert all(c.get("file", "").endswith(".py") and c.get("line", "").isdigit() for c in cases)
    assert min(int(c.get("line", "1")) for c in cases) == 0
    # realistic tracebacks: several lines, a few KB, more than one kind
    sizes = [len((f.text or "").encode()) for f in failures if f is not None]
    assert min(sizes) >= 1000
    assert max(sizes) <= 6000
    assert min((f.text or "").count("\n") for f in failures if f is not None) >= 10
    assert len({f.get("message") for f in failures if f is not None}) > 20
    assert inputs.bytes == sum(p.stat().st_size for p in inputs.files)


def test_inputs_are_deterministic_and_cached(tmp_path: Path) -> None:
    first = run_all.ensure_inputs(tmp_path / "a", 1000, progress=lambda _: None)
    again = run_all.ensure_inputs(tmp_path / "b", 1000, progress=lambda _: None)
    assert [p.read_bytes() for p in first.files] == [p.read_bytes() for p in again.files]
    said: list[str] = []
    stamp = first.files[0].stat().st_mtime_ns
    run_all.ensure_inputs(tmp_path / "a", 1000, progress=said.append)
    assert said == []  # reused
    assert first.files[0].stat().st_mtime_ns == stamp
    with first.files[3].open("a", encoding="utf-8") as handle:
        handle.write("<!-- changed -->")
    run_all.ensure_inputs(tmp_path / "a", 1000, progress=said.append)
    assert said  # regenerated: a file no longer matched
    assert first.files[3].read_bytes() == again.files[3].read_bytes()


def test_realistic_failures_are_seeded() -> None:
    assert run_all.realistic_failures(seed=1) == run_all.realistic_failures(seed=1)
    assert run_all.realistic_failures(seed=1) != run_all.realistic_failures(seed=2)


def test_the_default_generator_is_unchanged_by_the_failure_pool(tmp_path: Path) -> None:
    """reporting.py's figures were measured with one ~600-character traceback: still the default."""
    reporting = sys.modules["reporting"]
    (path, *_) = reporting.generate(tmp_path, 100)
    failure = ET.parse(path).getroot().find(".//failure")  # noqa: S314 - generated here
    assert failure is not None
    assert failure.text == reporting.TRACEBACK
    assert failure.get("message") == reporting.FAILURE_MESSAGE


def test_feed_command_hard_links_the_inputs_into_the_junit_dir(tmp_path: Path) -> None:
    inputs = run_all.ensure_inputs(tmp_path / "work", 100, progress=lambda _: None)
    target = tmp_path / "work" / "junit"
    assert run_all.can_hard_link(inputs.files[0], target)
    argv = run_all.feed_argv(inputs, link=True)
    subprocess.run(argv, env={**os.environ, "QAAGENT_JUNIT_DIR": str(target)}, check=True)
    copied = sorted(target.glob("*.xml"))
    assert [p.name for p in copied] == [p.name for p in inputs.files]
    assert all(p.stat().st_nlink >= 2 for p in copied)


def test_profile_yaml_is_a_profile_of_command_suites() -> None:
    text = run_all.profile_yaml(
        [("feed", ["sh", "-c", 'exec cp -- "$0"/x "$Q"/', "/some dir"])], name="bench"
    )
    data = yaml.safe_load(text)
    assert data["tests"]["feed"] == {
        "runner": "command",
        "command": ["sh", "-c", 'exec cp -- "$0"/x "$Q"/', "/some dir"],
    }
    assert data["project"] == {"name": "bench"}


def test_profile_tables_drop_interpreter_wrappers() -> None:
    class FakeStats:
        stats: ClassVar[dict[tuple[str, int, str], tuple[int, int, float, float, dict[str, int]]]] = {
            ("<frozen runpy>", 201, "run_module"): (1, 1, 0.0, 9.0, {}),
            ("/x/qaagent/cli.py", 10, "main"): (1, 1, 0.1, 8.0, {}),
            ("/x/qaagent/junit/read.py", 5, "parse"): (3, 3, 2.0, 2.5, {}),
        }

    tables = run_all.profile_tables(FakeStats(), 5)
    assert [r["function"] for r in tables["by_cumulative"]] == ["cli.py:10(main)", "junit/read.py:5(parse)"]
    assert tables["by_own"][0]["function"] == "junit/read.py:5(parse)"


# --- run_all.py and peer_pipeline.py: argument handling ---------------------------------------------


def _fake_peer(root: Path) -> Path:
    (root / "python" / "publish").mkdir(parents=True)
    (root / "python" / "publish_test_results.py").write_text("", encoding="utf-8")
    for name in ("junit", "unittestresults", "__init__"):
        (root / "python" / "publish" / f"{name}.py").write_text("", encoding="utf-8")
    return root


def test_run_all_arguments(tmp_path: Path) -> None:
    qaagent = tmp_path / "qaagent"
    qaagent.write_text("", encoding="utf-8")
    args = run_all.parse_args(
        ["--sizes", "400k,100k,100k", "--qaagent", str(qaagent), "--work", str(tmp_path)]
    )
    assert args.sizes == [100_000, 400_000]
    assert args.runs == 5
    assert args.peer is None
    peer = _fake_peer(tmp_path / "peer")
    args = run_all.parse_args(["--peer", str(peer), "--qaagent", str(qaagent), "--json", "--runs", "3"])
    assert args.peer == peer.resolve()
    assert args.json
    assert args.runs == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sizes", "lots"], "--sizes: not a size"),
        (["--sizes", ","], "no size given"),
        (["--runs", "0"], "at least 1"),
        (["--suites", "1"], "--suites must be at least 2"),
        (["--peer", "/nonexistent/peer"], "not a directory"),
        (["--qaagent", "/nonexistent/qaagent"], "not a file"),
    ],
)
def test_run_all_refuses_bad_arguments(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        run_all.parse_args(argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_peer_problem_names_what_a_checkout_lacks(tmp_path: Path) -> None:
    assert "not a directory" in peer_pipeline.peer_problem(tmp_path / "none")
    (tmp_path / "python").mkdir()
    problem = peer_pipeline.peer_problem(tmp_path)
    assert "not a checkout of EnricoMi/publish-unit-test-result-action" in problem
    assert "python/publish_test_results.py" in problem
    assert "python/publish/junit.py" in problem
    assert peer_pipeline.peer_problem(_fake_peer(tmp_path / "ok")) is None


def test_peer_driver_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    peer = _fake_peer(tmp_path / "peer")
    report = tmp_path / "a.xml"
    report.write_text("<testsuite/>", encoding="utf-8")
    args = peer_pipeline.parse_args(["--peer", str(peer), str(report)])
    assert args.files == [report]
    assert args.commit == "0" * 40
    with pytest.raises(SystemExit) as stopped:
        peer_pipeline.parse_args(["--peer", str(peer), str(tmp_path / "missing.xml")])
    assert stopped.value.code == 2
    assert "not a file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        peer_pipeline.parse_args([str(report)])  # --peer is required
    assert "--peer" in capsys.readouterr().err


def test_render_reads_a_saved_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = {"wall": {"median": 1.0, "low": 0.9, "high": 1.2, "count": 3}}
    stats |= {"cpu": stats["wall"], "max_rss_mib": {"median": 50.0, "low": 50.0, "high": 50.0, "count": 3}}
    saved = {
        "machine": {"cpus": 2},
        "load_start": "1.00 1.00 1.00",
        "load_end": "2.00 2.00 2.00",
        "sizes": {},
        "per_suite": {"stats": {"1 suite": stats, "50 suites": stats}, "seconds_per_extra_suite": 0.0104},
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(saved), encoding="utf-8")
    run_all.main(["--render", str(path)])
    out = capsys.readouterr().out
    assert "| 50 suites | 1.00 s (0.90–1.20) | 1.00 s (0.90–1.20) |" in out
    assert "per extra suite: 10.4 ms" in out


# --- split.py ---------------------------------------------------------------------------------------------


def test_pytest_plan_is_skewed_and_sized_for_the_benchmark() -> None:
    plan = split.pytest_plan()
    assert len(plan) == 40
    seconds = sorted((p.seconds for p in plan), reverse=True)
    assert seconds[:4] == pytest.approx([6.0, 5.0, 4.0, 3.0])
    assert max(seconds[4:]) < 1.0
    assert sum(seconds) == pytest.approx(36.0, abs=0.01)
    assert len({p.name for p in plan}) == 40
    assert split.pytest_plan() == plan  # seeded


def test_behave_plan_has_30_features() -> None:
    plan = split.behave_plan()
    assert len(plan) == 30
    assert sum(p.seconds for p in plan) == pytest.approx(27.0, abs=0.01)
    assert max(p.seconds for p in plan) == pytest.approx(5.0)


def test_skewed_plan_refuses_more_long_files_than_files() -> None:
    with pytest.raises(ValueError, match="more long files"):
        split.skewed_plan(files=2, long=(1.0, 2.0), short_total=1.0, seed=1, prefix="x")


def test_bound_is_the_longest_file_or_the_share_of_each_worker() -> None:
    plan = [split.FilePlan("a", (3.0, 3.0)), split.FilePlan("b", (1.0,)), split.FilePlan("c", (2.0,))]
    shares = split.bound(plan, 2, 0.5)
    assert (shares["total"], shares["longest"]) == (9.0, 6.0)
    assert shares["bound"] == 6.5  # the longest file bounds it
    assert shares["target"] == pytest.approx(1.15 * 6.0 + 0.5)
    assert split.bound(plan, 1, 0.0)["bound"] == 9.0  # one worker: the total


def test_generated_pytest_project_has_every_test_of_the_plan(tmp_path: Path) -> None:
    plan = split.pytest_plan()
    split.write_pytest_project(tmp_path, plan, cpu=True)
    files = sorted((tmp_path / "tests").glob("test_*.py"))
    assert len(files) == 40
    text = "\n".join(p.read_text(encoding="utf-8") for p in files)
    assert text.count("\ndef test_") == sum(len(p.tests) for p in plan)
    assert text.count("fails on purpose") == 1
    assert text.count("pytest.mark.skip(") == 1
    for path in files:
        compile(path.read_text(encoding="utf-8"), str(path), "exec")


def test_generated_behave_project_has_every_scenario(tmp_path: Path) -> None:
    plan = split.behave_plan()
    split.write_behave_project(tmp_path, plan)
    features = sorted((tmp_path / "features").glob("*.feature"))
    assert len(features) == 30
    text = "\n".join(p.read_text(encoding="utf-8") for p in features)
    assert text.count("  Scenario: ") == sum(len(p.tests) for p in plan)
    assert text.count("Then it fails on purpose") == 1


def test_suite_profile_with_and_without_split() -> None:
    plain = yaml.safe_load(
        split.suite_profile("pytest", "tests", ["/venv/bin/python", "-m", "pytest"], 2, split=None)
    )
    assert plain["run"] == {"parallel": True, "max_workers": 2, "timeout": 600}
    assert plain["tests"]["suite"] == {
        "runner": "pytest",
        "path": "tests",
        "command": ["/venv/bin/python", "-m", "pytest"],
    }
    with_split = yaml.safe_load(split.suite_profile("behave", "features", ["p"], 4, split="auto"))
    assert with_split["tests"]["suite"]["split"] == "auto"


def test_junit_outcomes_and_their_comparison(tmp_path: Path) -> None:
    ours = tmp_path / "ours.xml"
    ours.write_text(
        "<testsuites><testsuite>"
        '<testcase classname="m" name="a"/><testcase classname="m" name="b"><failure message="x"/></testcase>'
        '<testcase classname="m" name="c"><skipped/></testcase><testcase classname="m" name="d"><error/></testcase>'
        "</testsuite></testsuites>",
        encoding="utf-8",
    )
    outcomes = split.junit_outcomes(ours)
    assert outcomes == {
        ("m", "a"): "passed",
        ("m", "b"): "failed",
        ("m", "c"): "skipped",
        ("m", "d"): "error",
    }
    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / "one.xml").write_text(
        '<testsuite><testcase classname="m" name="a"/></testsuite>', encoding="utf-8"
    )
    (folder / "two.xml").write_text(
        '<testsuite><testcase classname="m" name="b"/><testcase classname="m" name="e"/></testsuite>',
        encoding="utf-8",
    )
    theirs = split.junit_outcomes(folder)
    assert theirs == {("m", "a"): "passed", ("m", "b"): "passed", ("m", "e"): "passed"}
    same = split.compare_outcomes(outcomes, outcomes)
    assert same["same"]
    assert same["counts_equal"]
    assert same["same_order"]
    shuffled = split.compare_outcomes(outcomes, dict(reversed(outcomes.items())))
    assert shuffled["same"]
    assert not shuffled["same_order"]
    differ = split.compare_outcomes(outcomes, theirs)
    assert not differ["same"]
    assert differ["only_ours"] == [["m", "c"], ["m", "d"]]
    assert differ["only_theirs"] == [["m", "e"]]
    assert differ["status_differs"] == [["m", "b", "failed", "passed"]]
    assert differ["counts_of_differences"] == [2, 1, 1]
    renamed = split.compare_outcomes({("x", "1"): "passed"}, {("y", "1"): "passed"})
    assert not renamed["same"]
    assert renamed["counts_equal"]


def test_split_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    qaagent = tmp_path / "qaagent"
    qaagent.write_text("", encoding="utf-8")
    args = split.parse_args(["--projects", "sleep,behave", "--qaagent", str(qaagent)])
    assert args.projects == ["sleep", "behave"]
    assert args.workers == 2
    (tmp_path / "proj" / "tests").mkdir(parents=True)
    args = split.parse_args(
        [
            "--projects",
            "",
            "--project",
            str(tmp_path / "proj"),
            "--project-deps",
            "attrs x",
            "--qaagent",
            str(qaagent),
        ]
    )
    assert args.projects == []
    assert args.project_deps == ["attrs", "x"]
    for bad, message in (
        (["--projects", "sleep,gpu"], "unknown gpu"),
        (["--projects", ""], "nothing to run"),
        (["--project", str(tmp_path)], "no folder 'tests'"),
        (["--workers", "0"], "at least 1"),
    ):
        with pytest.raises(SystemExit) as stopped:
            split.parse_args([*bad, "--qaagent", str(qaagent)])
        assert stopped.value.code == 2
        assert message in capsys.readouterr().err


@pytest.mark.slow
def test_tree_memory_counts_the_children(tmp_path: Path) -> None:
    """A parent holding 50 MB runs a child holding 30 MB: both are in the tree's bounds."""
    script = tmp_path / "tree.py"
    script.write_text(
        "import subprocess, sys\n"
        "held = b'a' * 50_000_000\n"
        "subprocess.run([sys.executable, '-c', \"held = b'b' * 30_000_000; import time; time.sleep(1.0)\"], check=True)\n",
        encoding="utf-8",
    )
    tree = benchlib.tree_memory(
        [sys.executable, str(script)], cwd=tmp_path, env=benchlib.user_env(), log=tmp_path / "log"
    )
    assert tree.processes == 2
    assert tree.sampled_sum_mib > 75  # both alive at once: 50 + 30 MB and two interpreters
    assert tree.peaks_sum_mib >= tree.sampled_sum_mib


def test_startup_share_is_the_split_suites_time_outside_its_tests(tmp_path: Path) -> None:
    assert split.startup_share(tmp_path) is None  # no bundle
    bundle = tmp_path / ".qaagent" / "evidence" / "20240101_000000Z"
    bundle.mkdir(parents=True)
    suites = [{"name": "u", "process_time": 10.0, "batches": [{"batch": 1}, {"batch": 2}]}]
    (bundle / "manifest.json").write_text(json.dumps({"suites": suites}), encoding="utf-8")
    records = [{"duration": 4.0}, {"duration": 4.5}]
    (bundle / "tests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert split.startup_share(tmp_path) == pytest.approx(0.15)
    (bundle / "manifest.json").write_text(
        json.dumps({"suites": [{"name": "u", "duration": 3}]}), encoding="utf-8"
    )
    assert split.startup_share(tmp_path) is None  # not split


batch_rule = load_file_module(BENCH / "batch_rule.py", "batch_rule")


def test_batch_rule_dispatch_hands_batches_to_the_first_free_slot() -> None:
    assert batch_rule.dispatch([3.0, 1.0, 1.0, 1.0], 2) == 3.0
    assert batch_rule.dispatch([1.0, 1.0, 3.0], 2) == 4.0  # the long one last: list order costs


def test_batch_rule_with_recorded_durations_reaches_the_bound() -> None:
    plan = split.pytest_plan()
    found = batch_rule.ratio(plan, 2, bins_per_slot=1, factor=3, startup=0.35, recorded=True, nominal=0.05)
    assert 1.0 <= found < 1.02
