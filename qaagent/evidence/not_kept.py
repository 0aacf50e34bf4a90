"""What the bundle does not keep: what is no regular file, and what no byte scan can redact.

`set_aside` removes links, FIFOs, devices and sockets a suite left (none is ever
followed or opened). Compressed archives, images, videos and PDFs (`kind`) are
removed by the bundle's cleaning (`evidence.cleaning.clean`), whose redaction rewrites text
files and masks the byte forms of each secret in any other file. That cannot see into a compressed stream:
a Playwright `trace.zip` holds the requests a test made (headers included) deflated,
a screenshot shows a page as pixels. Such a file is recognised by its first bytes
(never by its name, which the suite chooses) and kept only when the profile says
so (`reports.keep_unredactable: true`); otherwise it is removed from the bundle and
listed in the manifest's `not_kept` with the reason.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path

#: how a kind of file starts (magic numbers), in the order they are tried
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "zip archive"),
    (b"PK\x05\x06", "zip archive"),
    (b"\x1f\x8b", "gzip file"),
    (b"BZh", "bzip2 file"),
    (b"\xfd7zXZ\x00", "xz file"),
    (b"\x28\xb5\x2f\xfd", "zstd file"),
    (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"\x1a\x45\xdf\xa3", "WebM/Matroska video"),
    (b"%PDF-", "PDF document"),
)
#: bytes `kind` needs to see
HEAD_BYTES = 16


def kind(head: bytes) -> str | None:
    """What an unredactable file is, from its first `HEAD_BYTES` bytes; None when a scan can redact it."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP image"
    if head[4:8] == b"ftyp":
        return "MP4 video"
    return None


def reason(what: str) -> str:
    """The manifest's `not_kept` reason for a file of kind `what`."""
    return f"not kept ({what}: cannot be redacted; reports.keep_unredactable: true keeps it)"


def set_aside(folder: Path, others: Sequence[Path]) -> list[dict[str, str]]:
    """Remove what is no regular file from the bundle (links, FIFOs, devices, sockets) and say so.

    `others` are those entries under `folder`, as `files_under` listed them (in the same walk
    as the regular files: no second listing, no `lstat` of every entry). A suite may leave
    anything in its folders: a dangling link, a link to a folder, to `/dev/zero` or to
    `~/.ssh/id_rsa`, a FIFO. None is followed, opened, hashed or kept: each is unlinked (which
    never touches its target) and listed in the manifest's `not_kept` as ``not kept (symlink to …)``
    (paths relative to `folder`).
    """
    not_kept: list[dict[str, str]] = []
    for rel, path in sorted((path.relative_to(folder).as_posix(), path) for path in others):
        try:
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                why = f"symlink to {path.readlink()}"
            elif stat.S_ISDIR(mode) or stat.S_ISREG(mode):
                continue  # not what was listed any more: the walk of the regular files decides
            else:
                why = "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"
            path.unlink()
        except OSError:
            continue
        not_kept.append({"path": rel, "why": f"not kept ({why})"})
    return not_kept


def files_under(
    folder: Path,
    base: Path,
    dropped: list[dict[str, str]],
    stuck: list[str],
    others: list[Path] | None = None,
) -> list[Path]:
    """Every regular file under `folder`, sorted, no link followed: the one walker of the bundle's cleaning.

    `rglob` silently skips a folder it cannot list, and a suite may leave one (`chmod 000`,
    `chmod 333`): its files would be neither redacted nor removed. Such a folder is made
    listable when qaagent owns it (`u+rwx`) and walked; else it is removed, with an entry
    in `dropped` (paths relative to `base`); if even that fails, it is named in `stuck`
    (the caller fails the run: `evidence.cleaning.UnredactedError`). `others` gets every
    entry that is neither a folder nor a regular file (links, FIFOs, devices, sockets:
    `set_aside`), from the same listing (the entry's type, no `lstat`).
    """
    found: list[Path] = []
    pending = [folder]
    while pending:
        here = pending.pop()
        try:
            entries = _listing(here)
        except OSError as error:
            entries = _made_listable(here, base, error, dropped, stuck)
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                found.append(Path(entry.path))
            elif others is not None:
                others.append(Path(entry.path))
    return sorted(found)


def _listing(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return list(entries)


def _made_listable(
    folder: Path, base: Path, error: OSError, dropped: list[dict[str, str]], stuck: list[str]
) -> list[os.DirEntry[str]]:
    """The entries of a folder that could not be listed, after `chmod u+rwx`; else it goes (no entries)."""
    try:
        folder.chmod(stat.S_IMODE(folder.lstat().st_mode) | stat.S_IRWXU)  # only its owner may
        return _listing(folder)
    except OSError:
        pass
    rel = _relative(folder, base)
    why = f"a folder qaagent could not list: {error.strerror or error}"
    try:
        shutil.rmtree(folder)
    except OSError as second:
        stuck.append(f"{rel}/ ({why}; cannot remove it: {second.strerror or second})")
    else:
        dropped.append({"path": rel, "why": f"not kept ({why})"})
    return []


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.resolve().relative_to(base.resolve()).as_posix()
