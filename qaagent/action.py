"""The GitHub action's inputs (`INPUT_*`) as the options of `run-all` or `merge`; pure.

Both action variants set the inputs: the Docker action (`action.yml`), whose
runner passes each as `INPUT_<NAME>` with its hyphens kept
(`INPUT_MAX-WORKERS`), and the composite one (`host/action.yml`), which maps
each by hand. A missing variable takes the default `action.yml` declares (a
`docker://` step passes only what it was given).

Every value is checked here, with the validators the command line uses
(`qaagent.options`) and the one path check (`qaagent.paths`); a bad one is a
`UsageError` naming the input (exit 2) before anything runs. Empty numeric,
boolean and list inputs leave the profile's value in force.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from qaagent import options
from qaagent.command_options import FeedbackOptions, MergeOptions, RunOptions, effective_comment_mode
from qaagent.errors import UsageError
from qaagent.paths import confine

T = TypeVar("T")
#: how an error about the `suites` input names it (as `_Inputs.value` names every input)
SUITES_SOURCE = "input 'suites'"

#: every input with the default `action.yml` declares; used when a variable is missing
#: altogether. `github-token`'s declared default is the expression `${{ github.token }}`,
#: which only the runner can expand.
DEFAULTS: dict[str, str] = {
    "profile": ".qaagent.yaml",
    "files": "",
    "format": "",
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
    "annotate": "failures-and-flaky",
    "annotations-limit": "10",
    "summary": "full",
    "summary-title": "",
    "github-token": "",
    "check-name": "",
    "comment": "false",
    "history": "",
    "base-branch": "",
    "comment-mode": "",
    "commit": "",
    "pull-request": "",
}


@dataclass(frozen=True)
class ActionRun:
    """What the action was asked to do: where, what to run first, and the command's options."""

    workdir: Path
    options: RunOptions | MergeOptions
    setup: str = ""
    token: str = field(default="", repr=False)


def read_inputs(env: Mapping[str, str]) -> dict[str, str]:
    """Every declared input, from `INPUT_<NAME>` (hyphens kept), its default when missing."""
    return {name: env.get(f"INPUT_{name.upper()}", default) for name, default in DEFAULTS.items()}


class _Inputs:
    """The inputs with their paths resolved inside the workspace; each getter names its input."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.values = read_inputs(env)
        self.workspace = _workspace(env)
        self.workdir = self.path("working-directory", base=self.workspace, default=".")
        if not self.workdir.is_dir():
            raise UsageError(
                f"input 'working-directory' ({self.values['working-directory'].strip()}) is not a "
                "directory in the workspace"
            )

    def text(self, name: str) -> str:
        return self.values[name].strip()

    def value(self, name: str, validator: Callable[[str], T]) -> T | None:
        """The input through `validator`; None when empty (the profile decides)."""
        text = self.text(name)
        if not text:
            return None
        try:
            return validator(text)
        except options.InvalidValue as exc:
            raise UsageError(f"input '{name}': {exc}") from None

    def flag(self, name: str) -> bool:
        """A boolean input; empty means its declared default."""
        value = self.value(name, options.boolean)
        return value if value is not None else options.boolean(DEFAULTS[name])

    def path(self, name: str, *, base: Path | None = None, default: str = "") -> Path:
        """The input as a path inside the workspace, relative to `base` (the working directory)."""
        return confine(
            self.text(name) or default,
            base=base if base is not None else self.workdir,
            root=self.workspace,
            what=f"input '{name}'",
        )

    def optional_path(self, name: str) -> Path | None:
        return self.path(name) if self.text(name) else None

    def choice(self, name: str, validator: Callable[[str], T]) -> T:
        """An input with a fixed set of values; empty means its declared default."""
        value = self.value(name, validator)
        return value if value is not None else validator(DEFAULTS[name])

    def feedback(self) -> FeedbackOptions:
        mode = effective_comment_mode(
            self.value("comment-mode", options.comment_mode), comment=self.flag("comment")
        )
        return FeedbackOptions(
            github=True,
            check_name=self.text("check-name") or None,
            comment_mode=mode,
            annotations=self.flag("annotations"),
            annotate=self.choice("annotate", options.annotate),
            annotations_limit=self.choice("annotations-limit", options.annotations_limit),
            summary_mode=self.choice("summary", options.summary_mode),
            summary_title=self.value("summary-title", options.title),
            commit=self.value("commit", options.commit),
            pull_request=self.value("pull-request", options.pull_request),
        )

    def files(self) -> tuple[str, ...]:
        """The `files:` globs, each checked like a path (a glob leaving the workspace is refused)."""
        globs = self.value("files", options.globs) or ()
        for glob_text in globs:
            confine(glob_text.removeprefix("!"), base=self.workdir, root=self.workspace, what="input 'files'")
        if globs and self.text("profile") not in ("", DEFAULTS["profile"]):
            msg = (
                "input 'files' publishes result files without a profile: leave 'profile' unset, "
                "or add a suite with `runner: report` to the profile"
            )
            raise UsageError(msg)
        return globs

    def bundles(self) -> tuple[Path, ...]:
        patterns = options.items(self.values["bundles"])
        if not patterns:
            msg = "input 'bundles' must name the shard bundles to merge when mode is merge"
            raise UsageError(msg)
        found: list[Path] = []
        for pattern in patterns:
            matches = (
                sorted(glob.glob(pattern, root_dir=self.workdir)) if glob.has_magic(pattern) else [pattern]
            )
            if not matches:
                raise UsageError(f"input 'bundles': {pattern!r} matches nothing in {self.workdir}")
            for match in matches:
                confine(match, base=self.workdir, root=self.workspace, what="input 'bundles'")
                found.append(Path(match))
        return tuple(found)


def _workspace(env: Mapping[str, str]) -> Path:
    raw = env.get("GITHUB_WORKSPACE", "").strip()
    if not raw:
        msg = "GITHUB_WORKSPACE is not set: this entrypoint runs inside a GitHub Actions job"
        raise UsageError(msg)
    workspace = Path(raw).resolve()
    if not workspace.is_dir():
        raise UsageError(f"GITHUB_WORKSPACE ({raw}) is not a directory")
    return workspace


def _merge_profile(inputs: _Inputs) -> Path | None:
    """The profile whose `history:` a merge records by: as given, or the default one if it exists."""
    given = inputs.text("profile")
    if given and given != DEFAULTS["profile"]:
        return inputs.path("profile")
    default = inputs.path("profile", default=DEFAULTS["profile"])
    return default if default.is_file() else None


def action_run(env: Mapping[str, str]) -> ActionRun:
    """Check every input and build the command's options; a `UsageError` names the bad input.

    Relative paths in the options (the profile, merge bundles) are relative to
    `ActionRun.workdir`, where the caller runs the command.
    """
    inputs = _Inputs(env)
    mode = inputs.text("mode").lower() or "run"
    if mode not in {"run", "merge"}:
        raise UsageError(f"input 'mode' must be run or merge, got {inputs.text('mode')!r}")
    fail_on = inputs.value("fail-on", options.fail_on)
    chosen: RunOptions | MergeOptions
    if mode == "merge":
        defaults = MergeOptions(bundles=())
        chosen = MergeOptions(
            bundles=inputs.bundles(),
            junit=inputs.optional_path("junit-path") or defaults.junit,
            evidence_dir=inputs.optional_path("evidence-dir") or defaults.evidence_dir,
            fail_on=fail_on,
            feedback=inputs.feedback(),
            profile=_merge_profile(inputs),
            history=inputs.value("history", options.switch),
            base_branch=inputs.value("base-branch", options.branch),
        )
    else:
        profile = inputs.text("profile") or DEFAULTS["profile"]
        inputs.path("profile", default=DEFAULTS["profile"])  # checked; kept as given (error messages)
        chosen = RunOptions(
            profile=Path(profile),
            files=inputs.files(),
            format=inputs.value("format", options.result_format),
            parallel=inputs.value("parallel", options.boolean),
            max_workers=inputs.value("max-workers", options.workers),
            retries=inputs.value("retries", options.retries),
            suites=options.suite_names([inputs.text("suites")], source=SUITES_SOURCE)
            if inputs.text("suites")
            else (),
            suites_source=SUITES_SOURCE,
            shard=inputs.value("shard", options.shard_or_auto),
            junit=inputs.optional_path("junit-path"),
            evidence_dir=inputs.optional_path("evidence-dir"),
            fail_on=fail_on,
            feedback=inputs.feedback(),
            history=inputs.value("history", options.switch),
            base_branch=inputs.value("base-branch", options.branch),
        )
    return ActionRun(
        workdir=inputs.workdir, options=chosen, setup=inputs.text("setup"), token=inputs.text("github-token")
    )
