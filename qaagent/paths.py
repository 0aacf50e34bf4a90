"""The one check for paths that come from outside: they must stay inside a root folder.

`confine` checks a path given as text (an input, a flag); `refusal` the same for a
file a glob matched (result files and artifacts: `runners.result_door.match_files`). Both
phrase the verdict of one check, `_judge`; `link_out` is the readers' last look, with
the same rule of what lies inside (`_within`).

Action inputs (`working-directory`, `profile`, `junit-path`, `evidence-dir`,
merge `bundles`) name paths inside the workspace; a value that leaves it —
`..`, an absolute path elsewhere, a symlink pointing out — would let a
workflow input (or a pull request that changes the profile it points at)
read or write files of the runner. `confine` resolves the path (symlinks
followed, so a link cannot smuggle it out), refuses NUL and control
characters (a line break in a path would split the `evidence-path` output
into several paths), and requires the result to lie inside `root`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from qaagent.errors import UsageError
from qaagent.text import CONTROL, controls_shown

#: how the reason `refusal` gives starts: the match resolves outside the root / its name is unsafe
OUTSIDE = "outside the project"
UNSAFE_NAME = "unsafe name"


def _judge(text: str, *, base: Path, root: Path) -> tuple[Path | None, str | None]:
    """The one check: `text` (relative to `base`, or absolute) resolved, or the kind of problem.

    Kinds: ``nul``, ``control``, ``encoding`` (bytes that are not UTF-8: what the bundle and
    its manifest write is UTF-8; no path is resolved) and ``outside`` (the resolved path
    leaves `root`); None: the resolved path may be used. `root` must be resolved.
    """
    if "\0" in text:
        return None, "nul"
    if CONTROL.search(text):
        return None, "control"
    if not text.isascii() and _UNDECODED.search(text):
        return None, "encoding"
    resolved = (base / text).resolve()
    return resolved, None if _within(resolved, root) else "outside"


#: what `os.fsdecode` makes of bytes that are not UTF-8 (surrogateescape): lone surrogates
_UNDECODED = re.compile("[\udc80-\udcff]")


def printable(text: str) -> str:
    """`text` as UTF-8 can write it: bytes that were not UTF-8 (`os.fsdecode`'s surrogates) as escapes."""
    if text.isascii() or not _UNDECODED.search(text):
        return text
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def _within(resolved: Path, root: Path) -> bool:
    """Whether a resolved path lies in the resolved `root`: the one rule of what "inside" is."""
    return resolved.is_relative_to(root)


def confine(value: str, *, base: Path, root: Path, what: str, where: str = "the workspace") -> Path:
    """`value` (relative to `base`, or absolute) resolved; a `UsageError` unless it lies in `root`.

    `what` names the value in the message (``input 'profile'``); `where` names `root`.
    `root` itself must be resolved.
    """
    text = value.strip()
    if not text:
        raise UsageError(f"{what} is empty")
    resolved, problem = _judge(text, base=base, root=root)
    if problem == "nul":
        raise UsageError(f"{what} contains a NUL character")
    if problem == "encoding":
        raise UsageError(f"{what} is not valid UTF-8: {text[:160]!r}")
    if problem == "control" or resolved is None:
        raise UsageError(f"{what} contains a control character (such as a line break): {text!r}")
    if problem == "outside":
        raise UsageError(f"{what} ({text}) resolves to {resolved}, outside {where} {root}")
    return resolved


def refusal(path: Path, *, root: Path) -> str | None:
    """Why a file found on disk (a glob's match) may not be read: None when it may.

    The reason starts with its kind (`OUTSIDE` or `UNSAFE_NAME`, then a colon).

    The check `confine` makes, for paths that were matched rather than typed:
    a control character in the name, or — symlinks followed — a place outside
    `root` (resolved). A link that stays inside `root` is fine.
    """
    text = str(path)
    resolved, problem = _judge(text, base=Path(), root=root)  # a relative path: from the current folder
    if problem == "encoding":
        return f"{UNSAFE_NAME}: its name is not valid UTF-8: {text!r}"
    if problem in ("nul", "control"):
        return f"{UNSAFE_NAME}: it contains a control character: {text!r}"
    if problem == "outside":
        return f"{OUTSIDE}: it resolves to {resolved}, outside {root}"
    return None


def recorded(path: Path, root: Path) -> str:
    """How the plan's JSON names a path (settings, `plan --json`, the split's queue).

    POSIX text relative to `root` when inside it (``.`` for `root` itself), else the path as given.
    """
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def shown(path: Path, root: Path) -> str:
    """How the console, logs and error messages name a file: relative to `root` when inside it.

    Lexically (links not followed: the name as it was matched), and with each control
    character as a visible escape (`text.controls_shown`): a file named with a line break
    cannot split a console line or forge one; bytes that are not UTF-8 are escaped too.
    """
    absolute = Path(os.path.abspath(path))  # noqa: PTH100 - lexical, as link_out
    try:
        text = absolute.relative_to(os.path.abspath(root)).as_posix()  # noqa: PTH100
    except ValueError:
        text = str(path)
    return controls_shown(printable(text))


def link_out(path: Path, *, root: Path) -> Path | None:
    """Where a file opened for reading really is, when it is in `root` (or a link) but resolves out.

    The reader's last look before it opens a result file (`formats.source`): a file in
    the project, or any symlink, whose resolved location leaves `root` (a link planted
    after the glob was judged) is refused. A file outside `root` that is no link was
    named by the user (`--junit /tmp/x.xml`) and is not this check's business. None:
    the file may be read.
    """
    # lexically absolute first (os.path on purpose: where the name is, before links are followed)
    absolute = Path(os.path.abspath(path))  # noqa: PTH100
    if not (_within(absolute, Path(os.path.abspath(root))) or absolute.is_symlink()):  # noqa: PTH100
        return None
    resolved = absolute.resolve()
    return None if _within(resolved, root.resolve()) else resolved
