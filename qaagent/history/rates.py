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
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qaagent.history.model import TestId
from qaagent.history.packed import is_flaky, status_of
from qaagent.history.queries import RunInfo, test_names, window_runs
from qaagent.history.settings import HistorySettings, QuarantineMode
from qaagent.history.store import Scope, Store, chunks, marks

#: a quarantine list larger than this is refused (bytes)
MAX_LIST_BYTES = 4 * 1024 * 1024
_FAILING = (1, 2)


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
) -> dict[int, FlakeRate]:
    """Flake rates of the tests that had a flaky or failing result in the window (or of `only`)."""
    project = store.project_id(scope)
    if project is None:
        return {}
    runs = {r.row: r for r in window_runs(store, project, branch=branch, window=window)}
    if not runs:
        return {}
    run_rows = list(runs)
    candidates = set(only) if only is not None else _with_problems(store, run_rows)
    if not candidates:
        return {}
    # Each candidate's outcome in each run of the window, newest run first.
    ordered = sorted(runs.values(), key=lambda r: (r.started_at, r.row), reverse=True)
    packed = store.results(run_rows)
    history: dict[int, list[tuple[RunInfo, int]]] = {key: [] for key in candidates}
    for info in ordered:
        results = packed.get(info.row)
        if results is None:
            continue
        for key in candidates:
            history[key].extend((info, results.outcomes[i]) for i in results.find(key))
    names = test_names(store, project, [k for k, v in history.items() if v])
    rates: dict[int, FlakeRate] = {}
    for key, entries in history.items():
        if entries:
            test, file = names.get(key, (TestId("?", "?", str(key), key), ""))
            rates[key] = _rate(test, file, entries)
    return rates


def _with_problems(store: Store, runs: list[int]) -> set[int]:
    """The tests with a failed, errored or flaky result in `runs`."""
    found: set[int] = set()
    for part in chunks(runs):
        found.update(
            int(key)
            for (key,) in store.backend.query(
                f"SELECT DISTINCT test FROM qa_problems WHERE run IN ({marks(len(part))})",  # noqa: S608
                part,
            )
        )
    return found


def _rate(test: TestId, file: str, entries: list[tuple[RunInfo, int]]) -> FlakeRate:
    """One test's rate from its outcomes in the window, newest first."""
    passed_on = {info.commit for info, code in entries if status_of(code) == 0 and info.commit}
    counted = flaky_count = streak = 0
    streak_open = True
    last_at: float | None = None
    last_commit = ""
    for info, code in entries:
        status = status_of(code)
        if status == 3:  # noqa: PLR2004 - skipped: evidence of nothing
            continue
        counted += 1
        flaky = is_flaky(code) or (status in _FAILING and bool(info.commit) and info.commit in passed_on)
        if flaky:
            flaky_count += 1
            if last_at is None:
                last_at, last_commit = info.started_at, info.commit
        if streak_open and status == 0 and not flaky:
            streak += 1
        else:
            streak_open = False
    return FlakeRate(test, file, counted, flaky_count, streak, last_at, last_commit)


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

    Each id is split at its first two ``::`` (suite names cannot hold one).
    """
    try:
        size = path.stat().st_size
        if size > MAX_LIST_BYTES:
            return frozenset(), (f"quarantine list {path}: {size} bytes is over the {MAX_LIST_BYTES} limit",)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return frozenset(), (f"quarantine list {path} not found: nothing is quarantined",)
    except (OSError, UnicodeDecodeError) as exc:
        return frozenset(), (f"quarantine list {path} cannot be read ({exc}): nothing is quarantined",)
    keys: set[int] = set()
    bad = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):
            try:
                decoded = json.loads(line)
            except ValueError:
                decoded = None
            if not isinstance(decoded, str):
                bad += 1
                continue
            line = decoded
        test = TestId.parse(line)
        if test is None:
            bad += 1
            continue
        keys.add(test.key)
    notes = (f"quarantine list {path}: {bad} line(s) are not suite::classname::name ids",) if bad else ()
    return frozenset(keys), notes


def quarantine(
    store: Store | None, scope: Scope, settings: HistorySettings, *, branch: str | None, base_dir: Path
) -> Quarantine:
    """The quarantine set `settings` describe (`store` is only read in ``auto`` mode)."""
    if settings.quarantine == "off":
        return NO_QUARANTINE
    if settings.quarantine == "list":
        path = Path(settings.quarantine_file).expanduser()
        listed, notes = read_quarantine_list(path if path.is_absolute() else base_dir / path)
        return Quarantine("list", keys=listed, notes=notes)
    if store is None:
        return Quarantine("auto", notes=("no history store: nothing is quarantined",))
    rates = flake_rates(store, scope, branch=branch, window=settings.window)
    chosen = {
        key: rate
        for key, rate in rates.items()
        if rate.rate > settings.flaky_threshold and rate.clean_streak < settings.release_after
    }
    return Quarantine("auto", keys=frozenset(chosen), rates=chosen)
