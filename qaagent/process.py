"""Child processes: own process group, closed stdin, timeout, log file, live echo; the one runner.

Every child qaagent starts goes through `spawn`: suites and their setup steps
(`run_process`), the app (`qaagent.app`), the tools asked for their test files
(`capture`) and the action's `setup` command (`run_process` with the `SETUP`
policy). Each gets the environment `child_environment` filters: never the
GitHub token qaagent was given.

This is where a suite's timeout is enforced. `subprocess.run(timeout=…)`
kills only the direct child, leaving grandchildren (browsers, dev servers)
alive and holding the output pipe; so every child here starts in a new
session, and stopping it means SIGTERM to the whole group, a grace period,
then SIGKILL to the group. Output is drained by a reader thread (`qaagent.output`: no pipe can
fill up and block), redacted as it arrives (`qaagent.redact_stream.StreamRedactor`:
a run killed at any moment leaves no raw secret in a log), written to a log
file and echoed line by line. A log that cannot be written (a full disk, a
file-size limit) stops being written, not read: the child never blocks on its
pipe, and the outcome says what could not be written.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from qaagent import files, redact, watchdog
from qaagent.cancel import Cancel
from qaagent.exit_wait import ExitWaiter
from qaagent.history.dsn import PASSWORD_VARIABLE
from qaagent.output import DRAIN, MAX_ECHO_LINES, Echo, OutputReader

if TYPE_CHECKING:
    from qaagent.console import Console

#: seconds between SIGTERM and SIGKILL when a suite times out
TERM_GRACE = 5.0
#: seconds between SIGTERM and SIGKILL when the run is cancelled (GitHub kills the job 10 s after SIGINT)
CANCEL_GRACE = 1.0
#: how often a wait looks at the deadline and the cancel flag (the child's exit wakes it at once)
POLL = 0.05
#: seconds the output pipe is still drained after the group is gone when the run is cancelled
#: (`qaagent.output.DRAIN` otherwise; GitHub kills the job 10 s after the first signal)
CANCEL_DRAIN = 0.3

#: variables that carry the GitHub token (or the history store's password) to qaagent; no child
#: ever sees them
TOKEN_VARIABLES = frozenset(
    {"QAAGENT_GITHUB_TOKEN", "INPUT_GITHUB-TOKEN", "INPUT_GITHUB_TOKEN", PASSWORD_VARIABLE}
)
#: the runner's credentials that a Docker action receives and a plain `run:` step does not
#: (artifact and cache service, OIDC token requests): test code in the Docker variant must
#: have no more power than in `run: pytest`
RUNNER_CREDENTIALS = frozenset(
    {
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_RUNTIME_URL",
        "ACTIONS_CACHE_URL",
        "ACTIONS_RESULTS_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
    }
)
_WITHHELD = TOKEN_VARIABLES | RUNNER_CREDENTIALS


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment every child starts from (suites, the app, setup, listing tools).

    The one filter: `environ` without the token qaagent was given, in any of its
    variables, without the history store's password, and without the runner's
    action-only credentials.
    """
    return {key: value for key, value in environ.items() if key not in _WITHHELD}


@dataclass(frozen=True)
class Policy:
    """How `run_process` supervises one kind of child."""

    #: seconds between SIGTERM and SIGKILL when the child times out
    term_grace: float = TERM_GRACE
    #: seconds between the stop signal and SIGKILL when the run is cancelled
    cancel_grace: float = CANCEL_GRACE
    #: seconds the output is still read after the child is gone (cancelled: `cancel_drain`)
    drain: float = DRAIN
    cancel_drain: float = CANCEL_DRAIN
    #: SIGKILL whatever is left in the child's process group once it has exited
    kill_leftovers: bool = True
    #: lines echoed before the echo stops (None: all)
    max_echo_lines: int | None = MAX_ECHO_LINES
    #: on cancel, send the signal that cancelled the run (else SIGTERM)
    forward_signal: bool = False


#: a suite attempt, a runner's setup step
SUITE = Policy()
#: the action's `setup` command: what it leaves running (a service for the tests) keeps running and
#: its output keeps being read (not echoed) after the 10 s grace; a cancel is forwarded as it came
SETUP = Policy(
    cancel_grace=10.0,
    drain=10.0,
    cancel_drain=10.0,
    kill_leftovers=False,
    max_echo_lines=None,
    forward_signal=True,
)


def spawn(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stderr: int = subprocess.STDOUT,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start a child in a session of its own with stdin closed and stdout piped (the one spawn site).

    `stderr` is merged into stdout unless `subprocess.PIPE` is asked for; `pass_fds` are
    the only other descriptors the child inherits (qaagent's own workers'). OSErrors
    (not found, not executable) are the caller's to report. The environment passes
    the one filter (`child_environment`) whatever the caller built, and the child's
    process group is watched (`qaagent.watchdog`) until the caller `release`s it.
    """
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=child_environment(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        start_new_session=True,
        pass_fds=tuple(pass_fds),
    )
    watchdog.watch(proc.pid)
    return proc


def release(proc: subprocess.Popen[bytes]) -> None:
    """The child's process group is stopped, or left running on purpose: the watchdog forgets it."""
    watchdog.release(proc.pid)


def capture(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float
) -> tuple[int, str, str]:
    """Run `argv` to completion; (returncode, stdout, stderr), or an OSError / TimeoutError.

    For tools qaagent asks a question (which test files would you run?). The whole
    process group is stopped on a timeout, and when a signal interrupts the wait.
    """
    proc = spawn(argv, cwd=cwd, env=env, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc, 1.0)  # the whole group, not just the child
        proc.communicate()
        msg = f"no answer within {timeout:g} s"
        raise TimeoutError(msg) from None
    except BaseException:  # a cancel signal while we wait: the tool and its children go too
        stop_group(proc, 1.0)
        raise
    finally:
        release(proc)
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class ProcessOutcome:
    """How one child process ended."""

    returncode: int | None  #: None when it could not start; negative: killed by that signal
    timed_out: bool
    cancelled: bool
    started_at: float
    duration: float
    tail: str  #: the last lines of its output
    start_error: str | None = None  #: why it could not start
    output_bytes: int = 0
    #: why its log could not be written (whole), e.g. "No space left on device after 5242880 bytes"
    log_error: str | None = None


def kill_group(pgid: int, sig: int) -> bool:
    """Send `sig` to a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still exists."""
    return kill_group(pgid, 0)


def stop_group(proc: subprocess.Popen[bytes], grace: float, sig: int = signal.SIGTERM) -> None:
    """Send `sig` (SIGTERM) to the child's group, wait up to `grace` seconds, then SIGKILL the group."""
    pgid = proc.pid
    kill_group(pgid, sig)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc.poll() is not None and not group_alive(pgid):
            break
        time.sleep(POLL)
    kill_group(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float | None,
    log_path: Path | None,
    console: Console | None,
    prefix: str,
    cancel: threading.Event,
    echo: Echo | None = None,
    policy: Policy = SUITE,
) -> ProcessOutcome:
    """Run one command to completion, timeout or cancellation; never raises for the child's sake.

    Its output goes to `log_path` (if any) and, line by line, to `echo` (default: the
    console with a `[prefix]`). `timeout` None: no limit. `policy` says how it is stopped.
    """
    with contextlib.ExitStack() as stack:
        log_file, header_error = None, None
        if log_path is not None:
            # Opened once, before the child exists: the suite cannot swap a link or a FIFO in
            # before qaagent opens it, and qaagent's own lines after a timeout go to the same file.
            log_file, header_error = _open_log(log_path)
            if log_file is not None:
                stack.enter_context(log_file)
                header = redact.redact(f"$ {' '.join(argv)}\n# cwd: {cwd}\n")
                header_error = _append(log_file, header.encode(errors="replace"))
        return _run_logged(
            argv,
            cwd=cwd,
            env=env,
            timeout=timeout,
            log_file=log_file,
            header_error=header_error,
            console=console,
            prefix=prefix,
            cancel=cancel,
            echo=echo,
            policy=policy,
        )


def _run_logged(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float | None,
    log_file: IO[bytes] | None,
    header_error: str | None,
    console: Console | None,
    prefix: str,
    cancel: threading.Event,
    echo: Echo | None,
    policy: Policy,
) -> ProcessOutcome:
    if echo is None and console is not None:
        echo = functools.partial(console.suite_line, prefix)
    started_at = time.time()
    start = time.monotonic()
    try:
        proc = spawn(argv, cwd=cwd, env=env)
    except FileNotFoundError:
        reason = f"command not found: {argv[0]} (is it installed and on PATH?)"
        return _not_started(reason, started_at, log_file, header_error)
    except PermissionError:
        reason = f"command is not executable: {argv[0]}"
        return _not_started(reason, started_at, log_file, header_error)
    except OSError as exc:
        reason = f"cannot start {argv[0]}: {exc.strerror or exc}"
        return _not_started(reason, started_at, log_file, header_error)

    reader = OutputReader(
        proc.stdout, None, echo, name=prefix, max_echo_lines=policy.max_echo_lines, log_file=log_file
    )
    deadline = start + timeout if timeout is not None else None
    exited = ExitWaiter(proc, reader)
    try:
        timed_out, cancelled = _supervise(proc, exited.wait, cancel, deadline, policy)
    finally:
        exited.close()
    if timed_out and console is not None:
        console.line(f"[{prefix}] timed out after {timeout:g} s: stopping its process group")
    if timed_out:
        stop_group(proc, policy.term_grace)
    if policy.kill_leftovers:
        # The child is gone; whatever it left in its group (daemons, browsers) goes too.
        kill_group(proc.pid, signal.SIGKILL)
    release(proc)
    reader.finish(policy.cancel_drain if cancelled else policy.drain, keep_draining=not policy.kill_leftovers)
    duration = time.monotonic() - start
    if (timed_out or cancelled) and log_file is not None and reader.log_error is None:
        why = f"timed out after {timeout:g} s" if timed_out else "cancelled"
        _append(log_file, f"\n[qaagent: {why}; process group stopped]\n".encode())
    return ProcessOutcome(
        returncode=proc.returncode,
        timed_out=timed_out,
        cancelled=cancelled,
        started_at=started_at,
        duration=duration,
        tail="\n".join(reader.tail),
        output_bytes=reader.total,
        log_error=header_error or reader.log_error,
    )


def _open_log(path: Path) -> tuple[IO[bytes] | None, str | None]:
    """The suite's log opened to append (files.open_append: never a link, FIFO or device)."""
    try:
        try:
            return files.open_append(path), None
        except FileNotFoundError:  # its folder first (the caller made it, as a rule)
            path.parent.mkdir(parents=True, exist_ok=True)
            return files.open_append(path), None
    except OSError as exc:
        return None, f"cannot open the log: {exc.strerror or exc}"


def _append(log: IO[bytes], data: bytes) -> str | None:
    """Append qaagent's own lines to a log; why it failed, or None (a full disk is no crash)."""
    try:
        log.write(data)
    except OSError as exc:
        return f"{exc.strerror or exc} (writing qaagent's own lines)"
    return None


def _supervise(
    proc: subprocess.Popen[bytes],
    exited: Callable[[float], bool],
    cancel: threading.Event,
    deadline: float | None,
    policy: Policy,
) -> tuple[bool, bool]:
    """Wait for the child; stop it on a cancel. (timed out, cancelled): the caller stops a timeout.

    Wakes when the child exits, else every `POLL` seconds to look at the cancel flag and the deadline.
    """
    while True:
        wait = POLL if deadline is None else min(POLL, max(0.0, deadline - time.monotonic()))
        if exited(wait):
            return False, False
        if cancel.is_set():
            sig = cancel.signum if policy.forward_signal and isinstance(cancel, Cancel) else signal.SIGTERM
            stop_group(proc, policy.cancel_grace, sig)
            return False, True
        if deadline is not None and time.monotonic() >= deadline:
            return True, False


def _not_started(
    reason: str, started_at: float, log: IO[bytes] | None, header_error: str | None
) -> ProcessOutcome:
    error = _append(log, f"[qaagent: {reason}]\n".encode()) if log is not None else None
    error = header_error or error
    return ProcessOutcome(
        returncode=None,
        timed_out=False,
        cancelled=False,
        started_at=started_at,
        duration=0.0,
        tail=reason,
        start_error=reason,
        log_error=error,
    )
