"""Read JUnit XML written by test tools into `TestCase` values, treating it as hostile.

A suite's JUnit file comes from whatever the project's tests print, so it may
be huge, truncated, not XML, mis-encoded, or crafted (entity expansion, external
entities, absurd nesting). Every such file becomes a `JUnitError` with a
one-line reason — never a crash, a hang or unbounded memory — and the cases
read before the problem stay valid.

The parsing itself (expat, bounded elements and text) is `qaagent.junit.parse`;
this module opens the files (regular, bounded, inside the project) and feeds
them to it.

Broken characters (invalid UTF-8, or the raw ESC byte behave writes into
attributes) are repaired by a second pass that decodes with replacement and
drops XML-illegal characters; the cases the first pass already yielded are
skipped, not repeated.
"""

# os.path on purpose: paths are compared lexically; symlinks are resolved only where we ask.
# ruff: noqa: PTH100, PTH114

from __future__ import annotations

import codecs
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from qaagent.errors import JUnitError
from qaagent.junit.locate import Locator
from qaagent.junit.parse import (
    MAX_ATTRIBUTES,
    MAX_DEPTH,
    MAX_FIELD_BYTES,
    MAX_TOKEN_BYTES,
    Builder,
    ParseFailedError,
    RefusedError,
    parse,
)
from qaagent.results import TestCase

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

#: files larger than this are refused (bytes); a module constant so callers can tune it
MAX_FILE_BYTES = 256 * 1024 * 1024
#: bytes fed to the parser at a time
CHUNK_BYTES = 64 * 1024

_ILLEGAL_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: character references to characters XML 1.0 forbids (&#27; &#x1b; ...)
_ILLEGAL_CHAR_REFS = re.compile(r"&#(?:x0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F])|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]));")
#: ANSI colour/cursor sequences, raw or as character references (behave writes them): the repair
#: removes whole sequences, so no `[31m` fragment is left behind once the ESC is gone
_ANSI_SEQUENCES = re.compile(
    r"(?:\x1b|&#(?:27|x0*1[bB]);)(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b&]*(?:\x07|\x1b\\)?)"
)
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _raw_chunks(handle: BinaryIO) -> Iterator[bytes]:
    """Yield the file's bytes, refusing to read past `MAX_FILE_BYTES` (files can grow)."""
    total = 0
    while chunk := handle.read(CHUNK_BYTES):
        total += len(chunk)
        if total > MAX_FILE_BYTES:
            raise RefusedError(f"is larger than the {MAX_FILE_BYTES} byte limit")
        yield chunk


def _repair_codec(head: bytes) -> str:
    """Choose the codec to decode a broken file with: its BOM, its declaration, else UTF-8."""
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if head.startswith(bom):
            return name
    match = _DECLARED_ENCODING.match(head)
    if match:
        try:
            return codecs.lookup(match.group(1).decode("ascii")).name
        except LookupError:
            pass
    return "utf-8"


def _repaired_chunks(handle: BinaryIO) -> Iterator[bytes]:
    """Yield the file re-encoded as UTF-8 with undecodable bytes replaced and illegal characters dropped."""
    head = handle.read(1024)
    handle.seek(0)
    decoder = codecs.getincrementaldecoder(_repair_codec(head))(errors="replace")
    held = ""  # an unfinished "&#..." at a chunk's end waits for the next chunk
    chunks = _raw_chunks(handle)
    for raw in chunks:
        text = held + decoder.decode(raw)
        cut = text.rfind("&", max(0, len(text) - 12))
        held, text = (text[cut:], text[:cut]) if cut >= 0 and ";" not in text[cut:] else ("", text)
        yield _clean(text)
    yield _clean(held + decoder.decode(b"", final=True))


def _clean(text: str) -> bytes:
    text = _ANSI_SEQUENCES.sub("", text)
    text = _ILLEGAL_CHAR_REFS.sub("", _ILLEGAL_CHARS.sub("", text))
    return text.encode("utf-8", "surrogatepass")


def _label(path: Path, repo_root: Path) -> str:
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(os.path.abspath(repo_root)).as_posix()
    except ValueError:
        return str(path)


def _inside(path: str, root: str) -> bool:
    relative = os.path.relpath(path, root)
    return relative != ".." and not relative.startswith("../")


def _check_location(path: Path, repo_root: Path, label: str) -> str:
    """Return the absolute path; refuse a file in the project (or a link) that resolves outside it."""
    absolute = os.path.abspath(path)
    root = os.path.abspath(repo_root)
    if _inside(absolute, root) or os.path.islink(absolute):
        real = os.path.realpath(absolute)
        if not _inside(real, os.path.realpath(root)):
            raise JUnitError(f"{label}: refused: it points outside the project (to {real})")
    return absolute


def _check_kind(info: os.stat_result, label: str) -> None:
    """Refuse anything but a non-empty regular file within the size limit."""
    if stat.S_ISDIR(info.st_mode):
        raise JUnitError(f"{label}: is a directory, not a JUnit file")
    if not stat.S_ISREG(info.st_mode):
        raise JUnitError(f"{label}: is not a regular file")
    if info.st_size == 0:
        raise JUnitError(f"{label}: is empty")
    if info.st_size > MAX_FILE_BYTES:
        raise JUnitError(f"{label}: is {info.st_size} bytes, more than the {MAX_FILE_BYTES} byte limit")


def _open(path: Path, repo_root: Path, label: str) -> BinaryIO:
    """Open a JUnit file after checking it is a regular, bounded file inside the project."""
    absolute = _check_location(path, repo_root, label)
    try:
        # O_NONBLOCK: a FIFO planted where the report should be must not hang us.
        fd = os.open(absolute, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise JUnitError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise JUnitError(f"{label}: is a directory, not a JUnit file") from None
    except OSError as error:
        raise JUnitError(f"{label}: cannot be opened ({error.strerror})") from None
    try:
        _check_kind(os.fstat(fd), label)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def iter_junit_cases(
    path: Path, *, suite: str, base_dir: Path, repo_root: Path, zero_based_lines: bool | None = None
) -> Iterator[TestCase]:
    """Stream the test cases of one JUnit file in document order.

    `base_dir` is the directory the tool ran in (report paths are relative to
    it); `file` on the cases is made relative to `repo_root`. `zero_based_lines`
    says whether `line` attributes count from 0 (pytest), None: decided from the
    report. Raises `JUnitError(reason)` when the file is unreadable, hostile or
    broken; cases already yielded stay valid.
    """
    label = _label(path, repo_root)
    locator = Locator(base_dir, repo_root, zero_based_lines=zero_based_lines)
    handle = _open(path, repo_root, label)
    with handle:
        yielded = 0
        try:
            for case in parse(_raw_chunks(handle), Builder(suite, locator), encoding=None):
                yielded += 1
                yield case
        except ParseFailedError as failure:
            if not failure.repairable:
                raise JUnitError(f"{label}: {failure.reason}") from None
            first_reason = failure.reason
        except OSError as error:
            raise JUnitError(f"{label}: cannot be read ({error.strerror})") from None
        else:
            return
        # A character problem: parse a repaired copy, skipping what was already yielded.
        try:
            handle.seek(0)
            repaired = parse(_repaired_chunks(handle), Builder(suite, locator), encoding="UTF-8")
            for index, case in enumerate(repaired):
                if index >= yielded:
                    yield case
        except ParseFailedError as failure:
            first = f" (first error: {first_reason})" if first_reason != failure.reason else ""
            raise JUnitError(f"{label}: {failure.reason}{first}") from None
        except OSError as error:
            raise JUnitError(f"{label}: cannot be read ({error.strerror})") from None


def iter_junit_files(
    paths: Sequence[Path],
    *,
    suite: str,
    base_dir: Path,
    repo_root: Path,
    problems: list[str],
    zero_based_lines: bool | None = None,
    unread: list[Path] | None = None,
) -> Iterator[TestCase]:
    """Stream the cases of several files in order; one reason per bad file goes to `problems`.

    Never raises for bad input: a broken file contributes the cases read before
    the problem and a reason naming it (and, with `unread`, its path there).
    """
    for path in paths:
        try:
            yield from iter_junit_cases(
                path, suite=suite, base_dir=base_dir, repo_root=repo_root, zero_based_lines=zero_based_lines
            )
        except JUnitError as error:
            problems.append(str(error))
            if unread is not None:
                unread.append(path)


def read_junit_files(
    paths: Sequence[Path], *, suite: str, base_dir: Path, repo_root: Path
) -> tuple[list[TestCase], list[str]]:
    """All cases of several files in order, and one error reason per bad file (naming it)."""
    problems: list[str] = []
    cases = list(
        iter_junit_files(paths, suite=suite, base_dir=base_dir, repo_root=repo_root, problems=problems)
    )
    return cases, problems


__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_DEPTH",
    "MAX_FIELD_BYTES",
    "MAX_FILE_BYTES",
    "MAX_TOKEN_BYTES",
    "iter_junit_cases",
    "iter_junit_files",
    "read_junit_files",
]
