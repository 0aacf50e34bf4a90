"""Where a test case lives: its file (relative to the repository root) and 1-based line.

JUnit producers disagree on how they say it, so this module holds the per-producer
knowledge in one place:

- pytest ``junit_family=xunit1`` writes ``file`` and a **0-based** ``line``;
  ``xunit2`` writes neither, so the file is derived from the dotted classname
  when such a module exists under the directory pytest ran in.
- behave writes no attributes; a failing scenario's text says
  ``Location: features/x.feature:9``.
- Playwright writes the spec path (relative to its ``testDir``) as ``classname``
  and stack frames such as ``at /abs/e2e/x.spec.ts:12:5`` in the failure text.
- Anything else (jest-junit, gotestsum, Surefire, PHPUnit) is taken as written:
  ``file`` relative to the directory the tool ran in and a 1-based ``line``.
- A failing Python test's line is the failing line when its traceback names one
  in the test's own file (pytest's ``tests/test_x.py:25: AssertionError``, or a
  native ``File "…/test_x.py", line 25``; the last such entry), else the line the
  report gives (pytest's: the ``def``).
- A report qaagent wrote (`locate(..., as_written=True)`) is read as written.

Paths are compared lexically; a file named by the (untrusted) report is never
resolved through symlinks, so a report cannot make us follow a link out of the
project. Paths outside the repository root are kept as the report gave them.
"""

# os.path on purpose: report paths are compared lexically, never resolved through symlinks.
# ruff: noqa: PTH100, PTH113, PTH117, PTH118

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from qaagent.memo import Memo

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: a line number beyond this is nonsense (or hostile) and is dropped
MAX_LINE = 10_000_000
#: distinct classnames/files remembered per report before the caches are reset
_CACHE_LIMIT = 10_000
#: tracebacks longer than this (characters) are searched afresh each time
_FRAMES_MEMO_CHARS = 16_384

#: the attributes pytest puts on a testcase; with these and nothing else `line` is 0-based
_PYTEST_ATTRIBUTES = frozenset({"classname", "name", "file", "line", "time"})
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*){0,30}\Z")
_BEHAVE_LOCATION = re.compile(r"^\s*Location:\s*(?P<file>\S+?):(?P<line>\d+)\s*$", re.MULTILINE)
#: a source location in a stack frame or header: path.ext:LINE or path.ext:LINE:COL
_SOURCE_LOCATION = re.compile(
    r"(?P<file>[^\s:'\"()\[\]<>]+\.(?:[cm]?[jt]sx?|feature|py|go|java|kt|rb|php|cs))"
    r":(?P<line>\d+)(?::\d+)?"
)
_SCRIPT_SUFFIXES = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
#: .NET stack frames (TRX, NUnit, xUnit): "at Ns.Class.Method() in /src/Tests/CalcTests.cs:line 21"
_DOTNET_FRAME = re.compile(
    r"^\s*(?:at )?(?P<method>\S+?)\(.*?\) in (?P<file>[^\n]+?\.(?:cs|fs|vb)):line (?P<line>\d+)", re.MULTILINE
)
_WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:[\\/]")
#: Python traceback entries: pytest's "tests/test_x.py:25: AssertionError" (long and short styles)
#: and the native 'File "/abs/tests/test_x.py", line 25, in test_x'
_PYTHON_FRAME = re.compile(
    r'^(?:(?P<file>[^\s:"]+\.py):(?P<line>\d+):(?: |$)|\s*File "(?P<native>[^"]+\.py)", line (?P<nline>\d+))',
    re.MULTILINE,
)


def parse_line(value: str | None, *, zero_based: bool) -> int | None:
    """Return a 1-based line from an attribute value, or None when absent or nonsense."""
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    if zero_based:
        number += 1
    return number if 1 <= number <= MAX_LINE else None


def is_pytest_zero_based(case_attributes: Mapping[str, str], suite_names: Sequence[str]) -> bool:
    """Whether a testcase's `line` follows pytest's 0-based convention.

    pytest names its suite ``pytest`` unless ``junit_suite_name`` says otherwise,
    and writes exactly the attributes in `_PYTEST_ATTRIBUTES` on each testcase
    (PHPUnit, whose lines are 1-based, adds ``class`` and ``assertions``).
    """
    if "line" not in case_attributes:
        return False
    if "pytest" in suite_names:
        return True
    return set(case_attributes) == _PYTEST_ATTRIBUTES


class Locator:
    """Turns what a report says about a test's location into (file, line)."""

    def __init__(self, base_dir: Path, repo_root: Path, *, zero_based_lines: bool | None = None) -> None:
        self._zero_based = zero_based_lines
        bases = {os.path.abspath(base_dir), os.path.realpath(base_dir)}
        roots = {os.path.abspath(repo_root), os.path.realpath(repo_root)}
        self._bases = sorted(bases)
        self._roots = sorted(roots)
        self._base = os.path.abspath(base_dir)
        self._relative_cache: dict[str, str] = {}
        self._module_cache: dict[str, str | None] = {}
        #: a traceback's text -> its Python frames (`_python_frames`)
        self._frames_memo: Memo[str, tuple[tuple[str, int | None], ...]] = Memo()

    def relative(self, file: str) -> str:
        """`file` (relative to base_dir, or absolute) relative to the repository root.

        A path that does not lie inside the repository root is returned as given.
        """
        cached = self._relative_cache.get(file)
        if cached is not None:
            return cached
        result = self._relative_uncached(file)
        if len(self._relative_cache) >= _CACHE_LIMIT:
            self._relative_cache.clear()
        self._relative_cache[file] = result
        return result

    def _relative_uncached(self, file: str) -> str:
        if "\x00" in file or not file.strip():
            return file
        if "\\" in file and "/" not in file:  # a Windows-style relative path
            file = file.replace("\\", "/")
        candidates = [file] if os.path.isabs(file) else [os.path.join(b, file) for b in self._bases]
        for candidate in candidates:
            normal = os.path.normpath(candidate)
            for root in self._roots:
                relative = os.path.relpath(normal, root)
                if relative != ".." and not relative.startswith("../") and relative != ".":
                    return PurePosixPath(*Path(relative).parts).as_posix()
        return file

    def module_file(self, classname: str) -> str | None:
        """Find the Python file a dotted classname (pytest xunit2) comes from, if it exists."""
        if classname in self._module_cache:
            return self._module_cache[classname]
        result: str | None = None
        if _DOTTED.match(classname):
            parts = classname.split(".")
            for count in range(len(parts), 0, -1):
                candidate = "/".join(parts[:count]) + ".py"
                if os.path.isfile(os.path.join(self._base, candidate)):
                    result = self.relative(candidate)
                    break
        if len(self._module_cache) >= _CACHE_LIMIT:
            self._module_cache.clear()
        self._module_cache[classname] = result
        return result

    def locate(
        self,
        attributes: Mapping[str, str],
        classname: str,
        texts: Sequence[str],
        suite_names: Sequence[str],
        *,
        as_written: bool = False,
    ) -> tuple[str | None, int | None]:
        """(file, 1-based line) of one testcase; either may be None.

        `texts` are the failure/error bodies, searched for locations when the
        attributes do not give one (or, for Python, for the failing line).
        `as_written`: the report is qaagent's own; `file` and a 1-based `line`
        are taken as they are and nothing is derived.
        """
        file_attr = attributes.get("file")
        if as_written:
            line = parse_line(attributes.get("line"), zero_based=False)
            return (self.relative(file_attr) if file_attr else None), line
        if file_attr:
            zero_based = self._zero_based
            if zero_based is None:
                zero_based = is_pytest_zero_based(attributes, suite_names)
            line = parse_line(attributes.get("line"), zero_based=zero_based)
            file = self.relative(file_attr)
            if file.endswith(".py") and texts:
                line = self.traceback_line(file, texts) or line
            if line is None:  # jest-junit: file= but no line=; a stack frame may say it
                line = _frame_line(file_attr, texts)
            return file, line
        for text in texts:
            match = _BEHAVE_LOCATION.search(text)
            if match:
                return self.relative(match["file"]), parse_line(match["line"], zero_based=False)
        if classname.endswith(_SCRIPT_SUFFIXES):
            return self._script_location(classname, texts)
        module = self.module_file(classname) if classname else None
        return module, (self.traceback_line(module, texts) if module and texts else None)

    def frame_line(self, file: str, texts: Sequence[str]) -> int | None:
        """The line of the first stack frame (``path:LINE[:COL]``) in `texts` naming `file`.

        `file` is repository-relative; frames may be absolute or relative to the directory the tool ran in
        (node and mocha write both).
        """
        for text in texts:
            for match in _SOURCE_LOCATION.finditer(text):
                if self.relative(match["file"]) == file:
                    return parse_line(match["line"], zero_based=False)
        return None

    def dotnet_location(self, texts: Sequence[str], classname: str = "") -> tuple[str | None, int | None]:
        """(file, line) of a .NET stack frame with source information (``in File.cs:line N``).

        The first frame in the test's own class (``at {classname}.Method(…)``) when
        there is one, else the first frame with source information.
        """
        first: re.Match[str] | None = None
        for text in texts:
            for match in _DOTNET_FRAME.finditer(text):
                first = first or match
                if classname and match["method"].startswith(classname + "."):
                    return self._dotnet_file(match)
        return self._dotnet_file(first) if first else (None, None)

    def _dotnet_file(self, match: re.Match[str]) -> tuple[str | None, int | None]:
        path = match["file"].strip()
        file = path if _WINDOWS_ABSOLUTE.match(path) else self.relative(path)
        return file, parse_line(match["line"], zero_based=False)

    def traceback_line(self, file: str, texts: Sequence[str]) -> int | None:
        """The line of the last Python traceback entry in `texts` that names `file` (repository-relative)."""
        found: int | None = None
        relative = self.relative
        for text in texts:
            for path, line in self._python_frames(text):
                if relative(path) == file:
                    found = line or found
        return found

    def _python_frames(self, text: str) -> tuple[tuple[str, int | None], ...]:
        """The (path as written, line) of each Python traceback entry in `text`.

        Remembered for texts up to `_FRAMES_MEMO_CHARS`: one traceback repeats across the
        cases of a parametrized test, or a fixture's error across a module's tests.
        """
        if len(text) <= _FRAMES_MEMO_CHARS:
            known = self._frames_memo.get(text)
            if known is not None:
                return known
        frames = tuple(
            (match["file"] or match["native"], parse_line(match["line"] or match["nline"], zero_based=False))
            for match in _PYTHON_FRAME.finditer(text)
        )
        return self._frames_memo.put(text, frames) if len(text) <= _FRAMES_MEMO_CHARS else frames

    def _script_location(self, classname: str, texts: Sequence[str]) -> tuple[str | None, int | None]:
        """Playwright: classname is the spec path relative to testDir; stack frames are better."""
        spec = PurePosixPath(classname.replace("\\", "/"))
        header_line: int | None = None
        for text in texts:
            for match in _SOURCE_LOCATION.finditer(text):
                found = PurePosixPath(match["file"])
                if found.parts[-len(spec.parts) :] != spec.parts:
                    continue
                line = parse_line(match["line"], zero_based=False)
                if found.is_absolute() or len(found.parts) > len(spec.parts):
                    return self.relative(match["file"]), line
                if header_line is None:
                    header_line = line
        if os.path.isfile(os.path.join(self._base, classname)):
            return self.relative(classname), header_line
        return None, None


def _frame_line(file: str, texts: Sequence[str]) -> int | None:
    """Return the line of the first source location in `texts` that names `file`."""
    parts = PurePosixPath(file.replace("\\", "/")).parts
    if not parts or ".." in parts:
        return None
    for text in texts:
        for match in _SOURCE_LOCATION.finditer(text):
            if PurePosixPath(match["file"]).parts[-len(parts) :] == parts:
                return parse_line(match["line"], zero_based=False)
    return None
