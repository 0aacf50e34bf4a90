"""The deadline of one GitHub API request: a watchdog that cuts its socket when time is up.

The timeout `requests` takes is per read, not per request: a server trickling one
byte at a time, in the headers or the body, could hold a request for ever. So the
client (`qaagent.github.api.GitHubClient`) mounts `DeadlineAdapter`, whose
connections show their socket to the `Deadline` of the request in flight
(`CURRENT.deadline`, per thread), and the deadline shuts that socket down when it
passes. Proxies and CA settings are requests' own, untouched.

`CancelWatch` does the same for the run's cancel flag: once it is set (a signal while
publishing), the request in flight is cut `CANCEL_IN_FLIGHT` seconds later, and the
client has `CANCEL_SECONDS` in all.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

#: the deadline of the request this thread is making (`deadline`; None between requests)
CURRENT = threading.local()
#: after a cancel: seconds the request in flight may still take, and the client in all
#: (GitHub kills the job 10 s after the signal; the bundle is written already)
CANCEL_IN_FLIGHT = 1.0
CANCEL_SECONDS = 3.0
#: how often the cancel flag is looked at while a request is in flight
_CANCEL_POLL = 0.05


class Deadline:
    """Shuts the request's socket down when its time is up (the watchdog of one request)."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self.fired = False
        self._timer: threading.Timer | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def watch(self, sock: socket.socket) -> None:
        """Cut `sock` at the deadline (called when the request's connection is known)."""
        with self._lock:
            self._sock = sock
            self._arm()

    def shorten(self, seconds: float) -> None:
        """End no later than `seconds` from now (a cancel cuts the request in flight short)."""
        with self._lock:
            self.ends = min(self.ends, time.monotonic() + seconds)
            if self._sock is not None:
                self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(max(0.0, self.ends - time.monotonic()), self._fire, (self._sock,))
        self._timer.daemon = True
        self._timer.start()

    def _fire(self, sock: socket.socket) -> None:
        self.fired = True
        with contextlib.suppress(OSError):  # the plain socket's shutdown wakes a blocked reader, TLS or not
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        """The request is over: stop watching."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()

    def left(self) -> float:
        """Seconds until the deadline (negative when it has passed)."""
        return self.ends - time.monotonic()


class CancelWatch:
    """The run's cancel flag as a client sees it: the request in flight and the time left after it."""

    def __init__(self, cancel: threading.Event) -> None:
        self._cancel = cancel
        self.ends: float | None = None  #: when the client's time is up, once the flag is set
        self.in_flight: Deadline | None = None
        self._final = False  #: a `final_request` may go out after the cancel
        self._closed = threading.Event()
        threading.Thread(target=self._watch, name="github-cancel", daemon=True).start()

    def is_set(self) -> bool:
        """Whether the flag is set (and, if it was just set, the request in flight cut short)."""
        if not self._cancel.is_set():
            return False
        self._cancelled()
        return True

    @contextlib.contextmanager
    def final_request(self) -> Iterator[None]:
        """Inside the block, after a cancel, one more request may go out."""
        self._final = True
        try:
            yield
        finally:
            self._final = False

    def refuses(self) -> bool:
        """Whether a new request must not go out: the flag is set and no `final_request` is left."""
        if not self.is_set():
            return False
        allowed, self._final = self._final, False  # a final request goes out once
        return not allowed

    def left(self) -> float:
        """Seconds left after the cancel (infinite before it)."""
        return float("inf") if self.ends is None else self.ends - time.monotonic()

    def close(self) -> None:
        """The client is closed: stop watching."""
        self._closed.set()

    def _watch(self) -> None:
        while not self._closed.is_set():
            if self._cancel.wait(_CANCEL_POLL):
                self._cancelled()
                return

    def _cancelled(self) -> None:
        if self.ends is None:
            self.ends = time.monotonic() + CANCEL_SECONDS
        in_flight = self.in_flight
        if in_flight is not None:
            in_flight.shorten(CANCEL_IN_FLIGHT)


class _WatchedMixin:
    """A connection that shows its socket to the deadline of the request using it."""

    sock: socket.socket | None

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        """Show the socket to the current request's deadline, then read the response."""
        deadline: Deadline | None = getattr(CURRENT, "deadline", None)
        if deadline is not None and self.sock is not None:
            deadline.watch(self.sock)
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_WatchedMixin, HTTPConnection):
    pass


class _HTTPSConnection(_WatchedMixin, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter with connections a deadline can cut (proxies and CA settings untouched)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Pools whose connections show their socket to the request's deadline."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
