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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

MASK = "***"
#: substrings of environment variable names whose values are treated as secret
SECRET_NAME_PARTS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL")
#: shorter values would mask ordinary words and numbers everywhere
MIN_SECRET_LENGTH = 4

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
        self.secret_count = len(ordered)

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
                for line in src:
                    redacted = self.redact(line)
                    changed = changed or redacted != line
                    dst.write(redacted)
            if changed:
                tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return changed
