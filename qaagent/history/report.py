"""``qaagent history report``: one self-contained, offline HTML page of the history.

Trend charts (pass rate per run, suite durations over time) are inline SVG
drawn here; the flaky leaderboard and the slowest tests are tables the inline
script fills in. The page follows report.html's rules (`qaagent.report.html`):

- no network request of any kind: CSS and JS inline, a Content-Security-Policy
  allowing only this page's nonce'd script and style (``default-src 'none'``);
- test names and every other recorded text travel as JSON in a
  ``<script type="application/json">`` block (`embed_json`: nothing in it can
  close the block) and reach the page through ``textContent``; what this module
  writes into the markup itself (suite names, run ids, commits) is escaped.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

from qaagent.history.queries import Trends, slowest, trends
from qaagent.history.rates import flake_rates
from qaagent.history.store import Scope, Store
from qaagent.report.page import embed_json, page_start
from qaagent.report.page import escape as _e

#: flaky tests in the leaderboard, slowest tests in their table
LEADERBOARD = 50
SLOWEST = 20
#: suites drawn on the duration chart (the longest by median; the rest are named below it)
CHART_SUITES = 8
_W, _H, _PAD_L, _PAD_B, _PAD_T = 900, 260, 56, 28, 12


def _asset(name: str) -> str:
    return resources.files("qaagent.history").joinpath("assets", name).read_text(encoding="utf-8")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class _Series:
    label: str
    values: Sequence[float | None]


def _chart(title: str, series: Sequence[_Series], run_labels: Sequence[str], *, top: float, unit: str) -> str:
    """A line chart in SVG: one polyline per series, a marker with a tooltip per point."""
    count = len(run_labels)
    if count == 0:
        return f'<p class="empty">{_e(title)}: no recorded run yet.</p>'
    top = top if top > 0 else 1.0
    width, height = _W - _PAD_L - 8, _H - _PAD_B - _PAD_T

    def x(i: int) -> float:
        return _PAD_L + (width * i / (count - 1) if count > 1 else width / 2)

    def y(v: float) -> float:
        return _PAD_T + height - height * min(v, top) / top

    parts = [
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-labelledby="{_e(title)}-t">',
        f'<title id="{_e(title)}-t">{_e(title)}</title>',
    ]
    for step in range(5):
        value = top * step / 4
        parts.append(
            f'<line class="grid" x1="{_PAD_L}" x2="{_W - 8}" y1="{y(value):.1f}" y2="{y(value):.1f}"/>'
            f'<text class="axis" x="{_PAD_L - 6}" y="{y(value) + 4:.1f}" text-anchor="end">'
            f"{_e(_fmt(value, unit))}</text>"
        )
    for index, line in enumerate(series):
        cls = f"s{index % CHART_SUITES}"
        points = [(x(i), y(v), v, i) for i, v in enumerate(line.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points)
            parts.append(f'<polyline class="line {cls}" points="{path}"/>')
        for px, py, value, i in points:
            tip = f"{line.label} · {run_labels[i]}: {_fmt(value, unit)}"
            parts.append(
                f'<circle class="dot {cls}" cx="{px:.1f}" cy="{py:.1f}" r="3" tabindex="0">'
                f"<title>{_e(tip)}</title></circle>"
            )
    parts.append(
        f'<text class="axis" x="{_PAD_L}" y="{_H - 6}">oldest</text>'
        f'<text class="axis" x="{_W - 8}" y="{_H - 6}" text-anchor="end">newest</text></svg>'
    )
    if len(series) > 1:
        legend = "".join(
            f'<li><svg width="28" height="10" aria-hidden="true"><line class="line s{i % CHART_SUITES}" '
            f'x1="0" x2="28" y1="5" y2="5"/></svg>{_e(s.label)}</li>'
            for i, s in enumerate(series)
        )
        parts.append(f'<ul class="legend">{legend}</ul>')
    return "".join(parts)


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.0%}"
    return f"{value:.1f} s" if value < 600 else f"{value / 60:.1f} min"  # noqa: PLR2004


def _charts(found: Trends) -> str:
    labels = [f"{r.run_id} ({r.commit[:10] or 'no commit'}, {_when(r.started_at)})" for r in found.runs]
    rate = _chart(
        "Pass rate per run",
        [_Series("pass rate", [r.pass_rate for r in found.runs])],
        labels,
        top=1.0,
        unit="%",
    )
    ranked = sorted(
        found.suites.items(),
        key=lambda item: -max((v for v in item[1] if v is not None), default=0.0),
    )
    shown = [_Series(name, values) for name, values in ranked[:CHART_SUITES]]
    top = max((v for s in shown for v in s.values if v is not None), default=0.0)
    durations = _chart("Suite durations", shown, labels, top=top * 1.05, unit="s")
    rest = ranked[CHART_SUITES:]
    if rest:
        durations += f'<p class="note">Not drawn ({len(rest)}): {_e(", ".join(n for n, _ in rest))}</p>'
    return (
        '<section aria-labelledby="rate-h"><h2 id="rate-h">Pass rate per run</h2>'
        '<p class="hint">Passed (flaky included) over the tests that ran, per whole or merged run. '
        f"Hover or focus a point for the run.</p>{rate}</section>"
        '<section aria-labelledby="dur-h"><h2 id="dur-h">Suite durations over time</h2>'
        f'<p class="hint">Each suite\'s time per run (all attempts).</p>{durations}</section>'
    )


def build_data(store: Store, scope: Scope, *, branch: str | None, window: int) -> dict[str, object]:
    """The JSON the page's script renders: the flaky leaderboard and the slowest tests."""
    rates = flake_rates(store, scope, branch=branch, window=window)
    ranked = sorted((r for r in rates.values() if r.flaky), key=lambda r: (-r.rate, -r.flaky, r.test.text))
    slow = slowest(store, scope, branch=branch, window=window, limit=SLOWEST)
    return {
        "flaky": [
            {
                "test": r.test.text,
                "file": r.file,
                "rate": round(r.rate, 4),
                "flaky": r.flaky,
                "results": r.results,
                "last": _when(r.last_flaky_at) if r.last_flaky_at is not None else "",
                "commit": r.last_flaky_commit[:12],
            }
            for r in ranked[:LEADERBOARD]
        ],
        "flaky_total": len(ranked),
        "slowest": [{"test": s.label, "p50": round(s.p50, 3), "runs": s.runs} for s in slow],
    }


def render(store: Store, scope: Scope, *, branch: str | None, window: int, runs: int) -> str:
    """The whole page as text."""
    found = trends(store, scope, branch=branch, limit=runs)
    data = build_data(store, scope, branch=branch, window=window)
    nonce = secrets.token_urlsafe(18)
    script, style = _asset("history.js"), _asset("history.css")
    if "</" in script or "</" in style:  # our own assets: a bug, not input
        msg = "history report assets must not contain '</'"
        raise AssertionError(msg)
    where = f"branch {branch}" if branch else "all branches"
    title = f"qaagent history — {scope.project}"
    facts = [
        ("Project", scope.project),
        ("Repository", scope.repository or "–"),
        ("Runs on the charts", f"{len(found.runs)} ({where})"),
        ("Flake-rate window", f"the last {window} run(s)"),
        ("Store", store.display),
        ("Generated", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ]
    facts_html = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    return (
        page_start(title, style, nonce=nonce, img_src="data:") + "<main>"
        f'<header><h1>{_e(title)}</h1><dl class="facts">{facts_html}</dl></header>'
        f"{_charts(found)}"
        '<section aria-labelledby="flaky-h"><h2 id="flaky-h">Flaky leaderboard</h2>'
        '<p class="hint">A flaky result passed on a retry, or failed on a commit where the same test also '
        "passed. Rate: flaky results over results in the window.</p>"
        '<label>Filter <input id="flaky-filter" type="search" autocomplete="off"></label>'
        '<table id="flaky-table"><thead><tr><th scope="col">#</th><th scope="col">Test</th>'
        '<th scope="col">Rate</th><th scope="col">Flaky / results</th><th scope="col">Last flaky</th>'
        '</tr></thead><tbody></tbody></table><p id="flaky-note" class="note"></p></section>'
        '<section aria-labelledby="slow-h"><h2 id="slow-h">Slowest tests</h2>'
        '<table id="slow-table"><thead><tr><th scope="col">Test</th><th scope="col">p50</th>'
        '<th scope="col">Results</th></tr></thead><tbody></tbody></table></section>'
        "<noscript><p>The tables need JavaScript; `qaagent history flaky` prints the same.</p></noscript>"
        "</main>"
        f'<script type="application/json" id="qa-history">{embed_json(data)}</script>'
        f'<script nonce="{nonce}">{script}</script></body></html>\n'
    )
