"""Read Mocha's JSON reporter output (``mocha --reporter json``) into `TestCase` values.

The document is ``{"stats": …, "tests": [...], "pending": [...], "failures": [...],
"passes": [...]}``; every test is in ``tests`` as ``{"title", "fullTitle", "file",
"duration", "currentRetry", "speed", "err": {"message", "stack", "name", …}}``.
``tests`` is streamed item by item (`JsonCursor`); ``failures`` is read after it
for what ``tests`` lacks — a failed hook (``"before all" hook for "x"``), which
Mocha reports only there. Console output printed before the JSON (a test's
``console.log`` when the reporter writes to stdout) is skipped.

Mapping: a test with a non-empty ``err`` failed; one without ``duration`` did not
run (pending: ``it.skip``, or an ``it`` without a body) and is skipped; the rest
passed. The class is the ``fullTitle`` without the test's own ``title`` (the
``describe`` titles), the name is the ``title``; the file is ``file``, the line
the first stack frame naming it. The message is the error's first line, its type
``err.name`` (else the stack's first word), the details the stack. A test that
passed with ``currentRetry`` N > 0 passed on a retry: flaky, N + 1 attempts, with
N earlier failures whose details Mocha does not record. A failed hook is an error
case named after the hook.

Mocha's JSON cannot carry: the output of a test, the earlier attempts' errors,
xfail/xpass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO, Final

from qaagent.attempts import Rerun
from qaagent.formats import source
from qaagent.formats.jsonstream import JsonCursor, JsonError
from qaagent.formats.source import cap, first_line, seconds
from qaagent.junit.locate import Locator
from qaagent.results import Status, TestCase

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

FORMAT: Final = "mocha-json"
#: failed tests remembered while `tests` streams, to tell hook failures apart in `failures`
MAX_REMEMBERED = 200_000
#: bytes of console output before the JSON document that are skipped at most
MAX_PREAMBLE_BYTES = 1024 * 1024
#: earlier attempts recorded per retried test at most
MAX_RETRIES = 100
EARLIER_ATTEMPT: Final = "failed on an earlier attempt (Mocha records no details of it)"


def _text(value: object) -> str:
    return cap(value) if isinstance(value, str) else ""


def _names(record: dict[str, Any]) -> tuple[str, str, str]:
    """(title, fullTitle, file) of a test record."""
    return _text(record.get("title")), _text(record.get("fullTitle")), _text(record.get("file"))


def _error(record: dict[str, Any]) -> dict[str, Any] | None:
    """The record's non-empty ``err`` (a bare text is its message), or None."""
    err = record.get("err")
    if isinstance(err, str) and err:
        return {"message": err}
    return err if isinstance(err, dict) and err else None


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class _Reader:
    def __init__(self, suite: str, base_dir: Path, repo_root: Path) -> None:
        self.suite = suite
        self.locator = Locator(base_dir, repo_root)
        self.failed: set[tuple[str, str]] = set()

    def test(self, record: object) -> TestCase | None:
        if not isinstance(record, dict):
            return None
        names, error = _names(record), _error(record)
        status: Status = "failed" if error else ("skipped" if "duration" not in record else "passed")
        if error and len(self.failed) < MAX_REMEMBERED:
            self.failed.add(names[1:])
        return self._case(record, names, status, error)

    def failure(self, record: object) -> TestCase | None:
        """A failure that is not a test in `tests`: a hook."""
        if not isinstance(record, dict):
            return None
        names = _names(record)
        if names[1:] in self.failed or len(self.failed) >= MAX_REMEMBERED:
            return None
        return self._case(record, names, "error", _error(record) or {})

    def _case(
        self,
        record: dict[str, Any],
        names: tuple[str, str, str],
        status: Status,
        error: dict[str, Any] | None,
    ) -> TestCase:
        title, full, file = names
        classname = full[: -len(title)].rstrip() if title and full.endswith(title) else ""
        relative = self.locator.relative(file) if file else None
        message = stack = kind = ""
        if error is not None:
            message, stack = _text(error.get("message")), _text(error.get("stack"))
            kind = _text(error.get("name")) or source.error_name(stack)
        line = self.locator.frame_line(relative, (stack,)) if relative and stack else None
        retries = min(_count(record.get("currentRetry")), MAX_RETRIES)
        reruns = tuple(Rerun("failed", EARLIER_ATTEMPT) for _ in range(retries))
        return TestCase(
            self.suite,
            classname,
            title,
            status,
            seconds(record.get("duration"), scale=0.001),
            relative,
            line,
            first_line(message) or first_line(stack),
            kind,
            stack or message,
            "",
            "",
            1 + retries,
            bool(retries) and status == "passed",
            reruns,
        )


def _skip_preamble(handle: BinaryIO) -> int:
    """The offset of the line that starts the document (``{``), skipping console output before it."""
    offset = 0
    while offset <= MAX_PREAMBLE_BYTES and (line := handle.readline(MAX_PREAMBLE_BYTES + 1 - offset)):
        stripped = line.lstrip()
        if stripped.startswith(b"{"):
            return offset + len(line) - len(stripped)
        offset += len(line)
    return 0


def iter_cases(path: Path, *, suite: str, base_dir: Path, repo_root: Path) -> Iterator[TestCase]:
    """Stream the cases of one Mocha JSON report; `ResultFileError` on a broken file."""
    label = source.label_of(path, repo_root)
    reader = _Reader(suite, base_dir, repo_root)
    with (
        source.reading(label),
        source.open_result_file(path, repo_root, label, kind="Mocha JSON file") as handle,
    ):
        handle.seek(_skip_preamble(handle))
        cursor = JsonCursor(source.bounded_chunks(handle))
        if cursor.peek() != "{":
            reason = "is not a Mocha JSON report (no JSON object)"
            raise JsonError(reason)
        cursor.begin_object()
        while (key := cursor.next_key()) is not None:
            if key in ("tests", "failures") and cursor.peek() == "[":
                handle_item = reader.test if key == "tests" else reader.failure
                cursor.begin_array()
                while cursor.next_item():
                    case = handle_item(cursor.value())
                    if case is not None:
                        yield case
            else:
                cursor.skip()
        cursor.end()
