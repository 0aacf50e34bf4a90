"""Keep secrets out of everything qaagent writes (bundle, merged JUnit, logs).

Tests print what they see: a failing HTTP test may echo its request headers, a
crashing fixture may dump its environment. The evidence bundle is uploaded as
a workflow artifact that anyone with read access can download, so before text
is written it passes through a `Redactor`, which replaces

- the value of every environment variable whose name looks secret (contains
  TOKEN, SECRET, PASSWORD, PASSWD, KEY or CREDENTIAL) and is at least 4
  characters long — and, for multi-line values such as private keys, each of
  their lines of that length;
- the rest of the line after an ``Authorization:`` header name

with ``***``. It cannot know secrets that are not in the environment; that is
what the allowlist of recorded environment variables is for.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

MASK = "***"
#: substrings of environment variable names whose values are treated as secret
SECRET_NAME_PARTS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL")
#: shorter values would mask ordinary words and numbers everywhere
MIN_SECRET_LENGTH = 4
#: characters of one line read at a time by `Redactor.redact_file`
PIECE_CHARS = 1 << 20

_HEADER = r"(?i:(\bauthorization[\"']?\s*[:=]\s*))[^\r\n]*"


def is_secret_name(name: str) -> bool:
    """Whether an environment variable name suggests its value is a secret."""
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)


class Redactor:
    """Replaces known secret values and Authorization headers with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values: set[str] = set()
        for secret in secrets:
            for piece in (secret, *secret.splitlines()):
                piece = piece.strip()  # noqa: PLW2901 - normalising the loop value is the point
                if len(piece) >= MIN_SECRET_LENGTH:
                    values.add(piece)
        # longest first, so a secret containing another is masked whole
        ordered = sorted(values, key=lambda v: (-len(v), v))
        alternatives = [_HEADER, *(re.escape(v) for v in ordered)]
        self._pattern = re.compile("|".join(alternatives))
        self._values = tuple(ordered)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Redactor:
        """Build a redactor for the secret-looking variables of `environ` (default: os.environ)."""
        env = os.environ if environ is None else environ
        return cls(value for name, value in env.items() if is_secret_name(name))

    @staticmethod
    def _mask(match: re.Match[str]) -> str:
        header = match.group(1)
        return MASK if header is None else header + MASK

    def redact(self, text: str) -> str:
        """`text` with every secret and Authorization header value masked."""
        # substring tests first: a case-insensitive regex scan is ~50x slower on clean text
        if not text or not ("uthorization" in text.lower() or any(v in text for v in self._values)):
            return text
        return self._pattern.sub(self._mask, text)

    def _pieces(self, src: TextIO) -> Iterator[tuple[str, str]]:
        """(original, redacted) pieces of `src`: whole lines, or bounded pieces of a longer line.

        A line longer than `PIECE_CHARS` (a report written without newlines, a
        sparse file) is read in pieces so memory stays bounded; the tail of
        each piece that could hold the start of a secret is carried into the
        next, and after an Authorization header the rest of the line is masked.
        """
        # the tail held back must fit the longest secret and an "Authorization:" header name
        longest = max((len(v) for v in self._values), default=0) + 32
        carry = ""
        masking = False  # inside the value of an Authorization header that spans pieces
        while piece := src.readline(PIECE_CHARS):
            whole = piece.endswith(("\n", "\r"))
            if masking:
                masking = not whole
                yield piece, piece[len(piece.rstrip("\r\n")) :]  # keep only the line ending
                continue
            text = carry + piece
            if whole or len(piece) < PIECE_CHARS:
                carry = ""
                yield text, self.redact(text)
                continue
            cut = max(0, len(text) - longest)
            suspicious = "uthorization" in text.lower() or any(v in text for v in self._values)
            for match in self._pattern.finditer(text) if suspicious else ():
                if match.group(1) is not None and match.end() == len(text):
                    if match.start() > 0:
                        cut = match.start()  # carry the header whole into the next piece
                    else:
                        cut, masking = len(text), True  # its value runs on: mask the rest of the line
                    break
                if match.start() < cut < match.end():
                    cut = match.start()
                    break
            carry = text[cut:]
            yield text[:cut], self.redact(text[:cut])
        if carry:
            yield carry, self.redact(carry)

    def redact_file(self, path: Path) -> bool:
        """Redact a text file in place (atomically); return whether it changed.

        The file is processed line by line, so logs of any size stay cheap;
        bytes that are not UTF-8 pass through unchanged.
        """
        changed = False
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(tmp_name)
        try:
            with (
                os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as dst,
                path.open(encoding="utf-8", errors="surrogateescape", newline="") as src,
            ):
                for piece, redacted in self._pieces(src):
                    changed = changed or redacted != piece
                    dst.write(redacted)
            if changed:
                tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return changed
