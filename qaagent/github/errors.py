"""The GitHub client's errors: a request failed for good, the client gave up, the token may not.

Their messages pass the process's redactor: no error can show the token.
"""

from __future__ import annotations

from qaagent import redact


class GitHubAPIError(Exception):
    """A request failed for good (after retries, or not retryable)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(redact.redact(message))
        self.status = status


class GaveUpError(GitHubAPIError):
    """The client stopped: its budget ran out or GitHub asked for a longer wait than it has left."""

    def __init__(self, message: str, *, repeated: bool = False) -> None:
        super().__init__(message)
        #: True for the requests refused afterwards for the same reason (already reported once)
        self.repeated = repeated


class PermissionDeniedError(GitHubAPIError):
    """The token may not do this (403 "Resource not accessible by integration")."""

    def __init__(self, message: str, *, permission: str, status: int | None = 403) -> None:
        super().__init__(message, status=status)
        #: what the workflow must grant, e.g. "checks: write"
        self.permission = permission


def describe(exc: Exception) -> str:
    """An exception as one line (a `GitHubAPIError`'s own message).

    The token is masked by the redactor every warning passes (the client registered it).
    """
    text = str(exc) if isinstance(exc, GitHubAPIError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())
