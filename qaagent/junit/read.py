"""Read JUnit XML written by test tools into `TestCase` values, treating it as hostile.

A suite's JUnit file comes from whatever the project's tests print, so it may
be huge, truncated, not XML, mis-encoded, or crafted (entity expansion, external
entities, absurd nesting). Every such file becomes a `JUnitError` with a
one-line reason — never a crash, a hang or unbounded memory — and the cases
read before the problem stay valid.

The file goes through the door every result file comes through
(`qaagent.formats.source`: regular, bounded, inside the project) and the expat
driver every XML format shares (`qaagent.formats.xmlsafe`: refusals, limits,
the repair of broken characters); the JUnit elements are `qaagent.junit.parse`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qaagent.errors import JUnitError
from qaagent.formats import source, xmlsafe
from qaagent.formats.golang import GoModules
from qaagent.junit.locate import Locator
from qaagent.junit.parse import MAX_ATTRIBUTES, MAX_DEPTH, MAX_FIELD_BYTES, MAX_TOKEN_BYTES, Builder

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from qaagent.results import TestCase

#: files larger than this are refused (bytes); the limit lives in `qaagent.formats.source`
MAX_FILE_BYTES = source.MAX_FILE_BYTES


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
    locator = Locator(base_dir, repo_root, zero_based_lines=zero_based_lines)
    modules = GoModules(base_dir, repo_root)
    yield from xmlsafe.read_xml_cases(
        path,
        repo_root=repo_root,
        make_handler=lambda: Builder(suite, locator, modules),
        kind="JUnit file",
        error=JUnitError,
    )


__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_DEPTH",
    "MAX_FIELD_BYTES",
    "MAX_FILE_BYTES",
    "MAX_TOKEN_BYTES",
    "iter_junit_cases",
]
