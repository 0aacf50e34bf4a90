"""Tallies of test statuses (`Counts`): a suite's, a run's, the merged report's.

Counted from anything with a case's `status`, `outcome` and `flaky` (`qaagent.results.TestCase`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Self


class Counted(Protocol):
    """What a count looks at in a case."""

    @property
    def status(self) -> str:
        """passed, failed, error or skipped."""

    @property
    def outcome(self) -> str | None:
        """xfail, xpass or None."""

    @property
    def flaky(self) -> bool:
        """Passed on a retry."""


@dataclass(slots=True)
class Counts:
    """Tallies of test statuses; `flaky` counts passed-on-retry tests.

    `passed`, `failed`, `errors` and `skipped` count statuses, as JUnit does (the merged
    report, the manifest, the step outputs). `xfailed` (skipped: failed as expected) and
    `xpassed` (passed although expected to fail) are counted within `skipped` and `passed`;
    the summaries show them apart, as pytest's own summary does (`shown_passed`,
    `shown_skipped`). A strict xpass is a failure and counts as failed only.
    """

    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    flaky: int = 0
    xfailed: int = 0
    xpassed: int = 0

    def add(self, case: Counted) -> None:
        """Count one case."""
        self.total += 1
        status = case.status
        if status == "passed":
            self.passed += 1
            if case.outcome == "xpass":
                self.xpassed += 1
        elif status == "failed":
            self.failed += 1
        elif status == "error":
            self.errors += 1
        else:
            self.skipped += 1
            if case.outcome == "xfail":
                self.xfailed += 1
        if case.flaky:
            self.flaky += 1

    def __iadd__(self, other: Counts) -> Self:
        self.total += other.total
        self.passed += other.passed
        self.failed += other.failed
        self.errors += other.errors
        self.skipped += other.skipped
        self.flaky += other.flaky
        self.xfailed += other.xfailed
        self.xpassed += other.xpassed
        return self

    @property
    def shown_passed(self) -> int:
        """Passed tests without the xpassed ones (what a summary calls passed)."""
        return self.passed - self.xpassed

    @property
    def shown_skipped(self) -> int:
        """Skipped tests without the xfailed ones (what a summary calls skipped)."""
        return self.skipped - self.xfailed

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain mapping (manifest, outputs)."""
        return {
            "total": self.total,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "flaky": self.flaky,
            "xfailed": self.xfailed,
            "xpassed": self.xpassed,
        }

    def outcome_text(self) -> str:
        """`, 17 xfailed, 2 xpassed` for a summary line ('' when there are none)."""
        parts = [f"{n} {label}" for n, label in ((self.xfailed, "xfailed"), (self.xpassed, "xpassed")) if n]
        return "".join(f", {part}" for part in parts)

    def summary_text(self) -> str:
        """`3 passed, 1 failed, 0 errors, 2 skipped, 1 xfailed, 0 flaky`: how every summary counts.

        xfail/xpass apart, as pytest says; the console's lines, the summary annotation and
        the check run's title all use this one text.
        """
        return (
            f"{self.shown_passed} passed, {self.failed} failed, {self.errors} errors, "
            f"{self.shown_skipped} skipped{self.outcome_text()}, {self.flaky} flaky"
        )
