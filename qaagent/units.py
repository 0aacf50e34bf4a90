"""Units of work: a suite's test files as its tool lists them, their estimates, and mapping cases back.

The unit of work is a test file — small enough to balance, big enough that a
runner can be told to run exactly it. Which files, in which order, how many
tests each holds and which names their test cases carry is each runner's
knowledge (`Runner.list_units`, `Runner.unit_keys`): the tools themselves list
them, so a project's own collection settings hold. Shards (`qaagent.shard`)
and the batches of a split suite (`qaagent.batching`) are both made of units.

``command`` suites, suites where no file is found and suites whose tool
cannot list its files are one indivisible unit: tests are never dropped, and
the reason goes with the listing so the plan can say why.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from qaagent.durations import SuiteDurations
from qaagent.paths import refusal
from qaagent.plan import Plan, SuitePlan
from qaagent.process import child_environment
from qaagent.runners.registry import make_runner


@dataclass(frozen=True)
class Unit:
    """One test file of a suite (or the whole suite when `path` is None)."""

    suite: str
    path: Path | None  #: absolute
    rel: str | None  #: relative to the repository root, POSIX
    #: names a case of this unit may carry: its file, behave's dotted feature, Playwright's spec path
    keys: tuple[str, ...] = ()
    #: how many tests the tool listed in it (None: not known)
    tests: int | None = None

    @property
    def label(self) -> str:
        """``suite:path`` or ``suite``."""
        return f"{self.suite}:{self.rel}" if self.rel else self.suite


@dataclass(frozen=True)
class Discovery:
    """A suite's units in the order an unsharded run reports them, and why it is one unit (if so)."""

    units: tuple[Unit, ...]
    #: why the suite is one indivisible unit ("" when it was listed)
    reason: str = ""
    #: the tool was asked and could not say (the reason is its answer): worth a note in every plan
    failed: bool = False
    #: the files came from recorded durations, not from the tool (`recorded_discovery`)
    recorded: bool = False

    @property
    def whole(self) -> bool:
        """Whether the suite is one indivisible unit."""
        return len(self.units) == 1 and self.units[0].path is None

    @property
    def tests(self) -> int | None:
        """The suite's listed tests (None when any unit's count is unknown)."""
        counts = [u.tests for u in self.units]
        return None if any(c is None for c in counts) else sum(c or 0 for c in counts)


def discover(suite: SuitePlan, repo_root: Path) -> Discovery:
    """The suite's units as its runner lists them (`Runner.list_units`).

    A suite that is indivisible, has no file or whose tool could not list its
    files is one whole-suite unit; `reason` says why for the last two.
    """
    whole = (Unit(suite.name, None, None),)
    if suite.path is None:
        return Discovery(whole, f"a {suite.runner} suite has no unit list: it runs whole")
    if not suite.path.exists():
        return Discovery(whole, "its path does not exist")
    listing = make_runner(suite, repo_root=repo_root, base_env=child_environment(os.environ)).list_units()
    if listing is None:
        return Discovery(whole, f"a {suite.runner} suite has no unit list: it runs whole")
    if listing.problem:
        return Discovery(whole, listing.problem, failed=True)
    units = tuple(Unit(suite.name, u.path, u.keys[0], u.keys, u.tests) for u in listing.units)
    if not units:
        return Discovery(whole, f"{suite.runner} listed no test file", failed=True)
    return Discovery(units)


def recorded_discovery(
    suite: SuitePlan, repo_root: Path, recorded: SuiteDurations | None
) -> Discovery | None:
    """The suite's units from the test files its recorded durations name, without asking its tool.

    Only for a runner that can run "the rest" (`Runner.runs_the_rest`): one of the
    batches then runs the suite's path without the files the other batches run, so a
    file added since the durations were recorded runs exactly once. A recorded file
    that is gone, outside the suite's folder or refused by the path check is left out
    (a deleted file is not an error). Ordered as pytest collects a folder (by path
    parts); the report is put in the listing's order later (`SplitSuite`). None: the
    files must be listed (nothing recorded, fewer than two files, a shard, args that
    select parts of files).
    """
    if recorded is None or not recorded.files or suite.units is not None or suite.path is None:
        return None
    runner = make_runner(suite, repo_root=repo_root, base_env=child_environment(os.environ))
    folder = suite.path
    if not runner.runs_the_rest or not folder.is_dir() or runner.selection_problem():
        return None
    found: dict[Path, None] = {}
    bases = dict.fromkeys([repo_root, runner.cwd, folder])  # JUnit's `file` is relative to pytest's rootdir
    for key in recorded.files:
        if not key or Path(key).is_absolute():
            continue
        for base in bases:
            candidate = Path(os.path.normpath(base / key))
            inside = folder in candidate.parents and refusal(candidate, root=repo_root) is None
            if inside and candidate.is_file():
                found[candidate] = None
                break
    if len(found) < 2:  # noqa: PLR2004 - one file is one batch: list to be sure
        return None
    files = sorted(found, key=lambda f: f.relative_to(folder).parts)
    units = tuple(Unit(suite.name, f, runner.unit_keys(f)[0], runner.unit_keys(f)) for f in files)
    return Discovery(units, recorded=True)


def discover_all(plan: Plan, names: Sequence[str], workers: int) -> dict[str, Discovery]:
    """`discover` for the suites `names`, the tools asked side by side (at most `workers` at once)."""
    by_name = {s.name: s for s in plan.suites}
    chosen = [by_name[n] for n in names if n in by_name]
    if len(chosen) <= 1 or workers <= 1:
        return {s.name: discover(s, plan.repo_root) for s in chosen}
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="list") as pool:
        futures = {s.name: pool.submit(discover, s, plan.repo_root) for s in chosen}
        return {name: future.result() for name, future in futures.items()}


# -- estimates -------------------------------------------------------------------------------------


def unit_estimate(unit: Unit, recorded: SuiteDurations | None) -> float | None:
    """Recorded seconds of one unit (its file's cases and cases whose classname names it), or None."""
    if recorded is None:
        return None
    if unit.path is None:
        return recorded.total if recorded.total is not None else None
    found = False
    seconds = 0.0
    for key in unit.keys:
        if key in recorded.files:
            found = True
            seconds += recorded.files[key]
    for classname, value in recorded.classes.items():
        if case_unit_key(classname, unit.keys):
            found = True
            seconds += value
    return seconds if found else None


def case_unit_key(classname: str, keys: Sequence[str]) -> bool:
    """Whether a classname belongs to a unit with `keys` (behave ``dotted.Feature``, Playwright spec path)."""
    return any(classname == key or classname.startswith(key + ".") for key in keys if key)


# -- cases back to their units ---------------------------------------------------------------------


def unit_index(keys_of_units: Sequence[Sequence[str]]) -> dict[str, int]:
    """Key -> position of a suite's units, given each unit's keys (first unit wins a shared key)."""
    index: dict[str, int] = {}
    for position, keys in enumerate(keys_of_units):
        for key in keys:
            index.setdefault(key, position)
    return index


def key_index(units: Sequence[Unit]) -> dict[str, int]:
    """Key -> position of `units` (first unit wins a shared key)."""
    return unit_index([u.keys for u in units])


def locate_unit(file: str | None, classname: str, index: Mapping[str, int]) -> int | None:
    """The unit position of a test case by its file, else by its classname (longest dotted prefix)."""
    if file and file in index:
        return index[file]
    if classname in index:
        return index[classname]
    parts = classname.split(".")
    for count in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:count])
        if prefix in index:
            return index[prefix]
    return None
