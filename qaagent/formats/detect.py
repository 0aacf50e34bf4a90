"""Tell a result file's format from its first bytes.

Only the head of the file is read (`SNIFF_BYTES`, through the same guarded
door as the readers), and nothing is parsed beyond it:

- XML: the root element's name after the prolog (declaration, comments,
  DOCTYPE) — ``testsuites``/``testsuite`` JUnit, ``TestRun`` TRX, ``test-run``
  NUnit 3, ``assemblies``/``assembly`` xUnit.net v2;
- JSON lines whose first object has an ``"Action"``: ``go test -json``; also when
  plain text of go test's comes first (before Go 1.24 a failed build is written
  as ``FAIL <pkg> [build failed]`` (a tab after FAIL), and with ``2>&1`` the compiler's ``# <pkg>``
  block): a ``FAIL`` line of that shape, or ``# <pkg>`` lines followed by an event; the go
  command's own lines before any of these (``go: downloading …`` on a fresh module cache,
  at most `GO_TOOL_LINES`) are skipped;
- a JSON object whose first key is ``"stats"``: Mocha (console output before it
  is allowed, as the reader skips it); a JSON array: Cucumber;
- TAP: a first line ``TAP version N``, a plan ``1..N``, a test line ``ok``/``not
  ok``, ``# Subtest:``, or prove's ``t/file.t ..`` header.

Anything else is a `ResultFileError` that names what the file starts with and
says how to name the format instead.
"""

from __future__ import annotations

import codecs
import re
from typing import TYPE_CHECKING, Final

from qaagent.errors import ResultFileError
from qaagent.formats import source
from qaagent.formats.gotest import GO_TEXT_FAIL, GO_TEXT_HEADER

if TYPE_CHECKING:
    from pathlib import Path

#: bytes read to tell the format
SNIFF_BYTES = 64 * 1024

_XML_PROLOG = re.compile(r"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)", re.DOTALL)
_XML_ROOT = re.compile(r"\s*<(?P<name>[A-Za-z_][\w.:\-]*)")
_XML_ROOTS: Final = {
    "testsuites": "junit",
    "testsuite": "junit",
    "TestRun": "trx",
    "test-run": "nunit3",
    "assemblies": "xunit2",
    "assembly": "xunit2",
}
_NOT_SUPPORTED: Final = {
    "test-results": "NUnit 2 results (<test-results>) are not read: write NUnit 3 (nunit3-console --result)",
}
_GO_EVENT = re.compile(r'^\s*\{[^\n]*"Action"\s*:\s*"')
#: the go command's own lines (``go: downloading example.com/m v1.2.3``) skipped before go test's
_GO_TOOL = re.compile(r"go: \S")
#: of those, skipped at most: one per module downloaded, so a few dozen on a fresh cache
GO_TOOL_LINES: Final = 64
_MOCHA = re.compile(r'^\{\s*"stats"\s*:', re.MULTILINE)
_TAP_FIRST = re.compile(
    r"^(?:TAP version \d+|1\.\.\d+|(?:not )?ok\b|#\s*Subtest:|Bail out!|[^\s#]\S* \.{2,}(?: |$))"
)


def sniff(head: bytes) -> str | None:
    """The format the first bytes of a file look like, or None."""
    text = _decode(head).lstrip("\ufeff \t\r\n")
    if text.startswith("<"):
        return _xml_format(text)
    first_line = text.split("\n", 1)[0]
    if _go_first(text):
        return "go-test-json"
    if text.startswith("{") or _MOCHA.search(text):
        return "mocha-json" if _MOCHA.search(text) else None
    if text.startswith("["):
        return "cucumber-json"
    if _TAP_FIRST.match(first_line):
        return "tap"
    return None


def _go_first(text: str) -> bool:
    """Whether `text` starts as ``go test -json`` output, after at most `GO_TOOL_LINES` go command lines."""
    for _ in range(GO_TOOL_LINES + 1):
        line, _, rest = text.partition("\n")
        if _GO_EVENT.match(line) or _go_text_first(text):
            return True
        if not _GO_TOOL.match(line):
            return False
        text = rest
    return False


def _go_text_first(text: str) -> bool:
    """Whether `text` starts with go test's plain text of a failed build (see `gotest.GO_TEXT_FAIL`)."""
    if GO_TEXT_FAIL.match(text.split("\n", 1)[0]):
        return True
    if not GO_TEXT_HEADER.match(text.split("\n", 1)[0]):
        return False
    # a ``# pkg`` block (compiler output) then the first event or a FAIL line
    for line in text.split("\n")[1:]:
        if _GO_EVENT.match(line) or GO_TEXT_FAIL.match(line):
            return True
        if line.startswith("{"):
            return False
    return False


def _decode(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head.decode("utf-16", "replace")
    return head.decode("utf-8", "replace")


def _root(text: str) -> str | None:
    position = 0
    while match := _XML_PROLOG.match(text, position):
        if match.end() == position:
            break
        position = match.end()
    root = _XML_ROOT.match(text, position)
    return root["name"] if root else None


def _xml_format(text: str) -> str | None:
    root = _root(text)
    if root is None:
        return None
    return _XML_ROOTS.get(root.rpartition(":")[2])


def _describe(head: bytes) -> str:
    """What the file starts with, for the error message."""
    text = _decode(head).lstrip("\ufeff \t\r\n")
    if text.startswith("<"):
        root = _root(text)
        if root is not None:
            return _NOT_SUPPORTED.get(root, f"an XML document whose root is <{root[:40]}>")
        return "XML-like text"
    line = text.split("\n", 1)[0][:60]
    printable = "".join(ch if ch.isprintable() else "?" for ch in line)
    return f"{printable!r}" if printable else "nothing but whitespace"


def detect_format(path: Path, *, repo_root: Path) -> str:
    """The format of the result file at `path` (a name of `qaagent.formats.read.FORMATS`).

    Raises `ResultFileError` (naming the file) when the file cannot be opened or
    its format is not one qaagent reads.
    """
    label = source.label_of(path, repo_root)
    with source.open_result_file(path, repo_root, label) as handle:
        try:
            head = handle.read(SNIFF_BYTES)
        except OSError as error:
            raise source.read_error(label, error) from None
    found = sniff(head)
    if found is None:
        what = _describe(head)
        raise ResultFileError(
            f"{label}: is not a result format qaagent recognises (it starts with {what}); "
            "if it is one, name it with format:"
        )
    return found
