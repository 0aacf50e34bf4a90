"""behave suites: one JUnit file per feature; retries rerun the failed scenarios from behave's rerun file.

Units are the ``.feature`` files under the suite's path (hidden folders
skipped), in the order qaagent reports them: behave writes one JUnit file per
feature, ``TESTS-<dotted path>.xml``, and those are read sorted by name. A
case maps back to its feature by the file or by its dotted name. Each
feature's tests are counted from its text (scenarios, and one per example row
of an outline), a first-run estimate only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from qaagent.files import read_regular, read_start
from qaagent.results import TestCase
from qaagent.runners.base import AttemptSpec, PythonToolRunner
from qaagent.runners.listing import ListedUnit, Selection, UnitListing, relative, split_selection

#: behave's options written ``--opt VALUE`` (the value is not a feature path)
VALUE_OPTIONS = frozenset(
    {
        *("-D", "--define", "-e", "--exclude", "-i", "--include", "--junit-directory", "-j", "--jobs"),
        *("--parallel", "-f", "--format", "-n", "--name", "--logging-level", "--logging-format"),
        *("--logging-datefmt", "--logging-filter", "-o", "--outfile", "-r", "--runner", "--stage"),
        *("-t", "--tags", "--lang", "--lang-help", "--color"),
    }
)
#: a feature path with a line (``features/a.feature:12``): part of a file
_AT_LINE = re.compile(r"^(.+\.feature)(:\d+)+$")
#: the lines of a feature file that are one test each, or a row of an outline's examples
_SCENARIO = re.compile(r"^\s*(Scenario|Scenario Outline|Scenario Template|Example)\s*:", re.IGNORECASE)
_EXAMPLES = re.compile(r"^\s*(Examples|Scenarios)\s*:", re.IGNORECASE)
#: bytes of a feature file read to count its scenarios
_COUNT_BYTES = 1024 * 1024
#: bytes of behave's rerun file read (a line per failing scenario)
_RERUN_BYTES = 16 * 1024 * 1024


class BehaveRunner(PythonToolRunner):
    """`python -m behave PATH --junit --junit-directory … -f rerun -o rerun.txt -f progress`."""

    kind = "behave"
    module = "behave"
    nominal_test_seconds = 0.1
    startup_seconds = 0.5

    def selection(self) -> Selection:
        """Positional args naming existing feature files or folders; ``file.feature:LINE`` is finer."""
        return split_selection(self.suite.config.args, value_options=VALUE_OPTIONS, kind=self._selection_kind)

    def _selection_kind(self, argument: str) -> str | None:
        if _AT_LINE.match(argument) or argument.startswith("@"):
            return "finer"  # a line, or a file listing scenarios
        path = Path(argument) if Path(argument).is_absolute() else self.cwd / argument
        return "file" if path.exists() else None

    def list_units(self) -> UnitListing:
        """The feature files, in the order their JUnit files are read, with their scenarios counted."""
        path = self.suite.path
        assert path is not None  # noqa: S101 - the caller checks the suite has a path
        problem = self.selection_problem()
        if problem:
            return UnitListing(problem=problem)
        roots = [path, *(self.cwd / f for f in self.selection().files)]
        found: dict[Path, None] = {}
        for root in roots:
            for file in [root] if root.is_file() else (f for f in _walk(root) if f.suffix == ".feature"):
                found[Path(os.path.normpath(file))] = None
        files = sorted(found, key=lambda f: f"TESTS-{self._dotted(f)}.xml")
        return UnitListing(tuple(ListedUnit(f, self.unit_keys(f), _scenarios(f)) for f in files))

    def unit_keys(self, path: Path) -> tuple[str, ...]:
        """The feature file, and its dotted name (behave's classname)."""
        return (relative(path, self.repo_root), self._dotted(path))

    def _dotted(self, feature: Path) -> str:
        suite_path = self.suite.path
        if suite_path is None or suite_path.is_file():
            return feature.stem
        return ".".join(feature.relative_to(suite_path).with_suffix("").parts)

    def attempt(self, number: int, attempt_dir: Path, failed: Sequence[TestCase]) -> AttemptSpec:
        """First attempt: the whole path; retries: the scenarios in the previous attempt's rerun file."""
        junit_dir = attempt_dir / "junit"
        junit_dir.mkdir(parents=True, exist_ok=True)
        rerun_out = attempt_dir / "rerun.txt"
        selected: tuple[str, ...] = ()
        targets: list[str] = []
        if failed:
            previous = attempt_dir.parent / f"attempt-{number - 1}" / "rerun.txt"
            locations = _rerun_locations(previous)
            if locations:
                # Passed as arguments: behave resolves `@file` entries relative to the file's folder.
                selected = tuple(locations)
                targets = list(locations)
        if not targets:
            targets = self.unit_args() or []
        if not targets and self.suite.path is not None:
            targets = [os.path.relpath(self.suite.path, self.cwd)]
        # Restricted or retrying: the feature files the suite's args name give way to the selection.
        args = list(self.selection().options) if selected else self.run_args()
        argv = [
            *self.base_command(),
            *targets,
            "--junit",
            f"--junit-directory={junit_dir}",
            "--no-color",
            "--format=rerun",
            f"--outfile={rerun_out}",
            "--format=progress",
            *args,
        ]
        return AttemptSpec(tuple(argv), self.cwd, self.env(), selected)


def _rerun_locations(path: Path) -> list[str]:
    """The failing scenarios behave's rerun file names; the suite wrote it: a bounded regular file only."""
    try:  # a FIFO (it would hang the read) or a link to /dev/zero is refused, as too large a file
        text = read_regular(path, _RERUN_BYTES).decode("utf-8", "replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _scenarios(feature: Path) -> int | None:
    """Scenarios in a feature file: one per scenario, one per example row of an outline (None: unreadable)."""
    try:  # a suite could have made a FIFO of one before a retry is planned
        text = read_start(feature, _COUNT_BYTES).decode("utf-8", "replace")
    except OSError:
        return None
    count = 0
    in_examples = header_seen = False
    for line in text.splitlines():
        stripped = line.strip()
        if _EXAMPLES.match(line):
            in_examples, header_seen = True, False
            continue
        if in_examples and stripped.startswith("|"):
            count += 1 if header_seen else 0
            header_seen = True
            continue
        if in_examples and (not stripped or stripped.startswith(("#", "@"))):
            continue
        in_examples = False
        found = _SCENARIO.match(line)
        if found and found.group(1).lower() not in ("scenario outline", "scenario template"):
            count += 1
    return count


def _walk(top: Path) -> Iterator[Path]:
    """Every file under `top`, folders and files sorted, hidden folders skipped."""
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            yield Path(dirpath) / name
