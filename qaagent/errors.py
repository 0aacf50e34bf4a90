"""The one exception family users see, and the documented exit codes.

A `QAAgentError` is printed as one line (and as an `::error::` annotation in
GitHub Actions) with no traceback; its `exit_code` says how the process ends.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; documented in the README."""

    #: every suite passed (flaky tests allowed unless `fail_on` lists `flaky`)
    OK = 0
    #: at least one test failed or errored (as selected by `fail_on`)
    TESTS_FAILED = 1
    #: bad command line, bad profile or bad input file; nothing (more) was run
    USAGE = 2
    #: qaagent itself failed (a bug or an environment problem such as a full disk)
    INTERNAL = 3
    #: the run was cancelled (SIGINT, SIGTERM or SIGHUP); the bundle says `cancelled`
    CANCELLED = 130


class QAAgentError(Exception):
    """An error with a one-line message for the user and an exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = " ".join(message.split("\n")).strip()

    def __str__(self) -> str:
        return self.message


class UsageError(QAAgentError):
    """A bad command-line argument, action input or input file (exit 2)."""

    exit_code = ExitCode.USAGE


class ProfileError(UsageError):
    """The profile cannot be loaded or is invalid (exit 2)."""


class ResultFileError(Exception):
    """A result file (JUnit, TRX, TAP, ...) cannot be read; becomes a suite error, never a crash.

    The message is one line that starts with the file's label; the cases read
    before the problem stay valid.
    """


class JUnitError(ResultFileError):
    """A suite's JUnit file cannot be read; becomes a suite error, never a crash."""
