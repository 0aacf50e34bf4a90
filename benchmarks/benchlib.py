"""What the whole-process benchmarks share: one timed child under /usr/bin/time -v, statistics, load.

Used by `run_all.py` (issue 13) and `split.py` (issue 15). Every figure they report
is a whole process as a user starts it:

- **wall**: `time.perf_counter()` around the child (the benchmark's own clock);
- **CPU**: user + system seconds of the child and every descendant it waited for,
  as `/usr/bin/time -v` reports them;
- **max RSS**: `/usr/bin/time -v`'s "Maximum resident set size" — the peak of the
  *largest single process* of the tree (Linux's `ru_maxrss` of the waited-for
  children), not the sum of processes alive at the same moment. Where children matter,
  `tree_memory` samples the tree from /proc in a separate, untimed run: the largest
  simultaneous sum (a lower bound of the tree's peak) and the sum of each process's own
  peak (an upper bound).

Variants run alternating (round r starts with variant r mod n), because the machine is
shared: a burst of load then hits every variant, not only the one that happened to run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TIME = Path("/usr/bin/time")
TIME_MISSING = (
    "/usr/bin/time not found: install GNU time (Debian/Ubuntu: `apt-get install -y time`; "
    "the shell's `time` keyword does not report memory)"
)
#: environment variables a user's shell has but a benchmark child must not see
#: (GitHub Actions' variables would switch qaagent's GitHub feedback on)
_DROPPED_PREFIXES = ("GITHUB_", "INPUT_", "QAAGENT_", "RUNNER_", "ACTIONS_")


@dataclass(frozen=True)
class Sample:
    """One timed run of one variant."""

    variant: str
    wall: float
    cpu: float
    max_rss_mib: float
    returncode: int
    load_before: float = 0.0


@dataclass(frozen=True)
class Summary:
    """Median and range of some samples' values."""

    median: float
    low: float
    high: float
    count: int

    def text(self, unit: str = "s", digits: int = 2) -> str:
        """`5.20 s (4.90–7.80)`; a single value without a range."""
        value = f"{self.median:.{digits}f} {unit}".rstrip()
        if self.count == 1:
            return value
        return f"{value} ({self.low:.{digits}f}–{self.high:.{digits}f})"


def summarize(values: Iterable[float]) -> Summary:
    """Median, min and max of `values` (at least one)."""
    data = list(values)
    if not data:
        msg = "no values to summarize"
        raise ValueError(msg)
    return Summary(statistics.median(data), min(data), max(data), len(data))


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per-round ratios of two variants measured in the same rounds (each pair ran back to back)."""
    if len(numerators) != len(denominators):
        msg = "the two variants have a different number of runs"
        raise ValueError(msg)
    return [a / b for a, b in zip(numerators, denominators, strict=True) if b > 0]


def rotation(variants: Sequence[str], rounds: int) -> list[list[str]]:
    """The order of each round: round r starts with variant r mod n, then the others in turn."""
    count = len(variants)
    return [[variants[(r + i) % count] for i in range(count)] for r in range(rounds)] if count else []


def parse_size(text: str) -> int:
    """`100k` → 100000, `1m` → 1000000, `2500` → 2500 (case-insensitive; `_` and `,` allowed)."""
    cleaned = text.strip().lower().replace("_", "").replace(",", "")
    factor = 1
    if cleaned.endswith("k"):
        factor, cleaned = 1000, cleaned[:-1]
    elif cleaned.endswith("m"):
        factor, cleaned = 1_000_000, cleaned[:-1]
    try:
        number = float(cleaned)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (expected e.g. 100k, 400k, 2500)") from None
    value = round(number * factor)
    if value <= 0 or value != number * factor:
        raise ValueError(f"not a positive whole number of cases: {text!r}")
    return value


def size_label(cases: int) -> str:
    """100000 → `100k`, the inverse of `parse_size` for round figures."""
    if cases % 1_000_000 == 0:
        return f"{cases // 1_000_000}m"
    if cases % 1000 == 0:
        return f"{cases // 1000}k"
    return str(cases)


def parse_time_v(report: str) -> dict[str, str]:
    """The `key: value` lines of GNU time's `-v` report (keys as printed, values stripped)."""
    fields: dict[str, str] = {}
    for line in report.splitlines():
        key, sep, value = line.strip().rpartition(": ")
        if sep and key:
            fields[key] = value.strip()
    return fields


def sample_from_report(variant: str, report: str, wall: float, returncode: int, load: float) -> Sample:
    """A `Sample` from GNU time's `-v` report of the child (CPU and max RSS) and our own wall clock."""
    fields = parse_time_v(report)
    try:
        cpu = float(fields["User time (seconds)"]) + float(fields["System time (seconds)"])
        rss_kib = int(fields["Maximum resident set size (kbytes)"])
    except (KeyError, ValueError) as error:
        raise ValueError(f"not a GNU time -v report (missing {error}): {report[-300:]!r}") from None
    return Sample(variant, wall, cpu, rss_kib / 1024, returncode, load)


def require_time() -> None:
    """Stop with the install instruction when GNU time is missing."""
    if not TIME.is_file():
        raise SystemExit(TIME_MISSING)


def user_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a user's shell outside CI: no GitHub Actions or qaagent variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    env.pop("CI", None)
    env.update(extra or {})
    return env


def load1() -> float:
    """The 1-minute load average (what other jobs on this shared machine are doing)."""
    try:
        return float(Path("/proc/loadavg").read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def loadavg() -> str:
    """`/proc/loadavg`'s three averages, e.g. `1.52 1.61 1.70`."""
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])
    except OSError:
        return "unknown"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def timed(
    variant: str,
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    timeout: float = 1800,
) -> Sample:
    """Run `argv` under `/usr/bin/time -v`; its output (stdout and stderr) goes to `log`."""
    report = log.with_name(log.name + ".time")
    load = load1()
    with log.open("wb") as out:
        started = time.perf_counter()
        done = subprocess.run(
            [str(TIME), "-v", "-o", str(report), *argv],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
        wall = time.perf_counter() - started
    return sample_from_report(
        variant, report.read_text(encoding="utf-8", errors="replace"), wall, done.returncode, load
    )


def log_tail(log: Path, chars: int = 1500) -> str:
    """The end of a child's log, for the one line that says why a variant failed."""
    try:
        return log.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return "(no log)"


# --- peak RSS summed over a process tree, sampled from /proc -------------------------------


def descendants(parents: Mapping[int, int], root: int) -> set[int]:
    """`root` and every process below it, from a pid → parent pid map."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _proc_parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        # pid (comm) state ppid …; comm may hold spaces and parentheses: split after the last ')'
        rest = stat.rpartition(")")[2].split()
        if len(rest) > 1:
            parents[int(entry.name)] = int(rest[1])
    return parents


def _memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB: its resident size now and its own peak so far."""
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0, 0
    return rss, hwm


@dataclass(frozen=True)
class TreeMemory:
    """Two bounds of a process tree's peak memory, sampled from /proc.

    `sampled_sum`: the largest sum of VmRSS over the tree at one sample — a lower bound (a
    peak between two samples is missed); `peaks_sum`: the sum of every process's own peak
    (VmHWM, last seen) — an upper bound (the peaks need not coincide). The tree's real peak
    lies between the two; a process shorter-lived than the interval may be missed by both.
    """

    sampled_sum_mib: float
    peaks_sum_mib: float
    processes: int


@dataclass
class _TreeSampler:
    root: int
    interval: float
    peak_kib: int = 0
    hwm_kib: dict[int, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            total = 0
            for pid in descendants(_proc_parents(), self.root):
                rss, hwm = _memory_kib(pid)
                total += rss
                if hwm:
                    self.hwm_kib[pid] = max(hwm, self.hwm_kib.get(pid, 0))
            self.peak_kib = max(self.peak_kib, total)
            self.stop.wait(self.interval)


def tree_memory(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path, interval: float = 0.01
) -> TreeMemory:
    """Run `argv` once, sampling its process tree every `interval` s (see `TreeMemory`).

    Sampling costs CPU, so this is a separate run, not one of the timed ones.
    """
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        sampler = _TreeSampler(proc.pid, interval)
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        proc.wait()
        sampler.stop.set()
        thread.join()
    return TreeMemory(sampler.peak_kib / 1024, sum(sampler.hwm_kib.values()) / 1024, len(sampler.hwm_kib))


# --- running variants alternately --------------------------------------------------------


def run_alternating(
    variants: Mapping[str, Callable[[], Sample]],
    rounds: int,
    *,
    progress: Callable[[str], None],
) -> dict[str, list[Sample]]:
    """Run every variant `rounds` times, alternating (see `rotation`); samples per variant."""
    samples: dict[str, list[Sample]] = {name: [] for name in variants}
    for number, order in enumerate(rotation(list(variants), rounds), 1):
        for name in order:
            sample = variants[name]()
            samples[name].append(sample)
            progress(
                f"  round {number}/{rounds} {name}: {sample.wall:.2f} s wall, {sample.cpu:.2f} s CPU, "
                f"{sample.max_rss_mib:.1f} MiB (load {sample.load_before:.2f})"
            )
    return samples


def ratio_json(ours: Sequence[float], theirs: Sequence[float]) -> dict[str, Any]:
    """Ours ÷ theirs: the ratio of the medians and the per-round ratios (median, min–max)."""
    return {
        "of_medians": summarize(ours).median / summarize(theirs).median,
        "per_round": asdict(summarize(paired_ratios(ours, theirs))),
    }


def samples_json(samples: Mapping[str, Sequence[Sample]]) -> dict[str, list[dict[str, Any]]]:
    """Samples as plain data for `--json`."""
    return {name: [asdict(s) for s in runs] for name, runs in samples.items()}


def stats_json(runs: Sequence[Sample]) -> dict[str, Any]:
    """Median and range of wall, CPU and max RSS of one variant's samples."""
    return {
        "wall": asdict(summarize(s.wall for s in runs)),
        "cpu": asdict(summarize(s.cpu for s in runs)),
        "max_rss_mib": asdict(summarize(s.max_rss_mib for s in runs)),
        "runs": len(runs),
    }


def dumps(data: Any) -> str:
    """JSON for `--json` (stable key order as built)."""
    return json.dumps(data, indent=2, ensure_ascii=False)


def venv_python(venv: Path) -> Path:
    """The interpreter of a virtual environment."""
    return venv / "bin" / "python"


def ensure_venv(venv: Path, requirements: Sequence[str], *, progress: Callable[[str], None]) -> Path:
    """A venv under build/ with `requirements` (pip arguments) installed once; its python.

    The stamp file records the arguments: changing them rebuilds the venv. It never
    touches the project's own `.venv`.
    """
    stamp = venv / ".bench-installed"
    wanted = "\n".join(requirements)
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
        return venv_python(venv)
    progress(f"creating {venv} with: {' '.join(requirements)}")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [str(venv_python(venv)), "-m", "pip", "install", "--quiet", *requirements],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"pip install into {venv} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    stamp.write_text(wanted, encoding="utf-8")
    return venv_python(venv)


def default_qaagent() -> Path:
    """The `qaagent` console script installed beside the interpreter running the benchmark."""
    return Path(sys.executable).parent / "qaagent"


def tool_python(qaagent: Path) -> Path:
    """The interpreter of the venv a `qaagent` console script belongs to."""
    return qaagent.parent / "python"


# --- what both scripts' command lines and outputs share -------------------------------------


def summary_text(summary: Mapping[str, Any], unit: str = "s", digits: int = 2) -> str:
    """A saved `Summary` (as in the JSON) as `5.20 s (4.90–7.80)`."""
    return Summary(**summary).text(unit, digits).strip()


def progress(line: str) -> None:
    """Progress goes to stderr, so that stdout holds only the tables or the JSON."""
    print(line, file=sys.stderr, flush=True)


def add_common_arguments(parser: argparse.ArgumentParser, work: Path) -> None:
    """--runs, --qaagent, --work, --json and --render, the same in both scripts."""
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each variant (default 5)")
    parser.add_argument(
        "--qaagent", type=Path, default=default_qaagent(), help="the qaagent console script to measure"
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=work,
        help=f"inputs, projects, venvs, logs (default {work.relative_to(ROOT)})",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    parser.add_argument(
        "--render", type=Path, metavar="RESULTS.json", help="print the tables of a saved result, run nothing"
    )


def check_common_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse (exit 2, one line) what `add_common_arguments` cannot check by type."""
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not args.qaagent.is_file():
        parser.error(f"--qaagent {args.qaagent}: not a file (the `qaagent` console script of a venv)")
    args.work = args.work.resolve()


def render_saved(path: Path, render: Callable[[dict[str, Any]], str]) -> None:
    """Print the tables of a result saved by an earlier run."""
    print(render(json.loads(path.read_text(encoding="utf-8"))))


def save_and_print(
    result: dict[str, Any], work: Path, script: str, render: Callable[[dict[str, Any]], str], *, as_json: bool
) -> None:
    """Keep the result as JSON under `work`, then print the tables (or the JSON)."""
    saved = work / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    saved.write_text(dumps(result), encoding="utf-8")
    progress(f"results saved in {saved} (tables again: {script} --render {saved})")
    print(dumps(result) if as_json else render(result))
