"""One answer of the GitHub API as read (bounded), and what it says: redirects, errors, rate limits.

Pure values and functions the client (`qaagent.github.api.GitHubClient`) decides with:
`success` and `failure` turn an answer into its body, a `Retry` (rate limits, 5xx, a GET's
invalid JSON) or the error it is; the body of a request passes `redacted` on its way out.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from qaagent import redact
from qaagent.github.errors import GitHubAPIError, PermissionDeniedError

_NOT_ACCESSIBLE = "resource not accessible by integration"
_NO_CONTENT = HTTPStatus.NO_CONTENT
_TOO_MANY = HTTPStatus.TOO_MANY_REQUESTS
_FORBIDDEN = HTTPStatus.FORBIDDEN
_SERVER_ERROR = HTTPStatus.INTERNAL_SERVER_ERROR


class TooLargeError(Exception):
    """The answer is larger than the client reads (`qaagent.github.api.MAX_BODY_BYTES`)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What came back: status, headers, the body (bounded), the `Link` header's links."""

    status: int
    headers: dict[str, str]
    body: bytes
    links: dict[str, str]
    reason: str = ""

    def header(self, name: str) -> str | None:
        """The value of header `name` (lower case), whatever case the server used."""
        return next((v for k, v in self.headers.items() if k.lower() == name), None)


@dataclass(frozen=True, slots=True)
class Done:
    """A successful answer: its JSON body (None when empty) and links."""

    body: Any
    links: dict[str, str]


@dataclass(frozen=True, slots=True)
class Retry:
    """An answer worth another try, after `wait`, for `reason`."""

    #: seconds to wait; None: exponential backoff; negative: a secondary rate limit (at least a minute)
    wait: float | None
    reason: str
    rate_limited: bool = False


@dataclass(frozen=True, slots=True)
class Redirect:
    """Repeat the request at `url` (the same method and body)."""

    url: str


def redacted(value: Any) -> Any:
    """A JSON body with every string through the process's redactor."""
    if isinstance(value, str):
        return redact.redact(value)
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(v) for v in value]
    return value


def error_message(answer: Answer) -> str:
    """The message of an error answer: its JSON `message`, else the start of its body, on one line."""
    try:
        body = jsonlib.loads(answer.body)
    except (ValueError, RecursionError):
        body = None
    text = body.get("message") if isinstance(body, dict) else None
    if not isinstance(text, str):
        text = answer.body[:200].decode("utf-8", "replace")
    return " ".join(text.split())[:300] or answer.reason or "no message"


def rate_limit_wait(answer: Answer, now: float) -> float | None:
    """Seconds the answer asks us to wait, from `retry-after` or the rate-limit reset."""
    retry_after = answer.header("retry-after")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            return None
    if answer.header("x-ratelimit-remaining") == "0":
        try:
            reset = float(answer.header("x-ratelimit-reset") or "")
        except ValueError:
            return None
        return max(0.0, reset - now) + 1.0
    return None


def success(answer: Answer, method: str, where: str) -> Done | Retry:
    """A 2xx answer: its decoded body, or (for a GET) a reason to retry its invalid JSON."""
    if answer.status == _NO_CONTENT or not answer.body:
        return Done(None, answer.links)
    try:
        return Done(jsonlib.loads(answer.body), answer.links)
    except (ValueError, RecursionError):
        if method == "GET":
            return Retry(None, "invalid JSON in the answer")
        # the change was probably made: repeating a POST could duplicate it
        raise GitHubAPIError(f"{where}: HTTP {answer.status} with invalid JSON") from None


def failure(answer: Answer, where: str, permission: str, now: Callable[[], float]) -> Retry:
    """An error answer as a reason to retry (rate limits, 5xx); else the error it is.

    `now` is the client's clock (`time`), read only for a rate limit's reset.
    """
    status = answer.status
    message = error_message(answer)
    if status in (_FORBIDDEN, _TOO_MANY):
        wait = rate_limit_wait(answer, now())
        if wait is not None:
            return Retry(wait, f"rate limited (HTTP {status})", rate_limited=True)
        if status == _TOO_MANY or "rate limit" in message.lower():
            return Retry(-1.0, f"secondary rate limit (HTTP {status})", rate_limited=True)
        if _NOT_ACCESSIBLE in message.lower() or permission:
            raise PermissionDeniedError(
                f"{where}: HTTP 403: {message}", permission=permission or "write access", status=status
            )
    if status >= _SERVER_ERROR:
        return Retry(None, f"HTTP {status}")
    raise GitHubAPIError(f"{where}: HTTP {status}: {message}", status=status)
