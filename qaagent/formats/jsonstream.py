"""Pull bounded values out of one JSON document as its bytes stream in.

The standard library's JSON decoder needs the whole document in memory, and a
hostile 256 MB report (or one real screenshot embedded in a Cucumber step)
decoded at once costs many times its size. `JsonCursor` walks the document's
outer structure itself — `begin_object`/`next_key`, `begin_array`/`next_item` —
and decodes each value it is asked for with `value()`:

- a value that fits in `MAX_VALUE_CHARS` is decoded by the C decoder from the
  buffer (the fast path: one call per test record);
- a larger one is descended into, keeping strings up to `MAX_FIELD_BYTES` (with a
  truncation marker), at most `MAX_KEPT_ITEMS` items per array, and at most
  `MAX_KEPT_CHARS` of decoded text per value in all; the rest is read past, never
  kept. Nesting deeper than `MAX_DEPTH` is refused.

Memory is thus bounded by the buffer (a chunk plus one value of up to
`MAX_VALUE_CHARS`) and what a value keeps, whatever the document holds. Errors
are `JsonError` with a reason and the character offset; the readers add the file.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import TYPE_CHECKING, Any

from qaagent.formats import source

if TYPE_CHECKING:
    from collections.abc import Iterator

#: a value up to this many characters is decoded in one call from the buffer
MAX_VALUE_CHARS = 1024 * 1024
#: arrays and objects nested deeper than this (inside a large value) are refused
MAX_DEPTH = 64
#: items (or keys) kept per array (or object) of a large value; the rest are read past
MAX_KEPT_ITEMS = 1000
#: decoded characters a large value may keep in all; past it, its remaining parts are dropped
MAX_KEPT_CHARS = 4 * 1024 * 1024

_WHITESPACE = re.compile(r"[ \t\n\r]*")
#: a run of string characters that are neither a quote nor a backslash (a plain class: `re`
#: keeps no backtracking state for it, unlike an alternation, which costs ~150 bytes a character)
_PLAIN_RUN = re.compile(r'[^"\\]*')
_DECODER = json.JSONDecoder(strict=False)
#: the characters a number or a literal (true, false, null) is made of
_SCALAR_RUN = re.compile(r"[-+0-9.eEtrufalsn]*")
_MISSING = object()


class JsonError(source.ProblemError):
    """The document is not JSON of the expected shape; `reason` says why and where."""


class _Budget:
    """What one large value may still keep."""

    __slots__ = ("chars",)

    def __init__(self) -> None:
        self.chars = MAX_KEPT_CHARS


class JsonCursor:
    """A pull reader over the chunks of one JSON document (see the module docstring)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._pos = 0
        self._dropped = 0  # characters removed from the buffer's front (for offsets)
        self._eof = False
        self._first: list[bool] = []  # per open container: no item read yet
        self._started = False

    # -- buffer ----------------------------------------------------------------
    @property
    def offset(self) -> int:
        """Characters consumed so far (for messages)."""
        return self._dropped + self._pos

    def _fill(self) -> bool:
        """Append the next chunk; False at the end of the input."""
        if self._eof:
            return False
        if self._pos > len(self._buffer) // 2:
            self._dropped += self._pos
            self._buffer = self._buffer[self._pos :]
            self._pos = 0
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._eof = True
            tail = self._decoder.decode(b"", final=True)
            self._buffer += tail
            return bool(tail)
        text = self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        self._buffer += text
        return True

    def _skip_space(self) -> str:
        """The next non-whitespace character without consuming it ('' at the end)."""
        while True:
            self._pos = _WHITESPACE.match(self._buffer, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._fill():
                return ""

    def peek(self) -> str:
        """The next significant character ('' at the end of the document)."""
        return self._skip_space()

    def _expect(self, char: str, what: str) -> None:
        found = self._skip_space()
        if found != char:
            raise self._error(found, what)
        self._pos += 1

    def _error(self, found: str, expected: str) -> JsonError:
        if not found:
            return JsonError(
                f"the JSON ends early (truncated?) at character {self.offset}: expected {expected}"
            )
        return JsonError(
            f"is not valid JSON at character {self.offset}: expected {expected}, found {found!r}"
        )

    # -- structure ---------------------------------------------------------------
    def begin_object(self) -> None:
        """Enter an object; then call `next_key` until it returns None."""
        self._expect("{", "an object ('{')")
        self._first.append(True)

    def next_key(self) -> str | None:
        """The next key of the current object (the cursor is then at its value), or None at its end."""
        char = self._advance("}")
        if not char:
            return None
        if char != '"':
            raise self._error(char, "a key (a string)")
        key = self.value()
        self._expect(":", "':'")
        return str(key)

    def begin_array(self) -> None:
        """Enter an array; then call `next_item` until it returns False."""
        self._expect("[", "an array ('[')")
        self._first.append(True)

    def next_item(self) -> bool:
        """Whether the current array has another item (the cursor is then at it)."""
        return bool(self._advance("]"))

    def _advance(self, closing: str) -> str:
        """Past the separator to the next member's first character; '' when the container closes."""
        char = self._skip_space()
        if char == closing:
            self._pos += 1
            self._first.pop()
            return ""
        if not self._first[-1]:
            self._expect(",", f"',' or '{closing}'")
            char = self._skip_space()
        self._first[-1] = False
        if not char:
            raise self._error(char, "a value")
        return char

    def end(self) -> None:
        """Check that nothing but whitespace follows the document."""
        char = self._skip_space()
        if char:
            raise self._error(char, "the end of the document")

    # -- values ------------------------------------------------------------------
    def value(self) -> Any:
        """The next value, decoded whole when it fits in `MAX_VALUE_CHARS`, else bounded."""
        return self._value(_Budget(), 0)

    def skip(self) -> None:
        """Read past the next value without keeping it."""
        budget = _Budget()
        budget.chars = 0
        self._value(budget, 0)

    def _value(self, budget: _Budget, depth: int) -> Any:
        found = self._fast()
        if found is not _MISSING:
            return found
        if depth >= MAX_DEPTH:
            raise JsonError(
                f"JSON values are nested deeper than {MAX_DEPTH} levels (character {self.offset})"
            )
        char = self._skip_space()
        if char == "{":
            return self._large_object(budget, depth)
        if char == "[":
            return self._large_array(budget, depth)
        if char == '"':
            return self._large_string(budget)
        raise JsonError(f"a JSON number or literal longer than {MAX_VALUE_CHARS} characters at {self.offset}")

    def _fast(self) -> Any:
        """Decode the next value from the buffer when it fits; `_MISSING` when it is larger."""
        char = self._skip_space()
        if not char:
            raise self._error(char, "a value")
        wanted = len(self._buffer) - self._pos
        while True:
            try:
                found, end = _DECODER.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as error:
                if self._eof or len(self._buffer) - self._pos > MAX_VALUE_CHARS:
                    return self._undecodable(error)
            except RecursionError:
                raise JsonError(f"JSON values are nested too deeply (character {self.offset})") from None
            except ValueError as error:  # e.g. an integer with more digits than Python converts
                raise JsonError(
                    f"a JSON number cannot be read at character {self.offset} ({error})"
                ) from None
            else:
                # a number (or literal) that reaches the buffer's end may go on in the next chunk
                token_end = _SCALAR_RUN.match(self._buffer, self._pos).end()  # type: ignore[union-attr]
                if token_end < len(self._buffer) or self._buffer[self._pos] in '{["' or self._eof:
                    self._pos = end
                    return found
                self._fill()  # (at the end of the input it sets `_eof`, and the value is taken)
                continue
            # read on until the value has at least twice the room (amortised: linear in its size)
            wanted = max(wanted * 2, source.CHUNK_BYTES)
            while len(self._buffer) - self._pos < min(wanted, MAX_VALUE_CHARS + 1) and self._fill():
                pass

    def _undecodable(self, error: json.JSONDecodeError) -> Any:
        if len(self._buffer) - self._pos > MAX_VALUE_CHARS and self._buffer[self._pos] in '{["':
            return _MISSING  # large: descend into it
        if self._eof and error.pos >= len(self._buffer):
            raise JsonError(f"the JSON ends early (truncated?) at character {self._dropped + error.pos}")
        if self._eof and error.msg.startswith("Unterminated string"):
            raise JsonError(f"the JSON ends early (truncated?) in a string at character {self.offset}")
        raise JsonError(f"is not valid JSON at character {self._dropped + error.pos}: {error.msg}")

    def _large_object(self, budget: _Budget, depth: int) -> dict[str, Any]:
        self.begin_object()
        kept: dict[str, Any] = {}
        while (key := self.next_key()) is not None:
            if len(kept) < MAX_KEPT_ITEMS and budget.chars > 0:
                kept[key] = self._kept(budget, depth)
            else:
                self._dropped_value(depth)
        return kept

    def _large_array(self, budget: _Budget, depth: int) -> list[Any]:
        self.begin_array()
        kept: list[Any] = []
        while self.next_item():
            if len(kept) < MAX_KEPT_ITEMS and budget.chars > 0:
                kept.append(self._kept(budget, depth))
            else:
                self._dropped_value(depth)
        return kept

    def _kept(self, budget: _Budget, depth: int) -> Any:
        start = self.offset
        found = self._value(budget, depth + 1)
        budget.chars -= max(1, min(self.offset - start, MAX_VALUE_CHARS))
        return found

    def _dropped_value(self, depth: int) -> None:
        nothing = _Budget()
        nothing.chars = 0
        self._value(nothing, depth + 1)

    def _large_string(self, budget: _Budget) -> str:
        """A string too long for the fast path: keep its first `MAX_FIELD_BYTES`, read past the rest."""
        self._pos += 1  # the opening quote
        room = min(source.MAX_FIELD_BYTES, max(0, budget.chars))
        kept: list[str] = []
        kept_chars = 0
        skipped = 0
        while True:
            start = self._pos
            end = _PLAIN_RUN.match(self._buffer, start).end()  # type: ignore[union-attr]
            closed = False
            if end < len(self._buffer):
                if self._buffer[end] == '"':
                    closed = True
                elif end + 1 < len(self._buffer):
                    end += 2  # a backslash and the character it escapes
            piece = self._buffer[start:end]
            self._pos = end
            if kept_chars < room:
                take = piece[: room - kept_chars]
                kept.append(take)
                kept_chars += len(take)
                skipped += len(piece) - len(take)
            else:
                skipped += len(piece)
            if closed:
                self._pos += 1
                break
            if self._pos >= len(self._buffer) - 1 and not self._fill():
                raise JsonError(f"the JSON ends early (truncated?) in a string at character {self.offset}")
        budget.chars -= kept_chars
        text = _unescape("".join(kept))
        if skipped:
            text += f"\n… [truncated {skipped} characters]"
        return source.cap(text)


def _unescape(raw: str) -> str:
    """Decode the escapes of a JSON string body that may have been cut inside an escape."""
    for trim in range(7):  # an escape is at most 6 characters (\uXXXX)
        try:
            return str(_DECODER.decode(f'"{raw[: len(raw) - trim]}"'))
        except ValueError:
            continue
    return raw


__all__ = ["MAX_DEPTH", "MAX_KEPT_CHARS", "MAX_KEPT_ITEMS", "MAX_VALUE_CHARS", "JsonCursor", "JsonError"]
