"""A suite's result files read by two processes when there is enough of them: the second core's share.

A run's reading of its result files is Python code (expat's callbacks build each case), so
one process reads them on one core. When a suite leaves several files and enough bytes
(`MIN_BYTES`), `read_into` starts one worker process (`python -I -c …`, `main`,
spawned through `qaagent.process.spawn`, never forked) for the last files while this process
reads the first ones. The worker reads its files through the same door and readers
(`qaagent.formats.read.iter_result_files`: each case parsed and built once, there) into a
`CaseStore` that spills to a temporary file this process opened and handed down; this
process `adopt`s those chunks after its own cases, so the store holds the cases in file
order, as if one process had read them all, and the reports' pass reads them back as it
reads any spilled store. The problems (one line per bad file) and the files not read
completely come back in the same order.

A worker that cannot start, fails, hangs past its time (`_wait_budget`) or answers
nonsense changes nothing: its files are then read here (`tests/test_parallel_read.py` kills
one, stops one). Nothing it reads is trusted more than a file is: its answer is numbers,
lines and paths, checked before use (types; chunk offsets increasing and inside its file).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from qaagent.formats.read import iter_result_files
from qaagent.results import CaseStore

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from qaagent.results import TestCase

#: bytes of result files below which one process reads them all (a worker's start costs about
#: 0.1 s of CPU: `docs/decisions.md`, "The second core reads part of the result files")
MIN_BYTES = 16 * 1024 * 1024
#: bytes this process reads while the worker starts (its share is the rest's half, less this)
_HEAD_START = 2 * 1024 * 1024
#: what the worker's interpreter runs (`python -I -c`): the parent's import path, then `main`
_BOOT = "import json, sys; sys.path[:] = json.loads(sys.argv[2]); from qaagent.formats import parallel"
_BOOT += "; parallel.main()"
#: the longest the worker is waited for: this floor plus its bytes at this slow a rate (B/s; it
#: reads ~54 MB/s here): a worker stopped or stuck is killed then, and its files are read here
_WAIT_FLOOR = 30.0
_SLOWEST_READ = 1024 * 1024
#: the environment variable that turns the worker off (`0`: one process reads everything) or on
#: whatever the size (`1`: for tests of the whole process on small inputs)
SWITCH = "QAAGENT_PARALLEL_READ"


def split_at(sizes: Sequence[int]) -> int:
    """Where the worker's files start (`len(sizes)`: no worker), from the files' sizes in bytes."""
    total, switch = sum(sizes), os.environ.get(SWITCH)
    if len(sizes) < 2 or switch == "0" or (total < MIN_BYTES and switch != "1"):  # noqa: PLR2004 - two files
        return len(sizes)
    if switch == "1":
        return len(sizes) // 2
    target = (total - _HEAD_START) / 2
    best, tail = len(sizes), 0
    for at in range(len(sizes) - 1, 0, -1):
        tail += sizes[at]
        if abs(tail - target) < abs(sum(sizes[best:]) - target):
            best = at
    return best


def read_into(
    store: CaseStore,
    paths: Sequence[Path],
    *,
    format: str | None,  # noqa: A002 - the profile's key
    suite: str,
    base_dir: Path,
    repo_root: Path,
    problems: list[str],
    zero_based_lines: bool | None,
    unread: list[Path],
    origins: Mapping[Path, Path],
    adjust: Callable[[TestCase], TestCase] | None = None,
) -> None:
    """`iter_result_files` of `paths` appended to `store`, the last files read by a worker when worth it.

    `adjust` is the runner's change of each case read (`Runner.finish_case`, which may look at
    the attempt's files): with one, this process reads every file.
    """
    request = {
        "format": format,
        "suite": suite,
        "base_dir": os.fsdecode(base_dir),
        "repo_root": os.fsdecode(repo_root),
        "zero_based_lines": zero_based_lines,
    }

    def here(part: Sequence[Path]) -> None:
        cases = iter_result_files(
            part,
            format=format,
            suite=suite,
            base_dir=base_dir,
            repo_root=repo_root,
            problems=problems,
            zero_based_lines=zero_based_lines,
            unread=unread,
            origins=origins,
        )
        store.extend(cases if adjust is None else map(adjust, cases))

    at = len(paths) if adjust is not None else split_at([_size(p) for p in paths])
    if at >= len(paths):
        here(paths)
        return
    theirs = paths[at:]
    worker = _Worker.start(
        {
            **request,
            "paths": [os.fsdecode(p) for p in theirs],
            "origins": [[os.fsdecode(p), os.fsdecode(origins[p])] for p in theirs if p in origins],
        },
        repo_root,
    )
    try:
        here(paths[:at])
    except BaseException:
        if worker is not None:
            worker.abandon()
        raise
    answer = worker.finish(_WAIT_FLOOR + sum(map(_size, theirs)) / _SLOWEST_READ) if worker else None
    if answer is None:
        here(theirs)  # the worker did not answer: what it was given is read here
        return
    exported, their_problems, their_unread, spill = answer
    store.adopt(spill, exported)
    problems.extend(their_problems)
    unread.extend(their_unread)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the reader says what is wrong with it


class _Worker:
    """The worker process and the temporary file it spills its cases to."""

    def __init__(self, proc: subprocess.Popen[bytes], spill: IO[bytes]) -> None:
        self.proc = proc
        self.spill = spill

    @classmethod
    def start(cls, request: Mapping[str, Any], cwd: Path) -> _Worker | None:
        """The worker started on `request` (written first in its spill file), or None if it cannot start."""
        from qaagent import process  # noqa: PLC0415 - the worker itself never imports process handling

        if not sys.executable:
            return None
        spill = tempfile.TemporaryFile(prefix="qaagent-cases-")  # noqa: SIM115 - the store closes it
        try:
            spill.write(json.dumps(request).encode() + b"\n")
            spill.flush()
            # isolated (-I: no current folder, no PYTHON* variables, no user site) and given this
            # process's own import path: the worker imports what this process imported, never a
            # `qaagent/` folder of the project it starts in
            here = [entry or os.fsdecode(Path.cwd()) for entry in sys.path]
            argv = [sys.executable, "-I", "-c", _BOOT, str(spill.fileno()), json.dumps(here)]
            env = dict(os.environ)
            proc = process.spawn(argv, cwd=cwd, env=env, stderr=subprocess.PIPE, pass_fds=(spill.fileno(),))
        except OSError:
            spill.close()
            return None
        return cls(proc, spill)

    def finish(self, budget: float) -> tuple[dict[str, Any], list[str], list[Path], IO[bytes]] | None:
        """Its answer once it has ended: what its store exported, its problems, its unread files, the spill.

        None when it failed or was still running after `budget` seconds (it is killed then; the
        spill is closed).
        """
        from qaagent import process  # noqa: PLC0415

        answer = None
        try:
            out, _ = self.proc.communicate(timeout=budget)
            if self.proc.returncode == 0:
                answer = _checked(json.loads(out), os.fstat(self.spill.fileno()).st_size)
        except subprocess.TimeoutExpired:
            process.stop_group(self.proc, 0.0, signal.SIGKILL)
            self.proc.communicate()
        except (OSError, ValueError, KeyError, TypeError):
            answer = None
        finally:
            process.release(self.proc)
        if answer is None:
            self.spill.close()
            return None
        exported, problems, unread = answer
        return exported, problems, unread, self.spill

    def abandon(self) -> None:
        """Stop it and drop what it wrote (this process's own read ended in an exception)."""
        from qaagent import process  # noqa: PLC0415

        try:
            process.stop_group(self.proc, 0.0, signal.SIGKILL)
            self.proc.communicate()
        finally:
            process.release(self.proc)
            self.spill.close()


def _checked(answer: Any, size: int) -> tuple[dict[str, Any], list[str], list[Path]]:
    """The worker's answer, checked (`TypeError`/`KeyError` for anything else); `size`: its spill file's."""
    exported, problems, unread = answer["store"], answer["problems"], answer["unread"]
    starts = exported["starts"]
    ints = [*starts, exported["problems"], *exported["counts"].values()]
    if exported["kept"] is not None:
        ints.append(exported["kept"])
    if (
        not all(type(n) is int and n >= 0 for n in ints)
        or not all(isinstance(s, str) for s in [*problems, *unread])
        or any(b <= a for a, b in itertools.pairwise(starts))
        or any(start >= size for start in starts)
    ):
        raise TypeError(answer)
    return exported, problems, [Path(p) for p in unread]


def _work(fd: int) -> int:
    """The worker: read the request from `fd`'s first line, spill the cases after it, answer on stdout."""
    with os.fdopen(fd, "r+b") as spill:
        spill.seek(0)  # the descriptor's offset is shared with the parent's, which wrote the request
        request = json.loads(spill.readline())
        origins = {Path(p): Path(o) for p, o in request["origins"]}
        problems: list[str] = []
        unread: list[Path] = []
        store = CaseStore(spill=spill)
        store.extend(
            iter_result_files(
                [Path(p) for p in request["paths"]],
                format=request["format"],
                suite=request["suite"],
                base_dir=Path(request["base_dir"]),
                repo_root=Path(request["repo_root"]),
                problems=problems,
                zero_based_lines=request["zero_based_lines"],
                unread=unread,
                origins=origins,
            )
        )
        exported = store.export()
    answer = {"store": exported, "problems": problems, "unread": [os.fsdecode(p) for p in unread]}
    sys.stdout.write(json.dumps(answer))
    return 0


def main() -> None:
    """The worker's entry point (`_BOOT`): `sys.argv` is the spill file's descriptor, then the import path."""
    with contextlib.suppress(BrokenPipeError):
        sys.exit(_work(int(sys.argv[1])))
