"""The tests' warm start: qaagent processes forked from an interpreter that has imported qaagent.

Most of a test's qaagent process is its start (importing pydantic, the profile models, the
pipeline: ~0.35-0.5 s of CPU of a ~0.6 s `run-all`), paid again by each of the suite's
~450 processes. A *zygote* (one per test process, started on first use) imports every module of
qaagent once, runs nothing, and waits on a Unix socket. `launch` sends it argv, cwd, the
environment and the three standard descriptors; it forks, and the child becomes what
`python -m qaagent ARGS` (or `python entrypoint.py`) would be: `os.environ` replaced, cwd,
descriptors 0-2, `sys.argv`/`sys.orig_argv`/`sys.path[0]` set, every other descriptor closed,
the zygote's own signal handling undone, then `runpy` runs the program and the interpreter ends
as a cold one does (atexit handlers, non-daemon threads, stream flushes, its exit status).
The test gets a `WarmProcess`: the real pid (to signal), real pipes, the real exit status
(reported by the zygote, which reaps its children).

Cold starts remain where a warm one would not be equal (`cold_reason`): a test marked
`cold_start` (the start itself is its subject), `QAAGENT_TEST_COLD=1` (every test), an
environment whose interpreter-start variables (`PYTHON*`, the locale, the user site) differ
from the zygote's, or a zygote that cannot be reached (`FAILED`, reported at the session's end
and failing it when `CI=true`). docs/decisions.md, "The tests' qaagent processes start warm".
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import json
import locale
import os
import pkgutil
import runpy
import select
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

ROOT = Path(__file__).resolve().parent.parent
#: the largest request (argv, cwd, environment as JSON) a test sends
_MAX_REQUEST = 1 << 20
#: seconds a new zygote has to import qaagent and say it is ready
_READY_TIMEOUT = 60.0

# -- the zygote (runs as `python tests/zygote.py SOCKET DEATH_FD`) -----------------------------------


def _import_everything() -> None:
    """Import every module of qaagent (none of them does anything at import but define).

    From this checkout, as the cold starts the tests make do (`PYTHONPATH` is the checkout for
    `-m qaagent`, and entrypoint.py's folder is its `sys.path[0]`), whatever the venv holds.
    """
    sys.path[0] = str(ROOT)
    import qaagent  # noqa: PLC0415 - the zygote's whole point

    if Path(qaagent.__file__ or "").resolve().parent != ROOT / "qaagent":
        msg = f"the zygote imported qaagent from {qaagent.__file__}, not from {ROOT}"
        raise ImportError(msg)

    for module in pkgutil.walk_packages(qaagent.__path__, "qaagent."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)


def _serve(path: str, death: int) -> dict[str, Any] | None:
    """Fork a child per request until the parent's pipe `death` ends; in a child, its request."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake select(): children reaped below
    owners: dict[int, socket.socket] = {}  # a child's pid -> the connection its status goes back on
    os.write(1, (json.dumps(dict(os.environ)) + "\n").encode())
    with Path(os.devnull).open("wb") as devnull:
        os.dup2(devnull.fileno(), 1)  # the handshake pipe closed; sys.stdout itself is untouched
    while True:
        ready = select.select([listener.fileno(), death, wake_read], [], [])[0]
        if death in ready:
            listener.close()
            Path(path).unlink()
            return None
        if wake_read in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 512)
        _report_ended(owners)
        if listener.fileno() in ready:
            conn, _ = listener.accept()
            conn.settimeout(10)  # a client that connected and sent nothing must not stop the zygote
            try:
                data, fds, _, _ = socket.recv_fds(conn, _MAX_REQUEST, 3)
            except OSError:
                conn.close()
                continue
            if len(fds) != 3:  # stdin, stdout, stderr
                for fd in fds:
                    os.close(fd)
                conn.close()
                continue
            if threading.active_count() != 1:  # never fork a process with threads
                with contextlib.suppress(OSError):
                    conn.send(b"refused threads")
                conn.close()
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                request: dict[str, Any] = json.loads(data)
                _become_child(fds, [listener, conn, *owners.values()])
                return request
            for fd in fds:
                os.close(fd)
            with contextlib.suppress(OSError):  # a client gone: its child still runs and is reaped
                conn.send(f"pid {pid}".encode())
            owners[pid] = conn


def _report_ended(owners: dict[int, socket.socket]) -> None:
    """Reap every ended child; send each its raw wait status on its connection."""
    while owners:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = owners.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(f"exit {status}".encode())
            conn.close()


def _become_child(fds: Sequence[int], sockets: Sequence[socket.socket]) -> None:
    """Undo the zygote in a forked child: its signal handling, sockets and descriptors (the
    pipes it watches are raw descriptors, closed with the rest)."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for sock in sockets:
        sock.detach()  # the objects must not close a reused descriptor number later
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))


def _become(request: Mapping[str, Any]) -> None:
    """The state a cold `python -m MODULE ARGS` / `python SCRIPT ARGS` has when its code starts."""
    program, args = request["program"], request["args"]
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()  # `time` read TZ when the zygote imported it
    sys.orig_argv = [sys.executable, *program, *args]
    if program[0] == "-m":
        sys.argv = ["-m", *args]  # as the interpreter leaves it; runpy puts the module's file first
        sys.path[0] = str(Path.cwd())
    else:
        sys.argv = [program[0], *args]
        sys.path[0] = str(Path(program[0]).resolve().parent)
    main = types.ModuleType("__main__")  # a fresh __main__, not the zygote's
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main


def _run(program: Sequence[str]) -> None:
    """Run the program as the interpreter's `-m` or script start does (in the fresh `__main__`)."""
    if program[0] == "-m":
        runpy._run_module_as_main(program[1])  # type: ignore[attr-defined] # what `-m` runs
        return
    main = sys.modules["__main__"]
    main.__file__ = program[0]
    main.__dict__["__cached__"] = None
    source = Path(program[0]).read_bytes()
    exec(compile(source, program[0], "exec"), main.__dict__)  # noqa: S102 - the script, as `python SCRIPT`


def _zygote_main(argv: Sequence[str]) -> None:
    path, death = argv[1], int(argv[2])
    _import_everything()
    request = _serve(path, death)
    if request is None:
        return
    _become(request)
    _run(request["program"])


# -- the tests' side ------------------------------------------------------------------------------

#: requests that went cold because the zygote could not be used (never silent: conftest reports them)
FAILED: list[str] = []
#: requests that went cold by rule (a marked test, the switch, an environment a fork cannot match)
COLD_BY_RULE: dict[str, int] = {}
#: requests a zygote served
WARM = [0]
#: `QAAGENT_TEST_COLD=1`: every test starts its qaagent processes cold
ALL_COLD = os.environ.get("QAAGENT_TEST_COLD") == "1"
#: set by conftest for a test marked `cold_start`
cold_test = [False]


def _user_site(env: Mapping[str, str]) -> str | None:
    """The user site-packages folder the interpreter would add for `env`, if it exists."""
    base = Path(env.get("PYTHONUSERBASE") or Path(env.get("HOME", "~")) / ".local")
    site = base / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    return str(site) if site.is_dir() else None


def _start_environment(env: Mapping[str, str]) -> dict[str, str]:
    """What of `env` the interpreter reads when it starts: the flags and paths (`PYTHON*`), the
    locale (the streams' encoding, C-locale coercion) and where the user site is (`TZ` is read
    again by `time.tzset` in the child)."""
    keys = [k for k in env if k.startswith(("PYTHON", "LC_")) or k in ("LANG", "LANGUAGE")]
    if _user_site(env) is not None:
        keys += [k for k in ("HOME", "PYTHONUSERBASE") if k in env]
    return {k: env[k] for k in sorted(keys)}


#: zygotes started at most per test process (one per interpreter-start environment: the qaagent
#: helpers' and the action's, which has no PYTHONPATH)
MAX_ZYGOTES = 2


class Zygote:
    """One zygote process of this test process, and how to reach it."""

    def __init__(self, start: Mapping[str, str]) -> None:
        """Start one with exactly the environment `start` (no test's own variables, no secret)."""
        self.folder = tempfile.mkdtemp(prefix="qaagent-zygote-")
        self.path = str(Path(self.folder) / "socket")
        death_read, self._death = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, self.path, str(death_read)],
            env=dict(start),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            pass_fds=(death_read,),
        )
        os.close(death_read)
        assert self.proc.stdout is not None
        line = b""
        deadline = time.monotonic() + _READY_TIMEOUT
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], deadline - time.monotonic())
            chunk = os.read(self.proc.stdout.fileno(), 1 << 16) if ready else b""
            if not chunk:
                break
            line += chunk
        self.proc.stdout.close()
        if not line.endswith(b"\n"):
            self.close()
            msg = "the zygote did not start"
            raise OSError(msg)
        own: dict[str, str] = json.loads(line)
        #: what the zygote's interpreter added to its environment at start (C-locale coercion):
        #: a cold one started with the same start environment adds the same
        self.added = {k: v for k, v in own.items() if start.get(k) != v}

    def close(self) -> None:
        """End the zygote (its pipe closes) and wait for it; its children are left as they are."""
        with contextlib.suppress(OSError):
            os.close(self._death)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            Path(self.path).unlink()
        with contextlib.suppress(OSError):
            Path(self.folder).rmdir()


#: this test process's zygotes, by their start environment
_zygotes: dict[str, Zygote] = {}


def _zygote_for(start: Mapping[str, str]) -> Zygote | None:
    """The zygote for this start environment (started on first use); None: too many kinds already."""
    key = json.dumps(start, sort_keys=True)
    found = _zygotes.get(key)
    if found is not None and found.proc.poll() is not None:
        FAILED.append(f"a zygote ended (status {found.proc.returncode}); a new one was started")
        del _zygotes[key]
        found.close()
        found = None
    if found is None:
        if len(_zygotes) >= MAX_ZYGOTES:
            return None
        found = _zygotes[key] = Zygote(start)
    return found


def shutdown() -> None:
    """End this test process's zygotes (the session's end)."""
    while _zygotes:
        _zygotes.popitem()[1].close()


def cold_reason(cwd: Path | str) -> str | None:
    """Why this request must start cold whatever its environment, or None."""
    if ALL_COLD:
        return "QAAGENT_TEST_COLD=1"
    if not Path(cwd).is_dir():
        return "no such working directory (subprocess says so)"
    if cold_test[0]:
        return "a cold_start test"
    return None


def _count_cold(reason: str) -> None:
    COLD_BY_RULE[reason] = COLD_BY_RULE.get(reason, 0) + 1


class WarmProcess:
    """A process forked by the zygote, offering what the tests use of `subprocess.Popen[str]`."""

    def __init__(
        self, args: list[str], pid: int, control: socket.socket, stdout: int | None, stderr: int | None
    ) -> None:
        self.args = args
        self.pid = pid
        self.returncode: int | None = None
        self._control = control
        self._encoding = locale.getpreferredencoding(do_setlocale=False)
        self.stdin: IO[str] | None = None
        self.stdout: IO[str] | None = None if stdout is None else os.fdopen(stdout, encoding=self._encoding)
        self.stderr: IO[str] | None = None if stderr is None else os.fdopen(stderr, encoding=self._encoding)
        self._chunks: dict[int, list[bytes]] = {}

    def _status(self, timeout: float | None) -> int | None:
        if self.returncode is not None:
            return self.returncode
        ready, _, _ = select.select([self._control], [], [], timeout)
        if not ready:
            return None
        message = self._control.recv(64).decode()
        self._control.close()
        if not message.startswith("exit "):
            msg = f"the zygote ended before process {self.pid} did: its status is lost"
            raise RuntimeError(msg)
        self.returncode = os.waitstatus_to_exitcode(int(message.split()[1]))
        return self.returncode

    def poll(self) -> int | None:
        return self._status(0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._status(timeout)
        if code is None:
            assert timeout is not None
            raise subprocess.TimeoutExpired(self.args, timeout)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[Any, Any]:
        """The rest of stdout and stderr, then the exit (`Popen.communicate`'s decoding; typed as
        typeshed types Popen's: a text, or None for a stream that is not a pipe)."""
        streams = [s for s in (self.stdout, self.stderr) if s is not None and not s.closed]
        deadline = None if timeout is None else time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            for stream in streams:
                selector.register(stream.fileno(), selectors.EVENT_READ)
                self._chunks.setdefault(stream.fileno(), [])
            while selector.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout or 0)
                for key, _ in selector.select(left):
                    chunk = os.read(key.fd, 1 << 16)
                    if chunk:
                        self._chunks[key.fd].append(chunk)
                    else:
                        selector.unregister(key.fd)
        texts: list[str | None] = []
        for pipe in (self.stdout, self.stderr):
            if pipe is None:
                texts.append(None)
                continue
            if pipe.closed:
                texts.append("")
                continue
            data = b"".join(self._chunks.pop(pipe.fileno(), []))
            pipe.close()
            texts.append(data.decode(self._encoding).replace("\r\n", "\n").replace("\r", "\n"))
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            self.wait(left)
        except subprocess.TimeoutExpired:
            raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
        return texts[0], texts[1]

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        if self.returncode is None:
            self.wait()


#: what `conftest.start_qaagent` and the action's `start` return: a warm process or a cold one
Process = subprocess.Popen[str] | WarmProcess


def launch(
    program: tuple[str] | tuple[str, str],
    args: Sequence[str],
    *,
    cwd: Path | str,
    env: Mapping[str, str],
    stdin_devnull: bool = False,
    stderr_to_stdout: bool = False,
) -> WarmProcess | None:
    """Fork `python PROGRAM ARGS` (PROGRAM: `-m MODULE` or a script's path) from the zygote
    of its interpreter-start environment, stdout and stderr on pipes; None when it
    must start cold (counted)."""
    if not (len(program) == 2 and program[0] == "-m") and not (
        len(program) == 1 and Path(program[0]).is_file()
    ):
        msg = f"the zygote forks -m MODULE or a script (a path), not {list(program)}"
        raise ValueError(msg)
    reason = cold_reason(cwd)
    if reason is not None:
        _count_cold(reason)
        return None
    argv = [sys.executable, *program, *args]
    try:
        zygote = _zygote_for(_start_environment(env))
    except OSError as exc:
        FAILED.append(f"no zygote: {exc}")
        return None
    if zygote is None:
        _count_cold(f"more than {MAX_ZYGOTES} interpreter-start environments")
        return None
    request = {
        "program": list(program),
        "args": list(args),
        "cwd": str(Path(cwd).absolute()),
        "env": {**zygote.added, **env},
    }
    out_read, out_write = os.pipe()
    err_read, err_write = (out_read, out_write) if stderr_to_stdout else os.pipe()
    try:
        stdin = os.open(os.devnull, os.O_RDONLY) if stdin_devnull else os.dup(0)  # 0: what a child inherits
    except OSError:
        stdin = os.open(os.devnull, os.O_RDONLY)
    control = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        control.connect(zygote.path)
        socket.send_fds(control, [json.dumps(request).encode()], [stdin, out_write, err_write])
        answer = control.recv(64).decode()
    except OSError as exc:
        answer = f"unreachable: {exc}"
    finally:
        for fd in {stdin, out_write, err_write}:
            os.close(fd)
    if not answer.startswith("pid "):
        control.close()
        for fd in {out_read, err_read}:
            os.close(fd)
        FAILED.append(f"the zygote did not start {argv[1:3]}: {answer or 'no answer'}")
        return None
    WARM[0] += 1
    return WarmProcess(
        argv, int(answer.split()[1]), control, out_read, None if stderr_to_stdout else err_read
    )


def run(
    program: tuple[str] | tuple[str, str],
    args: Sequence[str],
    *,
    cwd: Path | str,
    env: Mapping[str, str],
    timeout: float,
    stdin_devnull: bool = False,
) -> subprocess.CompletedProcess[str] | None:
    """`subprocess.run(..., capture_output=True, text=True, timeout=...)` of a warm process; None: start it cold."""
    proc = launch(program, args, cwd=cwd, env=env, stdin_devnull=stdin_devnull)
    if proc is None:
        return None
    with proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:  # as subprocess.run: kill, collect the rest, raise
            proc.kill()
            exc.stdout, exc.stderr = proc.communicate()
            raise
    assert proc.returncode is not None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


if __name__ == "__main__":
    _zygote_main(sys.argv)
