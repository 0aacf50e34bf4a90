"""The expat handlers that turn one JUnit document into `TestCase` values, bounded and hostile-safe.

`Builder` is a `qaagent.formats.xmlsafe.XmlHandler`: the refusals (entities,
external DTDs), the depth, attribute and token limits, the error reasons and
the repair of broken characters are the driver's, shared with every XML result
format. This module knows JUnit's elements: it builds only the elements of the
current ``<testcase>`` (known children only, text capped at `MAX_FIELD_BYTES`),
recognises the producer from suite properties (qaagent's own ``written_by``,
gotestsum's ``go.version``) and hands each case out as soon as it ends, so memory
stays flat however many cases a file holds. What a producer meant by its
messages is `qaagent.junit.dialects`'s; where a case lives is
`qaagent.junit.locate`'s. Opening files is `qaagent.junit.read`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from qaagent.attempts import FailStatus, Rerun
from qaagent.formats import golang, xmlsafe
from qaagent.formats.source import MAX_FIELD_BYTES, CappedText, cap
from qaagent.formats.source import seconds as _duration
from qaagent.formats.xmlsafe import MAX_ATTRIBUTES, MAX_DEPTH, MAX_TOKEN_BYTES
from qaagent.junit import dialects
from qaagent.results import Status, TestCase

if TYPE_CHECKING:
    from qaagent.formats.golang import GoModules
    from qaagent.junit.dialects import Outcome
    from qaagent.junit.locate import Locator

#: flaky/rerun elements kept per test case (the rest are ignored)
MAX_RERUNS = 100

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


class _Suite:
    """An open ``<testsuite>``: its name and what its ``<properties>`` say about its producer."""

    __slots__ = ("kind", "legacy", "name")

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind  #: "qaagent" (read as written), "go" (gotestsum) or ""
        self.legacy: set[str] = set()  #: qaagent's older property names seen


class Builder(xmlsafe.XmlHandler):
    """Expat handlers: tracks suites, builds the current testcase, queues finished cases."""

    ROOTS: ClassVar[frozenset[str]] = frozenset({"testsuites", "testsuite"})
    ROOT_TEXT: ClassVar[str] = "<testsuites> or <testsuite>"
    FORMAT: ClassVar[str] = "JUnit"

    def __init__(self, suite: str, locator: Locator, modules: GoModules) -> None:
        super().__init__()
        self.suite = suite
        self.locator = locator
        self.modules = modules
        self.suites: list[_Suite] = []
        self.suite_names: list[str] = []
        self.open: list[_Node | None] = []  # elements inside the current testcase
        self.properties_depth = 0  # depth of an open suite-level <properties>, 0 when none

    # -- elements -------------------------------------------------------------
    def on_start(self, tag: str, attributes: dict[str, str]) -> None:
        """An element starts (after the limits): a testcase, a kept child, or a suite and its properties."""
        if self.open:
            self.open.append(self._child(tag, attributes))
        elif tag == "testcase":
            self.open.append(_Node(tag, attributes))
        elif tag == "testsuite":
            name = attributes.get("name", "")
            self.suite_names.append(name)
            self.suites.append(_Suite(name, self.suites[-1].kind if self.suites else ""))
        elif tag == "properties" and self.suites and not self.properties_depth:
            self.properties_depth = self.depth
        elif tag == "property" and self.properties_depth and self.depth == self.properties_depth + 1:
            self._suite_property(attributes)

    def _suite_property(self, attributes: dict[str, str]) -> None:
        """Recognise the producer from a suite-level property (qaagent's marker, gotestsum's Go version)."""
        suite = self.suites[-1]
        name = attributes.get("name", "")
        if (name, attributes.get("value")) == dialects.WRITTEN_BY:
            suite.kind = "qaagent"
        elif name == dialects.GO_VERSION_PROPERTY and not suite.kind:
            suite.kind = "go"
        elif name in dialects.LEGACY_QAAGENT_PROPERTIES:
            suite.legacy.add(name)
            if suite.legacy == dialects.LEGACY_QAAGENT_PROPERTIES:
                suite.kind = "qaagent"

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
        """An element ends: a finished testcase is queued in `ready`."""
        # `XmlHandler.end` would call `on_end`: doing its bookkeeping here saves a call per element
        self.depth -= 1
        if self.open:
            node = self.open.pop()
            if not self.open and node is not None:
                self.ready.append(self._case(node) if node.children else self._passed(node))
        elif tag == "testsuite" and self.suites:
            self.suites.pop()
            self.suite_names.pop()
        elif tag == "properties" and self.depth + 1 == self.properties_depth:
            self.properties_depth = 0

    def data(self, text: str) -> None:
        """Character data of an element kept inside the current testcase."""
        if len(self.open) > 1:
            node = self.open[-1]
            if node is not None:
                node.text.add(text)

    # -- one finished testcase -----------------------------------------------
    def _identity(self, attributes: dict[str, str]) -> tuple[str, str]:
        """(classname, name) as the tool gave them; only a missing classname becomes the suite's name."""
        classname = attributes.get("classname")
        if classname is None:
            classname = self.suite_names[-1] if self.suite_names else ""
        return classname, attributes.get("name", "")

    def _kind(self) -> str:
        return self.suites[-1].kind if self.suites else ""

    def _passed(self, node: _Node) -> TestCase:
        """A test case without kept children: passed, no output (most of a large report)."""
        attributes = node.attributes
        classname, name = self._identity(attributes)
        as_written = self._kind() == "qaagent"
        file, line = self.locator.locate(attributes, classname, (), self.suite_names, as_written=as_written)
        return TestCase(self.suite, classname, name, "passed", _duration(attributes.get("time")), file, line)

    def _case(self, node: _Node) -> TestCase:  # noqa: C901, PLR0912 - one pass over the children keeps parsing fast
        attributes = node.attributes
        classname, name = self._identity(attributes)
        kind = self._kind()
        status: Status = "passed"
        outcome: _Node | None = None
        extra: list[str] = []
        reruns: list[Rerun] = []
        texts: list[str] = []  # failure/error bodies, searched for a location
        stdout: list[str] = []
        stderr: list[str] = []
        skipped_types: list[str] = []
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
            elif tag == "skipped":
                skipped_types.append(child.attributes.get("type", ""))
                if outcome is None:
                    outcome = child
                    status = "skipped"
            elif tag in _RETRY_TAGS and len(reruns) < MAX_RERUNS:
                has_flaky = has_flaky or tag.startswith("flaky")
                reruns.append(self._rerun(child))
        message, type_, details = _result_fields(outcome, extra)
        if status == "skipped" and not message:
            message = skip_reason
        texts += [rerun.details for rerun in reruns]
        xfail = dialects.xfail_outcome(status, message, skipped_types)
        if "todo" in skipped_types and kind != "qaagent":
            status, message, type_, xfail = _node_todo(node, status)
        file, line = self.locator.locate(
            attributes, classname, texts, self.suite_names, as_written=kind == "qaagent"
        )
        if status != "passed" and kind != "qaagent":
            file, line, message = self._faithful(
                kind, status, (file, line), (message, type_, details), (classname, name)
            )
        return TestCase(
            self.suite,
            classname,
            name,
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
            (),
            xfail,
        )

    def _faithful(
        self,
        kind: str,
        status: Status,
        where: tuple[str | None, int | None],
        result: tuple[str, str, str],
        identity: tuple[str, str],
    ) -> tuple[str | None, int | None, str]:
        """(file, line, message) of a case that did not pass, as its producer meant them."""
        file, line = where
        message, type_, details = result
        classname, name = identity
        if kind == "go":
            go_file, go_line, go_message = golang.failure_line(details or message)
            file = golang.locate(classname, go_file, self.modules, self.locator) or file
            return file, (go_line if go_file else line), go_message or message
        return file, line, dialects.refine_message(status, message, type_, details, name)

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


def _result_fields(outcome: _Node | None, extra: list[str]) -> tuple[str, str, str]:
    """(message, type, details) of the element that decided the status; later failures join the details."""
    if outcome is None:  # `extra` holds failures after the first, so it is empty here
        return "", "", ""
    details = outcome.text.value()
    if extra:
        details = "\n\n".join([details, *extra])
    return cap(outcome.attributes.get("message", "")), cap(outcome.attributes.get("type", "")), details


def _node_todo(node: _Node, status: Status) -> tuple[Status, str, str, Outcome]:
    """Node's test runner: ``<skipped type="todo">`` is a TODO test; with a ``<failure>`` it failed (xfail).

    TAP calls a passing TODO test an unexpected pass, so a TODO test without a
    failure is passed (xpass), as `qaagent.formats.tap` reads node's TAP.
    """
    skipped = next(child for child in node.children if child.tag == "skipped")
    reason = cap(skipped.attributes.get("message", ""))
    if status in ("failed", "error"):
        return "skipped", reason, "todo", "xfail"
    return "passed", reason, "todo", "xpass"


__all__ = ["MAX_ATTRIBUTES", "MAX_DEPTH", "MAX_FIELD_BYTES", "MAX_RERUNS", "MAX_TOKEN_BYTES", "Builder"]
