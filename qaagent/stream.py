"""The one pass over a finished run that feeds every report: each case read once, its text made once.

The merged JUnit, tests.jsonl, summary.md and report.html all show the same cases.
`stream_run` reads each suite's `CaseStore` once (a spilled store is read back from
disk once), turns every case into a `ReportCase` — its untrusted text redacted,
cleaned and cut by `CaseText`, the one text pipeline — and hands it, in report order
and in batches, to every `CaseWriter`. The writers only escape for their own format.

A writer whose file cannot be written (a full disk) is stopped and reported; the
others go on, so a run whose reports cannot all be written still leaves the rest and a
manifest that names what is missing (`qaagent.evidence.bundle`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from qaagent.memo import Memo
from qaagent.text import clean_text, truncate

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    from qaagent.results import SuiteResult, TestCase
    from qaagent.run_result import RunResult

    #: the redactor's `redact`: text in, text with every secret masked out
    Redact = Callable[[str], str]
    #: a diagnostic category for a failed, errored or flaky case
    Categorize = Callable[[TestCase], str]

#: cases handed to the writers at a time (fewer calls per case)
BATCH = 256
#: distinct short values (classnames, files, suites) remembered cleaned
_CACHE_SIZE = 4096
#: long texts (tracebacks, output) up to this many characters are remembered cut: they repeat
_CUT_MEMO_CHARS = 8192


@dataclass(frozen=True, slots=True)
class ReportRerun:
    """One earlier (or later) failed attempt as every report writes it: text cut to `max_output`."""

    status: str
    message: str
    type: str
    details: str
    stdout: str
    stderr: str
    duration: float


class ReportCase:
    """One test case as the reports write it.

    `case` is the runner's value (status, duration, line, attempts, flaky). The
    strings are redacted and cleaned; `name`, `classname`, `suite`, `file` and
    `message` are not cut (each writer cuts what its format needs: the merged JUnit
    to `max_output` bytes, tests.jsonl's message to 1,000 characters); `type`,
    `details`, `stdout`, `stderr` and the reruns are already cut to `max_output`.
    """

    __slots__ = (
        "artifacts",
        "case",
        "category",
        "classname",
        "details",
        "file",
        "index",
        "message",
        "name",
        "reruns",
        "stderr",
        "stdout",
        "suite",
        "type",
    )

    def __init__(  # noqa: PLR0917 - one slot each, positional: built once per case, on the hot path
        self,
        case: TestCase,
        index: int,
        suite: str,
        classname: str,
        name: str,
        file: str | None,
        category: str | None,
        message: str = "",
        type_: str = "",
        details: str = "",
        stdout: str = "",
        stderr: str = "",
        reruns: tuple[ReportRerun, ...] = (),
        artifacts: tuple[str, ...] = (),
    ) -> None:
        self.case = case
        #: 0-based position in the run, in report order (the evidence id's number minus one)
        self.index = index
        self.suite = suite
        self.classname = classname
        self.name = name
        self.file = file
        #: failed, errored or flaky: its diagnostic category; otherwise None
        self.category = category
        self.message = message
        self.type = type_
        self.details = details
        self.stdout = stdout
        self.stderr = stderr
        self.reruns = reruns
        self.artifacts = artifacts


class CaseText:
    """The one text pipeline of the reports: redact, then clean, then (for long fields) cut.

    `redact` is the bundle's redactor; `max_output` the UTF-8 bytes kept of
    captured output, tracebacks and messages. Short values that repeat from case to
    case (suite, classname, file) are remembered.
    """

    def __init__(
        self,
        redact: Redact,
        max_output: int,
        categorize: Categorize | None = None,
        *,
        dropped: Collection[str] = (),
    ) -> None:
        self.redact = redact
        self.max_output = max_output
        self.categorize = categorize
        #: bundle paths of artifacts removed as unredactable: no case links to them
        self.dropped = frozenset(dropped)
        self._cache: dict[str, str] = {}
        self._cut_memo: Memo[str, str] = Memo()

    def clean(self, value: str) -> str:
        """Redacted and cleaned (not cut)."""
        return clean_text(self.redact(value)) if value else value

    def cut(self, value: str) -> str:
        """Redacted, cleaned and cut to `max_output` bytes (remembered for texts that repeat)."""
        if not value:
            return value
        if len(value) > _CUT_MEMO_CHARS:
            return truncate(clean_text(self.redact(value)), self.max_output)
        known = self._cut_memo.get(value)
        if known is None:
            known = self._cut_memo.put(value, truncate(clean_text(self.redact(value)), self.max_output))
        return known

    def repeated(self, value: str) -> str:
        """`clean`, remembered: for values that repeat across cases."""
        cached = self._cache.get(value)
        if cached is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            cached = self._cache[value] = self.clean(value)
        return cached

    def prepare(self, case: TestCase, index: int) -> ReportCase:
        """The case as the reports write it (see `ReportCase`)."""
        repeated = self.repeated
        suite = repeated(case.suite)
        classname = repeated(case.classname)
        file = repeated(case.file) if case.file else None
        name = self.clean(case.name)
        status = case.status
        if status == "passed" and not (
            case.flaky or case.stdout or case.stderr or case.reruns or case.artifacts
        ):
            return ReportCase(case, index, suite, classname, name, file, None, self.clean(case.message))
        category = None
        if (status in ("failed", "error") or case.flaky) and self.categorize is not None:
            category = self.categorize(case)
        cut = self.cut
        return ReportCase(
            case,
            index,
            suite,
            classname,
            name,
            file,
            category,
            self.clean(case.message),
            cut(case.type),
            cut(case.details),
            cut(case.stdout),
            cut(case.stderr),
            tuple(
                ReportRerun(
                    r.status,
                    cut(r.message),
                    cut(r.type),
                    cut(r.details),
                    cut(r.stdout),
                    cut(r.stderr),
                    r.duration,
                )
                for r in case.reruns
            ),
            tuple(self.clean(a) for a in case.artifacts if a not in self.dropped),
        )


class CaseWriter(Protocol):
    """One report fed by `stream_run`: told about the run, each suite and every case, in order."""

    #: the bundle files it writes (relative paths), named in the manifest if it cannot
    files: tuple[str, ...]

    def begin(self, run: RunResult, manifest: Mapping[str, Any]) -> None:
        """Before the first case; `manifest` is what manifest.json will say (files aside)."""

    def begin_suite(self, suite: SuiteResult) -> None:
        """Before the suite's first case."""

    def cases(self, batch: Sequence[ReportCase]) -> None:
        """The next cases, in report order."""

    def end_suite(self, suite: SuiteResult) -> None:
        """After the suite's last case."""

    def end(self) -> None:
        """After the last case: finish the files."""

    def abort(self) -> None:
        """Stop: remove what is half written. Called after one of the others raised `OSError`."""


@dataclass(frozen=True)
class WriterFailure:
    """A writer that could not finish, and why (the `OSError`'s text: `No space left on device`)."""

    writer: CaseWriter
    reason: str


def stream_run(
    run: RunResult, text: CaseText, writers: Sequence[CaseWriter], manifest: Mapping[str, Any]
) -> list[WriterFailure]:
    """Feed every case of `run` to every writer, once, in report order; the writers that failed.

    An `OSError` stops the writer that raised it (it is aborted and reported); the
    others go on. Any other exception is a bug: every writer is aborted and it propagates.
    """
    live = list(writers)
    failed: list[WriterFailure] = []

    def each(call: Callable[[CaseWriter], object]) -> None:
        for writer in list(live):
            try:
                call(writer)
            except OSError as error:
                live.remove(writer)
                _abort(writer)
                failed.append(WriterFailure(writer, error.strerror or str(error)))

    try:
        each(lambda w: w.begin(run, manifest))
        index = 0
        for suite in run.suites:
            each(lambda w, s=suite: w.begin_suite(s))  # type: ignore[misc]
            batch: list[ReportCase] = []
            prepare = text.prepare
            for case in suite.cases:
                batch.append(prepare(case, index))
                index += 1
                if len(batch) >= BATCH:
                    each(lambda w, b=batch: w.cases(b))  # type: ignore[misc]
                    batch = []
            if batch:
                each(lambda w, b=batch: w.cases(b))  # type: ignore[misc]
            each(lambda w, s=suite: w.end_suite(s))  # type: ignore[misc]
        each(lambda w: w.end())
    except BaseException:
        for writer in live:
            _abort(writer)
        raise
    return failed


def _abort(writer: CaseWriter) -> None:
    with contextlib.suppress(OSError):  # removing a half-written file on a broken disk: nothing more to do
        writer.abort()
