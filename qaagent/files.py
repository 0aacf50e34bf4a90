"""Writing and copying files so that a reader sees the old content or the new, never half.

A run can be killed at any moment (timeout of the CI job, Ctrl-C, a full
disk); the manifest and the reports must then be either absent, the previous
version or complete. Each write goes to a temporary file in the same
directory and replaces the target with `os.replace`. The manifest is also
flushed to disk (`atomic_open`); the large reports are streamed by a
`StreamedFile`, which computes their checksum on the way and leaves the
flushing to the kernel (docs/decisions.md: they are complete or absent by the
rename either way, and a CI machine that loses power loses the job anyway).
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import queue
import stat
import tempfile
import threading
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
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


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return digest_file(path).sha256


def digest_file(path: Path) -> Digest:
    """The sha256 and size of a file's bytes, in one read (no `stat` besides)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return Digest(digest.hexdigest(), size)


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
    with _open_regular(path, limit) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise FileTooLargeError(errno.EFBIG, f"is more than {limit} bytes", str(path))
    return data


def read_start(path: Path, limit: int) -> bytes:
    """The first `limit` bytes of the regular file at `path` (all of a smaller one).

    Checked as `read_regular` checks: a FIFO or a device is refused, never waited on or read
    without end.
    """
    with _open_regular(path, None) as handle:
        return handle.read(limit)


def append_regular(path: Path, text: str) -> None:
    """Append `text` (UTF-8) to the regular file at `path`, made if missing; never through a link.

    A file a suite could have replaced: a link (even to a file) is refused (`O_NOFOLLOW`:
    nothing is written outside), so is a FIFO or a device (opened without blocking, checked on
    the open descriptor). The errors are the caller's to report.
    """
    with open_append(path) as handle:
        handle.write(text.encode("utf-8", "replace"))


def open_append(path: Path) -> IO[bytes]:
    """The regular file at `path` (made if missing) opened to append, unbuffered; never a link.

    The one way qaagent opens a file a suite can replace (its log, `output.log`) for writing:
    a link is refused (`O_NOFOLLOW`), a FIFO or a device too (opened without blocking, so a
    FIFO without a reader is an error at once, not a hang; checked on the open descriptor).
    Unbuffered: a write that fails (ENOSPC, EFBIG) fails there. The errors are the caller's.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags, 0o644)
    try:
        _check_regular(os.fstat(fd), path, None)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "ab", buffering=0)
    except BaseException:
        os.close(fd)
        raise


#: bytes copied at a time by `copy_regular`
_COPY_CHUNK = 1024 * 1024


def copy_regular(source: Path, target: Path, limit: int | None = None) -> None:
    """Copy the regular file at `source` to `target`, at most `limit` bytes (None: any size).

    Opened and checked as `read_regular` does, on the open descriptor: a file swapped,
    after it was matched, for a FIFO (it would hang the copy) or a link to `/dev/zero`
    (it would fill the disk) is refused, not copied; so is a file over `limit` or one
    growing past it while it is copied. On any error no `target` is left. The errors
    are `read_regular`'s.
    """
    with _open_regular(source, limit) as handle:
        try:
            with target.open("wb") as out:
                _copy_bounded(handle, out, limit, source)
        except BaseException:
            target.unlink(missing_ok=True)
            raise


def _copy_bounded(handle: IO[bytes], out: IO[bytes], limit: int | None, source: Path) -> None:
    copied = 0
    while chunk := handle.read(_COPY_CHUNK):
        copied += len(chunk)
        if limit is not None and copied > limit:
            raise FileTooLargeError(errno.EFBIG, f"is more than {limit} bytes", str(source))
        out.write(chunk)


def _open_regular(path: Path, limit: int | None) -> IO[bytes]:
    """`path` opened for reading without blocking, refused unless a regular file of at most `limit` bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    handle = os.fdopen(fd, "rb")
    try:
        _check_regular(os.fstat(fd), path, limit)
    except BaseException:
        handle.close()
        raise
    return handle


def _check_regular(info: os.stat_result, path: Path, limit: int | None) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "is a folder" if stat.S_ISDIR(info.st_mode) else "is no regular file (a FIFO, device or socket)"
        )
        raise NotRegularFileError(errno.EINVAL, kind, str(path))
    if limit is not None and info.st_size > limit:
        raise FileTooLargeError(errno.EFBIG, f"is {info.st_size} bytes", str(path))


def display_path(path: Path, root: Path | str) -> str:
    """`path` relative to `root` (the workspace) when inside it, else as given."""
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Digest:
    """The sha256 and size of a file as it was written."""

    sha256: str
    size: int


#: characters collected before they are encoded and handed to the writing thread
_TEXT_CHUNK = 256 * 1024
#: chunks waiting for the writing thread at most (bounds the memory in flight)
_QUEUE = 8
#: zlib level of compressed files and sections: on the benchmark's JUnit, level 1 is 2.6x
#: faster than 6 and gives 1.5x the size (docs/decisions.md)
COMPRESS_LEVEL = 1
_RAW, _PACKED, _PACK_END = 0, 1, 2


class StreamedFile:
    """A file written atomically by a background thread that also computes its sha256.

    The caller's thread only joins and encodes text; compressing (zlib releases the
    GIL), hashing and writing run beside it. `gzip=True` writes the whole file as gzip;
    otherwise text between `begin_packed` and `end_packed` is written as the base64 of
    its zlib stream (report.html's data block). `copy` is a second file the same bytes
    go to (`--junit`): atomically onto a regular file, into a device or pipe as it is;
    a problem there is kept in `copy_error` and never stops the file itself.

    A write error (a full disk) is raised by the next `write` or by `close`; `abort`
    removes the temporary file. The target appears only when `close` succeeds.
    """

    def __init__(self, path: Path, *, gzip: bool = False, copy: Path | None = None) -> None:
        self.path = path
        self.copy_error: OSError | None = None
        self._error: OSError | None = None
        self._tmp: Path | None = None
        self._out: IO[bytes] | None = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            self._tmp = Path(tmp)
            self._out = os.fdopen(fd, "wb")
        except OSError as error:  # raised by the first write: the caller's writer is then stopped
            self._error = error
        self._copy, self._copy_tmp, self._copy_out = self._open_copy(copy)
        self._gzip = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, 31) if gzip else None
        self._packed: zlib._Compress | None = None
        self._carry = b""  # bytes of the packed stream not yet base64-encoded (a multiple of 3 is)
        self._sha = hashlib.sha256()
        self._size = 0
        self._parts: list[str] = []
        self._pending = 0
        self._mode = _RAW
        self._queue: queue.Queue[tuple[int, bytes] | None] = queue.Queue(_QUEUE)
        self._thread = threading.Thread(target=self._work, name=f"write-{path.name}", daemon=True)
        self._thread.start()

    @property
    def temporary(self) -> Path | None:
        """The temporary file being written (it becomes `path` on `close`), if one was made."""
        return self._tmp

    # -- the caller's side -----------------------------------------------------------------------

    def write(self, text: str) -> None:
        """Append `text` (raises the writing thread's `OSError`, if it had one)."""
        self._parts.append(text)
        self._pending += len(text)
        if self._pending >= _TEXT_CHUNK:
            self._flush()

    def begin_packed(self) -> None:
        """Text written from now on goes into the base64 of one zlib stream."""
        self._flush()
        self._mode = _PACKED

    def end_packed(self) -> None:
        """End the packed section (the zlib stream is finished and padded)."""
        self._flush()
        self._put(_PACK_END, b"")
        self._mode = _RAW

    def close(self) -> Digest:
        """Finish: the file (and its copy) replace their targets; its digest."""
        self._flush()
        self._queue.put(None)
        self._thread.join()
        if self._error is not None or self._out is None or self._tmp is None:
            error = self._error or OSError("not written")
            self.abort()
            raise error
        self._out.close()
        self._tmp.chmod(FILE_MODE)
        self._tmp.replace(self.path)
        self._close_copy()
        return Digest(self._sha.hexdigest(), self._size)

    def abort(self) -> None:
        """Stop and remove what was written (the target keeps what it had)."""
        if self._thread.is_alive():
            self._error = self._error or OSError("aborted")
            self._queue.put(None)
            self._thread.join()
        for handle in (self._out, self._copy_out):
            if handle is not None:
                handle.close()
        for tmp in (self._tmp, self._copy_tmp):
            if tmp is not None:
                tmp.unlink(missing_ok=True)

    def _flush(self) -> None:
        if self._error is not None:
            raise self._error
        if self._parts:
            data = "".join(self._parts).encode("utf-8", "replace")
            self._parts = []
            self._pending = 0
            self._put(self._mode, data)

    def _put(self, kind: int, data: bytes) -> None:
        self._queue.put((kind, data))

    # -- the writing thread ----------------------------------------------------------------------

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep taking chunks so the caller never blocks; they are dropped
            kind, data = item
            try:
                self._emit(self._encode(kind, data))
            except OSError as error:
                self._error = error
        if self._error is None and self._out is not None:
            try:
                if self._gzip is not None:
                    self._emit(self._gzip.flush())
                self._out.flush()
            except OSError as error:
                self._error = error

    def _encode(self, kind: int, data: bytes) -> bytes:
        if self._gzip is not None:
            return self._gzip.compress(data)
        if kind == _RAW:
            return data
        if self._packed is None:
            self._packed = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, 15)
        packed = self._carry + (self._packed.compress(data) if kind == _PACKED else self._packed.flush())
        if kind == _PACK_END:
            self._packed, self._carry = None, b""
            return base64.b64encode(packed)
        whole = len(packed) - len(packed) % 3
        self._carry = packed[whole:]
        return base64.b64encode(packed[:whole])

    def _emit(self, data: bytes) -> None:
        if not data or self._out is None:
            return
        self._out.write(data)
        self._sha.update(data)
        self._size += len(data)
        if self._copy_out is not None:
            try:
                self._copy_out.write(data)
            except OSError as error:
                self._copy_failed(error)

    # -- the copy ------------------------------------------------------------------------------------

    def _open_copy(self, copy: Path | None) -> tuple[Path | None, Path | None, IO[bytes] | None]:
        if copy is None or _same_file(copy, self.path):
            return None, None, None
        try:
            if copy.exists() and not copy.is_file():
                if copy.is_dir():
                    msg = "it is a folder"
                    raise IsADirectoryError(msg)
                return copy, None, copy.open("wb")  # a device or a pipe: written into, never replaced
            copy.parent.mkdir(parents=True, exist_ok=True)
            tmp = copy.with_name(f".{copy.name}.{os.getpid()}.tmp")
            return copy, tmp, tmp.open("wb")
        except OSError as error:
            self.copy_error = error
            return None, None, None

    def _copy_failed(self, error: OSError) -> None:
        self.copy_error = error
        if self._copy_out is not None:
            self._copy_out.close()
        self._copy_out = None
        if self._copy_tmp is not None:
            self._copy_tmp.unlink(missing_ok=True)

    def _close_copy(self) -> None:
        if self._copy_out is None:
            return
        try:
            self._copy_out.close()
            if self._copy_tmp is not None and self._copy is not None:
                self._copy_tmp.chmod(FILE_MODE)
                self._copy_tmp.replace(self._copy)
        except OSError as error:
            self._copy_out = None
            self._copy_failed(error)
        self._copy_out = None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
