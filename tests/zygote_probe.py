"""`python -m zygote_probe [ACTION ARG]`: print the process state a program starts with, as JSON.

tests/test_zygote.py runs it cold and forked from the zygote (tests/zygote.py) and compares.
Then ACTION: `exit N`, `raise`, `interrupt`, `kill`, `random` (a line of random draws), or `after FILE` (an atexit handler and a
non-daemon thread each append a line to FILE after the program's code returned).
"""

from __future__ import annotations

import atexit
import gc
import json
import locale
import os
import random
import resource
import signal
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any


def _descriptor(fd: str) -> str:
    target = str(Path(f"/proc/self/fd/{fd}").readlink())
    return (
        target.split(":", maxsplit=1)[0] if target.startswith(("pipe:", "socket:", "anon_inode:")) else target
    )


def _stream(stream: Any) -> list[object]:
    return [stream.encoding, stream.errors, stream.line_buffering, stream.write_through, stream.isatty()]


def state() -> dict[str, object]:
    """What a cold start decides (or leaves) and a warm one must equal."""
    from qaagent import errors, redact, watchdog  # noqa: PLC0415 - imported now, as a cold process does
    from qaagent.evidence import diagnostics  # noqa: PLC0415

    umask = os.umask(0)
    os.umask(umask)
    main = sys.modules["__main__"]
    return {
        "argv": sys.argv,
        "orig_argv": sys.orig_argv,
        "path": sys.path,
        "cwd": str(Path.cwd()),
        "environ": dict(os.environ),
        "descriptors": {
            fd: _descriptor(fd) for fd in sorted(p.name for p in Path("/proc/self/fd").iterdir()) if fd != "3"
        },
        "signals": {
            s.name: repr(signal.getsignal(s)) for s in signal.valid_signals() if isinstance(s, signal.Signals)
        },
        "blocked": sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "flags": repr(sys.flags),
        "streams": [_stream(sys.stdin), _stream(sys.stdout), _stream(sys.stderr)],
        "encodings": [sys.getfilesystemencoding(), locale.getpreferredencoding(do_setlocale=False)],
        "gc": [gc.isenabled(), gc.get_threshold(), gc.get_freeze_count()],
        "threads": threading.active_count(),
        "group": [os.getpgrp(), os.getsid(0)],
        "umask": umask,
        "limits": {
            name: resource.getrlimit(getattr(resource, name))
            for name in dir(resource)
            if name.startswith("RLIMIT_")
        },
        "main": [main.__name__, main.__file__, sorted(k for k in vars(main) if not k.startswith("__"))],
        "time": [time.tzname, time.timezone],
        "interpreter": [sys.executable, sys.prefix, sys.base_prefix],
        "qaagent": {
            "watchdog": [watchdog._owner, watchdog._pipe, watchdog._proc is None],
            "collection_paused": errors._collection_paused,
            "redactor": [redact._installed is None, len(redact._registered), len(redact._cache)],
            "caches": [redact.is_secret_name.cache_info().currsize, diagnostics._rules.cache_info().currsize],
        },
    }


def main(args: list[str]) -> int:
    sys.stdout.write(json.dumps(state()) + "\n")
    action = args[0] if args else ""
    if action == "exit":
        return int(args[1])
    if action == "raise":
        msg = "the probe's uncaught error"
        raise RuntimeError(msg)
    if action == "interrupt":
        raise KeyboardInterrupt
    if action == "random":
        sys.stdout.write(f"{random.random()} {uuid.uuid4()}\n")
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "after":
        target = Path(args[1])

        def late(what: str) -> None:
            with target.open("a", encoding="utf-8") as file:
                file.write(what + "\n")

        atexit.register(late, "atexit")

        def slow() -> None:
            time.sleep(0.3)
            late("thread")

        threading.Thread(target=slow).start()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
