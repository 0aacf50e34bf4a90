"""Read TAP 13/14 (node's ``--test-reporter=tap``, Perl's Test::More, ``prove -v``) into `TestCase` values.

A TAP stream is lines: ``ok N - description # SKIP|TODO reason``, ``not ok …``,
a plan ``1..N``, ``# comments``, ``Bail out! reason``; TAP 13 adds a YAML block
(``  ---`` … ``  ...``) after a test line, TAP 14 subtests indented by four spaces
and announced by ``# Subtest: name``. ``prove -v`` prints each test file's TAP
after a ``t/file.t ..`` header, and a summary that is not TAP.

Mapping: ``ok`` passed, ``not ok`` failed; ``# SKIP`` skipped with the reason;
``not ok … # TODO`` failed as expected (skipped, outcome xfail) and ``ok … # TODO``
passed unexpectedly (passed, outcome xpass). The name is the description (``#N``
when there is none), the class the enclosing subtests (``a group``; with
``prove``, the test file first). Every test line is a case, parents of subtests
too — except node's ``describe`` blocks (YAML ``type: 'suite'``), which node does
not count as tests (one that failed without a failing child, a failed hook, is
an error case). From the YAML block: the message (``error``/``message``, its first
line), type (``name``), details (with ``stack``), duration (``duration_ms``) and
the location (``location``/``at``: ``/abs/test.js:8:1``; a failure's line is the
first stack frame in that file). From Test::More's diagnostics after a failure
(``#   at t/basic.t line 6.``): file, line and message. ``Bail out!`` is an error
case, and the end of the stream. A plan that does not match the test lines (the
stream was cut) is reported after the cases read.

YAML blocks are read with PyYAML's safe loader, only scalar values are used (so
an alias bomb is never expanded), and a block over `MAX_YAML_BYTES` is kept as
text instead of parsed. TAP cannot carry: retries, and the output of a test
other than its diagnostics.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import yaml

from qaagent.errors import ResultFileError
from qaagent.formats import source
from qaagent.formats.source import cap, first_line
from qaagent.junit.locate import Locator, parse_line
from qaagent.results import Status, TestCase

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from qaagent.junit.dialects import Outcome

FORMAT: Final = "tap"
#: a YAML block larger than this is kept as text, not parsed
MAX_YAML_BYTES = 64 * 1024
#: subtest levels tracked at most (deeper ones are read as the deepest)
MAX_LEVELS = 64

_TEST_LINE = re.compile(r"^(?P<ok>not ok|ok)\b(?:[ \t]+(?P<number>\d+))?(?P<rest>.*)$")
_DIRECTIVE = re.compile(r"(?<!\\)#\s*(?P<kind>skip\w*|todo)\b[:\s]*(?P<reason>.*)$", re.IGNORECASE)
_PLAN = re.compile(r"^1\.\.(?P<count>\d+)\s*(?:#\s*(?P<reason>.*))?$")
_BAIL_OUT = re.compile(r"^Bail out!\s*(?P<reason>.*)$")
_SUBTEST = re.compile(r"^#\s*Subtest:\s*(?P<name>.*)$")
_VERSION = re.compile(r"^TAP version \d+\s*$", re.IGNORECASE)
#: prove's header before a test file's TAP: "t/basic.t .. " (dots pad the names to one width)
_PROVE_HEADER = re.compile(r"^(?P<file>[^\s#]\S*) \.{2,}(?: *| (?P<skipped>skipped: .*))$")
_PROVE_SUMMARY = re.compile(r"^(?:Test Summary Report|All tests successful\.|Files=\d+, Tests=\d+)")
#: Test::More: "#   at t/basic.t line 6." (older: "#   in t/basic.t at line 6.")
_PERL_AT = re.compile(r"^\s*(?:at|in) (?P<file>\S+?) (?:at )?line (?P<line>\d+)\.?\s*$")
_PERL_NOISE = re.compile(r"^\s*(?:Failed (?:\(TODO\) )?test\b|Looks like you (?:failed|planned))")
#: a top-level line of a test's YAML block: `key: value` (the value read by `_simple_yaml`)
_YAML_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*):(?: +(?P<value>.*?))? *$")
_LOCATION = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::\d+)?$")
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class _Point:
    """A test line waiting for its YAML block and diagnostics."""

    ok: bool
    number: str
    description: str
    directive: str  # "skip", "todo" or ""
    reason: str
    indent: int
    classname: str
    yaml_lines: list[str] | None = None  #: None: no block (yet)
    yaml_size: int = 0
    yaml_done: bool = False
    diagnostics: source.CappedText = field(default_factory=source.CappedText)
    diagnostic_count: int = 0


@dataclass
class _Section:
    """One TAP stream: the whole file, or one test file of ``prove -v``."""

    file: str = ""
    plan: int | None = None
    count: int = 0
    skip_all: str | None = None


class _Reader:
    def __init__(self, suite: str, base_dir: Path, repo_root: Path) -> None:
        self.suite = suite
        self.locator = Locator(base_dir, repo_root)
        self.pending: _Point | None = None
        self.subtests: dict[int, str] = {}  #: indentation -> the name its "# Subtest:" gave
        self.failed_children: dict[int, int] = {}
        self.section = _Section()
        self.prove = False
        self.stopped = False
        self.problems: list[str] = []
        self.test_lines = 0
        self.ready: list[TestCase] = []  #: finished cases, taken by `iter_cases` after each line

    # -- lines -------------------------------------------------------------------
    def line(self, raw: str) -> None:  # noqa: C901, PLR0912 - one dispatch over TAP's line kinds
        content = raw.lstrip(" ")
        indent = len(raw) - len(content)
        pending = self.pending
        if pending is not None and pending.yaml_lines is not None and not pending.yaml_done:
            if content.rstrip() == "..." and indent == pending.indent + 2:
                pending.yaml_done = True
                return
            if indent >= pending.indent + 2 or not content.strip():
                self._add_yaml(pending, raw)
                return
            pending.yaml_done = True  # a block without its "...": it ends here
        stripped = content.rstrip()
        if not stripped:
            return
        first = stripped[0]  # dispatch on it: the common lines first
        if first in "on" and (match := _TEST_LINE.match(stripped)):
            if self.prove and indent == 0 and stripped == "ok" and self._plan_met():
                return  # prove's verdict for the file, not a test line
            self._flush()
            self._start_point(match, indent)
        elif first == "#":
            self._comment(stripped, indent)
        elif (
            first == "-" and pending is not None and pending.yaml_lines is None and stripped.startswith("---")
        ):
            if indent == pending.indent + 2:
                pending.yaml_lines = []
        elif first == "1" and (match := _PLAN.match(stripped)):
            self._plan(match, indent)
        elif first == "B" and (match := _BAIL_OUT.match(stripped)):
            self._flush()
            message = cap(match["reason"]) or "bailed out"
            self.ready.append(
                TestCase(
                    self.suite, self.section.file, "Bail out!", "error", message=message, details=message
                )
            )
            self.stopped = True
        elif indent == 0 and (header := _PROVE_HEADER.match(stripped)):
            self._new_section(header["file"], header["skipped"])
        elif indent == 0 and self.prove and _PROVE_SUMMARY.match(stripped):
            self._end_section()
            self.stopped = True

    def _plan(self, match: re.Match[str], indent: int) -> None:
        self._flush(deeper_than=indent - 1)
        if indent == 0:
            self.section.plan = int(match["count"][:12])
            reason = match["reason"] or ""
            if self.section.plan == 0 and reason.lower().startswith("skip"):
                self.section.skip_all = reason[4:].lstrip(" :") or "skipped"

    def _comment(self, stripped: str, indent: int) -> None:
        if match := _SUBTEST.match(stripped):
            self._flush(deeper_than=indent - 1)
            if len(self.subtests) < MAX_LEVELS:
                self.subtests[indent + 4] = cap(match["name"])
            return
        pending = self.pending
        if (
            pending is not None
            and pending.indent == indent
            and pending.diagnostic_count < source.MAX_FIELD_BYTES
        ):
            pending.diagnostics.add(stripped[1:].removeprefix(" ") + "\n")
            pending.diagnostic_count += 1

    def _add_yaml(self, point: _Point, raw: str) -> None:
        assert point.yaml_lines is not None  # noqa: S101 - only called inside a block
        if point.yaml_size <= MAX_YAML_BYTES:
            point.yaml_lines.append(raw)
        point.yaml_size += len(raw) + 1

    def _start_point(self, match: re.Match[str], indent: int) -> None:
        rest = match["rest"]
        directive = _DIRECTIVE.search(rest)
        description = rest[: directive.start()] if directive else rest
        description = description.strip().removeprefix("-").strip().replace("\\#", "#").replace("\\\\", "\\")
        kind = ""
        if directive:
            kind = "todo" if directive["kind"].lower() == "todo" else "skip"
        parents = [self.subtests[level] for level in sorted(self.subtests) if level <= indent]
        if self.section.file:
            parents.insert(0, self.section.file)
        self.pending = _Point(
            ok=match["ok"] == "ok",
            number=match["number"] or "",
            description=cap(description),
            directive=kind,
            reason=cap(directive["reason"].strip()) if directive else "",
            indent=indent,
            classname=cap(" › ".join(parents)),
        )
        self.test_lines += 1
        if indent == 0:
            self.section.count += 1

    def _plan_met(self) -> bool:
        return self.section.plan is not None and self.section.count >= self.section.plan

    # -- sections ------------------------------------------------------------------
    def _new_section(self, file: str, skipped: str | None) -> None:
        self._end_section()
        self.prove = True
        self.section = _Section(file=cap(file))
        if skipped:
            reason = skipped.removeprefix("skipped:").strip()
            self.ready.append(
                TestCase(
                    self.suite, self.section.file, "", "skipped", 0.0, self._file(file), None, cap(reason)
                )
            )
            self.section.plan = 0

    def _end_section(self) -> None:
        self._flush()
        section = self.section
        where = f"{section.file}: " if section.file else ""
        if section.skip_all is not None:
            file = self._file(section.file)
            self.ready.append(
                TestCase(self.suite, section.file, "", "skipped", 0.0, file, None, section.skip_all)
            )
        elif section.plan is None and section.count:
            self.problems.append(f"{where}the TAP stream has no plan (1..N): it ended early (truncated?)")
        elif section.plan is not None and section.count != section.plan:
            reported = f"{section.plan} tests but {section.count} were reported"
            self.problems.append(f"{where}the TAP plan says {reported} (truncated?)")
        self.subtests.clear()
        self.failed_children.clear()

    def finish(self) -> None:
        """The end of the stream: the last test, the plan check."""
        if not self.stopped:
            self._end_section()
        if not self.test_lines and not self.problems and self.section.skip_all is None and not self.prove:
            self.problems.append("contains no TAP test line (ok / not ok)")

    # -- cases -------------------------------------------------------------------------
    def _flush(self, deeper_than: int = -1) -> None:
        """Hand out the pending test line (when it is deeper than `deeper_than`)."""
        pending = self.pending
        if pending is None or pending.indent <= deeper_than:
            return
        self.pending = None
        for level in [level for level in self.subtests if level > pending.indent]:
            del self.subtests[level]
        case = self._case(pending)
        if case is not None:
            self.ready.append(case)

    def _case(self, point: _Point) -> TestCase | None:
        fields = _yaml_fields(point)
        children_failed = self.failed_children.pop(point.indent + 4, 0)
        status, outcome = _status(point)
        if fields.get("type") == "suite":
            if status != "failed" or children_failed:
                return None
            status = "error"  # a describe block that failed by itself: a hook
        if status == "failed":
            self.failed_children[point.indent] = self.failed_children.get(point.indent, 0) + 1
        diagnostics = point.diagnostics.value()
        error = fields.get("error") or fields.get("message") or ""
        stack = fields.get("stack", "")
        details = "\n".join(part for part in (error, stack, fields.get("raw", ""), diagnostics) if part)
        file, line, perl_message = self._diagnostic_location(diagnostics)
        where = fields.get("location") or fields.get("at") or ""
        if match := _LOCATION.match(where):
            file = self.locator.relative(match["file"])
            line = parse_line(match["line"], zero_based=False)
            if status in ("failed", "error") and stack:
                line = self.locator.frame_line(file, (stack,)) or line
        if file is None and self.section.file:
            file = self._file(self.section.file)
        message = ""
        if status == "skipped" or outcome is not None:
            message = point.reason or first_line(error) or perl_message
        elif status != "passed":
            message = (
                first_line(error)
                or perl_message
                or first_line(diagnostics)
                or first_line(fields.get("raw", ""))
            )
        return TestCase(
            self.suite,
            point.classname,
            point.description or (f"#{point.number}" if point.number else ""),
            status,
            source.seconds(fields.get("duration_ms"), scale=0.001),
            file,
            line,
            message,
            fields.get("name", ""),
            details if status != "passed" or outcome else "",
            diagnostics if status == "passed" and not outcome else "",
            outcome=outcome,
        )

    def _diagnostic_location(self, diagnostics: str) -> tuple[str | None, int | None, str]:
        """(file, line, message) from Test::More's diagnostics after a failed test."""
        file: str | None = None
        line: int | None = None
        message = ""
        for text in diagnostics.splitlines():
            if file is None and (match := _PERL_AT.match(text)):
                file, line = self._file(match["file"]), parse_line(match["line"], zero_based=False)
            elif not message and text.strip() and not _PERL_NOISE.match(text):
                message = text.strip()
        return file, line, message

    def _file(self, path: str) -> str | None:
        return self.locator.relative(path) if path else None


def _status(point: _Point) -> tuple[Status, Outcome | None]:
    """ok/not ok with its directive: SKIP is skipped, TODO an expected failure (or an unexpected pass)."""
    if point.directive == "skip":
        return "skipped", None
    if point.directive == "todo":
        return ("passed", "xpass") if point.ok else ("skipped", "xfail")
    return ("passed" if point.ok else "failed"), None


def _yaml_fields(point: _Point) -> dict[str, str]:
    """The scalar fields of a test's YAML block (values as text), or ``raw`` when it cannot be read."""
    lines = point.yaml_lines
    if not lines:
        return {}
    if point.yaml_size > MAX_YAML_BYTES:
        return {"raw": cap("\n".join(lines))}
    simple = _simple_yaml(lines)
    if simple is not None:
        return simple
    try:
        data = yaml.load(textwrap.dedent("\n".join(lines)), Loader=_LOADER)  # noqa: S506 - a safe loader
    except (yaml.YAMLError, RecursionError, ValueError):
        return {"raw": cap(textwrap.dedent("\n".join(lines)))}
    if not isinstance(data, dict):
        return {"raw": cap(textwrap.dedent("\n".join(lines)))}
    # scalars only: a list or mapping (an alias bomb, say) is never walked
    return {
        str(key): cap(str(value))
        for key, value in data.items()
        if isinstance(key, str) and isinstance(value, str | int | float) and not isinstance(value, bool)
    }


def _simple_yaml(lines: list[str]) -> dict[str, str] | None:
    """Read the YAML that test runners write by hand — ``key: value`` and ``key: |-`` blocks — or None.

    node's blocks are flat mappings of plain or single-quoted scalars and literal
    blocks; reading those here is ~50x faster than PyYAML. Anything else (nested
    mappings, lists, double quotes, anchors, tags, comments) returns None and is
    left to PyYAML.
    """
    fields: dict[str, str] = {}
    base = len(lines[0]) - len(lines[0].lstrip(" "))
    index = 0
    while index < len(lines):
        match = _YAML_KEY.match(lines[index])
        if match is None or len(match["indent"]) != base:
            return None
        key, value = match["key"], match["value"] or ""
        index += 1
        if value in ("|", "|-"):
            block: list[str] = []
            block_indent = 0  # set by the block's first non-blank line; no later line may be less
            while index < len(lines) and (not lines[index].strip() or _indent(lines[index]) > base):
                if lines[index].strip():
                    block_indent = block_indent or _indent(lines[index])
                    if _indent(lines[index]) < block_indent:
                        return None
                block.append(lines[index])
                index += 1
            text = textwrap.dedent("\n".join(block))
            fields[key] = text.rstrip("\n") + ("\n" if value == "|" and text.strip() else "")
        elif value[:1] == "'" == value[-1:] and len(value) > 1 and "'" not in value[1:-1].replace("''", ""):
            fields[key] = value[1:-1].replace("''", "'")
        elif value and value[0] not in "'\"[]{}&*!|>%@`#-?:," and " #" not in value and ": " not in value:
            fields[key] = value
        else:
            return None
    return fields


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def iter_cases(path: Path, *, suite: str, base_dir: Path, repo_root: Path) -> Iterator[TestCase]:
    """Stream the cases of one TAP file (or ``prove -v`` output); `ResultFileError` on a broken file."""
    label = source.label_of(path, repo_root)
    reader = _Reader(suite, base_dir, repo_root)
    long_lines = 0
    with source.reading(label), source.open_result_file(path, repo_root, label, kind="TAP file") as handle:
        for raw in source.bounded_lines(handle):
            if raw is None:
                long_lines += 1
                continue
            reader.line(raw.expandtabs(4) if "\t" in raw[:64] else raw)
            if reader.ready:
                yield from reader.ready
                reader.ready.clear()
            if reader.stopped:
                break
        reader.finish()
        yield from reader.ready
    if long_lines:
        reader.problems.append(f"{long_lines} line(s) longer than {source.MAX_LINE_BYTES} bytes were skipped")
    if reader.problems:
        more = f" (and {len(reader.problems) - 1} more problem(s))" if len(reader.problems) > 1 else ""
        raise ResultFileError(f"{label}: {reader.problems[0]}{more}")
