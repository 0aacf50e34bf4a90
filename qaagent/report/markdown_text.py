"""Untrusted text as inert Markdown: escaped inline text, fenced code, labels, locations, artifact lists.

Test names, messages and paths are untrusted: nothing here lets them open HTML, break a
table or a code fence, or mention a user on GitHub. `escape_text` lives in `qaagent.text`
(the GitHub feedback, which never imports report/, escapes with it too) and is imported here.
`qaagent.report.markdown` builds the summary from these pieces.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from qaagent.text import MARKDOWN_CONTROL, display_name, escape_text

if TYPE_CHECKING:
    from qaagent.results import TestCase
    from qaagent.stream import ReportCase


#: characters of a test name shown anywhere
NAME_CHARS = 300
_CONTROL = MARKDOWN_CONTROL


def code_block(text: str, info: str = "text") -> str:
    """Untrusted text in a fenced code block whose fence the text cannot close."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


def cut(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how many more there were."""
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit:,} more characters)"


def case_label(case: TestCase | ReportCase) -> str:
    """`suite › classname › name`, escaped and capped."""
    parts = [p for p in (case.suite, case.classname, display_name(case.name)) if p]
    raw = " › ".join(parts)
    if len(raw) > NAME_CHARS:
        raw = raw[: NAME_CHARS - 1] + "…"
    return escape_text(raw)


def location(file: str | None, line: int | None, link_base: str | None, sha: str | None) -> str:
    """`file:line`, escaped; with `link_base` (the repository's address) a link to it at `sha`."""
    if not file:
        return ""
    path = file.replace("\\", "/")
    shown = escape_text(path[:NAME_CHARS]) + (f":{line}" if line else "")
    if not link_base:
        return shown
    url = f"{link_base.rstrip('/')}/blob/{quote(sha or 'HEAD', safe='')}/{quote(path.lstrip('/'), safe='/')}"
    if line:
        url += f"#L{line}"
    return f"[{shown}]({url})"


#: artifacts named per failing test in the summary
MAX_ARTIFACTS = 10


def artifact_list(artifacts: Sequence[str]) -> str:
    """Artifacts (bundle-relative paths) as inline code, at most MAX_ARTIFACTS."""
    shown = ", ".join(_code_span(path) for path in artifacts[:MAX_ARTIFACTS])
    more = len(artifacts) - MAX_ARTIFACTS
    return shown + (f" and {more} more" if more > 0 else "")


def _code_span(text: str) -> str:
    """Inline code that untrusted text cannot break out of (no backticks, no line breaks)."""
    clean = " ".join(text.replace("`", "'").split())[:300]
    return f"`{clean}`"


def inline_code(text: str) -> str:
    """Text for inside a code span: one line, no control characters, no backticks."""
    return _CONTROL.sub(" ", " ".join(text.split())).replace("`", "'")
