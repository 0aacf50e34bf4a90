r"""The one redaction step: every piece of text qaagent lets out of the process passes here first.

What leaves the process — the console, workflow commands, `GITHUB_OUTPUT`,
`GITHUB_STEP_SUMMARY`, check-run and comment bodies, every file of the
evidence bundle — is written by a door that calls the process's `Redactor`
(`current()`): the console, `qaagent.github.commands`, the GitHub API client,
the bundle's writers, the output readers of child processes (`StreamRedactor`,
as the output is written, so a killed run leaves no raw secret behind) and the
copy of files into the bundle (`copy_redacted`) — those two in `qaagent.redact_stream`.

**Which values are secrets.** The value of every environment variable

- whose name has a part (split at ``_``, ``-`` and ``.``) that ends with
  ``TOKEN``, ``SECRET``, ``PASSWORD``, ``PASSWD``, ``PASSPHRASE``,
  ``CREDENTIAL`` or ``KEY`` (a plural ``S`` allowed: ``API_KEYS``), or is
  exactly ``PASS`` or ``PWD`` in a name of several parts (``DB_PASS``; ``PWD``
  alone is the working directory) — so ``GITHUB_TOKEN``, ``PGPASSWORD``,
  ``AWS_SECRET_ACCESS_KEY`` count and ``POETRY_KEYRING_ENABLED`` does not;
- or that `QAAGENT_SECRETS` names (names separated by commas or blanks);

and the values registered at run time (`register`: the GitHub token qaagent was
handed). A value counts only when it is long and specific enough to be one:
at least `MIN_SECRET_LENGTH` (8) characters once surrounding blanks are
removed, not a number, and not a common setting word (`COMMON_VALUES`:
``false``, ``disabled``…). A multi-line value (a private key) also counts line
by line, each line by the same rule.

**Encodings** (`qaagent.redact_encodings`). Tools write secrets in more ways than one, so each secret is
looked for raw, XML/HTML-escaped (``&amp;``, ``&lt;``, ``&quot;``, ``&#39;``…, and
numeric character references, decimal or hex in either case — ``&#38;``, ``&#x26;``,
``&#228;`` for a non-ASCII character, as a writer with an ASCII output encoding makes them),
JSON-escaped (``\"``, ``\u00e9``, ``\/``, Go's ``\u003c``), URL-encoded (both
hex cases, ``+`` for blanks), base64 and base64url (inside any encoded text,
whatever comes before it: ``user:secret`` in a Basic header), and split by a
line break where a tool wraps its output (``fold``, 76-column base64), also when the
tool indents the continuation line (the blanks after the break are left out too). The rest
of a line after an ``Authorization:`` header name is masked too.

It cannot know secrets that are nowhere in the environment; that is what the
allowlist of recorded environment variables is for.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import AnyStr

from qaagent.redact_encodings import base64_cores, written_forms, xml_spellings

MASK = "***"
#: name parts ending with one of these (plural S allowed) mark a secret variable
SECRET_NAME_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "KEY")
#: name parts that mark a secret only as a whole part of a longer name
SECRET_NAME_PARTS = frozenset({"PASS", "PWD"})
#: the variable naming more variables whose values are secrets
EXTRA_NAMES_VARIABLE = "QAAGENT_SECRETS"
#: shorter values would mask ordinary words and numbers everywhere
MIN_SECRET_LENGTH = 8
#: values that are settings, never secrets, whatever the variable is called (compared in lower case)
COMMON_VALUES = frozenset(
    {"true", "false", "yes", "no", "on", "off", "none", "null", "nil", "undefined", "enabled", "disabled"}
)

_NAME_SPLIT = re.compile(r"[^A-Z0-9]+")
_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")
_HEADER = re.compile(r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*)[^\r\n]*")
#: a line break (a secret a tool wraps is looked for across them)
LINE_BREAKS = re.compile(r"[\r\n]")
#: a line break with the indentation of the line it continues (runs of them)
_FOLD = re.compile(r"(?:[\r\n][ \t]*)+")
_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")
#: extra characters kept in the windows around a stream's pieces (line breaks and the
#: indentation after them inside a match)
_SLACK = 40


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name says its value is a secret (see the module doc).

    Cached: `current()` asks again for every name of the environment each time a writer
    redacts (hundreds of times in a run of many suites), and names do not change meaning.
    """
    parts = [p for p in _NAME_SPLIT.split(name.upper()) if p]
    for part in parts:
        stem = part[:-1] if part.endswith("S") and len(part) > 1 else part
        if stem.endswith(SECRET_NAME_WORDS) or part.endswith(SECRET_NAME_WORDS):
            return True
        if part in SECRET_NAME_PARTS and len(parts) > 1:
            return True
    return False


def is_secret_value(value: str) -> bool:
    """Whether `value` is long and specific enough to be treated as a secret (see the module doc)."""
    text = value.strip()
    return (
        len(text) >= MIN_SECRET_LENGTH
        and text.lower() not in COMMON_VALUES
        and _NUMBER.fullmatch(text) is None
    )


def secret_names(environ: Mapping[str, str]) -> list[str]:
    """The names of `environ` whose values are secrets: by their name, or named by QAAGENT_SECRETS."""
    extra = {n for n in re.split(r"[\s,]+", environ.get(EXTRA_NAMES_VARIABLE, "")) if n}
    return [name for name in environ if name in extra or is_secret_name(name)]


def secret_values(values: Iterable[str]) -> set[str]:
    """The values that count, each multi-line value also line by line."""
    found: set[str] = set()
    for value in values:
        for piece in (value, *value.splitlines()):
            if is_secret_value(piece):
                found.add(piece.strip())
    return found


class Redactor:
    """Masks known secret values, in the encodings tools write them in, and Authorization headers."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = secret_values(secrets)
        self.secrets: frozenset[str] = frozenset(values)
        plain: set[str] = set()
        cores: set[str] = set()
        for value in values:
            plain |= written_forms(value)
            cores |= base64_cores(value, shortest=MIN_SECRET_LENGTH)
        cores -= plain
        self._cores = frozenset(cores)
        # longest first, so a secret containing another is masked whole
        ordered = sorted(plain | cores, key=lambda v: (-len(v), v))
        #: the XML spellings of each value with characters a writer escapes, any mix of them
        self._spellings = tuple(s for v in sorted(values) if (s := xml_spellings(v)) is not None)
        sources = [*(re.escape(v) for v in ordered), *(_spelled(s, _TEXT_GROUP) for s in self._spellings)]
        self._pattern = re.compile("|".join(sources)) if sources else None
        # A substring of each form that any text holding it must hold: testing these with `in`
        # is several times faster than a scan with the pattern (most text holds no secret).
        # (Every spelled value is in `ordered` raw, and its anchor is letters and digits only.)
        anchors = {_anchor(v) for v in ordered}
        self._anchors: tuple[str, ...] | None = None if "" in anchors else tuple(sorted(anchors))
        #: characters a stream holds back: the longest form and the line breaks it may span
        longest = max((len(v) for v in ordered), default=0)
        spelled = max((sum(max(map(len, alts)) for alts in s) for s in self._spellings), default=0)
        self.hold = max(longest, spelled) + _SLACK
        self._forms = tuple(ordered)

    @functools.cached_property
    def byte_patterns(self) -> tuple[tuple[tuple[re.Pattern[bytes], bytes, tuple[bytes, ...]], ...], int]:
        """What a binary file is searched with, per encoding; the longest form in bytes of any.

        Every form and XML spelling of every secret in UTF-8, UTF-16-LE and UTF-16-BE bytes
        (BOM or not: a Windows tool's file). Per encoding: the pattern, the mask of one
        character in it (``*`` in that encoding: a match becomes as many as it has
        characters, so offsets stay) and the anchors any match holds: the pattern is tried
        only on bytes holding one (empty: always), so data with no secret costs a few
        substring searches. The longest form is what a stream of bytes holds back.
        """
        found = []
        longest = 0
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            pattern, length = self._bytes_pattern(encoding)
            if pattern is None:
                continue
            anchors = {_anchor(form).encode(encoding, "surrogatepass") for form in self._forms}
            unit = "*".encode(encoding)
            found.append((pattern, unit, () if b"" in anchors else tuple(sorted(anchors))))
            longest = max(longest, length)
        return tuple(found), longest

    def _bytes_pattern(self, encoding: str) -> tuple[re.Pattern[bytes] | None, int]:
        """Every form and XML spelling of every secret in `encoding`, as one pattern; the longest in bytes."""

        def encoded(text: str) -> bytes:
            return text.encode(encoding, "surrogatepass")

        ordered = sorted({encoded(form) for form in self._forms}, key=lambda v: (-len(v), v))
        spelled_sources = [
            _spelled([tuple(map(encoded, alts)) for alts in spelling], _BYTES_GROUP)
            for spelling in self._spellings
        ]
        sources = [*(re.escape(v) for v in ordered), *spelled_sources]
        pattern = re.compile(b"|".join(sources)) if sources else None
        spelled = max(
            (sum(max(len(encoded(a)) for a in alts) for alts in s) for s in self._spellings),
            default=0,
        )
        return pattern, max(max(map(len, ordered), default=0), spelled)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> Redactor:
        """A redactor for the secrets of `environ` (default: os.environ) and the values `extra`."""
        env = os.environ if environ is None else environ
        return cls([*(env[name] for name in secret_names(env)), *extra])

    def with_secrets(self, values: Iterable[str]) -> Redactor:
        """This redactor with more secret values."""
        return Redactor([*self.secrets, *values])

    def redact(self, text: str) -> str:
        """`text` with every secret and Authorization header value masked."""
        if not text:
            return text
        # the common case, as cheap as it can be: no secret and no header in the text
        if "uthorization" not in text.lower():
            if self._pattern is None:
                return text
            if self._anchors is not None:
                joined = _unfolded(text) if ("\n" in text or "\r" in text) else text
                if not self._holds_anchor(joined):
                    return text
        return self.redact_span(text)[0]

    def _holds_anchor(self, text: str) -> bool:
        return any(anchor in text for anchor in self._anchors or ())

    def redact_span(self, text: str, before: str = "", after: str = "") -> tuple[str, bool]:
        """`text` redacted, seeing `before` and `after` it (the text around it in a stream).

        Returns the redacted `text` and whether it ends inside an Authorization
        header's value (the rest of that line is to be masked). A secret that
        starts in `before` was shown as ``***`` there: its rest in `text` is left
        out; one that continues into `after` is masked here up to `text`'s end.
        """
        # Secrets first, on the text as written (a secret may run across a header's line end),
        # then the rest of each Authorization header's line.
        return self._headers(self._secrets(text, before, after), before, after)

    def _secrets(self, text: str, before: str, after: str) -> str:
        """`text` with every secret masked, seeing `before` and `after` it."""
        if self._pattern is None:
            return text
        whole = before + text + after
        breaks = "\n" in whole or "\r" in whole
        # The text without its line breaks (a blank after a break may be the secret's own), and
        # without the indentation of the lines they continue too: the widest view, checked first.
        unfolded = _unfolded(whole) if breaks else whole
        if self._anchors is not None and not any(anchor in unfolded for anchor in self._anchors):
            return text  # the common case
        joined = whole.replace("\r", "").replace("\n", "") if breaks else whole
        indented = len(unfolded) < len(joined)
        if self._pattern.search(joined) is None and not (indented and self._pattern.search(unfolded)):
            return text
        start, end = len(before), len(before) + len(text)
        plain = [m.start() for m in LINE_BREAKS.finditer(whole)] if breaks else []
        spans = self._spans(joined, plain, start, end)
        if indented:
            folds = [i for m in _FOLD.finditer(whole) for i in range(m.start(), m.end())]
            spans += self._spans(unfolded, folds, start, end)
        return _masked(whole, start, end, spans)

    def _spans(self, joined: str, removed: list[int], start: int, end: int) -> list[tuple[int, int]]:
        """The secrets in `joined` (the text without the characters at `removed`), as spans of the text.

        Only the spans that reach into ``text[start:end]``.
        """
        assert self._pattern is not None  # noqa: S101 - checked by the caller
        # how many kept characters come before each removed one
        kept_before = [pos - index for index, pos in enumerate(removed)]

        def original(position: int) -> int:
            return position + bisect.bisect_right(kept_before, position)

        breaks_at = frozenset(kept_before)
        spans: list[tuple[int, int]] = []
        for match in self._pattern.finditer(joined):
            low, high = match.span()
            if match[0] in self._cores:
                low, high = _base64_run(joined, low, high, breaks_at)
            lo, hi = original(low), original(high - 1) + 1
            if hi > start and lo < end:
                spans.append((lo, hi))
        return spans

    def _headers(self, text: str, before: str, after: str) -> tuple[str, bool]:
        """Mask the rest of the line after an Authorization header name, which may start in `before`.

        The second value says whether the masked value goes on past `text` (into `after`).
        """
        tail = before[max(before.rfind("\n"), before.rfind("\r")) + 1 :][-64:]
        probe = tail + text + after
        if "uthorization" not in probe.lower():
            return text, False
        out: list[str] = []
        position = 0
        open_header = False
        for match in _HEADER.finditer(probe):
            value_start, value_end = match.end(1) - len(tail), match.end() - len(tail)
            if value_start < 0 or value_start >= len(text):
                continue  # masked by the piece before, or by the next one
            out.append(text[position:value_start])
            out.append(MASK)
            position = min(value_end, len(text))
            open_header = value_end > len(text)
        out.append(text[position:])
        return "".join(out), open_header


def _spelled(spellings: Sequence[tuple[AnyStr, ...]], syntax: tuple[AnyStr, AnyStr, AnyStr]) -> AnyStr:
    """A pattern matching a value spelled character by character, any of its spellings for each.

    `syntax` is the group's opening, the alternation and the closing in the pattern's type
    (``("(?:", "|", ")")`` for text; the bytes of a value's spellings in one encoding take
    ``(b"(?:", b"|", b")")``).
    """
    opening, bar, closing = syntax
    parts = []
    for alts in spellings:
        if len(alts) == 1:
            parts.append(re.escape(alts[0]))
        else:
            parts.append(
                opening + bar.join(re.escape(a) for a in sorted(set(alts), key=len, reverse=True)) + closing
            )
    return opening[:0].join(parts)


#: `_spelled`'s syntax for text patterns and for bytes patterns
_TEXT_GROUP = ("(?:", "|", ")")
_BYTES_GROUP = (b"(?:", b"|", b")")


def _unfolded(text: str) -> str:
    """`text` without its line breaks and the blanks after each (`_FOLD`; as fast as it gets)."""
    if "\n " in text or "\n\t" in text or ("\r" in text and ("\r " in text or "\r\t" in text)):
        lines = text.replace("\r", "\n").split("\n")
        return lines[0] + "".join(line.lstrip(" \t") for line in lines[1:])
    return text.replace("\r", "").replace("\n", "")


def _anchor(form: str) -> str:
    """The longest run of letters and digits in `form` ("" when shorter than 4)."""
    best = max(_ALNUM_RUN.findall(form), key=len, default="")
    return best if len(best) >= 4 else ""  # noqa: PLR2004 - shorter runs are everywhere


def _base64_run(text: str, low: int, high: int, breaks: frozenset[int]) -> tuple[int, int]:
    """Widen a base64 core match to the run of base64 characters around it, on its own lines.

    `breaks` are the positions of `text` where a line break was taken out: the widening
    stops there (the next line's first word is not part of the encoded text).
    """
    while low > 0 and low not in breaks and text[low - 1] in _B64:
        low -= 1
    while high < len(text) and high not in breaks and text[high] in _B64:
        high += 1
    while high < len(text) and high not in breaks and text[high] == "=":
        high += 1
    return low, high


def _masked(whole: str, start: int, end: int, spans: list[tuple[int, int]]) -> str:
    """`whole[start:end]` with each span masked: one ``***`` per line it covers.

    A continuation line keeps its indentation, and its ``***`` stands at its first other
    character. A ``***`` belongs to that character's position: the part of a span that
    continues a line already shown masked before `start` is left out.
    """
    out: list[str] = []
    position = start
    for lo, hi in _merged(spans):
        lo_in, hi_in = max(lo, start, position), min(hi, end)
        if hi_in <= lo_in:
            continue
        out.append(whole[position:lo_in])
        line_start = lo
        for line_break in [*LINE_BREAKS.finditer(whole, lo, hi), None]:
            line_end = hi if line_break is None else line_break.start()
            mark = line_start
            if line_start > lo:  # a continuation line: its indentation stays as written
                while mark < line_end and whole[mark] in " \t":
                    mark += 1
            if max(line_start, lo_in) < min(mark, hi_in):
                out.append(whole[max(line_start, lo_in) : min(mark, hi_in)])
            if mark < line_end and lo_in <= mark < hi_in:
                out.append(MASK)
            if line_break is not None:
                if lo_in <= line_break.start() < hi_in:
                    out.append(line_break[0])
                line_start = line_break.end()
        position = hi_in
    out.append(whole[position:end])
    return "".join(out)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`spans` in order, the overlapping ones joined (two views of a text may find one secret twice)."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if merged and lo < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


# -- the process's redactor ---------------------------------------------------------------------

_lock = threading.Lock()
_installed: Redactor | None = None
_registered: set[str] = set()
_cache: dict[frozenset[str], Redactor] = {}


def install(redactor: Redactor | None) -> None:
    """Make `redactor` the process's (None: derive it from the environment again, on each use)."""
    global _installed  # noqa: PLW0603 - the one redactor of the process, by design
    with _lock:
        _installed = redactor.with_secrets(_registered) if redactor is not None and _registered else redactor


def register(value: str) -> None:
    """Add a secret value known only at run time (the GitHub token handed to qaagent)."""
    global _installed  # noqa: PLW0603
    with _lock:
        _registered.add(value)
        if _installed is not None:
            _installed = _installed.with_secrets([value])


@contextlib.contextmanager
def frozen() -> Iterator[Redactor]:
    """Inside the block, `current()` is the redactor of the environment as it is now.

    For a run's suites (`pipeline.execute`): the console, every log's header and reader ask
    for the process's redactor several times per suite, and each time `current()` looks at
    every variable of the environment again (~0.05 ms). qaagent itself never changes its
    environment while the suites run; a value `register`ed inside the block is still added.
    What was installed before is installed again after it.
    """
    global _installed  # noqa: PLW0603
    redactor = current()
    with _lock:
        previous, _installed = _installed, redactor
    try:
        yield redactor
    finally:
        with _lock:
            if previous is not None and _registered:
                previous = previous.with_secrets(_registered)
            _installed = previous


def current() -> Redactor:
    """The process's redactor: the installed one, else one for the current environment."""
    if _installed is not None:
        return _installed
    env = os.environ
    values = frozenset([*(env[name] for name in secret_names(env)), *_registered])
    with _lock:
        found = _cache.get(values)
        if found is None:
            if len(_cache) > 32:  # noqa: PLR2004 - a handful of environments per process
                _cache.clear()
            found = _cache[values] = Redactor(values)
        return found


def redact(text: str) -> str:
    """`text` through the process's redactor."""
    return current().redact(text)
