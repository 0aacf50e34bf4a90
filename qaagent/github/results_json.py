"""The run as one compact JSON value (the `json` step output) and the fingerprint of its result.

The `json` output is for later steps (`fromJSON(steps.qa.outputs.json)`): the
conclusion, the totals, one entry per suite and the ids of the failed and
errored tests, `suite::classname::name`. GitHub takes up to 1 MB per output,
and every later step that uses it carries it in its environment or script,
so the value is capped at `JSON_BYTES`: the names of suites that did not
start are dropped first (`not_run_omitted` counts them), then failed ids from
the end (`failed_omitted`), then, in a run of thousands of suites, suites
(`suites_omitted`). It is ASCII (non-ASCII characters are escaped) and one
line.

`fingerprint` is what `comment-mode: changes` compares: the conclusion, the
totals and the failed ids — not durations, which differ on every run.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from qaagent.run_result import FailOn, RunResult, conclusion

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


#: the lists the cap cuts, in the order they are cut, each with the count of what it left out
#: (the names of suites that never started matter least to a later step)
_CUT_ORDER = (("not_run", "not_run_omitted"), ("failed", "failed_omitted"), ("suites", "suites_omitted"))


def result_json(run: RunResult, fail_on: Sequence[FailOn], *, max_bytes: int = JSON_BYTES) -> str:
    """The run as one line of JSON of at most `max_bytes` bytes."""
    lists: dict[str, list[Any]] = {
        "failed": list(failed_ids(run)),
        "suites": [
            {"name": suite.name, "status": suite.status, **suite.counts.as_dict()} for suite in run.suites
        ],
        "not_run": list(run.not_run),
    }
    value: dict[str, Any] = {
        "conclusion": conclusion(run, fail_on),
        "totals": run.counts.as_dict(),
        "duration": round(run.duration, 3),
        "run_id": run.run_id,
        "suites": [],
        "suites_omitted": 0,
        "not_run": [],
        "not_run_omitted": 0,
        "failed": [],
        "failed_omitted": 0,
    }
    kept = {name: len(items) for name, items in lists.items()}

    def size(name: str | None = None, count: int = 0) -> int:
        for each, omitted in _CUT_ORDER:
            keep = count if each == name else kept[each]
            value[each] = lists[each][:keep]
            value[omitted] = len(lists[each]) - keep
        return len(_dump(value))

    # Empty the lists in their order until the rest fits, then fill the emptied ones back,
    # the last emptied first, as far as each fits.
    emptied: list[str] = []
    for name, _ in _CUT_ORDER:
        if size() <= max_bytes:
            break
        kept[name] = 0
        emptied.append(name)
    for name in reversed(emptied):
        kept[name] = _most(functools.partial(size, name), len(lists[name]), max_bytes)
    size()
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
