"""One JSON record per test case (tests.jsonl), each with a stable evidence id.

An evidence id (``TST-20240501-0001``) names one test result of one run: the
date the run started and a counter over the whole run in report order
(suites in `suite_order`, cases as the runner reported them), so the same run
content always gives the same ids. Audit trails and tickets can cite it.
`RecordWriter` is one writer of the one pass over the run (`qaagent.stream`),
beside the merged JUnit; the file is gzip-compressed (tests.jsonl.gz: a tenth of
the size of the plain lines, which were the bundle's second-largest file).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from qaagent.files import StreamedFile
    from qaagent.results import SuiteResult
    from qaagent.run_result import RunResult
    from qaagent.stream import ReportCase

#: characters of a message kept in a record (the merged JUnit has the rest)
MESSAGE_LIMIT = 1000
_CACHE_SIZE = 4096
#: the file's name in the bundle
RECORDS_NAME = "tests.jsonl.gz"
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: the string encoder `_ENCODER` uses (C-accelerated, ``ensure_ascii=False``)
_json_str = json.encoder.encode_basestring


def id_prefix(run_started_at: float) -> str:
    """``TST-YYYYMMDD-`` for a run that started at `run_started_at` (epoch seconds, UTC date)."""
    return f"TST-{datetime.fromtimestamp(max(0.0, run_started_at), UTC):%Y%m%d}-"


def id_prefix_of(started: object) -> str:
    """The id prefix of a run whose manifest says it `started` (ISO 8601, UTC); "" when unknown."""
    if isinstance(started, str) and len(started) >= 10 and started[4] == "-" and started[7] == "-":  # noqa: PLR2004 - YYYY-MM-DD
        digits = started[:4] + started[5:7] + started[8:10]
        if digits.isascii() and digits.isdigit():
            return f"TST-{digits}-"
    return ""


class RecordWriter:
    """Writes tests.jsonl lines (a `qaagent.stream.CaseWriter`) and counts diagnostic categories."""

    def __init__(self, out: StreamedFile, run_started_at: float, *, name: str = RECORDS_NAME) -> None:
        self.out = out
        self.files: tuple[str, ...] = (name,)
        self._prefix = id_prefix(run_started_at)
        self.count = 0
        #: failed/errored/flaky cases per diagnostic category
        self.categories: dict[str, int] = {}
        self._json_cache: dict[str, str] = {}

    # -- CaseWriter ------------------------------------------------------------------------------

    def begin(self, run: RunResult, manifest: Mapping[str, Any]) -> None:
        """Nothing before the first line."""

    def begin_suite(self, suite: SuiteResult) -> None:
        """Nothing per suite."""

    def cases(self, batch: Sequence[ReportCase]) -> None:
        """The lines of the next cases."""
        line = self.line
        self.out.write("".join([line(item) for item in batch]))

    def end_suite(self, suite: SuiteResult) -> None:
        """Nothing per suite."""

    def end(self) -> None:
        """The file replaces its target."""
        self.digest = self.out.close()

    def abort(self) -> None:
        """Remove the half-written file."""
        self.out.abort()

    # -- records ---------------------------------------------------------------------------------

    def record(self, item: ReportCase) -> dict[str, Any]:
        """Build the record of the next case (advances the counter)."""
        case = item.case
        self.count += 1
        category = item.category
        if category is not None:
            self.categories[category] = self.categories.get(category, 0) + 1
        return {
            "id": f"{self._prefix}{self.count:04d}",
            "suite": item.suite,
            "classname": item.classname,
            "name": item.name,
            "file": item.file,
            "line": case.line,
            "status": case.status,
            "attempts": case.attempts,
            "flaky": case.flaky,
            "duration": round(max(0.0, case.duration), 3),
            "message": item.message[:MESSAGE_LIMIT],
            "category": category,
            "artifacts": list(item.artifacts),
            # xfail/xpass: the merged JUnit cannot say it for every format (a passing TAP TODO is
            # a plain pass there), so a merge of shards takes it from here
            "outcome": case.outcome,
        }

    def _json(self, value: str) -> str:
        """`value` as a JSON string literal, memoised (suites, classnames and files repeat)."""
        cached = self._json_cache.get(value)
        if cached is None:
            if len(self._json_cache) >= _CACHE_SIZE:
                self._json_cache.clear()
            cached = self._json_cache[value] = _json_str(value)
        return cached

    def line(self, item: ReportCase) -> str:
        """The JSON line of the next case (advances the counter).

        The same text as encoding `record(item)` with `_ENCODER` (same keys,
        order and escaping), built directly: the generic encoder was a third of
        the reporting path's write time on large runs.
        """
        case = item.case
        duration = round(max(0.0, case.duration), 3)
        if (
            item.artifacts
            or type(duration) is not float
            or not math.isfinite(duration)
            or type(case.attempts) is not int
            or (case.line is not None and type(case.line) is not int)
            or case.outcome is not None
        ):  # unusual values: let the generic encoder spell them
            return _ENCODER.encode(self.record(item)) + "\n"
        self.count += 1
        category = item.category
        if category is None:
            shown = "null"
        else:
            self.categories[category] = self.categories.get(category, 0) + 1
            shown = _json_str(category)
        message = _json_str(item.message[:MESSAGE_LIMIT]) if item.message else '""'
        return (
            f'{{"id":"{self._prefix}{self.count:04d}"'
            f',"suite":{self._json(item.suite)}'
            f',"classname":{self._json(item.classname)}'
            f',"name":{_json_str(item.name)}'
            f',"file":{self._json(item.file) if item.file is not None else "null"}'
            f',"line":{"null" if case.line is None else repr(case.line)}'
            f',"status":{_json_str(case.status)}'
            f',"attempts":{case.attempts!r}'
            f',"flaky":{"true" if case.flaky else "false"}'
            f',"duration":{duration!r}'
            f',"message":{message}'
            f',"category":{shown}'
            ',"artifacts":[],"outcome":null}\n'
        )
