"""Drive expat over an untrusted XML result file: refusals, limits, errors, repair.

Every XML format (JUnit, TRX, NUnit 3, xUnit.net v2) goes through here, so an
entity bomb, an external DTD, absurd nesting or a million attributes is refused
in one place, and every malformed file ends in the same one-line reasons.

Why expat directly and not ``ElementTree.iterparse``: the C parser behind
iterparse hides expat's handlers, so it can neither refuse an entity
declaration before expat expands it nor cap a huge text while parsing. A format
subclasses `XmlHandler` (its `on_start`/`on_end`/`data` build only the elements
of the current test and put finished cases on `ready`); `read_xml_cases` feeds
the file chunk by chunk and hands each case out as soon as its chunk is parsed,
so memory stays flat however many cases a file holds.

Broken characters (invalid UTF-8, the raw ESC byte behave writes into
attributes, NUL) are repaired by a second pass that decodes with replacement
and drops XML-illegal characters; the cases the first pass already yielded are
skipped, not repeated.
"""

from __future__ import annotations

import codecs
import re
from typing import TYPE_CHECKING, BinaryIO, ClassVar
from xml.parsers import expat

from qaagent.errors import ResultFileError
from qaagent.formats import source
from qaagent.text import XML_ILLEGAL

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

    from qaagent.results import TestCase

#: elements nested deeper than this are refused
MAX_DEPTH = 256
#: an element with more attributes than this is refused
MAX_ATTRIBUTES = 256
#: bytes expat may hold without reporting anything (one start tag, comment, ...): a start tag
#: with a million attributes costs ~20x its size in memory before any handler can refuse it
MAX_TOKEN_BYTES = 4 * 1024 * 1024

#: expat errors a character repair can fix
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
#: character references to characters XML 1.0 forbids (&#27; &#x1b; ...)
_ILLEGAL_CHAR_REFS = re.compile(r"&#(?:x0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F])|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]));")
#: ANSI colour/cursor sequences, raw or as character references (behave writes them): the repair
#: removes whole sequences, so no `[31m` fragment is left behind once the ESC is gone
_ANSI_SEQUENCES = re.compile(
    r"(?:\x1b|&#(?:27|x0*1[bB]);)(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b&]*(?:\x07|\x1b\\)?)"
)
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


class RefusedError(ResultFileError):
    """Raised from inside expat handlers; carries the reason without the file's label."""


class _ParseFailedError(Exception):
    """The XML could not be parsed any further."""

    def __init__(self, reason: str, *, repairable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.repairable = repairable


def local_name(tag: str) -> str:
    """`tag` without a ``prefix:`` (namespaces are not processed: TRX's default namespace needs none)."""
    return tag.rpartition(":")[2] if ":" in tag else tag


class XmlHandler:
    """The expat side of one format: limits and refusals here, the format's elements in a subclass.

    Subclasses set `ROOTS` (accepted root element names), `ROOT_TEXT` (how the
    error names them) and `FORMAT`, implement `on_start`, `on_end` and `data`, and append
    finished cases to `ready`.
    """

    ROOTS: ClassVar[frozenset[str]] = frozenset()
    ROOT_TEXT: ClassVar[str] = ""
    #: the format's name in refusals ("… JUnit needs none")
    FORMAT: ClassVar[str] = ""

    def __init__(self) -> None:
        self.depth = 0
        self.root_seen = False
        self.ready: list[TestCase] = []

    def install(self, parser: expat.XMLParserType) -> None:
        """Set the handlers on a fresh parser."""
        parser.buffer_text = True
        parser.buffer_size = source.CHUNK_BYTES
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

    def entity(self, name: str, *_rest: object) -> None:
        """Refuse every entity declaration (no result format needs one)."""
        raise RefusedError(f"refused: the DOCTYPE declares an entity ({name!r}); {self.FORMAT} needs none")

    @staticmethod
    def external_entity(*_args: object) -> int:
        """Refuse a reference to an external entity."""
        reason = "refused: the document references an external entity"
        raise RefusedError(reason)

    # -- elements -------------------------------------------------------------
    def start(self, tag: str, attributes: dict[str, str]) -> None:
        """Check depth, attribute count and the root element, then hand over to the format."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RefusedError(f"elements are nested deeper than {MAX_DEPTH} levels")
        if len(attributes) > MAX_ATTRIBUTES:
            raise RefusedError(f"<{tag[:40]}> has {len(attributes)} attributes (limit {MAX_ATTRIBUTES})")
        if not self.root_seen:
            self.root_seen = True
            if local_name(tag) not in self.ROOTS:
                raise RefusedError(f"the root element is <{tag[:40]}>, not {self.ROOT_TEXT}")
        self.on_start(tag, attributes)

    def end(self, tag: str) -> None:
        """Hand the end of an element over to the format."""
        self.depth -= 1
        self.on_end(tag)

    def on_start(self, tag: str, attributes: dict[str, str]) -> None:
        """An element starts (after the checks)."""
        raise NotImplementedError

    def on_end(self, tag: str) -> None:
        """An element ends."""
        raise NotImplementedError

    def data(self, text: str) -> None:
        """Character data (buffered by expat into pieces of up to `CHUNK_BYTES`)."""
        raise NotImplementedError


def _parse(chunks: Iterable[bytes], handler: XmlHandler, *, encoding: str | None) -> Iterator[TestCase]:
    """Feed chunks to expat; yield each case as soon as its chunk is parsed."""
    parser = expat.ParserCreate(encoding)
    handler.install(parser)
    at_end = False
    fed = 0
    try:
        for chunk in chunks:
            parser.Parse(chunk, False)  # noqa: FBT003 - expat's flag is positional-only
            ready, handler.ready = handler.ready, []
            yield from ready
            fed += len(chunk)
            _check_pending(parser, fed)
        at_end = True
        parser.Parse(b"", True)  # noqa: FBT003 - expat's flag is positional-only
        ready, handler.ready = handler.ready, []
        yield from ready
    except expat.ExpatError as error:
        yield from handler.ready
        message = expat.errors.messages[error.code] if error.code else str(error)
        where = f"line {error.lineno}, column {error.offset + 1}"
        if at_end and handler.root_seen:
            reason = f"the XML ends early (truncated?) at {where}"
        elif error.code == _NO_ELEMENTS:
            reason = "contains no XML element"
        elif not handler.root_seen:
            reason = f"is not XML ({message} at {where})"
        else:
            reason = f"is not well-formed XML ({message} at {where})"
        raise _ParseFailedError(reason, repairable=error.code in _REPAIRABLE) from None
    except RefusedError as error:
        yield from handler.ready
        raise _ParseFailedError(str(error), repairable=False) from None
    except RecursionError:  # defensive: expat does not recurse, but be explicit
        reason = "is nested too deeply to read"
        raise _ParseFailedError(reason, repairable=False) from None
    except LookupError as error:  # pyexpat: the XML declaration names a codec Python does not know
        yield from handler.ready
        reason = f"declares an encoding that cannot be read ({error})"
        raise _ParseFailedError(reason, repairable=False) from None
    except source.TooLargeError as error:
        yield from handler.ready
        raise _ParseFailedError(str(error), repairable=False) from None


def _check_pending(parser: expat.XMLParserType, fed: int) -> None:
    """Refuse when expat holds more than `MAX_TOKEN_BYTES` it has not reported yet.

    After `Parse`, `CurrentByteIndex` is where the last reported event was;
    what lies beyond it is one token (a start tag, a comment) held whole.
    """
    if fed - parser.CurrentByteIndex > MAX_TOKEN_BYTES:
        line = parser.CurrentLineNumber
        msg = f"a single XML tag or comment at line {line} is larger than {MAX_TOKEN_BYTES} bytes"
        raise RefusedError(msg)


def _repair_codec(head: bytes) -> str:
    """Choose the codec to decode a broken file with: its BOM, its declaration, else UTF-8."""
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if head.startswith(bom):
            return name
    match = _DECLARED_ENCODING.match(head)
    if match:
        try:
            return codecs.lookup(match.group(1).decode("ascii")).name
        except LookupError:
            pass
    return "utf-8"


def _repaired_chunks(handle: BinaryIO) -> Iterator[bytes]:
    """Yield the file re-encoded as UTF-8 with undecodable bytes replaced and illegal characters dropped."""
    head = handle.read(1024)
    handle.seek(0)
    decoder = codecs.getincrementaldecoder(_repair_codec(head))(errors="replace")
    held = ""  # an unfinished "&#..." at a chunk's end waits for the next chunk
    for raw in source.bounded_chunks(handle):
        text = held + decoder.decode(raw)
        cut = text.rfind("&", max(0, len(text) - 12))
        held, text = (text[cut:], text[:cut]) if cut >= 0 and ";" not in text[cut:] else ("", text)
        yield _clean(text)
    yield _clean(held + decoder.decode(b"", final=True))


def _clean(text: str) -> bytes:
    text = _ANSI_SEQUENCES.sub("", text)
    text = _ILLEGAL_CHAR_REFS.sub("", XML_ILLEGAL.sub("", text))
    return text.encode("utf-8", "surrogatepass")


def read_xml_cases(
    path: Path,
    *,
    repo_root: Path,
    make_handler: Callable[[], XmlHandler],
    kind: str,
    error: type[ResultFileError] = ResultFileError,
) -> Iterator[TestCase]:
    """Stream the cases a handler builds from one XML file, in document order.

    `make_handler` is called once per pass (a second pass repairs broken
    characters). Raises `error(reason)` (a `ResultFileError`) naming the file
    when it is unreadable, hostile or broken; cases already yielded stay valid.
    """
    label = source.label_of(path, repo_root)
    try:
        handle = source.open_result_file(path, repo_root, label, kind=kind)
    except ResultFileError as refused:
        raise error(str(refused)) from None
    with handle:
        yielded = 0
        try:
            for case in _parse(source.bounded_chunks(handle), make_handler(), encoding=None):
                yielded += 1
                yield case
        except _ParseFailedError as failure:
            if not failure.repairable:
                raise error(f"{label}: {failure.reason}") from None
            first_reason = failure.reason
        except OSError as problem:
            raise error(str(source.read_error(label, problem))) from None
        else:
            return
        yield from _repair_pass(
            handle, make_handler, skip=yielded, label=label, first_reason=first_reason, error=error
        )


def _repair_pass(
    handle: BinaryIO,
    make_handler: Callable[[], XmlHandler],
    *,
    skip: int,
    label: str,
    first_reason: str,
    error: type[ResultFileError],
) -> Iterator[TestCase]:
    """A character problem: parse a repaired copy, skipping the `skip` cases already yielded."""
    try:
        handle.seek(0)
        repaired = _parse(_repaired_chunks(handle), make_handler(), encoding="UTF-8")
        for index, case in enumerate(repaired):
            if index >= skip:
                yield case
    except _ParseFailedError as failure:
        first = f" (first error: {first_reason})" if first_reason != failure.reason else ""
        raise error(f"{label}: {failure.reason}{first}") from None
    except OSError as problem:
        raise error(str(source.read_error(label, problem))) from None


__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_DEPTH",
    "MAX_TOKEN_BYTES",
    "RefusedError",
    "XmlHandler",
    "local_name",
    "read_xml_cases",
]
