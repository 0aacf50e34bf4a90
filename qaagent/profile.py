"""The profile (`.qaagent.yaml`): frozen pydantic models and a loader whose errors name the line.

Field names follow the original qaagent profile (`run.parallel`,
`run.max_workers`, `run.retry_count`, `run.timeout`, `run.suite_order`,
suites under `tests:`), so existing profiles load. Every model forbids
unknown keys: a typo is an error, never a silent default.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from qaagent.errors import ProfileError
from qaagent.files import FileTooLargeError, NotRegularFileError, read_regular
from qaagent.formats import AUTO, NAMES
from qaagent.history.settings import HistorySettings
from qaagent.options import (
    KEEP,
    MAX_TIMEOUT,
    RETRIES,
    WORKERS,
    InvalidValue,
    Range,
    SplitSetting,
    fail_on_items,
    profile_whole_number,
    seconds,
    split_setting,
)
from qaagent.results import FailOn

RunnerName = Literal["pytest", "behave", "playwright", "command", "report"]
RUNNERS: tuple[str, ...] = ("pytest", "behave", "playwright", "command", "report")
#: the runners that read result files named by `files:` (the others write and find their own)
RESULT_FILE_RUNNERS = ("command", "report")
#: the name of the suite the `files:` input / `--files` builds when there is no profile
FILES_SUITE = "results"
#: suite names that imply their runner, as in the original qaagent
DEFAULT_RUNNERS: dict[str, RunnerName] = {"unit": "pytest", "behave": "behave", "e2e": "playwright"}
SUITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: a profile larger than this is refused before YAML parsing
MAX_PROFILE_BYTES = 1024 * 1024
#: aliases allowed in one profile (guards against alias-expansion bombs)
MAX_ALIASES = 100


def _seconds(value: Any) -> Any:
    """A profile's seconds: YAML's number, or text the flags would take (the one validator)."""
    return seconds(value) if isinstance(value, str) else value


# One range per option, shared with the command-line flags and the action's inputs.
PositiveSeconds = Annotated[float, Field(gt=0, le=MAX_TIMEOUT), BeforeValidator(_seconds)]
Retries = Annotated[int, Field(ge=RETRIES.low, le=RETRIES.high)]


def _whole_number(value: Any, allowed: Range) -> Any:
    """A profile's whole number, as the flags and inputs take it (the one validator)."""
    try:
        return profile_whole_number(value, allowed)
    except InvalidValue as exc:
        raise ValueError(str(exc)) from None


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

    @field_validator("max_workers", "retry_count", mode="before")
    @classmethod
    def _no_bool_or_float(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name == "max_workers":
            return None
        return _whole_number(value, WORKERS if info.field_name == "max_workers" else RETRIES)

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
    max_output: Annotated[int, Field(ge=0, le=64 * 1024)] = 64 * 1024


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


def _check_result_files(name: str, runner: str, suite: SuiteConfig) -> None:
    """`files`/`format` belong to the suites that read result files; a report suite needs them."""
    if runner == "report":
        if suite.files is None:
            msg = f"suite {name!r} uses the report runner and needs `files:` (globs of result files)"
            raise ValueError(msg)
        for key, given in (("command", suite.command), ("args", suite.args), ("junit", suite.junit)):
            if given:
                msg = f"suite {name!r} uses the report runner, which runs nothing: `{key}` does not apply"
                raise ValueError(msg)
    elif runner not in RESULT_FILE_RUNNERS and (suite.files is not None or suite.format is not None):
        msg = (
            f"suite {name!r}: `files` and `format` are for command and report suites "
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
            if runner == "command" and not suite.command:
                msg = f"suite {name!r} uses the command runner and needs `command:`"
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


def files_profile(
    files: tuple[str, ...],
    *,
    directory: Path,
    format: str | None = None,  # noqa: A002 - the profile's key
    project: str = "project",
) -> LoadedProfile:
    """The profile `--files`/the `files:` input stands for: one `report` suite, no file read.

    Its YAML text is what the user would write; the checksum the manifest records is that
    text's, so two runs publishing the same globs record the same profile.
    """
    import json  # noqa: PLC0415 - only this path needs it

    suite: dict[str, Any] = {"runner": "report", "files": list(files)}
    if format is not None:
        suite["format"] = format
    text = yaml.safe_dump(
        {"project": {"name": project}, "tests": {FILES_SUITE: suite}}, sort_keys=False, allow_unicode=True
    )
    where = f"--files {json.dumps(list(files), ensure_ascii=False)}"
    profile = parse_profile(text, where)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    path = directory.resolve() / ".qaagent.yaml"
    return LoadedProfile(profile=profile, path=path, sha256=digest, generated=True)


class _LoaderError(Exception):
    """A problem found while composing the YAML (duplicates, alias bombs)."""


#: the integers the profile's YAML reads as numbers: plain decimal ones (YAML 1.1 also reads
#: ``+3``, ``1_000``, ``0x10``, ``0o7`` and ``1:30`` as integers, which no flag or input takes;
#: as text, the one validator of each option refuses them with its message)
_PLAIN_INT = re.compile(r"^-?(?:0|[1-9][0-9]*)$")
_INT_TAG = "tag:yaml.org,2002:int"


def _strict_int_resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    table = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _INT_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    for first in "-0123456789":
        table.setdefault(first, []).insert(0, (_INT_TAG, _PLAIN_INT))
    return table


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and alias bombs, and remembers lines."""

    aliases = 0
    yaml_implicit_resolvers = _strict_int_resolvers()

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                msg = f"more than {MAX_ALIASES} YAML aliases (line {mark.line + 1})"
                raise _LoaderError(msg)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:  # noqa: FBT001, FBT002 - PyYAML's signature
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    msg = f"duplicate key {key!r} at line {line} (first at line {seen[key]})"
                    raise _LoaderError(msg)
                seen[key] = line
            except TypeError:
                continue
        return super().construct_mapping(node, deep=deep)


def _lines_of(
    node: yaml.Node,
    prefix: tuple[str | int, ...],
    out: dict[tuple[str | int, ...], int],
    seen: set[int] | None = None,
) -> None:
    out[prefix] = node.start_mark.line + 1
    # An alias is the same node object again: walk each node once, or a few
    # dozen aliases (a "billion laughs" profile) would make this walk exponential.
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark.line)
            out[(*prefix, key)] = key_node.start_mark.line + 1
            _lines_of(value_node, (*prefix, key), out, seen)
            out[(*prefix, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines_of(item, (*prefix, index), out, seen)


def _line_for(loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> int | None:
    path = tuple(loc)
    while path:
        normalized = tuple(str(p) if not isinstance(p, int) else p for p in path)
        if normalized in lines:
            return lines[normalized]
        path = path[:-1]
    return None


def _loc_in_message(message: str) -> tuple[str | int, ...]:
    """Where a whole-profile check points (its messages name the suite or `run.suite_order`)."""
    if message.startswith("run.suite_order"):
        return ("run", "suite_order")
    named = re.match(r"suite (?:name )?'([^']*)'", message)
    return ("tests", named[1]) if named else ()


def _format_validation(error: ValidationError, where: str, lines: dict[tuple[str | int, ...], int]) -> str:
    parts: list[str] = []
    for item in error.errors()[:3]:
        loc = tuple(p for p in item["loc"] if p not in ("function-after", "function-before"))
        dotted = ".".join(str(p) for p in loc if not str(p).startswith(("function-", "constrained-")))
        message = item["msg"].removeprefix("Value error, ")
        line = _line_for(loc or _loc_in_message(message), lines)
        if item["type"] == "extra_forbidden":
            message = "unknown key (not allowed here)"
        elif item["type"] == "missing":
            message = "required key is missing"
        field_text = f"{dotted}: " if dotted else ""
        line_text = f" (line {line})" if line else ""
        parts.append(f"{field_text}{message}{line_text}")
    more = len(error.errors()) - len(parts)
    suffix = f" (+{more} more)" if more > 0 else ""
    return f"{where}: invalid profile: {'; '.join(parts)}{suffix}"


def parse_profile(text: str, where: str = "profile") -> Profile:
    """Validate profile text; raise `ProfileError` with a one-line message."""
    try:
        loader = _Loader(text)  # checks every character at once
    except yaml.reader.ReaderError as exc:
        at_line = text[: exc.position].count("\n") + 1
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        msg = f"{where}: YAML error at line {at_line}: the control character U+{char:04X} is not allowed"
        raise ProfileError(msg) from None
    try:
        node = loader.get_single_node()
        if node is None:
            msg = f"{where}: the profile is empty"
            raise ProfileError(msg)
        lines: dict[tuple[str | int, ...], int] = {}
        _lines_of(node, (), lines)
        data = loader.construct_document(node)
    except _LoaderError as exc:
        msg = f"{where}: {exc}"
        raise ProfileError(msg) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        msg = f"{where}: YAML syntax error{line}: {problem}"
        raise ProfileError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"{where}: YAML error: {exc}"
        raise ProfileError(msg) from None
    except RecursionError:
        msg = f"{where}: the profile is nested too deeply"
        raise ProfileError(msg) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "empty"
        msg = f"{where}: the profile must be a mapping (got {kind})"
        raise ProfileError(msg)
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_format_validation(exc, where, lines)) from None
    except RecursionError:
        msg = f"{where}: the profile is nested too deeply"
        raise ProfileError(msg) from None


def load_profile(path: Path) -> LoadedProfile:
    """Read and validate a profile file."""
    where = str(path)
    try:
        if path.is_dir():
            msg = f"{where}: is a directory, not a profile file"
            raise ProfileError(msg)
        raw = read_regular(path, MAX_PROFILE_BYTES)  # a FIFO or /dev/zero is refused, not read
    except FileNotFoundError:
        msg = (
            f"{where}: profile not found: write one with `qaagent init` (it detects the project's "
            "suites), or publish result files written earlier with `--files GLOB`"
        )
        raise ProfileError(msg) from None
    except FileTooLargeError as exc:
        msg = f"{where}: the profile {exc.strerror}; at most {MAX_PROFILE_BYTES} are read"
        raise ProfileError(msg) from None
    except NotRegularFileError as exc:
        msg = f"{where}: the profile {exc.strerror}"
        raise ProfileError(msg) from None
    except OSError as exc:
        msg = f"{where}: cannot read the profile: {exc.strerror or exc}"
        raise ProfileError(msg) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        msg = f"{where}: the profile is not UTF-8 (bad byte at line {line})"
        raise ProfileError(msg) from None
    if "\x00" in text:
        msg = f"{where}: the profile contains a NUL byte (is it a binary file?)"
        raise ProfileError(msg)
    profile = parse_profile(text, where)
    return LoadedProfile(profile=profile, path=path.resolve(), sha256=hashlib.sha256(raw).hexdigest())
