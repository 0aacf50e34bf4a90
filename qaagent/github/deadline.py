"""The deadline of one GitHub API request: a watchdog that cuts its socket when time is up.

The timeout `requests` takes is per read, not per request: a server trickling one
byte at a time, in the headers or the body, could hold a request for ever. So the
client (`qaagent.github.api.GitHubClient`) mounts `DeadlineAdapter`, whose
connections show their socket to the `Deadline` of the request in flight
(`CURRENT.deadline`, per thread), and the deadline shuts that socket down when it
passes. Proxies and CA settings are requests' own, untouched.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

#: the deadline of the request this thread is making (`deadline`; None between requests)
CURRENT = threading.local()


class Deadline:
    """Shuts the request's socket down when its time is up (the watchdog of one request)."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self.fired = False
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def watch(self, sock: socket.socket) -> None:
        """Cut `sock` at the deadline (called when the request's connection is known)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(max(0.0, self.ends - time.monotonic()), self._fire, (sock,))
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
