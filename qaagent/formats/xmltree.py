"""Keep the few elements of one test while expat streams an XML result file past.

TRX, NUnit 3 and xUnit.net v2 describe each test in one element (``UnitTestResult``,
``test-case``, ``test``) with a handful of children worth reading (failure message,
stack trace, output). A format's `TreeHandler` subclass names those: `CASE_TAGS`
start a test, `KEEP` says which children of which element are kept (everything
else is skipped without being stored), `CONTEXT_TAGS` are the enclosing elements
whose attributes a test may need (NUnit's fixture, xUnit's assembly). When a test
element ends, `finish` turns the little tree into a `TestCase` (or nothing).

A test element inside another (TRX's data-driven rows in ``InnerResults``) is a
test of its own; the outer one is told it has inner results. Every kept text is
capped (`CappedText`) and an element keeps at most `MAX_CHILDREN` children, so a
test's tree stays small however hostile the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from qaagent.formats.source import CappedText
from qaagent.formats.xmlsafe import XmlHandler, local_name

if TYPE_CHECKING:
    from collections.abc import Mapping

    from qaagent.results import TestCase

#: children kept per element (the rest are skipped)
MAX_CHILDREN = 64


class Element:
    """A kept element: local tag, attributes, capped text, kept children."""

    __slots__ = ("attributes", "children", "has_inner", "tag", "text")

    def __init__(self, tag: str, attributes: dict[str, str]) -> None:
        self.tag = tag
        self.attributes = attributes
        self.text = CappedText()
        self.children: list[Element] = []
        self.has_inner = False  #: a test element with tests inside it

    def child(self, tag: str) -> Element | None:
        """The first kept child named `tag`."""
        for child in self.children:
            if child.tag == tag:
                return child
        return None

    def text_at(self, *path: str) -> str:
        """The text of the descendant at `path` ('' when absent)."""
        node: Element | None = self
        for tag in path:
            node = node.child(tag) if node is not None else None
        return node.text.value() if node is not None else ""

    def get(self, name: str, default: str = "") -> str:
        """An attribute's value."""
        return self.attributes.get(name, default)


class _Frame:
    """One open test element and the kept elements open inside it."""

    __slots__ = ("open", "root")

    def __init__(self, root: Element) -> None:
        self.root = root
        self.open: list[Element | None] = [root]


class TreeHandler(XmlHandler):
    """Builds one small tree per test element; subclasses say which elements and what a test is."""

    CASE_TAGS: ClassVar[frozenset[str]] = frozenset()
    KEEP: ClassVar[Mapping[str, frozenset[str]]] = {}
    CONTEXT_TAGS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[_Frame] = []
        #: enclosing context elements (outside any test), outermost first
        self.context: list[Element] = []

    def on_start(self, tag: str, attributes: dict[str, str]) -> None:
        """Open a test, a kept element inside one, or a context element."""
        name = local_name(tag)
        if name in self.CASE_TAGS:
            if self.frames:
                self.frames[-1].root.has_inner = True
            self.frames.append(_Frame(Element(name, attributes)))
            return
        if not self.frames:
            if name in self.CONTEXT_TAGS:
                self.context.append(Element(name, attributes))
            return
        frame = self.frames[-1]
        parent = frame.open[-1]
        node = None
        if (
            parent is not None
            and name in self.KEEP.get(parent.tag, ())
            and len(parent.children) < MAX_CHILDREN
        ):
            node = Element(name, attributes)
            parent.children.append(node)
        frame.open.append(node)

    def on_end(self, tag: str) -> None:
        """Close an element; a closed test element becomes a case."""
        if not self.frames:
            if self.context and local_name(tag) == self.context[-1].tag:
                self.context.pop()
            return
        frame = self.frames[-1]
        frame.open.pop()
        if not frame.open:
            self.frames.pop()
            case = self.finish(frame.root)
            if case is not None:
                self.ready.append(case)

    def data(self, text: str) -> None:
        """Text of a kept element inside a test (the test element's own text is not kept)."""
        if self.frames:
            node = self.frames[-1].open[-1]
            if node is not None and node is not self.frames[-1].root:
                node.text.add(text)

    def finish(self, element: Element) -> TestCase | None:
        """The test case one test element describes (None: not a test case of its own)."""
        raise NotImplementedError
