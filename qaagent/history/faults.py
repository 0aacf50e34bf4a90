"""What the history does when it cannot work: one warning, and the run goes on.

Every failure of the store — a locked or corrupt SQLite file, a read-only
store, a PostgreSQL server that is down, slow or refuses the credentials, a
store written by a newer qaagent, a missing driver, even a bug of ours — ends
as a `HistoryUnavailable` value that the caller prints as one warning. It is
never raised past the `guard`, so it cannot change a test verdict. Messages
name the store with its password masked and are scrubbed of the password.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from qaagent.history.dsn import scrub

T = TypeVar("T")


class HistoryError(Exception):
    """A store problem with a message fit for the user (already without secrets)."""

    #: what kind of problem (`HistoryUnavailable.cause`)
    cause = "unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = " ".join(message.split())


class NewerSchemaError(HistoryError):
    """The store was written by a newer qaagent; it is neither read nor changed."""

    cause = "newer-schema"


class NoStoreError(HistoryError):
    """There is no store where one was to be read (commands never create one)."""

    cause = "missing"


@dataclass(frozen=True, slots=True)
class HistoryUnavailable:
    """What history could not do, and why: one line for the caller to print as a warning."""

    what: str  #: e.g. "record this run"
    reason: str  #: e.g. "database is locked (.qaagent/history.sqlite)"
    #: "unavailable" (locked, corrupt, read-only, unreachable, credentials, a bug),
    #: "newer-schema" or "missing" (no store to read)
    cause: str = "unavailable"

    @property
    def message(self) -> str:
        """``history: cannot record this run: database is locked (…)``."""
        return f"history: cannot {self.what}: {self.reason}"

    def __str__(self) -> str:
        return self.message


def describe(error: BaseException) -> str:
    """A driver's error in one line, without its traceback-like detail lines."""
    if isinstance(error, HistoryError):
        return error.message
    text = str(error).strip() or type(error).__name__
    first = text.splitlines()[0].strip()
    if isinstance(error, sqlite3.Error | OSError) or _is_psycopg(error):
        return first
    return f"internal error: {type(error).__name__}: {first}"


def _is_psycopg(error: BaseException) -> bool:
    return type(error).__module__.startswith("psycopg")


def guard(
    what: str, action: Callable[[], T], *, store: str, secrets: Iterable[str | None] = ()
) -> T | HistoryUnavailable:
    """`action()`, or a `HistoryUnavailable` naming `store` when anything goes wrong."""
    try:
        return action()
    except Exception as error:  # any failure of the history must become a warning, never a verdict
        secrets = tuple(secrets)
        reason = scrub(describe(error), secrets)
        where = scrub(store, secrets)
        cause = error.cause if isinstance(error, HistoryError) else "unavailable"
        return HistoryUnavailable(what, reason if where in reason else f"{reason} ({where})", cause)
