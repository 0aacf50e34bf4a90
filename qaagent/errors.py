"""The one exception family users see, and the documented exit codes.

A `QAAgentError` is printed as one line (and as an `::error::` annotation in
GitHub Actions) with no traceback, by `report_error`, the one reporter the
command line and the action's entrypoint share; its `exit_code` says how the
process ends.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from enum import IntEnum
from typing import TextIO


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


class Cancelled(QAAgentError):  # noqa: N818 - what happened, not a fault
    """The run was cancelled (SIGINT, SIGTERM or SIGHUP) before it could start (exit 130)."""

    exit_code = ExitCode.CANCELLED


class ResultFileError(Exception):
    """A result file (JUnit, TRX, TAP, ...) cannot be read; becomes a suite error, never a crash.

    The message is one line that starts with the file's label; the cases read
    before the problem stay valid.
    """


class JUnitError(ResultFileError):
    """A suite's JUnit file cannot be read; becomes a suite error, never a crash."""


def report_error(
    error: QAAgentError, *, actions: bool | None = None, err: TextIO | None = None, out: TextIO | None = None
) -> None:
    """The one way an error reaches the user: one line on stderr; in Actions also an `::error`.

    The line may quote untrusted text (a path, a key, an input value), so it is
    redacted and defused (no line of it can read as a workflow command) and the
    annotation is written through the one workflow-command writer. `actions` defaults to
    whether this runs in GitHub Actions (`GITHUB_ACTIONS=true`).
    """
    from qaagent import redact  # noqa: PLC0415 - errors.py stays import-light
    from qaagent.github.commands import defuse, write_command  # noqa: PLC0415

    stderr = err if err is not None else sys.stderr
    stdout = out if out is not None else sys.stdout
    stderr.write(f"qaagent: error: {defuse(redact.redact(error.message))}\n")
    stderr.flush()
    if actions is None:
        actions = os.environ.get("GITHUB_ACTIONS") == "true"
    if actions:
        write_command(stdout, "error", error.message, title="qaagent")


def exit_status(
    call: Callable[[], int],
    *,
    actions: bool | None = None,
    err: TextIO | None = None,
    out: TextIO | None = None,
) -> int:
    """Run `call`; what it raises becomes one reported line and a documented exit code.

    A `QAAgentError` exits with its own code, Ctrl-C with 130, an OSError (the
    environment: a full disk, a read-only folder) with 3, and a bug of ours with 3
    and one line (`QAAGENT_DEBUG=1` shows the traceback instead).
    """
    try:
        return int(call())
    except KeyboardInterrupt:
        (err if err is not None else sys.stderr).write("qaagent: interrupted\n")
        return int(ExitCode.CANCELLED)
    except Exception as error:  # a bug of ours: one line, the traceback only on request
        if not isinstance(error, QAAgentError | OSError) and os.environ.get("QAAGENT_DEBUG"):
            raise
        problem = as_qaagent_error(error)
        report_error(problem, actions=actions, err=err, out=out)
        return int(problem.exit_code)


def as_qaagent_error(error: Exception) -> QAAgentError:
    """What `error` says to the user: itself, an OSError's one line (exit 3), or a bug's (exit 3)."""
    if isinstance(error, QAAgentError):
        return error
    if isinstance(error, OSError):
        return QAAgentError(f"{error.strerror or error}: {error.filename or ''}".rstrip(": "))
    return QAAgentError(f"internal error: {type(error).__name__}: {error} (QAAGENT_DEBUG=1 shows more)")


#: whether `pause_collection` turned the garbage collector off (and `resume_collection` owes it back)
_collection_paused = False


def pause_collection() -> None:
    """Called first by a program's entry point: no garbage collection while qaagent starts.

    A trivial `run-all` creates ~37,000 long-lived objects before its first suite starts
    (modules, classes, the pydantic and dataclass machinery), and with them come ~90 young
    collections that find next to nothing to free: 20-75 ms of the start's CPU here. Start-up
    makes almost no reference cycles, and reference counting still frees everything else.
    `resume_collection` turns collection back on (`run-all` when its first suite starts, every
    other command before it begins). Not for in-process callers (`cli.main` never calls it).
    """
    global _collection_paused  # noqa: PLW0603 - the collector is process state itself
    if gc.isenabled():
        gc.disable()
        _collection_paused = True


def resume_collection() -> None:
    """End of the start: what start-up built is frozen (no collection visits it again), collection is on.

    Does nothing unless `pause_collection` turned the collector off (tests, the action's
    in-process callers and a collector the user disabled are left as they are).
    """
    global _collection_paused  # noqa: PLW0603 - see pause_collection
    if _collection_paused:
        _collection_paused = False
        gc.freeze()
        gc.enable()


def before_exit() -> None:
    """Called by a program's entry point once its command returned, just before the process exits.

    At exit the interpreter clears every module and runs full garbage collections over every
    object still alive (the profile and manifest models, pydantic's schemas: ~26,000 objects
    after a run): about 70 ms of a trivial run on an idle machine, 0.2-0.4 s under load.
    `gc.freeze()` moves them all to the permanent generation, which no collection visits.
    What reference counting frees is still freed, and nothing left at this point needs a
    collection's finalizer: every file qaagent wrote is closed (`tests/test_startup.py` checks
    it after a real run), and the standard streams are flushed by the interpreter itself.
    Not for a process that goes on running (tests call `cli.main` in-process: they never call it).
    """
    gc.freeze()
