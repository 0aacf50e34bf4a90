"""Issue 15's benchmark: one big suite over W workers — qaagent unsplit / `split: auto` vs xdist and BehaveX.

    .venv/bin/python benchmarks/split.py [--projects sleep,cpu,behave] [--runs 5] [--workers 2]
                                         [--project CHECKOUT --project-deps "attrs"] [--json]

Generated projects (deterministic, seeded; skewed: a few long files, many short ones):

- `sleep`: pytest, 40 files, ~180 tests that sleep (36 s of tests: files of 6, 5, 4 and 3 s,
  36 files of 0.2–0.8 s); one failing and one skipped test, so statuses are compared too;
- `cpu`: the same plan, each test burning its share of CPU time instead (x0.6: 21.6 s);
- `behave`: 30 feature files (27 s of scenarios: features of 5, 4 and 3 s, 27 short ones),
  one failing scenario.

Variants, alternating, `--runs` times each (median and min–max wall, CPU, max RSS, all
through /usr/bin/time -v — see benchlib.py):

- `qaagent unsplit`: `qaagent run-all` with the suite as it is (`parallel: true`,
  `max_workers: W`; one suite, so one process);
- `qaagent split: auto`: the same profile with `split: auto` — only when this qaagent
  accepts the field (`qaagent validate` on such a profile exits 0); otherwise the row says
  "not supported by this qaagent". Every run starts with no recorded durations (the first
  run of a CI job that keeps none); the start-up share (the batches' time outside their
  tests) is read from its bundle;
- `qaagent split: auto, durations`: the same with `--durations-from` the durations of one
  earlier split run (warm-up, not timed) — what a CI that keeps them (the README's recipes)
  has; its pytest batches start without a listing first (the listing runs alongside them);
- pytest projects: `pytest -n W --dist load` and `--dist loadfile` (pytest-xdist);
- behave: BehaveX `--parallel-processes W --parallel-scheme feature`.

Every tool runs from one benchmark venv under build/ (pinned pytest, pytest-xdist, behave,
behavex; qaagent's suites use it through `command:`), never the project's .venv. The
issue's bound is printed per project: max(longest file, total ÷ W) plus one process start-up
(the median wall of `python -m pytest` / `python -m behave` on one trivial test), and the
target 1.15 × max(…) + start-up.

`--project PATH` adds the real-project check: a checkout of a public pytest project with its
tests under `--project-tests` (default `tests`), installed with pytest and pytest-xdist (and
`--project-deps`) into a venv of its own under build/. It runs qaagent unsplit, pytest alone
in one process (`-p no:xdist`), xdist `-n W` (and `split: auto` when supported) and compares
the test counts and statuses of qaagent's merged JUnit with each tool's JUnit. The benchmark
writes its profile into the checkout for the run and removes it (and the bundle) after;
the checkout is never copied into this repository.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    ROOT,
    Sample,
    add_common_arguments,
    check_common_arguments,
    ensure_venv,
    loadavg,
    log_tail,
    machine,
    progress,
    ratio_json,
    render_saved,
    require_time,
    run_alternating,
    samples_json,
    save_and_print,
    stats_json,
    summarize,
    summary_text,
    timed,
    user_env,
)

WORK = ROOT / "build" / "bench-split"
#: the benchmark venv: the versions measured (pytest as in requirements-dev.txt)
TOOLS = ("pytest==9.2.0", "pytest-xdist==3.8.0", "behave==1.3.3", "behavex==4.6.8")
PROJECTS = ("sleep", "cpu", "behave")
CPU_SCALE = 0.6
UNSUPPORTED = "not supported by this qaagent"
#: `split: auto` with the durations of an earlier split run (`--durations-from`), as a CI that keeps them
WITH_DURATIONS = "qaagent split: auto, durations"
#: the qaagent variants whose ratios against the other tools are reported
OURS = ("qaagent unsplit", "qaagent split: auto", WITH_DURATIONS)


# --- plans: which file holds which tests of which duration ---------------------------------


@dataclass(frozen=True)
class FilePlan:
    """One test file (or feature file) and the seconds of each of its tests."""

    name: str
    tests: tuple[float, ...]

    @property
    def seconds(self) -> float:
        """The file's total."""
        return sum(self.tests)


def skewed_plan(
    *, files: int, long: Sequence[float], short_total: float, seed: int, prefix: str
) -> list[FilePlan]:
    """`files` files: the `long` ones first (4 tests each), the rest short, summing to `short_total`.

    Short files get 0.2–0.8 s before scaling and 2–8 tests each; everything is rounded to
    milliseconds, deterministic for a seed.
    """
    rng = random.Random(seed)
    shorts = files - len(long)
    if shorts < 1:
        msg = "more long files than files"
        raise ValueError(msg)
    raw = [rng.uniform(0.2, 0.8) for _ in range(shorts)]
    scale = short_total / sum(raw)
    plans = [FilePlan(f"{prefix}{i:02d}_long", _split(seconds, 4)) for i, seconds in enumerate(long)]
    for i, seconds in enumerate(raw, len(long)):
        plans.append(FilePlan(f"{prefix}{i:02d}", _split(seconds * scale, rng.randint(2, 8))))
    return plans


def _split(seconds: float, parts: int) -> tuple[float, ...]:
    share = round(seconds / parts, 3)
    return (*([share] * (parts - 1)), round(seconds - share * (parts - 1), 3))


def pytest_plan() -> list[FilePlan]:
    """The 40-file pytest plan: 36 s of tests (files of 6, 5, 4, 3 s and 36 short ones)."""
    return skewed_plan(files=40, long=(6.0, 5.0, 4.0, 3.0), short_total=18.0, seed=15, prefix="test_f")


def behave_plan() -> list[FilePlan]:
    """The 30-feature behave plan: 27 s of scenarios (features of 5, 4, 3 s and 27 short ones)."""
    return skewed_plan(files=30, long=(5.0, 4.0, 3.0), short_total=15.0, seed=16, prefix="f")


def bound(plan: Sequence[FilePlan], workers: int, startup: float) -> dict[str, float]:
    """Issue 15's bound: max(longest file, total ÷ W) + one start-up; the target: 1.15 × max(…) + start-up."""
    total = sum(p.seconds for p in plan)
    longest = max(p.seconds for p in plan)
    best = max(longest, total / workers)
    return {
        "total": total,
        "longest": longest,
        "workers": workers,
        "startup": startup,
        "bound": best + startup,
        "target": 1.15 * best + startup,
    }


# --- writing the projects ----------------------------------------------------------------------

_BURN = (
    "def burn(seconds):\n"
    "    end = time.process_time() + seconds\n"
    "    while time.process_time() < end:\n"
    "        sum(range(1000))\n"
)
FAILING = (5, 1)  # file index, test index: fails in every variant
SKIPPED = (7, 0)


def write_pytest_project(root: Path, plan: Sequence[FilePlan], *, cpu: bool) -> None:
    """The pytest project of `plan` under `root/tests` (sleeping or burning CPU)."""
    tests = root / "tests"
    shutil.rmtree(tests, ignore_errors=True)
    tests.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # the rootdir is the project
    for f, file in enumerate(plan):
        body = ["import time", "", "import pytest", ""]
        if cpu:
            body += [_BURN]
        for t, seconds in enumerate(file.tests):
            seconds_ = round(seconds * CPU_SCALE, 3) if cpu else seconds
            wait = f"burn({seconds_})" if cpu else f"time.sleep({seconds_})"
            if (f, t) == SKIPPED:
                body += ["@pytest.mark.skip(reason='skipped on purpose')"]
            body += [f"def test_{t:02d}():", f"    {wait}"]
            if (f, t) == FAILING:
                body += ["    assert 1 == 2, 'fails on purpose'"]
            body += [""]
        (tests / f"{file.name}.py").write_text("\n".join(body), encoding="utf-8")


def write_behave_project(root: Path, plan: Sequence[FilePlan]) -> None:
    """The behave project of `plan` under `root/features`."""
    features = root / "features"
    shutil.rmtree(features, ignore_errors=True)
    (features / "steps").mkdir(parents=True)
    (features / "steps" / "steps.py").write_text(
        "import time\n\nfrom behave import then, when\n\n\n"
        "@when('I wait {seconds:g} seconds')\ndef wait(context, seconds):\n    time.sleep(seconds)\n\n\n"
        "@then('it fails on purpose')\ndef fail(context):\n    raise AssertionError('fails on purpose')\n",
        encoding="utf-8",
    )
    for f, file in enumerate(plan):
        lines = [f"Feature: {file.name}", ""]
        for s, seconds in enumerate(file.tests):
            lines += [f"  Scenario: {file.name} scenario {s:02d}", f"    When I wait {seconds} seconds"]
            if (f, s) == FAILING:
                lines += ["    Then it fails on purpose"]
            lines += [""]
        (features / f"{file.name}.feature").write_text("\n".join(lines), encoding="utf-8")


def suite_profile(runner: str, path: str, command: Sequence[str], workers: int, *, split: str | None) -> str:
    """A profile of one suite run in parallel mode over `workers` (with `split:` when given)."""
    fields = [f"runner: {runner}", f"path: {path}", f"command: {json.dumps(list(command))}"]
    if split is not None:
        fields.append(f"split: {split}")
    return (
        "project: {name: split-bench}\n"
        f"run: {{parallel: true, max_workers: {workers}, timeout: 600}}\n"
        f"tests:\n  suite: {{{', '.join(fields)}}}\n"
    )


def split_support(qaagent: Path, work: Path, env: Mapping[str, str]) -> tuple[bool, str]:
    """Whether this qaagent accepts `split: auto` (`qaagent validate` exits 0), and its answer."""
    project = work / "split-probe"
    (project / "tests").mkdir(parents=True, exist_ok=True)
    (project / "tests" / "test_probe.py").write_text("def test_probe():\n    pass\n", encoding="utf-8")
    profile = project / ".qaagent.yaml"
    profile.write_text(
        suite_profile("pytest", "tests", [sys.executable, "-m", "pytest"], 2, split="auto"), encoding="utf-8"
    )
    done = subprocess.run(
        [str(qaagent), "validate", "--profile", str(profile)],
        cwd=project,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    answer = (done.stderr.strip() or done.stdout.strip()).splitlines()
    return done.returncode == 0, answer[-1] if answer else f"exit {done.returncode}"


# --- comparing outcomes ---------------------------------------------------------------------------


def junit_outcomes(path: Path) -> dict[tuple[str, str], str]:
    """(classname, name) → passed | failed | error | skipped, from a JUnit file (or a folder of them)."""
    outcomes: dict[tuple[str, str], str] = {}
    files = sorted(path.glob("**/*.xml")) if path.is_dir() else [path]
    cases = (case for file in files for case in ET.parse(file).getroot().iter("testcase"))  # noqa: S314 - our tools' output
    for case in cases:
        status = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                break
        outcomes[(case.get("classname", ""), case.get("name", ""))] = status
    return outcomes


def compare_outcomes(
    ours: Mapping[tuple[str, str], str], theirs: Mapping[tuple[str, str], str]
) -> dict[str, Any]:
    """Counts per status on each side, the tests missing on one side or with another status, the order."""
    only_ours = sorted(set(ours) - set(theirs))
    only_theirs = sorted(set(theirs) - set(ours))
    differ = sorted(k for k in set(ours) & set(theirs) if ours[k] != theirs[k])
    return {
        "ours": dict(sorted(Counter(ours.values()).items())),
        "theirs": dict(sorted(Counter(theirs.values()).items())),
        "same": not (only_ours or only_theirs or differ),
        "counts_equal": Counter(ours.values()) == Counter(theirs.values()),
        "same_order": list(ours) == list(theirs),
        "only_ours": [list(k) for k in only_ours[:10]],
        "only_theirs": [list(k) for k in only_theirs[:10]],
        "status_differs": [[*k, ours[k], theirs[k]] for k in differ[:10]],
        "counts_of_differences": [len(only_ours), len(only_theirs), len(differ)],
    }


# --- variants -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One way of running a project: argv, expected exit codes, and where its JUnit ends up."""

    argv: tuple[str, ...]
    expected: tuple[int, ...]
    junit: Path | None = None
    profile: str | None = None


def _reset(project: Path) -> None:
    shutil.rmtree(project / ".qaagent", ignore_errors=True)
    shutil.rmtree(project / "out", ignore_errors=True)
    (project / "qaagent-junit.xml").unlink(missing_ok=True)


def measure(
    name: str,
    project: Path,
    variants: Mapping[str, Variant],
    *,
    runs: int,
    env: Mapping[str, str],
    logs: Path,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Alternating runs of `variants` on `project`; the outcomes of each variant's last run."""
    outcomes: dict[str, dict[tuple[str, str], str]] = {}
    shares: dict[str, list[float]] = {}

    def runner(variant: str) -> Callable[[], Sample]:
        spec = variants[variant]
        log = logs / f"{name}-{variant.replace(' ', '-').replace(':', '')}.log"

        def run() -> Sample:
            _reset(project)
            if spec.profile is not None:
                (project / ".qaagent.yaml").write_text(spec.profile, encoding="utf-8")
            sample = timed(variant, spec.argv, cwd=project, env=env, log=log, timeout=900)
            if sample.returncode not in spec.expected:
                raise SystemExit(
                    f"{name} / {variant} exited {sample.returncode} (expected {spec.expected});"
                    f" end of {log}:\n{log_tail(log)}"
                )
            if spec.junit is not None:
                outcomes[variant] = junit_outcomes(spec.junit)
            share = startup_share(project)
            if share is not None:
                shares.setdefault(variant, []).append(share)
            return sample

        return run

    progress(f"{name}: {', '.join(variants)}; load {loadavg()}")
    load_before = loadavg()
    samples = run_alternating({v: runner(v) for v in variants}, runs, progress=progress)
    _reset(project)
    return {
        "load_before": load_before,
        "load_after": loadavg(),
        "stats": {v: stats_json(s) for v, s in samples.items()},
        "outcomes": {v: dict(sorted(Counter(o.values()).items())) for v, o in outcomes.items()},
        "comparisons": _comparisons(outcomes),
        "startup_share": {v: summarize(found).median for v, found in shares.items()},
        "samples": samples_json(samples),
        "_walls": {v: [s.wall for s in runs_] for v, runs_ in samples.items()},
    }


def _comparisons(outcomes: Mapping[str, dict[tuple[str, str], str]]) -> dict[str, Any]:
    base = outcomes.get("qaagent unsplit")
    if base is None:
        return {}
    return {other: compare_outcomes(base, o) for other, o in outcomes.items() if other != "qaagent unsplit"}


def startup(python: Path, work: Path, env: Mapping[str, str], tool: str, logs: Path) -> float:
    """Median wall of 3 runs of `python -m pytest|behave` on one trivial test (one process start-up)."""
    project = work / f"startup-{tool}"
    if tool == "pytest":
        (project / "tests").mkdir(parents=True, exist_ok=True)
        (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        (project / "tests" / "test_one.py").write_text("def test_one():\n    pass\n", encoding="utf-8")
        argv = [str(python), "-m", "pytest", "tests", "-p", "no:cacheprovider"]
    else:
        (project / "features" / "steps").mkdir(parents=True, exist_ok=True)
        (project / "features" / "one.feature").write_text(
            "Feature: one\n  Scenario: one\n    When nothing\n", encoding="utf-8"
        )
        (project / "features" / "steps" / "steps.py").write_text(
            "from behave import when\n\n\n@when('nothing')\ndef nothing(context):\n    pass\n",
            encoding="utf-8",
        )
        argv = [str(python), "-m", "behave", "features"]
    walls = [timed(tool, argv, cwd=project, env=env, log=logs / f"startup-{tool}.log").wall for _ in range(3)]
    return summarize(walls).median


@dataclass(frozen=True)
class Setup:
    """What every project's variants need."""

    qaagent: Path
    python: Path
    work: Path
    env: dict[str, str]
    workers: int
    split: bool


def qaagent_variants(setup: Setup, runner: str, path: str, python: Path, project: Path) -> dict[str, Variant]:
    """`qaagent unsplit` and, when supported, `qaagent split: auto` for one suite."""
    command = [str(python), "-m", runner]
    argv = (str(setup.qaagent), "run-all")
    junit = project / "qaagent-junit.xml"
    variants = {
        "qaagent unsplit": Variant(
            argv, (0, 1), junit, suite_profile(runner, path, command, setup.workers, split=None)
        )
    }
    if setup.split:
        profile = suite_profile(runner, path, command, setup.workers, split="auto")
        variants["qaagent split: auto"] = Variant(argv, (0, 1), junit, profile)
        recorded = recorded_durations(setup, project, profile)
        variants[WITH_DURATIONS] = Variant((*argv, "--durations-from", str(recorded)), (0, 1), junit, profile)
    return variants


def recorded_durations(setup: Setup, project: Path, profile: str) -> Path:
    """A `qaagent durations` file from one split run of `project` (what a CI that keeps it has)."""
    work = setup.work / f"durations-{project.name}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    _reset(project)
    profile_path = project / ".qaagent.yaml"
    profile_path.write_text(profile, encoding="utf-8")
    try:
        return _warm_up(setup, project, work)
    finally:  # leave the project as it was: the real-project check refuses a checkout with a profile
        profile_path.unlink(missing_ok=True)
        _reset(project)


def _warm_up(setup: Setup, project: Path, work: Path) -> Path:
    """One split run of `project` (its profile written) and the durations file made from its bundle."""
    evidence = work / "evidence"
    run = [
        str(setup.qaagent),
        "run-all",
        "--quiet",
        "--evidence-dir",
        str(evidence),
        "--junit",
        str(work / "j.xml"),
    ]
    done = subprocess.run(
        run, cwd=project, env=dict(setup.env), capture_output=True, text=True, check=False, timeout=900
    )
    if done.returncode not in (0, 1):
        raise SystemExit(
            f"the warm-up split run of {project} exited {done.returncode}: {done.stdout[-2000:]}"
        )
    (bundle,) = evidence.iterdir()
    target = work / "durations.json"
    subprocess.run(
        [str(setup.qaagent), "durations", str(bundle), "-o", str(target)],
        cwd=project,
        env=dict(setup.env),
        check=True,
        capture_output=True,
        timeout=120,
    )
    return target


def startup_share(project: Path) -> float | None:
    """Of a split run's process time, the share outside its tests (start-ups, collection, reports).

    From the bundle the run left in the project: the suite's `process_time` (its batches
    together) against the sum of its tests' durations. None when the suite did not split.
    """
    bundles = sorted((project / ".qaagent" / "evidence").glob("2*"))
    if not bundles:
        return None
    manifest = json.loads((bundles[-1] / "manifest.json").read_text(encoding="utf-8"))
    suites = [s for s in manifest.get("suites", []) if s.get("batches")]
    if not suites:
        return None
    process = sum(float(s["process_time"]) for s in suites)
    packed = bundles[-1] / "tests.jsonl.gz"  # since issue 13; tests.jsonl before
    text = (
        gzip.decompress(packed.read_bytes()).decode("utf-8")
        if packed.is_file()
        else (bundles[-1] / "tests.jsonl").read_text(encoding="utf-8")
    )
    lines = text.splitlines()
    tests = sum(float(json.loads(line)["duration"]) for line in lines if line)
    return max(0.0, process - tests) / process if process > 0 else None


def pytest_project(setup: Setup, kind: str, runs: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """The sleep- or CPU-bound pytest project: qaagent against pytest-xdist."""
    project = setup.work / f"project-{kind}"
    plan = pytest_plan()
    write_pytest_project(project, plan, cpu=kind == "cpu")
    variants = qaagent_variants(setup, "pytest", "tests", setup.python, project)
    for dist in ("load", "loadfile"):
        junit = project / "out" / f"xdist-{dist}.xml"
        argv = (str(setup.python), "-m", "pytest", "tests", "-n", str(setup.workers), "--dist", dist)
        variants[f"xdist --dist {dist}"] = Variant(
            (*argv, "-o", "junit_family=xunit1", f"--junitxml={junit}"), (0, 1), junit
        )
    result = measure(
        kind, project, variants, runs=runs, env=setup.env, logs=setup.work / "logs", progress=progress
    )
    scale = CPU_SCALE if kind == "cpu" else 1.0
    scaled = [FilePlan(p.name, tuple(t * scale for t in p.tests)) for p in plan]
    up = startup(setup.python, setup.work, setup.env, "pytest", setup.work / "logs")
    return _with_bound(result, scaled, setup, up, ("xdist --dist load", "xdist --dist loadfile"))


def behave_project(setup: Setup, runs: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """The behave project: qaagent against BehaveX."""
    project = setup.work / "project-behave"
    plan = behave_plan()
    write_behave_project(project, plan)
    variants = qaagent_variants(setup, "behave", "features", setup.python, project)
    behavex = setup.python.parent / "behavex"
    variants["behavex"] = Variant(
        (
            str(behavex),
            "features",
            "--parallel-processes",
            str(setup.workers),
            "--parallel-scheme",
            "feature",
            "-o",
            str(project / "out"),
        ),
        (0, 1),
        project / "out" / "behave",
    )
    result = measure(
        "behave", project, variants, runs=runs, env=setup.env, logs=setup.work / "logs", progress=progress
    )
    up = startup(setup.python, setup.work, setup.env, "behave", setup.work / "logs")
    return _with_bound(result, plan, setup, up, ("behavex",))


def _with_bound(
    result: dict[str, Any], plan: Sequence[FilePlan], setup: Setup, up: float, others: Sequence[str]
) -> dict[str, Any]:
    walls = result.pop("_walls")
    limits = bound(plan, setup.workers, up)
    result["bound"] = limits
    result["over_bound"] = {v: summarize(w).median / limits["bound"] for v, w in walls.items()}
    result["ratios"] = {
        f"{ours} / {other}": ratio_json(walls[ours], walls[other])
        for ours in OURS
        if ours in walls
        for other in others
    }
    result["split"] = "measured" if setup.split else UNSUPPORTED
    return result


def real_project(
    setup: Setup,
    checkout: Path,
    tests: str,
    deps: Sequence[str],
    *,
    runs: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """A real pytest project: qaagent unsplit (and split) vs pytest alone and xdist: counts and statuses."""
    files = sorted(p.relative_to(checkout).as_posix() for p in (checkout / tests).rglob("test_*.py"))
    key = hashlib.sha256(f"{checkout}\n{deps}".encode()).hexdigest()[:12]
    python = ensure_venv(
        setup.work / f"real-venv-{key}", [str(checkout), TOOLS[0], TOOLS[1], *deps], progress=progress
    )
    profile_path = checkout / ".qaagent.yaml"
    if profile_path.exists():
        raise SystemExit(
            f"{profile_path} exists: this benchmark writes its own profile there; use a fresh checkout"
        )
    variants = qaagent_variants(setup, "pytest", tests, python, checkout)
    pytest = (str(python), "-m", "pytest", tests, "-o", "junit_family=xunit1")
    # the tool alone in one process: tells a difference qaagent makes from one xdist makes
    alone = setup.work / "real-pytest.xml"
    variants["pytest, one process"] = Variant(
        (*pytest, "-p", "no:xdist", f"--junitxml={alone}"), (0, 1), alone
    )
    junit = setup.work / "real-xdist.xml"
    variants["xdist -n W"] = Variant(
        (*pytest, "-n", str(setup.workers), f"--junitxml={junit}"), (0, 1), junit
    )
    try:
        result = measure(
            "real", checkout, variants, runs=runs, env=setup.env, logs=setup.work / "logs", progress=progress
        )
    finally:
        profile_path.unlink(missing_ok=True)
        _reset(checkout)
    walls = result.pop("_walls")
    result["test_files"] = len(files)
    result["checkout"] = str(checkout)
    result["ratios"] = {
        f"{ours} / {other}": ratio_json(walls[ours], walls[other])
        for ours in OURS
        if ours in walls
        for other in ("pytest, one process", "xdist -n W")
    }
    result["split"] = "measured" if setup.split else UNSUPPORTED
    return result


# --- output ---------------------------------------------------------------------------------------


def render(result: Mapping[str, Any]) -> str:
    """Markdown tables for docs/benchmarks.md."""
    out = [
        f"machine: {result['machine']}",
        f"load average (1, 5, 15 min): {result['load_start']} at the start, {result['load_end']} at the end",
        f"tools: {', '.join(result['tools'])}; W = {result['workers']}; qaagent `split:` — {result['split']}",
    ]
    for name, project in result["projects"].items():
        out += ["", f"### {name}", "", _plan_line(project), *_variant_table(project)]
        if project.get("ratios"):
            out += ["", "| wall ratio | of the medians | per round, median (min–max) |", "|---|---:|---|"]
            out += [
                f"| {label} | {ratio['of_medians']:.2f} | {summary_text(ratio['per_round'], '')} |"
                for label, ratio in project["ratios"].items()
            ]
        if project.get("comparisons"):
            out += ["", *(_verdict(other, c) for other, c in project["comparisons"].items())]
        for variant, share in (project.get("startup_share") or {}).items():
            out.append(
                f"- {variant}: {share:.1%} of its processes' time outside the tests (median of the runs)"
            )
    return "\n".join(out)


def _plan_line(project: Mapping[str, Any]) -> str:
    limits = project.get("bound")
    if not limits:
        return f"{project.get('checkout')}: {project.get('test_files')} test files"
    return (
        f"plan: {limits['total']:.1f} s of tests, longest file {limits['longest']:.1f} s; start-up "
        f"{limits['startup']:.2f} s; bound max(longest, total ÷ {limits['workers']}) + start-up = "
        f"{limits['bound']:.2f} s; target (1.15 × max + start-up) {limits['target']:.2f} s"
    )


def _variant_table(project: Mapping[str, Any]) -> list[str]:
    out = ["", "| variant | wall | CPU | max RSS | ÷ bound | outcomes |", "|---|---|---|---:|---:|---|"]
    for variant, stats in project["stats"].items():
        over = project.get("over_bound", {}).get(variant)
        cells = [variant, summary_text(stats["wall"]), summary_text(stats["cpu"])]
        cells += [summary_text(stats["max_rss_mib"], "MiB", 1), f"{over:.2f}" if over else "—"]
        out.append("| " + " | ".join([*cells, _counts(project["outcomes"].get(variant, {})) or "—"]) + " |")
    if project["split"] == UNSUPPORTED:
        out.append(f"| qaagent split: auto | {UNSUPPORTED} | | | | |")
    return out


def _verdict(other: str, comparison: Mapping[str, Any]) -> str:
    if comparison["same"]:
        order = "in the same order" if comparison["same_order"] else "in another order"
        verdict = f"the same tests with the same statuses ({order})"
    elif comparison["counts_equal"]:
        verdict = (
            f"the same counts per status ({_counts(comparison['ours'])}); the tool names tests its own way"
        )
    else:
        only_ours, only_theirs, differ = comparison["counts_of_differences"]
        examples = "; ".join(" ".join(row) for row in comparison["status_differs"][:3])
        verdict = (
            f"DIFFERENT — qaagent {_counts(comparison['ours'])}, {other} {_counts(comparison['theirs'])};"
            f" {only_ours} only in qaagent's, {only_theirs} only in {other}'s, {differ} with another status"
            + (f" (e.g. {examples})" if examples else "")
        )
    return f"- qaagent unsplit vs {other}: {verdict}"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


# --- command line ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_common_arguments(parser, WORK)
    parser.add_argument(
        "--projects", default=",".join(PROJECTS), help=f"generated projects (default {','.join(PROJECTS)})"
    )
    parser.add_argument("--workers", type=int, default=2, help="W: processes at once (default 2)")
    parser.add_argument(
        "--project", type=Path, help="a checkout of a public pytest project (the real-project check)"
    )
    parser.add_argument("--project-tests", default="tests", help="its test folder, relative to the checkout")
    parser.add_argument(
        "--project-deps", default="", help="extra pip requirements of its tests, space-separated"
    )
    args = parser.parse_args(list(argv))
    if args.render is not None:
        return args
    check_common_arguments(parser, args)
    args.projects = [p for p in (s.strip() for s in args.projects.split(",")) if p]
    unknown = sorted(set(args.projects) - set(PROJECTS))
    if unknown:
        parser.error(f"--projects: unknown {', '.join(unknown)} (choose from {', '.join(PROJECTS)})")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.project is not None:
        args.project = args.project.resolve()
        if not (args.project / args.project_tests).is_dir():
            parser.error(
                f"--project {args.project}: no folder {args.project_tests!r} in it (see --project-tests)"
            )
    if not args.projects and args.project is None:
        parser.error("nothing to run: no --projects and no --project")
    args.project_deps = args.project_deps.split()
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, then print the tables (or the JSON)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.render is not None:
        render_saved(args.render, render)
        return
    require_time()
    (args.work / "logs").mkdir(parents=True, exist_ok=True)
    env = user_env()
    python = ensure_venv(args.work / "tools-venv", list(TOOLS), progress=progress)
    supported, answer = split_support(args.qaagent, args.work, env)
    progress(f"split: auto {'accepted' if supported else 'refused'} by {args.qaagent}: {answer}")
    setup = Setup(args.qaagent, python, args.work, env, args.workers, supported)
    result: dict[str, Any] = {
        "machine": machine(),
        "load_start": loadavg(),
        "qaagent": str(args.qaagent),
        "tools": list(TOOLS),
        "workers": args.workers,
        "split": "measured" if supported else UNSUPPORTED,
        "split_probe": answer,
        "projects": {},
    }
    for kind in args.projects:
        if kind == "behave":
            result["projects"]["behave"] = behave_project(setup, args.runs, progress)
        else:
            result["projects"][kind] = pytest_project(setup, kind, args.runs, progress)
    if args.project is not None:
        result["projects"]["real"] = real_project(
            setup, args.project, args.project_tests, args.project_deps, runs=args.runs, progress=progress
        )
    result["load_end"] = loadavg()
    save_and_print(result, args.work, Path(__file__).name, render, as_json=args.json)


if __name__ == "__main__":
    main()
