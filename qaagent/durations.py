"""Recorded test durations: how long each suite and each test file took last time.

Schedulers need them (longest-first start order, shard balance); they come from
what earlier runs already left behind:

- an evidence bundle (``manifest.json`` suite times + ``tests.jsonl`` case times),
- a JUnit XML file (e.g. a merged report: ``<testsuite name=… time=…>`` and
  each test case's ``file``/``classname``/``time``),
- a ``qaagent durations`` JSON file (`DURATIONS_FORMAT`), small enough to
  cache or commit.

`auto_source` picks the newest finished, unsharded bundle in the evidence dir.
Anything that is none of these kinds is a `UsageError` (exit 2): a schedule
silently built from nothing would hide the mistake.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

from qaagent.errors import UsageError
from qaagent.evidence.read import RUN_ID_RE, SHARED_DURATIONS, BundleError, iter_records, read_manifest

DURATIONS_FORMAT = "qaagent-durations"
DURATIONS_VERSION = 1
#: a `qaagent durations` file here is used without `--durations-from` (matrix jobs download it)
SHARED_FILE = SHARED_DURATIONS
#: JUnit or JSON files larger than this are refused (bytes)
MAX_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class SuiteDurations:
    """What one suite took: in total, per test file, and per classname of cases without a file."""

    total: float | None = None  #: seconds of its processes, all attempts (None: not recorded)
    files: Mapping[str, float] = field(default_factory=dict)  #: repo-relative path -> seconds
    classes: Mapping[str, float] = field(default_factory=dict)  #: classname -> seconds (no file)
    #: processes its first attempt ran in (a split suite: one per batch); the start-up estimate's divisor
    processes: int = 1

    def as_json(self) -> dict[str, Any]:
        """The JSON shape of one suite (``processes`` only when it was split)."""
        shape: dict[str, Any] = {
            "duration": None if self.total is None else round(self.total, 3),
            "files": {k: round(v, 3) for k, v in sorted(self.files.items())},
            "classes": {k: round(v, 3) for k, v in sorted(self.classes.items())},
        }
        if self.processes > 1:
            shape["processes"] = self.processes
        return shape


@dataclass(frozen=True)
class Durations:
    """Durations per suite and where they came from."""

    source: str
    suites: Mapping[str, SuiteDurations] = field(default_factory=dict)

    def suite_total(self, name: str) -> float | None:
        """A suite's recorded time, or the sum of its cases when only those are known."""
        suite = self.suites.get(name)
        if suite is None:
            return None
        if suite.total is not None:
            return suite.total
        if suite.files or suite.classes:
            return sum(suite.files.values()) + sum(suite.classes.values())
        return None

    def as_json(self) -> dict[str, Any]:
        """The `qaagent durations` file content."""
        return {
            "format": DURATIONS_FORMAT,
            "version": DURATIONS_VERSION,
            "source": self.source,
            "suites": {name: s.as_json() for name, s in sorted(self.suites.items())},
        }


NO_DURATIONS = Durations(source="")


class _Collector:
    """Accumulates case times per suite, per file or classname."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.files: dict[str, dict[str, float]] = {}
        self.classes: dict[str, dict[str, float]] = {}
        self.processes: dict[str, int] = {}

    def case(self, suite: str, file: str | None, classname: str, seconds: float) -> None:
        self.files.setdefault(suite, {})
        self.classes.setdefault(suite, {})
        if file:
            bucket = self.files[suite]
            bucket[file] = bucket.get(file, 0.0) + seconds
        elif classname:
            bucket = self.classes[suite]
            bucket[classname] = bucket.get(classname, 0.0) + seconds

    def suite_total(self, suite: str, seconds: float) -> None:
        self.totals[suite] = self.totals.get(suite, 0.0) + seconds

    def build(self, source: str) -> Durations:
        names = dict.fromkeys([*self.totals, *self.files, *self.classes])
        return Durations(
            source,
            {
                name: SuiteDurations(
                    self.totals.get(name),
                    self.files.get(name, {}),
                    self.classes.get(name, {}),
                    self.processes.get(name, 1),
                )
                for name in names
            },
        )


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _why(exc: Exception) -> str:
    """A parse error in a few words (a RecursionError's own text names Python internals)."""
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc)


# -- evidence bundle -------------------------------------------------------------------------------


def from_bundle(bundle: Path) -> Durations:
    """Durations of a finished evidence bundle (a UsageError when it is not one)."""
    manifest = read_manifest(bundle)
    collector = _Collector()
    for entry in manifest.suites:
        # A split suite's `duration` is its wall time; its processes' time is what the work took.
        seconds = _seconds(entry.process_time if entry.process_time is not None else entry.duration)
        if seconds is not None and entry.status != "pending":
            collector.suite_total(entry.name, seconds)
        if entry.batches:
            collector.processes[entry.name] = len(entry.batches)
    for record in iter_records(bundle):
        collector.case(record.suite, record.file, record.classname, _seconds(record.duration) or 0.0)
    return collector.build(f"evidence bundle {bundle}")


# -- JUnit -----------------------------------------------------------------------------------------


class _JUnitHandler:
    def __init__(self, collector: _Collector, default_suite: str) -> None:
        self.collector = collector
        self.default_suite = default_suite
        self.suites: list[str] = []
        self.root_seen = False
        self.depth = 0

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > 64:  # noqa: PLR2004 - JUnit is shallow; deeper is hostile
            msg = "elements nested too deeply"
            raise UsageError(msg)
        if not self.root_seen:
            self.root_seen = True
            if tag not in ("testsuites", "testsuite"):
                raise UsageError(f"the root element is <{tag[:40]}>, not <testsuites> or <testsuite>")
        if tag == "testsuite":
            name = attrs.get("name") or self.default_suite
            self.suites.append(name)
            # Only the outermost named suites of a merged report are qaagent suites.
            seconds = _seconds(attrs.get("time"))
            if seconds is not None and len(self.suites) == 1:
                self.collector.suite_total(name, seconds)
        elif tag == "testcase":
            suite = self.suites[0] if self.suites else self.default_suite
            self.collector.case(
                suite,
                attrs.get("file") or None,
                attrs.get("classname", ""),
                _seconds(attrs.get("time")) or 0.0,
            )

    def end(self, tag: str) -> None:
        self.depth -= 1
        if tag == "testsuite" and self.suites:
            self.suites.pop()


def _refuse_entities(*_args: object) -> None:
    msg = "the document declares entities; JUnit needs none"
    raise UsageError(msg)


def from_junit(path: Path) -> Durations:
    """Durations of a JUnit XML file; each top-level ``<testsuite>`` is a suite."""
    collector = _Collector()
    handler = _JUnitHandler(collector, default_suite=path.stem)
    parser = expat.ParserCreate()
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    parser.EntityDeclHandler = _refuse_entities
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        with path.open("rb") as handle:
            parser.ParseFile(handle)
    except expat.ExpatError as exc:
        raise UsageError(f"--durations-from {path}: not valid JUnit XML ({exc})") from None
    except UsageError as exc:
        raise UsageError(f"--durations-from {path}: not usable JUnit XML ({exc.message})") from None
    return collector.build(f"JUnit report {path}")


# -- qaagent durations JSON ------------------------------------------------------------------------


def from_json(data: Mapping[str, Any], source: str) -> Durations:
    """Durations from a parsed `qaagent durations` document (a UsageError when malformed)."""
    suites = data.get("suites")
    if data.get("format") != DURATIONS_FORMAT or not isinstance(suites, dict):
        raise UsageError(f"{source}: not a `qaagent durations` file (format {DURATIONS_FORMAT!r} expected)")
    parsed: dict[str, SuiteDurations] = {}
    for name, entry in suites.items():
        if not isinstance(entry, dict):
            raise UsageError(f"{source}: suite {name!r} must be an object")
        maps: list[dict[str, float]] = []
        for key in ("files", "classes"):
            raw = entry.get(key) or {}
            if not isinstance(raw, dict):
                raise UsageError(f"{source}: suites.{name}.{key} must be an object")
            values = {str(k): _seconds(v) for k, v in raw.items()}
            maps.append({k: v for k, v in values.items() if v is not None})
        processes = entry.get("processes", 1)
        if isinstance(processes, bool) or not isinstance(processes, int) or not 1 <= processes <= 100_000:  # noqa: PLR2004
            raise UsageError(f"{source}: suites.{name}.processes must be a whole number from 1")
        parsed[str(name)] = SuiteDurations(_seconds(entry.get("duration")), maps[0], maps[1], processes)
    return Durations(str(data.get("source") or source), parsed)


# -- choosing the source ---------------------------------------------------------------------------


def load_durations(path: Path) -> Durations:
    """Durations from an evidence bundle folder, a JUnit XML file or a `qaagent durations` JSON file."""
    if path.is_dir():
        if not (path / "manifest.json").is_file():
            raise UsageError(
                f"--durations-from {path}: a folder must be an evidence bundle (no manifest.json)"
            )
        return from_bundle(path)
    if not path.is_file():
        raise UsageError(f"--durations-from {path}: no such file or folder")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise UsageError(f"--durations-from {path}: {size} bytes is more than the {MAX_BYTES} byte limit")
    with path.open("rb") as handle:
        head = handle.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return from_junit(path)
    if head.startswith(b"{"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, an int too long
            raise UsageError(f"--durations-from {path}: invalid JSON ({_why(exc)})") from None
        return from_json(data, f"--durations-from {path}")
    kinds = "an evidence bundle, a JUnit XML file or a `qaagent durations` JSON file"
    raise UsageError(f"--durations-from {path}: not {kinds}")


def auto_source(evidence_dir: Path, *, exclude: Path | None = None) -> Path | None:
    """The newest finished bundle of a whole run (not a shard) in `evidence_dir`, if any."""
    if not evidence_dir.is_dir():
        return None
    best: tuple[str, str, Path] | None = None
    for bundle in evidence_dir.iterdir():
        if not bundle.is_dir() or bundle.is_symlink() or not RUN_ID_RE.match(bundle.name):
            continue
        if exclude is not None and bundle.resolve() == exclude.resolve():
            continue
        try:
            manifest = read_manifest(bundle)
        except BundleError:
            continue  # a damaged old bundle gives no history
        if manifest.status in ("running", "cancelled") or manifest.shard:
            continue
        key = (manifest.finished or manifest.started or "", bundle.name, bundle)
        if best is None or key[:2] > best[:2]:
            best = key
    return None if best is None else best[2]


def resolve_durations(
    durations_from: Path | None,
    evidence_dir: Path,
    *,
    history: Callable[[], Durations] | None = None,
) -> Durations:
    """The durations a schedule is built from: the first of these that has any.

    1. `--durations-from` (an override);
    2. ``<evidence-dir>/qaagent-durations.json`` (how matrix jobs share one file
       without a flag: download it there);
    3. the test history (`history`: p50 over the window, see `qaagent.history.live`);
    4. the newest finished whole-run bundle in the evidence dir;
    5. none: the scheduler falls back to counts.
    """
    if durations_from is not None:
        return load_durations(durations_from)
    shared = evidence_dir / SHARED_FILE
    if shared.is_file():
        return load_durations(shared)
    if history is not None:
        recorded = history()
        if recorded.suites:
            return recorded
    source = auto_source(evidence_dir)
    if source is None:
        return NO_DURATIONS
    try:
        return from_bundle(source)
    except UsageError:
        return NO_DURATIONS  # a damaged old bundle must not stop a run; it just gives no history
