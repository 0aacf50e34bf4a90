"""What running a suite leaves besides its test cases: its attempts, a split suite's batches, reruns.

An `Attempt` is one execution of a suite's command (the first run or a retry: its command,
return code, log, the result files it read and those it ignored, `IgnoredFile`); a split
suite's `Batch` holds the attempts of its share of the test files. A `Rerun` is one failed
attempt of a single test other than the one that decided its status (`TestCase.reruns` in
`qaagent.results`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

FailStatus = Literal["failed", "error"]


@dataclass(frozen=True, slots=True)
class Rerun:
    """One failed attempt of a test other than the one that decided its status.

    For a flaky test (passed on a retry) these are the earlier failures
    (`flakyFailure`/`flakyError` in the merged JUnit); for a test that never
    passed they are the later failed attempts (`rerunFailure`/`rerunError`).
    """

    status: FailStatus
    message: str = ""
    type: str = ""
    details: str = ""
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0


@dataclass(frozen=True, slots=True)
class IgnoredFile:
    """A file that matched a suite's result globs and was not read, and why."""

    path: Path
    reason: str  #: e.g. "written before this attempt started", "outside the project"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One execution of a suite's command (the first run or a retry)."""

    number: int  #: 1-based
    command: tuple[str, ...]
    returncode: int | None  #: None when it never started; negative: killed by signal
    timed_out: bool
    started_at: float  #: epoch seconds
    duration: float
    log_path: Path | None = None
    junit_files: tuple[Path, ...] = ()
    selected: tuple[str, ...] = ()  #: the test ids a retry was limited to
    cancelled: bool = False
    #: files matching the suite's result globs that were not read (stale, outside the project)
    ignored: tuple[IgnoredFile, ...] = ()
    #: why its log could not be written whole (a full disk, a file-size limit); None: it was
    log_error: str | None = None
    #: of `junit_files`, those that could not be read completely (kept in the bundle as evidence)
    junit_unread: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch of a split suite: its number, its test files and its own attempts (with their logs)."""

    number: int  #: 1-based
    units: tuple[str, ...]  #: repository-relative test files, in report order
    attempts: tuple[Attempt, ...] = ()
