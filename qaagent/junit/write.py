"""The one merged JUnit report of a run, streamed to disk one element at a time.

Why not build a tree: a large project produces hundreds of thousands of test
cases; an ElementTree (or the `junit-xml` package, which also cannot express
flaky tests and fails the schema — see docs/decisions.md) holds all of them in
memory. Here each case is read from the suite's `CaseStore` and written at
once with the standard library's `XMLGenerator`, so memory stays flat.

The document follows `schemas/junit-qaagent.xsd` (junit-10.xsd plus `file`
and `line` on test cases and `skipped` on `testsuites`). Retries follow the
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
import shlex
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast
from xml.sax.saxutils import XMLGenerator
from xml.sax.xmlreader import AttributesImpl

from qaagent.evidence.atomic import atomic_open
from qaagent.evidence.redact import Redactor
from qaagent.junit.sanitize import clean_text

if TYPE_CHECKING:
    from collections.abc import Callable
    from io import TextIOBase
    from pathlib import Path

    from qaagent.results import Counts, Rerun, RunResult, SuiteResult, TestCase

DEFAULT_MAX_OUTPUT = 65536
_CACHE_SIZE = 4096
_INDENT_SUITE = "\n  "
_INDENT_PROPS = "\n    "
_INDENT_CASE = "\n    "
_INDENT_CHILD = "\n      "

_NO_ATTRS: AttributesImpl[str] = AttributesImpl({})
_RESULT_TAG = {"failed": "failure", "error": "error", "skipped": "skipped"}
_RERUN_TAG = {
    (True, "failed"): "flakyFailure",
    (True, "error"): "flakyError",
    (False, "failed"): "rerunFailure",
    (False, "error"): "rerunError",
}


def format_time(seconds: float) -> str:
    """Seconds with exactly 3 decimals, never negative, never exponent notation."""
    if not math.isfinite(seconds) or seconds < 0:
        seconds = 0.0
    return f"{seconds:.3f}"


def truncate(text: str, limit: int) -> str:
    """`text` cut to about `limit` UTF-8 bytes (head and tail kept) with a marker saying so."""
    if limit <= 0 or len(text) * 4 <= limit:
        return text
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    half = limit // 2
    head = data[:half].decode("utf-8", "ignore")
    tail = data[len(data) - (limit - half) :].decode("utf-8", "ignore")
    cut = len(data) - limit
    return f"{head}\n[... qaagent: {cut} of {len(data)} bytes truncated ...]\n{tail}"


def _timestamp(epoch: float) -> str | None:
    if epoch <= 0 or not math.isfinite(epoch):
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")


class _Writer:
    """Holds the generator and the text pipeline (redact → clean → truncate)."""

    def __init__(
        self,
        gen: XMLGenerator,
        redactor: Redactor,
        max_output: int,
        on_case: Callable[[TestCase], None] | None,
    ) -> None:
        self.gen = gen
        self.redactor = redactor
        self.max_output = max_output
        self.on_case = on_case
        #: cleaned classnames, files and other short values that repeat from case to case
        self._cache: dict[str, str] = {}

    def text(self, value: str) -> str:
        """Redacted, cleaned, truncated text."""
        if not value:
            return value
        return truncate(clean_text(self.redactor.redact(value)), self.max_output)

    def repeated(self, value: str) -> str:
        """Like `text`, memoised: for values that repeat across cases (classname, file)."""
        cached = self._cache.get(value)
        if cached is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            cached = self._cache[value] = self.text(value)
        return cached

    def element(self, tag: str, attrs: dict[str, str], body: str = "") -> None:
        """One element with optional text content."""
        self.gen.startElement(tag, AttributesImpl(attrs))
        if body:
            self.gen.characters(body)
        self.gen.endElement(tag)

    def totals(self, counts: Counts) -> dict[str, str]:
        return {
            "tests": str(counts.total),
            "failures": str(counts.failed),
            "errors": str(counts.errors),
            "skipped": str(counts.skipped),
        }

    def suite(self, suite: SuiteResult) -> None:
        gen = self.gen
        attrs = {"name": self.text(suite.name), **self.totals(suite.counts)}
        attrs["time"] = format_time(suite.duration)
        stamp = _timestamp(suite.started_at)
        if stamp is not None:
            attrs["timestamp"] = stamp
        gen.ignorableWhitespace(_INDENT_SUITE)
        gen.startElement("testsuite", AttributesImpl(attrs))
        self.properties(suite)
        on_case = self.on_case
        for case in suite.cases:
            self.case(case)
            if on_case is not None:
                on_case(case)
        gen.ignorableWhitespace(_INDENT_SUITE)
        gen.endElement("testsuite")

    def properties(self, suite: SuiteResult) -> None:
        props = [
            ("runner", suite.runner),
            ("attempts", str(len(suite.attempts))),
            ("returncode", "" if suite.returncode is None else str(suite.returncode)),
            ("command", shlex.join(suite.command)),
            ("timed_out", "true" if suite.timed_out else "false"),
        ]
        if suite.error:
            props.append(("error", suite.error))
        if suite.skipped_reason:
            props.append(("skipped_reason", suite.skipped_reason))
        gen = self.gen
        gen.ignorableWhitespace(_INDENT_PROPS)
        gen.startElement("properties", _NO_ATTRS)
        for name, value in props:
            gen.ignorableWhitespace(_INDENT_CHILD)
            self.element("property", {"name": name, "value": self.text(value)})
        gen.ignorableWhitespace(_INDENT_PROPS)
        gen.endElement("properties")

    def case(self, case: TestCase) -> None:
        gen = self.gen
        text = self.text
        attrs = {
            "name": text(case.name),
            "classname": self.repeated(case.classname),
            "time": format_time(case.duration),
        }
        if case.file:
            attrs["file"] = self.repeated(case.file)
        if case.line is not None and case.line >= 1:
            attrs["line"] = str(case.line)
        gen.ignorableWhitespace(_INDENT_CASE)
        has_children = case.status != "passed" or case.reruns or case.stdout or case.stderr
        if not has_children:
            self.element("testcase", attrs)
            return
        gen.startElement("testcase", AttributesImpl(attrs))
        tag = _RESULT_TAG.get(case.status)
        if tag is not None:
            gen.ignorableWhitespace(_INDENT_CHILD)
            self.element(tag, self._result_attrs(case.message, case.type), text(case.details))
        flaky = case.status == "passed"
        for rerun in case.reruns:
            gen.ignorableWhitespace(_INDENT_CHILD)
            self.rerun(_RERUN_TAG[flaky, rerun.status], rerun)
        if case.stdout:
            gen.ignorableWhitespace(_INDENT_CHILD)
            self.element("system-out", {}, text(case.stdout))
        if case.stderr:
            gen.ignorableWhitespace(_INDENT_CHILD)
            self.element("system-err", {}, text(case.stderr))
        gen.ignorableWhitespace(_INDENT_CASE)
        gen.endElement("testcase")

    def _result_attrs(self, message: str, type_: str) -> dict[str, str]:
        attrs: dict[str, str] = {}
        if message:
            attrs["message"] = self.text(message)
        if type_:
            attrs["type"] = self.text(type_)
        return attrs

    def rerun(self, tag: str, rerun: Rerun) -> None:
        attrs = self._result_attrs(rerun.message, rerun.type)
        # `type` is required on Surefire's rerun elements
        attrs.setdefault("type", "failure" if rerun.status == "failed" else "error")
        self.gen.startElement(tag, AttributesImpl(attrs))
        for child, body in (
            ("stackTrace", rerun.details),
            ("system-out", rerun.stdout),
            ("system-err", rerun.stderr),
        ):
            if body:
                self.element(child, {}, self.text(body))
        self.gen.endElement(tag)


def write_merged_junit(
    run: RunResult,
    out: Path,
    *,
    max_output: int = DEFAULT_MAX_OUTPUT,
    redactor: Redactor | None = None,
    on_case: Callable[[TestCase], None] | None = None,
) -> None:
    """Write the merged report of `run` to `out` atomically (temp file + rename).

    `redactor` defaults to one built from the current environment. `on_case`,
    if given, sees every case in report order while it is written (the
    evidence bundle uses it to avoid a second pass over large stores).
    """
    redactor = Redactor.from_environ() if redactor is None else redactor
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out) as handle:
        gen = XMLGenerator(cast("TextIOBase", handle), encoding="utf-8", short_empty_elements=True)
        writer = _Writer(gen, redactor, max_output, on_case)
        gen.startDocument()
        attrs = {
            "name": writer.text(run.project),
            **writer.totals(run.counts),
            "time": format_time(run.duration),
        }
        gen.startElement("testsuites", AttributesImpl(attrs))
        for suite in run.suites:
            writer.suite(suite)
        gen.ignorableWhitespace("\n")
        gen.endElement("testsuites")
        gen.ignorableWhitespace("\n")
        gen.endDocument()
