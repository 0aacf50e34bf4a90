"""A run's results prepared once for the store: keys, packed arrays, per-file sums.

`prepare` (and `prepare_rows`, `prepare_columns`) turn a run's results into a `RunResults`:
each result's key (its hashed identity), its packed outcome and duration, the sums per unit
(file or classname) the scheduling reads, and no Python object per result. The names are read
again from the results, a chunk at a time, only where they are needed (`RunResults.named`: the
tests the store has not seen, the failures a comparison looks at). Both the comparison with the
base branch (`compare`) and the record (`record`) use the same prepared results: one pass.
"""

from __future__ import annotations

import gc
import operator
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress, islice, repeat
from typing import Any

from qaagent.history.faults import HistoryError
from qaagent.history.model import (
    MAX_SECONDS,
    MAX_TEXT,
    STATUS_CODE,
    Identities,
    ResultLike,
    canonical,
    duration_ms,
    name_keys,
)
from qaagent.history.packed import Packed, outcome
from qaagent.text import clean_text


@dataclass(frozen=True)
class RunResults:
    """A run's results, prepared once for both comparing and recording.

    What it holds does not grow with the run but by 22 bytes per result: the packed
    arrays the store keeps (14 bytes) and each result's key in the order given (8 bytes).
    Names are not kept: `names` and `named` read the results again (`source`) and pick
    the wanted keys' names, so only what a caller asks for is built — the failures a
    comparison looks at, the tests a store has not seen.
    """

    packed: Packed
    counts: tuple[int, int, int, int]  #: passed, failed, errors, skipped
    flaky: int
    units: dict[tuple[str, str, str], float]  #: (suite, F|C, file or classname) → seconds
    #: each result's key, in the order given
    _keys: array[int] = field(repr=False)
    #: the results again, as the same chunks of columns (read once more by `named`)
    _source: Callable[[], Iterable[Columns]] = field(repr=False)

    def __len__(self) -> int:
        return len(self.packed)

    def names(self, wanted: Collection[int]) -> dict[int, tuple[str, str, str, str]]:
        """Stored suite, classname, name and file of the `wanted` keys (built only when asked)."""
        return {named[0]: named[1:] for named in self.named(set(wanted))}

    def named(self, wanted: set[int] | None) -> Iterator[tuple[int, str, str, str, str]]:
        """(key, stored suite, classname, name, file) of each `wanted` key, the first seen of each, in order.

        `wanted` is emptied as its keys are named (it is the caller's: no copy of a big set).
        None wants every key (a store that has none of the run's tests): no set of every
        key is built, only one of the keys given more than once (to name the first seen).

        One more pass over the results, a chunk at a time: a chunk's keys are scanned
        at C level and only its wanted results are named; the pass ends once every
        wanted key is named.
        """
        left = wanted
        if left is not None and not left:
            return
        repeated = _repeated(self.packed.keys) if left is None else set()
        done: set[int] = set()
        keys = self._keys
        identities = Identities()
        prefixes: dict[str, dict[str, Prefix]] = {}
        files: dict[str | None, str] = {None: "", "": ""}
        at = 0
        for suites, classnames, raw_names, _, _, raw_files, _, _ in self._source():
            size = len(suites)
            mine = keys[at : at + size]
            at += size
            picked = _firsts(mine, left, repeated, done)
            if picked:
                yield from _rows(
                    identities, prefixes, files, [mine, suites, classnames, raw_names, raw_files], picked
                )
            if left is not None and not left:
                return
        if at != len(keys) or left:
            # the results read again are not the ones prepared (a spill gone or cut short):
            # an error, so the run's transaction is rolled back, never a test silently left out
            unnamed = f", {len(left)} wanted test(s) not found" if left else ""
            msg = f"the run's results read again were {at} of {len(keys)}{unnamed}"
            raise HistoryError(msg)


def _rows(
    identities: Identities,
    prefixes: dict[str, dict[str, Prefix]],
    files: dict[str | None, str],
    columns: list[Sequence[Any]],
    picked: list[int],
) -> Iterator[tuple[int, str, str, str, str]]:
    """(key, stored suite, classname, name, file) of the `picked` results of a chunk's `columns`.

    Column by column, as `_prepare` computes them (C-level maps; a name cleaned or cut
    only when it must be): no per-result Python code when names are plain text.
    """
    if len(picked) < len(columns[0]):
        columns = [list(map(column.__getitem__, picked)) for column in columns]
    mine, suites, classnames, raw_names, raw_files = columns
    prefix = _prefixes(identities, prefixes, suites, classnames)
    names: Sequence[str] = raw_names
    joined = "".join(raw_names)
    if not (joined.isascii() and joined.isprintable()) or max(map(len, raw_names)) > MAX_TEXT:
        names = [_stored_name(n) for n in raw_names]
    for raw_file in set(raw_files).difference(files):
        files[raw_file] = canonical(raw_file) if raw_file else ""
    return zip(
        mine,
        map(operator.itemgetter(1), prefix),
        map(operator.itemgetter(2), prefix),
        names,
        map(files.__getitem__, raw_files),
        strict=True,
    )


def _stored_name(name: str) -> str:
    """A test's name as stored: cleaned, then cut to `MAX_TEXT` (`canonical`)."""
    if not (name.isascii() and name.isprintable()):
        name = clean_text(name)
    return name if len(name) <= MAX_TEXT else canonical(name)


def _firsts(mine: array[int], left: set[int] | None, repeated: set[int], done: set[int]) -> list[int]:
    """Where in `mine` (a chunk's keys) the results to name are: the first seen of each wanted key.

    Wanted are the keys `left` (emptied as they are found), or every key when it is None
    (then only the `repeated` keys are remembered, in `done`).
    """
    if left is None:
        if repeated.isdisjoint(mine):  # the usual chunk: every result, no test in it ran twice
            return list(range(len(mine)))
        picked = []
        for i, key in enumerate(mine):
            if key in repeated:  # a test that ran more than once: the first is named
                if key in done:
                    continue
                done.add(key)
            picked.append(i)
        return picked
    picked = []
    for i in compress(range(len(mine)), map(left.__contains__, mine)):
        key = mine[i]
        if key in left:  # not a test that ran twice in this chunk (the first is named)
            left.discard(key)
            picked.append(i)
    return picked


def _repeated(keys: array[int]) -> set[int]:
    """The keys that `keys` (sorted) holds more than once (neighbours compared at C level)."""
    return set(compress(islice(keys, 1, None), map(operator.eq, islice(keys, 1, None), keys)))


#: the fields `prepare` reads of each result, in the order of its rows
FIELDS = ("suite", "classname", "name", "status", "duration", "file", "attempts", "flaky")
Row = tuple[str, str, str, str, float, str | None, int, bool]
#: the same fields as columns: one tuple of values per field, for a chunk of results
Columns = tuple[tuple[Any, ...], ...]
#: a suite and classname hashed (`Identities.prefix`); a unit of time: (suite, F|C, file or classname)
Prefix = tuple[bytes, str, str]
Unit = tuple[str, str, str]


def prepare(results: Iterable[ResultLike] | RunResults) -> RunResults:
    """Keys, packed outcomes and per-file sums of `results` (the hot path of recording, kept flat).

    `results` may be `ResultRecord` values or anything with the same attributes
    (a finished run's `TestCase` values; `prepare_columns` takes a `CaseStore`'s
    columns without building them). Results given once (an iterator) are kept in a
    list, so that `RunResults.names` can read them again. The garbage collector is
    paused meanwhile: the work makes no cycles, and its 100,000 small tuples would
    otherwise trigger collections worth a quarter of its time.
    """
    if isinstance(results, RunResults):
        return results
    given = results if isinstance(results, Sequence) else list(results)
    return prepare_columns(lambda: _transposed(map(operator.attrgetter(*FIELDS), given)))


def prepare_rows(rows: Iterable[Row]) -> RunResults:
    """`prepare` of rows of the `FIELDS` (tuples in that order)."""
    given = rows if isinstance(rows, Sequence) else list(rows)
    return prepare_columns(lambda: _transposed(given))


def prepare_columns(source: Callable[[], Iterable[Columns]]) -> RunResults:
    """`prepare` of chunks of columns of the `FIELDS` (``CaseStore.column_chunks``: no tuple per result).

    `source` gives the chunks, the same each time it is called: once here, and again
    when names are asked for (`RunResults.named`).
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return _prepare(source)
    finally:
        if paused:
            gc.enable()


def _transposed(rows: Iterable[Row]) -> Iterator[Columns]:
    """Rows as chunks of columns, `_BATCH` rows at a time."""
    given = iter(rows)
    while batch := list(islice(given, _BATCH)):
        yield tuple(zip(*batch, strict=True))


#: rows prepared at a time, column by column (C-level maps over each column, bounded memory)
_BATCH = 4096


def _prepare(source: Callable[[], Iterable[Columns]]) -> RunResults:
    """Column by column, a chunk of results at a time: the per-result work is C-level maps and counts.

    What is kept of each chunk is packed at once (8 + 2 + 4 bytes per result); the
    chunk's own values are dropped before the next one is read.
    """
    keys: array[int] = array("q")
    codes: array[int] = array("H")
    times: array[int] = array("I")
    counts = [0, 0, 0, 0]
    flaky = 0
    units: dict[tuple[str, str, str], float] = {}
    identities = Identities()
    prefixes: dict[str, dict[str, Prefix]] = {}  #: suite → classname → its prefix
    file_units: dict[str, dict[str, Unit]] = {}  #: stored suite → stored file → its unit
    files: dict[str | None, str] = {None: "", "": ""}
    status_codes = STATUS_CODE
    for suites, classnames, raw_names, statuses, raw_seconds, raw_files, attempts, flakies in source():
        size = len(suites)
        prefix = _prefixes(identities, prefixes, suites, classnames)
        joined = "".join(raw_names)
        clean: Sequence[str] = raw_names
        if not (joined.isascii() and joined.isprintable()):
            clean = [n if n.isascii() and n.isprintable() else clean_text(n) for n in raw_names]
        keys.extend(name_keys(map(operator.itemgetter(0), prefix), clean))
        status = list(map(status_codes.get, statuses, repeat(2)))
        for code in range(4):
            counts[code] += status.count(code)
        batch_codes = list(map(operator.or_, status, repeat(8)))  # one attempt
        for i in compress(range(size), flakies):
            flaky += 1
            batch_codes[i] |= 4
        for i in compress(range(size), map(operator.ne, attempts, repeat(1))):
            tries = attempts[i]
            batch_codes[i] = outcome(
                status[i], flaky=bool(flakies[i]), attempts=tries if type(tries) is int else 1
            )
        codes.extend(batch_codes)
        for raw_file in set(raw_files).difference(files):
            files[raw_file] = canonical(raw_file) if raw_file else ""
        stored = list(map(files.__getitem__, raw_files))
        seconds = _seconds(raw_seconds)
        get = units.get
        for unit, spent in zip(_units(file_units, suites, prefix, stored), seconds, strict=True):
            units[unit] = get(unit, 0.0) + spent  # in order: the same float sums as one by one
        times.extend(map(int, map(operator.add, map(operator.mul, seconds, repeat(1000)), repeat(0.5))))
    packed = Packed.sorted(keys, codes, times)
    return RunResults(packed, (counts[0], counts[1], counts[2], counts[3]), flaky, units, keys, source)


def _seconds(raw: Sequence[Any]) -> Sequence[float]:
    """Each duration in seconds as stored: a float in (0, `MAX_SECONDS`), else `duration_ms`'s value.

    A chunk of such floats alone (the usual one, told by C-level min, max and sum: a NaN
    makes the sum NaN) is used as it is, with no per-result Python code.
    """
    if raw and set(map(type, raw)) == {float}:
        total = sum(raw)
        if total == total and min(raw) > 0 and max(raw) < MAX_SECONDS:  # noqa: PLR0124 - NaN test
            return raw
    return [s if type(s) is float and 0 < s < MAX_SECONDS else duration_ms(s) / 1000 for s in raw]


def _prefixes(
    identities: Identities,
    memo: dict[str, dict[str, Prefix]],
    suites: Sequence[str],
    classnames: Sequence[str],
) -> list[Prefix]:
    """Each result's hashed prefix; a chunk of one suite (a `CaseStore`'s) is looked up by classname alone."""
    if suites.count(suites[0]) == len(suites):
        suite = suites[0]
        known = memo.setdefault(suite, {})
        for classname in set(classnames).difference(known):
            known[classname] = identities.prefix(suite, classname)
        return list(map(known.__getitem__, classnames))
    for suite, classname in set(zip(suites, classnames, strict=True)):
        known = memo.setdefault(suite, {})
        if classname not in known:
            known[classname] = identities.prefix(suite, classname)
    return [memo[suite][classname] for suite, classname in zip(suites, classnames, strict=True)]


def _units(
    memo: dict[str, dict[str, Unit]], suites: Sequence[str], prefix: list[Prefix], stored: list[str]
) -> list[Unit]:
    """Each result's unit: (suite, "F", its file), or (suite, "C", its classname) when it has no file.

    A chunk of one suite whose results all name a file (the usual case) maps its files
    through `memo`, without building a tuple per result.
    """
    if suites.count(suites[0]) == len(suites) and "" not in stored:
        suite = prefix[0][1]
        known = memo.setdefault(suite, {})
        for file in set(stored).difference(known):
            known[file] = (suite, "F", file)
        return list(map(known.__getitem__, stored))
    return [(p[1], "F", f) if f else (p[1], "C", p[2]) for p, f in zip(prefix, stored, strict=True)]
