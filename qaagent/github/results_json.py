"""The run as one compact JSON value (the `json` step output) and the fingerprint of its result.

The `json` output is for later steps (`fromJSON(steps.qa.outputs.json)`): the
conclusion, the totals, one entry per suite and the ids of the failed and
errored tests, `suite::classname::name`. GitHub takes up to 1 MB per output,
and every later step that uses it carries it in its environment or script,
so the value is capped at `JSON_BYTES`: failed ids are dropped from the end
(the count of dropped ones is `failed_omitted`), then, in a run of
thousands of suites, suites (`suites_omitted`). It is ASCII (non-ASCII
characters are escaped) and one line.

`fingerprint` is what `comment-mode: changes` compares: the conclusion, the
totals and the failed ids — not durations, which differ on every run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from qaagent.results import FailOn, RunResult, conclusion

#: the most bytes of the `json` output
JSON_BYTES = 65_536


def case_id(suite: str, classname: str, name: str) -> str:
    """A test's id in the `json` output."""
    return "::".join(part for part in (suite, classname, name) if part)


def failed_ids(run: RunResult) -> Iterator[str]:
    """The ids of the failed and errored tests, in report order."""
    for case in run.problems():
        if case.status in ("failed", "error"):
            yield case_id(case.suite, case.classname, case.name)


def result_json(run: RunResult, fail_on: Sequence[FailOn], *, max_bytes: int = JSON_BYTES) -> str:
    """The run as one line of JSON of at most `max_bytes` bytes."""
    suites = [{"name": suite.name, "status": suite.status, **suite.counts.as_dict()} for suite in run.suites]
    failed = list(failed_ids(run))
    value: dict[str, Any] = {
        "conclusion": conclusion(run, fail_on),
        "totals": run.counts.as_dict(),
        "duration": round(run.duration, 3),
        "run_id": run.run_id,
        "suites": suites,
        "suites_omitted": 0,
        "not_run": list(run.not_run),
        "failed": failed,
        "failed_omitted": 0,
    }

    def size(kept_failed: int, kept_suites: int) -> int:
        value["failed"] = failed[:kept_failed]
        value["failed_omitted"] = len(failed) - kept_failed
        value["suites"] = suites[:kept_suites]
        value["suites_omitted"] = len(suites) - kept_suites
        return len(_dump(value))

    if size(len(failed), len(suites)) > max_bytes:
        keep_suites = len(suites)
        if size(0, keep_suites) > max_bytes:
            keep_suites = _most(lambda n: size(0, n), len(suites), max_bytes)
        keep_failed = _most(lambda n: size(n, keep_suites), len(failed), max_bytes)
        size(keep_failed, keep_suites)
    return _dump(value)


def _most(measure: Callable[[int], int], high: int, max_bytes: int) -> int:
    """The largest n in 0..high with measure(n) <= max_bytes (measure grows with n)."""
    low = 0
    while low < high:
        mid = (low + high + 1) // 2
        if measure(mid) <= max_bytes:
            low = mid
        else:
            high = mid - 1
    return low


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def fingerprint(run: RunResult, fail_on: Sequence[FailOn]) -> str:
    """A short digest of the result (conclusion, totals, failed ids); equal results, equal digests."""
    digest = hashlib.sha256()
    digest.update(conclusion(run, fail_on).encode())
    digest.update(json.dumps(run.counts.as_dict(), sort_keys=True).encode())
    for ident in sorted(failed_ids(run)):
        digest.update(b"\0" + ident.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:20]
