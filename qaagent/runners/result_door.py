"""The one door for the files a suite left: result files and artifacts, matched and checked.

`match_files` turns a suite's globs (with `!` excludes) into the files it may read: each match
goes through the one path check (`paths.refusal`: outside the project, unsafe names), is
classified (a FIFO, device or socket is not read; qaagent's own outputs are left out), and is
kept, or refused with its reason (`IgnoredFile`), never silently dropped. `keep_copies` copies
what was kept into the bundle, `refused_note` says in one line what was not read. Used by every
runner's `result_files` and by `Runner.profile_artifacts` (`qaagent.runners.base`).
"""

from __future__ import annotations

import glob
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qaagent.attempts import IgnoredFile
from qaagent.evidence.read import MANIFEST, RUN_ID_RE, SHARED_DURATIONS
from qaagent.files import copy_regular
from qaagent.formats.source import MAX_FILE_BYTES
from qaagent.paths import OUTSIDE, UNSAFE_NAME, printable, refusal


@dataclass(frozen=True)
class ResultFiles:
    """The result files an attempt left (in reading order), and the matches it did not read."""

    files: list[Path] = field(default_factory=list)
    ignored: list[IgnoredFile] = field(default_factory=list)
    #: where the files that matched the suite's globs and are read came from (before copying)
    sources: list[Path] = field(default_factory=list)

    def origins(self) -> dict[Path, Path]:
        """Each copy read → the matched file it was copied from (the copies are the last of `files`)."""
        copies = self.files[len(self.files) - len(self.sources) :]
        return dict(zip(copies, self.sources, strict=True))


#: the start of the reason a match that is a FIFO, a device or a socket is not read
NOT_REGULAR = "no regular file"
#: the start of the reason a match that qaagent wrote itself (merged report, evidence) is not read
OWN_OUTPUT = "qaagent's own output"


def match_files(
    patterns: Sequence[str],
    *,
    cwd: Path,
    repo_root: Path,
    own: bool = False,
    leave_out: Sequence[Path] = (),
) -> ResultFiles:
    """The one door for the files a suite left: glob `patterns`, check each match, classify it.

    `patterns` are globs relative to `cwd` (absolute ones allowed, `**` recursive,
    `!glob` excludes). Each match, in sorted order, is
    - kept (`files`): a regular file (links followed) that `paths.refusal` lets in;
    - refused (`ignored`, with the reason, which the caller shows and records): a
      match the path check refuses — it resolves outside the project (a link out of
      it, one to `/dev/zero`, an absolute glob elsewhere) or its name holds a control
      character — or that is no regular file (a FIFO, a device, a socket): never
      opened, never copied;
    - refused too: qaagent's own outputs, `leave_out` (the merged JUnit report, the run
      bundles in the evidence folder; `SuitePlan.own_outputs`) — read back, they would count
      the run's tests again on every run; the user's files beside the bundles are read;
    - left out: a folder or a link to nothing (a glob's `**` matches every folder).

    `own`: `cwd` is a folder of the bundle the suite's tool was told to write its
    reports into (`QAAGENT_JUNIT_DIR`), so a report there that cannot be read is the
    suite's error, never dropped: everything but a link that leads to no regular file
    is kept, and the reader (`formats.source`) refuses with the reason what is a link
    out of the project ("refused: it points outside the project"), a FIFO or device
    ("is not a regular file"), a folder ("is a directory"), or too large. A link to
    nothing, to a folder or to a device is never followed: the bundle sets it aside
    and lists it as not kept.
    """
    matched = _globbed(patterns, cwd, hidden=own)
    found = ResultFiles()
    if own:
        for path in matched:
            if not path.is_symlink() or _kind(path) == "file":
                found.files.append(_printable(path))
        return found
    if not matched:  # (no path to check against the project's root)
        return found
    root = repo_root.resolve()
    for path in matched:
        why = refusal(path, root=root) or _own_output(path, leave_out)
        kind = _kind(path)
        if why is not None:
            found.ignored.append(IgnoredFile(path, why))
        elif kind == "file":
            found.files.append(path)
        elif kind not in ("folder", "nothing"):
            found.ignored.append(IgnoredFile(path, f"{NOT_REGULAR}: a {kind}"))
    return found


def _printable(path: Path) -> Path:
    """A file of the bundle whose name is not UTF-8, renamed to one that is (other bytes as escapes).

    The manifest that lists it is UTF-8; the file and its content stay. Unchanged when it
    cannot be renamed (the reader and the manifest then say what is wrong).
    """
    name = printable(path.name)
    if name == path.name:
        return path
    target = path.with_name(name)
    for number in range(2, 100):
        if not target.exists():
            break
        target = path.with_name(f"{number}-{name}")
    try:
        path.rename(target)
    except OSError:
        return path
    return target


def _globbed(patterns: Sequence[str], cwd: Path, *, hidden: bool) -> list[Path]:
    """What `patterns` match under `cwd` but the `!glob` exclusions, sorted (`match_files`).

    The exclusions are globbed last, and not at all when nothing matched (an attempt that
    wrote no report). `hidden`: hidden files match too (the suite's own folder, as always:
    a `.r.xml` there is not skipped).
    """
    wanted: set[Path] = set()
    excluded: set[Path] = set()
    for pattern in sorted(patterns, key=lambda p: p.startswith("!")):
        negated = pattern.startswith("!")
        if negated and not wanted:
            break
        matches = glob.glob(pattern.removeprefix("!"), root_dir=cwd, recursive=True, include_hidden=hidden)
        (excluded if negated else wanted).update(cwd / match for match in matches)
    return sorted(wanted - excluded)


def _own_output(path: Path, leave_out: Sequence[Path]) -> str | None:
    """Why `path` is not read when it is (or lies in) one of qaagent's own outputs, else None."""
    real = path.resolve()
    for output in leave_out:
        mine = output.resolve()
        if real == mine:
            return f"{OWN_OUTPUT}: the merged report qaagent writes (read back, it counts the tests again)"
        if real != mine and real.is_relative_to(mine) and mine.is_dir() and _written_by_qaagent(real, mine):
            return f"{OWN_OUTPUT}: a run bundle in the evidence folder (read back, it counts the tests again)"
    return None


def _written_by_qaagent(path: Path, evidence_dir: Path) -> bool:
    """`path` (in `evidence_dir`) is what qaagent writes there, not a user's file beside it.

    qaagent writes a run bundle per run (a folder named by its run id, or any folder holding a
    manifest: a renamed or downloaded bundle) and reads the shared durations file; the user's
    own reports in the same folder (`--evidence-dir reports --files 'reports/*.xml'`) are read.
    """
    top = evidence_dir / path.relative_to(evidence_dir).parts[0]
    if top == path:
        return path.name == SHARED_DURATIONS
    return bool(RUN_ID_RE.match(top.name)) or (top / MANIFEST).is_file()


def _kind(path: Path) -> str:
    """What `path` is, links followed: file, folder, nothing (a link to nothing), FIFO, socket or device."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return "nothing"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    return "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"


def refused_note(ignored: Sequence[IgnoredFile]) -> str:
    """`` (2 outside the project, 1 no regular file: not read)`` for the refused of `ignored`; '' if none."""
    counts: dict[str, int] = {}
    for item in ignored:
        category = item.reason.partition(":")[0]
        if category in (OUTSIDE, UNSAFE_NAME, NOT_REGULAR, OWN_OUTPUT):
            counts[category] = counts.get(category, 0) + 1
    if not counts:
        return ""
    return " (" + ", ".join(f"{n} {category}" for category, n in counts.items()) + ": not read)"


def keep_copies(sources: Sequence[Path], folder: Path) -> list[Path]:
    """Copy result files into the bundle (`folder`), numbered in order; the copies are what is read.

    The evidence keeps its own copy (with a checksum): the working tree changes on the
    next run. A file over the reader's size limit, one that is no regular file any more
    (swapped for a FIFO or a link to `/dev/zero` since it was matched) or one that cannot
    be copied is returned as it is, uncopied, so the reader refuses it with the reason.
    """
    copies: list[Path] = []
    for index, source in enumerate(sources, 1):
        target = folder / f"{index:03d}-{source.name}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            copy_regular(source, target, MAX_FILE_BYTES)
        except OSError:
            copies.append(source)  # too large, no regular file, unreadable: the reader says which
            continue
        copies.append(target)
    return copies
