"""The one reader of evidence bundles: manifest.json and tests.jsonl as typed, frozen values.

Everything that reads a bundle back — `verify`, `merge`, `report`
(report.html), `durations`, pruning, `qaagent history import` — goes through here, so a bundle is
validated once, the same way, before any of its values is used. A bundle
from another machine (a shard job, a downloaded artifact) is untrusted input.

Models are pydantic v2, frozen, with ``extra="ignore"``: pydantic is already
qaagent's dependency for the profile, it validates nested JSON with messages
that name the field path (``suites.0.attempts.1.number``), and ignoring
unknown keys keeps bundles of newer qaagent versions readable. It reads
``schema_version`` 1, what this version writes (`qaagent.evidence.manifest`);
every field a current bundle has is understood, optional ones may be missing
(a bundle whose run was killed has only the fields written at its start).
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from qaagent.errors import UsageError
from qaagent.evidence.sections import History, Settings, ShardLayout
from qaagent.files import FileTooLargeError, NotRegularFileError, read_regular

MANIFEST = "manifest.json"
#: the records: gzip-compressed since this version; the plain name is what older bundles have
RECORDS = "tests.jsonl.gz"
RECORDS_PLAIN = "tests.jsonl"
#: a records line longer than this (bytes, decompressed) is refused: a 1 MB test name still fits,
#: and a small hostile .gz cannot make one line take gigabytes of memory
MAX_RECORD_LINE = 4 * 1024 * 1024
#: the manifest versions this reader understands
SCHEMA_VERSIONS = (1,)
#: what a run id looks like (`evidence.bundle.make_run_id`); a bundle's folder is named by it
RUN_ID_RE = re.compile(r"^\d{8}_\d{6}Z(?:_shard-\d+of\d+)?(?:-\d+)?\Z")
#: a `qaagent durations` file in the evidence folder is used without `--durations-from`
#: (matrix jobs download it there; `qaagent.durations`)
SHARED_DURATIONS = "qaagent-durations.json"
#: bytes of manifest.json read at most (a manifest of 100,000 files is about 20 MB)
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
#: C0 and C1 controls: no path of a bundle holds one
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def safe_relative(rel: str) -> bool:
    """Whether `rel` is a path inside a bundle: relative, no `..`, no backslash, no control character."""
    pure = PurePosixPath(rel)
    return (
        bool(rel)
        and not pure.is_absolute()
        and ".." not in pure.parts
        and "\\" not in rel
        and not _CONTROL.search(rel)
    )


def _run_id(value: str) -> str:
    if not RUN_ID_RE.match(value):
        msg = f"{value[:80]!r} is not a qaagent run id (like 20250101_120000Z)"
        raise ValueError(msg)
    return value


def _bundle_path(value: str) -> str:
    if not safe_relative(value):
        msg = f"{value[:200]!r} is not a path inside the bundle"
        raise ValueError(msg)
    return value


#: a run id, checked against its pattern (it names a folder when bundles are merged)
RunId = Annotated[str, AfterValidator(_run_id)]
#: a path the bundle lists as one of its files
BundlePath = Annotated[str, AfterValidator(_bundle_path)]


class BundleError(UsageError):
    """A folder that is not a readable evidence bundle (exit 2); the message names what is wrong."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class FileEntry(_Model):
    """One file of the bundle with its checksum."""

    path: BundlePath
    sha256: str
    size: int


class IgnoredEntry(_Model):
    """A match of a suite's result globs that was not read, and why."""

    path: str | None = None
    reason: str = ""


class AttemptEntry(_Model):
    """One attempt of a suite."""

    number: int
    command: tuple[str, ...] = ()
    returncode: int | None = None
    timed_out: bool = False
    cancelled: bool = False
    started: str | None = None
    duration: float = 0.0
    log: str | None = None
    junit_files: tuple[str | None, ...] = ()
    selected: tuple[str, ...] = ()
    ignored_count: int = 0
    ignored_files: tuple[IgnoredEntry, ...] = ()
    log_error: str | None = None


class Counts(_Model):
    """A suite's tallies."""

    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    flaky: int = 0
    xfailed: int = 0
    xpassed: int = 0


class BatchEntry(_Model):
    """One batch of a split suite: its number, its test files and its own attempts (with their logs)."""

    batch: int
    units: tuple[str, ...] = ()
    attempts: tuple[AttemptEntry, ...] = ()


class SuiteEntry(_Model):
    """One suite: only `name` and `status` while the run is still going."""

    name: str
    status: str = "pending"
    runner: str | None = None
    command: tuple[str, ...] = ()
    working_directory: str | None = None
    attempts: tuple[AttemptEntry, ...] = ()
    returncode: int | None = None
    timed_out: bool = False
    counts: Counts = Counts()
    duration: float | None = None
    #: a split suite: its processes' time together (`duration` is its wall time)
    process_time: float | None = None
    error: str | None = None
    skipped_reason: str | None = None
    files: tuple[str, ...] = ()
    batches: tuple[BatchEntry, ...] = ()  #: a split suite's batches


class GitInfo(_Model):
    """The tested commit."""

    sha: str | None = None
    ref: str | None = None
    repository: str | None = None


class CiInfo(_Model):
    """The CI run's coordinates (`qaagent.evidence.manifest.ci_info`); absent outside Actions."""

    provider: str | None = None
    run_id: str | None = None
    run_attempt: str | None = None
    job: str | None = None
    workflow: str | None = None
    actor: str | None = None
    server_url: str | None = None


class HostInfo(_Model):
    """The machine that ran the tests (`qaagent.evidence.manifest.host_info`)."""

    hostname: str | None = None
    platform: str | None = None
    python: str | None = None


class Totals(Counts):
    """The run's counts, wall time and the suites' time together (absent while the run goes on)."""

    duration: float = 0.0  #: wall time of the run (seconds)
    suite_time: float = 0.0  #: the suites' durations added up (seconds)


class ToolInfo(_Model):
    """The program that wrote the bundle."""

    name: str = ""
    version: str | None = None


class ProfileInfo(_Model):
    """The profile the run read."""

    path: str | None = None
    sha256: str | None = None


class RunningProcess(_Model):
    """Which process on which machine writes a bundle."""

    pid: int
    host: str


class MissingEntry(_Model):
    """A report the run could not write, and why (the manifest's `missing`)."""

    path: str
    reason: str = ""


class Manifest(_Model):
    """manifest.json; its `settings` and `history` sections are typed too (`qaagent.evidence.sections`)."""

    schema_version: int = 1
    run_id: RunId
    status: str
    tool: ToolInfo = ToolInfo()
    started: str | None = None
    finished: str | None = None
    project: str = ""
    git: GitInfo = GitInfo()
    ci: CiInfo | None = None
    #: the allowlisted environment variables of the run (`qaagent.evidence.manifest.environment`)
    environment: dict[str, str] = {}
    host: HostInfo | None = None
    #: the qaagent process writing the bundle while it runs (pruning spares it while it lives)
    process: RunningProcess | None = None
    profile: ProfileInfo = ProfileInfo()
    settings: Settings = Settings()
    shard: str | None = None
    suites: tuple[SuiteEntry, ...] = ()
    totals: Totals | None = None
    not_run: tuple[str, ...] = ()
    fail_on: tuple[str, ...] = ()
    files: tuple[FileEntry, ...] = ()
    #: reports the run could not write
    missing: tuple[MissingEntry, ...] = ()
    #: the comparison with the base branch, when the run had one to show
    history: History | None = None

    def suite(self, name: str) -> SuiteEntry | None:
        """The entry of suite `name`, if the run has one."""
        return next((s for s in self.suites if s.name == name), None)

    @property
    def layout(self) -> ShardLayout | None:
        """The recorded shard split (`settings.shard`), None for an unsharded run."""
        return self.settings.shard


class Record(_Model):
    """One line of tests.jsonl (strict: a number written as text, or a boolean as a number, is refused)."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    id: str = ""
    suite: str = ""
    classname: str = ""
    name: str = ""
    file: str | None = None
    line: int | None = None
    status: str = "error"
    attempts: int = 1
    flaky: bool = False
    duration: float = 0.0
    message: str = ""
    category: str | None = None
    artifacts: tuple[str, ...] = ()
    #: "xfail", "xpass" or None; another value (a newer qaagent's) is kept as text, not refused
    outcome: str | None = None


@dataclass(frozen=True)
class OpenedManifest:
    """manifest.json as the one door read it: the document as written, and its validated model."""

    #: the JSON object itself (a copy of its own: `record_file` rewrites it)
    document: dict[str, Any]
    manifest: Manifest


def open_manifest(bundle_dir: Path) -> OpenedManifest:
    """The one door to a bundle's manifest.json: opened, size-limited, parsed and validated.

    The manifest must be a regular file (not a link, FIFO or device) of at most
    `MAX_MANIFEST_BYTES`: a planted FIFO cannot hang a reader, nor `/dev/zero` fill its
    memory. Then it must be a JSON object of a `schema_version` this reader knows that
    validates as a `Manifest`. A `BundleError` otherwise, whose message is verify's
    ``missing: manifest.json`` or ``invalid: manifest.json …``.
    """
    path = bundle_dir / MANIFEST
    try:
        if path.is_symlink():
            raise BundleError(f"invalid: {MANIFEST} is a symbolic link, not a file")
        raw = read_regular(path, MAX_MANIFEST_BYTES)
        document = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise BundleError(f"missing: {MANIFEST}") from None
    except FileTooLargeError as exc:
        raise BundleError(
            f"invalid: {MANIFEST} {exc.strerror}, more than the {MAX_MANIFEST_BYTES} byte limit"
        ) from None
    except NotRegularFileError as exc:
        raise BundleError(f"invalid: {MANIFEST} {exc.strerror}") from None
    except (OSError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError, an int too long
        raise BundleError(f"invalid: {MANIFEST} ({exc.__class__.__name__}: {exc})") from None
    except RecursionError:  # json's answer to a hostile, deeply nested document
        raise BundleError(f"invalid: {MANIFEST} is nested too deeply to be a manifest") from None
    return OpenedManifest(document, _validated(document, f"invalid: {MANIFEST}"))


def parse_manifest(document: Any, where: Path) -> Manifest:
    """Validate a manifest held in memory (a run's own, before it is written); a `BundleError` if not."""
    return _validated(document, f"{where}: {MANIFEST}")


def _validated(document: Any, what: str) -> Manifest:
    if not isinstance(document, dict):
        raise BundleError(f"{what} is not a qaagent evidence manifest (not a JSON object)")
    version = document.get("schema_version", 1)
    if version not in SCHEMA_VERSIONS:
        raise BundleError(f"{what} has schema_version {version!r}; this qaagent reads 1")
    try:
        return Manifest.model_validate(document)
    except ValidationError as exc:
        raise BundleError(f"{what} is not a qaagent evidence manifest ({_first(exc)})") from None


def read_manifest(bundle_dir: Path) -> Manifest:
    """The bundle's manifest, validated; a `BundleError` when it is missing, unreadable or malformed."""
    try:
        return open_manifest(bundle_dir).manifest
    except BundleError as exc:
        raise BundleError(f"{bundle_dir}: not a readable evidence bundle ({exc.message})") from None


def records_path(bundle_dir: Path) -> Path | None:
    """The bundle's records file (tests.jsonl.gz, or an older bundle's tests.jsonl); None without one."""
    for name in (RECORDS, RECORDS_PLAIN):
        path = bundle_dir / name
        if path.exists() or path.is_symlink():
            return path
    return None


def record_lines(path: Path) -> Iterator[bytes | None]:
    """The lines of a records file (gzip or plain), each at most `MAX_RECORD_LINE` bytes.

    A longer line is yielded as None (the rest of it is skipped); a file that is not
    the gzip it is named (or ends early) is an `OSError`.
    """
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        while line := handle.readline(MAX_RECORD_LINE + 1):
            if len(line) > MAX_RECORD_LINE and not line.endswith(b"\n"):
                while (rest := handle.readline(MAX_RECORD_LINE)) and not rest.endswith(b"\n"):
                    pass
                yield None
                continue
            yield line


def iter_records(bundle_dir: Path) -> Iterator[Record]:
    """The records of tests.jsonl.gz (or tests.jsonl) in order (none when there is no such file).

    A line that is not a valid record is a `BundleError` naming its number: the
    records and the merged JUnit are read side by side, so one cannot be skipped.
    """
    path = records_path(bundle_dir)
    if path is None or path.is_symlink() or not path.is_file():  # never a link, FIFO or device
        return
    number = 0
    try:
        for number, line in enumerate(record_lines(path), 1):
            if line is None:
                raise BundleError(
                    f"{bundle_dir}: {path.name} line {number}: longer than {MAX_RECORD_LINE} bytes"
                )
            if not line.strip():
                continue
            try:
                yield Record.model_validate_json(line)
            except ValidationError as exc:
                raise BundleError(f"{bundle_dir}: {path.name} line {number}: {_first(exc)}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise BundleError(f"{bundle_dir}: {path.name} cannot be read after line {number} ({exc})") from None


def _first(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "the document"
    return f"{where}: {error['msg']}"


# -- for ``qaagent history import``: a records file's own checks, the manifest as its document ------


def regular_file(path: Path, limit: int, what: str) -> int:
    """`path`'s size; a `BundleError` when it is a symbolic link, missing, or over `limit` bytes."""
    if path.is_symlink():
        raise BundleError(f"{path}: {what} is a symbolic link; refusing to read it")
    if not path.is_file():
        raise BundleError(f"{path.parent}: not an evidence bundle (no {what})")
    size = path.stat().st_size
    if size > limit:
        raise BundleError(f"{path}: {size} bytes is more than the {limit} byte limit")
    return size
