"""Splitting a suite into batches, without running one: the setting, the packing, the queue, the CI's shard.

The runs themselves (a split run equals an unsplit one, crashing and hanging
batches, cancellation) are in `test_split_run.py`.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from pathlib import Path

import pytest
from helpers import case

from qaagent.attempts import Attempt
from qaagent.batching import MIN_BATCH_STARTUPS, UNKNOWN_BINS_PER_SLOT, layout_lines, plan_work
from qaagent.ci import shard_from_environment
from qaagent.command_options import RunOptions
from qaagent.console import Console
from qaagent.durations import NO_DURATIONS, Durations, SuiteDurations, from_json
from qaagent.errors import ProfileError, UsageError
from qaagent.options import InvalidValue, Shard, shard_or_auto, split_setting
from qaagent.plan import Plan, WorkItem, build_plan
from qaagent.profile_load import load_profile, parse_profile
from qaagent.results import CaseStore
from qaagent.runners.base import Runner
from qaagent.runners.playwright import PlaywrightRunner, spec_filter
from qaagent.runners.pytest import PytestRunner
from qaagent.schedule import pack
from qaagent.split_suite import Budget, SplitSuite
from qaagent.suite_run import SuiteBuilder, SuiteRun
from qaagent.units import Discovery, Unit

# -- the setting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("auto", "auto"),
        ("AUTO", "auto"),
        ("off", "off"),
        (False, "off"),
        ("4", 4),
        (4, 4),
        (256, 256),
        (1, 1),
    ],
)
def test_split_takes_auto_off_or_a_number_of_batches(value: object, expected: object) -> None:
    assert split_setting(value) == expected


@pytest.mark.parametrize("value", ["0", 0, "many", "257", 257, True, 2.5, "-1", "٣", None, [2]])
def test_a_bad_split_says_what_it_takes(value: object) -> None:
    with pytest.raises(InvalidValue, match="expected auto, off or a number of batches from 1 to 256"):
        split_setting(value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("0", "got 0"),
        ("many", "got 'many'"),
        ("on", "got true (YAML reads on/yes/true as a boolean)"),
        ("257", "got 257"),
    ],
)
def test_a_bad_split_in_the_profile_is_one_line_with_its_line(text: str, shown: str) -> None:
    profile = f"project: {{name: p}}\ntests:\n  unit:\n    path: tests\n    split: {text}\n"
    with pytest.raises(ProfileError) as caught:
        parse_profile(profile)
    message = str(caught.value)
    assert "\n" not in message
    assert (
        f"tests.unit.split: expected auto, off or a number of batches from 1 to 256, {shown} (line 5)"
        in message
    )


def test_yaml_off_is_off_and_the_default_is_off() -> None:
    profile = parse_profile("tests:\n  unit: {path: t, split: off}\n  behave: {path: f}\n")
    assert profile.tests["unit"].split == "off"
    assert profile.tests["behave"].split == "off"


# -- the packing ----------------------------------------------------------------------------------


def test_pack_puts_every_item_in_one_bin_and_respects_the_caps() -> None:
    weights = [5.0, 4.0, 3.0, 3.0, 2.0, 1.0, 10.0, 0.5]
    groups = [0, 0, 0, 0, 0, 0, 1, 2]
    packed = pack(weights, groups, bins=4, setup={0: 0.5, 2: 0.5}, caps={0: 2})
    placed = sorted(i for bin_ in packed.bins for batch in bin_ for i in batch)
    assert placed == list(range(len(weights)))
    assert sum(1 for bin_ in packed.bins for batch in bin_ if groups[batch[0]] == 0) == 2
    for bin_ in packed.bins:  # one batch per group per bin
        seen = [groups[batch[0]] for batch in bin_]
        assert len(seen) == len(set(seen))
    assert packed == pack(weights, groups, bins=4, setup={0: 0.5, 2: 0.5}, caps={0: 2})


def test_pack_counts_a_start_up_for_each_new_batch() -> None:
    # bin 0 holds another group's 5.2 s, bin 1 a batch of 4.5 s + 1 s start-up: a 1 s file joins
    # that batch (6.5 s) rather than start a second one in bin 0 (5.2 + 1 + 1 = 7.2 s)
    joined = pack([5.2, 4.5, 1.0], [1, 0, 0], bins=2, setup={0: 1.0}, caps={})
    assert joined.bins == (((0,),), ((1, 2),))
    # with 4 s in bin 0 a second batch ends lower (6.0 s against 6.5 s): worth its start-up
    second = pack([4.0, 4.5, 1.0], [1, 0, 0], bins=2, setup={0: 1.0}, caps={})
    assert second.bins == (((1,),), ((2,), (0,)))  # per bin, a batch per group in group order
    assert second.loads == (5.5, 6.0)


# -- the queue ----------------------------------------------------------------------------------


def _plan(tmp_path: Path, profile: str, **options: object) -> Plan:
    (tmp_path / ".qaagent.yaml").write_text(profile, encoding="utf-8")
    for folder in ("tests", "features"):
        (tmp_path / folder).mkdir(exist_ok=True)
    return build_plan(load_profile(tmp_path / ".qaagent.yaml"), RunOptions(**options), repo_root=tmp_path)  # type: ignore[arg-type]


def _files(tmp_path: Path, suite: str, counts: list[int]) -> Discovery:
    units = []
    for index, tests in enumerate(counts):
        path = tmp_path / "tests" / f"test_{index:02d}.py"
        units.append(Unit(suite, path, f"tests/{path.name}", (f"tests/{path.name}",), tests))
    return Discovery(tuple(units))


PROFILE = (
    "project: {name: s}\nrun: {parallel: true, max_workers: 2}\n"
    "tests:\n  unit: {runner: pytest, path: tests, split: auto}\n"
    "  lint: {runner: command, command: ['true']}\n"
)


def _batches(plan: Plan, suite: str = "unit") -> list[WorkItem]:
    return [i for i in plan.work if i.suite == suite and i.batch is not None]


def test_every_file_lands_in_exactly_one_batch_in_report_order_within_it(tmp_path: Path) -> None:
    plan = _plan(tmp_path, PROFILE)
    discovery = _files(tmp_path, "unit", [40] * 12)
    lint = Discovery((Unit("lint", None, None),), "a command suite has no unit list: it runs whole")
    planned = plan_work(plan, NO_DURATIONS, {"unit": discovery, "lint": lint})
    batches = _batches(planned)
    assert 2 <= len(batches) <= UNKNOWN_BINS_PER_SLOT * 2  # test counts only: up to 3 per worker
    listed = [u.path for u in discovery.units]
    assert sorted(p for b in batches for p in b.units) == sorted(p for p in listed if p is not None)
    for batch in batches:
        assert list(batch.units) == sorted(batch.units, key=listed.index)
        assert [listed[p] for p in batch.positions] == list(batch.units)
    estimates = [i.estimate for i in planned.work]
    assert estimates == sorted(estimates, reverse=True)  # longest first
    assert [b.batch for b in sorted(batches, key=lambda b: listed.index(b.units[0]))] == list(
        range(1, len(batches) + 1)
    )  # batches are numbered by their first file
    layout = planned.split_layout
    assert layout is not None
    assert layout["batches"] == {"unit": len(batches)}
    assert layout["makespan"] >= layout["bound"] > 0


def test_with_recorded_durations_a_suite_gets_at_most_one_batch_per_worker(tmp_path: Path) -> None:
    plan = _plan(tmp_path, PROFILE)
    discovery = _files(tmp_path, "unit", [5] * 12)
    files = {u.rel or "": 10.0 + i for i, u in enumerate(discovery.units)}
    total = sum(files.values()) + 0.5  # half a second outside the tests: the start-up
    durations = Durations("test", {"unit": SuiteDurations(total, files), "lint": SuiteDurations(1.0)})
    planned = plan_work(plan, durations, {"unit": discovery})
    batches = _batches(planned)
    assert len(batches) == 2
    loads = [b.estimate for b in batches]
    assert max(loads) - min(loads) <= 11.0 + 1e-9  # balanced to within a file
    assert "longest first by durations from test (2 of 2 suites recorded)" in planned.start_order_reason


def test_a_start_up_stays_under_a_tenth_of_a_batch(tmp_path: Path) -> None:
    plan = _plan(tmp_path, PROFILE.replace("max_workers: 2", "max_workers: 8"))
    discovery = _files(tmp_path, "unit", [5] * 20)
    files = {u.rel or "": 1.0 for u in discovery.units}  # 20 s of tests, 1 s of start-up per process
    durations = Durations("test", {"unit": SuiteDurations(21.0, files)})
    batches = _batches(plan_work(plan, durations, {"unit": discovery}))
    assert len(batches) == 20 // MIN_BATCH_STARTUPS  # 6, although 8 workers are free
    assert all(b.estimate >= MIN_BATCH_STARTUPS * 1.0 for b in batches)


def test_split_n_caps_the_batches(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path, PROFILE.replace("split: auto", "split: 2").replace("max_workers: 2", "max_workers: 6")
    )
    batches = _batches(plan_work(plan, NO_DURATIONS, {"unit": _files(tmp_path, "unit", [50] * 30)}))
    assert len(batches) == 2


def test_an_explicit_split_n_gets_its_batches_after_a_recorded_run(tmp_path: Path) -> None:
    """The review's bug: with durations recorded (tiny tests, a large start-up), `split: 3`
    planned one batch - the start-up cost and one bin per worker overrode the setting."""
    plan = _plan(tmp_path, PROFILE.replace("split: auto", "split: 3"))  # 2 workers
    discovery = _files(tmp_path, "unit", [2] * 6)
    files = {u.rel or "": 0.01 for u in discovery.units}
    durations = Durations("history", {"unit": SuiteDurations(0.06 + 0.4, files), "lint": SuiteDurations(1.0)})
    planned = plan_work(plan, durations, {"unit": discovery})
    batches = _batches(planned)
    assert len(batches) == 3
    assert sorted(p for b in batches for p in b.units) == sorted(u.path for u in discovery.units if u.path)
    assert planned.split_layout is not None
    assert planned.split_layout["batches"] == {"unit": 3}
    # fewer files than N: one batch per file
    few = plan_work(plan, durations, {"unit": _files(tmp_path, "unit", [2] * 2)})
    assert len(_batches(few)) == 2
    # a fast machine records every file at 0 s: still three batches (all of them used to land in one)
    zero = Durations(
        "history", {"unit": SuiteDurations(0.4, dict.fromkeys(files, 0.0)), "lint": SuiteDurations(0.0)}
    )
    instant = _batches(plan_work(plan, zero, {"unit": discovery}))
    assert len(instant) == 3
    assert sorted(p for b in instant for p in b.units) == sorted(u.path for u in discovery.units if u.path)


def test_recorded_durations_give_the_files_without_listing_them_first(tmp_path: Path) -> None:
    """A run whose previous run recorded the files' durations starts its batches without a listing.

    The suite's command fails (`false`): had qaagent asked pytest for its files, the suite
    would run whole, "listing failed". A recorded file deleted since is left out, not an error;
    files outside the suite's folder and absolute or escaping keys are ignored; a key relative
    to pytest's rootdir (the test folder) finds its file once. The last batch runs the rest.
    """
    plan = _plan(tmp_path, PROFILE.replace("split: auto", "split: 3, command: ['false']"))
    for rel in (
        "tests/test_a.py",
        "tests/sub/test_b.py",
        "tests/test_c.py",
        "tests/test_d.py",
        "other/test_x.py",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("def test_x():\n    pass\n", encoding="utf-8")
    files = {
        "tests/test_a.py": 5.0,
        "tests/sub/test_b.py": 4.0,
        "test_c.py": 3.0,  # as JUnit names it when pytest's rootdir is tests/
        "tests/test_c.py": 3.0,
        "tests/test_d.py": 2.0,
        "tests/test_gone.py": 2.0,  # deleted since
        "other/test_x.py": 1.0,  # not in the suite's folder
        "../outside.py": 1.0,
        "/etc/hostname": 1.0,
    }
    durations = Durations("history", {"unit": SuiteDurations(16.0, files), "lint": SuiteDurations(1.0)})
    planned = plan_work(plan, durations)
    batches = _batches(planned)
    assert len(batches) == 3
    ran = sorted(p.relative_to(tmp_path).as_posix() for b in batches for p in b.units)
    assert ran == ["tests/sub/test_b.py", "tests/test_a.py", "tests/test_c.py", "tests/test_d.py"]
    assert [b.rest for b in sorted(batches, key=lambda b: b.batch or 0)] == [False, False, True]
    layout = planned.split_layout
    assert layout is not None
    assert layout["unlisted"] == {"unit": 4}
    assert layout["whole"] == {}
    lines = "\n".join(layout_lines(layout))
    assert "suite unit: its 4 test files from the recorded durations, not listed before the run" in lines
    assert "unit#3: ~" in lines
    assert "and any file not recorded" in lines


def test_without_recorded_files_or_in_a_shard_the_files_are_listed(tmp_path: Path) -> None:
    plan = _plan(tmp_path, PROFILE.replace("split: auto", "split: 3, command: ['false']"))
    for name in ("test_a.py", "test_b.py"):
        (tmp_path / "tests" / name).write_text("def test_x():\n    pass\n", encoding="utf-8")
    recorded = {"tests/test_a.py": 1.0, "tests/test_b.py": 1.0}
    totals_only = Durations("history", {"unit": SuiteDurations(16.0), "lint": SuiteDurations(1.0)})
    listed = plan_work(plan, totals_only)  # the listing (`false`) fails: whole, and why
    assert listed.split_layout is not None
    assert "unit" in listed.split_layout["whole"]
    assert "unlisted" not in listed.split_layout or not listed.split_layout["unlisted"]
    shard = dataclasses.replace(
        plan,
        suites=tuple(
            dataclasses.replace(s, units=(tmp_path / "tests" / "test_a.py",)) if s.name == "unit" else s
            for s in plan.suites
        ),
    )
    durations = Durations("history", {"unit": SuiteDurations(2.5, recorded), "lint": SuiteDurations(1.0)})
    sharded = plan_work(shard, durations)
    assert sharded.split_layout is not None
    assert not sharded.split_layout.get("unlisted")


def test_the_rest_batch_runs_the_suites_path_without_the_other_batches_files(tmp_path: Path) -> None:
    (tmp_path / "e2e" / "tests").mkdir(parents=True, exist_ok=True)
    for name in ("test_a.py", "test_b.py", "test_c.py"):
        (tmp_path / "e2e" / "tests" / name).write_text("def test_x():\n    pass\n", encoding="utf-8")
    runner = _runner(tmp_path, PytestRunner, "pytest", ["-p", "no:cacheprovider", "e2e/tests/test_c.py"])
    tests = tmp_path / "e2e" / "tests"
    rest = runner.restricted(
        [tests / "test_b.py"], batch=2, excluding=[tests / "test_a.py", tests / "test_c.py"]
    )
    argv = list(rest.attempt(1, tmp_path / "attempt-1", []).argv)
    start = argv.index("e2e")
    # the path, the args' files that no other batch runs (none here), an --ignore per other file
    assert argv[start : start + 3] == ["e2e", "--ignore=e2e/tests/test_a.py", "--ignore=e2e/tests/test_c.py"]
    assert "e2e/tests/test_b.py" not in argv  # known to be in the path: not named twice
    assert argv[-2:] == ["-p", "no:cacheprovider"]
    plain = runner.restricted([tests / "test_b.py"], batch=1)
    assert "--ignore=e2e/tests/test_a.py" not in plain.attempt(1, tmp_path / "attempt-1", []).argv


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        (PROFILE.replace("parallel: true", "parallel: false"), "a sequential run has one worker"),
        (PROFILE.replace("max_workers: 2", "max_workers: 1"), "max_workers is 1"),
        (PROFILE.replace("split: auto", "split: 1"), "split: 1 is one batch"),
    ],
)
def test_a_suite_that_cannot_split_runs_whole_and_the_plan_says_why(
    tmp_path: Path, profile: str, reason: str
) -> None:
    planned = plan_work(_plan(tmp_path, profile), NO_DURATIONS, {"unit": _files(tmp_path, "unit", [5] * 6)})
    assert not _batches(planned)
    assert planned.split_layout is not None
    assert f"suite unit runs whole: {reason}" in layout_lines(planned.split_layout)


def test_a_command_suite_or_a_failed_listing_or_one_file_runs_whole_with_the_reason(tmp_path: Path) -> None:
    profile = PROFILE.replace("command: ['true']}", "command: ['true'], split: auto}")
    plan = _plan(tmp_path, profile)
    lint = Discovery((Unit("lint", None, None),), "a command suite has no unit list: it runs whole")
    planned = plan_work(plan, NO_DURATIONS, {"unit": _files(tmp_path, "unit", [5]), "lint": lint})
    lines = layout_lines(planned.split_layout)
    assert "suite lint runs whole: a command suite has no unit list: it runs whole" in lines
    assert "suite unit runs whole: it has one test file here" in lines
    failed = Discovery((Unit("unit", None, None),), "pytest --collect-only exited 2: boom", failed=True)
    planned = plan_work(plan, NO_DURATIONS, {"unit": failed, "lint": lint})
    assert "suite unit runs whole: pytest --collect-only exited 2: boom" in layout_lines(planned.split_layout)
    assert [i.batch for i in planned.work] == [None, None]


def test_without_durations_the_longest_suite_starts_first_by_its_listed_tests(tmp_path: Path) -> None:
    profile = (
        "project: {name: s}\nrun: {parallel: true, max_workers: 2}\n"
        "tests:\n  small: {runner: pytest, path: tests}\n  big: {runner: pytest, path: tests}\n"
    )
    plan = _plan(tmp_path, profile)
    small = Discovery(_files(tmp_path, "small", [1, 1]).units)
    big = Discovery(_files(tmp_path, "big", [30, 30, 30]).units)
    planned = plan_work(plan, NO_DURATIONS, {"small": small, "big": big})
    assert planned.start_order == ("big", "small")  # not suite_order
    assert planned.start_order_reason == "longest first by listed test counts (no recorded durations)"


def test_the_default_worker_count_is_the_cpu_count_clamped_to_the_work(tmp_path: Path) -> None:
    plan = _plan(tmp_path, PROFILE.replace("max_workers: 2", "max_workers: null"))
    planned = plan_work(plan, NO_DURATIONS, {"unit": _files(tmp_path, "unit", [20] * 10)})
    assert plan.slots >= 1
    assert planned.workers == min(plan.slots, len(planned.work))


def test_durations_record_how_many_processes_a_split_suite_ran_in() -> None:
    data = {"format": "qaagent-durations", "suites": {"u": {"duration": 9.0, "files": {}, "processes": 3}}}
    durations = from_json(data, "x")
    assert durations.suites["u"].processes == 3
    assert durations.suites["u"].as_json()["processes"] == 3
    with pytest.raises(UsageError, match="processes must be a whole number"):
        from_json({"format": "qaagent-durations", "suites": {"u": {"processes": "3"}}}, "x")


# -- the suite's timeout, shared by its batches --------------------------------------------------


def test_the_budget_counts_time_while_any_batch_of_an_attempt_runs() -> None:
    budget = Budget(0.5)
    first, why = budget.start(1)
    assert first == 0.5
    assert why is None
    budget.start(1)  # two batches at once: the suite is busy once, not twice
    time.sleep(0.3)
    budget.end(1)
    budget.end(1)
    left, why = budget.start(1)
    assert left is not None
    assert 0.0 < left < 0.25
    assert why == "timed out: the suite's timeout of 0.5 s (its batches together) ran out"
    time.sleep(0.3)
    budget.end(1)
    assert budget.start(1) == (None, "the suite's timeout of 0.5 s (its batches together) ran out")
    assert budget.start(2)[0] == 0.5  # a retry round has a budget of its own


# -- a restricted run replaces the suite's own file selection --------------------------------------


def _runner(tmp_path: Path, cls: type[Runner], runner: str, args: list[str]) -> Runner:
    profile = f"tests:\n  s: {{runner: {runner}, path: e2e, args: {args!r}}}\n".replace("'", '"')
    (tmp_path / "e2e" / "tests").mkdir(parents=True, exist_ok=True)
    (tmp_path / ".qaagent.yaml").write_text(profile, encoding="utf-8")
    plan = build_plan(load_profile(tmp_path / ".qaagent.yaml"), repo_root=tmp_path)
    return cls(plan.suites[0], repo_root=tmp_path, base_env={})


def test_playwright_args_naming_specs_give_way_to_the_shards_filters(tmp_path: Path) -> None:
    # the suite: every shard ran both specs its args named
    args = ["--project=chrome", "--retries=0", "tests/a.js", "tests/b.js"]
    runner = _runner(tmp_path, PlaywrightRunner, "playwright", args)
    (tmp_path / "e2e" / "playwright.config.js").write_text("module.exports = {};\n", encoding="utf-8")
    assert runner.run_args() == args  # a whole run keeps them
    shard = runner.restricted([tmp_path / "e2e" / "tests" / "a.js"], batch=2)
    assert shard.run_args() == ["--project=chrome", "--retries=0"]
    attempt = tmp_path / "suites" / "s" / "batch-2" / "attempt-1"
    attempt.mkdir(parents=True)
    spec = shard.attempt(1, attempt, [])
    shard.after_attempt(attempt)
    assert "tests/a.js" not in spec.argv
    assert "tests/b.js" not in spec.argv
    assert spec.argv[-3:] == (
        spec_filter(tmp_path / "e2e" / "tests" / "a.js"),
        "--project=chrome",
        "--retries=0",
    )
    assert "b2" in Path(spec.argv[spec.argv.index("--config") + 1]).name  # one wrapper per batch


def test_playwright_values_of_options_are_not_file_filters(tmp_path: Path) -> None:
    args = ["--project", "chrome", "firefox", "-g", "login", "--workers", "2", "tests/x.spec.ts", "-x"]
    selection = _runner(tmp_path, PlaywrightRunner, "playwright", args).selection()
    assert selection.files == ("tests/x.spec.ts",)
    assert selection.options == ("--project", "chrome", "firefox", "-g", "login", "--workers", "2", "-x")
    finer = _runner(tmp_path, PlaywrightRunner, "playwright", ["tests/x.spec.ts:12"])
    assert (
        finer.selection_problem() == "its args select parts of test files (tests/x.spec.ts:12): it runs whole"
    )


def test_pytest_args_naming_files_give_way_and_node_ids_keep_the_suite_whole(tmp_path: Path) -> None:
    (tmp_path / "e2e" / "tests").mkdir(parents=True, exist_ok=True)
    (tmp_path / "e2e" / "tests" / "test_a.py").write_text("def test_a():\n    pass\n", encoding="utf-8")
    args = ["-m", "not slow", "--ignore", "e2e/tests", "e2e/tests/test_a.py", "-p", "no:cacheprovider"]
    runner = _runner(tmp_path, PytestRunner, "pytest", args)
    selection = runner.selection()
    assert selection.files == ("e2e/tests/test_a.py",)  # the value of --ignore is no selection
    assert selection.options == ("-m", "not slow", "--ignore", "e2e/tests", "-p", "no:cacheprovider")
    restricted = runner.restricted([tmp_path / "e2e" / "tests" / "test_a.py"])
    assert restricted.run_args() == list(selection.options)
    node = _runner(tmp_path, PytestRunner, "pytest", ["e2e/tests/test_a.py::test_a"])
    assert (
        node.selection_problem()
        == "its args select parts of test files (e2e/tests/test_a.py::test_a): it runs whole"
    )


# -- --shard auto ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "shard"),
    [
        ({"GITLAB_CI": "true", "CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "3"}, Shard(1, 3)),  # 1-based
        ({"GITLAB_CI": "true", "CI_NODE_INDEX": "3", "CI_NODE_TOTAL": "3"}, Shard(3, 3)),
        ({"CIRCLECI": "true", "CIRCLE_NODE_INDEX": "0", "CIRCLE_NODE_TOTAL": "4"}, Shard(1, 4)),  # 0-based
        ({"CIRCLECI": "true", "CIRCLE_NODE_INDEX": "3", "CIRCLE_NODE_TOTAL": "4"}, Shard(4, 4)),
        (
            {"BUILDKITE": "true", "BUILDKITE_PARALLEL_JOB": "1", "BUILDKITE_PARALLEL_JOB_COUNT": "2"},
            Shard(2, 2),
        ),
        ({"GITHUB_ACTIONS": "true", "QAAGENT_JOB_INDEX": "0", "QAAGENT_JOB_TOTAL": "5"}, Shard(1, 5)),
        ({"QAAGENT_JOB_INDEX": "4", "QAAGENT_JOB_TOTAL": "5"}, Shard(5, 5)),
    ],
)
def test_shard_auto_reads_the_cis_parallel_job(environ: dict[str, str], shard: Shard) -> None:
    assert shard_from_environment(environ).shard == shard


@pytest.mark.parametrize(
    "environ",
    [
        {"GITLAB_CI": "true"},  # no `parallel:`
        {"CIRCLECI": "true", "CIRCLE_NODE_INDEX": "0", "CIRCLE_NODE_TOTAL": "1"},  # parallelism 1
        {"BUILDKITE": "true"},
    ],
)
def test_shard_auto_in_a_job_that_is_not_parallel_runs_everything(environ: dict[str, str]) -> None:
    found = shard_from_environment(environ)
    assert found.shard is None
    assert "not sharded" in found.reason


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "no CI parallel-job variables found"),
        ({"GITHUB_ACTIONS": "true"}, "GitHub Actions sets no job index"),
        ({"GITLAB_CI": "true", "CI_NODE_INDEX": "0", "CI_NODE_TOTAL": "3"}, "the index must be from 1 to 3"),
        ({"GITLAB_CI": "true", "CI_NODE_INDEX": "4", "CI_NODE_TOTAL": "3"}, "the index must be from 1 to 3"),
        (
            {"CIRCLECI": "true", "CIRCLE_NODE_INDEX": "4", "CIRCLE_NODE_TOTAL": "4"},
            "the index must be from 0 to 3",
        ),
        (
            {"CIRCLECI": "true", "CIRCLE_NODE_INDEX": "x", "CIRCLE_NODE_TOTAL": "4"},
            "both must be whole numbers",
        ),
        ({"BUILDKITE": "true", "BUILDKITE_PARALLEL_JOB": "1"}, "both must be whole numbers"),
        ({"QAAGENT_JOB_INDEX": "0", "QAAGENT_JOB_TOTAL": "0"}, "the total must be from 1 to 256"),
        ({"QAAGENT_JOB_INDEX": "0", "QAAGENT_JOB_TOTAL": "257"}, "the total must be from 1 to 256"),
        ({"QAAGENT_JOB_INDEX": "-1", "QAAGENT_JOB_TOTAL": "2"}, "both must be whole numbers"),
    ],
)
def test_shard_auto_refuses_what_it_cannot_use(environ: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        shard_from_environment(environ)
    assert "\n" not in str(caught.value)


def test_the_shard_flag_takes_auto_or_i_of_n() -> None:
    assert str(shard_or_auto(" Auto ")) == "auto"
    assert shard_or_auto("2/3") == Shard(2, 3)
    with pytest.raises(InvalidValue, match=r"expected I/N .*, or auto"):
        shard_or_auto("automatic")


# -- a batch our own code fails on -----------------------------------------------------------------


class _Broken(SuiteRun):
    """Batch 2 hits a bug of ours; batch 1 reports one passing test."""

    def attempts(self, runner: Runner, folder: Path, result: SuiteBuilder, **_: object) -> CaseStore:
        if runner.suite.batch == 2:
            msg = "a bug"
            raise RuntimeError(msg)
        result.attempts.append(Attempt(1, ("pytest",), 0, timed_out=False, started_at=1.0, duration=0.5))
        units = runner.suite.units or ()
        return CaseStore([case("test_ok", file=f"tests/{units[0].name}")])


def test_a_batch_that_our_code_fails_on_makes_errors_of_its_files_only(tmp_path: Path) -> None:
    plan = _plan(tmp_path, PROFILE)
    files = [tmp_path / "tests" / f"test_{c}.py" for c in "ab"]
    for file in files:
        file.write_text("def test_ok():\n    pass\n", encoding="utf-8")
    items = [WorkItem("unit", batch=n, units=(f,), positions=(n - 1,)) for n, f in enumerate(files, 1)]
    run = _Broken(console=Console(io.StringIO()), cancel=threading.Event(), repo_root=tmp_path)
    split = SplitSuite(plan.suites[0], items, folder=tmp_path / "ev" / "unit", run=run)
    for item in items:
        split.run_batch(item, {})
    result = split.result()
    assert result is not None
    cases = [(c.file, c.status, c.message) for c in result.cases]
    assert cases[0] == ("tests/test_a.py", "passed", "")
    assert cases[1][:2] == ("tests/test_b.py", "error")
    assert "internal error in qaagent while running batch 2: RuntimeError: a bug" in cases[1][2]
    assert [b.number for b in result.batches] == [1, 2]
