"""One entry point for every result format: `read_results(path, format=…)`.

The format is named (a profile's ``format:``) or told from the file's content
(`qaagent.formats.detect`); either way the file is read by its format's
streaming reader and yields the project's `TestCase` values in the order the
file gives them. Every reader shares the same contract: a broken or hostile
file raises `ResultFileError` with one line naming the file, after the cases
read before the problem; size, depth, field and count limits hold; nothing is
ever expanded, fetched or left hanging.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol

from qaagent.errors import ResultFileError, UsageError
from qaagent.formats import AUTO as _AUTO
from qaagent.formats import NAMES, detect, source
from qaagent.junit.read import iter_junit_cases

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from pathlib import Path

    from qaagent.results import TestCase


class Reader(Protocol):
    """The signature every format's reader has."""

    def __call__(self, path: Path, *, suite: str, base_dir: Path, repo_root: Path) -> Iterator[TestCase]:
        """Stream the cases of one file; `ResultFileError` on a broken one."""


FORMATS: Final = NAMES
#: `format=` value meaning "tell it from the content" (as does None)
AUTO: Final = _AUTO


def reader(name: str) -> Reader:
    """The reader of format `name` (one of `FORMATS`); the non-JUnit ones are imported when first asked for.

    A run whose suites write JUnit (most) never imports the other formats' readers (9 of the
    111 qaagent modules a trivial run imported; `-X importtime` gave them 80-100 ms at a load of 5).
    """
    if name == "junit":
        return iter_junit_cases
    from qaagent.formats import cucumber, gotest, mocha, nunit3, tap, trx, xunit2  # noqa: PLC0415

    readers: dict[str, Reader] = {
        "trx": trx.iter_cases,
        "nunit3": nunit3.iter_cases,
        "xunit2": xunit2.iter_cases,
        "go-test-json": gotest.iter_cases,
        "tap": tap.iter_cases,
        "cucumber-json": cucumber.iter_cases,
        "mocha-json": mocha.iter_cases,
    }
    assert ("junit", *readers) == NAMES  # noqa: S101 - one list of names
    found = readers.get(name)
    if found is None:
        raise UnknownFormatError(f"unknown result format {name[:40]!r}")
    return found


class UnknownFormatError(UsageError):
    """A format name that is not one of `FORMATS` (a usage error: exit 2)."""


def read_results(
    path: Path,
    *,
    format: str | None = None,  # noqa: A002 - the profile's key is `format:`; keyword-only, no builtin is hidden
    suite: str,
    base_dir: Path,
    repo_root: Path,
    zero_based_lines: bool | None = None,
) -> Iterator[TestCase]:
    """Stream the test cases of one result file, in the file's order.

    `format` is one of `FORMATS`, or None/``"auto"`` to tell it from the content.
    `base_dir` is the directory the tool ran in (paths in the file are relative
    to it); `file` on the cases is made relative to `repo_root`.
    `zero_based_lines` is the JUnit reader's (pytest counts lines from 0; None:
    decided from the report). An unknown format name raises
    `UnknownFormatError` at once; a file that cannot be read (or whose format
    cannot be told) raises `ResultFileError` while iterating, after the cases
    read before the problem.
    """
    check_format(format)
    return _read(
        path, name=format, suite=suite, base_dir=base_dir, repo_root=repo_root, zero_based=zero_based_lines
    )


def check_format(format: str | None) -> None:  # noqa: A002 - the profile's key
    """`UnknownFormatError` unless `format` is None, ``auto`` or one of `FORMATS`."""
    if format is not None and format != AUTO and format not in FORMATS:
        known = ", ".join(FORMATS)
        raise UnknownFormatError(f"unknown result format {format[:40]!r}: expected one of {known} (or auto)")


def _read(
    path: Path, *, name: str | None, suite: str, base_dir: Path, repo_root: Path, zero_based: bool | None
) -> Iterator[TestCase]:
    if name is None or name == AUTO:
        name = detect.detect_format(path, repo_root=repo_root)
    if name == "junit":
        yield from iter_junit_cases(
            path, suite=suite, base_dir=base_dir, repo_root=repo_root, zero_based_lines=zero_based
        )
        return
    yield from reader(name)(path, suite=suite, base_dir=base_dir, repo_root=repo_root)


def iter_result_files(
    paths: Sequence[Path],
    *,
    format: str | None,  # noqa: A002 - the profile's key
    suite: str,
    base_dir: Path,
    repo_root: Path,
    problems: list[str],
    zero_based_lines: bool | None = None,
    unread: list[Path] | None = None,
    origins: Mapping[Path, Path] | None = None,
) -> Iterator[TestCase]:
    """Stream the cases of several result files in order; one reason per bad file goes to `problems`.

    Never raises for bad input: a broken file contributes the cases read before
    the problem and a reason naming it (and, with `unread`, its path there;
    `format` is checked first: a wrong name is a usage error). `origins` maps a
    path read (the bundle's copy) to the file it was copied from: the reason names
    that one, as the user wrote or matched it.
    """
    check_format(format)
    for path in paths:
        try:
            yield from _read(
                path,
                name=format,
                suite=suite,
                base_dir=base_dir,
                repo_root=repo_root,
                zero_based=zero_based_lines,
            )
        except ResultFileError as error:
            origin = origins.get(path) if origins is not None else None
            problems.append(_named(str(error), path, origin, repo_root))
            if unread is not None:
                unread.append(path)


def _named(message: str, path: Path, origin: Path | None, repo_root: Path) -> str:
    """A reader's one line (it starts with the name of the file read) naming `origin` instead.

    Every reader names the file it was given (`source.label_of`) first, then a colon.
    """
    if origin is None or origin == path:
        return message
    read = f"{source.label_of(path, repo_root)}:"
    if not message.startswith(read):
        return message
    return f"{source.label_of(origin, repo_root)}:{message[len(read) :]}"


__all__ = [
    "AUTO",
    "FORMATS",
    "Reader",
    "UnknownFormatError",
    "check_format",
    "iter_result_files",
    "read_results",
    "reader",
]
