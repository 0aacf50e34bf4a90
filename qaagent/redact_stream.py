"""Redaction of text that arrives in pieces: a child's output as it is read, files copied into the bundle.

The one redactor (`qaagent.redact.Redactor`) decides what is masked; this module feeds it a
stream piece by piece, holding back only the last `Redactor.hold` characters (a secret may
continue in the next piece), so a run killed at any moment leaves nothing raw behind.
`copy_redacted` copies a text file (UTF-8, or UTF-16 by its byte order mark: `text_encoding`),
`copy_redacted_bytes` a binary one (the bytes of every form masked in place).
"""

from __future__ import annotations

import codecs
import functools
import re
from typing import IO

from qaagent.redact import LINE_BREAKS, Redactor

#: characters read from a stream at a time by `copy_redacted`
PIECE_CHARS = 1 << 20


class StreamRedactor:
    """Redacts text that arrives in pieces (a child's output, a file), holding back only a little.

    What `feed` returns can be written at once: the last `Redactor.hold`
    characters wait for what follows (a secret may continue there), so a run
    killed at any moment leaves at most that much unwritten, and nothing raw.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._held = ""
        self._before = ""
        self._masking = False  #: inside an Authorization header's value that started earlier

    def feed(self, text: str) -> str:
        """The redacted text that can be written now."""
        buffered = self._held + text
        cut = _content_tail(buffered, self._redactor.hold)
        if cut <= 0:
            self._held = buffered
            return ""
        self._held = buffered[cut:]
        return self._emit(buffered[:cut], self._held)

    def flush(self) -> str:
        """What is held back, redacted, when the stream has gone quiet (a live echo must not lag a line).

        A secret is written in one piece, and a tool that wraps it writes the lines together, so
        a pause in the output ends what can belong to one secret; the stream goes on after it.
        """
        return self.close()

    def close(self) -> str:
        """The rest, redacted (at the end of the stream)."""
        rest, self._held = self._held, ""
        return self._emit(rest, "")

    def _emit(self, text: str, after: str) -> str:
        before = self._before
        if self._masking:
            line_end = LINE_BREAKS.search(text)
            if line_end is None:
                self._before = (before + text)[-self._redactor.hold :]
                return ""
            self._masking = False
            before = (before + text[: line_end.start()])[-self._redactor.hold :]
            text = text[line_end.start() :]
        redacted, self._masking = self._redactor.redact_span(text, before, after)
        seen = before + text
        self._before = seen[_content_tail(seen, max(self._redactor.hold, 64)) :]
        return redacted


def _content_tail(text: str, count: int) -> int:
    """Where the last `count` characters of `text` begin, not counting how a tool wraps a line.

    Line breaks and the indentation of the line after one are left out of the count: a
    secret the redactor finds across an indented wrap spans more of the text than its own
    length, and the stream must hold all of it back (0: hold everything).
    """
    seen, i = 0, len(text)
    while i > 0 and seen < count:
        char = text[i - 1]
        if char in "\r\n":
            i -= 1
            continue
        if char in " \t":
            start = i - 1
            while start > 0 and text[start - 1] in " \t":
                start -= 1
            if start > 0 and text[start - 1] in "\r\n":
                i = start  # a continuation line's indentation
                continue
            take = min(i - start, count - seen)
            i, seen = i - take, seen + take
            continue
        i, seen = i - 1, seen + 1
    return i


def copy_redacted(
    src: IO[bytes], dst: IO[bytes], redactor: Redactor, *, chunk: int = PIECE_CHARS, encoding: str = "utf-8"
) -> None:
    """Copy a text stream, redacted on the way; bytes that are not UTF-8 pass through unchanged.

    `encoding` ``utf-16-le``/``utf-16-be`` (see `text_encoding`): a `UnicodeDecodeError` when
    the stream is not that (an odd number of bytes), and the caller copies it as binary.
    """
    errors = "surrogateescape" if encoding == "utf-8" else "surrogatepass"
    decoder = codecs.getincrementaldecoder(encoding)(errors)
    stream = StreamRedactor(redactor)
    while data := src.read(chunk):
        dst.write(stream.feed(decoder.decode(data)).encode(encoding, errors))
    dst.write(stream.feed(decoder.decode(b"", final=True)).encode(encoding, errors))
    dst.write(stream.close().encode(encoding, errors))


def text_encoding(head: bytes) -> str | None:
    """How a file whose first bytes are `head` is redacted: as UTF-8 or UTF-16 text, or None (binary).

    UTF-16 when it starts with a byte order mark (a Windows tool's log), UTF-8 (bytes that are
    not UTF-8 kept as they are) when `head` holds no NUL byte, else binary (`copy_redacted_bytes`).
    """
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le"
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be"
    return "utf-8" if b"\0" not in head else None


def _masked_in_place(unit: bytes, match: re.Match[bytes]) -> bytes:
    """A match masked in place: one ``*`` in its encoding (`unit`) per character (UTF-8: per byte)."""
    return unit * (len(match[0]) // len(unit))


def copy_redacted_bytes(
    src: IO[bytes], dst: IO[bytes], redactor: Redactor, *, chunk: int = PIECE_CHARS
) -> int:
    """Copy a binary stream with the bytes of every form of every secret masked; how many were.

    A match becomes as many ``*`` as it has bytes, so offsets inside the file (a zip's
    directory) stay where they were; a form in UTF-16 (either byte order, with or without a
    byte order mark: `Redactor.byte_patterns`) as many ``*`` in UTF-16 as it has characters.
    What cannot be found in the bytes (a secret compressed or drawn into a screenshot)
    stays: that is what the README says of binary files.
    """
    patterns, longest = redactor.byte_patterns
    carry = max(0, longest - 1)  #: bytes kept for the next piece: a form may continue there
    found = 0
    held = b""
    while True:
        data = src.read(chunk)
        buffer = held + data
        for pattern, unit, anchors in patterns:
            if not anchors or any(anchor in buffer for anchor in anchors):
                buffer, count = pattern.subn(functools.partial(_masked_in_place, unit), buffer)
                found += count
        if not data:
            dst.write(buffer)
            return found
        cut = max(0, len(buffer) - carry)
        dst.write(buffer[:cut])
        held = buffer[cut:]
