"""One JSON record per test case (tests.jsonl), each with a stable evidence id.

An evidence id (``TST-20240501-0001``) names one test result of one run: the
date the run started and a counter over the whole run in report order
(suites in `suite_order`, cases as the runner reported them), so the same run
content always gives the same ids. Audit trails and tickets can cite it.
Records are written as the merged report is streamed, one line at a time.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from qaagent.evidence.diagnostics import categorize
from qaagent.text import clean_text

if TYPE_CHECKING:
    from qaagent.evidence.redact import Redactor
    from qaagent.results import TestCase

#: characters of a message kept in a record (the merged JUnit has the rest)
MESSAGE_LIMIT = 1000
_CACHE_SIZE = 4096
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: the string encoder `_ENCODER` uses (C-accelerated, ``ensure_ascii=False``)
_json_str = json.encoder.encode_basestring


def id_prefix(run_started_at: float) -> str:
    """``TST-YYYYMMDD-`` for a run that started at `run_started_at` (epoch seconds, UTC date)."""
    return f"TST-{datetime.fromtimestamp(max(0.0, run_started_at), UTC):%Y%m%d}-"


class RecordWriter:
    """Writes tests.jsonl lines and counts diagnostic categories on the way."""

    def __init__(self, handle: IO[str], run_started_at: float, redactor: Redactor) -> None:
        self._handle = handle
        self._prefix = id_prefix(run_started_at)
        self._redactor = redactor
        self.count = 0
        #: failed/errored/flaky cases per diagnostic category
        self.categories: dict[str, int] = {}
        self._cache: dict[str, str] = {}
        self._json_cache: dict[str, str] = {}

    def _text(self, value: str) -> str:
        return clean_text(self._redactor.redact(value)) if value else value

    def _repeated(self, value: str) -> str:
        cached = self._cache.get(value)
        if cached is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            cached = self._cache[value] = self._text(value)
        return cached

    def record(self, case: TestCase) -> dict[str, Any]:
        """Build the record of the next case (advances the counter)."""
        self.count += 1
        category: str | None = None
        if case.is_problem:
            category = categorize(case)
            self.categories[category] = self.categories.get(category, 0) + 1
        return {
            "id": f"{self._prefix}{self.count:04d}",
            "suite": self._repeated(case.suite),
            "classname": self._repeated(case.classname),
            "name": self._text(case.name),
            "file": self._repeated(case.file) if case.file else None,
            "line": case.line,
            "status": case.status,
            "attempts": case.attempts,
            "flaky": case.flaky,
            "duration": round(max(0.0, case.duration), 3),
            "message": self._text(case.message[:MESSAGE_LIMIT]) if case.message else "",
            "category": category,
            "artifacts": [self._text(a) for a in case.artifacts] if case.artifacts else [],
            # xfail/xpass: the merged JUnit cannot say it for every format (a passing TAP TODO is
            # a plain pass there), so a merge of shards takes it from here
            "outcome": case.outcome,
        }

    def _repeated_json(self, value: str) -> str:
        """`_repeated` as a JSON string literal, memoised."""
        cached = self._json_cache.get(value)
        if cached is None:
            if len(self._json_cache) >= _CACHE_SIZE:
                self._json_cache.clear()
            cached = self._json_cache[value] = _json_str(self._text(value))
        return cached

    def line(self, case: TestCase) -> str:
        """The JSON line of the next case (advances the counter).

        The same text as encoding `record(case)` with `_ENCODER` (same keys,
        order and escaping), built directly: the generic encoder was a third of
        the reporting path's write time on large runs.
        """
        duration = round(max(0.0, case.duration), 3)
        if (
            case.artifacts
            or type(duration) is not float
            or not math.isfinite(duration)
            or type(case.attempts) is not int
            or (case.line is not None and type(case.line) is not int)
            or case.outcome is not None
        ):  # unusual values: let the generic encoder spell them
            return _ENCODER.encode(self.record(case)) + "\n"
        self.count += 1
        category = "null"
        if case.is_problem:
            found = categorize(case)
            self.categories[found] = self.categories.get(found, 0) + 1
            category = _json_str(found)
        message = _json_str(self._text(case.message[:MESSAGE_LIMIT])) if case.message else '""'
        return (
            f'{{"id":"{self._prefix}{self.count:04d}"'
            f',"suite":{self._repeated_json(case.suite)}'
            f',"classname":{self._repeated_json(case.classname)}'
            f',"name":{_json_str(self._text(case.name))}'
            f',"file":{self._repeated_json(case.file) if case.file else "null"}'
            f',"line":{"null" if case.line is None else repr(case.line)}'
            f',"status":{_json_str(case.status)}'
            f',"attempts":{case.attempts!r}'
            f',"flaky":{"true" if case.flaky else "false"}'
            f',"duration":{duration!r}'
            f',"message":{message}'
            f',"category":{category}'
            ',"artifacts":[],"outcome":null}\n'
        )

    def write(self, case: TestCase) -> None:
        """Append the record of `case` as one line."""
        self._handle.write(self.line(case))
