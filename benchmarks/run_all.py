"""Issue 13's benchmark: the whole `qaagent run-all` process on 100k and 400k cases, beside the peer.

    .venv/bin/python benchmarks/run_all.py [--peer CHECKOUT] [--sizes 100k,400k] [--runs 5] [--json]

What it measures, alternating, `--runs` times each (median and min–max):

- **qaagent run-all**, as a user starts it, on a generated project with one `command`
  suite whose attempt hard-links the pre-built JUnit files into its `QAAGENT_JUNIT_DIR`
  (fresh files at no cost; the command's own cost is measured and printed), writing
  everything it writes by default: the bundle (merged junit.xml, tests.jsonl.gz, summary.md,
  report.html, manifest with checksums, redaction; the suite's JUnit inputs, read completely,
  are folded into junit.xml since issue 13) and `qaagent-junit.xml`;
- **the peer pipeline** (with `--peer`, a checkout of EnricoMi/publish-unit-test-result-action;
  it is not on PyPI): `peer_pipeline.py` in a venv of the checkout's `python/requirements.txt`
  created under build/ (parse → results → annotations → the request bodies, no GitHub call);
- **junitparser's merge**, the floor that needs no checkout: `reporting.py --child junitparser`.

Each is one process under `/usr/bin/time -v` (GNU time; `apt-get install -y time`): wall from
our clock, CPU and max RSS from its report. Max RSS there is the largest single process of
the tree; the summed RSS of the tree is sampled from /proc in one extra, untimed run.

The inputs — 10 files of pytest-style JUnit (xunit1: `file` and 0-based `line`), 10 %
failures with multi-frame tracebacks of 1–5 KB, 5 % skipped, 20 % with captured output,
seeded — are cached in build/bench/inputs/ (rebuilt when the generator changes).

Also measured: qaagent's overhead (`qaagent run-all` vs `python -m pytest` on one trivial
test, wall and CPU) and the cost per suite (50 trivial sequential suites vs 1), and with
`--profile` a cProfile of run-all on the smallest size (top entries printed, the .prof kept).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import inspect
import json
import os
import pstats
import random
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reporting
from benchlib import (
    ROOT,
    Sample,
    add_common_arguments,
    check_common_arguments,
    ensure_venv,
    load1,
    loadavg,
    log_tail,
    machine,
    parse_size,
    progress,
    ratio_json,
    render_saved,
    require_time,
    run_alternating,
    samples_json,
    save_and_print,
    size_label,
    stats_json,
    summarize,
    summary_text,
    timed,
    tool_python,
    tree_memory,
    user_env,
)
from peer_pipeline import peer_problem

HERE = Path(__file__).resolve().parent
#: the variant `--no-history` adds
NO_HISTORY = "qaagent run-all --no-history"
WORK = ROOT / "build" / "bench"
FILES = reporting.FILES
#: what the `command` suite runs: hard links of the cached inputs into its JUnit folder
FEED = 'exec cp {flag}-- "$0"/junit-*.xml "$QAAGENT_JUNIT_DIR"/'


# --- inputs ---------------------------------------------------------------------------------

_MODULES = ("orders", "checkout", "inventory", "accounts", "search", "billing", "shipping", "auth")
_ERRORS = (
    ("AssertionError", "assert {a} == {b}"),
    ("KeyError", "'{key}'"),
    ("ValueError", "invalid literal for int() with base 10: '{key}'"),
    ("TypeError", "unsupported operand type(s) for +: 'NoneType' and 'int'"),
    ("requests.exceptions.ConnectionError", "HTTPConnectionPool(host='127.0.0.1', port={port}): Max retries"),
)


def realistic_failures(count: int = 64, seed: int = 13) -> list[tuple[str, str]]:
    """(message, traceback) pairs like pytest's long tracebacks: 2–8 frames, about 1–5 KB each."""
    rng = random.Random(seed)
    pool = []
    for _ in range(count):
        module = rng.choice(_MODULES)
        kind, template = rng.choice(_ERRORS)
        detail = template.format(
            a=rng.randint(1, 999),
            b=rng.randint(1, 999),
            key=f"{module}_{rng.randint(1, 99)}",
            port=rng.randint(1024, 65535),
        )
        lines = [
            f"self = <tests.test_{module}.Test{module.title()} object at 0x7f{rng.getrandbits(40):010x}>"
        ]
        lines += [
            f"{name} = <{name.title()} id={rng.randint(1, 9999)}>"
            for name in ("client", "db")[: rng.randint(1, 2)]
        ]
        lines.append("")
        for frame in range(rng.randint(2, 8)):
            where = f"tests/test_{module}.py" if frame == 0 else f"shop/{rng.choice(_MODULES)}/service.py"
            function = (
                f"test_{module}_{rng.randint(1, 300)}" if frame == 0 else f"handle_{rng.choice(_MODULES)}"
            )
            lines.append(
                f"    def {function}(self, client, db):"
                if frame == 0
                else f"    def {function}(request, payload):"
            )
            lines += [
                f"        {rng.choice(('value', 'item', 'row', 'order'))}_{i} = "
                f"{rng.choice(('fetch', 'load', 'compute', 'lookup'))}(payload, index={i},"
                f" retries={rng.randint(0, 5)})"
                for i in range(rng.randint(3, 9))
            ]
            lines.append(
                f">       result = {rng.choice(('service', 'client', 'repo'))}.call({module!r}, timeout=30)"
            )
            lines.append("")
            lines.append(f"{where}:{rng.randint(10, 900)}: ")
            lines.append("_ " * 40)
        lines += [f"E       {kind}: {detail}", f"E        +  where {rng.random():.4f} = result.total", ""]
        lines.append(f"tests/test_{module}.py:{rng.randint(10, 900)}: {kind}")
        pool.append((f"{kind}: {detail}", "\n".join(lines)))
    return pool


@dataclass(frozen=True)
class Inputs:
    """One size's cached JUnit files."""

    cases: int
    directory: Path
    files: tuple[Path, ...]
    bytes: int


def generator_key(cases: int) -> str:
    """Changes whenever the generator (its code or its failure pool) or the size changes."""
    source = inspect.getsource(reporting.generate) + inspect.getsource(reporting.kind_of)
    return hashlib.sha256(f"{cases}\n{source}\n{realistic_failures()!r}".encode()).hexdigest()[:16]


def ensure_inputs(work: Path, cases: int, *, progress: Callable[[str], None]) -> Inputs:
    """The cached inputs of `cases` cases, generated when missing or stale."""
    directory = work / "inputs" / size_label(cases)
    meta = directory / "inputs.json"
    key = generator_key(cases)
    try:
        known = json.loads(meta.read_text(encoding="utf-8"))
        files = tuple(directory / name for name in known["files"])
        fresh = known["key"] == key and all(f.stat().st_size == known["files"][f.name] for f in files)
    except (OSError, ValueError, KeyError):
        fresh = False
    if not fresh:
        progress(f"generating {cases:,} cases in {directory} ...")
        shutil.rmtree(directory, ignore_errors=True)
        files = tuple(reporting.generate(directory, cases, failures=realistic_failures()))
        meta.write_text(
            json.dumps({"key": key, "files": {f.name: f.stat().st_size for f in files}}), encoding="utf-8"
        )
    return Inputs(cases, directory, files, sum(f.stat().st_size for f in files))


def can_hard_link(source: Path, folder: Path) -> bool:
    """Whether files of `source`'s folder can be hard-linked into `folder` (same file system)."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / ".link-probe"
    probe.unlink(missing_ok=True)
    try:
        os.link(source, probe)
    except OSError:
        return False
    probe.unlink()
    return True


def feed_argv(inputs: Inputs, *, link: bool) -> list[str]:
    """The `command` suite: copy (hard-link when possible) the inputs into QAAGENT_JUNIT_DIR."""
    return ["sh", "-c", FEED.format(flag="-l " if link else ""), str(inputs.directory)]


def profile_yaml(suites: Sequence[tuple[str, Sequence[str]]], *, name: str) -> str:
    """A profile of `command` suites (argv as JSON lists: valid YAML flow sequences)."""
    lines = [f"project: {{name: {name}}}", "tests:"]
    lines += [f"  {suite}: {{runner: command, command: {json.dumps(list(argv))}}}" for suite, argv in suites]
    return "\n".join(lines) + "\n"


def reset(project: Path) -> None:
    """Remove what an earlier run left (bundles, the merged report) so every run writes the same."""
    shutil.rmtree(project / ".qaagent", ignore_errors=True)
    (project / "qaagent-junit.xml").unlink(missing_ok=True)


def bundle_facts(project: Path, inputs: Inputs) -> dict[str, Any]:
    """Size of what the last run wrote (apparent sizes: hard links count in full, as in an upload)."""
    (bundle,) = (project / ".qaagent" / "evidence").iterdir()
    sizes = {p.relative_to(bundle).as_posix(): p.stat().st_size for p in bundle.rglob("*") if p.is_file()}
    total = sum(sizes.values())
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    return {
        "bytes": total,
        "files": len(sizes),
        "ratio_to_input": total / inputs.bytes,
        "bytes_per_1000_tests": total / inputs.cases * 1000,
        "largest": dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:6]),
        "totals": manifest.get("totals", {}),
        "merged_report_bytes": (project / "qaagent-junit.xml").stat().st_size,
    }


# --- variants -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """What the variants of one run need."""

    work: Path
    qaagent: Path
    env: dict[str, str]
    peer: Path | None
    peer_python: Path | None
    #: also time `qaagent run-all --no-history` (a variant of its own, alternating with the others)
    no_history: bool = False


def checked(sample: Sample, log: Path, expected: int | tuple[int, ...]) -> Sample:
    """`sample`, or stop with the log's tail when the child did not exit as expected."""
    if sample.returncode not in (expected if isinstance(expected, tuple) else (expected,)):
        raise SystemExit(
            f"{sample.variant} exited {sample.returncode} (expected {expected});"
            f" end of {log}:\n{log_tail(log)}"
        )
    return sample


def size_variants(setup: Setup, inputs: Inputs, project: Path) -> dict[str, tuple[list[str], Path, int]]:
    """name → (argv, working directory, expected exit code) for one input size."""
    label = size_label(inputs.cases)
    variants: dict[str, tuple[list[str], Path, int]] = {
        "qaagent run-all": ([str(setup.qaagent), "run-all"], project, 1)
    }
    if setup.no_history:
        variants[NO_HISTORY] = ([str(setup.qaagent), "run-all", "--no-history"], project, 1)
    if setup.peer is not None and setup.peer_python is not None:
        driver = [str(setup.peer_python), str(HERE / "peer_pipeline.py"), "--peer", str(setup.peer)]
        variants["peer pipeline"] = ([*driver, *map(str, inputs.files)], setup.work, 0)
    out = setup.work / f"junitparser-out-{label}"
    out.mkdir(parents=True, exist_ok=True)
    floor = [
        sys.executable,
        str(HERE / "reporting.py"),
        "--child",
        "junitparser",
        "--data",
        str(inputs.directory),
    ]
    variants["junitparser merge"] = ([*floor, "--out", str(out)], setup.work, 0)
    return variants


def measure_size(setup: Setup, inputs: Inputs, runs: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Alternating runs of every variant on one input size, plus the tree-RSS runs and bundle size."""
    label = size_label(inputs.cases)
    project = setup.work / f"project-{label}"
    project.mkdir(parents=True, exist_ok=True)
    link = can_hard_link(inputs.files[0], project / ".qaagent-probe")
    shutil.rmtree(project / ".qaagent-probe", ignore_errors=True)
    (project / ".qaagent.yaml").write_text(
        profile_yaml([("feed", feed_argv(inputs, link=link))], name=f"bench-{label}"), encoding="utf-8"
    )
    logs = setup.work / "logs"
    logs.mkdir(exist_ok=True)
    variants = size_variants(setup, inputs, project)

    facts: dict[str, Any] = {}

    def runner(name: str) -> Callable[[], Sample]:
        argv, cwd, expected = variants[name]
        log = logs / f"{label}-{name.replace(' ', '-')}.log"

        def run() -> Sample:
            reset(project)
            sample = checked(timed(name, argv, cwd=cwd, env=setup.env, log=log), log, expected)
            if name == "qaagent run-all" and not facts:
                facts.update(bundle_facts(project, inputs))  # after the timed run: what it wrote
            return sample

        return run

    load_start = loadavg()
    progress(f"{inputs.cases:,} cases ({inputs.bytes / 1e6:.1f} MB), load {load_start}")
    samples = run_alternating({name: runner(name) for name in variants}, runs, progress=progress)
    peer_output = _last_json(logs / f"{label}-peer-pipeline.log") if "peer pipeline" in variants else None
    tree: dict[str, dict[str, Any]] = {}
    for name, (argv, cwd, _) in variants.items():
        reset(project)
        tree[name] = asdict(tree_memory(argv, cwd=cwd, env=setup.env, log=logs / f"{label}-tree.log"))
    reset(project)
    stats = {name: stats_json(runs_) for name, runs_ in samples.items()}
    ratios = {}
    if "peer pipeline" in samples:
        ours, theirs = samples["qaagent run-all"], samples["peer pipeline"]
        ratios["wall_ours_over_peer"] = ratio_json([s.wall for s in ours], [s.wall for s in theirs])
        # CPU seconds: steadier than wall time when other jobs load the machine
        ratios["cpu_ours_over_peer"] = ratio_json([s.cpu for s in ours], [s.cpu for s in theirs])
        ratios["max_rss_ours_over_peer"] = ratio_json(
            [s.max_rss_mib for s in ours], [s.max_rss_mib for s in theirs]
        )
        if NO_HISTORY in samples:
            bare = samples[NO_HISTORY]
            ratios["wall_no_history_over_peer"] = ratio_json([s.wall for s in bare], [s.wall for s in theirs])
            ratios["cpu_no_history_over_peer"] = ratio_json([s.cpu for s in bare], [s.cpu for s in theirs])
    ours, floor = samples["qaagent run-all"], samples["junitparser merge"]
    ratios["wall_ours_over_junitparser"] = ratio_json([s.wall for s in ours], [s.wall for s in floor])
    ratios["cpu_ours_over_junitparser"] = ratio_json([s.cpu for s in ours], [s.cpu for s in floor])
    return {
        "cases": inputs.cases,
        "input_bytes": inputs.bytes,
        "hard_links": link,
        "load_before": load_start,
        "load_after": loadavg(),
        "stats": stats,
        "ratios": ratios,
        "tree_memory": tree,
        "bundle": facts,
        "peer_output": peer_output,
        "samples": samples_json(samples),
    }


def _last_json(log: Path) -> Any:
    lines = [line for line in log_tail(log, 20_000).splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def feed_cost(setup: Setup, inputs: Inputs, runs: int) -> dict[str, Any]:
    """The `command` suite's own cost: the same hard-link command alone, `runs` times."""
    target = setup.work / "feed-alone"
    link = can_hard_link(inputs.files[0], target)
    samples = []
    for _ in range(runs):
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        env = {**setup.env, "QAAGENT_JUNIT_DIR": str(target)}
        log = setup.work / "logs" / "feed-alone.log"
        samples.append(
            checked(timed("feed", feed_argv(inputs, link=link), cwd=setup.work, env=env, log=log), log, 0)
        )
    shutil.rmtree(target, ignore_errors=True)
    return {"argv": feed_argv(inputs, link=link), **stats_json(samples)}


def overhead(setup: Setup, runs: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """`qaagent run-all` against `python -m pytest` on one trivial test, alternating."""
    project = setup.work / "overhead"
    (project / "tests").mkdir(parents=True, exist_ok=True)
    (project / "tests" / "test_one.py").write_text(
        "def test_one():\n    assert 1 + 1 == 2\n", encoding="utf-8"
    )
    python = pytest_python(setup.work, progress)
    suite = f"{{path: tests, command: {json.dumps([str(python), '-m', 'pytest'])}}}"
    (project / ".qaagent.yaml").write_text(
        f"project: {{name: overhead}}\ntests:\n  unit: {suite}\n", encoding="utf-8"
    )
    # its own (empty) pytest configuration: the rootdir is the project, not this repository
    (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    logs = setup.work / "logs"
    argvs = {
        "python -m pytest": ([str(python), "-m", "pytest", "tests"], 0),
        "qaagent run-all": ([str(setup.qaagent), "run-all"], 0),
    }

    def runner(name: str) -> Callable[[], Sample]:
        argv, expected = argvs[name]
        log = logs / f"overhead-{name.replace(' ', '-')}.log"

        def run() -> Sample:
            reset(project)
            return checked(timed(name, argv, cwd=project, env=setup.env, log=log), log, expected)

        return run

    progress(f"overhead on one trivial test, load {loadavg()}")
    samples = run_alternating({name: runner(name) for name in argvs}, runs, progress=progress)
    tree = {}
    for name, (argv, _) in argvs.items():
        reset(project)
        tree[name] = asdict(tree_memory(argv, cwd=project, env=setup.env, log=logs / "overhead-tree.log"))
    reset(project)
    ours, alone = samples["qaagent run-all"], samples["python -m pytest"]
    return {
        "argv": {name: argv for name, (argv, _) in argvs.items()},
        "stats": {name: stats_json(s) for name, s in samples.items()},
        "wall_overhead": summarize(
            ours_ - alone_
            for ours_, alone_ in zip([s.wall for s in ours], [s.wall for s in alone], strict=True)
        ).median,
        "wall_overhead_of_medians": summarize(s.wall for s in ours).median
        - summarize(s.wall for s in alone).median,
        "cpu_overhead_of_medians": summarize(s.cpu for s in ours).median
        - summarize(s.cpu for s in alone).median,
        "tree_memory": tree,
        "samples": samples_json(samples),
    }


def pytest_python(work: Path, progress: Callable[[str], None]) -> Path:
    """A venv with pytest alone (the version of this interpreter's), as a user's test venv.

    Not the project's .venv: its hypothesis plugin alone costs about a second per pytest
    session here, which would drown the overhead being measured.
    """
    try:
        pin = f"pytest=={importlib.metadata.version('pytest')}"
    except importlib.metadata.PackageNotFoundError:
        pin = "pytest"
    return ensure_venv(work / "pytest-venv", [pin], progress=progress)


def per_suite(setup: Setup, runs: int, many: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Cost of one more suite: `many` trivial `command` suites (`true`) in a sequential run vs one."""
    logs = setup.work / "logs"
    projects = {}
    for count in (1, many):
        project = setup.work / f"suites-{count}"
        project.mkdir(parents=True, exist_ok=True)
        suites = [(f"s{i:02d}", ["true"]) for i in range(count)]
        (project / ".qaagent.yaml").write_text(profile_yaml(suites, name=f"suites-{count}"), encoding="utf-8")
        projects[f"{count} suite{'s' if count > 1 else ''}"] = project

    def runner(name: str) -> Callable[[], Sample]:
        project = projects[name]
        log = logs / f"suites-{name.replace(' ', '-')}.log"

        def run() -> Sample:
            reset(project)
            argv = [str(setup.qaagent), "run-all", "--sequential"]
            return checked(timed(name, argv, cwd=project, env=setup.env, log=log), log, 0)

        return run

    progress(f"{many} trivial sequential suites vs 1, load {loadavg()}")
    samples = run_alternating({name: runner(name) for name in projects}, runs, progress=progress)
    for project in projects.values():
        reset(project)
    one, lots = (summarize(s.wall for s in samples[name]).median for name in projects)
    return {
        "suites": many,
        "stats": {name: stats_json(s) for name, s in samples.items()},
        "seconds_per_extra_suite": (lots - one) / (many - 1),
        "samples": samples_json(samples),
    }


def profile_run(setup: Setup, inputs: Inputs, top: int) -> dict[str, Any]:
    """cProfile of one `qaagent run-all` on `inputs` (the suite's child is not profiled)."""
    label = size_label(inputs.cases)
    project = setup.work / f"project-{label}"
    prof = setup.work / f"run-all-{label}.prof"
    reset(project)
    argv = [str(tool_python(setup.qaagent)), "-m", "cProfile", "-o", str(prof), "-m", "qaagent", "run-all"]
    log = setup.work / "logs" / f"profile-{label}.log"
    # cProfile's main ends with exit code 0 whatever the profiled program's exit code was
    checked(timed("profile", argv, cwd=project, env=setup.env, log=log), log, (0, 1))
    reset(project)
    stats = pstats.Stats(str(prof))
    return {"prof": str(prof), "total_seconds": stats.total_tt, **profile_tables(stats, top)}  # type: ignore[attr-defined]


def profile_tables(stats: pstats.Stats, top: int) -> dict[str, list[dict[str, Any]]]:
    """The top entries by cumulative and by own time: function, calls, own and cumulative seconds."""
    rows = []
    for (filename, line, function), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename.split("/qaagent/", 1)[-1] if "/qaagent/" in filename else Path(filename).name
        rows.append(
            {"function": f"{where}:{line}({function})", "calls": calls, "own": own, "cumulative": cumulative}
        )
    # the interpreter's own frames (runpy, exec of the module) wrap everything: not informative
    wrappers = ("<frozen runpy>", "<string>:1(", "builtins.exec>", "__main__.py:1(<module>)")
    return {
        "by_cumulative": sorted(
            (r for r in rows if not any(w in r["function"] for w in wrappers)), key=lambda r: -r["cumulative"]
        )[:top],
        "by_own": sorted(rows, key=lambda r: -r["own"])[:top],
    }


# --- output ---------------------------------------------------------------------------------


def render(result: dict[str, Any]) -> str:
    """The Markdown tables for docs/benchmarks.md."""
    out = [
        f"machine: {result['machine']}",
        f"load average (1, 5, 15 min): {result['load_start']} at the start, {result['load_end']} at the end",
    ]
    if result["sizes"]:
        out += _whole_process_tables(result)
    if "overhead" in result:
        out += _overhead_table(result["overhead"])
    if "per_suite" in result:
        suites = result["per_suite"]
        out += ["", "| sequential run | wall | CPU |", "|---|---|---|"]
        out += [
            f"| {name} | {summary_text(s['wall'])} | {summary_text(s['cpu'])} |"
            for name, s in suites["stats"].items()
        ]
        out.append(f"\nper extra suite: {suites['seconds_per_extra_suite'] * 1000:.1f} ms")
    if "profile" in result:
        out += _profile_tables(result["profile"])
    return "\n".join(out)


def _whole_process_tables(result: dict[str, Any]) -> list[str]:
    out = [
        "",
        "| cases | input | variant | wall | CPU | max RSS (largest process) | tree peak (sampled bounds) |",
        "|---|---:|---|---|---|---:|---:|",
    ]
    for label, size in result["sizes"].items():
        for name, stats in size["stats"].items():
            cells = [
                label,
                f"{size['input_bytes'] / 1e6:.1f} MB",
                name,
                summary_text(stats["wall"]),
                summary_text(stats["cpu"]),
            ]
            cells += [summary_text(stats["max_rss_mib"], "MiB", 1), _tree(size, name)]
            out.append(_row(cells))
    out += ["", "| cases | ratio | of the medians | per round, median (min–max) |", "|---|---|---:|---|"]
    for label, size in result["sizes"].items():
        for name, ratio in size["ratios"].items():
            out.append(
                _row(
                    [
                        label,
                        name.replace("_", " "),
                        f"{ratio['of_medians']:.2f}",
                        summary_text(ratio["per_round"], ""),
                    ]
                )
            )
    labels = list(result["sizes"])
    if len(labels) >= 2:
        small, large = (result["sizes"][k]["stats"]["qaagent run-all"] for k in (labels[0], labels[-1]))
        wall = large["wall"]["median"] / small["wall"]["median"]
        rss = large["max_rss_mib"]["median"] / small["max_rss_mib"]["median"]
        out += ["", f"qaagent run-all {labels[-1]} vs {labels[0]}: wall {wall:.2f}x, max RSS {rss:.2f}x"]
    out += [
        "",
        "| cases | bundle | files | × input | per 1,000 tests | largest files |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, size in result["sizes"].items():
        bundle = size["bundle"]
        largest = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in list(bundle["largest"].items())[:4])
        cells = [
            label,
            f"{bundle['bytes'] / 1e6:.1f} MB",
            str(bundle["files"]),
            f"{bundle['ratio_to_input']:.2f}",
        ]
        out.append(_row([*cells, f"{bundle['bytes_per_1000_tests'] / 1e3:.0f} KB", largest]))
    feed = result.get("feed_command")
    if feed:
        command = " ".join(feed["argv"][:3])
        wall, rss = summary_text(feed["wall"]), summary_text(feed["max_rss_mib"], "MiB", 1)
        out += ["", f"the suite's command alone (`{command} …`): {wall} wall, {rss} max RSS"]
    return out


def _overhead_table(over: dict[str, Any]) -> list[str]:
    out = [
        "",
        "| one trivial test | wall | CPU | max RSS | tree peak (sampled bounds) |",
        "|---|---|---|---:|---:|",
    ]
    for name, stats in over["stats"].items():
        cells = [
            name,
            summary_text(stats["wall"]),
            summary_text(stats["cpu"]),
            summary_text(stats["max_rss_mib"], "MiB", 1),
        ]
        out.append(_row([*cells, _tree(over, name)]))
    out.append(
        f"\noverhead: {over['wall_overhead_of_medians']:+.3f} s wall (median of the per-round differences"
        f" {over['wall_overhead']:+.3f} s), {over['cpu_overhead_of_medians']:+.3f} s CPU"
    )
    return out


def _profile_tables(prof: dict[str, Any]) -> list[str]:
    out = ["", f"cProfile of run-all ({prof['prof']}; {prof['total_seconds']:.2f} s profiled):"]
    for key, title in (("by_cumulative", "function"), ("by_own", "function (by own time)")):
        out += ["", f"| {title} | calls | own s | cumulative s |", "|---|---:|---:|---:|"]
        out += [
            _row([f"`{r['function']}`", str(r["calls"]), f"{r['own']:.3f}", f"{r['cumulative']:.3f}"])
            for r in prof[key]
        ]
    return out


def _tree(part: dict[str, Any], name: str) -> str:
    """The tree's peak between its two sampled bounds (older results saved one sampled sum)."""
    if "tree_memory" in part:
        tree = part["tree_memory"][name]
        return (
            f"{tree['sampled_sum_mib']:.1f}–{tree['peaks_sum_mib']:.1f} MiB ({tree['processes']} processes)"
        )
    return f"{part['tree_rss_mib'][name]:.1f} MiB (sampled sum)"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


# --- command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_common_arguments(parser, WORK)
    parser.add_argument("--sizes", default="100k,400k", help="input sizes in cases (default 100k,400k)")
    parser.add_argument("--peer", type=Path, help="a checkout of EnricoMi/publish-unit-test-result-action")
    parser.add_argument(
        "--overhead-runs", type=int, default=10, help="runs of each side of the overhead measurement"
    )
    parser.add_argument("--suites", type=int, default=50, help="trivial suites of the per-suite measurement")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["sizes", "overhead", "suites"],
        help="leave a part out",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile run-all on the smallest size (cProfile)"
    )
    parser.add_argument("--top", type=int, default=25, help="profile entries printed per table")
    parser.add_argument(
        "--no-history", action="store_true", help="also time `qaagent run-all --no-history`, alternating"
    )
    args = parser.parse_args(list(argv))
    if args.render is not None:
        return args
    check_common_arguments(parser, args)
    try:
        args.sizes = sorted({parse_size(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError as error:
        parser.error(f"--sizes: {error}")
    if not args.sizes:
        parser.error("--sizes: no size given")
    if args.overhead_runs < 1:
        parser.error("--overhead-runs must be at least 1")
    if args.suites < 2:
        parser.error("--suites must be at least 2")
    if args.peer is not None:
        problem = peer_problem(args.peer)
        if problem:
            parser.error(problem)
        args.peer = args.peer.resolve()
    return args


def peer_venv(work: Path, peer: Path) -> Path:
    """A venv under `work` with the peer checkout's python/requirements.txt (keyed by its content)."""
    requirements = peer / "python" / "requirements.txt"
    key = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    return ensure_venv(work / f"peer-venv-{key}", ["-r", str(requirements)], progress=progress)


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, then print the tables (or the JSON)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.render is not None:
        render_saved(args.render, render)
        return
    require_time()
    (args.work / "logs").mkdir(parents=True, exist_ok=True)
    peer_python = peer_venv(args.work, args.peer) if args.peer else None
    env = user_env()
    # A user's qaagent is pip-installed, and pip writes every module's bytecode whatever this
    # variable says; an editable checkout (the default --qaagent) under it compiles all of
    # qaagent's ~110 modules at each start (about 0.5 s of CPU here): not what a user runs.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    setup = Setup(args.work, args.qaagent, env, args.peer, peer_python, no_history=args.no_history)
    result: dict[str, Any] = {
        "machine": machine(),
        "load_start": loadavg(),
        "qaagent": str(args.qaagent),
        "sizes": {},
    }
    if args.peer:
        result["peer"] = str(args.peer)
    inputs = [ensure_inputs(args.work, cases, progress=progress) for cases in args.sizes]
    if "sizes" not in args.skip:
        for one in inputs:
            result["sizes"][size_label(one.cases)] = measure_size(setup, one, args.runs, progress)
        result["feed_command"] = feed_cost(setup, inputs[-1], args.runs)
    if "overhead" not in args.skip:
        result["overhead"] = overhead(setup, args.overhead_runs, progress)
    if "suites" not in args.skip:
        result["per_suite"] = per_suite(setup, args.runs, args.suites, progress)
    if args.profile:
        progress(f"profiling run-all on {size_label(inputs[0].cases)}, load {load1():.2f}")
        result["profile"] = profile_run(setup, inputs[0], args.top)
    result["load_end"] = loadavg()
    save_and_print(result, args.work, Path(__file__).name, render, as_json=args.json)


if __name__ == "__main__":
    main()
