"""Longest-processing-time-first (LPT) scheduling: which suite starts first, which shard gets what.

Submitting work to a pool of W workers in list order is plain list
scheduling, which can take up to (2 - 1/W) x the optimal time (two workers,
jobs of 1, 1 and 2 minutes in that order: 3 minutes instead of 2). Starting
the longest job first (Graham's LPT rule) is never worse than
(4/3 - 1/(3W)) x optimal. The same rule spreads test files over N matrix
jobs: each file goes to the shard with the least work so far.

Everything here is pure and deterministic — the same weights in the same
order always give the same answer on every machine — because every shard
job of a matrix computes the split on its own and they must agree. Ties are
broken by the items' position in the input (suite_order, then the unit
order) and by the lower shard index.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def fill_unknown(weights: Sequence[float | None]) -> tuple[list[float], int]:
    """Replace unknown (None, negative, NaN) weights by the mean of the known ones.

    Returns the filled weights and how many were known. With nothing known
    every weight is 1.0 (equal shares).
    """
    known = [w for w in weights if w is not None and math.isfinite(w) and w >= 0]
    mean = sum(known) / len(known) if known else 1.0
    filled = [float(w) if w is not None and math.isfinite(w) and w >= 0 else mean for w in weights]
    if not known:
        filled = [1.0] * len(weights)
    return filled, len(known)


@dataclass(frozen=True)
class Partition:
    """The result of `lpt_partition`: item indices per bin and each bin's load."""

    bins: tuple[tuple[int, ...], ...]  #: item indices per bin, each in input order
    loads: tuple[float, ...]

    @property
    def makespan(self) -> float:
        """The largest load."""
        return max(self.loads, default=0.0)


def lpt_partition(weights: Sequence[float], bins: int) -> Partition:
    """Assign each item to one of `bins` bins, heaviest first, each to the least-loaded bin.

    Ties: the earlier item first, the lower bin index first. Every item lands
    in exactly one bin; a bin may stay empty when there are fewer items than bins.
    """
    if bins < 1:
        msg = f"bins must be >= 1, got {bins}"
        raise ValueError(msg)
    ranked = sorted(range(len(weights)), key=lambda i: (-weights[i], i))
    heap: list[tuple[float, int]] = [(0.0, b) for b in range(bins)]
    members: list[list[int]] = [[] for _ in range(bins)]
    loads = [0.0] * bins
    for item in ranked:
        load, chosen = heapq.heappop(heap)
        members[chosen].append(item)
        loads[chosen] = load + weights[item]
        heapq.heappush(heap, (loads[chosen], chosen))
    return Partition(tuple(tuple(sorted(m)) for m in members), tuple(loads))


def list_schedule_makespan(weights: Sequence[float], workers: int) -> float:
    """Wall time of greedy list scheduling of `weights` in the given order on `workers` workers."""
    heap = [0.0] * max(1, workers)
    for weight in weights:
        heapq.heapreplace(heap, heap[0] + weight)
    return max(heap)


@dataclass(frozen=True)
class Packing:
    """The result of `pack`: per bin, the items of each group that share it (one batch each)."""

    bins: tuple[tuple[tuple[int, ...], ...], ...]  #: per bin: per group present, its item indices
    loads: tuple[float, ...]  #: per bin, set-up costs included


def pack(
    weights: Sequence[float],
    groups: Sequence[int],
    *,
    bins: int,
    setup: Mapping[int, float],
    caps: Mapping[int, int],
) -> Packing:
    """LPT with a set-up cost: heaviest item first, each to the bin where the load ends lowest.

    Items of one group placed in one bin form one batch and pay the group's
    `setup` (a process start-up) once there: an item goes to a bin that
    already holds its group unless another bin is lighter by more than the
    set-up. A group never spreads over more than ``caps[group]`` bins (when
    it reaches its cap, its items go only to bins it is in). Ties: the earlier
    item first, the lower bin index. Deterministic, like everything here.
    """
    if bins < 1:
        msg = f"bins must be >= 1, got {bins}"
        raise ValueError(msg)
    ranked = sorted(range(len(weights)), key=lambda i: (-weights[i], i))
    loads = [0.0] * bins
    members: list[dict[int, list[int]]] = [{} for _ in range(bins)]
    spread: dict[int, int] = {}
    for item in ranked:
        group = groups[item]
        cost = setup.get(group, 0.0)
        full = spread.get(group, 0) >= caps.get(group, bins)
        best: tuple[float, int] | None = None
        for index in range(bins):
            present = group in members[index]
            if full and not present:
                continue
            load = loads[index] + weights[item] + (0.0 if present else cost)
            if best is None or load < best[0]:
                best = (load, index)
        assert best is not None  # noqa: S101 - a full group is present in at least one bin
        load, chosen = best
        if group not in members[chosen]:
            members[chosen][group] = []
            spread[group] = spread.get(group, 0) + 1
        members[chosen][group].append(item)
        loads[chosen] = load
    packed = tuple(tuple(tuple(sorted(items)) for _, items in sorted(bin_.items())) for bin_ in members)
    return Packing(packed, tuple(loads))


def makespan(weights: Sequence[float], workers: int) -> tuple[float, float]:
    """(list scheduling of `weights` in order on `workers`, the lower bound max(longest, total / workers))."""
    if not weights:
        return 0.0, 0.0
    bound = max(*weights, sum(weights) / max(1, workers))
    return list_schedule_makespan(weights, workers), bound
