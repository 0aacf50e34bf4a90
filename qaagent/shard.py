"""Sharding across matrix jobs: test files (`qaagent.units`) split by LPT, applied to a plan.

``command`` suites, suites where no file is found and suites whose tool
cannot list its files (the reason goes into the split's notes) are one
indivisible unit: tests are never dropped.

Every shard job computes the same split from the same checkout, profile and
durations (`split`), so no coordination is needed; `apply_shard` keeps this
job's share. The split is recorded in the bundle (`Plan.shard_layout`) so
`qaagent merge` can check that the shards agree and can restore the order an
unsharded run reports in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qaagent.durations import Durations
from qaagent.errors import UsageError
from qaagent.options import SHARDS, Shard
from qaagent.plan import Plan, SuitePlan
from qaagent.runners.registry import RUNNER_CLASSES
from qaagent.schedule import fill_unknown, lpt_partition
from qaagent.units import Discovery, Unit, discover, unit_estimate

# -- the split -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardSplit:
    """Every unit of a plan and the shard (0-based) it goes to."""

    total: int
    units: tuple[Unit, ...]  #: suites in suite_order, units in report order
    shards: tuple[int, ...]  #: per unit, 0-based
    estimates: tuple[float, ...]  #: per unit, seconds (unknown: the mean of the known)
    known: int  #: how many units had a recorded duration
    source: str  #: where the durations came from ("" when none)
    notes: tuple[str, ...] = ()  #: suites kept whole because their tool could not list their files

    def loads(self) -> list[float]:
        """Estimated seconds per shard."""
        loads = [0.0] * self.total
        for shard, estimate in zip(self.shards, self.estimates, strict=True):
            loads[shard] += estimate
        return loads

    def units_of(self, index: int) -> list[Unit]:
        """The units of shard `index` (1-based), in report order."""
        return [u for u, s in zip(self.units, self.shards, strict=True) if s == index - 1]

    def layout(self) -> dict[str, Any]:
        """The split as recorded in each shard's manifest (identical in every shard)."""
        suites: dict[str, list[dict[str, Any]]] = {}
        for unit, shard in zip(self.units, self.shards, strict=True):
            suites.setdefault(unit.suite, []).append(
                {"path": unit.rel, "shard": shard + 1, "keys": list(unit.keys)}
            )
        body = {"total": self.total, "suites": suites}
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        # `known` 0: the estimates are equal weights (1 per unit), not seconds
        return {
            **body,
            "split_sha256": digest,
            "durations": self.source or None,
            "known": self.known,
            "notes": list(self.notes),
        }

    def describe(self, reason: str) -> dict[str, Any]:
        """`qaagent plan --json`: one entry per shard and a matrix `include` list."""
        loads = self.loads()
        shards = []
        for index in range(1, self.total + 1):
            units = [
                {"suite": u.suite, "path": u.rel, "estimate": round(e, 3)}
                for u, s, e in zip(self.units, self.shards, self.estimates, strict=True)
                if s == index - 1
            ]
            shards.append(
                {
                    "index": index,
                    "total": self.total,
                    "shard": f"{index}/{self.total}",
                    "estimate": round(loads[index - 1], 3),
                    "units": units,
                }
            )
        return {
            "shards": shards,
            "include": [{"shard": f"{i}/{self.total}"} for i in range(1, self.total + 1)],
            "durations": {"source": self.source or None, "known": self.known, "units": len(self.units)},
            "reason": reason,
        }


def split(
    plan: Plan, total: int, durations: Durations, discoveries: Mapping[str, Discovery] | None = None
) -> ShardSplit:
    """Assign every unit of `plan` to one of `total` shards by LPT over recorded durations.

    `discoveries`: the suites' units when they were listed already (else they are listed here).
    """
    if not SHARDS.low <= total <= SHARDS.high:
        raise UsageError(f"the number of shards must be between {SHARDS.low} and {SHARDS.high}, got {total}")
    units: list[Unit] = []
    notes: list[str] = []
    by_name = {suite.name: suite for suite in plan.suites}
    for suite in plan.suites:
        found = (discoveries or {}).get(suite.name) or discover(suite, plan.repo_root)
        units.extend(found.units)
        if found.failed:
            notes.append(f"suite {suite.name} kept whole: {found.reason}")
    raw = [unit_estimate(u, durations.suites.get(u.suite)) for u in units]
    _spread_overhead(units, raw, durations)
    estimates, known = fill_unknown(raw)
    # Runner hook: a suite that only reads files others wrote (`report`) has no units and is
    # read by shard 1 alone, so the merged run has it exactly once wherever LPT would put it.
    pinned = [RUNNER_CLASSES[by_name[u.suite].runner].first_shard_only for u in units]
    partition = lpt_partition([0.0 if pin else e for pin, e in zip(pinned, estimates, strict=True)], total)
    shards = [0] * len(units)
    for shard, members in enumerate(partition.bins):
        for item in members:
            shards[item] = 0 if pinned[item] else shard
    return ShardSplit(
        total, tuple(units), tuple(shards), tuple(estimates), known, durations.source, tuple(notes)
    )


def _spread_overhead(units: Sequence[Unit], raw: list[float | None], durations: Durations) -> None:
    """Add a suite's time outside its test cases (start-up, collection) evenly to its known files.

    Keeps file estimates on the same scale as whole-suite units (`command`
    suites), whose recorded time includes their start-up.
    """
    members: dict[str, list[int]] = {}
    for position, unit in enumerate(units):
        if unit.path is not None:
            members.setdefault(unit.suite, []).append(position)
    for suite, positions in members.items():
        recorded = durations.suites.get(suite)
        known = [p for p in positions if raw[p] is not None]
        if recorded is None or recorded.total is None or not known:
            continue
        extra = recorded.total - sum(raw[p] or 0.0 for p in known)
        if extra > 0:
            for p in known:
                raw[p] = (raw[p] or 0.0) + extra / len(positions)


def split_reason(split_: ShardSplit) -> str:
    """Why the split looks as it does, for the console."""
    notes = "".join(f"; {note}" for note in split_.notes)
    return _weights_reason(split_) + notes


def _weights_reason(split_: ShardSplit) -> str:
    if not split_.known:
        return f"{len(split_.units)} unit(s) in equal shares (no recorded durations)"
    recorded = (
        "all recorded"
        if split_.known == len(split_.units)
        else f"{split_.known} recorded, others get the mean"
    )
    return f"{len(split_.units)} unit(s) longest first by durations from {split_.source} ({recorded})"


def apply_shard(plan: Plan, index: int, split_: ShardSplit) -> Plan:
    """The plan of shard `index` (1-based): only its units; suites with none are left out."""
    mine: dict[str, list[Unit]] = {}
    for unit in split_.units_of(index):
        mine.setdefault(unit.suite, []).append(unit)
    suites: list[SuitePlan] = []
    for suite in plan.suites:
        units = mine.get(suite.name)
        if not units:
            continue
        if units[0].path is None:
            suites.append(suite)  # indivisible: the whole suite
        else:
            suites.append(dataclasses.replace(suite, units=tuple(u.path for u in units if u.path)))
    names = {s.name for s in suites}
    return dataclasses.replace(
        plan,
        suites=tuple(suites),
        start_order=tuple(n for n in plan.start_order if n in names),
        shard=Shard(index, split_.total),
        shard_layout={
            **split_.layout(),
            "index": index,
            "suite_order": [s.name for s in plan.suites],
            "runners": {s.name: s.runner for s in plan.suites},
            "estimate": round(split_.loads()[index - 1], 3),
        },
    )
