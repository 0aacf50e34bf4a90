"""The system under test: started once before the suites, polled until healthy, always stopped.

The app runs in its own process group like a suite, so stopping it takes its
children (workers, reloaders) with it. Its output goes to `app.log` in the
evidence bundle and, prefixed `[app]`, to the console.
"""

from __future__ import annotations

import functools
import signal
import subprocess
import threading
import time
from pathlib import Path

from qaagent.console import Console
from qaagent.output import DRAIN, OutputReader
from qaagent.process import CANCEL_DRAIN, CANCEL_GRACE, kill_group, release, spawn, stop_group
from qaagent.profile import AppSettings

#: seconds between SIGTERM and SIGKILL when the app is stopped
APP_GRACE = 3.0


class AppError(Exception):
    """The app could not be started or never became healthy."""

    def __init__(self, message: str, tail: str = "") -> None:
        super().__init__(message)
        self.tail = tail


class AppServer:
    """One app process: `start()` blocks until healthy or raises `AppError`; `stop()` always works."""

    def __init__(
        self, settings: AppSettings, *, cwd: Path, env: dict[str, str], log_path: Path, console: Console
    ) -> None:
        self.settings = settings
        self.cwd = cwd
        self.env = env
        self.log_path = log_path
        self.console = console
        self.proc: subprocess.Popen[bytes] | None = None
        self._reader: OutputReader | None = None
        self._stopping = threading.Lock()

    @property
    def health_url(self) -> str:
        """The URL polled for readiness."""
        endpoint = self.settings.health_endpoint
        return self.settings.base_url + (endpoint if endpoint.startswith("/") else "/" + endpoint)

    def start(self, cancel: threading.Event) -> None:
        """Start the app and wait for its health endpoint to answer 2xx."""
        argv = list(self.settings.start_command or ())
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        busy, _ = _probe(self.health_url)
        if busy:
            # Testing a server left over from another run (or another project) would give
            # results about the wrong code.
            msg = (
                f"something already answers at {self.health_url} before the app was started: "
                "stop it or change app.base_url"
            )
            raise AppError(msg)
        try:
            self.proc = spawn(argv, cwd=self.cwd, env=self.env)
        except OSError as exc:
            msg = f"app start command failed: {argv[0]}: {exc.strerror or exc}"
            raise AppError(msg) from None
        echo = functools.partial(self.console.suite_line, "app")
        self._reader = OutputReader(self.proc.stdout, self.log_path, echo, name="app")
        self._reader.start()
        deadline = time.monotonic() + self.settings.startup_timeout
        last = "no answer yet"
        while True:
            code = self.proc.poll()
            if code is not None:
                time.sleep(0.1)
                msg = f"app exited with code {code} before it became healthy ({self.health_url})"
                raise AppError(msg, self.tail())
            if cancel.is_set():
                msg = "cancelled while waiting for the app"
                raise AppError(msg, self.tail())
            ok, last = _probe(self.health_url)
            if ok:
                self.console.line(f"[app] healthy at {self.health_url}")
                return
            if time.monotonic() >= deadline:
                msg = (
                    f"app did not become healthy at {self.health_url} within "
                    f"{self.settings.startup_timeout:g} s (last: {last})"
                )
                raise AppError(msg, self.tail())
            time.sleep(0.2)

    def tail(self) -> str:
        """The last lines the app printed."""
        return "\n".join(self._reader.tail) if self._reader else ""

    def stop(self, *, hurry: bool = False) -> None:
        """Stop the app's whole process group (idempotent, one caller at a time); `hurry` on cancel."""
        with self._stopping:
            if self.proc is None:
                return
            if self.proc.poll() is None:
                stop_group(self.proc, CANCEL_GRACE if hurry else APP_GRACE)
            kill_group(self.proc.pid, signal.SIGKILL)
            release(self.proc)
            if self._reader is not None:
                self._reader.finish(CANCEL_DRAIN if hurry else DRAIN)


def _probe(url: str) -> tuple[bool, str]:
    # urllib.request brings http.client, ssl and email (about 40 ms): only a run with an app pays it
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415
    from http import HTTPStatus  # noqa: PLC0415

    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - http(s) checked by the profile
            status = int(response.status)
            return HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES, f"HTTP {status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, str(reason)


def app_env(base: dict[str, str], settings: AppSettings) -> dict[str, str]:
    """The app's environment: ours plus its own `env`."""
    env = dict(base)
    env.update(settings.env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


__all__ = ["AppError", "AppServer", "app_env"]
