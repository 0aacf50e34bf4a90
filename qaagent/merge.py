"""`qaagent merge`: the evidence bundles of shard jobs → one run, as if one machine had run it.

Refusals come first, before anything is written, each one line and exit 2:
a bundle whose checksums do not verify or whose manifest does not validate
(`qaagent.evidence.read`); bundles of different commits, profiles (sha256),
projects, shard counts or splits; a missing shard or the same shard twice
(with `--allow-partial`: the gap, or which duplicate was kept, is stated in
the summary notes and in the manifest's ``settings.merge``). A single
unsharded bundle is a set of one (1/1), which is how the `workflow_run`
recipe republishes a run.

The results are rebuilt by `qaagent.rebuild`. Each shard bundle is copied
whole under ``shards/shard-IofN/`` so its logs and artifacts stay evidence, and
the merged manifest lists each shard's run id, host, timing and the digest of
its bundle (``bundle_sha256``: the sha256 of its manifest, which lists every
file of the bundle with its sha256, so it pins the whole bundle).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qaagent import options
from qaagent.errors import UsageError
from qaagent.evidence.bundle import Bundle, make_run_id
from qaagent.evidence.read import MANIFEST, SuiteEntry, read_manifest
from qaagent.evidence.sections import ShardLayout
from qaagent.evidence.verify import verify_bundle
from qaagent.files import sha256_file
from qaagent.rebuild import Duplicate, ShardBundle, ordered_cases, suite_result
from qaagent.results import CaseStore, SuiteResult
from qaagent.retries import synthetic_case
from qaagent.run_result import FailOn, RunResult
from qaagent.text import epoch

DEFAULT_FAIL_ON: tuple[FailOn, ...] = ("failed", "error")


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
    problems = verify_bundle(path)
    if problems:
        more = f" and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
        raise UsageError(f"{path}: the bundle does not verify ({problems[0]}{more}); refusing to merge it")
    manifest = read_manifest(path)
    if manifest.shard is None:
        return ShardBundle(path, manifest, 1, 1)
    try:
        shard = options.shard(manifest.shard)
    except options.InvalidValue as exc:
        raise UsageError(f"{path}: {MANIFEST}: {exc}") from None
    return ShardBundle(path, manifest, shard.index, shard.total)


def _same(shards: Sequence[ShardBundle], what: str, value: Any) -> None:
    seen: dict[str, list[str]] = {}
    for shard in shards:
        seen.setdefault(str(value(shard)), []).append(shard.label)
    if len(seen) > 1:
        parts = "; ".join(f"{key[:12]}: {', '.join(labels)}" for key, labels in seen.items())
        raise UsageError(f"refusing to merge bundles of different {what} ({parts})")


def _finished(shard: ShardBundle) -> str:
    return shard.manifest.finished or shard.manifest.started or ""


def check_set(shards: Sequence[ShardBundle], *, allow_partial: bool) -> tuple[list[ShardBundle], list[str]]:
    """The shards to merge, one per index, in index order, and notes on what was dropped or missing."""
    if not shards:
        msg = "no bundle to merge"
        raise UsageError(msg)
    _same(shards, "shard counts", lambda s: s.total)
    _same(shards, "commits", lambda s: s.manifest.git.sha or None)
    _same(shards, "profiles (sha256)", lambda s: s.manifest.profile.sha256)
    _same(shards, "projects", lambda s: s.manifest.project)
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
    return shard.layout.split_sha256 if shard.layout else None


# -- the merged run ------------------------------------------------------------------------------


def _suite_entries(shard: ShardBundle) -> dict[str, SuiteEntry]:
    return {entry.name: entry for entry in shard.manifest.suites}


def _suite_order(shards: Sequence[ShardBundle]) -> list[str]:
    layout = shards[0].layout
    names = list(layout.suite_order if layout else ()) or list(shards[0].settings.suite_order)
    extra = [n for s in shards for n in _suite_entries(s) if n not in names]
    return [*dict.fromkeys(extra), *names]


def _gaps(layout: ShardLayout | None, missing: set[int]) -> dict[str, int]:
    """Per suite: how many units belonged to missing shards."""
    gaps: dict[str, int] = {}
    for name, entries in (layout.suites if layout else {}).items():
        count = sum(1 for e in entries if e.shard in missing)
        if count:
            gaps[name] = count
    return gaps


def merge_bundles(
    paths: Sequence[Path],
    *,
    evidence_dir: Path,
    repo_root: Path,
    allow_partial: bool = False,
    git: Mapping[str, str | None] | None = None,
) -> MergeOutcome:
    """Check the shard bundles, rebuild one run from them and start its bundle (with the shards copied in).

    `git`: the checkout's facts for the merged manifest when the caller asked git already.
    """
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
    cases_by_suite, duplicates = ordered_cases(shards, layout, order, base_rel)
    if duplicates:
        notes.append(_duplicates_note(duplicates, total, refuse=not allow_partial))

    first = shards[0]
    settings = {
        k: v
        for k, v in first.settings.recorded().items()
        if k not in ("shard", "start_order", "start_order_reason")
    }
    settings["suite_order"] = list(order)
    settings["merge"] = {
        "total": total,
        "partial": bool(missing),
        "missing": [f"{i}/{total}" for i in sorted(missing)],
        "notes": list(notes),
        "git": first.manifest.git.model_dump(),
        "split_sha256": _split_sha(first),
        "shards": [_shard_entry(s, base_rel) for s in shards],
    }
    profile_path = first.manifest.profile.path
    run_id = make_run_id(datetime.now(UTC), evidence_dir=evidence_dir)
    bundle = Bundle.start(
        evidence_dir,
        run_id,
        project=first.manifest.project,
        settings=settings,
        profile_path=repo_root / profile_path if profile_path is not None else None,
        profile_sha256=first.manifest.profile.sha256,
        repo_root=repo_root,
        suites=order,
        git=git,
    )
    base = bundle.dir / base_rel
    for shard in shards:
        _copy_shard(shard, base)
    bundle.own(p for p in base.rglob("*") if p.is_file() and not p.is_symlink())

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
        suites.append(suite_result(name, entries, cases, base, repo_root, bundle_dir=bundle.dir))

    started = [s for s in (epoch(s.manifest.started) or 0.0 for s in shards) if s > 0]
    finished = [s for s in (epoch(s.manifest.finished) or 0.0 for s in shards) if s > 0]
    for shard in shards:
        not_run.extend(n for n in shard.manifest.not_run if n not in not_run)
    run = RunResult(
        project=first.manifest.project,
        run_id=bundle.run_id,
        suites=suites,
        started_at=min(started, default=bundle.started_at),
        finished_at=max(finished, default=bundle.started_at),
        cancelled=any(s.manifest.status == "cancelled" for s in shards),
        not_run=not_run,
    )
    fail_on = (
        tuple(c for k in first.manifest.fail_on for c in options.FAIL_ON_CHOICES if c == k) or DEFAULT_FAIL_ON
    )
    description = f"{len(shards)} bundle(s) of {total} shard(s): " + ", ".join(s.label for s in shards)
    return MergeOutcome(run, bundle, notes, fail_on, description)


def _duplicates_note(duplicates: Sequence[Duplicate], total: int, *, refuse: bool) -> str:
    """One line on tests two shards reported; a `UsageError` unless `--allow-partial` was given."""
    first = duplicates[0]
    shards = " and ".join(f"{i}/{total}" for i in first.shards)
    text = (
        f"{len(duplicates)} test(s) reported by more than one shard, e.g. suite {first.suite}: "
        f"{first.test} (shards {shards}); each test file must run in one shard only"
    )
    if refuse:
        raise UsageError(
            f"refusing to merge: {text} (does the suite's `args` name test files? "
            "--allow-partial keeps the first shard's result and says so)"
        )
    return f"{text}: kept the first shard's result of each"


def _copy_shard(shard: ShardBundle, base: Path) -> None:
    """Copy the shard's manifest and the files it lists (verified) into ``base/shard-IofN/``.

    The folder's name is computed from the shard's index and count (`ShardBundle.folder`,
    one bundle per index after `check_set`), never taken from the bundle: two shards
    with one run id merge side by side. Only the listed files are copied, each a regular
    file at a path inside the bundle (the reader's checks): nothing the shard names can
    land outside the folder, and no link in it is followed.
    """
    target = base / shard.folder
    target.mkdir(parents=True)
    for entry in (*shard.manifest.files, None):
        rel = MANIFEST if entry is None else entry.path
        source = shard.path / rel
        if source.is_symlink() or not source.is_file():
            raise UsageError(f"{shard.path}: {rel} is not a regular file; refusing to merge it")
        destination = target / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination, follow_symlinks=False)


def _runner_of(layout: ShardLayout | None, name: str) -> str:
    runner = layout.runners.get(name) if layout else None
    return "unknown" if runner is None else runner


def _shard_entry(shard: ShardBundle, base_rel: str) -> dict[str, Any]:
    manifest = shard.manifest
    return {
        "shard": f"{shard.index}/{shard.total}",
        "run_id": shard.run_id,
        "path": f"{base_rel}/{shard.folder}",
        "host": manifest.host.hostname if manifest.host else None,
        "ci_job": manifest.ci.job if manifest.ci else None,
        "started": manifest.started,
        "finished": manifest.finished,
        "duration": manifest.totals.duration if manifest.totals else None,
        "status": manifest.status,
        # The bundle's digest: the sha256 of its manifest, which lists every file of the bundle
        # with its sha256 (and was verified before the merge), so it pins the whole bundle.
        "bundle_sha256": sha256_file(shard.path / MANIFEST),
    }
