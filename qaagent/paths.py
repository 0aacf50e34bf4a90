"""The one check for paths that come from outside: they must stay inside a root folder.

`confine` checks a path given as text (an input, a flag); `refusal` the same for a
file a glob matched (the result files of a `report` or `command` suite).

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

import re
from pathlib import Path

from qaagent.errors import UsageError

#: C0 controls (NUL, line breaks, ESC …), DEL and C1 controls
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def confine(value: str, *, base: Path, root: Path, what: str, where: str = "the workspace") -> Path:
    """`value` (relative to `base`, or absolute) resolved; a `UsageError` unless it lies in `root`.

    `what` names the value in the message (``input 'profile'``); `where` names `root`.
    `root` itself must be resolved.
    """
    text = value.strip()
    if not text:
        raise UsageError(f"{what} is empty")
    if "\0" in text:
        raise UsageError(f"{what} contains a NUL character")
    if _CONTROL.search(text):
        raise UsageError(f"{what} contains a control character (such as a line break): {text!r}")
    resolved = (base / text).resolve()
    if not resolved.is_relative_to(root):
        raise UsageError(f"{what} ({text}) resolves to {resolved}, outside {where} {root}")
    return resolved


def refusal(path: Path, *, root: Path) -> str | None:
    """Why a file found on disk (a glob's match) may not be read: None when it may.

    The check `confine` makes, for paths that were matched rather than typed:
    a control character in the name, or — symlinks followed — a place outside
    `root` (resolved). A link that stays inside `root` is fine.
    """
    text = str(path)
    if _CONTROL.search(text):
        return f"its name contains a control character: {text!r}"
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        return f"it resolves to {resolved}, outside {root}"
    return None
