"""The one treatment of the files a run did not write itself: set aside, removed or redacted.

A suite's folder as the suite ends (`Bundle.seal`), the whole bundle at the run's end
(`Bundle.finish`) and a bundle a killed run left (`seal_abandoned`, the action's post step)
all go through `clean`: links, FIFOs, devices and sockets are set aside (`not_kept`), files no
scan can redact are removed unless the profile keeps them, and every other file is redacted
in place (a text file as text, a binary one byte by byte), rewritten only when its redaction
changed it. A file that can be neither redacted nor removed fails the run (`UnredactedError`).
"""

from __future__ import annotations

import errno
import io
import json
import os
from typing import TYPE_CHECKING

from qaagent.errors import QAAgentError
from qaagent.evidence import manifest as mf
from qaagent.evidence import not_kept
from qaagent.evidence.read import MANIFEST, BundleError, open_manifest
from qaagent.files import atomic_write_text
from qaagent.redact_stream import copy_redacted, copy_redacted_bytes, text_encoding

if TYPE_CHECKING:
    from collections.abc import Set as AbstractSet
    from pathlib import Path

    from qaagent.redact import Redactor


#: bytes looked at to tell a text file (UTF-8 or UTF-16) from a binary one (`redact_stream.text_encoding`)
_SNIFF_BYTES = 8192


def _treat_file(path: Path, redactor: Redactor, *, removable: bool, spared: bool) -> str | None:
    """One file a suite left, opened once: removed when no scan can redact it, else redacted.

    `removable`: a file of a kind no scan can redact (`not_kept.kind`) is removed, and its
    kind returned. `spared`: not redacted (qaagent's own, redacted as it was written). A text
    file (UTF-8, UTF-16) is redacted; a binary one (a NUL in its first 8 KiB, not UTF-16) has
    the bytes of every form of every secret masked in place. Either is rewritten only when the
    redaction changed it, or when it has other names (a hard link to a file outside the
    bundle: the bundle keeps a copy of its own). An OSError is the caller's (no room for the
    redacted copy: the raw file goes).
    """
    with path.open("rb") as src:
        head = src.read(_SNIFF_BYTES)
        if removable and (what := not_kept.kind(head[: not_kept.HEAD_BYTES])) is not None:
            try:
                path.unlink()
            except OSError:
                pass  # kept: redacted below as any other file
            else:
                return what
        if spared or not head:  # an empty file holds no secret (a command suite's `.started` marker)
            return None
        linked = os.fstat(src.fileno()).st_nlink > 1
        whole = len(head) < _SNIFF_BYTES  # the whole file is in `head`: redacted in memory
    encoding = text_encoding(head)
    if not whole:
        _redact_streamed(path, redactor, encoding, linked=linked)
        return None
    data = _redacted(head, redactor, encoding)
    if data != head or linked:
        tmp = path.with_name(f".{path.name}.redacting")
        try:
            tmp.write_bytes(data)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
    return None


def _redact_streamed(path: Path, redactor: Redactor, encoding: str | None, *, linked: bool) -> None:
    """A larger file redacted through a copy: a text file always rewritten, a binary one when it must be."""
    tmp = path.with_name(f".{path.name}.redacting")
    try:
        if encoding is not None:
            try:
                with path.open("rb") as src, tmp.open("wb") as dst:
                    copy_redacted(src, dst, redactor, encoding=encoding)
            except UnicodeDecodeError:  # not UTF-16 after all (an odd number of bytes): as binary
                pass
            else:
                tmp.replace(path)
                return
        with path.open("rb") as src, tmp.open("wb") as dst:
            found = copy_redacted_bytes(src, dst, redactor)
        if found or linked:
            tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _redacted(data: bytes, redactor: Redactor, encoding: str | None) -> bytes:
    """A small file's bytes redacted in memory, as `_treat_file` would stream them."""
    out = io.BytesIO()
    if encoding is not None:
        try:
            copy_redacted(io.BytesIO(data), out, redactor, encoding=encoding)
        except UnicodeDecodeError:  # not UTF-16 after all (an odd number of bytes): as binary
            out = io.BytesIO()
        else:
            return out.getvalue()
    copy_redacted_bytes(io.BytesIO(data), out, redactor)
    return out.getvalue()


#: how `clean` says why a file was removed: its redacted copy could not be written
NOT_REDACTED = "could not be redacted"
#: added when there was no room for it — a full disk, a quota, a file-size limit (`ulimit -f`),
#: as the reports' writers treat them: the run then ends as one whose reports could not all be
#: written (exit 3, the file named in the manifest's `missing`)
DISK_FULL = "the disk is full"
NO_ROOM = {errno.ENOSPC: DISK_FULL, errno.EDQUOT: DISK_FULL, errno.EFBIG: "over the file-size limit"}


def clean(
    bundle_dir: Path,
    folder: Path,
    redactor: Redactor,
    *,
    kept: AbstractSet[Path],
    unredacted: AbstractSet[Path],
    keep: bool,
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The one treatment of files qaagent did not write itself, under `folder` (resolved, in the bundle).

    Links, FIFOs, devices and sockets set aside; files no scan can redact removed unless
    `keep` (never those in `kept`); every other regular file redacted but those in
    `unredacted` (resolved paths). Returns the `not_kept` entries: set aside, and removed.
    Used as a suite ends (`Bundle.seal`), at the run's end (`Bundle.finish`) and by the
    action's post step on a bundle a killed run left (`seal_abandoned`).
    """
    # (a resolved folder under `bundle_dir` as given: then that is resolved too, no `lstat` asked)
    inside = bundle_dir if folder.is_relative_to(bundle_dir) else bundle_dir.resolve()
    base = folder.relative_to(inside).as_posix()
    prefix = "" if base == "." else f"{base}/"
    stuck: list[str] = []
    gone: list[dict[str, str]] = []
    others: list[Path] = []
    # first: every folder listable; the one walk of the folder, shared by the steps below
    found = not_kept.files_under(folder, inside, gone, stuck, others)
    # links, FIFOs, devices: none of them is in `found`
    early = [{"path": f"{prefix}{e['path']}", "why": e["why"]} for e in not_kept.set_aside(folder, others)]
    unredactable: list[dict[str, str]] = []
    failed: list[dict[str, str]] = []
    for path in found:  # resolved paths: the walk follows no link in a resolved folder
        spared = path in unredacted
        removable = not keep and path not in kept
        if spared and not removable:
            continue  # qaagent's own file, redacted as it was written: not even opened
        try:
            what = _treat_file(path, redactor, removable=removable, spared=spared)
        except OSError as error:  # no room for the redacted copy (a full disk): the raw file goes
            rel = f"{prefix}{path.relative_to(folder).as_posix()}"
            why = f"{NOT_REDACTED}: {error.strerror or error}"
            if error.errno in NO_ROOM:
                why += f" ({NO_ROOM[error.errno]})"
            try:
                path.unlink()  # needs no space
            except OSError as second:
                stuck.append(f"{rel} ({why}; cannot remove it: {second.strerror or second})")
            else:
                failed.append({"path": rel, "why": f"not kept ({why})"})
            continue
        if what is not None:
            unredactable.append({"path": path.relative_to(inside).as_posix(), "why": not_kept.reason(what)})
    dropped = [*gone, *unredactable, *failed]
    if stuck:
        message = (
            f"the evidence bundle {bundle_dir} holds a file qaagent could neither redact nor remove: "
            f"{', '.join(stuck)}; delete it before the bundle is shared"
        )
        raise UnredactedError(message, early, dropped)
    return early, dropped


class UnredactedError(QAAgentError):
    """A file of the bundle could neither be redacted nor removed: the run fails (exit 3), naming it.

    `early` and `dropped` are what `clean` set aside and removed before it gave up.
    """

    def __init__(self, message: str, early: list[dict[str, str]], dropped: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.early = early
        self.dropped = dropped


def seal_abandoned(bundle_dir: Path, redactor: Redactor) -> int | None:
    """Clean a bundle whose run was killed before `Bundle.finish` (its manifest says `running`).

    Every file but the manifest gets `clean` (what a suite still running left raw: its JUnit
    file, artifacts, files its tool wrote), with the run's own `keep_unredactable`; what was
    set aside joins the manifest's `not_kept`, which keeps saying `running` (`verify`:
    incomplete). Returns how many entries `not_kept` gained, or None when the bundle was
    finished (or is no bundle): then nothing is touched.
    """
    try:
        opened = open_manifest(bundle_dir)
    except BundleError:
        return None
    if opened.manifest.status != "running":
        return None
    inside = bundle_dir.resolve()
    manifest = inside / MANIFEST
    keep = opened.manifest.settings.keep_unredactable is True
    early, dropped = clean(inside, inside, redactor, kept={manifest}, unredacted={manifest}, keep=keep)
    document = dict(opened.document)
    previous = document.get("not_kept")
    document["not_kept"] = [*(previous if isinstance(previous, list) else []), *early, *dropped]
    atomic_write_text(
        manifest, json.dumps(mf.redacted(document, redactor), indent=2, ensure_ascii=False) + "\n"
    )
    return len(early) + len(dropped)
