"""One queue for a parallel run: whole suites and batches of split suites, longest first.

A suite with ``split: auto`` or ``split: N`` runs as several processes of its
own tool, each over a batch of its test files (`qaagent.units`). Every unit
of work — each batch, each whole suite — goes into one queue that the
orchestrator hands out, longest first, to `Plan.slots` slots as they free up.

**The batch rule.** Units carry estimates: recorded seconds (`Durations`:
the previous bundle, `--durations-from`, later the history), else the tool's
test count × the runner's `nominal_test_seconds`. The units of all suites are
packed by LPT with a set-up cost (`schedule.pack`) into ``k × W`` bins, W the
slots, and the files of one suite in one bin are one batch, paying one
process start-up (recorded: the suite's time outside its tests per process;
else the runner's `startup_seconds`):

- ``k = 1`` when every unit of the split suites has a recorded duration: the
  bins are the slots themselves, balanced to within a file;
- ``k = 3`` otherwise: more, smaller batches, so that handing them out as slots
  free up absorbs estimates that are only test counts (measured in
  docs/decisions.md: k = 3–4 gave the lowest median and tail on skewed suites);
- ``auto`` gives a suite at most ``total ÷ (3 × start-up)`` batches (total:
  its estimated seconds, recorded or guessed): each batch holds at least three
  start-ups' worth of tests, so a start-up is at most a quarter of a batch's
  time (9, the first choice, kept the benchmark's suites whole once their
  start-up was recorded under load; docs/decisions.md has the model's figures);
- ``split: N`` gives the suite exactly N batches (fewer only when it has fewer files),
  whatever the recorded durations and start-up say: the user's number wins; a batch
  never holds zero files.

**Files from recorded durations.** A suite whose runner can run "the rest" (pytest:
`--ignore`) and whose recorded durations name its files is not listed before the run
(`units.recorded_discovery`): its batches start at once, and its last batch runs the
suite's path without the other batches' files (`WorkItem.rest`), so a file added since
the durations were recorded runs exactly once. The listing runs alongside the batches
and only orders the report (`SplitSuite`).

A suite that asks to split but cannot — a sequential run, one slot, a
`command` suite (no unit list), a tool that could not list its files, one
file — runs whole, and the plan says why (`SplitLayout.reasons`).

Without recorded durations the whole suites of a parallel run are listed
too, so that the longest starts first by its test count instead of in
`suite_order` (the first parallel run used to start the longest suite last).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qaagent.durations import Durations
from qaagent.paths import recorded
from qaagent.plan import Plan, SuitePlan, WorkItem
from qaagent.runners.registry import RUNNER_CLASSES
from qaagent.schedule import fill_unknown, makespan, pack
from qaagent.units import Discovery, Unit, discover_all, recorded_discovery, unit_estimate

#: bins per slot when some estimate is only a test count (see the module docstring)
UNKNOWN_BINS_PER_SLOT = 3
#: a batch holds at least this many start-ups' worth of tests (estimated seconds)
MIN_BATCH_STARTUPS = 3
#: a file's least weight when `split: N` deals files (recorded at 0 s, they would all tie)
_DEALT_FLOOR = 1e-6


@dataclass(frozen=True)
class Estimates:
    """Seconds per unit and what they are based on."""

    seconds: tuple[float, ...]
    known: int  #: units with a recorded duration
    basis: str  #: "recorded", "listed" (test counts × nominal seconds) or "equal"
    source: str  #: where the recorded durations came from


def estimate(plan: Plan, units: Sequence[Unit], durations: Durations) -> Estimates:
    """Seconds per unit: recorded; else listed tests × the runner's guess per test; else the mean; else 1."""
    recorded = [unit_estimate(u, durations.suites.get(u.suite)) for u in units]
    runners = {s.name: s.runner for s in plan.suites}
    guessed = [
        None if u.tests is None else u.tests * RUNNER_CLASSES[runners[u.suite]].nominal_test_seconds
        for u in units
    ]
    known = sum(1 for r in recorded if r is not None)
    merged = [r if r is not None else g for r, g in zip(recorded, guessed, strict=True)]
    if not any(m is not None for m in merged):
        return Estimates(tuple(1.0 for _ in units), 0, "equal", "")
    filled, _ = fill_unknown(merged)
    if known:
        return Estimates(tuple(filled), known, "recorded", durations.source)
    return Estimates(tuple(filled), 0, "listed", "")


def startup(suite: SuitePlan, durations: Durations) -> float:
    """One process start-up of `suite`: its recorded time outside its tests per process, else the guess."""
    recorded = durations.suites.get(suite.name)
    nominal = RUNNER_CLASSES[suite.runner].startup_seconds
    if recorded is None or recorded.total is None or not (recorded.files or recorded.classes):
        return nominal
    outside = recorded.total - sum(recorded.files.values()) - sum(recorded.classes.values())
    seconds = outside / max(1, recorded.processes)
    return seconds if math.isfinite(seconds) and seconds > 0 else nominal


@dataclass(frozen=True)
class SplitLayout:
    """The queue and why it looks as it does: the manifest's ``settings.split``, `validate`, `plan`."""

    workers: int
    queue: tuple[WorkItem, ...]
    basis: str
    source: str
    known: int
    units: int
    makespan: float  #: predicted wall time of the queue (seconds when `basis` is not "equal")
    bound: float  #: max(longest item, total ÷ workers)
    reasons: Mapping[str, str]  #: suite -> why it runs whole although it asked to split
    batches: Mapping[str, int]  #: split suite -> its number of batches
    #: split suite -> its files taken from recorded durations (not listed before the run)
    unlisted: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def as_json(self, plan: Plan) -> dict[str, Any]:
        """The recorded form (paths relative to the repository)."""
        return {
            "workers": self.workers,
            "basis": self.basis,
            "durations": self.source or None,
            "known": self.known,
            "units": self.units,
            "makespan": round(self.makespan, 3),
            "bound": round(self.bound, 3),
            "batches": dict(self.batches),
            "unlisted": dict(self.unlisted),
            "whole": dict(self.reasons),
            "queue": [
                {
                    "suite": item.suite,
                    "batch": item.batch,
                    "units": [recorded(u, plan.repo_root) for u in item.units],
                    "estimate": round(item.estimate, 3),
                    "rest": item.rest,
                }
                for item in self.queue
            ],
        }


def layout_lines(layout: Mapping[str, Any] | None, *, full: bool = True) -> list[str]:
    """What `qaagent validate` / `plan` (`full`: every item of the queue) and the run's start print."""
    if not layout:
        return []
    queue = [q for q in layout.get("queue") or () if isinstance(q, Mapping)]
    basis = layout.get("basis")
    seconds = basis in ("recorded", "listed")
    workers = layout.get("workers")
    out: list[str] = []
    if queue:
        how = {
            "recorded": f"recorded durations from {layout.get('durations')} "
            f"({layout.get('known')} of {layout.get('units')} units)",
            "listed": "listed test counts × each runner's guess per test (no recorded durations)",
        }.get(str(basis), "equal weights (nothing recorded or listed)")
        out.append(f"queue: {len(queue)} item(s) over {workers} worker(s), longest first; estimates: {how}")
        batches = layout.get("batches") or {}
        out.extend(f"suite {name} split into {count} batches" for name, count in batches.items())
        out.extend(
            f"suite {name}: its {count} test files from the recorded durations, not listed before the run; "
            "its last batch runs its path without the other batches' files (a file added since runs there)"
            for name, count in (layout.get("unlisted") or {}).items()
        )
        for entry in queue if full else ():
            label = entry["suite"] if entry.get("batch") is None else f"{entry['suite']}#{entry['batch']}"
            files = f", {len(entry.get('units') or ())} file(s)" if entry.get("batch") is not None else ""
            files += " and any file not recorded" if entry.get("rest") else ""
            weight = f"~{entry['estimate']:.1f} s" if seconds else f"weight {entry['estimate']:g}"
            out.append(f"  {label}: {weight}{files}")
        if seconds:
            out.append(
                f"predicted makespan: ~{layout.get('makespan', 0):.1f} s on {workers} worker(s) "
                f"(lower bound max(longest, total ÷ {workers}) = {layout.get('bound', 0):.1f} s)"
            )
    whole = layout.get("whole") or {}
    out.extend(f"suite {name} runs whole: {why}" for name, why in whole.items())
    return out


def why_whole(suite: SuitePlan, plan: Plan) -> str | None:
    """Why a suite that asks to split runs whole before its files are even listed (None: it may split)."""
    if suite.split == "off":
        return None
    if not plan.parallel:
        return "a sequential run has one worker"
    if plan.slots <= 1:
        return "max_workers is 1"
    if suite.split == 1:
        return "split: 1 is one batch"
    return None


def plan_work(plan: Plan, durations: Durations, discoveries: Mapping[str, Discovery] | None = None) -> Plan:
    """The plan with its queue (`Plan.work`), start order and split layout; lists what it needs."""
    found = dict(discoveries or {})
    reasons = {s.name: r for s in plan.suites if (r := why_whole(s, plan)) is not None}
    if not plan.parallel:
        return dataclasses.replace(
            _suite_order(plan, "suite_order (sequential run)"), split_layout=_layout_only(plan, reasons)
        )
    wanted = [s for s in plan.suites if s.split != "off" and s.name not in reasons]
    unrecorded = [s for s in plan.suites if durations.suite_total(s.name) is None]
    to_list = [s.name for s in wanted] + ([s.name for s in unrecorded] if len(plan.suites) > 1 else [])
    for suite in wanted:  # files known from recorded durations: no listing before the first batch
        known = recorded_discovery(suite, plan.repo_root, durations.suites.get(suite.name))
        if known is not None:
            found[suite.name] = known
    missing = [n for n in dict.fromkeys(to_list) if n not in found]
    found.update(discover_all(plan, missing, plan.slots))
    units: list[Unit] = []
    splitting: dict[str, SuitePlan] = {}
    for suite in plan.suites:
        mine = _units_of(suite, found.get(suite.name), reasons, wanted=suite in wanted)
        if mine[0].path is not None:
            splitting[suite.name] = suite
        units.extend(mine)
    if len(units) < 2:  # noqa: PLR2004 - one item: nothing to order or split
        return dataclasses.replace(
            _suite_order(plan, "suite_order (one suite)"), split_layout=_layout_only(plan, reasons)
        )
    unlisted = {n for n in splitting if (d := found.get(n)) is not None and d.recorded}
    return _queue(plan, units, splitting, durations, reasons, unlisted=unlisted)


def _units_of(
    suite: SuitePlan, discovery: Discovery | None, reasons: dict[str, str], *, wanted: bool
) -> list[Unit]:
    """The units a suite contributes to the queue: its files when it splits, else one whole unit."""
    tests = discovery.tests if discovery is not None else None
    whole = [Unit(suite.name, None, None, tests=tests)]
    if not wanted or discovery is None:
        return whole
    if discovery.whole:
        reasons[suite.name] = discovery.reason or "its files could not be listed"
        return whole
    listed = list(discovery.units)
    if suite.units is not None:  # a shard: only its files
        mine = set(suite.units)
        listed = [u for u in listed if u.path in mine]
    if len(listed) < 2:  # noqa: PLR2004 - one file is one batch
        reasons[suite.name] = "it has one test file here"
        count = listed[0].tests if listed else tests
        return [Unit(suite.name, None, None, tests=count)]
    return listed


def _queue(
    plan: Plan,
    units: list[Unit],
    splitting: Mapping[str, SuitePlan],
    durations: Durations,
    reasons: dict[str, str],
    *,
    unlisted: set[str],
) -> Plan:
    estimates = estimate(plan, units, durations)
    slots = plan.slots
    names = [s.name for s in plan.suites]
    group_of = {name: index for index, name in enumerate(names)}
    groups: list[int] = []
    for position, unit in enumerate(units):
        # a whole suite is a group of its own (never shares a process with anything)
        groups.append(group_of[unit.suite] if unit.path is not None else len(names) + position)
    split_known = all(
        estimates.basis == "recorded" and unit_estimate(u, durations.suites.get(u.suite)) is not None
        for u in units
        if u.path is not None
    )
    bins = slots if split_known else UNKNOWN_BINS_PER_SLOT * slots
    setup: dict[int, float] = {}
    caps: dict[int, int] = {}
    for name, suite in splitting.items():
        group = group_of[name]
        setup[group] = startup(suite, durations)
        if isinstance(suite.split, int):
            _explicit_batches(
                name,
                suite.split,
                units=units,
                seconds=estimates.seconds,
                groups=groups,
                setup=setup,
                caps=caps,
            )
            continue
        total = sum(e for u, e in zip(units, estimates.seconds, strict=True) if u.suite == name)
        caps[group] = _batch_cap(suite, total, setup[group], timed=estimates.basis != "equal")
    packing = pack(estimates.seconds, groups, bins=bins, setup=setup, caps=caps)
    items = _items(units, estimates.seconds, packing.bins, groups=groups, setup=setup, splitting=splitting)
    ordered = sorted(items, key=lambda i: (-i.estimate, names.index(i.suite), i.batch or 0))
    predicted, bound = makespan([i.estimate for i in ordered], slots)
    batches = {n: sum(1 for i in ordered if i.suite == n) for n in splitting}
    for name, count in batches.items():
        if count == 1:
            reasons.setdefault(name, "its tests fit one batch")
    single = {n for n, c in batches.items() if c == 1}
    work = tuple(WorkItem(i.suite, estimate=i.estimate) if i.suite in single else i for i in ordered)
    work = _rest_batches(work, unlisted - single)
    layout = SplitLayout(
        workers=slots,
        queue=work,
        basis=estimates.basis,
        source=estimates.source,
        known=estimates.known,
        units=len(units),
        makespan=predicted,
        bound=bound,
        reasons=dict(reasons),
        batches={n: c for n, c in batches.items() if c > 1},
        unlisted={n: sum(1 for u in units if u.suite == n) for n in sorted(unlisted - single)},
    )
    start = tuple(dict.fromkeys(i.suite for i in work))
    return dataclasses.replace(
        plan,
        work=work,
        start_order=start,
        start_order_reason=_reason(plan, units, estimates, durations),
        split_layout=layout.as_json(plan),
    )


def _rest_batches(work: tuple[WorkItem, ...], suites: set[str]) -> tuple[WorkItem, ...]:
    """The last batch of each suite whose files came from recorded durations runs the rest of its path.

    The last, so that batch 1 (whose command the suite's united attempts record) names its files.
    """
    last: dict[str, int] = {}
    for item in work:
        if item.suite in suites and item.batch is not None:
            last[item.suite] = max(last.get(item.suite, 0), item.batch)
    return tuple(
        dataclasses.replace(i, rest=True) if i.batch is not None and last.get(i.suite) == i.batch else i
        for i in work
    )


def _explicit_batches(
    name: str,
    wanted: int,
    *,
    units: Sequence[Unit],
    seconds: Sequence[float],
    groups: list[int],
    setup: dict[int, float],
    caps: dict[int, int],
) -> None:
    """`split: N`: the suite's files in exactly min(N, files) batches, balanced by their estimates.

    The user's number wins over the start-up cost and the bins per worker that decide
    `auto` (a recorded run used to pack tiny files back into one batch): the files are
    dealt into N batches first (LPT), and each batch becomes a group of its own, which
    the queue's packing keeps whole.
    """
    positions = [i for i, u in enumerate(units) if u.suite == name]
    count = min(wanted, len(positions))
    weights = [max(seconds[i], _DEALT_FLOOR) for i in positions]  # all-0 ties would all go to bin 1
    dealt = pack(weights, [0] * len(positions), bins=count, setup={}, caps={})
    cost = setup[groups[positions[0]]]
    base = len(groups) + max(groups, default=0) + 1  # past every group id in use
    for number, bin_ in enumerate(dealt.bins):
        group = base + number
        setup[group] = cost
        caps[group] = 1
        for members in bin_:
            for member in members:
                groups[positions[member]] = group


def _batch_cap(suite: SuitePlan, total: float, setup: float, *, timed: bool) -> int:
    """`split: N`, or (auto) as many batches as keep a start-up under a tenth of each (seconds estimated)."""
    if isinstance(suite.split, int):
        return suite.split
    if timed and setup > 0:
        return max(1, math.floor(total / (MIN_BATCH_STARTUPS * setup)))
    return 1_000_000


def _items(
    units: Sequence[Unit],
    seconds: Sequence[float],
    bins: Sequence[Sequence[Sequence[int]]],
    *,
    groups: Sequence[int],
    setup: Mapping[int, float],
    splitting: Mapping[str, SuitePlan],
) -> list[WorkItem]:
    """One work item per (bin, group): whole suites as they are, batches numbered by their first file."""
    found: dict[str, list[tuple[int, ...]]] = {}
    whole: list[WorkItem] = []
    for bin_ in bins:
        for members in bin_:
            suite = units[members[0]].suite
            if suite in splitting:
                found.setdefault(suite, []).append(tuple(members))
            else:
                whole.extend(WorkItem(units[m].suite, estimate=seconds[m]) for m in members)
    items = list(whole)
    first: dict[str, int] = {}
    for position, unit in enumerate(units):
        first.setdefault(unit.suite, position)
    for suite, batches in found.items():
        for number, members in enumerate(sorted(batches), 1):
            cost = setup.get(groups[members[0]], 0.0)
            items.append(
                WorkItem(
                    suite,
                    batch=number,
                    units=tuple(p for p in (units[m].path for m in members) if p is not None),
                    positions=tuple(m - first[suite] for m in members),
                    estimate=sum(seconds[m] for m in members) + cost,
                )
            )
    return items


def _reason(plan: Plan, units: Sequence[Unit], estimates: Estimates, durations: Durations) -> str:
    if estimates.basis == "recorded":
        names = [s.name for s in plan.suites]
        known = sum(1 for n in names if durations.suite_total(n) is not None)
        reason = f"longest first by durations from {estimates.source} ({known} of {len(names)} suites"
        if known == len(names):
            return reason + " recorded)"
        guessed = any(u.tests is not None and durations.suite_total(u.suite) is None for u in units)
        others = "others estimated from their listed tests" if guessed else "others get the mean"
        return f"{reason} recorded, {others})"
    if estimates.basis == "listed":
        return "longest first by listed test counts (no recorded durations)"
    return "suite_order (no recorded durations)"


def _suite_order(plan: Plan, reason: str) -> Plan:
    return dataclasses.replace(
        plan, start_order=tuple(s.name for s in plan.suites), start_order_reason=reason
    )


def _layout_only(plan: Plan, reasons: Mapping[str, str]) -> dict[str, Any] | None:
    if not reasons:
        return None
    return {"workers": plan.workers, "whole": dict(reasons), "queue": []}
