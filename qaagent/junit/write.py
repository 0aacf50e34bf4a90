"""The one merged JUnit report of a run, streamed to disk one element at a time.

Why not build a tree: a large project produces hundreds of thousands of test
cases; an ElementTree (or the `junit-xml` package, which also cannot express
flaky tests and fails the schema — see docs/decisions.md) holds all of them in
memory. Here `MergedJUnit` is one writer of the one pass over the run
(`qaagent.stream`): each case arrives once, its text already redacted and
cleaned, and is written at once, so memory stays flat. The markup is what the standard library's
`XMLGenerator` writes, byte for byte (same escaping and quoting), built with a
few string operations per case instead of a dozen method calls: that halved
the write time of 100,000 cases (docs/benchmarks.md).

The document follows `schemas/junit-qaagent.xsd`, qaagent's own schema (the
JUnit dialect of Jenkins' junit-10.xsd plus `file` and `line` on test cases and
`skipped` on `testsuites`, as strict as this writer). Each testsuite's
properties start with ``written_by=qaagent``, so that reading the report back
(merge, report) takes its 1-based lines and its identities as written. Retries follow the
Maven Surefire convention that Jenkins, GitLab and the common GitHub actions
read: a test that passed on a retry carries one `flakyFailure`/`flakyError`
per earlier failed attempt; a test that never passed carries its final
`failure`/`error` plus one `rerunFailure`/`rerunError` per other attempt.

Every attribute and text is redacted (secrets) and cleaned (ANSI escapes,
XML-illegal characters) by `qaagent.stream.CaseText`; captured output, messages
and details are cut to `max_output` UTF-8 bytes with a marker that says how much
was cut. Apart from `time` and `timestamp`, the same run content always gives the
same bytes.
"""

from __future__ import annotations

import math
import re
import shlex
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from qaagent.files import StreamedFile
from qaagent.junit.dialects import WRITTEN_BY
from qaagent.stream import CaseText, stream_run
from qaagent.text import format_time, truncate

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from qaagent.counts import Counts
    from qaagent.results import SuiteResult, TestCase
    from qaagent.run_result import RunResult
    from qaagent.stream import Redact, ReportCase, ReportRerun

DEFAULT_MAX_OUTPUT = 65536
_CACHE_SIZE = 4096
_INDENT_SUITE = "\n  "
_INDENT_PROPS = "\n    "
_INDENT_CASE = "\n    "
_INDENT_CHILD = "\n      "

_RESULT_TAG = {"failed": "failure", "error": "error", "skipped": "skipped"}
_RERUN_TAG = {
    (True, "failed"): "flakyFailure",
    (True, "error"): "flakyError",
    (False, "failed"): "rerunFailure",
    (False, "error"): "rerunError",
}


def _timestamp(epoch: float) -> str | None:
    if epoch <= 0 or not math.isfinite(epoch):
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")


_ATTR_SPECIAL = re.compile('[&<>"\n\r\t]')
_TEXT_SPECIAL = re.compile("[&<>]")


def quote_attr(value: str) -> str:
    """An attribute value escaped and quoted exactly as `xml.sax.saxutils.quoteattr` does it."""
    if _ATTR_SPECIAL.search(value) is None:
        return f'"{value}"'
    value = (
        value.replace("&", "&amp;")
        .replace(">", "&gt;")
        .replace("<", "&lt;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
        .replace("\t", "&#9;")
    )
    if '"' in value:
        if "'" in value:
            return '"' + value.replace('"', "&quot;") + '"'
        return "'" + value + "'"
    return '"' + value + '"'


def escape_text(value: str) -> str:
    """Character data escaped exactly as `xml.sax.saxutils.escape` does it."""
    if _TEXT_SPECIAL.search(value) is None:
        return value
    return value.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


def _start(tag: str, attrs: dict[str, str]) -> str:
    """The start tag (without its closing ``>`` or ``/>``)."""
    return "<" + tag + "".join([f" {name}={quote_attr(value)}" for name, value in attrs.items()])


def _element(tag: str, attrs: dict[str, str], body: str = "") -> str:
    """One element with optional text content (empty: ``<tag/>``)."""
    if body:
        return f"{_start(tag, attrs)}>{escape_text(body)}</{tag}>"
    return _start(tag, attrs) + "/>"


class MergedJUnit:
    """The merged report, a `qaagent.stream.CaseWriter`: one `<testsuite>` per suite, in order.

    The markup is built as strings (what `XMLGenerator` with
    ``short_empty_elements=True`` would write, byte for byte: same escaping,
    same quote choice, ``<tag/>`` for empty elements), one string per test
    case: the generator's per-call overhead was a quarter of the write time.
    """

    def __init__(
        self, out: StreamedFile, text: CaseText, *, bundle_dir: Path | None = None, name: str = "junit.xml"
    ) -> None:
        self.out = out
        self.files: tuple[str, ...] = (name,)
        self.text = text.cut
        self.max_output = text.max_output
        self.bundle_dir = str(bundle_dir) if bundle_dir is not None else None
        #: quoted classnames and files, which repeat from case to case
        self._cache: dict[str, str] = {}

    def repeated(self, value: str) -> str:
        """`value` (already cleaned) cut and quoted, memoised: classnames and files repeat."""
        cached = self._cache.get(value)
        if cached is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            cached = self._cache[value] = quote_attr(truncate(value, self.max_output))
        return cached

    @staticmethod
    def totals(counts: Counts) -> dict[str, str]:
        """The count attributes of `<testsuites>` and `<testsuite>`."""
        return {
            "tests": str(counts.total),
            "failures": str(counts.failed),
            "errors": str(counts.errors),
            "skipped": str(counts.skipped),
        }

    # -- CaseWriter ------------------------------------------------------------------------------

    def begin(self, run: RunResult, manifest: Mapping[str, Any]) -> None:  # noqa: ARG002 - the CaseWriter protocol
        """The XML declaration and `<testsuites>` with the run's totals."""
        attrs = {"name": self.text(run.project), **self.totals(run.counts), "time": format_time(run.duration)}
        self.out.write('<?xml version="1.0" encoding="utf-8"?>\n' + _start("testsuites", attrs) + ">")

    def begin_suite(self, suite: SuiteResult) -> None:
        """`<testsuite>` and its properties."""
        attrs = {"name": self.text(suite.name), **self.totals(suite.counts)}
        attrs["time"] = format_time(suite.duration)
        stamp = _timestamp(suite.started_at)
        if stamp is not None:
            attrs["timestamp"] = stamp
        self.out.write(_INDENT_SUITE + _start("testsuite", attrs) + ">")
        self.properties(suite)

    def cases(self, batch: Sequence[ReportCase]) -> None:
        """The next test cases."""
        case = self.case
        self.out.write("".join([case(item) for item in batch]))

    def end_suite(self, suite: SuiteResult) -> None:  # noqa: ARG002 - the CaseWriter protocol
        """`</testsuite>`."""
        self.out.write(_INDENT_SUITE + "</testsuite>")

    def end(self) -> None:
        """`</testsuites>`, and the file replaces its target."""
        self.out.write("\n</testsuites>\n")
        self.digest = self.out.close()

    def abort(self) -> None:
        """Remove the half-written file."""
        self.out.abort()

    # -- markup ----------------------------------------------------------------------------------

    def command(self, argv: Sequence[str]) -> str:
        """The command line, with this run's bundle folder as `$BUNDLE` so runs compare equal."""
        text = shlex.join(argv)
        return text.replace(self.bundle_dir, "$BUNDLE") if self.bundle_dir else text

    def properties(self, suite: SuiteResult) -> None:
        """The suite's `<properties>`: runner, attempts, return code, command, timeout, problems."""
        props = [
            # says "written by qaagent": a reader takes lines (1-based) and identities as written
            WRITTEN_BY,
            ("runner", suite.runner),
            ("attempts", str(len(suite.attempts))),
            ("returncode", "" if suite.returncode is None else str(suite.returncode)),
            ("command", self.command(suite.command)),
            ("timed_out", "true" if suite.timed_out else "false"),
        ]
        if suite.error:
            props.append(("error", suite.error))
        if suite.skipped_reason:
            props.append(("skipped_reason", suite.skipped_reason))
        parts = [_INDENT_PROPS, "<properties>"]
        for name, value in props:
            parts.append(_INDENT_CHILD)
            parts.append(_element("property", {"name": name, "value": self.text(value)}))
        parts.append(_INDENT_PROPS + "</properties>")
        self.out.write("".join(parts))

    def case(self, item: ReportCase) -> str:
        """The markup of one test case, starting with its indentation."""
        case = item.case
        limit = self.max_output
        start = (
            f"{_INDENT_CASE}<testcase name={quote_attr(truncate(item.name, limit))}"
            f" classname={self.repeated(item.classname)}"
            f' time="{format_time(case.duration)}"'
        )
        if item.file:
            start += " file=" + self.repeated(item.file)
        if case.line is not None and case.line >= 1:
            start += f' line="{case.line}"'
        if case.status == "passed" and not (item.reruns or item.stdout or item.stderr):
            return start + "/>"
        parts = [start, ">"]
        tag = _RESULT_TAG.get(case.status)
        if tag is not None:
            parts.append(_INDENT_CHILD)
            message = truncate(item.message, limit)
            parts.append(_element(tag, _result_attrs(message, item.type), item.details))
        flaky = case.status == "passed"
        for rerun in item.reruns:
            parts.append(_INDENT_CHILD)
            parts.append(_rerun(_RERUN_TAG[flaky, rerun.status], rerun))
        if item.stdout:
            parts.append(_INDENT_CHILD)
            parts.append(_element("system-out", {}, item.stdout))
        if item.stderr:
            parts.append(_INDENT_CHILD)
            parts.append(_element("system-err", {}, item.stderr))
        parts.append(_INDENT_CASE + "</testcase>")
        return "".join(parts)


def _result_attrs(message: str, type_: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    if message:
        attrs["message"] = message
    if type_:
        attrs["type"] = type_
    return attrs


def _rerun(tag: str, rerun: ReportRerun) -> str:
    attrs = _result_attrs(rerun.message, rerun.type)
    # `type` is required on Surefire's rerun elements
    attrs.setdefault("type", "failure" if rerun.status == "failed" else "error")
    children = [
        _element(child, {}, body)
        for child, body in (
            ("stackTrace", rerun.details),
            ("system-out", rerun.stdout),
            ("system-err", rerun.stderr),
        )
        if body
    ]
    if not children:
        return _start(tag, attrs) + "/>"
    return f"{_start(tag, attrs)}>{''.join(children)}</{tag}>"


class _OnCase:
    """A `CaseWriter` that only hands each case to a callback (`write_merged_junit`'s `on_case`)."""

    files: tuple[str, ...] = ()

    def __init__(self, on_case: Callable[[TestCase], None]) -> None:
        self.on_case = on_case

    def begin(self, run: RunResult, manifest: Mapping[str, Any]) -> None:
        """Nothing before the cases."""

    def begin_suite(self, suite: SuiteResult) -> None:
        """Nothing per suite."""

    def cases(self, batch: Sequence[ReportCase]) -> None:
        """Each case to the callback."""
        for item in batch:
            self.on_case(item.case)

    def end_suite(self, suite: SuiteResult) -> None:
        """Nothing per suite."""

    def end(self) -> None:
        """Nothing after the cases."""

    def abort(self) -> None:
        """Nothing to remove."""


def write_merged_junit(
    run: RunResult,
    out: Path,
    *,
    redact: Redact,
    max_output: int = DEFAULT_MAX_OUTPUT,
    on_case: Callable[[TestCase], None] | None = None,
    bundle_dir: Path | None = None,
) -> None:
    """Write the merged report of `run` alone to `out` atomically (temp file + rename).

    A pass of its own over the run (the bundle writes it in the one pass with the
    other reports). Every text passes `redact` before it is cleaned and cut;
    `on_case`, if given, sees every case in report order while it is written.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    text = CaseText(redact, max_output)
    writers: list[Any] = [MergedJUnit(StreamedFile(out), text, bundle_dir=bundle_dir)]
    if on_case is not None:
        writers.append(_OnCase(on_case))
    failures = stream_run(run, text, writers, {})
    if failures:
        raise OSError(failures[0].reason)
