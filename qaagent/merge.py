"""`qaagent merge`: the evidence bundles of shard jobs → one run, as if one machine had run it.

Refusals come first, before anything is written, each one line and exit 2:
a bundle whose checksums do not verify; bundles of different commits,
profiles (sha256), projects, shard counts or splits; a missing shard or the
same shard twice (with `--allow-partial`: the gap, or which duplicate was
kept, is stated in the summary notes and in the manifest's
``settings.merge``). A single unsharded bundle is a set of one (1/1), which
is how the `workflow_run` recipe republishes a run.

The merged run is rebuilt from each shard's ``junit.xml`` (test cases with
their flaky/rerun history) and ``tests.jsonl`` (suite, file, line and
artifacts of each case, in the same order). Each suite's cases are put back
in the order an unsharded run reports them: by the position of their unit
(test file) in the split recorded in every shard's manifest, then in the
order the shard reported them. A merged suite's command is the one an
unsharded run runs (`unsharded_command`: the suite's path instead of the
shard's test files); each shard's own command stays in its bundle. Each
shard bundle is copied whole under
``shards/<run_id>/`` so its logs and artifacts stay evidence, and the
merged manifest lists each shard's run id, host, timing and the digest of
its bundle (``bundle_sha256``: the sha256 of its manifest, which lists every
file of the bundle with its sha256, so it pins the whole bundle).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from qaagent import options
from qaagent.errors import JUnitError, UsageError
from qaagent.evidence.bundle import Bundle, make_run_id
from qaagent.evidence.verify import MANIFEST, verify_bundle
from qaagent.files import sha256_file
from qaagent.junit.read import iter_junit_cases
from qaagent.results import Attempt, CaseStore, FailOn, RunResult, SuiteResult, TestCase
from qaagent.retries import synthetic_case
from qaagent.runners import RUNNER_CLASSES
from qaagent.shard import locate_unit, unit_index

DEFAULT_FAIL_ON: tuple[FailOn, ...] = ("failed", "error")


@dataclass(frozen=True)
class ShardBundle:
    """One verified input bundle."""

    path: Path
    manifest: dict[str, Any]
    index: int
    total: int

    @property
    def run_id(self) -> str:
        """The shard's run id (its folder name when the manifest lacks one)."""
        value = self.manifest.get("run_id")
        return value if isinstance(value, str) and value else self.path.name

    @property
    def label(self) -> str:
        """``2/3 (run 20240501_120000Z_shard-2of3)``."""
        return f"{self.index}/{self.total} (run {self.run_id})"

    @property
    def settings(self) -> dict[str, Any]:
        """The shard's effective settings."""
        value = self.manifest.get("settings")
        return value if isinstance(value, dict) else {}

    @property
    def layout(self) -> dict[str, Any] | None:
        """The recorded split (None for an unsharded bundle)."""
        value = self.settings.get("shard")
        return value if isinstance(value, dict) else None


@dataclass
class MergeOutcome:
    """The merged run, its started bundle (finished by the caller's reporting) and notes."""

    run: RunResult
    bundle: Bundle
    notes: list[str]
    fail_on: tuple[FailOn, ...]
    description: str


# -- finding and checking the inputs ---------------------------------------------------------------


def find_bundles(paths: Sequence[Path]) -> list[Path]:
    """Bundle folders named by `paths`: a bundle, a folder of bundles, or a file inside a bundle."""
    found: dict[Path, None] = {}
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
        here = path if path.is_dir() else path.parent
        if (here / MANIFEST).is_file():
            found[here.resolve()] = None
        elif (here.parent / MANIFEST).is_file():
            found[here.parent.resolve()] = None  # e.g. `bundle/suites` from a `bundle/*` glob
        elif path.is_dir():
            children = sorted(c for c in path.iterdir() if c.is_dir() and (c / MANIFEST).is_file())
            if not children:
                raise UsageError(f"{path}: not an evidence bundle and holds none (no {MANIFEST})")
            found.update(dict.fromkeys(c.resolve() for c in children))
        else:
            raise UsageError(f"{path}: not inside an evidence bundle (no {MANIFEST} next to it)")
    return list(found)


def load_shard(path: Path) -> ShardBundle:
    """Verify one bundle's checksums and read its manifest; a UsageError when it does not verify."""
    try:
        problems = verify_bundle(path)
    except RecursionError:  # json's answer to a hostile, deeply nested manifest
        raise UsageError(f"{path}: {MANIFEST} is nested too deeply; refusing to merge it") from None
    if problems:
        more = f" and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
        raise UsageError(f"{path}: the bundle does not verify ({problems[0]}{more}); refusing to merge it")
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    if not isinstance(manifest, dict) or not isinstance(manifest.get("suites"), list):
        raise UsageError(f"{path}: {MANIFEST} is not a qaagent evidence manifest")
    shard = manifest.get("shard")
    if shard is None:
        index, total = 1, 1
    elif isinstance(shard, str):
        try:
            parsed = options.shard(shard)
        except options.InvalidValue as exc:
            raise UsageError(f"{path}: {MANIFEST}: {exc}") from None
        index, total = parsed.index, parsed.total
    else:
        raise UsageError(f"{path}: {MANIFEST} has an invalid shard {shard!r}")
    return ShardBundle(path, manifest, index, total)


def _git_sha(shard: ShardBundle) -> str | None:
    git = shard.manifest.get("git")
    sha = git.get("sha") if isinstance(git, dict) else None
    return sha if isinstance(sha, str) and sha else None


def _profile_sha(shard: ShardBundle) -> str | None:
    profile = shard.manifest.get("profile")
    sha = profile.get("sha256") if isinstance(profile, dict) else None
    return sha if isinstance(sha, str) else None


def _same(shards: Sequence[ShardBundle], what: str, value: Any) -> None:
    seen: dict[str, list[str]] = {}
    for shard in shards:
        seen.setdefault(str(value(shard)), []).append(shard.label)
    if len(seen) > 1:
        parts = "; ".join(f"{key[:12]}: {', '.join(labels)}" for key, labels in seen.items())
        raise UsageError(f"refusing to merge bundles of different {what} ({parts})")


def _finished(shard: ShardBundle) -> str:
    return str(shard.manifest.get("finished") or shard.manifest.get("started") or "")


def check_set(shards: Sequence[ShardBundle], *, allow_partial: bool) -> tuple[list[ShardBundle], list[str]]:
    """The shards to merge, one per index, in index order, and notes on what was dropped or missing."""
    if not shards:
        msg = "no bundle to merge"
        raise UsageError(msg)
    _same(shards, "shard counts", lambda s: s.total)
    _same(shards, "commits", _git_sha)
    _same(shards, "profiles (sha256)", _profile_sha)
    _same(shards, "projects", lambda s: s.manifest.get("project"))
    _same(shards, "splits (different durations, suites or test files)", _split_sha)
    total = shards[0].total
    notes: list[str] = []
    by_index: dict[int, list[ShardBundle]] = {}
    for shard in shards:
        by_index.setdefault(shard.index, []).append(shard)
    chosen: list[ShardBundle] = []
    for index in sorted(by_index):
        group = by_index[index]
        if len(group) > 1:
            runs = ", ".join(s.run_id for s in group)
            if not allow_partial:
                raise UsageError(
                    f"shard {index}/{total} appears {len(group)} times (runs {runs}); "
                    "give each shard once (or --allow-partial keeps the newest)"
                )
            newest = max(group, key=lambda s: (_finished(s), s.run_id))
            notes.append(f"shard {index}/{total} appeared {len(group)} times ({runs}): kept {newest.run_id}")
            group = [newest]
        chosen.append(group[0])
    missing = [f"{i}/{total}" for i in range(1, total + 1) if i not in by_index]
    if missing and not allow_partial:
        raise UsageError(
            f"shard(s) {', '.join(missing)} missing from the merge ({len(chosen)} of {total} given); "
            "pass --allow-partial to merge what is there"
        )
    if missing:
        notes.append(
            f"partial merge: shard(s) {', '.join(missing)} missing; their tests are not in this report"
        )
    return chosen, notes


def _split_sha(shard: ShardBundle) -> str | None:
    layout = shard.layout
    value = layout.get("split_sha256") if layout else None
    return value if isinstance(value, str) else None


# -- rebuilding the results ------------------------------------------------------------------------


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                yield record if isinstance(record, dict) else {}


def read_cases(shard: ShardBundle, prefix: str) -> Iterator[TestCase]:
    """The shard's cases in report order: JUnit for the results, tests.jsonl for suite/file/line/artifacts."""
    junit = shard.path / "junit.xml"
    records = shard.path / "tests.jsonl"
    try:
        cases = iter_junit_cases(junit, suite="", base_dir=shard.path, repo_root=shard.path)
        for case, record in zip(cases, _records(records), strict=True):
            artifacts = record.get("artifacts") or []
            line = record.get("line")
            file = record.get("file")
            yield dataclasses.replace(
                case,
                suite=str(record.get("suite") or ""),
                file=file if isinstance(file, str) else None,
                line=line if isinstance(line, int) else None,
                artifacts=tuple(f"{prefix}{a}" for a in artifacts if isinstance(a, str)),
            )
    except JUnitError as exc:
        raise UsageError(f"{shard.path}: cannot read its merged JUnit: {exc}") from None
    except (ValueError, OSError) as exc:  # zip(strict=True), JSON, I/O
        raise UsageError(f"{shard.path}: junit.xml and tests.jsonl do not match ({exc})") from None


def _epoch(value: object) -> float:
    if not isinstance(value, str) or not value:
        return 0.0
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return 0.0


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def unsharded_command(
    shard: ShardBundle, suite: str, command: Sequence[str], bundle_dir: Path
) -> tuple[str, ...]:
    """The command an unsharded run would have run for `suite`, rebuilt from a shard's own.

    The shard's test-file arguments (its units of `suite`, in the order the
    runner appended them) give way to the suite's path, as a run of the whole
    suite passes it, and the shard's bundle folder becomes `bundle_dir` (the
    JUnit writer shows that as ``$BUNDLE``). A command without the shard's
    files (a retry, an indivisible suite) only has its bundle folder replaced.
    """
    argv = [str(part) for part in command]
    evidence = shard.settings.get("evidence_dir")
    if isinstance(evidence, str) and evidence:
        old = str(Path(evidence) / shard.run_id)
        argv = [part.replace(old, str(bundle_dir)) for part in argv]
    layout = shard.layout
    entries = (
        layout.get("suites", {}).get(suite) if layout and isinstance(layout.get("suites"), dict) else None
    )
    info = (
        shard.settings.get("suites", {}).get(suite)
        if isinstance(shard.settings.get("suites"), dict)
        else None
    )
    if not isinstance(entries, list) or not isinstance(info, dict):
        return tuple(argv)
    mine = [
        str(e["path"])
        for e in entries
        if isinstance(e, dict) and e.get("shard") == shard.index and e.get("path")
    ]
    if not mine:
        return tuple(argv)
    runner = RUNNER_CLASSES.get(str(info.get("runner")))
    path = info.get("path")
    workdir = info.get("working_directory")
    if runner is None or not isinstance(workdir, str):
        return tuple(argv)
    # Only the runner knows what its filter for a test file looks like.
    return runner.whole_suite_command(
        argv, mine, path=path if isinstance(path, str) else None, working_directory=workdir
    )


def merge_attempts(
    entries: Sequence[tuple[ShardBundle, Mapping[str, Any]]],
    base: Path,
    command: Callable[[ShardBundle, Sequence[str]], tuple[str, ...]] | None = None,
) -> list[Attempt]:
    """Attempt k of a sharded suite is the union of the shards' attempt k.

    Its command is the first shard's, through `command` when given (see `unsharded_command`).
    """
    by_number: dict[int, list[tuple[ShardBundle, Mapping[str, Any]]]] = {}
    for shard, attempt in entries:
        number = attempt.get("number")
        if isinstance(number, int):
            by_number.setdefault(number, []).append((shard, attempt))
    merged: list[Attempt] = []
    for number in sorted(by_number):
        group = by_number[number]
        codes = [a.get("returncode") for _, a in group]
        failing = [c for c in codes if isinstance(c, int) and c != 0]
        code = failing[0] if failing else next((c for c in codes if isinstance(c, int)), None)
        first_shard, first = group[0]
        log = first.get("log")
        spans = [
            (start, start + max(0.0, _number(a.get("duration"))))
            for start, a in ((_epoch(a.get("started")), a) for _, a in group)
            if start > 0
        ]
        first_start = min((s for s, _ in spans), default=0.0)
        # The shards ran side by side on their own machines: attempt k lasted from the first
        # shard's start to the last shard's end (a sum would overstate it on the timeline).
        span = max((e for _, e in spans), default=first_start) - first_start
        merged.append(
            Attempt(
                number=number,
                command=(command or _as_is)(first_shard, [str(c) for c in first.get("command") or ()]),
                returncode=code,
                timed_out=any(a.get("timed_out") for _, a in group),
                started_at=first_start,
                duration=span if spans else sum(_number(a.get("duration")) for _, a in group),
                log_path=base / first_shard.run_id / log if isinstance(log, str) else None,
                junit_files=tuple(
                    base / s.run_id / f
                    for s, a in group
                    for f in a.get("junit_files") or ()
                    if isinstance(f, str)
                ),
                selected=tuple(str(x) for _, a in group for x in a.get("selected") or ()),
                cancelled=any(a.get("cancelled") for _, a in group),
            )
        )
    return merged


def _as_is(_shard: ShardBundle, argv: Sequence[str]) -> tuple[str, ...]:
    return tuple(argv)


def _suite_entries(shard: ShardBundle) -> dict[str, dict[str, Any]]:
    return {
        str(e["name"]): e
        for e in shard.manifest["suites"]
        if isinstance(e, dict) and isinstance(e.get("name"), str)
    }


def _suite_order(shards: Sequence[ShardBundle]) -> list[str]:
    layout = shards[0].layout
    order = layout.get("suite_order") if layout else None
    names = [str(n) for n in order] if isinstance(order, list) else []
    if not names:
        names = [str(n) for n in shards[0].settings.get("suite_order") or []]
    extra = [n for s in shards for n in _suite_entries(s) if n not in names]
    return [*dict.fromkeys(extra), *names]


def _order_key_factory(layout: Mapping[str, Any] | None, suite: str, shard_index: int) -> Any:
    """A function case -> sort key placing the case by its unit (carrying the last key over)."""
    entries = (layout or {}).get("suites", {}).get(suite) if layout else None
    if not isinstance(entries, list) or not entries:
        return lambda _case: 0
    index = unit_index(entries)
    own = [i for i, e in enumerate(entries) if e.get("shard") == shard_index]
    last = [min(own, default=0)]

    def key(case: TestCase) -> int:
        found = locate_unit(case.file, case.classname, index)
        if found is not None:
            last[0] = found
        return last[0]

    return key


def _gaps(layout: Mapping[str, Any] | None, missing: set[int]) -> dict[str, int]:
    """Per suite: how many units belonged to missing shards."""
    gaps: dict[str, int] = {}
    suites = layout.get("suites") if layout else None
    if not isinstance(suites, dict):
        return gaps
    for name, entries in suites.items():
        count = sum(1 for e in entries if isinstance(e, dict) and e.get("shard") in missing)
        if count:
            gaps[str(name)] = count
    return gaps


def ordered_cases(
    shards: Sequence[ShardBundle], layout: Mapping[str, Any] | None, order: list[str], base_rel: str
) -> dict[str, list[TestCase]]:
    """Each suite's cases of all shards, in the order an unsharded run reports them.

    Sorted by the position of the case's unit in the recorded split, then by
    the order the shards reported them; a suite seen only in the cases is
    appended to `order`.
    """
    items: dict[str, list[tuple[int, int, TestCase]]] = {name: [] for name in order}
    sequence = 0
    for shard in shards:
        keys: dict[str, Any] = {}
        for case in read_cases(shard, f"{base_rel}/{shard.run_id}/"):
            if case.suite not in items:
                items[case.suite] = []
                order.append(case.suite)
            key = keys.get(case.suite)
            if key is None:
                key = keys[case.suite] = _order_key_factory(layout, case.suite, shard.index)
            items[case.suite].append((key(case), sequence, case))
            sequence += 1
    return {
        name: [c for _, _, c in sorted(found, key=lambda t: (t[0], t[1]))] for name, found in items.items()
    }


def merge_bundles(
    paths: Sequence[Path], *, evidence_dir: Path, repo_root: Path, allow_partial: bool = False
) -> MergeOutcome:
    """Check the shard bundles, rebuild one run from them and start its bundle (with the shards copied in)."""
    loaded = [load_shard(p) for p in find_bundles(paths)]
    shards, notes = check_set(loaded, allow_partial=allow_partial)
    total = shards[0].total
    layout = shards[0].layout
    present = {s.index for s in shards}
    missing = set(range(1, total + 1)) - present
    gaps = _gaps(layout, missing)
    notes.extend(
        f"suite {name}: {count} test file(s) of the missing shard(s) not reported"
        for name, count in gaps.items()
    )

    order = _suite_order(shards)
    base_rel = "shards"
    cases_by_suite = ordered_cases(shards, layout, order, base_rel)

    first = shards[0]
    git = first.manifest.get("git")
    settings = {
        k: v for k, v in first.settings.items() if k not in ("shard", "start_order", "start_order_reason")
    }
    settings["suite_order"] = list(order)
    settings["merge"] = {
        "total": total,
        "partial": bool(missing),
        "missing": [f"{i}/{total}" for i in sorted(missing)],
        "notes": list(notes),
        "git": git,
        "split_sha256": _split_sha(first),
        "shards": [_shard_entry(s, base_rel) for s in shards],
    }
    profile = first.manifest.get("profile") if isinstance(first.manifest.get("profile"), dict) else {}
    profile_path = profile.get("path") if isinstance(profile, dict) else None
    run_id = make_run_id(datetime.now(UTC), evidence_dir=evidence_dir)
    bundle = Bundle.start(
        evidence_dir,
        run_id,
        project=str(first.manifest.get("project") or ""),
        settings=settings,
        profile_path=repo_root / profile_path if isinstance(profile_path, str) else None,
        profile_sha256=_profile_sha(first),
        repo_root=repo_root,
        suites=order,
    )
    base = bundle.dir / base_rel
    for shard in shards:
        shutil.copytree(shard.path, base / shard.run_id)

    suites: list[SuiteResult] = []
    not_run: list[str] = []
    for name in order:
        entries = [(s, e) for s in shards if (e := _suite_entries(s).get(name)) is not None]
        cases = cases_by_suite.get(name, [])
        if not entries and not cases:
            if name in gaps or missing:
                reason = f"not run: shard(s) {', '.join(settings['merge']['missing'])} missing from the merge"
                suites.append(
                    SuiteResult(
                        name=name,
                        runner=_runner_of(layout, name),
                        cases=CaseStore([synthetic_case(name, reason, status="skipped")]),
                        skipped_reason=reason,
                    )
                )
                not_run.append(name)
            continue
        suites.append(_suite_result(name, entries, cases, base, repo_root, bundle_dir=bundle.dir))

    started = [s for s in (_epoch(s.manifest.get("started")) for s in shards) if s > 0]
    finished = [s for s in (_epoch(s.manifest.get("finished")) for s in shards) if s > 0]
    for shard in shards:
        not_run.extend(str(n) for n in shard.manifest.get("not_run") or [] if str(n) not in not_run)
    run = RunResult(
        project=str(first.manifest.get("project") or ""),
        run_id=bundle.run_id,
        suites=suites,
        started_at=min(started, default=bundle.started_at),
        finished_at=max(finished, default=bundle.started_at),
        cancelled=any(s.manifest.get("status") == "cancelled" for s in shards),
        not_run=not_run,
    )
    raw_fail_on = first.manifest.get("fail_on")
    fail_on = (
        tuple(cast("FailOn", k) for k in raw_fail_on if k in ("failed", "error", "flaky"))
        if isinstance(raw_fail_on, list)
        else ()
    ) or DEFAULT_FAIL_ON
    description = f"{len(shards)} bundle(s) of {total} shard(s): " + ", ".join(s.label for s in shards)
    return MergeOutcome(run, bundle, notes, fail_on, description)


def _runner_of(layout: Mapping[str, Any] | None, name: str) -> str:
    runners = layout.get("runners") if layout else None
    runner = runners.get(name) if isinstance(runners, dict) else None
    return runner if isinstance(runner, str) else "unknown"


def _suite_result(
    name: str,
    entries: Sequence[tuple[ShardBundle, Mapping[str, Any]]],
    cases: Sequence[TestCase],
    base: Path,
    repo_root: Path,
    *,
    bundle_dir: Path,
) -> SuiteResult:
    attempts = merge_attempts(
        [(s, a) for s, e in entries for a in e.get("attempts") or [] if isinstance(a, dict)],
        base,
        lambda shard, argv: unsharded_command(shard, name, argv, bundle_dir),
    )
    files = [
        base / s.run_id / f
        for s, e in entries
        for f in e.get("files") or []
        if isinstance(f, str) and not f.startswith("/")
    ]
    runner = next((str(e["runner"]) for _, e in entries if isinstance(e.get("runner"), str)), "unknown")
    error = next((str(e["error"]) for _, e in entries if e.get("error")), None)
    skipped = next((str(e["skipped_reason"]) for _, e in entries if e.get("skipped_reason")), None)
    workdir = next(
        (e["working_directory"] for _, e in entries if isinstance(e.get("working_directory"), str)), None
    )
    return SuiteResult(
        name=name,
        runner=runner,
        cases=CaseStore(cases),
        attempts=attempts,
        error=error,
        working_directory=repo_root / workdir if workdir else None,
        files=[f for f in files if f.is_file()],
        skipped_reason=skipped,
    )


def _shard_entry(shard: ShardBundle, base_rel: str) -> dict[str, Any]:
    host = shard.manifest.get("host")
    ci = shard.manifest.get("ci")
    totals = shard.manifest.get("totals")
    return {
        "shard": f"{shard.index}/{shard.total}",
        "run_id": shard.run_id,
        "path": f"{base_rel}/{shard.run_id}",
        "host": host.get("hostname") if isinstance(host, dict) else None,
        "ci_job": ci.get("job") if isinstance(ci, dict) else None,
        "started": shard.manifest.get("started"),
        "finished": shard.manifest.get("finished"),
        "duration": totals.get("duration") if isinstance(totals, dict) else None,
        "status": shard.manifest.get("status"),
        # The bundle's digest: the sha256 of its manifest, which lists every file of the bundle
        # with its sha256 (and was verified before the merge), so it pins the whole bundle.
        "bundle_sha256": sha256_file(shard.path / MANIFEST),
    }
