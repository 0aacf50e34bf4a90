"""behave suites: one JUnit file per feature; retries rerun the failed scenarios from behave's rerun file.

Units are the ``.feature`` files under the suite's path (hidden folders
skipped), in the order qaagent reports them: behave writes one JUnit file per
feature, ``TESTS-<dotted path>.xml``, and those are read sorted by name. A
case maps back to its feature by the file or by its dotted name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from qaagent.results import TestCase
from qaagent.runners.base import AttemptSpec, PythonToolRunner
from qaagent.runners.listing import ListedUnit, UnitListing, relative


class BehaveRunner(PythonToolRunner):
    """`python -m behave PATH --junit --junit-directory … -f rerun -o rerun.txt -f progress`."""

    kind = "behave"
    module = "behave"

    def list_units(self) -> UnitListing:
        """The feature files, in the order their JUnit files are read."""
        path = self.suite.path
        assert path is not None  # noqa: S101 - the caller checks the suite has a path
        files = [path] if path.is_file() else [f for f in _walk(path) if f.suffix == ".feature"]
        files.sort(key=lambda f: f"TESTS-{self._dotted(f)}.xml")
        return UnitListing(tuple(ListedUnit(f, self.unit_keys(f)) for f in files))

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
        argv = [
            *self.base_command(),
            *targets,
            "--junit",
            f"--junit-directory={junit_dir}",
            "--no-color",
            "--format=rerun",
            f"--outfile={rerun_out}",
            "--format=progress",
            *self.suite.config.args,
        ]
        return AttemptSpec(tuple(argv), self.cwd, self.env(), selected)


def _rerun_locations(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _walk(top: Path) -> Iterator[Path]:
    """Every file under `top`, folders and files sorted, hidden folders skipped."""
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            yield Path(dirpath) / name
