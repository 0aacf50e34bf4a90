"""The one door untrusted result files come through: open, size-check, read in chunks.

A result file comes from whatever the project's tests wrote, so before a byte
is parsed it must be a non-empty regular file within the size limit, inside the
project (a link that resolves outside is refused) and openable without blocking
(a FIFO planted where the report should be must not hang us). Its bytes are then
read in `CHUNK_BYTES` pieces, refusing to go past `MAX_FILE_BYTES` even when the
file grows after the check.

Also here, because every reader needs them: `CappedText` (text cut to
`MAX_FIELD_BYTES` with a marker that says how much was cut), `cap`,
`seconds` (a duration that is finite, non-negative and not absurd) and
`first_line`. Every reader raises `ResultFileError` with a one-line reason that
starts with the file's label.
"""

# os.path on purpose: paths are compared lexically; symlinks are resolved only where we ask.
# ruff: noqa: PTH100

from __future__ import annotations

import codecs
import contextlib
import functools
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from qaagent import paths
from qaagent.errors import ResultFileError
from qaagent.text import first_line as any_first_line

if TYPE_CHECKING:
    from collections.abc import Iterator

#: files larger than this are refused (bytes); module constants so callers (and tests) can tune them
MAX_FILE_BYTES = 256 * 1024 * 1024
#: bytes read at a time
CHUNK_BYTES = 64 * 1024
#: message, details, stdout, stderr and names are cut to this many UTF-8 bytes each
MAX_FIELD_BYTES = 64 * 1024
#: a duration beyond this many seconds (about 31 years) is nonsense and becomes 0.0
MAX_SECONDS = 1e9


class CappedText:
    """Text capped at `MAX_FIELD_BYTES` UTF-8 bytes, counting what was cut."""

    __slots__ = ("dropped", "parts", "size")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def add(self, text: str) -> None:
        """Append `text`, or count it as dropped once the cap is reached."""
        if self.dropped:
            self.dropped += len(text.encode("utf-8", "surrogatepass"))
            return
        room = MAX_FIELD_BYTES - self.size
        # Cheap check first: a str of n characters has at most 4n UTF-8 bytes.
        if len(text) * 4 <= room:
            self.parts.append(text)
            self.size += len(text.encode("utf-8", "surrogatepass"))
            return
        data = text.encode("utf-8", "surrogatepass")
        if len(data) <= room:
            self.parts.append(text)
            self.size += len(data)
            return
        kept = data[:room].decode("utf-8", "ignore")
        kept_size = len(kept.encode("utf-8", "surrogatepass"))
        self.parts.append(kept)
        self.size += kept_size
        self.dropped = len(data) - kept_size

    def value(self) -> str:
        """The kept text, with a marker saying how many bytes were cut."""
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n… [truncated {self.dropped} bytes]"
        return text


def cap(value: str) -> str:
    """`value` cut to `MAX_FIELD_BYTES` with the same marker as `CappedText`."""
    if len(value) * 4 <= MAX_FIELD_BYTES:
        return value
    text = CappedText()
    text.add(value)
    return text.value()


def seconds(value: object, *, scale: float = 1.0) -> float:
    """A duration in seconds from a number or numeric text times `scale`; anything odd is 0.0.

    Negative, NaN, infinite, non-numeric and absurd (over `MAX_SECONDS`) values
    all become 0.0: a hostile file must not make a report say a test ran for
    10^300 seconds. Booleans are not numbers here.
    """
    number = 0.0
    if isinstance(value, str):  # the common case: an attribute's text
        if len(value) <= 64:  # noqa: PLR2004 - no honest number is longer
            try:
                number = float(value)
            except ValueError:
                number = 0.0
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    number *= scale
    # NaN fails both comparisons; infinities and negatives fail one
    return number if 0 <= number <= MAX_SECONDS else 0.0


#: the first non-blank line of a text, stripped, not cut (a reader's message is capped by `cap`)
first_line = functools.partial(any_first_line, limit=None)


_ERROR_NAME = re.compile(r"^([A-Za-z_$][\w$.]*)(?: \[[A-Z_]+\])?:")


def error_name(text: str) -> str:
    """The exception's name a JavaScript or Python error text starts with (``TypeError: …``), or ''."""
    match = _ERROR_NAME.match(text)
    return match.group(1) if match else ""


def label_of(path: Path, repo_root: Path) -> str:
    """How error messages name the file: `paths.shown` (relative to the repository, controls escaped)."""
    return paths.shown(path, repo_root)


def _check_location(path: Path, repo_root: Path, label: str) -> str:
    """Return the absolute path; refuse a file in the project (or a link) that resolves outside it."""
    real = paths.link_out(path, root=repo_root)
    if real is not None:
        raise ResultFileError(f"{label}: refused: it points outside the project (to {real})")
    return os.path.abspath(path)


def check_kind(info: os.stat_result, label: str, kind: str) -> None:
    """Refuse anything but a non-empty regular file within the size limit."""
    if stat.S_ISDIR(info.st_mode):
        raise ResultFileError(f"{label}: is a directory, not a {kind}")
    if not stat.S_ISREG(info.st_mode):
        raise ResultFileError(f"{label}: is not a regular file")
    if info.st_size == 0:
        raise ResultFileError(f"{label}: is empty")
    if info.st_size > MAX_FILE_BYTES:
        raise ResultFileError(f"{label}: is {info.st_size} bytes, more than the {MAX_FILE_BYTES} byte limit")


def open_result_file(path: Path, repo_root: Path, label: str, *, kind: str = "result file") -> BinaryIO:
    """Open a result file after checking it is a regular, bounded file inside the project.

    `kind` names what was expected in the directory error ("JUnit file", "TAP file", ...).
    """
    absolute = _check_location(path, repo_root, label)
    try:
        # O_NONBLOCK: a FIFO planted where the report should be must not hang us.
        fd = os.open(absolute, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ResultFileError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise ResultFileError(f"{label}: is a directory, not a {kind}") from None
    except OSError as error:
        raise ResultFileError(f"{label}: cannot be opened ({error.strerror})") from None
    try:
        check_kind(os.fstat(fd), label, kind)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


class ProblemError(Exception):
    """A reader's own complaint about the content, raised without the label (`reading` adds it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@contextlib.contextmanager
def reading(label: str) -> Iterator[None]:
    """Turn what reading a file can raise into one `ResultFileError` that names the file."""
    try:
        yield
    except ProblemError as error:
        raise ResultFileError(f"{label}: {error.reason}") from None
    except TooLargeError as error:
        raise ResultFileError(f"{label}: {error}") from None
    except OSError as error:
        raise read_error(label, error) from None


class TooLargeError(ResultFileError):
    """The file grew past `MAX_FILE_BYTES` while it was read (no label: the reader adds it)."""


def bounded_chunks(handle: BinaryIO) -> Iterator[bytes]:
    """Yield the file's bytes in `CHUNK_BYTES` pieces, refusing to read past `MAX_FILE_BYTES`."""
    total = 0
    while chunk := handle.read(CHUNK_BYTES):
        total += len(chunk)
        if total > MAX_FILE_BYTES:
            raise TooLargeError(f"is larger than the {MAX_FILE_BYTES} byte limit")
        yield chunk


#: a line longer than this (TAP, JSON lines) is not kept: `bounded_lines` yields None for it
MAX_LINE_BYTES = 1024 * 1024


def bounded_lines(handle: BinaryIO) -> Iterator[str | None]:
    """Yield the file's lines (without the newline) decoded as UTF-8 with replacement.

    A line longer than `MAX_LINE_BYTES` (counted in characters) is read past
    without being kept and yields None, so one endless line cannot fill memory.
    A leading BOM is dropped.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    held = ""
    too_long = False  # the line being read is already too long: its rest is dropped
    started = False
    for chunk in bounded_chunks(handle):
        text = decoder.decode(chunk)
        if not started and text:
            started = True
            text = text.removeprefix("\ufeff")
        parts = text.split("\n")
        tail = parts.pop()  # the part after the chunk's last newline: not a whole line yet
        if parts:
            first = parts[0]
            parts[0] = "" if too_long else held + first
            for index, line in enumerate(parts):
                if (index == 0 and too_long) or len(line) > MAX_LINE_BYTES:
                    yield None
                else:
                    yield line.removesuffix("\r")
            held, too_long = "", False
        if not too_long:
            held += tail
            if len(held) > MAX_LINE_BYTES:
                held, too_long = "", True
    tail = decoder.decode(b"", final=True)
    if too_long:
        yield None
    elif held + tail:
        yield (held + tail).removesuffix("\r")


def read_error(label: str, error: OSError) -> ResultFileError:
    """The error for a file that opened but could not be read."""
    return ResultFileError(f"{label}: cannot be read ({error.strerror})")


__all__ = [
    "CHUNK_BYTES",
    "MAX_FIELD_BYTES",
    "MAX_FILE_BYTES",
    "MAX_LINE_BYTES",
    "MAX_SECONDS",
    "CappedText",
    "ProblemError",
    "TooLargeError",
    "bounded_chunks",
    "bounded_lines",
    "cap",
    "check_kind",
    "error_name",
    "first_line",
    "label_of",
    "open_result_file",
    "read_error",
    "reading",
    "seconds",
]
