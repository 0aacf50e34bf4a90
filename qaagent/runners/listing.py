"""Asking a test tool which files it would run, for `Runner.list_units`.

Sharding splits a suite by test file. Guessing the files from names alone
gets projects wrong that configure collection (pytest's ``norecursedirs``,
``testpaths``, ``collect_ignore``, ``--ignore`` in ``addopts``, custom
``python_files``; Playwright's ``testDir``, ``testMatch``, ``testIgnore``):
a file the tool would never collect became a unit and ran (pytest) or made a
shard fail with "No tests found" (Playwright). So the tool lists them
(``pytest --collect-only``, ``playwright test --list``: see those runners),
with a timeout, in its own process group, with the suite's environment
(without qaagent's token). When listing fails, the listing's `problem` says
why and the caller keeps the suite whole — tests are never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from qaagent.process import capture
from qaagent.text import cause_line, last_line

#: the longest a listing may take (seconds); the suite's own timeout when that is shorter
LIST_TIMEOUT = 300.0
#: how much of a failed listing's output is quoted
QUOTE = 160


@dataclass(frozen=True)
class ListedUnit:
    """One test file a runner can be restricted to, and the names its test cases may carry."""

    path: Path  #: absolute
    #: the file relative to the repository root, then runner-specific names (behave's dotted
    #: feature, the spec paths Playwright's classname may be)
    keys: tuple[str, ...]


@dataclass(frozen=True)
class UnitListing:
    """A suite's test files in the order an unsharded run reports them, or why they are unknown."""

    units: tuple[ListedUnit, ...] = ()
    problem: str | None = None  #: the tool could not say: the suite is kept whole


def ask_tool(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    what: str,
    ok: Sequence[int] = (0,),
) -> tuple[str | None, str]:
    """(stdout, "") when the tool exits with a code in `ok`; (None, why) otherwise."""
    try:
        code, out, err = capture(argv, cwd=cwd, env=env, timeout=min(LIST_TIMEOUT, timeout))
    except (OSError, TimeoutError) as exc:
        return None, f"{what} could not run ({exc})"
    if code in ok:
        return out, ""
    # The line that says what went wrong (npx's "npx canceled due to missing packages…"), not
    # whatever came last (npm's "A complete log of this run can be found in…").
    text = err or out
    return None, f"{what} exited {code}: {cause_line(text, QUOTE) or last_line(text, QUOTE)}"


def json_document(stdout: str) -> object:
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


def relative(path: Path, root: Path) -> str:
    """`path` relative to `root` as POSIX text (as given when outside it)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
