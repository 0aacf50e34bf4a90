"""pytest suites: xunit1 JUnit (file and 0-based line per test); retries rerun the failed node ids.

Units (test files) come from ``<base> --collect-only <path> <suite args>
--verbosity=-1`` in the suite's working directory: the files of the node ids,
in collection order (the order an unsharded run reports them), with the
number of tests in each, so the project's own collection settings hold.
``--verbosity=-1`` comes last: the project's ``addopts`` (``-v`` made the
listing print a tree, and the whole suite landed in one shard) cannot change
the format. Lines that are not node ids (a conftest's prints) are skipped; a
node id whose file is not there makes the listing fail with the reason.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from qaagent.results import TestCase
from qaagent.runners.base import AttemptSpec, PythonToolRunner
from qaagent.runners.listing import (
    QUOTE,
    ListedUnit,
    Selection,
    UnitListing,
    ask_tool,
    relative,
    split_selection,
)

#: pytest's exit code when it collected nothing (a listing, not a failure)
NO_TESTS_COLLECTED = 5
#: `--collect-only -qq` prints ``path: count`` instead of node ids
_COUNT_LINE = re.compile(r"^(.+?): (\d+)$")
#: options of pytest and its common plugins written ``--opt VALUE`` (the value is not a selection)
VALUE_OPTIONS = frozenset(
    {
        *("-k", "-m", "-p", "-c", "-o", "-W", "-r", "-n", "--maxfail", "--deselect", "--ignore"),
        *("--ignore-glob", "--confcutdir", "--rootdir", "--basetemp", "--tb", "--show-capture"),
        *("--durations", "--durations-min", "--junitxml", "--junit-xml", "--junit-prefix", "--capture"),
        *("--log-level", "--log-format", "--log-date-format", "--log-cli-level", "--log-cli-format"),
        *("--log-cli-date-format", "--log-file", "--log-file-mode", "--log-file-level", "--log-file-format"),
        *("--log-file-date-format", "--log-auto-indent", "--log-disable", "--import-mode", "--doctest-glob"),
        *("--doctest-report", "--pastebin", "--pdbcls", "--color", "--code-highlight", "--verbosity"),
        *("--override-ini", "--config-file", "--assert", "--debug", "--lfnf", "--last-failed-no-failures"),
        *("--numprocesses", "--dist", "--maxprocesses", "--max-worker-restart", "--tx", "--rsyncdir"),
        *("--rsyncignore", "--cov", "--cov-report", "--cov-config", "--cov-fail-under", "--cov-context"),
        *("--timeout", "--timeout-method", "--reruns", "--reruns-delay", "--only-rerun"),
        *("--randomly-seed", "--html", "--css", "--json-report-file", "--hypothesis-seed"),
        *("--hypothesis-profile", "--ds", "--dc", "--base-url", "--benchmark-json", "--benchmark-save"),
    }
)


class PytestRunner(PythonToolRunner):
    """`python -m pytest PATH -o junit_family=xunit1 --junitxml=…`; `command:` replaces `python -m pytest`."""

    kind = "pytest"
    module = "pytest"
    zero_based_lines = True
    nominal_test_seconds = 0.05
    startup_seconds = 0.5
    runs_the_rest = True

    def selection(self) -> Selection:
        """Positional args that name existing files or folders, and node ids (``file::test``)."""
        return split_selection(self.suite.config.args, value_options=VALUE_OPTIONS, kind=self._selection_kind)

    def _selection_kind(self, argument: str) -> str | None:
        if "::" in argument:
            return "finer"
        path = Path(argument) if Path(argument).is_absolute() else self.cwd / argument
        return "file" if path.exists() else None

    def unit_keys(self, path: Path) -> tuple[str, ...]:
        """The test file, and every tail of its path: JUnit's ``file`` is relative to pytest's rootdir.

        The rootdir is not always the repository (a project without a pytest section in an ini
        file gets the common ancestor of the arguments, e.g. ``tests/``): a split suite's cases
        are put back in listing order by these keys, so each form must find its file.
        """
        parts = Path(relative(path, self.repo_root)).parts
        return tuple(dict.fromkeys("/".join(parts[i:]) for i in range(len(parts))))

    def list_units(self) -> UnitListing:
        """The test files pytest collects, in collection order (a file path is its own unit)."""
        path = self.suite.path
        assert path is not None  # noqa: S101 - the caller checks the suite has a path
        problem = self.selection_problem()
        if problem:
            return UnitListing(problem=problem)
        if path.is_file():
            return UnitListing((ListedUnit(path, self.unit_keys(path)),))
        cwd = self.cwd
        argv = [
            *self.base_command(),
            "--collect-only",
            os.path.relpath(path, cwd),
            *self.suite.config.args,
            "--verbosity=-1",  # last: the project's addopts cannot make it print a tree
            "--color=no",
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
        counts: Counter[Path] = Counter()
        for name, tests in _node_files(out):
            found = next((b / name for b in bases if (b / name).is_file()), None)
            if found is None:
                return UnitListing(problem=f"pytest collected {name[:QUOTE]}, which is not a file here")
            counts[Path(os.path.normpath(found))] += tests
        return UnitListing(tuple(ListedUnit(f, self.unit_keys(f), n) for f, n in counts.items()))

    def _path_arg(self) -> list[str]:
        if self.suite.excluded is not None and self.suite.path is not None:
            return self._rest_args(self.suite.path, self.suite.excluded)
        units = self.unit_args()
        if units is not None:
            return units
        if self.suite.path is None:
            return []
        return [os.path.relpath(self.suite.path, self.cwd)]

    def _rest_args(self, path: Path, excluded: Sequence[Path]) -> list[str]:
        """The suite's path and its args' files, without the files `excluded` (``--ignore``)."""
        cwd = self.cwd
        skipped = {os.path.normpath(e) for e in excluded}
        named = [f for f in self.selection().files if os.path.normpath(cwd / f) not in skipped]
        ignored = [f"--ignore={os.path.relpath(e, cwd)}" for e in excluded]
        return [os.path.relpath(path, cwd), *named, *ignored]

    def attempt(self, number: int, attempt_dir: Path, failed: Sequence[TestCase]) -> AttemptSpec:  # noqa: ARG002 - the Runner interface
        """First attempt: the whole path; retries: the failed node ids (whole path if unknown)."""
        junit = attempt_dir / "junit" / "pytest.xml"
        selected = self.node_ids(failed) if failed else ()
        targets = list(selected) if selected else self._path_arg()
        # A retry of node ids must not run the files the suite's args name again, whole.
        args = list(self.selection().options) if selected else self.run_args()
        argv = [
            *self.base_command(),
            *targets,
            "-o",
            "junit_family=xunit1",
            f"--junitxml={junit}",
            *args,
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


def _node_files(stdout: str) -> Iterator[tuple[str, int]]:
    """(file, tests) for each node id (or ``file: count`` line) the listing printed, in order.

    The node ids end at the first blank line after them ("N tests collected"
    follows); other lines before them (a conftest that prints) are skipped.
    """
    started = False
    for line in stdout.splitlines():
        text = line.strip()
        if not text:
            if started:
                return
            continue
        if "::" in text:
            started = True
            yield text.split("::", 1)[0], 1
        elif (count := _COUNT_LINE.match(text)) is not None and count.group(1).endswith(".py"):
            started = True
            yield count.group(1), int(count.group(2))
