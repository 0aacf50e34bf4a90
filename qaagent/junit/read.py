"""Read JUnit XML written by test tools into `TestCase` values, treating it as hostile.

A suite's JUnit file comes from whatever the project's tests print, so it may
be huge, truncated, not XML, mis-encoded, or crafted (entity expansion, external
entities, absurd nesting). Every such file becomes a `JUnitError` with a
one-line reason — never a crash, a hang or unbounded memory — and the cases
read before the problem stay valid.

Why expat directly and not ``ElementTree.iterparse``: the C parser behind
iterparse hides expat's handlers, so it can neither refuse an entity
declaration before expat expands it nor cap a huge ``system-out`` while
parsing. We drive ``xml.parsers.expat`` with the same start/end events, build
only the elements of the current ``<testcase>`` (known children only, text
capped at `MAX_FIELD_BYTES`), and hand each case out as soon as it ends, so
memory stays flat however many cases a file holds.

Broken characters (invalid UTF-8, or the raw ESC byte behave writes into
attributes) are repaired by a second pass that decodes with replacement and
drops XML-illegal characters; the cases the first pass already yielded are
skipped, not repeated.
"""

# os.path on purpose: paths are compared lexically; symlinks are resolved only where we ask.
# ruff: noqa: PTH100, PTH114

from __future__ import annotations

import codecs
import math
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final
from xml.parsers import expat

from qaagent.errors import JUnitError
from qaagent.junit.locate import Locator
from qaagent.results import FailStatus, Rerun, Status, TestCase

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

#: files larger than this are refused (bytes); a module constant so callers can tune it
MAX_FILE_BYTES = 256 * 1024 * 1024
#: elements nested deeper than this are refused
MAX_DEPTH = 256
#: an element with more attributes than this is refused
MAX_ATTRIBUTES = 256
#: message, details, stdout and stderr are cut to this many UTF-8 bytes each
MAX_FIELD_BYTES = 64 * 1024
#: flaky/rerun elements kept per test case (the rest are ignored)
MAX_RERUNS = 100
#: bytes fed to the parser at a time
CHUNK_BYTES = 64 * 1024
#: bytes expat may hold without reporting anything (one start tag, comment, ...): a start tag
#: with a million attributes costs ~20x its size in memory before any handler can refuse it
MAX_TOKEN_BYTES = 4 * 1024 * 1024

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
_ILLEGAL_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: character references to characters XML 1.0 forbids (&#27; &#x1b; ...)
_ILLEGAL_CHAR_REFS = re.compile(r"&#(?:x0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F])|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]));")
#: ANSI colour/cursor sequences, raw or as character references (behave writes them): the repair
#: removes whole sequences, so no `[31m` fragment is left behind once the ESC is gone
_ANSI_SEQUENCES = re.compile(
    r"(?:\x1b|&#(?:27|x0*1[bB]);)(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b&]*(?:\x07|\x1b\\)?)"
)
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


class _RefusedError(JUnitError):
    """Raised from inside expat handlers; carries the reason without position."""


class _ParseFailedError(Exception):
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


class _Builder:
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
        if system_id or public_id:
            reason = "refused: the DOCTYPE names an external DTD (SYSTEM/PUBLIC)"
            raise _RefusedError(reason)

    @staticmethod
    def entity(name: str, *_rest: object) -> None:
        raise _RefusedError(f"refused: the DOCTYPE declares an entity ({name!r}); JUnit needs none")

    @staticmethod
    def external_entity(*_args: object) -> int:
        reason = "refused: the document references an external entity"
        raise _RefusedError(reason)

    # -- elements -------------------------------------------------------------
    def start(self, tag: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _RefusedError(f"elements are nested deeper than {MAX_DEPTH} levels")
        if len(attributes) > MAX_ATTRIBUTES:
            raise _RefusedError(f"<{tag[:40]}> has {len(attributes)} attributes (limit {MAX_ATTRIBUTES})")
        if not self.root_seen:
            self.root_seen = True
            if tag not in ("testsuites", "testsuite"):
                raise _RefusedError(f"the root element is <{tag[:40]}>, not <testsuites> or <testsuite>")
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


def _parse(chunks: Iterable[bytes], builder: _Builder, *, encoding: str | None) -> Iterator[TestCase]:
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
        raise _ParseFailedError(reason, repairable=error.code in _REPAIRABLE) from None
    except _RefusedError as error:
        yield from builder.ready
        raise _ParseFailedError(str(error), repairable=False) from None
    except RecursionError:  # defensive: expat does not recurse, but be explicit
        reason = "is nested too deeply to read"
        raise _ParseFailedError(reason, repairable=False) from None
    except LookupError as error:  # pyexpat: the XML declaration names a codec Python does not know
        yield from builder.ready
        reason = f"declares an encoding that cannot be read ({error})"
        raise _ParseFailedError(reason, repairable=False) from None


def _check_pending(parser: expat.XMLParserType, fed: int) -> None:
    """Refuse when expat holds more than `MAX_TOKEN_BYTES` it has not reported yet.

    After `Parse`, `CurrentByteIndex` is where the last reported event was;
    what lies beyond it is one token (a start tag, a comment) held whole.
    """
    if fed - parser.CurrentByteIndex > MAX_TOKEN_BYTES:
        line = parser.CurrentLineNumber
        msg = f"a single XML tag or comment at line {line} is larger than {MAX_TOKEN_BYTES} bytes"
        raise _RefusedError(msg)


def _raw_chunks(handle: BinaryIO) -> Iterator[bytes]:
    """Yield the file's bytes, refusing to read past `MAX_FILE_BYTES` (files can grow)."""
    total = 0
    while chunk := handle.read(CHUNK_BYTES):
        total += len(chunk)
        if total > MAX_FILE_BYTES:
            raise _RefusedError(f"is larger than the {MAX_FILE_BYTES} byte limit")
        yield chunk


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
    chunks = _raw_chunks(handle)
    for raw in chunks:
        text = held + decoder.decode(raw)
        cut = text.rfind("&", max(0, len(text) - 12))
        held, text = (text[cut:], text[:cut]) if cut >= 0 and ";" not in text[cut:] else ("", text)
        yield _clean(text)
    yield _clean(held + decoder.decode(b"", final=True))


def _clean(text: str) -> bytes:
    text = _ANSI_SEQUENCES.sub("", text)
    text = _ILLEGAL_CHAR_REFS.sub("", _ILLEGAL_CHARS.sub("", text))
    return text.encode("utf-8", "surrogatepass")


def _label(path: Path, repo_root: Path) -> str:
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(os.path.abspath(repo_root)).as_posix()
    except ValueError:
        return str(path)


def _inside(path: str, root: str) -> bool:
    relative = os.path.relpath(path, root)
    return relative != ".." and not relative.startswith("../")


def _check_location(path: Path, repo_root: Path, label: str) -> str:
    """Return the absolute path; refuse a file in the project (or a link) that resolves outside it."""
    absolute = os.path.abspath(path)
    root = os.path.abspath(repo_root)
    if _inside(absolute, root) or os.path.islink(absolute):
        real = os.path.realpath(absolute)
        if not _inside(real, os.path.realpath(root)):
            raise JUnitError(f"{label}: refused: it points outside the project (to {real})")
    return absolute


def _check_kind(info: os.stat_result, label: str) -> None:
    """Refuse anything but a non-empty regular file within the size limit."""
    if stat.S_ISDIR(info.st_mode):
        raise JUnitError(f"{label}: is a directory, not a JUnit file")
    if not stat.S_ISREG(info.st_mode):
        raise JUnitError(f"{label}: is not a regular file")
    if info.st_size == 0:
        raise JUnitError(f"{label}: is empty")
    if info.st_size > MAX_FILE_BYTES:
        raise JUnitError(f"{label}: is {info.st_size} bytes, more than the {MAX_FILE_BYTES} byte limit")


def _open(path: Path, repo_root: Path, label: str) -> BinaryIO:
    """Open a JUnit file after checking it is a regular, bounded file inside the project."""
    absolute = _check_location(path, repo_root, label)
    try:
        # O_NONBLOCK: a FIFO planted where the report should be must not hang us.
        fd = os.open(absolute, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise JUnitError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise JUnitError(f"{label}: is a directory, not a JUnit file") from None
    except OSError as error:
        raise JUnitError(f"{label}: cannot be opened ({error.strerror})") from None
    try:
        _check_kind(os.fstat(fd), label)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def iter_junit_cases(
    path: Path, *, suite: str, base_dir: Path, repo_root: Path, zero_based_lines: bool | None = None
) -> Iterator[TestCase]:
    """Stream the test cases of one JUnit file in document order.

    `base_dir` is the directory the tool ran in (report paths are relative to
    it); `file` on the cases is made relative to `repo_root`. `zero_based_lines`
    says whether `line` attributes count from 0 (pytest), None: decided from the
    report. Raises `JUnitError(reason)` when the file is unreadable, hostile or
    broken; cases already yielded stay valid.
    """
    label = _label(path, repo_root)
    locator = Locator(base_dir, repo_root, zero_based_lines=zero_based_lines)
    handle = _open(path, repo_root, label)
    with handle:
        yielded = 0
        try:
            for case in _parse(_raw_chunks(handle), _Builder(suite, locator), encoding=None):
                yielded += 1
                yield case
        except _ParseFailedError as failure:
            if not failure.repairable:
                raise JUnitError(f"{label}: {failure.reason}") from None
            first_reason = failure.reason
        except OSError as error:
            raise JUnitError(f"{label}: cannot be read ({error.strerror})") from None
        else:
            return
        # A character problem: parse a repaired copy, skipping what was already yielded.
        try:
            handle.seek(0)
            repaired = _parse(_repaired_chunks(handle), _Builder(suite, locator), encoding="UTF-8")
            for index, case in enumerate(repaired):
                if index >= yielded:
                    yield case
        except _ParseFailedError as failure:
            first = f" (first error: {first_reason})" if first_reason != failure.reason else ""
            raise JUnitError(f"{label}: {failure.reason}{first}") from None
        except OSError as error:
            raise JUnitError(f"{label}: cannot be read ({error.strerror})") from None


def iter_junit_files(
    paths: Sequence[Path],
    *,
    suite: str,
    base_dir: Path,
    repo_root: Path,
    problems: list[str],
    zero_based_lines: bool | None = None,
) -> Iterator[TestCase]:
    """Stream the cases of several files in order; one reason per bad file goes to `problems`.

    Never raises for bad input: a broken file contributes the cases read before
    the problem and a reason naming it.
    """
    for path in paths:
        try:
            yield from iter_junit_cases(
                path, suite=suite, base_dir=base_dir, repo_root=repo_root, zero_based_lines=zero_based_lines
            )
        except JUnitError as error:
            problems.append(str(error))


def read_junit_files(
    paths: Sequence[Path], *, suite: str, base_dir: Path, repo_root: Path
) -> tuple[list[TestCase], list[str]]:
    """All cases of several files in order, and one error reason per bad file (naming it)."""
    problems: list[str] = []
    cases = list(
        iter_junit_files(paths, suite=suite, base_dir=base_dir, repo_root=repo_root, problems=problems)
    )
    return cases, problems


__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_DEPTH",
    "MAX_FIELD_BYTES",
    "MAX_FILE_BYTES",
    "MAX_TOKEN_BYTES",
    "iter_junit_cases",
    "iter_junit_files",
    "read_junit_files",
]
