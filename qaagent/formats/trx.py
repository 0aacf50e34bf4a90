"""Read Visual Studio test results (TRX, ``dotnet test --logger trx``) into `TestCase` values.

A TRX file is ``<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">``
with the results first (``<Results><UnitTestResult testId testName outcome
duration>`` with ``Output/StdOut``, ``Output/StdErr`` and ``Output/ErrorInfo/
Message|StackTrace``) and the definitions after them (``<TestDefinitions><UnitTest
id><TestMethod className name>``). The class of a result is only in its
definition, so the file is read twice: a first pass keeps the definitions (id →
class; at most `MAX_DEFINITIONS`), the second streams the results.

Mapping: ``Passed``, ``PassedButRunAborted``, ``Completed`` and ``Warning`` are
passed; ``Failed`` is failed; ``Error``, ``Timeout``, ``Aborted``,
``Disconnected`` (and a result without an outcome, which is how the logger
writes ``Error``) are errors; ``NotExecuted``, ``Inconclusive``, ``NotRunnable``,
``Pending`` and ``InProgress`` are skipped. The message is the error message's
first line; file and line come from the first stack frame with source
information (``in /src/CalcTests.cs:line 21``). A data-driven test's rows
(``InnerResults``) are cases of their own and the aggregate is not. A run-level
error (``ResultSummary/RunInfos/RunInfo outcome="Error"``, e.g. a crashed test
host) becomes an error case named ``test run``.

TRX cannot carry: a retry (VSTest has none), xfail/xpass, and a source location
of passing tests.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar, Final

from qaagent.errors import ResultFileError
from qaagent.formats import xmlsafe
from qaagent.formats.source import cap, first_line, seconds
from qaagent.formats.xmltree import Element, TreeHandler
from qaagent.junit.locate import Locator
from qaagent.results import Status, TestCase

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path
    from xml.parsers import expat

FORMAT: Final = "trx"
NAMESPACE: Final = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"
#: test definitions kept from the first pass (id -> class); beyond this, results have no class
MAX_DEFINITIONS = 500_000

_STATUS: Final[Mapping[str, Status]] = {
    "Passed": "passed",
    "PassedButRunAborted": "passed",
    "Completed": "passed",
    "Warning": "passed",
    "Failed": "failed",
    "Error": "error",
    "Timeout": "error",
    "Aborted": "error",
    "Disconnected": "error",
    "NotExecuted": "skipped",
    "Inconclusive": "skipped",
    "NotRunnable": "skipped",
    "Pending": "skipped",
    "InProgress": "skipped",
}
#: a .NET TimeSpan: [d.]hh:mm:ss[.fffffff]
_TIMESPAN = re.compile(r"^\s*(?:(\d{1,7})\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d{1,9})?)\s*$")
_THREW = re.compile(r"^Test method \S+ threw exception:$")
_RESULT_TAGS = frozenset({"UnitTestResult", "TestResultAggregation", "GenericTestResult"})


def timespan(value: str) -> float:
    """Seconds of a TRX duration (``00:00:01.2500000``); anything odd is 0.0."""
    match = _TIMESPAN.match(value)
    if match is None:
        return 0.0
    days, hours, minutes, secs = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(secs)
    return seconds(total)


class _Definitions(xmlsafe.XmlHandler):
    """First pass: test id -> class name, from ``TestDefinitions/UnitTest/TestMethod`` (no tree, no text)."""

    ROOTS: ClassVar[frozenset[str]] = frozenset({"TestRun"})
    ROOT_TEXT: ClassVar[str] = "<TestRun>"
    FORMAT: ClassVar[str] = "TRX"

    def __init__(self, classes: dict[str, str]) -> None:
        super().__init__()
        self.classes = classes
        self._interned: dict[str, str] = {}
        self._test_id = ""

    def install(self, parser: expat.XMLParserType) -> None:
        """As for every format, but without a text handler: this pass reads attributes only."""
        super().install(parser)
        parser.CharacterDataHandler = None

    def on_start(self, tag: str, attributes: dict[str, str]) -> None:
        """Remember a definition's id; its ``TestMethod`` gives the class."""
        name = xmlsafe.local_name(tag)
        if name == "UnitTest":
            self._test_id = attributes.get("id", "")
        elif name == "TestMethod" and self._test_id and len(self.classes) < MAX_DEFINITIONS:
            # VSTest writes the type name; some adapters add ", Assembly, Version=…"
            classname = cap(attributes.get("className", "").split(",", 1)[0].strip())
            self.classes[cap(self._test_id)] = self._interned.setdefault(classname, classname)
            self._test_id = ""

    def on_end(self, tag: str) -> None:
        """Nothing to do at an element's end."""

    def data(self, text: str) -> None:
        """Not installed (see `install`)."""


class _Results(TreeHandler):
    """Second pass: one case per result (data-driven rows instead of their aggregate)."""

    ROOTS: ClassVar[frozenset[str]] = frozenset({"TestRun"})
    ROOT_TEXT: ClassVar[str] = "<TestRun>"
    FORMAT: ClassVar[str] = "TRX"
    CASE_TAGS: ClassVar[frozenset[str]] = _RESULT_TAGS | {"RunInfo"}
    KEEP: ClassVar[Mapping[str, frozenset[str]]] = {
        **dict.fromkeys(_RESULT_TAGS, frozenset({"Output"})),
        "Output": frozenset({"StdOut", "StdErr", "DebugTrace", "ErrorInfo", "TextMessages"}),
        "ErrorInfo": frozenset({"Message", "StackTrace"}),
        "TextMessages": frozenset({"Message"}),
        "RunInfo": frozenset({"Text", "Exception"}),
    }

    def __init__(self, suite: str, classes: Mapping[str, str], locator: Locator) -> None:
        super().__init__()
        self.suite = suite
        self.classes = classes
        self.locator = locator

    def finish(self, element: Element) -> TestCase | None:
        if element.tag == "RunInfo":
            return self._run_info(element)
        if element.has_inner:
            return None
        status = _STATUS.get(element.get("outcome", "Error"), "error")
        if not element.children:  # most of a large report: no output, no error
            classname = self.classes.get(element.get("testId"), "")
            name = cap(element.get("testName"))
            return TestCase(self.suite, classname, name, status, timespan(element.get("duration")))
        message = element.text_at("Output", "ErrorInfo", "Message")
        stack = element.text_at("Output", "ErrorInfo", "StackTrace")
        details = "\n".join(part for part in (message, stack) if part)
        if status == "skipped" and not message:
            message = element.text_at("Output", "TextMessages", "Message")
        classname = self.classes.get(element.get("testId"), "")
        file, line = self.locator.dotnet_location((stack,), classname) if stack else (None, None)
        stderr = "\n".join(
            p for p in (element.text_at("Output", "StdErr"), element.text_at("Output", "DebugTrace")) if p
        )
        return TestCase(
            self.suite,
            classname,
            cap(element.get("testName")),
            status,
            timespan(element.get("duration")),
            file,
            line,
            _message(message),
            "",
            details,
            element.text_at("Output", "StdOut"),
            stderr,
        )

    def _run_info(self, element: Element) -> TestCase | None:
        if element.get("outcome") != "Error":
            return None
        text = element.text_at("Text")
        details = "\n".join(part for part in (text, element.text_at("Exception")) if part)
        return TestCase(self.suite, "", "test run", "error", 0.0, None, None, first_line(text), "", details)


def _message(text: str) -> str:
    """The error message's first line; MSTest's "Test method X threw exception:" gives the next one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and _THREW.match(lines[0]):
        return lines[1]
    return lines[0] if lines else ""


def iter_cases(path: Path, *, suite: str, base_dir: Path, repo_root: Path) -> Iterator[TestCase]:
    """Stream the cases of one TRX file in document order; `ResultFileError` on a broken file."""
    classes: dict[str, str] = {}
    try:
        for _ in xmlsafe.read_xml_cases(
            path, repo_root=repo_root, make_handler=lambda: _Definitions(classes), kind="TRX file"
        ):
            pass  # the first pass yields nothing: it fills `classes`
    except ResultFileError:
        pass  # the second pass meets the same problem, after yielding the results before it
    locator = Locator(base_dir, repo_root)
    yield from xmlsafe.read_xml_cases(
        path, repo_root=repo_root, make_handler=lambda: _Results(suite, classes, locator), kind="TRX file"
    )
