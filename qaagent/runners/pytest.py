"""pytest suites: xunit1 JUnit (file and 0-based line per test); retries rerun the failed node ids.

Units (test files) come from ``<base> --collect-only -q <path> <suite args>``
in the suite's working directory: the files of the node ids, in collection
order (the order an unsharded run reports them), so the project's own
collection settings hold.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from qaagent.results import TestCase
from qaagent.runners.base import AttemptSpec, PythonToolRunner
from qaagent.runners.listing import QUOTE, ListedUnit, UnitListing, ask_tool

#: pytest's exit code when it collected nothing (a listing, not a failure)
NO_TESTS_COLLECTED = 5
#: `--collect-only -qq` prints ``path: count`` instead of node ids
_COUNT_LINE = re.compile(r"^(.+?): \d+$")


class PytestRunner(PythonToolRunner):
    """`python -m pytest PATH -o junit_family=xunit1 --junitxml=…`; `command:` replaces `python -m pytest`."""

    kind = "pytest"
    module = "pytest"
    zero_based_lines = True

    def list_units(self) -> UnitListing:
        """The test files pytest collects, in collection order (a file path is its own unit)."""
        path = self.suite.path
        assert path is not None  # noqa: S101 - the caller checks the suite has a path
        if path.is_file():
            return UnitListing((ListedUnit(path, self.unit_keys(path)),))
        cwd = self.cwd
        argv = [
            *self.base_command(),
            "--collect-only",
            "-q",
            os.path.relpath(path, cwd),
            *self.suite.config.args,
        ]
        out, why = ask_tool(
            argv,
            cwd=cwd,
            env=self.env(),
            timeout=self.suite.timeout,
            what="pytest --collect-only",
            ok=(0, NO_TESTS_COLLECTED),
        )
        if out is None:
            return UnitListing(problem=why)
        start = path if path.is_dir() else path.parent
        bases = [cwd, start, *start.parents]  # where node ids may be relative to
        files: list[Path] = []
        for name in dict.fromkeys(_node_files(out)):
            found = next((b / name for b in bases if (b / name).is_file()), None)
            if found is None:
                return UnitListing(problem=f"pytest collected {name[:QUOTE]}, which is not a file here")
            files.append(Path(os.path.normpath(found)))
        return UnitListing(tuple(ListedUnit(f, self.unit_keys(f)) for f in dict.fromkeys(files)))

    def _path_arg(self) -> list[str]:
        units = self.unit_args()
        if units is not None:
            return units
        if self.suite.path is None:
            return []
        return [os.path.relpath(self.suite.path, self.cwd)]

    def attempt(self, number: int, attempt_dir: Path, failed: Sequence[TestCase]) -> AttemptSpec:  # noqa: ARG002 - the Runner interface
        """First attempt: the whole path; retries: the failed node ids (whole path if unknown)."""
        junit = attempt_dir / "junit" / "pytest.xml"
        selected = self.node_ids(failed) if failed else ()
        targets = list(selected) if selected else self._path_arg()
        argv = [
            *self.base_command(),
            *targets,
            "-o",
            "junit_family=xunit1",
            f"--junitxml={junit}",
            *self.suite.config.args,
        ]
        return AttemptSpec(tuple(argv), self.cwd, self.env(), selected)

    def node_ids(self, failed: Sequence[TestCase]) -> tuple[str, ...]:
        """Pytest node ids of the failed tests; empty when any cannot be derived (rerun everything)."""
        ids: list[str] = []
        for case in failed:
            node = self._node_id(case)
            if node is None:
                return ()
            ids.append(node)
        return tuple(dict.fromkeys(ids))

    def _node_id(self, case: TestCase) -> str | None:
        if not case.file or not case.file.endswith(".py"):
            return None
        module = case.file[: -len(".py")].replace("/", ".")
        rel = os.path.relpath(self.repo_root / case.file, self.cwd).replace(os.sep, "/")
        classname = case.classname
        if not classname and _ends_with_module(module, case.name):
            # A collection error: pytest names the module (`tests.test_x`) and no class; the
            # retry collects that file again, not the whole suite.
            return rel
        # xunit1 classname: the module's dotted path (relative to rootdir), then the classes.
        suffix = module
        while suffix and not (classname == suffix or classname.startswith(suffix + ".")):
            suffix = suffix.partition(".")[2]
        if not suffix:
            return None
        classes = classname[len(suffix) :].lstrip(".")
        parts = [rel, *[c for c in classes.split(".") if c], case.name]
        return "::".join(parts)


def _ends_with_module(module: str, name: str) -> bool:
    """Whether `name` is the dotted path of `module` relative to some folder (pytest's rootdir)."""
    return bool(name) and (module == name or module.endswith("." + name))


def _node_files(stdout: str) -> Iterator[str]:
    """The file of each node id `--collect-only -q` printed, in order."""
    for line in stdout.splitlines():
        text = line.strip()
        if not text:
            return  # the node ids end at the first blank line ("N tests collected" follows)
        if "::" in text:
            yield text.split("::", 1)[0]
        elif (count := _COUNT_LINE.match(text)) is not None:
            yield count.group(1)
        else:
            return
