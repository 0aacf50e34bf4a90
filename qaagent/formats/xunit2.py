"""Read xUnit.net v2+ XML results (``dotnet test --logger xunit``, the xUnit console's ``-xml``).

The document is ``<assemblies><assembly name><collection name><test name type method
time result source-file source-line>`` (a single ``<assembly>`` root is accepted
too), each test with ``failure exception-type`` (``message``, ``stack-trace``),
``reason`` and ``output`` children, and environmental errors outside any test
in ``<errors><error type name><failure>``.

Mapping: ``result="Pass"`` is passed, ``"Fail"`` failed, ``"Skip"`` skipped with the
reason, ``"NotRun"`` (explicit tests not asked for) skipped with ``not run``. The
class is ``type`` (else the collection's name), the name is ``name`` (the display
name: for a theory it includes the arguments); the exception type becomes the
case's type, its message's first line the message. File and line are
``source-file``/``source-line`` when the runner knew them, else the stack
trace's first frame with source information. Each ``<error>`` (a fixture's
cleanup that threw, a fatal error) becomes an error case whose class is the
error's type (``test-class-cleanup``, ``fatal``…) and whose name is its ``name``.

xUnit's file cannot carry: retries, xfail/xpass, and the location of a passing
test unless the runner wrote ``source-file``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Final

from qaagent.formats import xmlsafe
from qaagent.formats.source import cap, first_line, seconds
from qaagent.formats.xmltree import Element, TreeHandler
from qaagent.junit.locate import Locator, parse_line
from qaagent.results import Status, TestCase

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

FORMAT: Final = "xunit2"
_STATUS: Final[Mapping[str, Status]] = {
    "Pass": "passed",
    "Fail": "failed",
    "Skip": "skipped",
    "NotRun": "skipped",
}


class _Handler(TreeHandler):
    ROOTS: ClassVar[frozenset[str]] = frozenset({"assemblies", "assembly"})
    ROOT_TEXT: ClassVar[str] = "<assemblies> or <assembly> (xUnit.net v2)"
    FORMAT: ClassVar[str] = "xUnit.net"
    CASE_TAGS: ClassVar[frozenset[str]] = frozenset({"test", "error"})
    CONTEXT_TAGS: ClassVar[frozenset[str]] = frozenset({"assembly", "collection"})
    KEEP: ClassVar[Mapping[str, frozenset[str]]] = {
        "test": frozenset({"failure", "reason", "output"}),
        "error": frozenset({"failure"}),
        "failure": frozenset({"message", "stack-trace"}),
    }

    def __init__(self, suite: str, locator: Locator) -> None:
        super().__init__()
        self.suite = suite
        self.locator = locator

    def _collection(self) -> str:
        for element in reversed(self.context):
            if element.tag == "collection":
                return element.get("name")
        return ""

    def finish(self, element: Element) -> TestCase:
        failure = element.child("failure")
        message = element.text_at("failure", "message")
        stack = element.text_at("failure", "stack-trace")
        details = "\n".join(part for part in (message, stack) if part)
        exception = cap(failure.get("exception-type")) if failure is not None else ""
        if element.tag == "error":
            return TestCase(
                self.suite,
                cap(element.get("type")),
                cap(element.get("name")),
                "error",
                0.0,
                *self.locator.dotnet_location((stack,)),
                first_line(message),
                exception,
                details,
            )
        result = element.get("result")
        status = _STATUS.get(result, "error")
        if not element.children and status == "passed" and "source-file" not in element.attributes:
            given = element.attributes.get("type")  # most of a large report: passed, no output
            classname = cap(given if given is not None else self._collection())
            return TestCase(
                self.suite, classname, cap(element.get("name")), status, seconds(element.get("time"))
            )
        if status == "skipped":
            message = element.text_at("reason") or ("not run" if result == "NotRun" else "")
        given = element.attributes.get("type")
        classname = cap(given if given is not None else self._collection())
        file, line = self._location(element, stack, classname)
        return TestCase(
            self.suite,
            classname,
            cap(element.get("name")),
            status,
            seconds(element.get("time")),
            file,
            line,
            first_line(message),
            exception,
            details,
            element.text_at("output"),
        )

    def _location(self, element: Element, stack: str, classname: str) -> tuple[str | None, int | None]:
        source_file = element.get("source-file")
        if source_file:
            line = parse_line(element.get("source-line"), zero_based=False)
            return self.locator.relative(source_file), line
        return self.locator.dotnet_location((stack,), classname) if stack else (None, None)


def iter_cases(path: Path, *, suite: str, base_dir: Path, repo_root: Path) -> Iterator[TestCase]:
    """Stream the cases of one xUnit.net v2 file in document order; `ResultFileError` on a broken file."""
    locator = Locator(base_dir, repo_root)
    yield from xmlsafe.read_xml_cases(
        path, repo_root=repo_root, make_handler=lambda: _Handler(suite, locator), kind="xUnit.net file"
    )
