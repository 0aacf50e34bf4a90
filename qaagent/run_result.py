"""The run as a whole: `RunResult` (its suites in `suite_order`), what the history excuses, the verdict.

The suite and case level (`TestCase`, `Counts`, `CaseStore`, `SuiteResult`) is
`qaagent.results`; this module reads it and is never imported by it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from qaagent.counts import Counts
from qaagent.results import SuiteResult, TestCase


@dataclass(frozen=True, slots=True)
class Excused:
    """Problems of a run that the test history takes out of the verdict (`qaagent.history.verdict`).

    ``quarantined_*``: quarantined tests that failed, errored or were flaky — still
    reported and counted, never failing the run. ``known_*``: the other failed and
    errored tests that fail on the base branch's latest recorded run too — they fail the
    run unless `fail_on` is ``new-failures``.
    """

    quarantined_failed: int = 0
    quarantined_errors: int = 0
    quarantined_flaky: int = 0
    known_failed: int = 0
    known_errors: int = 0


NOT_EXCUSED = Excused()


@dataclass(frozen=True, slots=True)
class RunResult:
    """One run: suites in `suite_order`, wall time and how it ended (built once, then read)."""

    project: str
    run_id: str
    suites: Sequence[SuiteResult]  #: kept as a tuple
    started_at: float  #: epoch seconds
    finished_at: float
    cancelled: bool = False
    #: suites that were planned but never started (cancellation)
    not_run: Sequence[str] = ()  #: kept as a tuple
    #: failures the history excuses (quarantined; known on the base branch): `conclusion` reads it
    excused: Excused = NOT_EXCUSED

    def __post_init__(self) -> None:
        object.__setattr__(self, "suites", tuple(self.suites))
        object.__setattr__(self, "not_run", tuple(self.not_run))

    @property
    def duration(self) -> float:
        """Wall-clock seconds of the whole run."""
        return max(0.0, self.finished_at - self.started_at)

    @property
    def suite_time(self) -> float:
        """Sum of the suites' own times (larger than `duration` when parallel)."""
        return sum(s.duration for s in self.suites)

    @property
    def counts(self) -> Counts:
        """Totals over all suites."""
        total = Counts()
        for suite in self.suites:
            total += suite.counts
        return total

    def problems(self) -> Iterator[TestCase]:
        """Failed, errored and flaky cases of all suites, in report order."""
        for suite in self.suites:
            yield from suite.cases.problems


FailOn = Literal["failed", "error", "flaky", "new-failures"]
Conclusion = Literal["success", "failure", "cancelled"]


def conclusion(run: RunResult, fail_on: Iterable[FailOn] = ("failed", "error")) -> Conclusion:
    """The run's verdict: cancelled, failure (a `fail_on` category occurred) or success.

    Quarantined problems never count; with ``new-failures``, a failed or errored test
    counts only when it is not failing on the base branch too (`RunResult.excused`).
    """
    if run.cancelled:
        return "cancelled"
    counts, excused = run.counts, run.excused
    failed = counts.failed - excused.quarantined_failed
    errors = counts.errors - excused.quarantined_errors
    new = failed - excused.known_failed + errors - excused.known_errors
    present = {
        "failed": failed > 0,
        "error": errors > 0,
        "flaky": counts.flaky - excused.quarantined_flaky > 0,
        "new-failures": new > 0,
    }
    return "failure" if any(present[kind] for kind in fail_on) else "success"
