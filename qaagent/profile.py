"""The profile (`.qaagent.yaml`): frozen pydantic models and a loader whose errors name the line.

Field names follow the original qaagent profile (`run.parallel`,
`run.max_workers`, `run.retry_count`, `run.timeout`, `run.suite_order`,
suites under `tests:`), so existing profiles load. Every model forbids
unknown keys: a typo is an error, never a silent default.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from qaagent.formats import AUTO, NAMES
from qaagent.history.settings import HistorySettings
from qaagent.options import (
    KEEP,
    MAX_OUTPUT,
    RETRIES,
    SUITE_NAME,
    WORKERS,
    InvalidValue,
    Range,
    SplitSetting,
    fail_on_items,
    profile_seconds,
    profile_whole_number,
    split_setting,
)
from qaagent.run_result import FailOn
from qaagent.runners.names import DEFAULT_RUNNERS, PROFILE_RULES, RUNNERS, RunnerName

#: the name of the suite the `files:` input / `--files` builds when there is no profile
FILES_SUITE = "results"


def _whole_number(value: Any, allowed: Range) -> Any:
    """A profile's whole number, as the flags and inputs take it (the one validator)."""
    try:
        return profile_whole_number(value, allowed)
    except InvalidValue as exc:
        raise ValueError(str(exc)) from None


def _seconds(value: Any) -> Any:
    """A profile's seconds, as the flags and inputs take them (the one validator; no boolean)."""
    try:
        return profile_seconds(value)
    except InvalidValue as exc:
        raise ValueError(str(exc)) from None


# One validator and one range per option, shared with the command-line flags and the inputs.
PositiveSeconds = Annotated[float, BeforeValidator(_seconds)]
Retries = Annotated[int, BeforeValidator(lambda value: _whole_number(value, RETRIES))]
OutputBytes = Annotated[int, BeforeValidator(lambda value: _whole_number(value, MAX_OUTPUT))]


def _split_argv(value: Any) -> Any:
    """A command given as one string is split like a shell would (no shell runs it)."""
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            msg = f"cannot split the command: {exc}"
            raise ValueError(msg) from None
    return value


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectSettings(_Model):
    """`project:` — who this run is for."""

    name: str = "project"


class RunSettings(_Model):
    """`run:` — how suites run; command-line flags override these for one run."""

    parallel: bool = False
    #: processes at once across all suites and batches (None: the CPU count; see `Plan.workers`)
    max_workers: Annotated[int, Field(ge=WORKERS.low, le=WORKERS.high)] | None = None
    retry_count: Retries = 0
    timeout: PositiveSeconds = 1800
    suite_order: tuple[str, ...] | None = None
    #: failed, error, flaky; or new-failures (failed or errored, not failing on the base branch)
    fail_on: tuple[FailOn, ...] = ("failed", "error")

    @field_validator("max_workers", mode="before")
    @classmethod
    def _no_bool_or_float(cls, value: Any) -> Any:
        return None if value is None else _whole_number(value, WORKERS)

    @field_validator("fail_on", mode="before")
    @classmethod
    def _fail_on(cls, value: Any) -> Any:
        """The one `fail_on` validator (`options.fail_on_items`): a YAML list, or one text of them."""
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            return value  # pydantic says what the type should be
        try:
            return fail_on_items(items, shown=str(value))
        except InvalidValue as exc:
            raise ValueError(str(exc)) from None


class ReportSettings(_Model):
    """`reports:` — where the merged JUnit and the evidence bundles go."""

    junit: str = "qaagent-junit.xml"
    evidence_dir: str = ".qaagent/evidence"
    keep: Annotated[int, Field(ge=KEEP.low, le=KEEP.high)] = 20

    @field_validator("keep", mode="before")
    @classmethod
    def _keep_whole(cls, value: Any) -> Any:
        return _whole_number(value, KEEP)

    #: bytes of system-out/system-err kept per test case in the merged report
    #: (the JUnit reader keeps at most 64 KiB of each field, so more cannot be shown)
    max_output: OutputBytes = MAX_OUTPUT.high
    #: keep files a byte scan cannot redact (zip, PNG, video, PDF: `evidence.not_kept`)
    keep_unredactable: bool = False


class SuiteConfig(_Model):
    """One entry under `tests:`."""

    runner: RunnerName | None = None
    path: str | None = None
    #: the original qaagent's name for `path`
    output_dir: str | None = None
    command: tuple[str, ...] | None = None
    #: result files to read: globs relative to the working directory, `!` excludes (command, report)
    files: tuple[str, ...] | None = None
    #: the old name of `files` for a command suite (one glob of JUnit files)
    junit: str | None = None
    #: the result format of `files` (docs/formats.md); unset: JUnit for `junit:`, else told from content
    format: str | None = None
    enabled: bool = True
    timeout: PositiveSeconds | None = None
    retry_count: Retries | None = None
    env: dict[str, str] = Field(default_factory=dict)
    args: tuple[str, ...] = ()
    working_directory: str | None = None
    #: globs (relative to the working directory) of files to keep as evidence
    artifacts: tuple[str, ...] = ()
    #: run as several processes over batches of its test files: auto, off or at most N batches
    split: SplitSetting = "off"

    @field_validator("split", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        try:
            return split_setting(value)
        except InvalidValue as exc:
            raise ValueError(str(exc)) from None

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        return _split_argv(value)

    @field_validator("files", mode="before")
    @classmethod
    def _one_or_more_globs(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("files")
    @classmethod
    def _usable_globs(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value or not any(p.strip() and not p.strip().startswith("!") for p in value):
            msg = "`files` needs at least one glob that is not an exclude (`!…`)"
            raise ValueError(msg)
        if any(not p.strip() or p.strip() == "!" for p in value):
            msg = "`files` has an empty glob"
            raise ValueError(msg)
        return tuple(p.strip() for p in value)

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        if value is not None and value != AUTO and value not in NAMES:
            msg = f"unknown result format {value[:40]!r}: expected one of {', '.join(NAMES)} (or {AUTO})"
            raise ValueError(msg)
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env_strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            # Only scalars are stringified: str() of a list built from YAML aliases could be
            # exponentially large; pydantic names such values as not strings instead.
            return {str(k): ("" if v is None else str(v) if _scalar(v) else v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _path_alias(self) -> SuiteConfig:
        if self.path is not None and self.output_dir is not None and self.path != self.output_dir:
            msg = "give either `path` or its old name `output_dir`, not both"
            raise ValueError(msg)
        if self.command is not None and not self.command:
            msg = "`command` must not be empty"
            raise ValueError(msg)
        if self.files is not None and self.junit is not None and self.files != (self.junit,):
            msg = "give either `files` or its old name `junit`, not both"
            raise ValueError(msg)
        return self

    @property
    def test_path(self) -> str | None:
        """`path`, or the old `output_dir`."""
        return self.path if self.path is not None else self.output_dir

    @property
    def result_globs(self) -> tuple[str, ...]:
        """`files`, or the old `junit` glob; empty when neither is given."""
        if self.files is not None:
            return self.files
        return (self.junit,) if self.junit else ()

    @property
    def result_key(self) -> str:
        """How the profile named the result globs (for messages): `files: a, !b` or `junit: x`."""
        if self.files is None and self.junit:
            return f"junit: {self.junit}"
        return f"files: {', '.join(self.result_globs)}"


def _check_result_files(name: str, runner: RunnerName, suite: SuiteConfig) -> None:
    """`files`/`format` belong to the suites that read result files; a suite that runs nothing needs them."""
    rules = PROFILE_RULES[runner]
    if not rules.runs_command:
        if suite.files is None:
            msg = f"suite {name!r} uses the {runner} runner and needs `files:` (globs of result files)"
            raise ValueError(msg)
        given_keys = (
            ("command", suite.command),
            ("args", suite.args),
            ("junit", suite.junit),
            ("retry_count", suite.retry_count is not None),
            ("split", suite.split != "off"),
        )
        for key, given in given_keys:
            if given:
                msg = f"suite {name!r} uses the {runner} runner, which runs nothing: `{key}` does not apply"
                raise ValueError(msg)
    elif not rules.reads_result_files and (suite.files is not None or suite.format is not None):
        readers = " and ".join(n for n in RUNNERS if PROFILE_RULES[n].reads_result_files)
        msg = (
            f"suite {name!r}: `files` and `format` are for {readers} suites "
            f"({runner} writes and finds its own JUnit)"
        )
        raise ValueError(msg)


class AppSettings(_Model):
    """`app:` — the system under test, started once before the suites."""

    base_url: str = "http://127.0.0.1:8000"
    start_command: tuple[str, ...] | None = None
    health_endpoint: str = "/"
    startup_timeout: PositiveSeconds = 60
    working_directory: str | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("start_command", mode="before")
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        return _split_argv(value)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            msg = "must be an http:// or https:// URL"
            raise ValueError(msg)
        return value.rstrip("/")


class Profile(_Model):
    """The whole profile."""

    project: ProjectSettings = ProjectSettings()
    run: RunSettings = RunSettings()
    reports: ReportSettings = ReportSettings()
    tests: dict[str, SuiteConfig]
    app: AppSettings | None = None
    #: the test history (on by default: a SQLite file next to the profile)
    history: HistorySettings = HistorySettings()

    @model_validator(mode="after")
    def _check_suites(self) -> Profile:
        if not self.tests:
            msg = "at least one suite is needed under `tests`"
            raise ValueError(msg)
        for name, suite in self.tests.items():
            if not SUITE_NAME.match(name):
                msg = f"suite name {name!r} must be letters, digits, '_', '.' or '-' (at most 64)"
                raise ValueError(msg)
            runner = suite.runner or DEFAULT_RUNNERS.get(name)
            if runner is None:
                msg = f"suite {name!r} needs `runner:` (one of {', '.join(RUNNERS)})"
                raise ValueError(msg)
            if PROFILE_RULES[runner].needs_command and not suite.command:
                msg = f"suite {name!r} uses the {runner} runner and needs `command:`"
                raise ValueError(msg)
            _check_result_files(name, runner, suite)
        if self.run.suite_order is not None:
            unknown = [n for n in self.run.suite_order if n not in self.tests]
            if unknown:
                msg = f"run.suite_order names unknown suite(s): {', '.join(unknown)}"
                raise ValueError(msg)
            if len(set(self.run.suite_order)) != len(self.run.suite_order):
                msg = "run.suite_order names a suite twice"
                raise ValueError(msg)
        return self

    def runner_of(self, name: str) -> RunnerName:
        """The suite's runner, defaulted from its name."""
        suite = self.tests[name]
        runner = suite.runner or DEFAULT_RUNNERS.get(name)
        assert runner is not None  # checked by the validator  # noqa: S101
        return runner

    @property
    def ordered_suites(self) -> list[str]:
        """All suite names in `suite_order`; suites it does not list follow in file order."""
        order = list(self.run.suite_order or ())
        return order + [name for name in self.tests if name not in order]


@dataclass(frozen=True)
class LoadedProfile:
    """A validated profile and where it came from."""

    profile: Profile
    path: Path
    sha256: str
    #: the profile was built from `--files` / the `files:` input, not read from `path`
    #: (`path` is then the folder's `.qaagent.yaml`, where such a profile would live)
    generated: bool = False

    @property
    def directory(self) -> Path:
        """The folder the profile lives in; relative paths in it start here."""
        return self.path.parent

    @property
    def source(self) -> Path | None:
        """The profile file that was read; None for a generated profile."""
        return None if self.generated else self.path
