"""Flake rates over the window, and which tests are quarantined.

**A flaky result** is a result marked flaky (it failed, then passed on a
retry), or a failure on a commit where the same test also passed in another
run of the window (same code, different outcome). A test's **flake rate** is
its flaky results over its results in the window (skipped ones left out).

**Quarantine** (`HistorySettings.quarantine`):

- ``auto``: a test whose flake rate over the window is above
  ``flaky_threshold`` is quarantined, until it passes cleanly (passed, not
  flaky) ``release_after`` times in a row;
- ``list``: the tests named in ``quarantine_file``, one ``suite::classname::name``
  per line (``#`` starts a comment; a line that is a JSON string is decoded,
  for names with line breaks);
- ``off``: none.
"""

from __future__ import annotations

import json
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qaagent.files import FileTooLargeError, read_regular
from qaagent.history.model import TestId
from qaagent.history.packed import is_flaky, is_problem, status_of
from qaagent.history.queries import RunInfo, test_names, window_runs
from qaagent.history.settings import HistorySettings, QuarantineMode
from qaagent.history.store import Scope, Store, chunks, marks

#: a quarantine list larger than this is refused (bytes)
MAX_LIST_BYTES = 4 * 1024 * 1024
_FAILING = (1, 2)
#: up to this many tests, `flake_rates` reads only their stored problems (in ``IN`` lists), else all
_FEW_TESTS = 2000


@dataclass(frozen=True, slots=True)
class FlakeRate:
    """How flaky one test was over the window."""

    test: TestId
    file: str
    results: int  #: results in the window (skipped left out)
    flaky: int  #: flaky results among them
    clean_streak: int  #: clean passes in a row, newest first
    last_flaky_at: float | None  #: epoch of the newest flaky result
    last_flaky_commit: str

    @property
    def rate(self) -> float:
        """Flaky results over results (0 when it never ran)."""
        return self.flaky / self.results if self.results else 0.0


def flake_rates(
    store: Store,
    scope: Scope,
    *,
    branch: str | None,
    window: int,
    only: Collection[int] | None = None,
    flaky_only: bool = False,
) -> dict[int, FlakeRate]:
    """Flake rates of the tests that had a flaky or failing result in the window (or of `only`).

    Built from the window's non-clean results (``qa_problems``: small) and which
    tests each run had (set intersections over the runs' key arrays, in C), so
    the cost follows the problems, not runs x tests. `flaky_only` leaves out the
    tests that cannot have a flaky result — no flaky mark and no failure on a
    commit the window ran more than once — whose rate is 0 (the quarantine needs
    only rates above a threshold): a test that always fails costs nothing then.
    """
    project = store.project_id(scope)
    if project is None:
        return {}
    runs = window_runs(store, project, branch=branch, window=window)  # newest first
    if not runs:
        return {}
    index = {r.row: i for i, r in enumerate(runs)}
    twins = _same_commit(runs)
    candidates = _wanted(store, runs, twins, only=only, flaky_only=flaky_only)
    if candidates is not None and not candidates:
        return {}
    unclean = _unclean(store, list(index), among=candidates)
    if candidates is None:
        candidates = {k for (_, k), code in unclean.items() if is_problem(code)}
    if not candidates:
        return {}
    keys = store.keys(list(index))
    present = [_present(candidates, keys.get(r.row)) for r in runs]
    entries: dict[int, list[tuple[int, int]]] = {}  # test -> its non-clean results: (run index, outcome)
    for (run, key), code in unclean.items():
        if key in candidates:
            entries.setdefault(key, []).append((index[run], code))
    limits = {k: _newest_problem(entries.get(k, []), len(runs)) for k in candidates}
    streak_base, seen = _runs_with_test_before(present, limits)
    names = test_names(store, project, [k for k in candidates if seen[k]])
    rates: dict[int, FlakeRate] = {}
    for key in candidates:
        if not seen[key]:
            continue
        mine = sorted(entries.get(key, []))
        newest_problem = limits[key]
        skipped = [i for i, code in mine if status_of(code) == 3]  # noqa: PLR2004 - skipped: evidence of nothing
        flaky = [
            i
            for i, code in mine
            if is_flaky(code)
            or (
                status_of(code) in _FAILING
                and _passed_twin(key, i, twins=twins, present=present, unclean=unclean, runs=runs)
            )
        ]
        test, file = names.get(key, (TestId("?", "?", str(key), key), ""))
        last = runs[flaky[0]] if flaky else None
        rates[key] = FlakeRate(
            test,
            file,
            results=seen[key] - len(skipped),
            flaky=len(flaky),
            clean_streak=streak_base[key] - sum(1 for i in skipped if i < newest_problem),
            last_flaky_at=last.started_at if last else None,
            last_flaky_commit=last.commit if last else "",
        )
    return rates


def _wanted(
    store: Store,
    runs: list[RunInfo],
    twins: dict[str, list[int]],
    *,
    only: Collection[int] | None,
    flaky_only: bool,
) -> set[int] | None:
    """The tests `flake_rates` computes: `only`, and with `flaky_only` those that may be flaky (None: all)."""
    wanted = set(only) if only is not None else None
    if flaky_only:
        twin_rows = {runs[i].row for at in twins.values() for i in at}
        # a run counted no flaky result (`qa_runs.flaky`, the results marked flaky that record
        # stored) and ran no commit twice: none of its problem rows can make a test flaky
        scan = [r.row for r in runs if r.flaky > 0 or r.row in twin_rows]
        maybe = _maybe_flaky(store, scan, twin_rows) if scan else set()
        wanted = maybe if wanted is None else wanted & maybe
    return wanted


def _unclean(store: Store, runs: list[int], *, among: set[int] | None = None) -> dict[tuple[int, int], int]:
    """Every result of `runs` that is not a clean pass: (run, test) → its worst outcome (`among`'s only)."""
    rank = (1, 3, 4, 0)  # by status: error > failed > passed (flaky) > skipped
    found: dict[tuple[int, int], int] = {}
    for run, raw_key, code in _problem_rows(store, runs, among):
        key = int(raw_key)
        if among is None or key in among:
            spot, value = (int(run), key), int(code)
            old = found.get(spot)
            if old is None or rank[value & 3] > rank[old & 3]:
                found[spot] = value
    return found


def _problem_rows(store: Store, runs: list[int], among: set[int] | None) -> Iterator[tuple[int, int, int]]:
    """The ``qa_problems`` rows of `runs`: of `among`'s tests when they are a few (others may come too)."""
    few = sorted(among) if among is not None and len(among) <= _FEW_TESTS else None
    for part in chunks(runs):
        if few is None:
            sql = f"SELECT run, test, outcome FROM qa_problems WHERE run IN ({marks(len(part))})"  # noqa: S608
            yield from store.backend.query(sql, part)
            continue
        for tests in chunks(few):
            sql = (
                f"SELECT run, test, outcome FROM qa_problems WHERE run IN ({marks(len(part))})"  # noqa: S608
                f" AND test IN ({marks(len(tests))})"
            )
            yield from store.backend.query(sql, (*part, *tests))


def _maybe_flaky(store: Store, runs: list[int], twin_runs: set[int]) -> set[int]:
    """The tests with a stored result `flake_rates` may count as flaky (a superset; the store filters).

    A result marked flaky, or a failure or error in a run whose commit the window ran
    more than once (it may have passed in the other run). Every other test's rate is 0.
    """
    found: set[int] = set()
    for part in chunks(runs):
        twins = [r for r in part if r in twin_runs]
        failing = f" OR (run IN ({marks(len(twins))}) AND (outcome & 3) IN (1, 2))" if twins else ""
        sql = (
            f"SELECT DISTINCT test FROM qa_problems WHERE run IN ({marks(len(part))})"  # noqa: S608
            f" AND ((outcome & 4) <> 0{failing})"
        )
        found.update(int(key) for (key,) in store.backend.query(sql, (*part, *twins)))
    return found


def _newest_problem(entries: list[tuple[int, int]], never: int) -> int:
    """The run index (0 = newest) of the newest failing or flaky result, else `never`."""
    return min((i for i, code in entries if is_problem(code)), default=never)


def _present(candidates: set[int], keys: array[int] | None) -> set[int]:
    """The candidates a run had: binary searches for a few, a set intersection for many."""
    if keys is None:
        return set()
    if len(candidates) * 32 < len(keys):
        found = set()
        for key in candidates:
            at = bisect_left(keys, key)
            if at < len(keys) and keys[at] == key:
                found.add(key)
        return found
    return candidates.intersection(keys)


def _runs_with_test_before(
    present: list[set[int]], limits: dict[int, int]
) -> tuple[dict[int, int], Counter[int]]:
    """For each test: how many of the runs newer than its limit index had it; and how many runs had it."""
    by_limit: dict[int, list[int]] = {}
    for key, limit in limits.items():
        by_limit.setdefault(limit, []).append(key)
    counts: dict[int, int] = {}
    prefix: Counter[int] = Counter()
    for i in range(len(present) + 1):
        for key in by_limit.get(i, ()):
            counts[key] = prefix[key]
        if i < len(present):
            prefix.update(present[i])
    return counts, prefix


def _same_commit(runs: list[RunInfo]) -> dict[str, list[int]]:
    """Commits the window ran more than once: commit → run indexes."""
    groups: dict[str, list[int]] = {}
    for i, info in enumerate(runs):
        if info.commit:
            groups.setdefault(info.commit, []).append(i)
    return {c: idx for c, idx in groups.items() if len(idx) > 1}


def _passed_twin(
    key: int,
    at: int,
    *,
    twins: dict[str, list[int]],
    present: list[set[int]],
    unclean: dict[tuple[int, int], int],
    runs: list[RunInfo],
) -> bool:
    """Whether the test passed in another run of the same commit as run `at` (a flip: flaky)."""
    for other in twins.get(runs[at].commit, ()):
        if other != at and key in present[other] and status_of(unclean.get((runs[other].row, key), 0)) == 0:
            return True
    return False


@dataclass(frozen=True, slots=True)
class Quarantine:
    """The quarantined tests (by key), and notes on how the set was made."""

    mode: QuarantineMode
    keys: frozenset[int] = frozenset()
    rates: Mapping[int, FlakeRate] = field(default_factory=dict)  #: auto: each quarantined test's rate
    notes: tuple[str, ...] = ()

    def __contains__(self, test: object) -> bool:
        return isinstance(test, TestId) and test.key in self.keys

    def __len__(self) -> int:
        return len(self.keys)


NO_QUARANTINE = Quarantine("off")


def read_quarantine_list(path: Path) -> tuple[frozenset[int], tuple[str, ...]]:
    """The test keys of a quarantine list, and notes (a missing or unreadable file is a note).

    Each id is split at its first two ``::`` (suite names cannot hold one). The file is
    UTF-8 line by line: a line that is not (or not an id) is left out and named in a
    note, the other lines still count.
    """
    try:  # a FIFO or a link to /dev/zero (a repository can hold one) is refused, never read
        data = read_regular(path, MAX_LIST_BYTES)
    except FileTooLargeError as exc:
        return frozenset(), (f"quarantine list {path} {exc.strerror}: over the {MAX_LIST_BYTES} byte limit",)
    except FileNotFoundError:
        return frozenset(), (f"quarantine list {path} not found: nothing is quarantined",)
    except OSError as exc:
        return frozenset(), (f"quarantine list {path} cannot be read ({exc}): nothing is quarantined",)
    keys: set[int] = set()
    undecodable: list[int] = []
    bad: list[int] = []
    for number, raw_bytes in enumerate(data.splitlines(), 1):
        try:
            line = raw_bytes.decode("utf-8").strip()
        except UnicodeDecodeError:
            undecodable.append(number)
            continue
        if not line or line.startswith("#"):
            continue
        test = _listed(line)
        if test is None:
            bad.append(number)
            continue
        keys.add(test.key)
    notes = []
    if undecodable:
        notes.append(f"quarantine list {path}: {_lines(undecodable)} not UTF-8 (left out)")
    if bad:
        notes.append(f"quarantine list {path}: {_lines(bad)} not suite::classname::name ids")
    return frozenset(keys), tuple(notes)


def _listed(line: str) -> TestId | None:
    """The id on one line of a quarantine list (plain, or a JSON string for an id with odd characters)."""
    if line.startswith('"'):
        try:
            decoded = json.loads(line)
        except ValueError:
            return None
        if not isinstance(decoded, str):
            return None
        line = decoded
    return TestId.parse(line)


#: line numbers named in a quarantine list's note, at most
_NAMED_LINES = 10


def _lines(numbers: list[int]) -> str:
    """``line 3 is`` / ``3 lines (1, 4, 9) are`` (the first few numbered)."""
    if len(numbers) == 1:
        return f"line {numbers[0]} is"
    shown = ", ".join(map(str, numbers[:_NAMED_LINES])) + (", …" if len(numbers) > _NAMED_LINES else "")
    return f"{len(numbers)} lines ({shown}) are"


def quarantine(
    store: Store, scope: Scope, settings: HistorySettings, *, branch: str | None, base_dir: Path
) -> Quarantine:
    """The quarantine set `settings` describe (`store` is only read in ``auto`` mode)."""
    if settings.quarantine == "off":
        return NO_QUARANTINE
    if settings.quarantine == "list":
        path = Path(settings.quarantine_file).expanduser()
        listed, notes = read_quarantine_list(path if path.is_absolute() else base_dir / path)
        return Quarantine("list", keys=listed, notes=notes)
    # a rate of 0 is never above the threshold (0 to 1): only tests with a flaky result matter
    rates = flake_rates(store, scope, branch=branch, window=settings.window, flaky_only=True)
    chosen = {
        key: rate
        for key, rate in rates.items()
        if rate.rate > settings.flaky_threshold and rate.clean_streak < settings.release_after
    }
    return Quarantine("auto", keys=frozenset(chosen), rates=chosen)
