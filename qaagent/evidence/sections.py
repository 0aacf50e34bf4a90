"""The manifest's `settings` and `history` sections as typed, frozen models (read by `evidence/read.py`).

Their shapes are what this version writes: `settings` is the plan's effective
settings (`Plan.settings`: the suites, the app, a shard's split, a split suite's
queue) plus a merged run's `merge`; `history` is the base-branch comparison
(`qaagent.report.comparison.document`). Like the rest of the manifest's models
they are lax (an int stays an int, a float a float: `Number`) and ignore unknown
keys; a value of the wrong type refuses the whole bundle with the reader's one
message. `Settings.recorded()` gives back exactly the keys the bundle had, in
the order this version writes them, for a merged manifest that copies them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

#: a JSON number kept as written (a timeout of 1800 stays 1800, not 1800.0)
Number = int | float


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class SuiteSettings(_Section):
    """One suite's effective settings (`settings.suites.<name>`)."""

    runner: str | None = None
    timeout: Number | None = None
    retry_count: int | None = None
    working_directory: str | None = None
    path: str | None = None
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] = ()
    junit: str | None = None
    files: tuple[str, ...] | None = None
    format: str | None = None
    artifacts: tuple[str, ...] = ()
    split: int | str | None = None
    env: tuple[str, ...] = ()


class AppSettings(_Section):
    """The system under test (`settings.app`)."""

    base_url: str | None = None
    health_endpoint: str | None = None
    start_command: tuple[str, ...] = ()
    startup_timeout: Number | None = None


class UnitEntry(_Section):
    """One unit (test file) of a shard split and the shard (1-based) it went to."""

    path: str | None = None
    shard: int | None = None
    keys: tuple[str, ...] = ()


class ShardLayout(_Section):
    """A shard's recorded split (`settings.shard`): the same units in every shard of the set."""

    total: int | None = None
    suites: dict[str, tuple[UnitEntry, ...]] = {}
    split_sha256: str | None = None
    durations: str | None = None
    known: int | None = None
    notes: tuple[str, ...] = ()
    index: int | None = None
    suite_order: tuple[str, ...] = ()
    runners: dict[str, str] = {}
    estimate: Number | None = None

    def units_of(self, suite: str) -> tuple[UnitEntry, ...]:
        """The units of `suite` in the split (none for a suite it does not list)."""
        return self.suites.get(suite, ())


class QueueEntry(_Section):
    """One item of the queue of work: a whole suite, or a batch of a split one."""

    suite: str
    batch: int | None = None
    units: tuple[str, ...] = ()
    estimate: Number = 0
    rest: bool = False  #: it ran the suite's path without the other batches' files


class SplitLayout(_Section):
    """The queue a run handed out and its predicted makespan (`settings.split`)."""

    workers: int | None = None
    basis: str | None = None
    durations: str | None = None
    known: int | None = None
    units: int | None = None
    makespan: Number | None = None
    bound: Number | None = None
    batches: dict[str, int] = {}
    unlisted: dict[str, int] = {}  #: suites whose files came from recorded durations
    whole: dict[str, str] = {}
    queue: tuple[QueueEntry, ...] = ()


class MergedShard(_Section):
    """One shard bundle a merged run was made of (`settings.merge.shards`)."""

    shard: str | None = None
    run_id: str | None = None
    path: str | None = None
    host: str | None = None
    ci_job: str | None = None
    started: str | None = None
    finished: str | None = None
    duration: Number | None = None
    status: str | None = None
    bundle_sha256: str | None = None


class MergeInfo(_Section):
    """How a merged run was made (`settings.merge`)."""

    total: int | None = None
    partial: bool = False
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    git: dict[str, str | None] = {}
    split_sha256: str | None = None
    shards: tuple[MergedShard, ...] = ()


class Settings(_Section):
    """The run's effective settings (`Plan.settings`), a merged run's `merge` besides."""

    parallel: bool = False
    max_workers: int | None = None
    fail_on: tuple[str, ...] = ()
    suite_order: tuple[str, ...] = ()
    start_order: tuple[str, ...] = ()
    start_order_reason: str | None = None
    disabled: tuple[str, ...] = ()
    junit: str | None = None
    evidence_dir: str | None = None
    keep: int | None = None
    max_output: int | None = None
    keep_unredactable: bool | None = None
    suites: dict[str, SuiteSettings] = {}
    app: AppSettings | None = None
    shard: ShardLayout | None = None
    split: SplitLayout | None = None
    merge: MergeInfo | None = None

    def recorded(self) -> dict[str, Any]:
        """The settings as the bundle recorded them (only the keys it had), as JSON values."""
        return self.model_dump(mode="json", exclude_unset=True)


class ComparedTest(_Section):
    """One test of a comparison group, as the manifest keeps it (already cut to size when written)."""

    id: str = ""
    note: str = ""


class ComparedGroup(_Section):
    """One group of the comparison (new failures, still failing, flaky, quarantined, fixed)."""

    key: str = ""
    heading: str = ""
    count: int | None = None
    tests: tuple[ComparedTest, ...] = ()


class ComparedBase(_Section):
    """The base branch's run the comparison was made against."""

    run_id: str | None = None
    commit: str | None = None
    started: str | None = None


class History(_Section):
    """The comparison with the base branch (`history`), which report.html shows."""

    base_branch: str | None = None
    base: ComparedBase | None = None
    label: str = ""
    groups: tuple[ComparedGroup, ...] = ()
