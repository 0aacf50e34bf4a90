"""Writing and copying files so that a reader sees the old content or the new, never half.

A run can be killed at any moment (timeout of the CI job, Ctrl-C, a full
disk); the manifest and the reports must then be either absent, the previous
version or complete. Each write goes to a temporary file in the same
directory, is flushed to disk, and replaces the target with `os.replace`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

#: permissions of written files (tempfile.mkstemp would leave 0600)
FILE_MODE = 0o644
_CHUNK = 1 << 20


@contextmanager
def atomic_open(path: Path, *, encoding: str = "utf-8") -> Iterator[IO[str]]:
    """Open a text file for writing that appears at `path` only when the block succeeds."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(FILE_MODE)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically."""
    with atomic_open(path) as handle:
        handle.write(text)


def copy_to(source: Path, target: Path) -> None:
    """Copy `source` to `target`: atomically onto a file, written into a device or pipe.

    A target that exists and is not a regular file (`--junit /dev/stdout`,
    `/dev/null`) is written into, never replaced by renaming a temporary file
    over it (as root that would replace /dev/null). A folder is an
    `IsADirectoryError`; other problems are `OSError`s.
    """
    if target.exists() and not target.is_file():
        if target.is_dir():
            msg = "it is a folder"
            raise IsADirectoryError(msg)
        with source.open("rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class NotRegularFileError(OSError):
    """A path that must be a regular file names a FIFO, a device, a socket or a folder."""


class FileTooLargeError(OSError):
    """A file larger than its reader reads."""


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them.

    Opened without blocking (a FIFO must not hang the reader), checked to be a
    regular file on the open descriptor (nothing can be swapped in between), and
    read no further than `limit` + 1 bytes (a file growing while it is read, or
    `/dev/zero` behind a symlink, cannot fill the memory). FileNotFoundError,
    `NotRegularFileError`, `FileTooLargeError` and other OSErrors are the caller's to report.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = (
                "is a folder"
                if stat.S_ISDIR(info.st_mode)
                else "is no regular file (a FIFO, device or socket)"
            )
            raise NotRegularFileError(errno.EINVAL, kind, str(path))
        if info.st_size > limit:
            raise FileTooLargeError(errno.EFBIG, f"is {info.st_size} bytes", str(path))
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise FileTooLargeError(errno.EFBIG, f"is more than {limit} bytes", str(path))
    return data
