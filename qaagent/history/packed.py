"""A run's results as three packed arrays, sorted by test key: one row per run in the store.

Recording 100,000 results as 100,000 rows cost more than the whole budget
(see docs/decisions.md, "Test history"); as arrays they are one insert of
~1.4 MB. Every query reads whole runs anyway (a window of runs, the base
run), and looks a test up by binary search in the sorted keys.

Layout (little-endian, one entry per result, sorted by key; a test that ran
twice in one run has two entries):

- ``keys``: signed 64-bit test keys (`model.Identities.key`);
- ``outcomes``: unsigned 16-bit: bits 0-1 the status (`model.STATUS_CODE`),
  bit 2 flaky, bits 3-15 the attempts (at most 8191);
- ``durations``: unsigned 32-bit milliseconds.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import and_, lshift, or_, rshift

MAX_PACKED_ATTEMPTS = 8191
_LITTLE = sys.byteorder == "little"


def _check_sizes() -> None:
    if array("q").itemsize != 8 or array("H").itemsize != 2 or array("I").itemsize != 4:  # noqa: PLR2004
        msg = "this platform's array item sizes are not the 8/2/4 bytes the history store is written in"
        raise RuntimeError(msg)


_check_sizes()


def outcome(status: int, *, flaky: bool, attempts: int) -> int:
    """One packed outcome."""
    return status | (4 if flaky else 0) | (max(1, min(attempts, MAX_PACKED_ATTEMPTS)) << 3)


def status_of(packed: int) -> int:
    """The status code of a packed outcome."""
    return packed & 3


def is_flaky(packed: int) -> bool:
    """Whether a packed outcome is flaky."""
    return bool(packed & 4)


def attempts_of(packed: int) -> int:
    """The attempts of a packed outcome."""
    return packed >> 3


def is_problem(packed: int) -> bool:
    """Failed, errored or flaky."""
    return (packed & 3) in (1, 2) or bool(packed & 4)


def _to_bytes(values: array[int]) -> bytes:
    if not _LITTLE:  # pragma: no cover - big-endian machines
        values = _swapped(values)
    return values.tobytes()


def _swapped(values: array[int]) -> array[int]:  # pragma: no cover - big-endian machines
    swapped = array(values.typecode, values)
    swapped.byteswap()
    return swapped


def _from_bytes(typecode: str, data: bytes) -> array[int]:
    values = array(typecode)
    values.frombytes(data)
    if not _LITTLE:  # pragma: no cover
        values.byteswap()
    return values


@dataclass(frozen=True)
class Packed:
    """One run's results: parallel arrays sorted by key."""

    keys: array[int]
    outcomes: array[int]
    durations: array[int]

    @classmethod
    def sorted(cls, keys: Sequence[int], outcomes: Sequence[int], durations: Sequence[int]) -> Packed:
        """From parallel sequences in any order (sorted by key, stably: reruns of a test keep their order).

        Each key and its index are one int (``key << width | index``): sorting those with
        no key function is the stable sort by key, and holds one int per result while it
        runs (a sort of indices by a key function holds three); the arrays are then
        gathered through C-level maps, with no list of indices built.
        """
        count = len(keys)
        if count < 2:  # noqa: PLR2004 - nothing to sort
            return cls(array("q", keys), array("H", outcomes), array("I", durations))
        width = count.bit_length()
        mask = (1 << width) - 1
        order = sorted(map(or_, map(lshift, keys, repeat(width)), range(count)))
        return cls(
            array("q", map(rshift, order, repeat(width))),
            array("H", map(outcomes.__getitem__, map(and_, order, repeat(mask)))),
            array("I", map(durations.__getitem__, map(and_, order, repeat(mask)))),
        )

    @classmethod
    def load(cls, keys: bytes, outcomes: bytes, durations: bytes) -> Packed:
        """From the store's three blobs (a ValueError when they do not line up)."""
        packed = cls(_from_bytes("q", keys), _from_bytes("H", outcomes), _from_bytes("I", durations))
        if not len(packed.keys) == len(packed.outcomes) == len(packed.durations):
            msg = "the stored result arrays have different lengths (a damaged store)"
            raise ValueError(msg)
        return packed

    def blobs(self) -> tuple[bytes, bytes, bytes]:
        """The three blobs to store."""
        return _to_bytes(self.keys), _to_bytes(self.outcomes), _to_bytes(self.durations)

    def buffers(self) -> tuple[array[int], array[int], array[int]]:
        """The three blobs to store, as arrays in little-endian order (here the arrays: no copy)."""
        if not _LITTLE:  # pragma: no cover - big-endian machines
            return _swapped(self.keys), _swapped(self.outcomes), _swapped(self.durations)
        return self.keys, self.outcomes, self.durations

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, key: int) -> Iterator[int]:
        """The positions of `key` (none, one, or more for a test that ran twice)."""
        index = bisect_left(self.keys, key)
        while index < len(self.keys) and self.keys[index] == key:
            yield index
            index += 1

    def codes(self, key: int) -> list[int]:
        """The test's packed outcomes (none, one, or more for a test that ran twice), in run order."""
        keys = self.keys
        start = end = bisect_left(keys, key)
        while end < len(keys) and keys[end] == key:
            end += 1
        return self.outcomes[start:end].tolist()

    def outcome(self, key: int) -> int | None:
        """The test's packed outcome (the worst if it ran twice: error > failed > passed > skipped)."""
        return worst(self.codes(key))

    def unclean(self) -> Iterator[tuple[int, int]]:
        """(key, outcome) of each entry not a clean pass (outcome bits 0-2 set), in key order (a C scan)."""
        return compress(zip(self.keys, self.outcomes, strict=True), map(and_, self.outcomes, repeat(7)))

    def problems(self) -> dict[int, int]:
        """The failed, errored or flaky tests and their (worst) packed outcome."""
        found: dict[int, int] = {}
        for key, code in self.unclean():
            if (code & 3) in (1, 2) or code & 4:
                old = found.get(key)
                if old is None or _RANK[code & 3] > _RANK[old & 3]:
                    found[key] = code
        return found


#: how bad a status is, by code: error > failed > passed > skipped
_RANK = (1, 2, 3, 0)


def worst(codes: list[int]) -> int | None:
    """The worst of a test's packed outcomes (error > failed > passed > skipped; the first of equals)."""
    found = None
    for code in codes:
        if found is None or _RANK[code & 3] > _RANK[found & 3]:
            found = code
    return found
