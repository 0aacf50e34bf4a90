"""The evidence bundle: one directory per run that proves what was tested.

Layout (docs/DESIGN.md)::

    <evidence-dir>/<run_id>/
      manifest.json   written at start (status "running") and LAST at the end
      junit.xml       the merged report
      tests.jsonl.gz  one record per test case with an evidence id (gzip)
      summary.md      the job summary's Markdown
      report.html     the page for people (written by a writer the caller gives `finish`)
      suites/<name>/  logs, artifacts, and the suites' own JUnit files that could not be
                      read completely (runners write here)

Order of writes is the contract that makes a bundle trustworthy: runners only
write inside their own `suites/<name>/` while tests run; everything shared is
written by `Bundle.finish` from one thread after execution, in one pass over the
cases (`qaagent.stream`), and the manifest — which lists every other file with
its sha256 and size — is replaced last, atomically. A run killed before `finish`
leaves a manifest saying `running`; `qaagent verify` reports it as incomplete. A
report that cannot be written (a full disk) is named in the manifest's `missing`.

Each result is kept once: a suite's own JUnit file that was read completely is in
junit.xml case for case, so it is removed and only its sha256 and size stay, in its
attempt's `junit_read` (docs/decisions.md); one that could not be read completely
is kept as the evidence of what was wrong with it.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import qaagent
from qaagent import redact
from qaagent.errors import QAAgentError, UsageError
from qaagent.evidence import manifest as mf
from qaagent.evidence.cleaning import NO_ROOM, NOT_REDACTED, UnredactedError, clean
from qaagent.evidence.diagnostics import CATEGORIES, categorize
from qaagent.evidence.gitinfo import git_info
from qaagent.evidence.read import (
    MANIFEST,
)
from qaagent.evidence.records import RECORDS_NAME, RecordWriter
from qaagent.evidence.verify import file_entries
from qaagent.files import Digest, StreamedFile, atomic_write_text, sha256_file
from qaagent.junit.write import DEFAULT_MAX_OUTPUT, MergedJUnit
from qaagent.options import SUITE_NAME, Shard
from qaagent.redact import Redactor
from qaagent.run_result import FailOn, RunResult, conclusion
from qaagent.stream import CaseText, CaseWriter, stream_run

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
    from collections.abc import Set as AbstractSet

TOOL_NAME = "qaagent"


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


def _as_walked(path: Path, given: Path, real: Path) -> Path:
    """`path` as the cleaning's walk of `real` (the resolved `given`) names it, without a `resolve`.

    The walk follows no link: a path it lists is `real` and the names of real entries under it.
    A path written under `given` is named the same way (the link a suite may have put in its
    place is set aside, never walked into: then no listed path is equal to it either).
    """
    return real / path.relative_to(given) if path.is_relative_to(given) else path.resolve()


@dataclass
class Bundle:
    """One run's evidence directory and its manifest."""

    dir: Path
    run_id: str
    started_at: float
    repo_root: Path
    redactor: Redactor
    _manifest: dict[str, Any] = field(repr=False)
    #: keep what no scan can redact (reports.keep_unredactable), as suites end (`seal`)
    keep_unredactable: bool = False
    #: `not_kept` entries of the folders sealed as their suites ended, and those unredactable
    _sealed: list[dict[str, str]] = field(default_factory=list, repr=False)
    _sealed_dropped: list[dict[str, str]] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: files qaagent copied in itself before `finish` (a merge's verified shard copies; `own`)
    _own: set[Path] = field(default_factory=set, repr=False)
    #: `dir` resolved, once (each `resolve` is an `lstat` per component of a deep path)
    _inside: Path = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._inside = self.dir.resolve()

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
        git: Mapping[str, str | None] | None = None,
    ) -> Bundle:
        """Create ``<evidence_dir>/<run_id>/`` (``-2``… if taken) and mark it running.

        `git`: the checkout's facts when the caller asked git already (`git_info`); else asked here.
        """
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
            "git": dict(git) if git is not None else git_info(repo_root),
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
            "missing": [],
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
        if not SUITE_NAME.match(name):
            raise UsageError(f"invalid suite name {name!r} for an evidence directory")
        path = self.dir / "suites" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _write_manifest(self) -> None:
        files = self._manifest.pop("files", [])
        data = mf.redacted(self._manifest, self.redactor)
        # checksums and paths are ours, not user text: never redacted
        data["files"] = self._manifest["files"] = files
        atomic_write_text(self.manifest_path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def seal(self, folder: Path, logs: Collection[Path], junit: Collection[Path]) -> None:
        """A suite's (or batch's) folder as its attempts ended: redacted, and only what may be kept.

        What the run's end does for every file of the bundle (`finish`), done as each suite
        ends, so a run killed later (`kill -9`) leaves no raw secret in the files an ended suite
        left (artifacts copied in, files its tool wrote, its JUnit copies): links, FIFOs and
        devices are set aside, files no scan can redact removed unless `keep_unredactable`,
        the rest redacted. `logs` are left as they are (redacted as they were written);
        `junit`, the copies the run read, are redacted but never removed (the end folds
        them into junit.xml and records their digests).
        """
        given, real = folder, self._real_folder(folder)
        if real is None:
            return
        folder = real
        spared = {_as_walked(p, given, folder) for p in logs}
        kept = {*spared, *(_as_walked(p, given, folder) for p in junit)}
        try:
            early, dropped = self._clean(folder, kept=kept, unredacted=spared, keep=self.keep_unredactable)
        except UnredactedError as stuck:  # `finish` cleans the whole bundle again: it fails the run
            early, dropped = stuck.early, stuck.dropped
        with self._lock:
            self._sealed.extend([*early, *dropped])
            self._sealed_dropped.extend(dropped)

    def _real_folder(self, folder: Path) -> Path | None:
        """`folder` resolved when it is a folder in this bundle, else None.

        A folder written under the bundle's (`suite_dir`) is checked from the bundle's resolved
        path down, one `lstat` per component under it (a suite may have put a link in its
        place: then it is resolved as any other path), not one per component from the root.
        """
        if folder.is_relative_to(self.dir):
            real = self._inside
            for part in folder.relative_to(self.dir).parts:
                real = real / part
                try:
                    mode = real.lstat().st_mode
                except OSError:
                    return None
                if stat.S_ISLNK(mode):
                    break
                if not stat.S_ISDIR(mode):
                    return None
            else:
                return real
        resolved = folder.resolve()
        return resolved if resolved.is_relative_to(self._inside) and resolved.is_dir() else None

    def own(self, paths: Iterable[Path]) -> None:
        """Files qaagent copied into the bundle itself before `finish` (a merge's verified shard copies).

        `finish` leaves them as they are: only the files qaagent did not write are its to clean.
        """
        self._own.update(p.resolve() for p in paths)

    def _clean(
        self, folder: Path, *, kept: AbstractSet[Path], unredacted: AbstractSet[Path], keep: bool
    ) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """`clean` under `folder` (resolved, in this bundle) with this bundle's redactor."""
        return clean(self._inside, folder, self.redactor, kept=kept, unredacted=unredacted, keep=keep)

    def _fold_read_junit(self, run: RunResult) -> dict[tuple[str, int], list[dict[str, Any]]]:
        """Remove the suites' own JUnit files that were read completely; their digests per attempt.

        Their cases are all in junit.xml; what stays is the proof of which file they came
        from (`junit_read` in the attempt's manifest entry). Files outside the bundle and
        files that could not be read completely are left as they are.
        """
        inside = self.dir.resolve()
        read: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for suite in run.suites:
            for attempt in suite.attempts:
                unread = {p.resolve() for p in attempt.junit_unread}
                entries = read.setdefault((suite.name, attempt.number), [])
                for path in attempt.junit_files:
                    real = path.resolve()
                    if real in unread or not real.is_relative_to(inside) or not real.is_file():
                        continue
                    rel = real.relative_to(inside).as_posix()
                    entries.append({"path": rel, "sha256": sha256_file(real), "size": real.stat().st_size})
                    real.unlink()
        return read

    def manifest_view(self) -> dict[str, Any]:
        """The manifest as it stands (redacted, files aside): what the reports of the pass show."""
        view = mf.redacted({k: v for k, v in self._manifest.items() if k != "files"}, self.redactor)
        return cast("dict[str, Any]", view)

    def finish(
        self,
        run: RunResult,
        *,
        summary_markdown: str | Callable[[], str],
        fail_on: Sequence[str],
        max_output: int = DEFAULT_MAX_OUTPUT,
        writers: Sequence[CaseWriter] = (),
        junit_copy: Path | None = None,
        history: Mapping[str, Any] | None = None,
        keep_unredactable: bool = False,
    ) -> Finished:
        """Write junit.xml, tests.jsonl.gz, what `writers` write, summary.md, then the final manifest.

        Call once, after execution, from one thread. One pass over the cases feeds the
        merged JUnit, the records and every one of `writers` (report.html, the summary's
        collector). `summary_markdown` is the summary, or what renders it after the pass.
        `junit_copy` gets the same bytes as junit.xml (`--junit`); `history` is the run's
        comparison with the base branch (the manifest's ``history``). A report that cannot be
        written is left out and named in the manifest's `missing` (and in the result).
        A file the redaction cannot see into (`evidence.not_kept`) is removed and
        listed in `not_kept` unless `keep_unredactable` (the profile's switch).
        """
        junit_read = self._fold_read_junit(run)  # first: what is removed needs no redaction
        inside = self._inside
        logs = {
            _as_walked(a.log_path, self.dir, inside)
            for s in run.suites
            for a in s.attempts
            if a.log_path is not None
        }
        # Every file qaagent did not write itself gets the seal's treatment, wherever in the
        # bundle a suite put it (`suites/<name>/`, or beside them: a suite knows its folder).
        # Logs are redacted again (a secret registered after they were written).
        own = {self.manifest_path.resolve(), *self._own, *_being_written(writers)}
        try:
            early, dropped = self._clean(inside, kept={*logs, *own}, unredacted=own, keep=keep_unredactable)
        except UnredactedError as stuck:  # the manifest keeps saying `running`: `verify` fails it
            self._manifest["not_kept"] = [*self._sealed, *stuck.early, *stuck.dropped]
            self._write_manifest()
            raise
        self._manifest["not_kept"] = [*self._sealed, *early, *dropped]
        dropped += self._sealed_dropped
        run_started = run.started_at if run.started_at > 0 else self.started_at
        counts = run.counts
        finished_at = run.finished_at if run.finished_at > 0 else time.time()
        removed = {read["path"] for entries in junit_read.values() for read in entries}
        suites = []
        for suite in run.suites:
            entry = mf.suite_entry(suite, self.dir, self.repo_root)
            entry["files"] = [f for f in entry["files"] if f not in removed]
            for attempt in entry["attempts"]:
                attempt["junit_read"] = junit_read.get((suite.name, attempt["number"]), [])
            suites.append(entry)
        self._manifest.update(
            {
                "status": conclusion(run, cast("Sequence[FailOn]", fail_on)),
                "started": mf.iso_utc(run_started),
                "finished": mf.iso_utc(finished_at),
                "suites": suites,
                "totals": {
                    **counts.as_dict(),
                    "duration": round(max(0.0, finished_at - run_started), 3),
                    "suite_time": round(run.suite_time, 3),
                },
                "not_run": list(run.not_run),
                "fail_on": list(fail_on),
            }
        )
        if history is not None:
            self._manifest["history"] = dict(history)
        text = CaseText(self.redactor.redact, max_output, categorize, dropped={d["path"] for d in dropped})
        junit = MergedJUnit(StreamedFile(self.junit_path, copy=junit_copy), text, bundle_dir=self.dir)
        records = RecordWriter(StreamedFile(self.dir / RECORDS_NAME, gzip=True), run_started)
        every: list[CaseWriter] = [junit, records, *writers]
        failures = stream_run(run, text, every, self.manifest_view())
        missing = [
            {"path": name, "reason": failure.reason} for failure in failures for name in failure.writer.files
        ]
        try:
            summary = summary_markdown if isinstance(summary_markdown, str) else summary_markdown()
            atomic_write_text(self.dir / "summary.md", self.redactor.redact(summary))
        except OSError as error:
            (self.dir / "summary.md").unlink(missing_ok=True)
            missing.append({"path": "summary.md", "reason": error.strerror or str(error)})
        # files removed because their redacted copy could not be written; for want of room (a full
        # disk, a file-size limit) the run ends as one whose reports could not all be written
        # (exit 3, named in `missing`)
        unredacted = tuple(
            (d["path"], d["why"]) for d in dropped if d["why"].startswith(f"not kept ({NOT_REDACTED}:")
        )
        missing += [
            {"path": path, "reason": why.removeprefix("not kept (").removesuffix(")")}
            for path, why in unredacted
            if why.endswith(tuple(f"({room}))" for room in NO_ROOM.values()))
        ]
        known = {
            name: digest
            for writer in every
            for name, digest in _digests(writer)
            if name not in {m["path"] for m in missing}
        }
        self._manifest.update(
            {
                "diagnostics": {category: records.categories.get(category, 0) for category in CATEGORIES},
                "missing": missing,
                "files": file_entries(self.dir, known),
            }
        )
        self._write_manifest()
        return Finished(
            missing=tuple((m["path"], m["reason"]) for m in missing),
            junit_copy_error=junit.out.copy_error,
            unredacted_removed=unredacted,
        )


@dataclass(frozen=True)
class Finished:
    """What `Bundle.finish` could not do: reports left out (path, reason), a failed `junit_copy`."""

    missing: tuple[tuple[str, str], ...] = ()
    junit_copy_error: OSError | None = None
    #: files the suites left removed because their redacted copy could not be written (path, why)
    unredacted_removed: tuple[tuple[str, str], ...] = ()


def _being_written(writers: Sequence[CaseWriter]) -> list[Path]:
    """The temporary files that `writers` (report.html's, given before `finish`) opened in the bundle."""
    found = []
    for writer in writers:
        out = getattr(writer, "out", None)
        if isinstance(out, StreamedFile) and out.temporary is not None:
            found.append(out.temporary.resolve())
    return found


def _digests(writer: CaseWriter) -> list[tuple[str, Digest]]:
    """The digests a writer computed while writing its files (`digest` after `end`)."""
    digest = getattr(writer, "digest", None)
    return [(name, digest) for name in writer.files] if isinstance(digest, Digest) else []


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
