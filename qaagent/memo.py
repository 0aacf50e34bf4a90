"""A small, bounded memory of results for inputs that repeat from case to case.

Large runs repeat themselves: a parametrized test fails 500 times with one traceback,
a broken fixture errors every test of a module with one message. The per-case work on
such text (redact, clean and cut; the traceback's line; the diagnostic category) is
the same each time, so the reports' pass remembers the last results. At most `entries`
are kept (all are dropped when full); each caller remembers only keys it judged short (its
own limit in characters: `stream._CUT_MEMO_CHARS`, `locate._FRAMES_MEMO_CHARS`,
`diagnostics._MEMO_CHARS`), so a hostile run of distinct megabyte tracebacks costs one
failed look-up per case and no memory.
"""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(Generic[K, V]):
    """At most `entries` results by key; a caller remembers only keys it judged short."""

    __slots__ = ("_data", "_entries")

    def __init__(self, entries: int = 256) -> None:
        self._entries = entries
        self._data: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        """The remembered result of `key`, or None."""
        return self._data.get(key)

    def put(self, key: K, value: V) -> V:
        """Remember `value` for `key` (dropping everything first when full); returns `value`."""
        data = self._data
        if len(data) >= self._entries:
            data.clear()
        data[key] = value
        return value
