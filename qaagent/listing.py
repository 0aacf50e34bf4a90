"""Which test files a runner would run: asked of pytest and Playwright themselves.

Sharding splits a suite by test file. Guessing the files from names alone
gets projects wrong that configure collection (pytest's ``norecursedirs``,
``testpaths``, ``collect_ignore``, ``--ignore`` in ``addopts``, custom
``python_files``; Playwright's ``testDir``, ``testMatch``, ``testIgnore``):
a file the tool would never collect became a unit and ran (pytest) or made a
shard fail with "No tests found" (Playwright). So the tool lists them:

- pytest: ``<base> --collect-only -q <path> <suite args>`` in the suite's
  working directory; the files of the node ids, in collection order (the
  order an unsharded run reports them);
- Playwright: ``<base> <suite args> --list --reporter=json`` in the project
  folder (no browser starts); the file of each top-level suite.

Both run with a timeout in their own process group, with the suite's
environment (without qaagent's token). When listing fails, `Listing.problem`
says why and the caller keeps the suite whole — tests are never dropped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from qaagent.plan import SuitePlan
from qaagent.process import capture, child_environment
from qaagent.text import last_line

#: the longest a listing may take (seconds); the suite's own timeout when that is shorter
LIST_TIMEOUT = 300.0
#: how much of a failed listing's output is quoted
_QUOTE = 160
#: `--collect-only -qq` prints ``path: count`` instead of node ids
_COUNT_LINE = re.compile(r"^(.+?): \d+$")


@dataclass(frozen=True)
class Listing:
    """The files a runner would run, in its order, or why it could not say."""

    files: tuple[Path, ...] = ()  #: absolute
    problem: str | None = None


def _environment(suite: SuitePlan) -> dict[str, str]:
    return {**child_environment(os.environ), **suite.env, "PYTHONUNBUFFERED": "1"}


def _run(argv: Sequence[str], cwd: Path, suite: SuitePlan, what: str) -> tuple[str | None, str]:
    """(stdout, "") on exit 0 (or pytest's 5, nothing collected); (None, why) otherwise."""
    timeout = min(LIST_TIMEOUT, suite.timeout)
    try:
        code, out, err = capture(argv, cwd=cwd, env=_environment(suite), timeout=timeout)
    except (OSError, TimeoutError) as exc:
        return None, f"{what} could not run ({exc})"
    if code == 0 or (code == 5 and what.startswith("pytest")):  # noqa: PLR2004 - pytest: no tests
        return out, ""
    return None, f"{what} exited {code}: {last_line(err or out)}"


# -- pytest ----------------------------------------------------------------------------------------


def _pytest_node_files(stdout: str) -> Iterator[str]:
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


def _bases(suite: SuitePlan) -> list[Path]:
    """Where node ids may be relative to: the working directory, then the path and its parents."""
    assert suite.path is not None  # noqa: S101 - checked by the caller
    start = suite.path if suite.path.is_dir() else suite.path.parent
    return [suite.working_directory, start, *start.parents]


def pytest_files(suite: SuitePlan, base: Sequence[str]) -> Listing:
    """The test files pytest collects for `suite`, in collection order."""
    assert suite.path is not None  # noqa: S101 - checked by the caller
    cwd = suite.working_directory
    argv = [*base, "--collect-only", "-q", os.path.relpath(suite.path, cwd), *suite.config.args]
    out, why = _run(argv, cwd, suite, "pytest --collect-only")
    if out is None:
        return Listing(problem=why)
    names = list(dict.fromkeys(_pytest_node_files(out)))
    bases = _bases(suite)
    files: list[Path] = []
    for name in names:
        found = next((b / name for b in bases if (b / name).is_file()), None)
        if found is None:
            return Listing(problem=f"pytest collected {name[:_QUOTE]}, which is not a file here")
        files.append(Path(os.path.normpath(found)))
    return Listing(tuple(dict.fromkeys(files)))


# -- Playwright ------------------------------------------------------------------------------------


def _json_document(stdout: str) -> object:
    """The JSON report, even when the project's config printed lines before it."""
    try:
        return json.loads(stdout)
    except ValueError:
        pass
    start = stdout.find("\n{")
    if start < 0:
        return None
    try:
        return json.loads(stdout[start + 1 :])
    except ValueError:
        return None


def playwright_specs(suite: SuitePlan, base: Sequence[str], project_dir: Path) -> Listing:
    """The spec files Playwright lists for `suite` (testDir, testMatch and testIgnore applied)."""
    argv = [*base, *suite.config.args, "--list", "--reporter=json"]
    out, why = _run(argv, project_dir, suite, "playwright test --list")
    if out is None:
        return Listing(problem=why)
    data = _json_document(out)
    config = data.get("config") if isinstance(data, dict) else None
    root = config.get("rootDir") if isinstance(config, dict) else None
    suites = data.get("suites") if isinstance(data, dict) else None
    if not isinstance(root, str) or not isinstance(suites, list):
        return Listing(problem="playwright test --list did not print its JSON report")
    errors = data.get("errors") if isinstance(data, dict) else None
    if errors:
        first = errors[0].get("message") if isinstance(errors[0], dict) else None
        return Listing(
            problem=f"playwright test --list reported errors: {last_line(str(first or errors[0]))}"
        )
    files: dict[Path, None] = {}
    for entry in suites:
        file = entry.get("file") if isinstance(entry, dict) else None
        if isinstance(file, str) and file:
            files[Path(os.path.normpath(Path(root) / file))] = None
    return Listing(tuple(files))
