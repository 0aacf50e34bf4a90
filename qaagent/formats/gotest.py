"""Read ``go test -json`` output (test2json events, one JSON object a line) into `TestCase` values.

Each line is an event ``{"Time", "Action", "Package", "Test", "Elapsed", "Output"}``.
A test's ``run`` starts it, its ``output`` lines are collected (capped), and its
``pass``/``fail``/``skip`` (or ``bench``) ends it: that is when its case is handed
out, so parallel tests interleave freely and memory holds only the tests still
running (at most `MAX_OPEN`). gotestsum's ``--jsonfile`` is the same stream.

Mapping: pass/bench → passed, fail → failed, skip → skipped; the class is the
package's import path, the name is the test's (``TestTable/2+2`` for a subtest;
parents are cases too, as ``go test`` counts them); duration from ``Elapsed``. The
message, file and line come from the output (`qaagent.formats.golang`:
``calc_test.go:18: Add(1, 1) = 2, want 3``, a panic's first test-file frame), the
file through the nearest ``go.mod``. A package that fails without a failing test
(a build failure — ``FailedBuild`` and ``build-output`` events from Go 1.24 on —,
``TestMain`` exiting non-zero, a timeout) becomes an error case named
``(package)``; before Go 1.24 a build failure is plain text among the events —
``FAIL <pkg> [build failed]`` (a tab after FAIL) (or ``[setup failed]``) on stdout, the compiler's
``# <pkg>`` block on stderr, both in the file with ``2>&1`` — and reads the same
way (a ``# <pkg>`` block of a package that never reports passing is a failed build
too); a test still running when its package ends (a timeout or crash)
becomes an error case. A stream that ends while a package is still running is
reported as truncated, after the cases read.

``go test -json`` cannot carry: retries (a rerun by ``gotestsum --rerun-fails``
appears as another run of the same test, a case of its own, as gotestsum's
JUnit lists it) and xfail/xpass.
"""

from __future__ import annotations

import json
import json.scanner
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from qaagent.errors import ResultFileError
from qaagent.formats import golang, source
from qaagent.formats.source import CappedText, cap
from qaagent.junit.locate import Locator
from qaagent.results import Status, TestCase

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

FORMAT: Final = "go-test-json"
#: tests running at the same time (t.Parallel) tracked at most
MAX_OPEN = 10_000
PACKAGE_CASE: Final = "(package)"

#: the C scanner behind json.loads, called directly: one event a line, two Python frames fewer
_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
_WHITESPACE = re.compile(r"[ \t\r]*")
#: go test's plain-text line for a package that did not build (before Go 1.24)
GO_TEXT_FAIL = re.compile(r"FAIL\t(?P<package>\S+) \[(?P<what>build|setup) failed\]\s*$")
#: the compiler's header line for a package's errors: ``# example.com/m/p [example.com/m/p.test]``
GO_TEXT_HEADER = re.compile(r"# (?P<package>[^\s\[\]]+)(?: \[[^\]]*\])?\s*$")
_ENDS: Final[dict[str, Status]] = {"pass": "passed", "bench": "passed", "fail": "failed", "skip": "skipped"}


@dataclass
class _Running:
    output: CappedText = field(default_factory=CappedText)
    failed_subtests: int = 0


@dataclass
class _Package:
    output: CappedText = field(default_factory=CappedText)
    tests: dict[str, _Running] = field(default_factory=dict)
    failed_tests: int = 0


class _Reader:
    def __init__(self, suite: str, base_dir: Path, repo_root: Path, label: str) -> None:
        self.suite = suite
        self.label = label
        self.locator = Locator(base_dir, repo_root)
        self.modules = golang.GoModules(base_dir, repo_root)
        self.packages: dict[str, _Package] = {}
        self.build_output: dict[str, CappedText] = {}
        #: plain-text compiler output by package (``# pkg`` blocks), the block being read
        self.text_build: dict[str, CappedText] = {}
        self.text_block: CappedText | None = None
        #: packages that ended (their ``# pkg`` blocks are not failed builds) or have their failure case
        self.settled: set[str] = set()
        self.open_tests = 0
        self.events = 0
        self.ready: list[TestCase] = []

    def event(self, number: int, line: str) -> None:
        """Take one line of the stream; finished cases go to `ready`."""
        start = _WHITESPACE.match(line).end()  # type: ignore[union-attr]
        if not line.startswith("{", start):
            self._text_line(line)  # go test prints build failures (before 1.24) as plain text
            return
        self.text_block = None
        try:
            event, end = _SCAN(line, start)
        except (StopIteration, ValueError, RecursionError):
            raise ResultFileError(f"{self.label}: line {number} is not a JSON event") from None
        if line[end:].strip():
            raise ResultFileError(f"{self.label}: line {number} is not a JSON event (text after it)")
        self.events += 1
        action = event.get("Action")
        package_name = event.get("Package")
        test = event.get("Test")
        if action == "output" and test.__class__ is str and package_name.__class__ is str:
            # the common case, kept short: a line of a running test's output
            running = self.packages.get(package_name)
            found = running.tests.get(test) if running is not None else None
            output = event.get("Output")
            if found is not None and output.__class__ is str:
                found.output.add(output)
                return
        self._general(number, event)

    def _text_line(self, line: str) -> None:
        """A plain-text line: a failed build's ``FAIL`` line, a ``# pkg`` header or the compiler's output."""
        failed = GO_TEXT_FAIL.match(line)
        if failed:
            self.text_block = None
            package_name = cap(failed["package"])
            output = self.text_build.pop(package_name, None)
            self._text_failure(package_name, f"{failed['what']} failed", output.value() if output else "")
            return
        header = GO_TEXT_HEADER.match(line)
        if header:
            self.text_block = self.text_build.setdefault(cap(header["package"]), CappedText())
            self.text_block.add(line.rstrip("\r\n") + "\n")
        elif self.text_block is not None:
            self.text_block.add(line.rstrip("\r\n") + "\n")

    def _text_failure(self, package_name: str, what: str, output: str) -> None:
        self.events += 1
        self.settled.add(package_name)
        lines = [text for text in output.splitlines() if text and not GO_TEXT_HEADER.match(text)]
        first = lines[0].strip() if lines else ""
        message = f"{what}: {first}" if first else f"{what} (go test printed the compiler's errors on stderr)"
        self.ready.append(
            TestCase(self.suite, package_name, PACKAGE_CASE, "error", 0.0, None, None, message, "", output)
        )

    def finish(self) -> None:
        """At the end of the stream: a ``# pkg`` block of a package that never passed is a failed build."""
        for package_name, output in self.text_build.items():
            if package_name not in self.settled and package_name not in self.packages:
                self._text_failure(package_name, "build failed", output.value())
        self.text_build.clear()

    def _general(self, number: int, event: dict[str, Any]) -> None:
        action = _text(event.get("Action"))
        if action == "build-output":
            build = self.build_output.setdefault(cap(_text(event.get("ImportPath"))), CappedText())
            build.add(_text(event.get("Output")))
            return
        package_name = cap(_text(event.get("Package")))
        if not package_name or action in ("start", "build-fail"):
            return
        package = self.packages.setdefault(package_name, _Package())
        test = cap(_text(event.get("Test")))
        if not test:
            self._package_event(package_name, package, action, event)
        else:
            self._test_event(number, package_name, package, test, action=action, event=event)

    def _test_event(
        self,
        number: int,
        package_name: str,
        package: _Package,
        test: str,
        *,
        action: str,
        event: dict[str, Any],
    ) -> None:
        running = package.tests.get(test)
        if running is None:
            if action not in ("run", "output") and action not in _ENDS:
                return
            if self.open_tests >= MAX_OPEN:
                raise ResultFileError(f"{self.label}: line {number}: more than {MAX_OPEN} tests run at once")
            running = package.tests[test] = _Running()
            self.open_tests += 1
        if action == "output":
            running.output.add(_text(event.get("Output")))
        elif action in _ENDS:
            del package.tests[test]
            self.open_tests -= 1
            status = _ENDS[action]
            package.failed_tests += status == "failed"
            if status == "failed":
                _mark_parents(package, test)
            fallback = f"{running.failed_subtests} subtest(s) failed" if running.failed_subtests else ""
            elapsed = source.seconds(event.get("Elapsed"))
            self.ready.append(
                self._case(
                    package_name,
                    test,
                    status,
                    output=running.output.value(),
                    elapsed=elapsed,
                    fallback=fallback,
                )
            )

    def _package_event(
        self, package_name: str, package: _Package, action: str, event: dict[str, Any]
    ) -> None:
        if action == "output":
            package.output.add(_text(event.get("Output")))
            return
        if action not in _ENDS:
            return
        del self.packages[package_name]
        self.settled.add(package_name)
        for test, running in package.tests.items():
            self.open_tests -= 1
            output = running.output.value()
            message = "the test did not finish before its package ended (a timeout or a crash?)"
            self.ready.append(
                self._case(package_name, test, "error", output=output, elapsed=0.0, message=message)
            )
        if action == "fail" and not package.failed_tests and not package.tests:
            self.ready.append(self._package_failure(package_name, package, event))

    def _package_failure(self, package_name: str, package: _Package, event: dict[str, Any]) -> TestCase:
        output = package.output.value()
        failed_build = _text(event.get("FailedBuild"))
        if failed_build:
            build = self.build_output.pop(failed_build, None)
            output = (build.value() if build else "") + output
        _, _, first = golang.failure_line(output)
        message = f"build failed: {first}" if failed_build and first else first or "the package failed"
        return TestCase(
            self.suite,
            package_name,
            PACKAGE_CASE,
            "error",
            source.seconds(event.get("Elapsed")),
            None,
            None,
            message,
            "",
            output,
        )

    def _case(
        self,
        package_name: str,
        test: str,
        status: Status,
        *,
        output: str,
        elapsed: float,
        message: str = "",
        fallback: str = "",
    ) -> TestCase:
        """A finished test; `message` replaces the one found in the output, `fallback` stands in for none."""
        if status == "passed":
            kept = "".join(line for line in output.splitlines(keepends=True) if not golang.is_framework(line))
            return TestCase(self.suite, package_name, test, status, elapsed, stdout=kept)
        file, line, found = golang.failure_line(output)
        location = golang.locate(package_name, file, self.modules, self.locator)
        return TestCase(
            self.suite,
            package_name,
            test,
            status,
            elapsed,
            location,
            line if location else None,
            message or found or fallback,
            "",
            output,
        )

    def unfinished(self) -> str | None:
        """The reason to report when the stream ended with a package still running (or had no event)."""
        if not self.events:
            return "contains no go test -json event (was it written by go test -json?)"
        if not self.packages:
            return None
        name = next(iter(self.packages))
        more = f" (and {len(self.packages) - 1} more)" if len(self.packages) > 1 else ""
        return f"ends before package {name[:200]}{more} finished (truncated?)"


def _mark_parents(package: _Package, test: str) -> None:
    """Count a failed subtest (``A/B/C``) on its running parents (``A/B``, ``A``)."""
    name = test
    while "/" in name:
        name = name.rpartition("/")[0]
        parent = package.tests.get(name)
        if parent is not None:
            parent.failed_subtests += 1


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def iter_cases(path: Path, *, suite: str, base_dir: Path, repo_root: Path) -> Iterator[TestCase]:
    """Stream the cases of one ``go test -json`` file; `ResultFileError` on a broken file."""
    label = source.label_of(path, repo_root)
    reader = _Reader(suite, base_dir, repo_root, label)
    long_lines: list[int] = []
    with (
        source.reading(label),
        source.open_result_file(path, repo_root, label, kind="go test -json file") as handle,
    ):
        for number, line in enumerate(source.bounded_lines(handle), start=1):
            if line is None:
                long_lines.append(number)
            elif line:
                reader.event(number, line)
                if reader.ready:
                    yield from reader.ready
                    reader.ready.clear()
    if long_lines:
        raise ResultFileError(
            f"{label}: {len(long_lines)} line(s) longer than {source.MAX_LINE_BYTES} bytes were skipped "
            f"(first: line {long_lines[0]})"
        )
    reader.finish()
    yield from reader.ready
    reason = reader.unfinished()
    if reason:
        raise ResultFileError(f"{label}: {reason}")
