"""What the bundle does not keep: what is no regular file, and what no byte scan can redact.

`set_aside` removes links, FIFOs, devices and sockets a suite left (none is ever
followed or opened). `set_aside_unredactable` removes compressed archives, images,
videos and PDFs. The bundle's redaction (`evidence.bundle`) rewrites text files and masks the byte
forms of each secret in any other file. That cannot see into a compressed stream:
a Playwright `trace.zip` holds the requests a test made (headers included) deflated,
a screenshot shows a page as pixels. Such a file is recognised by its first bytes
(never by its name, which the suite chooses) and kept only when the profile says
so (`reports.keep_unredactable: true`); otherwise it is removed from the bundle and
listed in the manifest's `not_kept` with the reason.
"""

from __future__ import annotations

import stat
from collections.abc import Set as AbstractSet
from pathlib import Path

from qaagent.evidence.verify import walk

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


def set_aside_unredactable(
    bundle_dir: Path, logs: AbstractSet[Path], folder: Path | None = None
) -> list[dict[str, str]]:
    """Remove the files the suites left that a byte scan cannot redact; their `not_kept` entries.

    Recognised by their first bytes (`kind`); `logs`, qaagent's own attempt logs
    (resolved), are text it wrote and redacted as it wrote them: never removed.
    `folder`: only the files under it (one suite's, as it ends); default every suite's.
    """
    removed: list[dict[str, str]] = []
    for path in sorted((folder or bundle_dir / "suites").rglob("*")):
        if path.is_symlink() or not path.is_file() or path.resolve() in logs:
            continue
        try:
            with path.open("rb") as src:
                what = kind(src.read(HEAD_BYTES))
            if what is None:
                continue
            path.unlink()
        except OSError:
            continue
        removed.append({"path": path.relative_to(bundle_dir).as_posix(), "why": reason(what)})
    return removed
