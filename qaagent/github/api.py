"""A small GitHub REST client with a hard time budget, bounded answers, and a token that stays home.

Why not a bare `requests.post`: feedback must survive rate limits, flaky 5xx
answers, hostile or broken servers and read-only tokens without ever changing
the test conclusion, and GitHub asks integrations to behave (REST docs, "Best
practices for using the REST API" and "Rate limits for the REST API"):

- **Budget.** The client as a whole spends at most `budget` seconds in requests
  (answered or not) and retry waits; only the pacing of mutating requests (below)
  is not counted. Every request gets a total deadline of what is left (at most
  `timeout`): a watchdog shuts its socket down when the deadline passes, so a
  server trickling one byte at a time, in the headers or the body, cannot hold
  it longer (the timeout `requests` takes is per read, not per request). A
  request or a wait that would not fit fails at once with `GitHubAPIError`.
- **Bounded answers.** A body is read up to `MAX_BODY_BYTES` (10 MiB) and
  refused beyond; pagination follows at most `MAX_PAGES` ``rel="next"`` links
  and stops at a link it has followed before.
- **Rate limits.** `retry-after` is honoured; with ``x-ratelimit-remaining: 0``
  the client waits until ``x-ratelimit-reset``; a secondary rate limit without
  either header waits at least a minute, then twice as long each time ("Otherwise,
  wait for at least one minute before retrying. If your request continues to fail
  due to a secondary rate limit, wait for an exponentially increasing amount of
  time between retries", docs "Rate limits for the REST API"); 5xx and connection
  problems back off exponentially from 1 s. Mutating requests are made serially,
  at most one per second. A wait the budget cannot afford gives up at once, and
  the client then refuses further requests with the same reason (one warning).
- **Redirects.** 301, 302, 307 and 308 are followed as the REST docs describe them
  ("Follow redirects": a renamed repository answers 301 with the new URL; 302 and
  307 are to be "repeated verbatim"): the same method and body, at most
  `MAX_REDIRECTS` times, and only to the configured API's own scheme and host, so
  the token never leaves that host and never travels over plain http to it.
- 403 "Resource not accessible by integration" (a read-only token, e.g. on a
  fork's pull request) raises `PermissionDeniedError` naming the permission
  the workflow must grant.
- Every request body passes the process's redactor, and the token is
  registered with it (`qaagent.redact`): no message, warning or body can show it.
  The token lives in a `Secret` whose repr hides it.
- **Cancel.** Given the run's cancel flag, a client that sees it set (a signal
  while publishing) gives the request in flight at most `CANCEL_IN_FLIGHT`
  seconds more (`qaagent.github.deadline.CancelWatch`), retries nothing, waits
  out no pacing, sends nothing new except the one request a caller lets through
  with `final_request` (the check run's `cancelled` conclusion), and spends at
  most `CANCEL_SECONDS` from the signal on.
- Clock and sleep are injectable (`qaagent.github.clock.Clock`) so tests run on a fake clock.

Its errors are `qaagent.github.errors`'.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from typing import Any, Self
from urllib.parse import urljoin, urlsplit

import requests

from qaagent import redact
from qaagent.github.answers import (
    Answer,
    Done,
    Redirect,
    Retry,
    TooLargeError,
    failure,
    redacted,
    success,
)
from qaagent.github.clock import Clock, SystemClock
from qaagent.github.context import DEFAULT_API_URL
from qaagent.github.deadline import CANCEL_IN_FLIGHT, CURRENT, CancelWatch, Deadline, DeadlineAdapter
from qaagent.github.errors import GaveUpError, GitHubAPIError

MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})
#: seconds between two mutating requests
MIN_MUTATION_INTERVAL = 1.0
#: total seconds the client may spend in requests and retry waits
DEFAULT_BUDGET = 60.0
#: longest single exponential-backoff wait
MAX_BACKOFF = 30.0
#: the first wait after a secondary rate limit without retry-after (GitHub: "at least one minute")
SECONDARY_WAIT = 60.0
#: bytes of an answer read at most; a longer one is refused
MAX_BODY_BYTES = 10 * 1024 * 1024
#: pages a list endpoint may have (100 items each)
MAX_PAGES = 100
#: redirects followed for one request
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 307, 308})
_CHUNK = 64 * 1024


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


# -- the client -------------------------------------------------------------------------------------


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
        cancel: threading.Event | None = None,
    ) -> None:
        self._token = token if isinstance(token, Secret) else Secret(token)
        if self._token:
            redact.register(self._token.reveal())
        self.api_url = api_url.rstrip("/")
        self.clock: Clock = clock or SystemClock()
        self.budget = budget
        self.min_interval = min_interval
        self.timeout = timeout
        self.waited = 0.0  #: seconds spent waiting for retries (on `clock`)
        #: real seconds spent in requests, answered or not
        self.request_seconds = 0.0
        self.requests = 0  #: HTTP requests sent, retries and redirects included
        self._gave_up: str | None = None
        self._last_mutation: float | None = None
        self._cancel = CancelWatch(cancel) if cancel is not None else None
        self._session = requests.Session()
        adapter = DeadlineAdapter()
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
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
        if self._cancel is not None:
            self._cancel.close()
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def spent(self) -> float:
        """Seconds of the budget used so far."""
        return self.waited + self.request_seconds

    @property
    def left(self) -> float:
        """Seconds of the budget left (after a cancel, at most what is left of `CANCEL_SECONDS`)."""
        left = self.budget - self.spent
        return left if self._cancel is None else min(left, self._cancel.left())

    @property
    def cancelled(self) -> bool:
        """Whether the run's cancel flag is set: nothing new is sent but a `final_request`."""
        return self._cancel is not None and self._cancel.is_set()

    def final_request(self) -> contextlib.AbstractContextManager[None]:
        """Inside the block, after a cancel, one more request may go out (and no retry of it)."""
        return self._cancel.final_request() if self._cancel is not None else contextlib.nullcontext()

    # -- public calls -------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        permission: str = "",
        paced: bool | None = None,
    ) -> Any:
        """Send one request (retrying as documented above); the decoded JSON body, or None.

        `paced` (default: for mutating methods) spaces the request a second after the last paced one.
        """
        body, _ = self._request(
            method, self._url(path), json=json, params=params, permission=permission, paced=paced
        )
        return body

    def paginate(
        self, path: str, *, params: Mapping[str, str | int] | None = None, permission: str = ""
    ) -> Iterator[Any]:
        """Items of a list endpoint, following `Link: rel="next"` (100 per page, `MAX_PAGES` pages)."""
        query: dict[str, str | int] = {"per_page": 100, **(params or {})}
        url: str | None = self._url(path)
        seen: set[str] = set()
        while url:
            if url in seen:
                msg = f"GET {urlsplit(url).path}: the pagination links loop back to a page already read"
                raise GitHubAPIError(msg)
            if len(seen) >= MAX_PAGES:
                msg = f"GET {urlsplit(url).path}: more than {MAX_PAGES} pages; not reading further"
                raise GitHubAPIError(msg)
            seen.add(url)
            body, links = self._request(
                "GET", url, json=None, params=query if len(seen) == 1 else None, permission=permission
            )
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

    def _give_up(self, message: str) -> GaveUpError:
        self._gave_up = message
        return GaveUpError(message)

    def _wait(self, seconds: float, why: str, *, rate_limited: bool) -> None:
        """Sleep `seconds` out of the budget; give up when they do not fit.

        Given up on a rate limit, the client sends nothing more (GitHub asked it to wait);
        given up on a backoff, a later request that needs no retry may still get through.
        """
        if seconds > self.left:
            message = f"{why}; waiting {seconds:.0f} s more would exceed the {self.budget:.0f} s API budget"
            raise self._give_up(message) if rate_limited else GaveUpError(message)
        if self._cancel is not None and isinstance(self.clock, SystemClock):
            # a signal during the wait ends it at once; the client keeps the time left
            # for the one `final_request` (the check run's `cancelled`)
            if self._cancel.wait(seconds):
                raise GaveUpError(f"{why}; not retried: the run was cancelled during the wait")
        else:
            self.clock.sleep(seconds)
        self.waited += seconds

    def _pace(self) -> None:
        """At most one mutating request per `min_interval` (GitHub's guidance; not counted in the budget)."""
        if self._last_mutation is not None:
            wait = self._last_mutation + self.min_interval - self.clock.monotonic()
            if wait > 0:
                self.clock.sleep(wait)
        self._last_mutation = self.clock.monotonic()

    def _request(
        self,
        method: str,
        url: str,
        *,
        json: Any,
        params: Mapping[str, str | int] | None,
        permission: str,
        paced: bool | None = None,
    ) -> tuple[Any, dict[str, str]]:
        method = method.upper()
        where = f"{method} {urlsplit(url).path}"
        self._may_send(where)
        body = redacted(json)
        attempt = 0
        redirects = 0
        secondary = 0  # secondary rate limits met so far: each waits twice as long as the last
        while True:
            if (method in MUTATING if paced is None else paced) and not self.cancelled:
                self._pace()
            if self.left <= 0:
                raise self._give_up(f"{where}: not sent: the {self.budget:.0f} s API budget is used up")
            outcome = self._send(method, url, where, body=body, params=params, permission=permission)
            if isinstance(outcome, Done):
                return outcome.body, outcome.links
            if isinstance(outcome, Redirect):
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise GitHubAPIError(f"{where}: more than {MAX_REDIRECTS} redirects")
                url, params = outcome.url, None
                continue
            attempt += 1
            if self.cancelled:
                raise GaveUpError(f"{where}: not retried: the run was cancelled ({outcome.reason})")
            if outcome.wait is None:
                wait = min(MAX_BACKOFF, 2.0 ** (attempt - 1))
            elif outcome.wait < 0:
                wait, secondary = SECONDARY_WAIT * 2.0**secondary, secondary + 1
            else:
                wait = outcome.wait
            why = f"{where}: gave up after {attempt} attempt(s) ({outcome.reason})"
            self._wait(wait, why, rate_limited=outcome.rate_limited)

    def _may_send(self, where: str) -> None:
        """A `GaveUpError` when the client stopped, or the run was cancelled (but for a `final_request`)."""
        if self._gave_up is not None:
            raise GaveUpError(f"{where}: not sent (the client stopped: {self._gave_up})", repeated=True)
        if self._cancel is not None and self._cancel.refuses():
            raise GaveUpError(f"{where}: not sent: the run was cancelled", repeated=True)

    def _send(
        self,
        method: str,
        url: str,
        where: str,
        *,
        body: Any,
        params: Mapping[str, str | int] | None,
        permission: str,
    ) -> Done | Retry | Redirect:
        """One HTTP exchange within the deadline: the result, a reason to retry, a redirect, or an error."""
        seconds = max(0.1, min(self.timeout, self.left))
        deadline = Deadline(seconds)
        self.requests += 1
        started = time.monotonic()
        CURRENT.deadline = deadline
        if self._cancel is not None:
            self._cancel.in_flight = deadline
            if self._cancel.is_set():  # set before the deadline was known: cut it short too
                deadline.shorten(CANCEL_IN_FLIGHT)
        try:
            answer = self._exchange(method, url, body, params, deadline)
        except TooLargeError:
            raise GitHubAPIError(f"{where}: answer over {MAX_BODY_BYTES} bytes; not read") from None
        except (requests.RequestException, OSError, ValueError) as exc:
            if deadline.fired or deadline.left() <= 0:
                return Retry(None, f"no complete answer within {seconds:.1f} s")
            return Retry(None, f"connection problem: {type(exc).__name__}")
        finally:
            deadline.cancel()
            CURRENT.deadline = None
            if self._cancel is not None:
                self._cancel.in_flight = None
            self.request_seconds += time.monotonic() - started
        status = answer.status
        if HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES:
            return success(answer, method, where)
        if status in _REDIRECTS:
            return self._redirect(answer, url, where)
        return failure(answer, where, permission, self.clock.time)

    def _exchange(
        self, method: str, url: str, body: Any, params: Mapping[str, str | int] | None, deadline: Deadline
    ) -> Answer:
        seconds = deadline.left()
        response = self._session.request(
            method,
            url,
            json=body,
            params=params,
            timeout=(max(0.1, min(10.0, seconds)), max(0.1, seconds)),
            headers={"Authorization": f"Bearer {self._token.reveal()}"},
            allow_redirects=False,
            stream=True,
        )
        with response:
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > MAX_BODY_BYTES:
                raise TooLargeError
            data = bytearray()
            for chunk in response.iter_content(_CHUNK):
                data += chunk
                if len(data) > MAX_BODY_BYTES:
                    raise TooLargeError
                if deadline.fired:
                    raise TimeoutError
            links = {k: v["url"] for k, v in response.links.items() if "url" in v}
            return Answer(response.status_code, dict(response.headers), bytes(data), links, response.reason)

    def _redirect(self, answer: Answer, url: str, where: str) -> Redirect:
        location = answer.header("location")
        if not location:
            raise GitHubAPIError(f"{where}: HTTP {answer.status} without a Location", status=answer.status)
        target = urljoin(url, location)
        if not self._same_origin(target):
            theirs = urlsplit(target)
            raise GitHubAPIError(
                f"{where}: HTTP {answer.status}: refusing to follow a redirect to {theirs.scheme}://"
                f"{theirs.netloc} (only {self.api_url} gets the token)",
                status=answer.status,
            )
        return Redirect(target)
