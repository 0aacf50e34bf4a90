"""pytest suites: xunit1 JUnit (file and line per test); retries rerun the failed node ids."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from qaagent.results import TestCase
from qaagent.runners.base import AttemptSpec, PythonToolRunner


class PytestRunner(PythonToolRunner):
    """`python -m pytest PATH -o junit_family=xunit1 --junitxml=…`; `command:` replaces `python -m pytest`."""

    kind = "pytest"
    module = "pytest"

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
        # xunit1 classname: the module's dotted path (relative to rootdir), then the classes.
        suffix = module
        while suffix and not (classname == suffix or classname.startswith(suffix + ".")):
            suffix = suffix.partition(".")[2]
        if not suffix:
            return None
        classes = classname[len(suffix) :].lstrip(".")
        parts = [rel, *[c for c in classes.split(".") if c], case.name]
        return "::".join(parts)
