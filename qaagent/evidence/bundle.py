"""The evidence bundle: one directory per run that proves what was tested.

Layout (docs/DESIGN.md)::

    <evidence-dir>/<run_id>/
      manifest.json   written at start (status "running") and LAST at the end
      junit.xml       the merged report
      tests.jsonl     one record per test case with an evidence id
      summary.md      the job summary's Markdown
      suites/<name>/  logs, the suite's own JUnit files, artifacts (runners write here)

Order of writes is the contract that makes a bundle trustworthy: runners only
write inside their own `suites/<name>/` while tests run; everything shared is
written by `Bundle.finish` from one thread after execution, and the manifest —
which lists every other file with its sha256 and size — is replaced last,
atomically. A run killed before `finish` leaves a manifest saying `running`;
`qaagent verify` reports it as incomplete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, cast

import qaagent
from qaagent import redact
from qaagent.errors import QAAgentError, UsageError
from qaagent.evidence import manifest as mf
from qaagent.evidence.diagnostics import CATEGORIES
from qaagent.evidence.gitinfo import git_info
from qaagent.evidence.read import (
    MANIFEST,
    RUN_ID_RE,
    BundleError,
    load_document,
    parse_manifest,
    read_manifest,
)
from qaagent.evidence.records import RecordWriter
from qaagent.evidence.verify import file_entries, walk
from qaagent.files import atomic_open, atomic_write_text, sha256_file
from qaagent.junit.write import DEFAULT_MAX_OUTPUT, write_merged_junit
from qaagent.options import Shard
from qaagent.redact import Redactor, copy_redacted
from qaagent.results import FailOn, RunResult, conclusion

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

TOOL_NAME = "qaagent"
_SUITE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def make_run_id(now: datetime, shard: Shard | None = None, *, evidence_dir: Path | None = None) -> str:
    """``YYYYMMDD_HHMMSSZ`` (UTC) plus ``_shard-IofN``; ``-2``, ``-3``… if taken in `evidence_dir`."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    base = now.astimezone(UTC).strftime("%Y%m%d_%H%M%SZ")
    if shard:
        base += f"_shard-{shard.suffix}"
    if evidence_dir is None:
        return base
    candidate, number = base, 1
    while (evidence_dir / candidate).exists():
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _jsonable(value: Any, redactor: Redactor) -> Any:
    """`value` as JSON-compatible data with every string redacted."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_jsonable(v, redactor) for v in items]
    return redactor.redact(str(value))


#: bytes looked at to tell a text file (redacted) from a binary one (kept byte for byte)
_SNIFF_BYTES = 8192


def _is_text(path: Path) -> bool:
    """Whether a suite's file is text, whatever its name (`config.yaml`, `trace.har`): no NUL byte."""
    try:
        with path.open("rb") as handle:
            return b"\0" not in handle.read(_SNIFF_BYTES)
    except OSError:
        return False


@dataclass
class Bundle:
    """One run's evidence directory and its manifest."""

    dir: Path
    run_id: str
    started_at: float
    repo_root: Path
    redactor: Redactor
    _manifest: dict[str, Any] = field(repr=False)

    @classmethod
    def start(
        cls,
        evidence_dir: Path,
        run_id: str,
        *,
        project: str,
        settings: Mapping[str, Any],
        profile_path: Path | None,
        profile_sha256: str | None,
        repo_root: Path,
        suites: Sequence[str],
        shard: Shard | None = None,
        redactor: Redactor | None = None,
    ) -> Bundle:
        """Create ``<evidence_dir>/<run_id>/`` (``-2``… if taken) and mark it running."""
        redactor = redact.current() if redactor is None else redactor
        bundle_dir = _create_unique(evidence_dir, run_id)
        started_at = time.time()
        manifest: dict[str, Any] = {
            "schema_version": mf.SCHEMA_VERSION,
            "run_id": bundle_dir.name,
            "tool": {"name": TOOL_NAME, "version": qaagent.__version__},
            "status": "running",
            "started": mf.iso_utc(started_at),
            "finished": None,
            "project": project,
            "git": git_info(repo_root),
            "ci": mf.ci_info(),
            "host": mf.host_info(),
            "process": {"pid": os.getpid(), "host": socket.gethostname()},
            "environment": mf.environment(),
            "profile": {
                "path": mf.rel_path(profile_path, bundle_dir, repo_root),
                "sha256": profile_sha256,
            },
            "settings": dict(settings),
            "shard": None if shard is None else str(shard),
            "suites": [{"name": name, "status": "pending"} for name in suites],
            "totals": None,
            "diagnostics": None,
            "not_run": [],
            "not_kept": [],
            "files": [],
        }
        bundle = cls(bundle_dir, bundle_dir.name, started_at, repo_root, redactor, manifest)
        bundle._write_manifest()
        return bundle

    @property
    def manifest_path(self) -> Path:
        """Where manifest.json lives."""
        return self.dir / MANIFEST

    @property
    def junit_path(self) -> Path:
        """The merged report inside the bundle."""
        return self.dir / "junit.xml"

    def suite_dir(self, name: str) -> Path:
        """``<bundle>/suites/<name>/``, created; the only place a runner writes during execution."""
        if not _SUITE_NAME_RE.match(name):
            raise UsageError(f"invalid suite name {name!r} for an evidence directory")
        path = self.dir / "suites" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _write_manifest(self) -> None:
        files = self._manifest.pop("files", [])
        data = _jsonable(self._manifest, self.redactor)
        # checksums and paths are ours, not user text: never redacted
        data["files"] = self._manifest["files"] = files
        atomic_write_text(self.manifest_path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def _redact_logs(self, run: RunResult) -> None:
        """Redact every text file the suites left in the bundle: logs, their own JUnit, rerun files."""
        suites = self.dir / "suites"
        logs = {p for p in suites.rglob("*") if p.is_file() and not p.is_symlink() and _is_text(p)}
        for suite in run.suites:
            for attempt in suite.attempts:
                log = attempt.log_path
                if log is not None and log.is_file() and log.resolve().is_relative_to(self.dir.resolve()):
                    logs.add(log)
        for log in sorted(logs):
            tmp = log.with_name(f".{log.name}.redacting")
            with log.open("rb") as src, tmp.open("wb") as dst:
                copy_redacted(src, dst, self.redactor)
            tmp.replace(log)

    def finish(
        self,
        run: RunResult,
        *,
        summary_markdown: str,
        fail_on: Sequence[str],
        max_output: int = DEFAULT_MAX_OUTPUT,
    ) -> None:
        """Write junit.xml, tests.jsonl, summary.md, then the final manifest.

        Call once, after execution, from one thread.
        """
        self._manifest["not_kept"] = set_aside(self.dir)
        self._redact_logs(run)
        run_started = run.started_at if run.started_at > 0 else self.started_at
        with atomic_open(self.dir / "tests.jsonl") as records_file:
            records = RecordWriter(records_file, run_started, self.redactor)
            write_merged_junit(
                run,
                self.junit_path,
                max_output=max_output,
                redact=self.redactor.redact,
                on_case=records.write,
                bundle_dir=self.dir,
            )
        atomic_write_text(self.dir / "summary.md", self.redactor.redact(summary_markdown))

        counts = run.counts
        finished_at = run.finished_at if run.finished_at > 0 else time.time()
        self._manifest.update(
            {
                "status": conclusion(run, cast("Sequence[FailOn]", fail_on)),
                "started": mf.iso_utc(run_started),
                "finished": mf.iso_utc(finished_at),
                "suites": [mf.suite_entry(s, self.dir, self.repo_root) for s in run.suites],
                "totals": {
                    **counts.as_dict(),
                    "duration": round(max(0.0, finished_at - run_started), 3),
                    "suite_time": round(run.suite_time, 3),
                },
                "diagnostics": {category: records.categories.get(category, 0) for category in CATEGORIES},
                "not_run": list(run.not_run),
                "fail_on": list(fail_on),
                "files": file_entries(self.dir),
            }
        )
        self._write_manifest()


def set_aside(bundle_dir: Path) -> list[dict[str, str]]:
    """Remove what is no regular file from the bundle (links, FIFOs, devices, sockets) and say so.

    A suite may leave anything in its folders: a dangling link, a link to a folder,
    to `/dev/zero` or to `~/.ssh/id_rsa`, a FIFO. None is followed, opened, hashed or
    kept: each is unlinked (which never touches its target) and listed in the
    manifest's `not_kept` as ``not kept (symlink to …)``.
    """
    not_kept: list[dict[str, str]] = []
    for rel in walk(bundle_dir)[1]:
        path = bundle_dir / rel
        try:
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                why = f"symlink to {path.readlink()}"
            else:
                why = "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"
            path.unlink()
        except OSError:
            continue
        not_kept.append({"path": rel, "why": f"not kept ({why})"})
    return not_kept


def replace_file(bundle_dir: Path, rel: str, text: str) -> None:
    """Write `rel` into a finished bundle and update its manifest entry (sha256, size).

    For files rendered from the bundle itself after `Bundle.finish` (report.html,
    also by `qaagent report`): the file, then the manifest, are each replaced
    atomically, so `qaagent verify` passes afterwards. Other entries are kept as
    they are. A bundle whose manifest cannot be read is a `UsageError`.
    """
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or str(pure) == MANIFEST:
        raise QAAgentError(f"refusing to write {rel!r} into the evidence bundle")
    manifest_path = bundle_dir / MANIFEST
    try:
        manifest = load_document(bundle_dir)
    except BundleError as exc:
        raise BundleError(f"{bundle_dir}: not an evidence bundle ({exc.message})") from None
    parse_manifest(manifest, bundle_dir)  # the entries kept as they are must be a manifest's
    if not isinstance(manifest.get("files"), list):
        raise BundleError(f"{bundle_dir}: not an evidence bundle ({MANIFEST} has no 'files' list)")
    target = bundle_dir.joinpath(*pure.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, text)
    key = pure.as_posix()
    entry = {"path": key, "sha256": sha256_file(target), "size": target.stat().st_size}
    files = [f for f in manifest["files"] if not (isinstance(f, dict) and f.get("path") == key)]
    files.append(entry)
    files.sort(key=lambda f: str(f.get("path")) if isinstance(f, dict) else "")
    manifest["files"] = files
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def _create_unique(evidence_dir: Path, run_id: str) -> Path:
    try:
        evidence_dir.mkdir(parents=True, exist_ok=True)
        number = 1
        while True:
            candidate = evidence_dir / (run_id if number == 1 else f"{run_id}-{number}")
            try:
                candidate.mkdir()
            except FileExistsError:
                number += 1
            else:
                return candidate
    except OSError as exc:
        raise QAAgentError(f"cannot create the evidence directory in {evidence_dir}: {exc.strerror}") from exc


def _started_key(bundle_dir: Path) -> tuple[str, str]:
    try:
        started = read_manifest(bundle_dir).started
    except BundleError:
        started = None  # unreadable: the oldest by name
    return (started or "", bundle_dir.name)


def still_running(bundle_dir: Path) -> bool:
    """Whether a run is still writing the bundle: `running`, and its process alive (or elsewhere).

    The manifest names the writing process (pid and host). On this host a pid that
    no longer exists means the run was killed: its bundle may go. A run on another
    host (a shared folder) cannot be checked and is spared. A running bundle of a
    qaagent that recorded no process (older versions) counts as gone.
    """
    try:
        manifest = read_manifest(bundle_dir)
    except BundleError:
        return False
    if manifest.status != "running" or manifest.process is None:
        return False
    if manifest.process.host != socket.gethostname():
        return True
    try:
        os.kill(manifest.process.pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else
    return True


def prune(evidence_dir: Path, keep: int, *, current: Path | None = None) -> list[Path]:
    """Remove the oldest bundles beyond the newest `keep`; never `current`. Return what was removed.

    Only directories named like a run id are considered, so nothing else in
    `evidence_dir` is ever deleted; nor is the bundle of a run still going
    (`still_running`). Age is the manifest's start time, then
    the name (run ids sort by time).
    """
    if keep < 0:
        raise UsageError(f"keep must be >= 0, got {keep}")
    if not evidence_dir.is_dir():
        return []
    bundles = [
        p for p in evidence_dir.iterdir() if p.is_dir() and not p.is_symlink() and RUN_ID_RE.match(p.name)
    ]
    bundles.sort(key=_started_key, reverse=True)
    protected = current.resolve() if current is not None else None
    removed: list[Path] = []
    for old in bundles[keep:]:
        if (protected is not None and old.resolve() == protected) or still_running(old):
            continue
        shutil.rmtree(old)
        removed.append(old)
    return removed
