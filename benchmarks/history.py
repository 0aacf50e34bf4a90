"""Benchmark: the history store (issue 14) on SQLite and on a throw-away PostgreSQL server.

Measures, on both backends in one run (alternating, best and median of --repeat):

1. recording 100,000 results (`History.record`: keys, packed arrays, one transaction);
2. looking up history for a 10,000-test run in a store holding 1,000,000 results
   (100 runs x 10,000 tests): p50 durations for scheduling + the quarantine set +
   the comparison with the base branch (the run's results prepared once, timed apart);
3. the SQLite file size per 100,000 recorded results;
4. `qaagent history report` on that 1,000,000-result store, as a user runs it (a subprocess);
5. what history adds to a run: the pipeline's history work for a finished run of 100,000
   test cases (`RunHistory.open` — git, the SQLite file — then `record` of its `TestCase`
   values, as `record_history` does, then `close`), in process: wall and CPU per run, the run
   without history doing none of it; and (`--run-all`, slow) the whole `qaagent run-all`
   process of 100,000 JUnit cases with and without `--no-history`, alternating.

    .venv/bin/python benchmarks/history.py [--repeat 5] [--runs 100] [--tests 10000] [--no-postgres]
    .venv/bin/python benchmarks/history.py --only-run-all [--repeat 5] [--run-all]
    .venv/bin/python benchmarks/history.py --only-run-all --against DIR [--repeat 5]   # before/after

Numbers go in docs/benchmarks.md (## Test history).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import pg_server  # noqa: E402 - the tests' throw-away cluster

from qaagent.history.api import History  # noqa: E402
from qaagent.history.model import ResultRecord, RunRecord  # noqa: E402
from qaagent.history.prepared import RunResults, prepare  # noqa: E402
from qaagent.history.rates import Quarantine  # noqa: E402
from qaagent.history.settings import HistorySettings  # noqa: E402
from qaagent.history.store import Scope  # noqa: E402

SCOPE = Scope("bench", "o/bench")
T0 = 1_714_564_800.0


def results(count: int, number: int, *, spread: bool = False) -> list[ResultRecord]:
    """`count` results of run `number`, 200 files, 5 suites.

    As in a real project, problems stay with a few tests: 1% of the tests fail
    now and then (each in one run of ten) and 0.5% pass only on a retry now and
    then (one run of five). `spread`: the worst case for rates instead — a
    different 1% fails in every run and a different 0.5% is flaky, so over 50
    runs most tests have had a problem.
    """
    out = []
    for i in range(count):
        if spread:
            failing = (i + number) % 100 == 0
            flaky = not failing and (i * 7 + number) % 200 == 0
        else:
            failing = i % 100 == 0 and (i // 100 + number) % 10 == 0
            flaky = i % 200 == 1 and (i // 200 + number) % 5 == 0
        out.append(
            ResultRecord(
                suite=f"suite{i % 5}",
                classname=f"tests.test_mod{i % 200}",
                name=f"test_case_{i}[param-{i % 7}]",
                status="failed" if failing else "passed",
                duration=0.001 * (i % 97) + 0.0001 * (number % 13),
                file=f"tests/test_mod{i % 200}.py",
                attempts=2 if flaky or failing else 1,
                flaky=flaky,
            )
        )
    return out


def run_record(number: int, *, branch: str = "main") -> RunRecord:
    started = T0 + 600 * number
    return RunRecord(
        run_id=f"20240501_{number:06d}Z",
        project=SCOPE.project,
        repository=SCOPE.repository,
        started=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(started)),
        started_at=started,
        finished_at=started + 300,
        commit=f"{number:040x}",
        branch=branch,
        status="success",
        suite_durations={f"suite{s}": 60.0 + s for s in range(5)},
    )


def opened(store: str, base: Path) -> History:
    history = History.open(HistorySettings(store=store), base_dir=base)
    if not isinstance(history, History):
        raise SystemExit(str(history))
    return history


def timed(action: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def summary(samples: list[tuple[float, float]]) -> str:
    walls = [w for w, _ in samples]
    cpus = [c for _, c in samples]
    return (
        f"best {min(walls) * 1000:.0f} ms, median {statistics.median(walls) * 1000:.0f} ms "
        f"(CPU best {min(cpus) * 1000:.0f} ms; runs: {', '.join(f'{w * 1000:.0f}' for w in walls)})"
    )


def bench_record(stores: dict[str, str], base: Path, repeat: int) -> None:
    print("\n## recording 100,000 results (History.record)")
    data = results(100_000, 1)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in stores}
    prep: list[tuple[float, float]] = []
    for attempt in range(repeat):
        prep.append(timed(lambda: prepare(data)))
        for name, store in stores.items():  # alternating, in one run
            history = opened(store, base)
            samples[name].append(record_once(history, run_record(10 + attempt), data))
            history.close()
    print(f"- of which preparing (keys, packed arrays): {summary(prep)}")
    for name, found in samples.items():
        print(f"- {name}: {summary(found)}")


def record_once(history: History, run: RunRecord, data: list[ResultRecord]) -> tuple[float, float]:
    return timed(lambda: history.record(run, data))


def bench_lookup(
    stores: dict[str, str], base: Path, runs: int, tests: int, repeat: int, *, spread: bool = False
) -> None:
    case = (
        "worst case for rates: problems spread over most tests"
        if spread
        else "problems stay with 1.5% of tests"
    )
    print(f"\n## lookup for a {tests:,}-test run in a store of {runs * tests:,} results ({case})")
    for name, store in stores.items():
        history = opened(store, base)
        started = time.perf_counter()
        for number in range(100, 100 + runs):
            history.record(run_record(number), results(tests, number, spread=spread))
        print(f"- {name}: built in {time.perf_counter() - started:.1f} s")
        history.close()
    new_run = results(tests, 7, spread=spread)
    prepared: dict[str, list[tuple[float, float]]] = {"prepare": []}
    samples: dict[str, dict[str, list[tuple[float, float]]]] = {
        name: {"durations": [], "quarantine": [], "compare": [], "total": []} for name in stores
    }
    for _ in range(repeat):
        prepared["prepare"].append(timed(lambda: prepare(new_run)))
        mine = prepare(new_run)
        for name, store in stores.items():
            history = opened(store, base)
            for what, sample in lookup_once(history, mine).items():
                samples[name][what].append(sample)
            history.close()
    print(f"- preparing the new run's results (once, shared with recording): {summary(prepared['prepare'])}")
    for name, parts in samples.items():
        for what, found in parts.items():
            print(f"- {name} {what}: {summary(found)}")


def lookup_once(history: History, mine: RunResults) -> dict[str, tuple[float, float]]:
    """What a run asks before it starts and when it ends, each timed, and the total."""
    held = history.quarantine(SCOPE, branch="main")
    assert isinstance(held, Quarantine)
    began = (time.perf_counter(), time.process_time())
    parts = {
        "durations": timed(lambda: history.durations(SCOPE, branch="main")),
        "quarantine": timed(lambda: history.quarantine(SCOPE, branch="main")),
        "compare": timed(lambda: history.compare(SCOPE, mine, base_branch="main", quarantined=held)),
    }
    parts["total"] = (time.perf_counter() - began[0], time.process_time() - began[1])
    return parts


def bench_report(stores: dict[str, str], base: Path, repeat: int) -> None:
    print("\n## qaagent history report on the 1,000,000-result store (a subprocess)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    env["PYTHONPATH"] = str(ROOT)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in stores}
    for _ in range(repeat):
        for name, store in stores.items():
            out = base / f"report-{name}.html"
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "qaagent", "history", "report", "--store", store, "-o", str(out)],
                check=True, env=env, cwd=base, capture_output=True,
            )  # fmt: skip
            samples[name].append((time.perf_counter() - started, 0.0))
    for name, found in samples.items():
        walls = [w for w, _ in found]
        size = (base / f"report-{name}.html").stat().st_size
        print(
            f"- {name}: best {min(walls):.2f} s, median {statistics.median(walls):.2f} s"
            f" ({size / 1024:.0f} KiB page)"
        )


def bench_run_step(stores: dict[str, str], base: Path, repeat: int) -> None:
    """The history work of one finished 100,000-case run, as the pipeline does it (item 5).

    `judge_history` (open the store, prepare the cases once, the quarantine set, the
    comparison with the base branch) and `record_history` (record the prepared results,
    close), on the run's own `TestCase` values in their `CaseStore`, which spills to disk
    above a few thousand cases. The stores alternate within each repeat.
    """
    print("\n## the history step of a 100,000-case run (open, judge, record the TestCase values, close)")
    suites = _case_suites()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in stores}
    parts: dict[str, list[tuple[float, float]]] = {name: [] for name in stores}
    for attempt in range(repeat + 1):  # the first: 100,000 new tests, reported apart
        for name, store in stores.items():
            wall, cpu, judged = _step(
                HistorySettings(store=store), base, *_finished(suites, base, name, attempt)
            )
            if attempt == 0:
                print(f"- {name}, the first run (100,000 new tests): wall {wall:.2f} s, CPU {cpu:.2f} s")
                continue
            samples[name].append((wall, cpu))
            parts[name].append((judged, cpu - judged))
    for name, found in samples.items():
        judge = statistics.median(p[0] for p in parts[name])
        record = statistics.median(p[1] for p in parts[name])
        print(
            f"- {name}: {summary(found)}; CPU median: open + judge {judge * 1000:.0f} ms,"
            f" record + close {record * 1000:.0f} ms"
        )


def _case_suites() -> list[Any]:
    """The 100,000 results of `results` as a finished run's suites of `TestCase`s in `CaseStore`s."""
    from qaagent.results import CaseStore, SuiteResult, TestCase  # noqa: PLC0415

    by_suite: dict[str, list[TestCase]] = {}
    for r in results(100_000, 1):
        case = TestCase(r.suite, r.classname, r.name, r.status, r.duration, r.file, attempts=r.attempts)
        by_suite.setdefault(r.suite, []).append(case)
    return [SuiteResult(name, "pytest", CaseStore(cases)) for name, cases in by_suite.items()]


def _finished(suites: list[Any], base: Path, name: str, attempt: int) -> tuple[Path, Any]:
    """The bundle folder (its manifest) and the `RunResult` of repeat `attempt` of a store `name`."""
    from qaagent.run_result import RunResult  # noqa: PLC0415

    bundle = base / f"bundle-{name}-{attempt}"
    bundle.mkdir()
    started = f"2024-05-01T12:{attempt:02d}:00.000Z"
    manifest = {"run_id": f"20240501_12{attempt:02d}00Z", "started": started, "status": "failure"}
    (bundle / "manifest.json").write_text(json.dumps({**manifest, "project": "bench"}), encoding="utf-8")
    return bundle, RunResult("bench", manifest["run_id"], suites, T0 + 60 * attempt, T0 + 60 * attempt + 30)


def _step(settings: HistorySettings, base: Path, bundle: Path, run: Any) -> tuple[float, float, float]:
    """One run's history work: (wall, CPU, CPU of open + judge); exits when it did not record."""
    from qaagent.history.live import RunHistory  # noqa: PLC0415

    said: list[str] = []
    wall, cpu = time.perf_counter(), time.process_time()
    history = RunHistory.open(
        settings, base_dir=base, project="bench", repo_root=ROOT, say=said.append, base_branch="main"
    )
    history.judge(run)
    judged = time.process_time() - cpu
    history.record(bundle, run)
    history.close()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if not said or not said[-1].startswith("qaagent: history: 100000 result(s) recorded in"):
        raise SystemExit(f"unexpected: {said}")
    return wall, cpu, judged


def bench_run_all(base: Path, repeat: int) -> None:
    """A real run-all of 100,000 cases, with history and without, alternating (item 5)."""
    import resource  # noqa: PLC0415

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import run_all  # noqa: PLC0415 - the run-all benchmark's generated inputs and profile

    print("\n## a run of 100,000 results: recording in the history against --no-history")
    inputs = run_all.ensure_inputs(base / "run-all", 100_000, progress=print)
    project = base / "run-all" / "project"
    project.mkdir(parents=True, exist_ok=True)
    argv = run_all.feed_argv(inputs, link=run_all.can_hard_link(inputs.files[0], project / "probe"))
    store = base / "run-all" / "history.sqlite"  # outside .qaagent/: reset() removes that
    profile = run_all.profile_yaml([("feed", argv)], name="bench")
    (project / ".qaagent.yaml").write_text(profile + f"history: {{store: {store}}}\n", encoding="utf-8")
    samples: dict[str, list[tuple[float, float]]] = {"--no-history": [], "history": []}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(repeat):
        for mode, found in samples.items():  # alternating, in one run
            run_all.reset(project)
            argv_ = [sys.executable, "-m", "qaagent", "run-all", "--quiet"]
            argv_ += ["--no-history"] if mode == "--no-history" else []
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall = time.perf_counter()
            done = subprocess.run(argv_, cwd=project, env=env, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - wall
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            recorded = "qaagent: history: 100000 result(s) recorded" in done.stdout
            if done.returncode not in (0, 1) or recorded != (mode == "history"):
                output = done.stdout[-2000:] + done.stderr
                raise SystemExit(f"run-all ({mode}) exit {done.returncode}:\n{output}")
            found.append((wall, cpu))
    for mode, found in samples.items():
        print(f"- {mode}: {summary(found)}")
    extra = [h[0] - n[0] for h, n in zip(samples["history"], samples["--no-history"], strict=True)]
    extra_cpu = [h[1] - n[1] for h, n in zip(samples["history"], samples["--no-history"], strict=True)]
    print(
        f"- extra of history, pair by pair: median {statistics.median(extra) * 1000:.0f} ms wall, "
        f"{statistics.median(extra_cpu) * 1000:.0f} ms CPU (target <= 500 ms);"
        f" store after {repeat} runs: {store.stat().st_size / 1e6:.1f} MB"
    )


def bench_against(other: Path, base: Path, repeat: int) -> None:
    """Item 5 on SQLite, alternating this tree's code and `other`'s (the code before), a process each.

    Each process builds the 100,000 cases, records them once into a fresh store (100,000
    new tests, not counted), then times two more runs; the trees alternate `repeat` times.
    """
    print(f"\n## the history step of a 100,000-case run, SQLite: this tree against {other}, alternating")
    trees = {"before": other.resolve(), "this": ROOT}
    samples: dict[str, list[list[float]]] = {name: [] for name in trees}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for _ in range(repeat):
        for name, tree in trees.items():
            argv = [sys.executable, __file__, "--step-process", str(base / f"{name}-{len(samples[name])}")]
            tree_env = {**env, "PYTHONPATH": str(tree)}
            done = subprocess.run(argv, env=tree_env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{name} ({tree}): {done.stderr[-2000:]}")
            samples[name] += json.loads(done.stdout.splitlines()[-1])
    for name, found in samples.items():
        cpus = [c for _, c, _ in found]
        print(
            f"- {name}: {summary([(w, c) for w, c, _ in found])}; CPU median: open + judge"
            f" {statistics.median(j for _, _, j in found) * 1000:.0f} ms,"
            f" record + close {statistics.median(c - j for _, c, j in found) * 1000:.0f} ms; CPU median"
            f" {statistics.median(cpus) * 1000:.0f} ms"
        )
    before, this = (statistics.median(c for _, c, _ in samples[n]) for n in trees)
    print(f"- CPU median, this / before: {this / before:.2f}")


def step_process(folder: Path) -> None:
    """`--step-process`: one process of `bench_against` (prints its samples as JSON)."""
    import qaagent  # noqa: PLC0415

    folder.mkdir(parents=True)
    suites = _case_suites()
    settings = HistorySettings(store=str(folder / "history.sqlite"))
    found = [_step(settings, folder, *_finished(suites, folder, "SQLite", attempt)) for attempt in range(3)]
    print(f"qaagent from {Path(qaagent.__file__).parent}", file=sys.stderr)
    print(json.dumps(found[1:]))


def only_run_step(base: Path, args: argparse.Namespace) -> None:
    """`--only-run-all`: the history step of a run (SQLite, and PostgreSQL unless --no-postgres)."""
    cluster = None
    steps = {"SQLite": str(base / "step.sqlite")}
    if not args.no_postgres and not pg_server.problems():
        cluster = pg_server.start()
        steps["PostgreSQL"] = cluster.dsn(cluster.new_database())
    try:
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
        bench_run_step(steps, base, args.repeat)
        if args.run_all:
            bench_run_all(base, args.repeat)
    finally:
        if cluster is not None:
            cluster.stop()
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--tests", type=int, default=10_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--only-run-all", action="store_true", help="only item 5 (the history step of a run)")
    parser.add_argument("--run-all", action="store_true", help="with it, also whole run-all processes (slow)")
    parser.add_argument(
        "--against",
        type=Path,
        help="with --only-run-all: a source tree of the code before (git worktree add DIR main);"
        " item 5 on SQLite alternates between it and this tree, one process each",
    )
    parser.add_argument("--step-process", type=Path, help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = _parser().parse_args()
    if args.step_process:
        step_process(args.step_process)
        return
    with tempfile.TemporaryDirectory(prefix="qaagent-bench-") as tmp:
        base = Path(tmp)
        if args.only_run_all and args.against:
            print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
            bench_against(args.against, base, args.repeat)
            print(f"\nload after: {os.getloadavg()[0]:.2f}")
            return
        if args.only_run_all:
            only_run_step(base, args)
            return
        cluster = None
        stores = {"SQLite": str(base / "record.sqlite")}
        if not args.no_postgres:
            problems = pg_server.problems()
            if problems:
                raise SystemExit("PostgreSQL cannot run here: " + "; ".join(problems))
            cluster = pg_server.start()
            stores["PostgreSQL"] = cluster.dsn(cluster.new_database())
        try:
            print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
            bench_record(stores, base, args.repeat)
            size = Path(stores["SQLite"]).stat().st_size
            print(f"- SQLite file after {args.repeat} x 100,000 results: {size / 1e6:.1f} MB")
            lookups = {"SQLite": str(base / "lookup.sqlite")}
            if cluster is not None:
                lookups["PostgreSQL"] = cluster.dsn(cluster.new_database())
            bench_lookup(lookups, base, args.runs, args.tests, args.repeat)
            total = args.runs * args.tests
            size = Path(lookups["SQLite"]).stat().st_size
            per = size / (total / 100_000) / 1e6
            print(
                f"\n## SQLite file size\n- {total:,} results: {size / 1e6:.1f} MB = {per:.2f} MB per 100,000"
            )
            bench_report(lookups, base, min(args.repeat, 3))
            bench_lookup(
                {"SQLite": str(base / "spread.sqlite")}, base, args.runs, args.tests, args.repeat, spread=True
            )
            steps = {"SQLite": str(base / "step.sqlite")}
            if cluster is not None:
                steps["PostgreSQL"] = cluster.dsn(cluster.new_database())
            bench_run_step(steps, base, args.repeat)
            if args.run_all:
                bench_run_all(base, args.repeat)
        finally:
            if cluster is not None:
                cluster.stop()
        print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
