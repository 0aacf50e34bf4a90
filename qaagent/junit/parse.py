"""The expat handlers that turn one JUnit document into `TestCase` values, bounded and hostile-safe.

Why expat directly and not ``ElementTree.iterparse``: the C parser behind
iterparse hides expat's handlers, so it can neither refuse an entity
declaration before expat expands it nor cap a huge ``system-out`` while
parsing. `_parse` drives ``xml.parsers.expat`` with the start/end events,
builds only the elements of the current ``<testcase>`` (known children only,
text capped at `MAX_FIELD_BYTES`), and hands each case out as soon as it
ends, so memory stays flat however many cases a file holds. Reading files and
repairing broken characters is `qaagent.junit.read`'s.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final
from xml.parsers import expat

from qaagent.errors import JUnitError
from qaagent.junit.locate import Locator
from qaagent.results import FailStatus, Rerun, Status, TestCase

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

#: elements nested deeper than this are refused
MAX_DEPTH = 256
#: an element with more attributes than this is refused
MAX_ATTRIBUTES = 256
#: message, details, stdout and stderr are cut to this many UTF-8 bytes each
MAX_FIELD_BYTES = 64 * 1024
#: flaky/rerun elements kept per test case (the rest are ignored)
MAX_RERUNS = 100
#: bytes expat may hold without reporting anything (one start tag, comment, ...): a start tag
#: with a million attributes costs ~20x its size in memory before any handler can refuse it
MAX_TOKEN_BYTES = 4 * 1024 * 1024
#: bytes expat buffers before it reports character data
CHUNK_BYTES = 64 * 1024

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
_RETRY_CHILD_LEVEL = 2  # testcase > flakyFailure > stackTrace#: expat errors a character repair can fix
_REPAIRABLE = frozenset(
    {
        expat.errors.codes[expat.errors.XML_ERROR_INVALID_TOKEN],
        expat.errors.codes[expat.errors.XML_ERROR_BAD_CHAR_REF],
        expat.errors.codes[expat.errors.XML_ERROR_PARTIAL_CHAR],
        expat.errors.codes[expat.errors.XML_ERROR_INCORRECT_ENCODING],
        expat.errors.codes[expat.errors.XML_ERROR_UNKNOWN_ENCODING],
    }
)
_NO_ELEMENTS = expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS]


class RefusedError(JUnitError):
    """Raised from inside expat handlers; carries the reason without position."""


class ParseFailedError(Exception):
    """The XML could not be parsed any further."""

    def __init__(self, reason: str, *, repairable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.repairable = repairable


class _Text:
    """Character data capped at `MAX_FIELD_BYTES` UTF-8 bytes, counting what was cut."""

    __slots__ = ("dropped", "parts", "size")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def add(self, text: str) -> None:
        if self.dropped:
            self.dropped += len(text.encode("utf-8", "surrogatepass"))
            return
        room = MAX_FIELD_BYTES - self.size
        # Cheap check first: a str of n characters has at most 4n UTF-8 bytes.
        if len(text) * 4 <= room:
            self.parts.append(text)
            self.size += len(text.encode("utf-8", "surrogatepass"))
            return
        data = text.encode("utf-8", "surrogatepass")
        if len(data) <= room:
            self.parts.append(text)
            self.size += len(data)
            return
        kept = data[:room].decode("utf-8", "ignore")
        kept_size = len(kept.encode("utf-8", "surrogatepass"))
        self.parts.append(kept)
        self.size += kept_size
        self.dropped = len(data) - kept_size

    def value(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n… [truncated {self.dropped} bytes]"
        return text


def _cap(value: str) -> str:
    text = _Text()
    text.add(value)
    return text.value()


class _Node:
    """A kept element inside a testcase."""

    __slots__ = ("attributes", "children", "tag", "text")

    def __init__(self, tag: str, attributes: dict[str, str]) -> None:
        self.tag = tag
        self.attributes = attributes
        self.text = _Text()
        self.children: list[_Node] = []

    def child_text(self, tag: str) -> str:
        return "".join(child.text.value() for child in self.children if child.tag == tag)


def _skip_property(properties: _Node) -> str:
    """The reason in a `<property name="skip" value="…">` (Playwright's `test.skip(cond, reason)`)."""
    for prop in properties.children:
        if prop.attributes.get("name") in ("skip", "skipped"):
            return _cap(prop.attributes.get("value", ""))
    return ""


def _duration(value: str | None) -> float:
    """Seconds from a `time` attribute; anything odd (negative, NaN, inf, text) is 0.0."""
    if not value:
        return 0.0
    try:
        seconds = float(value.strip())
    except ValueError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds >= 0 else 0.0


class Builder:
    """Expat handlers: tracks suites, builds the current testcase, queues finished cases."""

    def __init__(self, suite: str, locator: Locator) -> None:
        self.suite = suite
        self.locator = locator
        self.depth = 0
        self.root_seen = False
        self.suite_names: list[str] = []
        self.open: list[_Node | None] = []  # elements inside the current testcase
        self.ready: list[TestCase] = []

    def install(self, parser: expat.XMLParserType) -> None:
        """Hook these handlers into `parser` (no parameter entities, buffered text)."""
        parser.buffer_text = True
        parser.buffer_size = CHUNK_BYTES
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.data
        parser.StartDoctypeDeclHandler = self.doctype
        parser.EntityDeclHandler = self.entity
        parser.ExternalEntityRefHandler = self.external_entity

    # -- refusals -------------------------------------------------------------
    @staticmethod
    def doctype(_name: str, system_id: str | None, public_id: str | None, *_rest: object) -> None:
        """Refuse a DOCTYPE that names an external DTD."""
        if system_id or public_id:
            reason = "refused: the DOCTYPE names an external DTD (SYSTEM/PUBLIC)"
            raise RefusedError(reason)

    @staticmethod
    def entity(name: str, *_rest: object) -> None:
        """Refuse any entity declaration (before expat could expand it)."""
        raise RefusedError(f"refused: the DOCTYPE declares an entity ({name!r}); JUnit needs none")

    @staticmethod
    def external_entity(*_args: object) -> int:
        """Refuse external entity references."""
        reason = "refused: the document references an external entity"
        raise RefusedError(reason)

    # -- elements -------------------------------------------------------------
    def start(self, tag: str, attributes: dict[str, str]) -> None:
        """An element starts: depth and attribute limits, then the testcase being built."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RefusedError(f"elements are nested deeper than {MAX_DEPTH} levels")
        if len(attributes) > MAX_ATTRIBUTES:
            raise RefusedError(f"<{tag[:40]}> has {len(attributes)} attributes (limit {MAX_ATTRIBUTES})")
        if not self.root_seen:
            self.root_seen = True
            if tag not in ("testsuites", "testsuite"):
                raise RefusedError(f"the root element is <{tag[:40]}>, not <testsuites> or <testsuite>")
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
        """An element ends: a finished testcase is queued in `ready`."""
        self.depth -= 1
        if self.open:
            node = self.open.pop()
            if not self.open and node is not None:
                self.ready.append(self._case(node) if node.children else self._passed(node))
        elif tag == "testsuite" and self.suite_names:
            self.suite_names.pop()

    def data(self, text: str) -> None:
        """Character data of an element kept inside the current testcase."""
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
            message = _cap(outcome.attributes.get("message", ""))
            type_ = _cap(outcome.attributes.get("type", ""))
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
            message=_cap(node.attributes.get("message", "")),
            type=_cap(node.attributes.get("type", "")),
            details=details,
            stdout=node.child_text("system-out"),
            stderr=node.child_text("system-err"),
            duration=_duration(node.attributes.get("time")),
        )


def parse(chunks: Iterable[bytes], builder: Builder, *, encoding: str | None) -> Iterator[TestCase]:
    """Feed chunks to expat; yield each case as soon as its chunk is parsed."""
    parser = expat.ParserCreate(encoding)
    builder.install(parser)
    at_end = False
    fed = 0
    try:
        for chunk in chunks:
            parser.Parse(chunk, False)  # noqa: FBT003 - expat's flag is positional-only
            ready, builder.ready = builder.ready, []
            yield from ready
            fed += len(chunk)
            _check_pending(parser, fed)
        at_end = True
        parser.Parse(b"", True)  # noqa: FBT003 - expat's flag is positional-only
    except expat.ExpatError as error:
        yield from builder.ready
        message = expat.errors.messages[error.code] if error.code else str(error)
        where = f"line {error.lineno}, column {error.offset + 1}"
        if at_end and builder.root_seen:
            reason = f"the XML ends early (truncated?) at {where}"
        elif error.code == _NO_ELEMENTS:
            reason = "contains no XML element"
        elif not builder.root_seen:
            reason = f"is not XML ({message} at {where})"
        else:
            reason = f"is not well-formed XML ({message} at {where})"
        raise ParseFailedError(reason, repairable=error.code in _REPAIRABLE) from None
    except RefusedError as error:
        yield from builder.ready
        raise ParseFailedError(str(error), repairable=False) from None
    except RecursionError:  # defensive: expat does not recurse, but be explicit
        reason = "is nested too deeply to read"
        raise ParseFailedError(reason, repairable=False) from None
    except LookupError as error:  # pyexpat: the XML declaration names a codec Python does not know
        yield from builder.ready
        reason = f"declares an encoding that cannot be read ({error})"
        raise ParseFailedError(reason, repairable=False) from None


def _check_pending(parser: expat.XMLParserType, fed: int) -> None:
    """Refuse when expat holds more than `MAX_TOKEN_BYTES` it has not reported yet.

    After `Parse`, `CurrentByteIndex` is where the last reported event was;
    what lies beyond it is one token (a start tag, a comment) held whole.
    """
    if fed - parser.CurrentByteIndex > MAX_TOKEN_BYTES:
        line = parser.CurrentLineNumber
        msg = f"a single XML tag or comment at line {line} is larger than {MAX_TOKEN_BYTES} bytes"
        raise RefusedError(msg)
