"""`--shard auto`: which parallel job of its CI this is, read from the CI's own variables.

| CI (setting) | marker | index, total | first index |
| --- | --- | --- | --- |
| GitLab (`parallel: N`) | `GITLAB_CI=true` | `CI_NODE_INDEX`, `CI_NODE_TOTAL` | 1 |
| CircleCI (`parallelism: N`) | `CIRCLECI=true` | `CIRCLE_NODE_INDEX`, `CIRCLE_NODE_TOTAL` | 0 |
| Buildkite (`parallelism`) | `BUILDKITE=true` | `BUILDKITE_PARALLEL_JOB`, `…_JOB_COUNT` | 0 |
| any, GitHub Actions' matrix | — | `QAAGENT_JOB_INDEX`, `QAAGENT_JOB_TOTAL` | 0 |

GitHub Actions sets no such variable: a matrix job knows its index only as
the expressions `strategy.job-index` and `strategy.job-total`, which the
workflow hands over as ``QAAGENT_JOB_INDEX`` / ``QAAGENT_JOB_TOTAL`` (the
README's recipe). Those two, when set, win everywhere, so any CI can use them.

A CI whose job is not parallel (GitLab without `parallel:`, Buildkite without
`parallelism:`) sets no index, and CircleCI says 0 of 1: the run is then not
sharded, and the reason says so. Values that are not whole numbers, or an index outside the total,
are a `UsageError` naming the variables (exit 2): a job must never guess
which share is its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from qaagent.errors import UsageError
from qaagent.options import SHARDS, Shard


@dataclass(frozen=True)
class ParallelJobs:
    """One CI's variables for a job's index and the number of jobs."""

    ci: str
    marker: str | None  #: the variable (set to "true") that says this CI runs the job
    index: str
    total: str
    base: int  #: the first job's index: 0 or 1


JOBS = (
    ParallelJobs("qaagent", None, "QAAGENT_JOB_INDEX", "QAAGENT_JOB_TOTAL", 0),
    ParallelJobs("GitLab CI", "GITLAB_CI", "CI_NODE_INDEX", "CI_NODE_TOTAL", 1),
    ParallelJobs("CircleCI", "CIRCLECI", "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0),
    ParallelJobs("Buildkite", "BUILDKITE", "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", 0),
)
_DIGITS = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True)
class AutoShardResult:
    """What `--shard auto` found: this job's shard (None: not a parallel job) and where it came from."""

    shard: Shard | None
    reason: str


def shard_from_environment(environ: Mapping[str, str]) -> AutoShardResult:
    """This job's `I/N` from the CI's variables (see the module docstring); `UsageError` when unusable."""
    for jobs in JOBS:
        index, total = environ.get(jobs.index), environ.get(jobs.total)
        detected = (
            index is not None or total is not None
            if jobs.marker is None
            else environ.get(jobs.marker, "").lower() == "true"
        )
        if not detected:
            continue
        if index is None and total is None:
            reason = f"{jobs.ci} job without {jobs.index}/{jobs.total} (not a parallel job): not sharded"
            return AutoShardResult(None, reason)
        found = _shard(jobs, index, total)
        where = f"{jobs.ci} {jobs.index}={index} {jobs.total}={total}"
        if found.total == 1:
            return AutoShardResult(None, f"{where}: one job, not sharded")
        return AutoShardResult(found, f"{where}: shard {found}")
    if environ.get("GITHUB_ACTIONS") == "true":
        msg = (
            "--shard auto: GitHub Actions sets no job index; give the matrix job's to qaagent in env: "
            "QAAGENT_JOB_INDEX: ${{ strategy.job-index }}, QAAGENT_JOB_TOTAL: ${{ strategy.job-total }}"
        )
        raise UsageError(msg)
    msg = (
        "--shard auto: no CI parallel-job variables found (GitLab CI_NODE_INDEX/CI_NODE_TOTAL, "
        "CircleCI CIRCLE_NODE_INDEX/CIRCLE_NODE_TOTAL, Buildkite BUILDKITE_PARALLEL_JOB/"
        "BUILDKITE_PARALLEL_JOB_COUNT, or QAAGENT_JOB_INDEX/QAAGENT_JOB_TOTAL); give --shard I/N"
    )
    raise UsageError(msg)


def _shard(jobs: ParallelJobs, index: str | None, total: str | None) -> Shard:
    names = f"{jobs.ci} {jobs.index}={index!r} {jobs.total}={total!r}"
    if index is None or total is None or not _DIGITS.fullmatch(index) or not _DIGITS.fullmatch(total):
        raise UsageError(f"--shard auto: {names}: both must be whole numbers")
    first, count = int(index) - jobs.base + 1, int(total)
    if not 1 <= count <= SHARDS.high:
        raise UsageError(f"--shard auto: {names}: the total must be from 1 to {SHARDS.high}")
    if not 1 <= first <= count:
        last = count - 1 + jobs.base
        raise UsageError(f"--shard auto: {names}: the index must be from {jobs.base} to {last}")
    return Shard(first, count)
