r"""Make untrusted test text safe to put into an XML 1.0 document.

Test names, messages, tracebacks and captured output come from the projects
under test and may contain terminal colour codes, NUL bytes, other control
characters or lone surrogates (undecodable bytes). XML 1.0 cannot carry most of
them, and a report with one such character is rejected whole by every parser.

ANSI escape sequences are removed (they carry no information in a report).
Every other character XML 1.0 forbids is replaced by visible text such as
``\x00`` or ``\ud800``, so that nothing is ever dropped silently.
"""

from __future__ import annotations

import re

#: CSI sequences (colours, cursor moves), OSC sequences (titles, hyperlinks) and
#: two-character escapes such as ``ESC c``.
_ANSI = r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]"
#: everything outside the XML 1.0 `Char` production
_ILLEGAL = r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
_PATTERN = re.compile(f"({_ANSI})|{_ILLEGAL}")
#: ESC is itself XML-illegal, so one character-class scan finds every text needing work
_NEEDS_WORK = re.compile(_ILLEGAL)


def _marker(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return ""
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"  # noqa: PLR2004 - byte-sized code points


def clean_text(text: str) -> str:
    """Strip ANSI escapes and replace XML-illegal characters with a visible escape."""
    if _NEEDS_WORK.search(text) is None:  # the common case, ~20x faster than the full pattern
        return text
    return _PATTERN.sub(_marker, text)
