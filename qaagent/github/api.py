"""A small GitHub REST client that respects rate limits and never leaks its token.

Why not a bare `requests.post`: feedback must survive rate limits, flaky
5xx answers and read-only tokens without ever changing the test conclusion,
and GitHub asks integrations to (docs "Best practices for using the REST
API"): honour `retry-after`; when `x-ratelimit-remaining` is 0 wait until
`x-ratelimit-reset`; otherwise back off exponentially; make mutating
requests serially, at most one per second.

- Waiting for retries is limited by a total budget (default 60 s) for the
  whole client; a wait that would exceed it gives up at once with
  `GitHubAPIError`. Pacing between mutating requests is not counted; time spent in requests
  that failed (a slow or silent server) is, and no request outlasts what is left of it.
- 403 "Resource not accessible by integration" (a read-only token, e.g. on a
  fork's pull request) raises `PermissionDeniedError` naming the permission
  the workflow must grant.
- Clock and sleep are injectable (`Clock`) so tests run on a fake clock.
- The token lives in a `Secret` whose repr hides it; error messages never
  contain it; requests only go to the configured API host (pagination links
  elsewhere are refused).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol, Self
from urllib.parse import urljoin, urlsplit

import requests

from qaagent.github.context import DEFAULT_API_URL

MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})
#: seconds between two mutating requests
MIN_MUTATION_INTERVAL = 1.0
#: total seconds the client may spend waiting for retries
DEFAULT_BUDGET = 60.0
#: longest single exponential-backoff wait
MAX_BACKOFF = 30.0
_NOT_ACCESSIBLE = "resource not accessible by integration"
_NO_CONTENT = HTTPStatus.NO_CONTENT
_TOO_MANY = HTTPStatus.TOO_MANY_REQUESTS
_FORBIDDEN = HTTPStatus.FORBIDDEN
_SERVER_ERROR = HTTPStatus.INTERNAL_SERVER_ERROR


class Secret:
    """A string that does not show itself in repr, str, or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        msg = "a Secret cannot be pickled"
        raise TypeError(msg)


class Clock(Protocol):
    """Time as the client sees it (a fake in tests)."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def time(self) -> float:
        """Epoch seconds (rate-limit reset times are epoch seconds)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """Seconds on the process's monotonic clock."""
        return time.monotonic()

    def time(self) -> float:
        """Epoch seconds."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Really wait."""
        time.sleep(seconds)


class GitHubAPIError(Exception):
    """A request failed for good (after retries, or not retryable)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PermissionDeniedError(GitHubAPIError):
    """The token may not do this (403 "Resource not accessible by integration")."""

    def __init__(self, message: str, *, permission: str, status: int | None = 403) -> None:
        super().__init__(message, status=status)
        #: what the workflow must grant, e.g. "checks: write"
        self.permission = permission


class GitHubClient:
    """Requests to one GitHub API (github.com or GHES) with one token."""

    def __init__(
        self,
        token: str | Secret,
        *,
        api_url: str = DEFAULT_API_URL,
        clock: Clock | None = None,
        budget: float = DEFAULT_BUDGET,
        min_interval: float = MIN_MUTATION_INTERVAL,
        timeout: float = 30.0,
        user_agent: str = "qaagent",
    ) -> None:
        self._token = token if isinstance(token, Secret) else Secret(token)
        self.api_url = api_url.rstrip("/")
        self.clock: Clock = clock or SystemClock()
        self.budget = budget
        self.min_interval = min_interval
        self.timeout = timeout
        self.waited = 0.0  #: seconds spent waiting for retries so far
        #: real seconds spent in requests that failed (a slow or silent server); counted in the budget
        self.failed_seconds = 0.0
        self.requests = 0  #: HTTP requests sent, retries included
        self._last_mutation: float | None = None
        self._session = requests.Session()
        self._session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": user_agent,
            }
        )

    def __repr__(self) -> str:
        return f"GitHubClient(api_url={self.api_url!r}, token={self._token!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public calls -------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        permission: str = "",
    ) -> Any:
        """Send one request (retrying as documented above); the decoded JSON body, or None."""
        body, _ = self._request(method, self._url(path), json=json, params=params, permission=permission)
        return body

    def paginate(
        self, path: str, *, params: Mapping[str, str | int] | None = None, permission: str = ""
    ) -> Iterator[Any]:
        """Items of a list endpoint, following `Link: rel="next"` (100 per page)."""
        query: dict[str, str | int] = {"per_page": 100, **(params or {})}
        url: str | None = self._url(path)
        first = True
        while url:
            body, links = self._request(
                "GET", url, json=None, params=query if first else None, permission=permission
            )
            first = False
            if not isinstance(body, list):
                raise GitHubAPIError(f"GET {urlsplit(url).path}: expected a JSON list")
            yield from body
            url = links.get("next")
            if url and not self._same_origin(url):
                msg = "refusing to follow a pagination link to another host"
                raise GitHubAPIError(msg)

    # -- internals ----------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            if not self._same_origin(path):
                msg = "refusing to send the token to another host"
                raise GitHubAPIError(msg)
            return path
        return urljoin(self.api_url + "/", path.lstrip("/"))

    def _same_origin(self, url: str) -> bool:
        mine, theirs = urlsplit(self.api_url), urlsplit(url)
        return (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc)

    def _pace(self) -> None:
        if self._last_mutation is not None:
            wait = self._last_mutation + self.min_interval - self.clock.monotonic()
            if wait > 0:
                self.clock.sleep(wait)
        self._last_mutation = self.clock.monotonic()

    def _redact(self, text: str) -> str:
        secret = self._token.reveal()
        return text.replace(secret, "***") if secret else text

    def _request(
        self,
        method: str,
        url: str,
        *,
        json: Any,
        params: Mapping[str, str | int] | None,
        permission: str,
    ) -> tuple[Any, dict[str, str]]:
        method = method.upper()
        where = f"{method} {urlsplit(url).path}"
        attempt = 0
        while True:
            if method in MUTATING:
                self._pace()
            self.requests += 1
            sent = time.monotonic()
            outcome = self._send(method, url, where, attempt, json=json, params=params, permission=permission)
            if isinstance(outcome, _Done):
                return outcome.body, outcome.links
            self.failed_seconds += time.monotonic() - sent
            attempt += 1
            if self.waited + self.failed_seconds + outcome.wait > self.budget:
                raise GitHubAPIError(
                    f"{where}: gave up after {attempt} attempt(s) ({outcome.reason}); waiting "
                    f"{outcome.wait:.0f} s more would exceed the {self.budget:.0f} s retry budget"
                )
            self.clock.sleep(outcome.wait)
            self.waited += outcome.wait

    def _send(
        self,
        method: str,
        url: str,
        where: str,
        attempt: int,
        *,
        json: Any,
        params: Mapping[str, str | int] | None,
        permission: str,
    ) -> _Done | _Retry:
        """One HTTP exchange: the result, a reason to retry, or an exception."""
        backoff = min(MAX_BACKOFF, 2.0**attempt)
        try:
            response = self._session.request(
                method,
                url,
                json=json,
                params=params,
                # a request may not outlast what is left of the budget (a silent server)
                timeout=max(1.0, min(self.timeout, self.budget - self.waited - self.failed_seconds)),
                headers={"Authorization": f"Bearer {self._token.reveal()}"},
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            return _Retry(backoff, f"connection problem: {type(exc).__name__}")
        if HTTPStatus.OK <= response.status_code < HTTPStatus.MULTIPLE_CHOICES:
            return self._success(response, method, where, backoff)
        return self._failure(response, where, backoff, permission)

    def _success(
        self, response: requests.Response, method: str, where: str, backoff: float
    ) -> _Done | _Retry:
        links = {k: v["url"] for k, v in response.links.items() if "url" in v}
        if response.status_code == _NO_CONTENT or not response.content:
            return _Done(None, links)
        try:
            return _Done(response.json(), links)
        except ValueError:
            if method == "GET":
                return _Retry(backoff, "invalid JSON in the answer")
            # the change was probably made: repeating a POST could duplicate it
            raise GitHubAPIError(f"{where}: HTTP {response.status_code} with invalid JSON") from None

    def _failure(self, response: requests.Response, where: str, backoff: float, permission: str) -> _Retry:
        status = response.status_code
        message = self._redact(_error_message(response))
        if status in (_FORBIDDEN, _TOO_MANY):
            wait = _rate_limit_wait(response, self.clock.time())
            if wait is not None:
                return _Retry(wait, f"rate limited (HTTP {status})")
            if status == _TOO_MANY or "rate limit" in message.lower():
                return _Retry(backoff, f"rate limited (HTTP {status})")
            if _NOT_ACCESSIBLE in message.lower() or permission:
                raise PermissionDeniedError(
                    f"{where}: HTTP 403: {message}", permission=permission or "write access", status=status
                )
        if status >= _SERVER_ERROR:
            return _Retry(backoff, f"HTTP {status}")
        raise GitHubAPIError(f"{where}: HTTP {status}: {message}", status=status)


@dataclass(frozen=True, slots=True)
class _Done:
    body: Any
    links: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Retry:
    wait: float
    reason: str


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    text = body.get("message") if isinstance(body, dict) else None
    if not isinstance(text, str):
        text = response.text[:200]
    return " ".join(text.split())[:300] or response.reason or "no message"


def _rate_limit_wait(response: requests.Response, now: float) -> float | None:
    """Seconds the answer asks us to wait, from `retry-after` or the rate-limit reset."""
    retry_after = response.headers.get("retry-after")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            return None
    if response.headers.get("x-ratelimit-remaining") == "0":
        try:
            reset = float(response.headers.get("x-ratelimit-reset", ""))
        except ValueError:
            return None
        return max(0.0, reset - now) + 1.0
    return None
