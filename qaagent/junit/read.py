"""Read JUnit XML written by test tools into `TestCase` values, treating it as hostile.

A suite's JUnit file comes from whatever the project's tests print, so it may
be huge, truncated, not XML, mis-encoded, or crafted (entity expansion, external
entities, absurd nesting). Every such file becomes a `JUnitError` with a
one-line reason — never a crash, a hang or unbounded memory — and the cases
read before the problem stay valid. The refusals, limits and the repair of
broken characters are `qaagent.formats.xmlsafe`'s (shared by every XML format);
this module knows JUnit's elements: it builds only the elements of the current
``<testcase>`` (known children only, text capped at `MAX_FIELD_BYTES`) and hands
each case out as soon as it ends, so memory stays flat however many cases a
file holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Final

from qaagent.errors import JUnitError
from qaagent.formats import source, xmlsafe
from qaagent.formats.source import CappedText, cap
from qaagent.formats.source import seconds as _duration
from qaagent.formats.xmlsafe import MAX_ATTRIBUTES, MAX_DEPTH, MAX_TOKEN_BYTES
from qaagent.junit.locate import Locator
from qaagent.results import FailStatus, Rerun, Status, TestCase

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

#: files larger than this are refused (bytes); the limit lives in `qaagent.formats.source`
MAX_FILE_BYTES = source.MAX_FILE_BYTES
#: flaky/rerun elements kept per test case (the rest are ignored)
MAX_RERUNS = 100

UNNAMED: Final = "(unnamed)"

_CASE_CHILDREN = frozenset(
    {
        "properties",
        "failure",
        "error",
        "skipped",
        "system-out",
        "system-err",
        "flakyFailure",
        "flakyError",
        "rerunFailure",
        "rerunError",
    }
)
_RETRY_TAGS = frozenset({"flakyFailure", "flakyError", "rerunFailure", "rerunError"})
_RETRY_CHILDREN = frozenset({"stackTrace", "system-out", "system-err"})
_MAX_CHILDREN = MAX_RERUNS + 16
_RETRY_CHILD_LEVEL = 2  # testcase > flakyFailure > stackTrace


class _Node:
    """A kept element inside a testcase."""

    __slots__ = ("attributes", "children", "tag", "text")

    def __init__(self, tag: str, attributes: dict[str, str]) -> None:
        self.tag = tag
        self.attributes = attributes
        self.text = CappedText()
        self.children: list[_Node] = []

    def child_text(self, tag: str) -> str:
        return "".join(child.text.value() for child in self.children if child.tag == tag)


def _skip_property(properties: _Node) -> str:
    """The reason in a `<property name="skip" value="…">` (Playwright's `test.skip(cond, reason)`)."""
    for prop in properties.children:
        if prop.attributes.get("name") in ("skip", "skipped"):
            return cap(prop.attributes.get("value", ""))
    return ""


class _Builder(xmlsafe.XmlHandler):
    """Expat handlers: tracks suites, builds the current testcase, queues finished cases."""

    ROOTS: ClassVar[frozenset[str]] = frozenset({"testsuites", "testsuite"})
    ROOT_TEXT: ClassVar[str] = "<testsuites> or <testsuite>"
    FORMAT: ClassVar[str] = "JUnit"

    def __init__(self, suite: str, locator: Locator) -> None:
        super().__init__()
        self.suite = suite
        self.locator = locator
        self.suite_names: list[str] = []
        self.open: list[_Node | None] = []  # elements inside the current testcase

    # -- elements -------------------------------------------------------------
    def on_start(self, tag: str, attributes: dict[str, str]) -> None:
        if self.open:
            self.open.append(self._child(tag, attributes))
        elif tag == "testcase":
            self.open.append(_Node(tag, attributes))
        elif tag == "testsuite":
            self.suite_names.append(attributes.get("name", ""))

    def _child(self, tag: str, attributes: dict[str, str]) -> _Node | None:
        parent = self.open[-1]
        if parent is None or len(parent.children) >= _MAX_CHILDREN:
            return None
        level = len(self.open)
        wanted = (
            (level == 1 and tag in _CASE_CHILDREN)
            or (level == _RETRY_CHILD_LEVEL and parent.tag in _RETRY_TAGS and tag in _RETRY_CHILDREN)
            # Playwright puts a skip reason in <properties><property name="skip" value="…"/>.
            or (level == _RETRY_CHILD_LEVEL and parent.tag == "properties" and tag == "property")
        )
        if not wanted:
            return None
        node = _Node(tag, attributes)
        parent.children.append(node)
        return node

    def end(self, tag: str) -> None:
        # `XmlHandler.end` would call `on_end`: doing its bookkeeping here saves a call per element
        self.depth -= 1
        if self.open:
            node = self.open.pop()
            if not self.open and node is not None:
                self.ready.append(self._case(node) if node.children else self._passed(node))
        elif tag == "testsuite" and self.suite_names:
            self.suite_names.pop()

    def data(self, text: str) -> None:
        if len(self.open) > 1:
            node = self.open[-1]
            if node is not None:
                node.text.add(text)

    # -- one finished testcase -----------------------------------------------
    def _passed(self, node: _Node) -> TestCase:
        """A test case without kept children: passed, no output (most of a large report)."""
        attributes = node.attributes
        classname = attributes.get("classname") or (self.suite_names[-1] if self.suite_names else "")
        file, line = self.locator.locate(attributes, classname, (), self.suite_names)
        name = attributes.get("name") or UNNAMED
        return TestCase(self.suite, classname, name, "passed", _duration(attributes.get("time")), file, line)

    def _case(self, node: _Node) -> TestCase:  # noqa: C901 - one pass over the children keeps parsing fast
        attributes = node.attributes
        classname = attributes.get("classname") or (self.suite_names[-1] if self.suite_names else "")
        status: Status = "passed"
        outcome: _Node | None = None
        extra: list[str] = []
        reruns: list[Rerun] = []
        texts: list[str] = []  # failure/error bodies, searched for a location
        stdout: list[str] = []
        stderr: list[str] = []
        has_flaky = False
        skip_reason = ""
        for child in node.children:
            tag = child.tag
            if tag == "properties":
                skip_reason = skip_reason or _skip_property(child)
            elif tag == "system-out":
                stdout.append(child.text.value())
            elif tag == "system-err":
                stderr.append(child.text.value())
            elif tag in ("failure", "error"):
                body = child.text.value()
                texts.append(body)
                if outcome is None or outcome.tag == "skipped":
                    outcome = child
                    status = "failed" if tag == "failure" else "error"
                else:
                    extra.append(body)
            elif tag == "skipped" and outcome is None:
                outcome = child
                status = "skipped"
            elif tag in _RETRY_TAGS and len(reruns) < MAX_RERUNS:
                has_flaky = has_flaky or tag.startswith("flaky")
                reruns.append(self._rerun(child))
        message = type_ = details = ""
        if outcome is not None:
            details = outcome.text.value()
            message = cap(outcome.attributes.get("message", ""))
            type_ = cap(outcome.attributes.get("type", ""))
        if status == "skipped" and not message:
            message = skip_reason
        if extra:
            details = "\n\n".join([details, *extra])
        texts += [rerun.details for rerun in reruns]
        file, line = self.locator.locate(attributes, classname, texts, self.suite_names)
        return TestCase(
            self.suite,
            classname,
            attributes.get("name") or UNNAMED,
            status,
            _duration(attributes.get("time")),
            file,
            line,
            message,
            type_,
            details,
            "".join(stdout),
            "".join(stderr),
            1 + len(reruns),
            has_flaky and status == "passed",
            tuple(reruns),
        )

    @staticmethod
    def _rerun(node: _Node) -> Rerun:
        status: FailStatus = "error" if node.tag.endswith("Error") else "failed"
        details = node.child_text("stackTrace") or node.text.value()
        return Rerun(
            status=status,
            message=cap(node.attributes.get("message", "")),
            type=cap(node.attributes.get("type", "")),
            details=details,
            stdout=node.child_text("system-out"),
            stderr=node.child_text("system-err"),
            duration=_duration(node.attributes.get("time")),
        )


def iter_junit_cases(path: Path, *, suite: str, base_dir: Path, repo_root: Path) -> Iterator[TestCase]:
    """Stream the test cases of one JUnit file in document order.

    `base_dir` is the directory the tool ran in (report paths are relative to
    it); `file` on the cases is made relative to `repo_root`. Raises
    `JUnitError(reason)` when the file is unreadable, hostile or broken; cases
    already yielded stay valid.
    """
    locator = Locator(base_dir, repo_root)
    yield from xmlsafe.read_xml_cases(
        path,
        repo_root=repo_root,
        make_handler=lambda: _Builder(suite, locator),
        kind="JUnit file",
        error=JUnitError,
    )


def read_junit_files(
    paths: Sequence[Path], *, suite: str, base_dir: Path, repo_root: Path
) -> tuple[list[TestCase], list[str]]:
    """All cases of several files in order, and one error reason per bad file (naming it).

    Never raises for bad input: a broken file contributes the cases read before
    the problem and a reason.
    """
    cases: list[TestCase] = []
    errors: list[str] = []
    for path in paths:
        try:
            for case in iter_junit_cases(path, suite=suite, base_dir=base_dir, repo_root=repo_root):
                cases.append(case)  # noqa: PERF402 - keeps the cases read before an error
        except JUnitError as error:
            errors.append(str(error))
    return cases, errors


__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_TOKEN_BYTES",
    "iter_junit_cases",
    "read_junit_files",
]
