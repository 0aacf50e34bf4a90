"""Reading an evidence bundle for the history: the ONE place `qaagent history import` reads bundles.

Bundles are hostile input (downloaded artifacts, fork PRs). Everything read
here is checked before use: ``manifest.json`` and ``tests.jsonl`` must be
regular files (no symlinks) of bounded size, the manifest a JSON object with
a run id, a start time and a final status, every record line a JSON object of
bounded length whose fields have the expected types. A bad line is counted,
reported and skipped; it never stops the import of the others.

The files are read through the one bundle reader (``qaagent/evidence/read.py``:
`guarded_document`, `regular_file`, `records_path`, `record_lines`); here only
the values are checked. Callers use `read_bundle`, `run_record` and `run_identity`.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from qaagent.errors import UsageError
from qaagent.evidence.read import (
    MANIFEST,
    MAX_RECORD_LINE,
    RECORDS,
    guarded_document,
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


def _text(value: object, limit: int = MAX_FIELD) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _obj(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


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


def run_identity(git: Mapping[str, Any], env: Mapping[str, Any]) -> tuple[str, str, str]:
    """Repository, branch and base branch of a run, from the manifest's ``git`` and ``environment``.

    Also asked before a run starts (its history lookups), with `git_info` and
    the manifest's environment of this process, so both agree.
    """
    gh_ref = _text(env.get("GITHUB_REF"))
    git_ref = _text(git.get("ref"))
    repository = _text(git.get("repository")) or _text(env.get("GITHUB_REPOSITORY"))
    branch = _text(env.get("GITHUB_HEAD_REF")) or _branch(git_ref) or _branch(gh_ref)
    return repository, branch, _text(env.get("GITHUB_BASE_REF"))


def run_record(manifest: Mapping[str, Any], *, where: str = "manifest.json") -> RunRecord:
    """The run a bundle's manifest describes; a `UsageError` when it cannot be one.

    Branch: the PR's head branch (``GITHUB_HEAD_REF``), else the checked-out
    branch (``git.ref``), else ``GITHUB_REF``'s branch. Base branch:
    ``GITHUB_BASE_REF``. PR number: from ``refs/pull/N/merge``. A merged run's
    shards come from ``settings.merge.shards``.
    """
    run_id = _text(manifest.get("run_id"))
    started = _text(manifest.get("started"), 64)
    started_at = _epoch(started)
    status = _text(manifest.get("status"), 32)
    if not run_id:
        raise UsageError(f"{where}: no run_id")
    if started_at is None:
        raise UsageError(f"{where}: no valid start time ({started[:40]!r})")
    if status not in ("success", "failure", "cancelled"):
        raise UsageError(f"{where}: status {status[:20]!r} is not a finished run; not recorded")
    git = _obj(manifest.get("git"))
    ci = _obj(manifest.get("ci"))
    env = _obj(manifest.get("environment"))
    gh_ref = _text(env.get("GITHUB_REF"))
    git_ref = _text(git.get("ref"))
    pr = _PR_REF.match(gh_ref) or _PR_REF.match(git_ref)
    repository, branch, base_branch = run_identity(git, env)
    merge = _obj(_obj(manifest.get("settings")).get("merge"))
    shards = merge.get("shards") if isinstance(merge.get("shards"), list) else []
    parts = tuple(
        RunRef(_text(s.get("run_id")), _text(s.get("started"), 64))
        for s in cast("list[Any]", shards)
        if isinstance(s, dict) and _text(s.get("run_id"))
    )
    suites: dict[str, float] = {}
    for entry in manifest.get("suites") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        seconds = entry.get("duration")
        if (
            isinstance(seconds, int | float)
            and not isinstance(seconds, bool)
            and math.isfinite(seconds)
            and seconds >= 0
            and entry.get("status") not in ("pending", None)
        ):
            suites[_text(entry["name"])] = float(seconds)
    shard = manifest.get("shard")
    return RunRecord(
        run_id=run_id,
        project=_text(manifest.get("project")),
        started=started,
        started_at=started_at,
        finished_at=_epoch(manifest.get("finished")),
        repository=repository,
        commit=_text(git.get("sha")) or _text(env.get("GITHUB_SHA")),
        branch=branch,
        base_branch=base_branch,
        pr_number=int(pr.group(1)) if pr else None,
        ci_run_id=_text(ci.get("run_id")) or _text(env.get("GITHUB_RUN_ID")),
        ci_run_attempt=_text(ci.get("run_attempt")) or _text(env.get("GITHUB_RUN_ATTEMPT")),
        shard=_text(shard, 32) if isinstance(shard, str) else "",
        status=status,
        merged_from=parts,
        suite_durations=suites,
    )


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def result_record(data: object) -> ResultRecord | None:
    """One tests.jsonl record as a result, or None when any field has the wrong type."""
    if not isinstance(data, dict):
        return None
    suite, classname, name = data.get("suite"), data.get("classname"), data.get("name")
    status, duration = data.get("status"), data.get("duration")
    file, attempts, flaky = data.get("file"), data.get("attempts", 1), data.get("flaky", False)
    if not (
        isinstance(suite, str) and suite and isinstance(classname, str) and isinstance(name, str) and name
    ):
        return None
    wrong = (
        status not in _STATUSES
        or not isinstance(flaky, bool)
        or not _finite(duration)
        or (file is not None and not isinstance(file, str))
        or not (isinstance(attempts, int) and not isinstance(attempts, bool) and attempts >= 1)
    )
    if wrong:
        return None
    return ResultRecord(
        suite=suite,
        classname=classname,
        name=name,
        status=cast("Status", status),
        duration=max(0.0, float(cast("float", duration))),
        file=cast("str | None", file) or None,
        attempts=cast("int", attempts),
        flaky=bool(flaky),
    )


def read_bundle(path: Path) -> BundleRun:
    """Read a bundle's run and results; a `UsageError` (one line) when it cannot be recorded."""
    manifest_path = path / MANIFEST
    manifest = guarded_document(path)  # a regular file of bounded size holding a JSON object
    run = run_record(manifest, where=str(manifest_path))
    results, bad, notes = _read_records(records_path(path) or path / RECORDS)
    total = _obj(manifest.get("totals")).get("total")
    if isinstance(total, int) and not isinstance(total, bool) and total != len(results) and not bad:
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
                    record = result_record(json.loads(raw.decode("utf-8")))
                except (UnicodeDecodeError, ValueError, RecursionError):
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
