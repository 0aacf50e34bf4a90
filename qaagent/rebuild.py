"""A run's results rebuilt from shard bundles, as if one machine had run it (for `qaagent merge`).

Each shard's cases come from its ``junit.xml`` (results with their flaky and
rerun history) and its ``tests.jsonl`` (suite, file, line and artifacts of
each case, in the same order), both read through the one bundle reader. Each
suite's cases are put back in the order an unsharded run reports them: by
the position of their unit (test file) in the split recorded in every
shard's manifest, then in the order the shard reported them. A merged
suite's command is the one an unsharded run runs (the runner rebuilds it:
`Runner.whole_suite_command`); each shard's own command stays in its bundle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from qaagent.attempts import Attempt
from qaagent.errors import JUnitError, UsageError
from qaagent.evidence.read import AttemptEntry, Manifest, SuiteEntry, iter_records, safe_relative
from qaagent.evidence.sections import Settings, ShardLayout
from qaagent.junit.read import iter_junit_cases
from qaagent.results import CaseStore, SuiteResult, TestCase
from qaagent.retries import SUITE_ERROR_TYPE
from qaagent.runners.registry import runner_class
from qaagent.text import epoch
from qaagent.units import locate_unit, unit_index


@dataclass(frozen=True)
class ShardBundle:
    """One verified input bundle and its validated manifest."""

    path: Path
    manifest: Manifest
    index: int
    total: int

    @property
    def run_id(self) -> str:
        """The shard's run id (its folder name when the manifest's is empty)."""
        return self.manifest.run_id or self.path.name

    @property
    def folder(self) -> str:
        """The shard's folder in the merged bundle, ``shard-2of3``.

        Computed from the index and count the merge checked (one bundle per index), never
        from a name the bundle gives.
        """
        return f"shard-{self.index}of{self.total}"

    @property
    def label(self) -> str:
        """``2/3 (run 20240501_120000Z_shard-2of3)``."""
        return f"{self.index}/{self.total} (run {self.run_id})"

    @property
    def settings(self) -> Settings:
        """The shard's effective settings."""
        return self.manifest.settings

    @property
    def layout(self) -> ShardLayout | None:
        """The recorded split (None for an unsharded bundle)."""
        return self.manifest.layout


def read_cases(shard: ShardBundle, prefix: str) -> Iterator[TestCase]:
    """The shard's cases in report order: JUnit for the results, tests.jsonl for suite/file/line/artifacts."""
    junit = shard.path / "junit.xml"
    try:
        cases = iter_junit_cases(junit, suite="", base_dir=shard.path, repo_root=shard.path)
        for case, record in zip(cases, iter_records(shard.path), strict=True):
            yield dataclasses.replace(
                case,
                suite=record.suite,
                file=record.file,
                line=record.line,
                artifacts=tuple(f"{prefix}{a}" for a in record.artifacts),
                outcome=_outcome(record.outcome) or case.outcome,
            )
    except JUnitError as exc:
        raise UsageError(f"{shard.path}: cannot read its merged JUnit: {exc}") from None
    except (ValueError, OSError) as exc:  # zip(strict=True), I/O
        raise UsageError(f"{shard.path}: junit.xml and tests.jsonl do not match ({exc})") from None


def _outcome(value: str | None) -> Literal["xfail", "xpass"] | None:
    """A record's outcome if this qaagent knows it (tests.jsonl's `outcome`)."""
    if value == "xfail":
        return "xfail"
    if value == "xpass":
        return "xpass"
    return None


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
    evidence = shard.settings.evidence_dir
    if evidence:
        old = str(Path(evidence) / shard.run_id)
        argv = [part.replace(old, str(bundle_dir)) for part in argv]
    layout = shard.layout
    info = shard.settings.suites.get(suite)
    if layout is None or suite not in layout.suites or info is None:
        return tuple(argv)
    mine = [e.path for e in layout.units_of(suite) if e.shard == shard.index and e.path]
    runner = runner_class(info.runner)
    if not mine or runner is None or info.working_directory is None:
        return tuple(argv)
    # Only the runner knows what its filter for a test file looks like.
    return runner.whole_suite_command(argv, mine, path=info.path, working_directory=info.working_directory)


def merge_attempts(
    entries: Sequence[tuple[ShardBundle, AttemptEntry]],
    base: Path,
    command: Callable[[ShardBundle, Sequence[str]], tuple[str, ...]] | None = None,
) -> list[Attempt]:
    """Attempt k of a sharded suite is the union of the shards' attempt k.

    Its command is the first shard's, through `command` when given (see `unsharded_command`).
    """
    by_number: dict[int, list[tuple[ShardBundle, AttemptEntry]]] = {}
    for shard, attempt in entries:
        by_number.setdefault(attempt.number, []).append((shard, attempt))
    merged: list[Attempt] = []
    for number in sorted(by_number):
        group = by_number[number]
        codes = [a.returncode for _, a in group]
        failing = [c for c in codes if c is not None and c != 0]
        code = failing[0] if failing else next((c for c in codes if c is not None), None)
        first_shard, first = group[0]
        spans = [
            (start, start + max(0.0, a.duration))
            for start, a in ((epoch(a.started) or 0.0, a) for _, a in group)
            if start > 0
        ]
        first_start = min((s for s, _ in spans), default=0.0)
        # The shards ran side by side on their own machines: attempt k lasted from the first
        # shard's start to the last shard's end (a sum would overstate it on the timeline).
        span = max((e for _, e in spans), default=first_start) - first_start
        merged.append(
            Attempt(
                number=number,
                command=(command or _as_is)(first_shard, list(first.command)),
                returncode=code,
                timed_out=any(a.timed_out for _, a in group),
                started_at=first_start,
                duration=span if spans else sum(a.duration for _, a in group),
                log_path=base / first_shard.folder / first.log if first.log and _inside(first.log) else None,
                junit_files=tuple(
                    base / s.folder / f for s, a in group for f in a.junit_files if f and _inside(f)
                ),
                selected=tuple(x for _, a in group for x in a.selected),
                cancelled=any(a.cancelled for _, a in group),
            )
        )
    return merged


def _as_is(_shard: ShardBundle, argv: Sequence[str]) -> tuple[str, ...]:
    return tuple(argv)


def _order_key_factory(layout: ShardLayout | None, suite: str, shard_index: int) -> Any:
    """A function case -> sort key placing the case by its unit (carrying the last key over)."""
    entries = layout.units_of(suite) if layout else ()
    if not entries:
        return lambda _case: 0
    index = unit_index([e.keys for e in entries])
    own = [i for i, e in enumerate(entries) if e.shard == shard_index]
    last = [min(own, default=0)]

    def key(case: TestCase) -> int:
        found = locate_unit(case.file, case.classname, index)
        if found is not None:
            last[0] = found
        return last[0]

    return key


@dataclass(frozen=True)
class Duplicate:
    """A test reported by more than one shard (each unit belongs to exactly one shard)."""

    suite: str
    test: str  #: ``file › classname › name``
    shards: tuple[int, ...]  #: the indices that reported it


def ordered_cases(
    shards: Sequence[ShardBundle], layout: ShardLayout | None, order: list[str], base_rel: str
) -> tuple[dict[str, list[TestCase]], list[Duplicate]]:
    """Each suite's cases of all shards, in the order an unsharded run reports them, and the duplicates.

    Sorted by the position of the case's unit in the recorded split, then by
    the order the shards reported them; a suite seen only in the cases is
    appended to `order`. A test (suite, file, classname, name) that two shards
    report is a duplicate: the second shard's copy is left out, and the caller
    refuses or flags it (a suite's own `args` naming files used to run them in
    every shard). The synthetic case standing for a suite's problem is no test.
    """
    items: dict[str, list[tuple[int, int, TestCase]]] = {name: [] for name in order}
    seen: dict[tuple[str, str | None, str, str], list[int]] = {}
    sequence = 0
    for shard in shards:
        keys: dict[str, Any] = {}
        for case in read_cases(shard, f"{base_rel}/{shard.folder}/"):
            if case.suite not in items:
                items[case.suite] = []
                order.append(case.suite)
            if case.type != SUITE_ERROR_TYPE:
                owners = seen.setdefault((case.suite, case.file, case.classname, case.name), [])
                owners.append(shard.index)
                if len(owners) > 1 and owners[0] != shard.index:
                    continue  # another shard's copy: reported once, and flagged
            key = keys.get(case.suite)
            if key is None:
                key = keys[case.suite] = _order_key_factory(layout, case.suite, shard.index)
            items[case.suite].append((key(case), sequence, case))
            sequence += 1
    duplicates = [
        Duplicate(suite, " › ".join(p for p in (file, classname, name) if p), tuple(dict.fromkeys(owners)))
        for (suite, file, classname, name), owners in seen.items()
        if len(set(owners)) > 1
    ]
    ordered = {
        name: [c for _, _, c in sorted(found, key=lambda t: (t[0], t[1]))] for name, found in items.items()
    }
    return ordered, duplicates


def suite_result(
    name: str,
    entries: Sequence[tuple[ShardBundle, SuiteEntry]],
    cases: Sequence[TestCase],
    base: Path,
    repo_root: Path,
    *,
    bundle_dir: Path,
) -> SuiteResult:
    """One merged suite from its entries in the shards' manifests and its ordered cases."""
    attempts = merge_attempts(
        [(s, a) for s, e in entries for a in e.attempts],
        base,
        lambda shard, argv: unsharded_command(shard, name, argv, bundle_dir),
    )
    files = [base / s.folder / f for s, e in entries for f in e.files if _inside(f)]
    workdir = next((e.working_directory for _, e in entries if e.working_directory is not None), None)
    return SuiteResult(
        name=name,
        runner=next((e.runner for _, e in entries if e.runner is not None), "unknown"),
        cases=CaseStore(cases),
        attempts=attempts,
        error=next((e.error for _, e in entries if e.error), None),
        working_directory=repo_root / workdir if workdir else None,
        files=[f for f in files if f.is_file()],
        skipped_reason=next((e.skipped_reason for _, e in entries if e.skipped_reason), None),
    )


def _inside(rel: str | None) -> bool:
    """Whether a path a shard's manifest names stays inside that shard's copy (else it is ignored)."""
    return rel is not None and safe_relative(rel)
