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
from collections.abc import Callable, Collection, Mapping, Sequence
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
    #: how many tests the tool listed in the file (None: it does not say)
    tests: int | None = None


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


@dataclass(frozen=True)
class Selection:
    """A suite's `args` taken apart: the options, and the positional arguments that select tests."""

    options: tuple[str, ...]  #: everything that is not a selection, in order
    files: tuple[str, ...] = ()  #: selections of whole files or folders (a restricted run replaces them)
    #: selections finer than a file (a pytest node id, ``file:line``): a restricted run cannot keep them
    finer: tuple[str, ...] = ()


def split_selection(
    args: Sequence[str],
    *,
    value_options: Collection[str],
    variadic_options: Collection[str] = (),
    kind: Callable[[str], str | None],
) -> Selection:
    """Take the positional test selections out of `args` (they would run in every shard and batch).

    An option in `value_options` written ``--opt VALUE`` takes the next argument
    with it; one in `variadic_options` takes every following argument up to the
    next option (Playwright's ``--project a b``). ``--opt=VALUE`` and ``-kVALUE``
    are one argument. Every other positional argument goes to `kind`: ``"file"``
    (a whole file or folder), ``"finer"`` (part of a file) or None (not a
    selection: it stays an option, e.g. the value of an option this table does not know).
    """
    options: list[str] = []
    files: list[str] = []
    finer: list[str] = []
    items = list(args)
    position = 0
    while position < len(items):
        item = items[position]
        position += 1
        if item.startswith("-") and len(item) > 1 and item != "--":
            options.append(item)
            name = item.partition("=")[0]
            if "=" in item:
                continue
            if name in variadic_options:
                while position < len(items) and not items[position].startswith("-"):
                    options.append(items[position])
                    position += 1
            elif name in value_options and position < len(items):
                options.append(items[position])
                position += 1
            continue
        found = kind(item) if item != "--" else None
        if found == "file":
            files.append(item)
        elif found == "finer":
            finer.append(item)
        else:
            options.append(item)
    return Selection(tuple(options), tuple(files), tuple(finer))
