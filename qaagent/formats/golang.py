r"""What Go's test output says about a failure: its message, file and line.

`go test` (and so `go test -json` and gotestsum's JUnit) reports a failure only
as the test's output: ``    calc_test.go:18: Add(1, 1) = 2, want 3`` for
``t.Errorf``, or a panic with a goroutine trace whose frames name absolute
paths (``\t/src/calc/calc_test.go:7 +0x2e``). The short form names the file by
its base name, relative to the package's directory, so finding it needs the
module: `GoModules` reads the ``module`` line of the nearest ``go.mod`` (the
directory the tool ran in, then its parents up to the repository root) and maps
an import path below it to a directory.
"""

# os.path on purpose: paths are compared lexically, never resolved through symlinks.
# ruff: noqa: PTH100, PTH113, PTH117, PTH118, PTH120

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from qaagent.junit.locate import parse_line

if TYPE_CHECKING:
    from pathlib import Path

    from qaagent.junit.locate import Locator

#: bytes of a go.mod read to find its `module` line
_GO_MOD_BYTES = 64 * 1024
_MODULE_LINE = re.compile(r"^\s*module\s+\"?(?P<path>[^\s\"/][^\s\"]*)\"?\s*(?://.*)?$", re.MULTILINE)
#: t.Errorf/t.Fatalf/t.Skip lines: "    calc_test.go:18: message"
_REPORT_LINE = re.compile(r"^\s+(?P<file>[\w.\-]+\.go):(?P<line>\d+): ?(?P<message>.*)$")
#: a goroutine trace frame in a test file: "\t/abs/path/calc_test.go:7 +0x2e"
_TEST_FRAME = re.compile(r"^\t(?P<file>/\S+_test\.go):(?P<line>\d+)(?: \+0x[0-9a-f]+)?$", re.MULTILINE)
#: the lines `go test` itself prints around a test's output
_FRAMEWORK = re.compile(
    r"^\s*(?:=== (?:RUN|PAUSE|CONT|NAME)\b|--- (?:PASS|FAIL|SKIP)\b|(?:PASS|FAIL)$|(?:ok|FAIL)\s+\S+\s)"
)


class GoModules:
    """Maps Go import paths to directories, from the nearest go.mod."""

    def __init__(self, base_dir: Path, repo_root: Path) -> None:
        self._base = os.path.abspath(base_dir)
        self._root = os.path.abspath(repo_root)
        self._module: tuple[str, str] | None = None
        self._looked = False

    def _find_module(self) -> tuple[str, str] | None:
        """(module path, its directory) of the nearest go.mod, or None."""
        directory = self._base
        while True:
            found = _read_module(os.path.join(directory, "go.mod"))
            if found is not None:
                return found, directory
            parent = os.path.dirname(directory)
            inside = os.path.relpath(directory, self._root)
            if parent == directory or inside == "." or inside.startswith(".."):
                return None
            directory = parent

    def package_dir(self, import_path: str) -> str | None:
        """The directory of a package of the module, or None when it is not below the module."""
        if not self._looked:
            self._looked = True
            self._module = self._find_module()
        if self._module is None:
            return None
        module, directory = self._module
        if import_path == module:
            return directory
        if import_path.startswith(module + "/"):
            rest = import_path[len(module) + 1 :]
            if ".." in rest.split("/"):
                return None
            return os.path.join(directory, *rest.split("/"))
        return None


def _read_module(path: str) -> str | None:
    if not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as handle:  # noqa: PTH123 - a bounded read of a small file
            text = handle.read(_GO_MOD_BYTES).decode("utf-8", "replace")
    except OSError:
        return None
    match = _MODULE_LINE.search(text)
    return match["path"] if match else None


def failure_line(output: str) -> tuple[str | None, int | None, str]:
    """(file as printed, 1-based line, message) of the first failure or skip line in a test's output.

    A panic gives the ``panic: …`` line as the message and the first test-file
    frame of its trace as the location. Without either, the message is the first
    line `go test` itself did not print, and there is no location.
    """
    fallback = ""
    for raw in output.splitlines():
        match = _REPORT_LINE.match(raw)
        if match:
            return match["file"], parse_line(match["line"], zero_based=False), match["message"].strip()
        stripped = raw.strip()
        if stripped.startswith("panic: "):
            frame = _TEST_FRAME.search(output)
            if frame:
                return frame["file"], parse_line(frame["line"], zero_based=False), stripped
            return None, None, stripped
        if not fallback and stripped and not _FRAMEWORK.match(raw):
            fallback = stripped
    return None, None, fallback


def is_framework(line: str) -> bool:
    """Whether `go test` itself printed this output line (``=== RUN``, ``--- PASS: …``, ``ok pkg``)."""
    return _FRAMEWORK.match(line) is not None


def locate(package: str, file: str | None, modules: GoModules, locator: Locator) -> str | None:
    """The file a Go failure names, relative to the repository root (None when unknown)."""
    if not file:
        return None
    if os.path.isabs(file):
        return locator.relative(file)
    directory = modules.package_dir(package)
    if directory is None:
        return None
    return locator.relative(os.path.join(directory, file))
