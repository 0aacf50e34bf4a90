r"""Small text helpers every report shares: cleaning, cutting to size, formatting seconds.

Test names, messages and output come from the projects under test: they may
hold terminal colour codes, NUL bytes, lone surrogates (undecodable bytes)
and megabytes without a newline. Each writer (merged JUnit, records,
Markdown, annotations, the console) cuts and cleans with these functions, so
"how much is kept" and "what a cut looks like" are decided once.

`clean_text` removes ANSI escape sequences (they carry no information in a
report) and replaces every other character XML 1.0 forbids by visible text
such as ``\x00`` or ``\ud800``, so nothing is ever dropped silently.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

#: CSI sequences (colours, cursor moves), OSC sequences (titles, hyperlinks) and
#: two-character escapes such as ``ESC c``.
_ANSI = r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]"
#: everything outside the XML 1.0 `Char` production (#x9 | #xA | #xD | [#x20-#xD7FF] |
#: [#xE000-#xFFFD] | [#x10000-#x10FFFF]), written as the ranges it leaves out: the negated class
#: `[^\x09\x0a\x0d\x20-\ud7ff...]` means the same but took ~10 ms to compile, in every process
_ILLEGAL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"
_PATTERN = re.compile(f"({_ANSI})|{_ILLEGAL}")
#: ESC is itself XML-illegal, so one character-class scan finds every text needing work
_NEEDS_WORK = re.compile(_ILLEGAL)
#: the same class for a caller that removes what XML cannot hold (`formats.xmlsafe`)
XML_ILLEGAL = _NEEDS_WORK
_FENCE = re.compile(r"(?m)^```")


#: what no path, title or name may hold: C0 controls (line breaks, NUL, ESC …), DEL, C1 controls,
#: and the Unicode line and paragraph separators (a line break to some readers) — the one rule
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


#: the controls inline Markdown never shows
MARKDOWN_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: U+200D ZERO WIDTH JOINER: after `@` and `#` it keeps GitHub from mentioning or linking
_JOINER = "\u200d"
#: `escape_text`'s one table (applied by C in one pass): controls to a blank, `&<>` to entities,
#: each Markdown special escaped by a backslash, a joiner after `@` and `#`
_INLINE = str.maketrans(
    {
        **dict.fromkeys(map(chr, [*range(0x09), *range(0x0B, 0x20), 0x7F]), " "),
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        **{c: "\\" + c for c in "\\`*_{}[]()#+-.!|~"},
        "#": "\\#" + _JOINER,
        "@": "@" + _JOINER,
    }
)


def escape_text(text: str) -> str:
    """Untrusted text as inert inline Markdown: no HTML, no formatting, one line, no mention.

    GitHub turns `@user`, `@org/team` and `#123` in a comment or check run into
    notifications and links after the Markdown is parsed (a backslash does not stop
    it), so a zero-width joiner follows every `@` and `#`: the text reads the same
    and pings no one. The one escaper of inline Markdown (the reports and the GitHub feedback).
    """
    return " ".join(text.split()).translate(_INLINE)


def _escaped(match: re.Match[str]) -> str:
    r"""The matched character as visible text: ``\x0a``, ``\u2028``."""
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"  # noqa: PLR2004 - byte-sized code points


def _marker(match: re.Match[str]) -> str:
    return "" if match.group(1) is not None else _escaped(match)


def controls_shown(text: str) -> str:
    r"""`text` (a file's name, a path) with each `CONTROL` character as a visible escape (``\x0a``).

    Every console line, log line and error message that names a file passes its name
    through here, so a line break in a matched file's name cannot split the line.
    """
    return CONTROL.sub(_escaped, text)


def clean_text(text: str) -> str:
    """Strip ANSI escapes and replace XML-illegal characters with a visible escape."""
    if _NEEDS_WORK.search(text) is None:  # the common case, ~20x faster than the full pattern
        return text
    return _PATTERN.sub(_marker, text)


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def one_line(text: str) -> str:
    """Test text on one line of the console or a table: line breaks and tabs shown as escapes, not obeyed."""
    return text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


#: how reports show a test whose tool gave it no name (behave's untitled `Scenario:`)
UNNAMED = "(unnamed)"


def display_name(name: str) -> str:
    """A test's name as reports show it: the tool's, or `UNNAMED` for an empty one.

    Only a label: the identity stays the tool's (`""`), in tests.jsonl, the merged
    JUnit, retries and history.
    """
    return name if name.strip() else UNNAMED


def first_line(text: str, limit: int | None = 200) -> str:
    """The first non-empty line of a message, trimmed and shortened to `limit` (None: not cut)."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped:
            return stripped if limit is None else shorten(stripped, limit)
    return ""


def last_line(text: str, limit: int = 160) -> str:
    """The last non-empty line of some output, trimmed and cut to `limit` ("no output" if none)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else "no output"


#: a line that says what went wrong: an exception (`NameError: …`), `Error: …`, `error: …`, a
#: tool's "not found" or "canceled due to", a panic or fatal error
_CAUSE = re.compile(
    r"(?:\b[A-Z]\w*(?:Error|Exception)\b|\berror\b\s*:|^\s*Error\b|\bnot found\b|\bno such\b"
    r"|\bcancel+ed due to\b|\bpanic:|\bfatal\b|\bE\s{2,}\S)",
    re.IGNORECASE,
)
#: lines that look like errors but only point elsewhere (npm's "A complete log of this run…")
_NOT_A_CAUSE = re.compile(
    r"A complete log of this run can be found in|^\s*(?:npm (?:ERR!|error))?\s*$"
    r"|^\s*(?:npm (?:ERR!|error)\s+)?/\S+\.log\s*$"
    r"|^\s*=+.*\b(?:passed|failed|errors?)\b.*=+\s*$",
    re.IGNORECASE,
)


def cause_line(output: str, limit: int = 300) -> str | None:
    """The last line of `output` that looks like the cause of a failure, trimmed and shortened.

    For a suite that crashed before it wrote a report (`NameError` in a steps
    file, Playwright's `Error: Project(s) "x" not found`) and for a tool that
    failed to list its files (npx's `npx canceled due to missing packages…`,
    not npm's "A complete log of this run can be found in…"). None when no line
    looks like one.
    """
    for line in reversed(output.splitlines()):
        stripped = clean_text(line).strip()
        if stripped and _CAUSE.search(stripped) and not _NOT_A_CAUSE.search(stripped):
            return shorten(" ".join(stripped.split()), limit)
    return None


def first_lines(text: str, lines: int, chars: int) -> str:
    """The first `lines` lines of a message, trimmed, with a marker when something was cut."""
    kept = text.strip().splitlines()
    head = "\n".join(kept[:lines])
    if len(kept) > lines:
        head += "\n…"
    return shorten(head, chars)


def truncate(text: str, limit: int) -> str:
    """`text` cut to about `limit` UTF-8 bytes (head and tail kept) with a marker saying so."""
    if limit <= 0 or len(text) * 4 <= limit:
        return text
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    half = limit // 2
    head = data[:half].decode("utf-8", "ignore")
    tail = data[len(data) - (limit - half) :].decode("utf-8", "ignore")
    cut = len(data) - limit
    return f"{head}\n[... qaagent: {cut} of {len(data)} bytes truncated ...]\n{tail}"


def truncate_utf8(text: str, max_bytes: int, note: str = "") -> str:
    """Return `text` within `max_bytes` UTF-8 bytes, cut at a line end, `note` appended when cut.

    Cutting at a line end keeps Markdown table rows whole (a lone first line
    that is a table row is dropped rather than cut) and an unclosed code fence
    is dropped with what follows it. Other single long lines are cut at a
    character boundary. The note is left out when even it does not fit.
    """
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    suffix = f"\n\n{note}\n" if note else "\n"
    if len(suffix.encode("utf-8")) > max_bytes:
        suffix = ""
    room = max_bytes - len(suffix.encode("utf-8"))
    head = data[:room].decode("utf-8", errors="ignore")
    if "\n" in head:
        head = head[: head.rindex("\n")]
    elif head.startswith("|"):
        head = ""
    fences = [m.start() for m in _FENCE.finditer(head)]
    if len(fences) % 2:
        head = head[: fences[-1]].rstrip("\n")
    return head + suffix


def format_time(seconds: float) -> str:
    """Seconds with exactly 3 decimals, never negative, never exponent notation (JUnit `time`)."""
    if not math.isfinite(seconds) or seconds < 0:
        seconds = 0.0
    return f"{seconds:.3f}"


def fmt_seconds(seconds: float) -> str:
    """`4.2 s`, `3 m 07 s`, `1 h 02 m`: a duration for people."""
    if seconds < 60:  # noqa: PLR2004 - one minute
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:  # noqa: PLR2004 - one hour
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


def epoch(text: object) -> float | None:
    """Epoch seconds of an ISO-8601 time (as manifests write them); None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
