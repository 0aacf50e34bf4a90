"""Read NUnit 3 results (``TestResult.xml``: ``nunit3-console``, NUnitLite) into `TestCase` values.

The document is ``<test-run>`` with nested ``<test-suite type="Assembly|TestFixture|
ParameterizedMethod|…">`` elements and one ``<test-case id name fullname methodname
classname result label site duration>`` per test, whose children are
``failure/message``, ``failure/stack-trace``, ``reason/message`` and ``output``.

Mapping: ``result="Passed"`` and ``"Warning"`` (NUnit does not fail a run for a
warning) are passed; ``"Failed"`` is failed, or an error when its label is
``Error``, ``Invalid`` or ``Cancelled`` (an exception rather than an assertion, a
test that could not run, a cancelled run); ``"Skipped"`` and ``"Inconclusive"``
are skipped with the reason. The class is the test case's ``classname`` (else
the enclosing fixture's ``fullname``); the name is ``name`` (a parameterised
test's includes its arguments). The message is the failure's (or reason's)
first line; file and line come from the stack trace's first frame with source
information.

NUnit 3's file cannot carry: retries (``[Retry]`` reports the last attempt
only), xfail/xpass, and the location of a passing test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Final

from qaagent.formats import xmlsafe
from qaagent.formats.source import cap, first_line, seconds
from qaagent.formats.xmltree import Element, TreeHandler
from qaagent.junit.locate import Locator
from qaagent.results import Status, TestCase

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

FORMAT: Final = "nunit3"
_ERROR_LABELS = frozenset({"Error", "Invalid", "Cancelled"})
_STATUS: Final[Mapping[str, Status]] = {
    "Passed": "passed",
    "Warning": "passed",
    "Failed": "failed",
    "Skipped": "skipped",
    "Inconclusive": "skipped",
}


class _Handler(TreeHandler):
    ROOTS: ClassVar[frozenset[str]] = frozenset({"test-run"})
    ROOT_TEXT: ClassVar[str] = "<test-run> (NUnit 3)"
    FORMAT: ClassVar[str] = "NUnit 3"
    CASE_TAGS: ClassVar[frozenset[str]] = frozenset({"test-case"})
    CONTEXT_TAGS: ClassVar[frozenset[str]] = frozenset({"test-suite"})
    KEEP: ClassVar[Mapping[str, frozenset[str]]] = {
        "test-case": frozenset({"failure", "reason", "output"}),
        "failure": frozenset({"message", "stack-trace"}),
        "reason": frozenset({"message"}),
    }

    def __init__(self, suite: str, locator: Locator) -> None:
        super().__init__()
        self.suite = suite
        self.locator = locator

    def _fixture(self) -> str:
        for element in reversed(self.context):
            if element.get("type") in ("TestFixture", "ParameterizedFixture", "GenericFixture"):
                return element.get("fullname")
        return ""

    def finish(self, element: Element) -> TestCase:
        attributes = element.attributes
        status = _STATUS.get(attributes.get("result", ""), "error")
        if status == "failed" and attributes.get("label") in _ERROR_LABELS:
            status = "error"
        given = attributes.get("classname")
        if not element.children:  # most of a large report: no failure, no output
            classname = cap(given if given is not None else self._fixture())
            name = cap(attributes.get("name", ""))
            return TestCase(self.suite, classname, name, status, seconds(attributes.get("duration")))
        message = element.text_at("failure", "message")
        stack = element.text_at("failure", "stack-trace")
        reason = element.text_at("reason", "message")
        details = "\n".join(part for part in (message, stack) if part)
        if status in ("skipped", "passed") and not message:
            message = reason
        classname = cap(given if given is not None else self._fixture())
        file, line = self.locator.dotnet_location((stack,), classname) if stack else (None, None)
        return TestCase(
            self.suite,
            classname,
            cap(element.get("name")),
            status,
            seconds(element.get("duration")),
            file,
            line,
            first_line(message),
            "",
            details,
            element.text_at("output"),
        )


def iter_cases(path: Path, *, suite: str, base_dir: Path, repo_root: Path) -> Iterator[TestCase]:
    """Stream the cases of one NUnit 3 result file in document order; `ResultFileError` on a broken file."""
    locator = Locator(base_dir, repo_root)
    yield from xmlsafe.read_xml_cases(
        path, repo_root=repo_root, make_handler=lambda: _Handler(suite, locator), kind="NUnit 3 file"
    )
