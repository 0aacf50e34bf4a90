"""Reading an evidence bundle for the history: what `qaagent history import` and a run's record read.

Bundles are hostile input (downloaded artifacts, fork PRs). They are read
through the one bundle reader, ``qaagent/evidence/read.py``: the manifest as its
typed `Manifest` (`read_manifest`: a regular file of bounded size, a JSON
object, a valid run id, every field of the expected type), each record line
as its typed `Record` (strict types, bounded length). Here only what the
history adds is checked: a finished status, a start time, a test with a
suite and a name, a known status, a finite duration. A bad record line is
counted, reported and skipped; it never stops the import of the others.
Callers use `read_bundle`, `run_record` and `run_identity`.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from pydantic import ValidationError

from qaagent.errors import UsageError
from qaagent.evidence.read import (
    MAX_RECORD_LINE,
    RECORDS,
    CiInfo,
    GitInfo,
    Manifest,
    Record,
    read_manifest,
    record_lines,
    records_path,
    regular_file,
)
from qaagent.history.model import ResultRecord, RunRecord, RunRef, Status

#: records read from one bundle at most
MAX_RECORDS = 5_000_000
#: a records line longer than this is a bad line (bytes; a 1 MB test name still fits)
MAX_LINE_BYTES = MAX_RECORD_LINE
#: longest text field taken from a manifest (run id, branch, commit…)
MAX_FIELD = 1000
_STATUSES = ("passed", "failed", "error", "skipped")
_PR_REF = re.compile(r"^refs/pull/(\d{1,9})/(?:merge|head)\Z")


@dataclass(frozen=True)
class BundleRun:
    """One bundle as the history records it."""

    path: Path
    run: RunRecord
    results: list[ResultRecord]
    bad_lines: int  #: tests.jsonl lines that were not valid records (skipped)
    notes: tuple[str, ...]  #: what was odd about the bundle, one line each


def _text(value: str | None, limit: int = MAX_FIELD) -> str:
    """A typed text field cut at `limit` ("" when absent)."""
    return (value or "")[:limit]


def _epoch(value: object) -> float | None:
    if not isinstance(value, str) or not value or len(value) > 64:  # noqa: PLR2004 - an ISO time is short
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    stamp = parsed.timestamp()
    return stamp if math.isfinite(stamp) else None


def _branch(ref: str) -> str:
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else ""


def run_identity(git: GitInfo, env: Mapping[str, str]) -> tuple[str, str, str]:
    """Repository, branch and base branch of a run, from the manifest's ``git`` and ``environment``.

    Also asked before a run starts (its history lookups), with `git_info` and
    the manifest's environment of this process, so both agree.
    """
    gh_ref = _text(env.get("GITHUB_REF"))
    git_ref = _text(git.ref)
    repository = _text(git.repository) or _text(env.get("GITHUB_REPOSITORY"))
    branch = _text(env.get("GITHUB_HEAD_REF")) or _branch(git_ref) or _branch(gh_ref)
    return repository, branch, _text(env.get("GITHUB_BASE_REF"))


def run_record(manifest: Manifest, *, where: str = "manifest.json") -> RunRecord:
    """The run a bundle's (typed, validated) manifest describes; a `UsageError` when it cannot be one.

    Branch: the PR's head branch (``GITHUB_HEAD_REF``), else the checked-out
    branch (``git.ref``), else ``GITHUB_REF``'s branch. Base branch: the one the run
    was compared against (the manifest's ``history.base_branch``: ``--base-branch``,
    the action's ``base-branch``), else ``GITHUB_BASE_REF``. PR number: from
    ``refs/pull/N/merge``. A merged run's shards come from ``settings.merge.shards``.
    Text fields are cut at `MAX_FIELD`.
    """
    started = _text(manifest.started, 64)
    started_at = _epoch(started)
    status = _text(manifest.status, 32)
    if started_at is None:
        raise UsageError(f"{where}: no valid start time ({started[:40]!r})")
    if status not in ("success", "failure", "cancelled"):
        raise UsageError(f"{where}: status {status[:20]!r} is not a finished run; not recorded")
    git = manifest.git
    env = manifest.environment
    ci = manifest.ci or CiInfo()
    gh_ref = _text(env.get("GITHUB_REF"))
    git_ref = _text(git.ref)
    pr = _PR_REF.match(gh_ref) or _PR_REF.match(git_ref)
    repository, branch, base_branch = run_identity(git, env)
    compared = manifest.history.base_branch if manifest.history is not None else None
    base_branch = _text(compared) or base_branch  # the base it compared against (`--base-branch`)
    merge = manifest.settings.merge
    parts = tuple(
        RunRef(_text(s.run_id), _text(s.started, 64))
        for s in (merge.shards if merge else ())
        if _text(s.run_id)
    )
    suites = {
        _text(entry.name): float(entry.duration)
        for entry in manifest.suites
        if entry.duration is not None
        and math.isfinite(entry.duration)
        and entry.duration >= 0
        and entry.status != "pending"
    }
    return RunRecord(
        run_id=manifest.run_id,
        project=_text(manifest.project),
        started=started,
        started_at=started_at,
        finished_at=_epoch(manifest.finished),
        repository=repository,
        commit=_text(git.sha) or _text(env.get("GITHUB_SHA")),
        branch=branch,
        base_branch=base_branch,
        pr_number=int(pr.group(1)) if pr else None,
        ci_run_id=_text(ci.run_id) or _text(env.get("GITHUB_RUN_ID")),
        ci_run_attempt=_text(ci.run_attempt) or _text(env.get("GITHUB_RUN_ATTEMPT")),
        shard=_text(manifest.shard, 32),
        status=status,
        merged_from=parts,
        suite_durations=suites,
    )


def result_record(record: Record) -> ResultRecord | None:
    """A typed tests.jsonl record as a result; None without a suite, a name, a known status, a finite time."""
    if not (record.suite and record.name) or record.status not in _STATUSES or record.attempts < 1:
        return None
    if not math.isfinite(record.duration):
        return None
    return ResultRecord(
        suite=record.suite,
        classname=record.classname,
        name=record.name,
        status=cast("Status", record.status),
        duration=max(0.0, record.duration),
        file=record.file or None,
        attempts=record.attempts,
        flaky=record.flaky,
    )


def read_bundle(path: Path) -> BundleRun:
    """Read a bundle's run and results; a `UsageError` (one line) when it cannot be recorded."""
    manifest = read_manifest(path)  # the one bundle reader: a typed, validated manifest
    run = run_record(manifest, where=str(path / "manifest.json"))
    results, bad, notes = _read_records(records_path(path) or path / RECORDS)
    total = manifest.totals.total if manifest.totals else None
    if total is not None and total != len(results) and not bad:
        notes.append(f"the manifest counts {total} test(s), {RECORDS} holds {len(results)}")
    return BundleRun(path, run, results, bad, tuple(notes))


def _read_records(records_path: Path) -> tuple[list[ResultRecord], int, list[str]]:
    """The valid records of tests.jsonl, the count of bad lines, and notes."""
    results: list[ResultRecord] = []
    bad = 0
    notes: list[str] = []
    if not (records_path.exists() or records_path.is_symlink()):
        return results, bad, [f"no {RECORDS}: the run is recorded without test results"]
    name = records_path.name
    regular_file(records_path, 2**62, name)
    try:
        for raw in record_lines(records_path):
            if raw is not None and not raw.strip():
                continue
            record = None
            if raw is not None:
                try:
                    record = result_record(Record.model_validate_json(raw))
                except ValidationError:
                    record = None
            if record is None:
                bad += 1
                continue
            if len(results) >= MAX_RECORDS:
                notes.append(f"{name}: more than {MAX_RECORDS} records; the rest were not read")
                break
            results.append(record)
    except (OSError, EOFError, zlib.error) as exc:  # a gzip that is not one, or ends early
        bad += 1
        notes.append(f"{name}: unreadable after {len(results)} record(s) ({exc}); the rest were not read")
    if bad:
        notes.append(f"{name}: {bad} line(s) are not valid test records and were skipped")
    return results, bad, notes
