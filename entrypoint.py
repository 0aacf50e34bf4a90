"""The GitHub action's adapter: turns `INPUT_*` and `GITHUB_*` into one `qaagent` command line.

Both action variants run this file: the Docker action (`action.yml`, as the
image's exec-form ENTRYPOINT) and the composite one (`host/action.yml`, with
every input mapped to an `INPUT_*` variable by hand). It only translates; the
work is done by the same code path as `qaagent run-all`, called in-process so
that SIGTERM/SIGINT from the runner reach qaagent's own handlers (no child
Python in between).

Rules it enforces before anything runs (each violation is an input error,
one line plus an `::error::` annotation, exit 2):

- booleans are true/false/yes/no/1/0 in any case;
- numbers are whole numbers in range, `shard` is `I/N`, `fail-on` lists only
  failed, error, flaky;
- `working-directory`, `profile`, `junit-path`, `evidence-dir` (and merge
  bundles) resolve, symlinks followed, inside `GITHUB_WORKSPACE`; relative
  paths other than `working-directory` are relative to `working-directory`.

The token is masked (`::add-mask::`) before anything else is printed, removed
from this process's environment so that suites and `setup` never inherit it,
and handed to qaagent only as `QAAGENT_GITHUB_TOKEN`.

`setup` runs with `bash -eo pipefail -c` (or `sh -ec` without bash) in the
working directory, its output folded into a `setup` log group with workflow
commands disabled. A failing setup ends the action with exit 2, like a bad
input: nothing was tested, so 1 ("tests failed") would be false, and qaagent
itself did not fail, so 3 would be false too.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, TextIO, cast

if TYPE_CHECKING:
    from types import FrameType

#: every input with the default `action.yml` declares; used when a variable is missing
#: altogether (a `docker://` step, or a hand-written environment). `github-token`'s
#: declared default is the expression `${{ github.token }}`, which only the runner can expand.
DEFAULTS: dict[str, str] = {
    "profile": ".qaagent.yaml",
    "parallel": "",
    "max-workers": "",
    "retries": "",
    "suites": "",
    "shard": "",
    "mode": "run",
    "bundles": "",
    "working-directory": ".",
    "setup": "",
    "junit-path": "",
    "evidence-dir": "",
    "fail-on": "",
    "annotations": "true",
    "summary": "true",
    "github-token": "",
    "check-name": "",
    "comment": "false",
}

TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})
FAIL_ON_WORDS = ("failed", "error", "flaky")
TOKEN_VARIABLES = ("INPUT_GITHUB-TOKEN", "QAAGENT_GITHUB_TOKEN")
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_CANCELLED = 130
#: seconds a cancelled `setup` gets between SIGTERM and SIGKILL
SETUP_KILL_GRACE = 10.0
_SPLIT = re.compile(r"[\s,]+")
_SHARD = re.compile(r"^(\d+)/(\d+)$")


class InputError(Exception):
    """An action input is unusable; the message names it."""


@dataclass(frozen=True)
class Invocation:
    """What the entrypoint decided: where to run, what to run first, and qaagent's argv."""

    workdir: Path
    argv: list[str]
    setup: str = ""
    token: str = field(default="", repr=False)


def escape_data(text: str) -> str:
    """Escape a workflow-command message so untrusted text cannot start a command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def report_error(message: str, out: IO[str], err: IO[str]) -> None:
    """Print an error the way qaagent does: one line on stderr and an `::error::` annotation."""
    line = _one_line(message)
    err.write(f"qaagent: error: {line}\n")
    err.flush()
    out.write(f"::error title=qaagent::{escape_data(line)}\n")
    out.flush()


def read_inputs(env: Mapping[str, str]) -> dict[str, str]:
    """Every declared input, from `INPUT_<NAME>` (hyphens kept), default when missing."""
    return {name: env.get(f"INPUT_{name.upper()}", default) for name, default in DEFAULTS.items()}


def parse_bool(name: str, value: str) -> bool:
    """True/false/yes/no/1/0 in any case; the input's default when empty."""
    word = value.strip().lower()
    if not word:
        word = DEFAULTS[name].lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise InputError(f"input '{name}' must be true or false (or yes/no/1/0), got {value.strip()!r}")


def parse_optional_bool(name: str, value: str) -> bool | None:
    """Like `parse_bool`, but empty means "not given" (the profile decides)."""
    return None if not value.strip() else parse_bool(name, value)


def parse_count(name: str, value: str, *, minimum: int, maximum: int) -> int | None:
    """Return a whole number in [minimum, maximum], or None when empty."""
    text = value.strip()
    if not text:
        return None
    # ASCII digits only: str.isdigit() also accepts "²" or "٣", which int() rejects or misreads.
    if not re.fullmatch(r"[0-9]{1,6}", text) or not minimum <= int(text) <= maximum:
        raise InputError(f"input '{name}' must be a whole number from {minimum} to {maximum}, got {text!r}")
    return int(text)


def split_list(value: str) -> list[str]:
    """Split a comma, space or newline separated list, dropping empty items."""
    return [item for item in _SPLIT.split(value.strip()) if item]


def parse_shard(value: str) -> str | None:
    """`I/N` with 1 <= I <= N, or None when empty."""
    text = value.strip()
    if not text:
        return None
    match = _SHARD.match(text)
    if match is None or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise InputError(f"input 'shard' must look like I/N with 1 <= I <= N (e.g. 2/4), got {text!r}")
    return text


def parse_fail_on(value: str) -> str | None:
    """Normalise a list of failed/error/flaky to a comma list; None when empty."""
    items = split_list(value)
    if not items:
        return None
    wrong = [item for item in items if item.lower() not in FAIL_ON_WORDS]
    if wrong:
        raise InputError(
            f"input 'fail-on' may list only {', '.join(FAIL_ON_WORDS)}; got {', '.join(map(repr, wrong))}"
        )
    return ",".join(dict.fromkeys(item.lower() for item in items))


def inside_workspace(name: str, value: str, *, base: Path, workspace: Path) -> Path:
    """Resolve `value` (relative to `base`), symlinks followed; it must stay inside `workspace`."""
    text = value.strip()
    if not text:
        raise InputError(f"input '{name}' is empty")
    if "\0" in text:
        raise InputError(f"input '{name}' contains a NUL character")
    resolved = (base / text).resolve()
    if resolved != workspace and workspace not in resolved.parents:
        raise InputError(f"input '{name}' ({text}) resolves to {resolved}, outside the workspace {workspace}")
    return resolved


def _workspace(env: Mapping[str, str]) -> Path:
    raw = env.get("GITHUB_WORKSPACE", "").strip()
    if not raw:
        msg = "GITHUB_WORKSPACE is not set: this entrypoint runs inside a GitHub Actions job"
        raise InputError(msg)
    workspace = Path(raw).resolve()
    if not workspace.is_dir():
        raise InputError(f"GITHUB_WORKSPACE ({raw}) is not a directory")
    return workspace


def _path_option(
    argv: list[str], option: str, name: str, value: str, *, workdir: Path, workspace: Path
) -> None:
    """Append `option value` after checking the path stays inside the workspace."""
    if value.strip():
        inside_workspace(name, value, base=workdir, workspace=workspace)
        argv += [option, value.strip()]


def _feedback_options(inputs: Mapping[str, str]) -> list[str]:
    argv = ["--github", "on"]
    if not parse_bool("annotations", inputs["annotations"]):
        argv.append("--no-annotations")
    if not parse_bool("summary", inputs["summary"]):
        argv.append("--no-summary")
    if inputs["check-name"].strip():
        argv += ["--check-name", inputs["check-name"].strip()]
    if parse_bool("comment", inputs["comment"]):
        argv.append("--comment")
    # No path prefix: qaagent makes test file paths relative to GITHUB_WORKSPACE (the repository
    # root) itself, whatever the working directory, so annotations already point at the right file.
    return argv


def _merge_bundles(value: str, *, workdir: Path, workspace: Path) -> list[str]:
    patterns = split_list(value)
    if not patterns:
        msg = "input 'bundles' must name the shard bundles to merge when mode is merge"
        raise InputError(msg)
    bundles: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, root_dir=workdir)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise InputError(f"input 'bundles': {pattern!r} matches nothing in {workdir}")
        for match in matches:
            inside_workspace("bundles", match, base=workdir, workspace=workspace)
            bundles.append(match)
    return bundles


def build_invocation(env: Mapping[str, str]) -> Invocation:
    """Check every input and build qaagent's argv; raises InputError naming the bad input."""
    inputs = read_inputs(env)
    workspace = _workspace(env)
    workdir = inside_workspace(
        "working-directory", inputs["working-directory"] or ".", base=workspace, workspace=workspace
    )
    if not workdir.is_dir():
        raise InputError(
            f"input 'working-directory' ({inputs['working-directory'].strip()}) is not a directory "
            "in the workspace"
        )

    mode = inputs["mode"].strip().lower() or "run"
    if mode not in {"run", "merge"}:
        raise InputError(f"input 'mode' must be run or merge, got {inputs['mode'].strip()!r}")
    paths = {"workdir": workdir, "workspace": workspace}
    fail_on = parse_fail_on(inputs["fail-on"])

    argv: list[str]
    if mode == "merge":
        argv = ["merge", *_merge_bundles(inputs["bundles"], **paths)]
    else:
        argv = ["run-all"]
        _path_option(argv, "--profile", "profile", inputs["profile"] or DEFAULTS["profile"], **paths)
        parallel = parse_optional_bool("parallel", inputs["parallel"])
        if parallel is not None:
            argv.append("--parallel" if parallel else "--sequential")
        workers = parse_count("max-workers", inputs["max-workers"], minimum=1, maximum=256)
        if workers is not None:
            argv += ["--max-workers", str(workers)]
        retries = parse_count("retries", inputs["retries"], minimum=0, maximum=20)
        if retries is not None:
            argv += ["--retries", str(retries)]
        for suite in split_list(inputs["suites"]):
            argv += ["--suite", suite]
        shard = parse_shard(inputs["shard"])
        if shard is not None:
            argv += ["--shard", shard]
    _path_option(argv, "--junit", "junit-path", inputs["junit-path"], **paths)
    _path_option(argv, "--evidence-dir", "evidence-dir", inputs["evidence-dir"], **paths)
    if fail_on is not None:
        argv += ["--fail-on", fail_on]
    argv += _feedback_options(inputs)
    return Invocation(
        workdir=workdir, argv=argv, setup=inputs["setup"].strip(), token=inputs["github-token"].strip()
    )


def mask_token(token: str, out: IO[str]) -> None:
    """Register the token (each line of it) with the runner's log masking, once per process."""
    from qaagent.github.commands import add_mask  # noqa: PLC0415 - the one implementation of masking

    add_mask(token, cast("TextIO", out))


def _shell_argv(command: str) -> list[str]:
    bash = shutil.which("bash")
    if bash is not None:
        return [bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", command]
    return ["sh", "-ec", command]


def run_setup(command: str, *, workdir: Path, env: Mapping[str, str], out: IO[str]) -> int:
    """Run the `setup` command in its own process group, streaming its output in a log group.

    Returns its exit status, or 130 when SIGTERM/SIGINT arrived (forwarded to the group,
    SIGKILL after a grace period).
    """
    stop = secrets.token_hex(16)
    out.write("::group::setup\n")
    out.write(f"::stop-commands::{stop}\n")
    out.flush()
    proc = subprocess.Popen(
        _shell_argv(command),
        cwd=workdir,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    cancelled: list[float] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        if not cancelled:
            cancelled.append(time.monotonic())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    previous: dict[signal.Signals, Callable[[int, FrameType | None], object] | int | None] = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, forward)
    echo = _SetupEcho(out)
    reader = threading.Thread(target=_copy_output, args=(proc, echo), daemon=True)
    reader.start()
    try:
        _wait_or_kill(proc, cancelled)
        reader.join(timeout=SETUP_KILL_GRACE)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        # From here on commands work again: nothing setup prints later may reach the log, and
        # the resume line must start a line of its own.
        echo.close()
        out.write(f"::{stop}::\n")
        out.write("::endgroup::\n")
        out.flush()
    return EXIT_CANCELLED if cancelled else proc.returncode


class _SetupEcho:
    """Setup's output on its way to the log, until `close()`; then nothing more gets through."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.open = True
        self.at_line_start = True

    def write(self, text: str) -> None:
        with self.lock:
            if self.open and text:
                self.out.write(text)
                self.out.flush()
                self.at_line_start = text.endswith("\n")

    def close(self) -> None:
        with self.lock:
            if self.open and not self.at_line_start:
                self.out.write("\n")
            self.open = False


def _copy_output(proc: subprocess.Popen[bytes], echo: _SetupEcho) -> None:
    if proc.stdout is None:
        return
    for raw in proc.stdout:
        echo.write(raw.decode("utf-8", "replace"))


def _wait_or_kill(proc: subprocess.Popen[bytes], cancelled: list[float]) -> None:
    while True:
        try:
            proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            if cancelled and time.monotonic() - cancelled[0] > SETUP_KILL_GRACE:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            continue
        return


def child_environment(env: Mapping[str, str]) -> dict[str, str]:
    """Return the environment `setup` and the suites get: no token in any form."""
    return {key: value for key, value in env.items() if key not in TOKEN_VARIABLES}


CliMain = Callable[[list[str] | None], int]


def _load_cli() -> CliMain:
    from qaagent.cli import main as cli_main  # noqa: PLC0415 - late: input errors need no qaagent

    return cli_main


def main(
    env: MutableMapping[str, str] | None = None,
    *,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    load_cli: Callable[[], CliMain] = _load_cli,
) -> int:
    """Translate the action's environment and run qaagent; returns the exit code."""
    environ: MutableMapping[str, str] = os.environ if env is None else env
    stdout = out or sys.stdout
    stderr = err or sys.stderr
    token = environ.get("INPUT_GITHUB-TOKEN", DEFAULTS["github-token"]).strip()
    if token:
        mask_token(token, stdout)
    try:
        invocation = build_invocation(environ)
    except InputError as exc:
        report_error(str(exc), stdout, stderr)
        return EXIT_USAGE
    # Suites and setup inherit os.environ: the token leaves it before anything runs.
    for key in TOKEN_VARIABLES:
        environ.pop(key, None)
    if invocation.setup:
        status = run_setup(
            invocation.setup, workdir=invocation.workdir, env=child_environment(environ), out=stdout
        )
        if status == EXIT_CANCELLED:
            report_error("cancelled while running the 'setup' command", stdout, stderr)
            return EXIT_CANCELLED
        if status != 0:
            report_error(
                f"the 'setup' command exited with status {status}; no suite was run "
                "(its output is in the 'setup' log group above)",
                stdout,
                stderr,
            )
            return EXIT_USAGE
    if invocation.token:
        environ["QAAGENT_GITHUB_TOKEN"] = invocation.token
    try:
        cli_main = load_cli()
    except ImportError as exc:
        report_error(f"cannot import qaagent ({exc}); is it installed?", stdout, stderr)
        return EXIT_INTERNAL
    os.chdir(invocation.workdir)
    return cli_main(invocation.argv)


def _entry(argv: Sequence[str]) -> int:
    if len(argv) > 1:
        sys.stderr.write("entrypoint.py takes no arguments: configure it with INPUT_* variables\n")
        return EXIT_USAGE
    return main()


if __name__ == "__main__":
    sys.exit(_entry(sys.argv))
