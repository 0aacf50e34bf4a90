"""The GitHub action's adapter: `INPUT_*` and `GITHUB_*` → options → the pipeline `qaagent run-all` runs.

Both action variants run this file: the Docker action (`action.yml`, as the
image's exec-form ENTRYPOINT, so it is PID 1 and gets the runner's signals)
and the composite one (`host/action.yml`). It only translates; the inputs are
checked by `qaagent.action` with the validators the command line uses, and
the work is done in-process by `qaagent.pipeline`, so SIGTERM/SIGINT from the
runner reach qaagent's own handlers (no child Python in between).

In order:

1. the token is masked (`::add-mask::`) before anything else is printed;
2. every input is checked (a bad one: one line and an `::error::`, exit 2);
3. the token leaves this process's environment, so that `setup` and the
   suites never inherit it (qaagent gets it back as `QAAGENT_GITHUB_TOKEN`,
   which its child-environment filter removes again, with the runner's
   action-only credentials `ACTIONS_RUNTIME_TOKEN`…); and before all that the
   program re-executes itself with the token handed over on a pipe
   (`hand_over_token`), so that no child finds it in `/proc/<pid>/environ`;
4. `setup` runs (`qaagent.setup_command`) with `bash -eo pipefail -c` (or `sh -ec`
   without bash) in the working directory through qaagent's process runner: its own process group,
   its output in a `setup` log group with workflow commands disabled. A failing
   setup ends the action with exit 2, like a bad input: nothing was tested, so
   1 ("tests failed") would be false, and qaagent itself did not fail, so 3
   would be false too. SIGTERM/SIGINT during setup stop its process group
   (SIGKILL 10 s later) and end the action with 130;
5. the pipeline runs in the working directory.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import MutableMapping, Sequence
from typing import TextIO

try:
    from qaagent import pipeline
    from qaagent.action import DEFAULTS, action_run
    from qaagent.command_options import MergeOptions
    from qaagent.errors import Cancelled, ExitCode, UsageError, before_exit, exit_status
    from qaagent.github.commands import add_mask
    from qaagent.process import RUNNER_CREDENTIALS, TOKEN_VARIABLES
    from qaagent.setup_command import run_setup
except ImportError as exc:  # an image built without qaagent (or a broken one)
    # qaagent's own defuser cannot be imported here: the same rule, inline, on one line
    # (no `::` command at the line start, no `##[` anywhere).
    _why = " ".join(str(exc).split()).replace("##[", "## [").replace("::", ": :")
    sys.stderr.write(f"qaagent: error: cannot import qaagent ({_why}); is it installed?\n")
    sys.exit(3)


def main(
    env: MutableMapping[str, str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Translate the action's environment and run qaagent; returns the exit code."""
    environ: MutableMapping[str, str] = os.environ if env is None else env
    stdout = out or sys.stdout
    stderr = err or sys.stderr
    token = environ.get("INPUT_GITHUB-TOKEN", DEFAULTS["github-token"]).strip()
    if token:
        add_mask(token, stdout)

    def act() -> int:
        action = action_run(environ)
        # Suites and setup inherit os.environ: the token leaves it before anything runs.
        for key in TOKEN_VARIABLES:
            environ.pop(key, None)
        if action.setup:
            status = run_setup(action.setup, workdir=action.workdir, env=environ, out=stdout)
            if status == ExitCode.CANCELLED:
                msg = "cancelled while running the 'setup' command"
                raise Cancelled(msg)
            if status != 0:
                raise UsageError(
                    f"the 'setup' command exited with status {status}; no suite was run "
                    "(its output is in the 'setup' log group above)"
                )
        if action.token:
            environ["QAAGENT_GITHUB_TOKEN"] = action.token
        os.chdir(action.workdir)
        if isinstance(action.options, MergeOptions):
            return pipeline.merge(action.options, out=stdout)
        return pipeline.run_all(action.options, out=stdout)

    return exit_status(act, actions=True, err=stderr, out=stdout)


#: the variable naming the descriptor the token is handed over on (see `hand_over_token`)
TOKEN_FD = "QAAGENT_TOKEN_FD"  # noqa: S105 - a variable's name, not a secret
#: bytes of token variables handed over at most (a pipe holds 64 KiB without a reader)
_MAX_HANDOVER = 60 * 1024


def hand_over_token(argv: Sequence[str]) -> None:
    """Start this program again without the token in its environment block; it reads it from a pipe.

    Removing a variable from `os.environ` does not remove it from the block the
    kernel shows in `/proc/<pid>/environ`, which every process of the same user
    (a suite, `setup`) can read — and in the Docker action this process is PID 1.
    So the token variables are written into a pipe, and the program is exec'd anew
    (same PID, same signals) with an environment without them and the pipe's read
    end; `take_token` reads it back into `os.environ` (heap memory, not the block)
    and closes the pipe before any child starts.
    """
    found = {key: os.environ[key] for key in TOKEN_VARIABLES if key in os.environ}
    payload = json.dumps(found).encode()
    dropped = RUNNER_CREDENTIALS.intersection(os.environ)
    if (not found and not dropped) or TOKEN_FD in os.environ or len(payload) > _MAX_HANDOVER:
        return
    read, write = os.pipe()
    os.write(write, payload)
    os.close(write)
    os.set_inheritable(read, True)  # noqa: FBT003 - a positional-only builtin
    # The runner's action-only credentials are of no use to qaagent: they are not handed over at all.
    env = {key: value for key, value in os.environ.items() if key not in found and key not in dropped}
    env[TOKEN_FD] = str(read)
    os.execve(sys.executable, [sys.executable, *argv], env)  # noqa: S606 - this very program, again


def take_token() -> None:
    """Read the variables `hand_over_token` passed on into `os.environ`; close the pipe."""
    fd_text = os.environ.pop(TOKEN_FD, None)
    if fd_text is None or not fd_text.isdigit():
        return
    fd = int(fd_text)
    try:
        with os.fdopen(fd, "rb") as pipe:
            data = pipe.read(_MAX_HANDOVER + 1)
        values = json.loads(data.decode("utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(values, dict):
        os.environ.update({k: v for k, v in values.items() if k in TOKEN_VARIABLES and isinstance(v, str)})


def _entry(argv: Sequence[str]) -> int:
    if len(argv) > 1:
        sys.stderr.write("entrypoint.py takes no arguments: configure it with INPUT_* variables\n")
        return ExitCode.USAGE
    hand_over_token(sys.orig_argv[1:])
    take_token()
    code = main()
    before_exit()
    return code


if __name__ == "__main__":
    sys.exit(_entry(sys.argv))
