"""Files a byte scan cannot redact: compressed archives, images, videos, PDF.

The bundle's redaction (`evidence.bundle`) rewrites text files and masks the byte
forms of each secret in any other file. That cannot see into a compressed stream:
a Playwright `trace.zip` holds the requests a test made (headers included) deflated,
a screenshot shows a page as pixels. Such a file is recognised by its first bytes
(never by its name, which the suite chooses) and kept only when the profile says
so (`reports.keep_unredactable: true`); otherwise it is removed from the bundle and
listed in the manifest's `not_kept` with the reason.
"""

from __future__ import annotations

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
