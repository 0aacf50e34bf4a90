"""A run's suite attempts on a time axis: the Mermaid gantt of the job summary, the SVG of report.html.

Both draw one bar per suite attempt with its outcome in words (`attempt_outcome`),
so colour is never the only signal.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from qaagent.report.page import escape as _escape
from qaagent.text import epoch, fmt_seconds

if TYPE_CHECKING:
    from qaagent.evidence.read import AttemptEntry, Manifest
    from qaagent.run_result import RunResult

_OUTCOME_ICON = {"passed": "✓", "failed": "✗", "error": "!", "timed out": "⏱", "cancelled": "■"}


_MERMAID_UNSAFE = re.compile(r"[^A-Za-z0-9 ._-]")


#: bars drawn in the job summary's timeline (about 80 characters each, well under Mermaid's limit)
MAX_GANTT_BARS = 300


def gantt(run: RunResult) -> str:
    """A Mermaid `gantt` block with one bar per suite attempt on the run's time axis ("" if none).

    GitHub renders it in job summaries. Times are epoch milliseconds
    (`dateFormat x`); suite names are reduced to characters Mermaid cannot
    misread. Failed attempts are `crit` (red), passed ones `done`; the task
    label also says the outcome, so colour is not the only signal.
    """
    rows: list[str] = []
    bars = 0
    for index, suite in enumerate(run.suites):
        attempts = [a for a in suite.attempts if a.started_at > 0]
        if not attempts:
            continue
        if bars + len(attempts) > MAX_GANTT_BARS:
            # Mermaid refuses diagrams over 50,000 characters: GitHub would show an error instead.
            rows.append(f"    section {len(run.suites) - index} more suite(s) not drawn")
            break
        bars += len(attempts)
        rows.append(f"    section {_MERMAID_UNSAFE.sub('_', suite.name[:60]) or 'suite'}")
        for attempt in attempts:
            outcome = attempt_outcome(
                attempt.returncode, timed_out=attempt.timed_out, cancelled=attempt.cancelled
            )
            tag = "done" if outcome == "passed" else "crit"
            start = round(attempt.started_at * 1000)
            end = max(start + 1, round((attempt.started_at + max(0.0, attempt.duration)) * 1000))
            label = f"attempt {attempt.number} {outcome} {fmt_seconds(attempt.duration)}"
            rows.append(f"    {label} :{tag}, s{index}a{attempt.number}, {start}, {end}")
    if not rows:
        return ""
    head = (
        "```mermaid\ngantt\n    title Timeline (suite attempts)\n    dateFormat x\n    axisFormat %H:%M:%S\n"
    )
    return head + "\n".join(rows) + "\n```\n\n"


def attempt_outcome(returncode: int | None, *, timed_out: bool, cancelled: bool) -> str:
    """One word for how a suite attempt ended: passed, failed, error, timed out, cancelled."""
    if cancelled:
        return "cancelled"
    if timed_out:
        return "timed out"
    if returncode is None or returncode < 0:
        return "error"
    return "passed" if returncode == 0 else "failed"


def number(value: object, default: float = 0.0) -> float:
    """A finite JSON number as a float, else `default` (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return float(value)


def svg_timeline(manifest: Manifest) -> str:
    """report.html's timeline section: one SVG bar per suite attempt on a shared axis."""
    bars: list[tuple[int, AttemptEntry, float, float]] = []
    suites = manifest.suites
    for index, suite in enumerate(suites):
        for attempt in suite.attempts:
            start = epoch(attempt.started)
            if start is not None:
                bars.append((index, attempt, start, max(0.0, number(attempt.duration))))
    run_start = epoch(manifest.started)
    if not bars:
        return (
            '<section aria-labelledby="tl-h"><h2 id="tl-h">Timeline</h2>'
            "<p>No suite attempt ran.</p></section>"
        )
    origin = min([b[2] for b in bars] + ([run_start] if run_start is not None else []))
    end = max(b[2] + b[3] for b in bars)
    run_end = epoch(manifest.finished)
    if run_end is not None:
        end = max(end, run_end)
    span = max(end - origin, 0.001)
    rows: list[str] = []
    for index, suite in enumerate(suites):
        items: list[str] = []
        for _, attempt, start, duration in (b for b in bars if b[0] == index):
            outcome = attempt_outcome(
                attempt.returncode, timed_out=attempt.timed_out, cancelled=attempt.cancelled
            )
            left = (start - origin) / span * 100
            width = max(duration / span * 100, 0.4)
            left = min(left, 100 - width)
            label = attempt.number
            text = (
                f"{suite.name} attempt {label}: {outcome}, "
                f"from +{start - origin:.2f} s to +{start - origin + duration:.2f} s ({duration:.2f} s)"
            )
            cls = outcome.replace(" ", "-")
            items.append(
                f'<g class="bar o-{cls}" tabindex="0" role="listitem" '
                f'aria-label="{_escape(text)}" data-tip="{_escape(text)}">'
                f"<title>{_escape(text)}</title>"
                f'<rect x="{left:.3f}%" y="3" width="{width:.3f}%" height="22" rx="3" fill="url(#p-{cls})"/>'
                f'<text x="{left:.3f}%" dx="4" y="19">'
                f"{_OUTCOME_ICON.get(outcome, '')} #{_escape(label)} {_escape(outcome)}</text>"
                "</g>"
            )
        rows.append(
            f'<div class="tl-row"><span class="tl-name">{_escape(suite.name)}</span>'
            '<svg class="tl-track" width="100%" height="28" role="list" '
            f'aria-label="attempts of {_escape(suite.name)}">'
            f"{''.join(items)}</svg></div>"
        )
    ticks = "".join(
        f'<text x="{p}%" y="14" text-anchor="{"start" if p == 0 else "end" if p == 100 else "middle"}">'  # noqa: PLR2004 - the axis end
        f"+{fmt_seconds(span * p / 100)}</text>"
        for p in (0, 25, 50, 75, 100)
    )
    return (
        '<section aria-labelledby="tl-h"><h2 id="tl-h">Timeline</h2>'
        '<p class="hint">One bar per suite attempt on a shared time axis; hover or focus a bar '
        "for its times. Bars are marked ✓ passed, ✗ failed (striped), ! error (crossed), "
        "⏱ timed out, ■ cancelled (dotted).</p>"
        f'<div class="timeline">{"".join(rows)}'
        f'<div class="tl-row"><span class="tl-name" aria-hidden="true"></span>'
        f'<svg class="tl-track axis" width="100%" height="18" aria-hidden="true">{ticks}</svg></div></div>'
        '<p id="tl-info" class="tl-info" aria-live="polite"></p></section>'
    )
