"""The one merged JUnit report of a run, streamed to disk one element at a time.

Why not build a tree: a large project produces hundreds of thousands of test
cases; an ElementTree (or the `junit-xml` package, which also cannot express
flaky tests and fails the schema — see docs/decisions.md) holds all of them in
memory. Here each case is read from the suite's `CaseStore` and written at
once, so memory stays flat. The markup is what the standard library's
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
XML-illegal characters); captured output, messages and details are cut to
`max_output` UTF-8 bytes with a marker that says how much was cut. Apart from
`time` and `timestamp`, the same run content always gives the same bytes.
"""

from __future__ import annotations

import math
import re
import shlex
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from qaagent.files import atomic_open
from qaagent.junit.dialects import WRITTEN_BY
from qaagent.text import clean_text, format_time, truncate

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from qaagent.results import Counts, Rerun, RunResult, SuiteResult, TestCase

    #: the redactor's `redact`: text in, text with every secret masked out
    Redact = Callable[[str], str]

DEFAULT_MAX_OUTPUT = 65536
_CACHE_SIZE = 4096
_INDENT_SUITE = "\n  "
_INDENT_PROPS = "\n    "
_INDENT_CASE = "\n    "
_INDENT_CHILD = "\n      "

#: test cases joined into one write
_BATCH = 256
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


class _Writer:
    """Holds the output and the text pipeline (redact → clean → truncate).

    The markup is built as strings (what `XMLGenerator` with
    ``short_empty_elements=True`` would write, byte for byte: same escaping,
    same quote choice, ``<tag/>`` for empty elements), one string per test
    case: the generator's per-call overhead was a quarter of the write time.
    """

    def __init__(
        self,
        write: Callable[[str], object],
        redact: Redact,
        max_output: int,
        on_case: Callable[[TestCase], None] | None,
        bundle_dir: Path | None = None,
    ) -> None:
        self.write = write
        self.redact = redact
        self.max_output = max_output
        self.on_case = on_case
        self.bundle_dir = str(bundle_dir) if bundle_dir is not None else None
        #: cleaned classnames, files and other short values that repeat from case to case
        self._cache: dict[str, str] = {}

    def text(self, value: str) -> str:
        """Redacted, cleaned, truncated text."""
        if not value:
            return value
        return truncate(clean_text(self.redact(value)), self.max_output)

    def repeated(self, value: str) -> str:
        """Like `text`, memoised and already quoted: for values that repeat across cases (classname, file)."""
        cached = self._cache.get(value)
        if cached is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            cached = self._cache[value] = quote_attr(self.text(value))
        return cached

    def totals(self, counts: Counts) -> dict[str, str]:
        return {
            "tests": str(counts.total),
            "failures": str(counts.failed),
            "errors": str(counts.errors),
            "skipped": str(counts.skipped),
        }

    def suite(self, suite: SuiteResult) -> None:
        write = self.write
        attrs = {"name": self.text(suite.name), **self.totals(suite.counts)}
        attrs["time"] = format_time(suite.duration)
        stamp = _timestamp(suite.started_at)
        if stamp is not None:
            attrs["timestamp"] = stamp
        write(_INDENT_SUITE + _start("testsuite", attrs) + ">")
        self.properties(suite)
        on_case = self.on_case
        case_markup = self.case
        batch: list[str] = []
        for case in suite.cases:
            batch.append(case_markup(case))
            if on_case is not None:
                on_case(case)
            if len(batch) >= _BATCH:
                write("".join(batch))
                batch = []
        write("".join(batch))
        write(_INDENT_SUITE + "</testsuite>")

    def command(self, argv: Sequence[str]) -> str:
        """The command line, with this run's bundle folder as `$BUNDLE` so runs compare equal."""
        text = shlex.join(argv)
        return text.replace(self.bundle_dir, "$BUNDLE") if self.bundle_dir else text

    def properties(self, suite: SuiteResult) -> None:
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
        self.write("".join(parts))

    def case(self, case: TestCase) -> str:
        """The markup of one test case, starting with its indentation."""
        text = self.text
        start = (
            f"{_INDENT_CASE}<testcase name={quote_attr(text(case.name))}"
            f" classname={self.repeated(case.classname)}"
            f' time="{format_time(case.duration)}"'
        )
        if case.file:
            start += " file=" + self.repeated(case.file)
        if case.line is not None and case.line >= 1:
            start += f' line="{case.line}"'
        if case.status == "passed" and not (case.reruns or case.stdout or case.stderr):
            return start + "/>"
        parts = [start, ">"]
        tag = _RESULT_TAG.get(case.status)
        if tag is not None:
            parts.append(_INDENT_CHILD)
            parts.append(_element(tag, self._result_attrs(case.message, case.type), text(case.details)))
        flaky = case.status == "passed"
        for rerun in case.reruns:
            parts.append(_INDENT_CHILD)
            parts.append(self.rerun(_RERUN_TAG[flaky, rerun.status], rerun))
        if case.stdout:
            parts.append(_INDENT_CHILD)
            parts.append(_element("system-out", {}, text(case.stdout)))
        if case.stderr:
            parts.append(_INDENT_CHILD)
            parts.append(_element("system-err", {}, text(case.stderr)))
        parts.append(_INDENT_CASE + "</testcase>")
        return "".join(parts)

    def _result_attrs(self, message: str, type_: str) -> dict[str, str]:
        attrs: dict[str, str] = {}
        if message:
            attrs["message"] = self.text(message)
        if type_:
            attrs["type"] = self.text(type_)
        return attrs

    def rerun(self, tag: str, rerun: Rerun) -> str:
        attrs = self._result_attrs(rerun.message, rerun.type)
        # `type` is required on Surefire's rerun elements
        attrs.setdefault("type", "failure" if rerun.status == "failed" else "error")
        children = [
            _element(child, {}, self.text(body))
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


def write_merged_junit(
    run: RunResult,
    out: Path,
    *,
    redact: Redact,
    max_output: int = DEFAULT_MAX_OUTPUT,
    on_case: Callable[[TestCase], None] | None = None,
    bundle_dir: Path | None = None,
) -> None:
    """Write the merged report of `run` to `out` atomically (temp file + rename).

    Every text passes `redact` (the bundle's redactor) before it is cleaned and
    cut. `on_case`, if given, sees every case in report order while it is
    written (the evidence bundle uses it to avoid a second pass over large stores).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out) as handle:
        writer = _Writer(handle.write, redact, max_output, on_case, bundle_dir)
        attrs = {
            "name": writer.text(run.project),
            **writer.totals(run.counts),
            "time": format_time(run.duration),
        }
        handle.write('<?xml version="1.0" encoding="utf-8"?>\n' + _start("testsuites", attrs) + ">")
        for suite in run.suites:
            writer.suite(suite)
        handle.write("\n</testsuites>\n")
