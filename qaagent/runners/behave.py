"""behave suites: one JUnit file per feature; retries rerun the failed scenarios from behave's rerun file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from qaagent.results import TestCase
from qaagent.runners.base import AttemptSpec, PythonToolRunner


class BehaveRunner(PythonToolRunner):
    """`python -m behave PATH --junit --junit-directory … -f rerun -o rerun.txt -f progress`."""

    kind = "behave"
    module = "behave"

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
