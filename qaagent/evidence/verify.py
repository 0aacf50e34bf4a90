"""Check that an evidence bundle is exactly what its manifest says it is.

`qaagent verify DIR` recomputes the sha256 and size of every file listed in
manifest.json and reports files that are missing, changed, or present but not
listed (added after the fact). The manifest itself is not listed — it is the
list. It is read with the one bundle reader (`qaagent.evidence.read`), entry by
entry so that each bad entry is named. Paths in a manifest are untrusted:
absolute paths or paths leaving the bundle are reported, never opened.
`record_file` is the one change made to a finished bundle's list: a file written into it
afterwards (`qaagent report` rebuilding report.html), so that `verify` passes again.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from qaagent.errors import QAAgentError
from qaagent.evidence.read import MANIFEST, BundleError, FileEntry, open_manifest
from qaagent.files import Digest, atomic_write_text, digest_file, sha256_file

if TYPE_CHECKING:
    from collections.abc import Mapping


def walk(bundle_dir: Path) -> tuple[list[str], list[str], list[str]]:
    """The regular files under `bundle_dir` but the manifest, every other entry, unlistable folders.

    All as sorted POSIX relative paths; "other" are links, FIFOs, devices and
    sockets, which are never followed or opened; a folder that cannot be listed
    is named, never skipped in silence (what it holds cannot be checked).
    """
    regular: list[str] = []
    other: list[str] = []
    unlistable: list[str] = []
    pending = [(bundle_dir, "")]
    while pending:  # each folder listed once; an entry's type from the listing (no `lstat` of each)
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:
            unlistable.append(prefix.removesuffix("/") or ".")
            continue
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((Path(entry.path), f"{rel}/"))
                elif entry.is_file(follow_symlinks=False):
                    if rel != MANIFEST:
                        regular.append(rel)
                else:
                    other.append(rel)
            except OSError:  # gone since it was listed
                continue
    return sorted(regular), sorted(other), sorted(unlistable)


def bundle_files(bundle_dir: Path) -> list[str]:
    """Every regular file under `bundle_dir` except the manifest, as sorted POSIX relative paths."""
    return walk(bundle_dir)[0]


def file_entries(bundle_dir: Path, known: Mapping[str, Digest] | None = None) -> list[dict[str, Any]]:
    """List the manifest's `files`: `{path, sha256, size}` for every file but the manifest.

    `known` holds the digests of files computed while they were written (the large
    reports): those files are not read again.
    """
    entries = []
    for rel in bundle_files(bundle_dir):
        digest = (known or {}).get(rel)
        if digest is None:
            digest = digest_file(bundle_dir / rel)
        entries.append({"path": rel, "sha256": digest.sha256, "size": digest.size})
    return entries


def _load_listing(bundle_dir: Path) -> tuple[tuple[FileEntry, ...] | None, list[str]]:
    """The files the manifest lists (read through the one door), and what it says is wrong."""
    try:
        manifest = open_manifest(bundle_dir).manifest
    except BundleError as exc:
        return None, [exc.message]
    if manifest.status == "running":
        return manifest.files, [f"incomplete: {MANIFEST} says the run is still running (it did not finish)"]
    return manifest.files, [f"not written: {m.path} ({m.reason})" for m in manifest.missing]


def verify_bundle(bundle_dir: Path) -> list[str]:
    """Problems with the bundle at `bundle_dir`; an empty list means it is intact.

    Each problem is one line: ``missing: PATH``, ``changed: PATH``,
    ``unlisted: PATH``, ``not written: PATH (why)`` (a report the run could not
    write, named in the manifest's ``missing``) or ``invalid: ...``.
    """
    if not bundle_dir.is_dir():
        return [f"missing: {bundle_dir} is not a directory"]
    files, problems = _load_listing(bundle_dir)
    if files is None:
        return problems
    listed: set[str] = set()
    for entry in files:
        rel = entry.path  # a path inside the bundle: the reader's `BundlePath` checked it
        listed.add(rel)
        path = bundle_dir / rel
        try:  # a folder on its way that cannot be searched (chmod 000) is its own problem below
            mode = path.lstat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            problems.append(f"missing: {rel}")
            continue
        except OSError as exc:
            problems.append(f"unreadable: {rel} ({exc.strerror})")
            continue
        if not stat.S_ISREG(mode):
            problems.append(f"invalid: {rel} is not a regular file (a link, FIFO or device)")
            continue
        try:
            size = path.stat().st_size
            changed = size != entry.size or sha256_file(path) != entry.sha256
        except OSError as exc:
            problems.append(f"unreadable: {rel} ({exc.strerror})")
            continue
        if changed:
            problems.append(f"changed: {rel}")
    regular, other, unlistable = walk(bundle_dir)
    problems.extend(f"unlisted: {rel}" for rel in regular if rel not in listed)
    problems.extend(f"unreadable: {rel} (a folder that cannot be listed)" for rel in unlistable)
    problems.extend(
        f"invalid: {rel} is not a regular file (a link, FIFO or device)" for rel in other if rel not in listed
    )
    return problems


def record_file(bundle_dir: Path, rel: str, digest: Digest) -> None:
    """Update the manifest entry of `rel`, just written into a finished bundle (sha256, size).

    Other entries are kept as they are; the manifest is replaced atomically, so
    `qaagent verify` passes afterwards. A bundle whose manifest cannot be read is a
    `UsageError`.
    """
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or str(pure) == MANIFEST:
        raise QAAgentError(f"refusing to write {rel!r} into the evidence bundle")
    manifest_path = bundle_dir / MANIFEST
    try:
        manifest = open_manifest(bundle_dir).document  # validated: the entries kept are a manifest's
    except BundleError as exc:
        raise BundleError(f"{bundle_dir}: not an evidence bundle ({exc.message})") from None
    if not isinstance(manifest.get("files"), list):  # the model's default: the document has none
        raise BundleError(f"{bundle_dir}: not an evidence bundle ({MANIFEST} has no 'files' list)")
    key = pure.as_posix()
    entry = {"path": key, "sha256": digest.sha256, "size": digest.size}
    files = [f for f in manifest["files"] if not (isinstance(f, dict) and f.get("path") == key)]
    files.append(entry)
    files.sort(key=lambda f: str(f.get("path")) if isinstance(f, dict) else "")
    manifest["files"] = files
    missing = manifest.get("missing")
    if isinstance(missing, list):
        manifest["missing"] = [m for m in missing if not (isinstance(m, dict) and m.get("path") == key)]
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
