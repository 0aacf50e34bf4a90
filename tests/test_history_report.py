"""`qaagent history report`: one offline page, every recorded text escaped, checked in a real Chromium.

Like report.html's tests: the markup is parsed here (only our nonce'd script
and the JSON data block; the CSP forbids everything else), and the page is
opened in headless Chromium with every request other than the page blocked
and recorded. Browser tests skip on a laptop without Chromium and fail when
`CI=true`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT
from history_support import SCOPE, passing, result, run
from test_html_report import HOSTILE, artifacts_dir, parse, require_chromium, run_browser_script

from qaagent.history.record import record
from qaagent.history.report import CHART_SUITES, render
from qaagent.history.store import Store

NODE_SCRIPT = ROOT / "tests" / "browser" / "history_report.cjs"


def seeded(store: Store) -> None:
    """Twelve runs: suites of changing length, hostile flaky tests, one slow test."""
    for number in range(1, 13):
        flaky = [
            result(name, flaky=number % 3 == 0, attempts=2 if number % 3 == 0 else 1) for name in HOSTILE
        ]
        rest = [*passing(20, duration=0.05), result("slow one", duration=4.0 + number / 10)]
        if number % 4 == 0:
            rest.append(result("sometimes broken", "failed"))
        suites = {
            "unit": 10.0 + number,
            "e2e": 40.0 - number,
            **{f"extra{i}": 1.0 for i in range(CHART_SUITES)},
        }
        record(store, run(number, suites=suites), flaky + rest)


def test_the_page_escapes_everything_and_loads_nothing(store: Store) -> None:
    seeded(store)
    page = render(store, SCOPE, branch=None, window=50, runs=100)
    parsed = parse(page)
    assert [attrs.get("type") for attrs, _ in parsed.scripts] == ["application/json", None]
    assert parsed.csp is not None
    assert "default-src 'none'" in parsed.csp
    nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]+)'", parsed.csp)
    assert nonce
    assert parsed.scripts[1][0].get("nonce") == nonce.group(1)
    assert [s.get("nonce") for s in parsed.styles] == [nonce.group(1)]
    assert set(parsed.tags) <= {
        "html", "head", "meta", "link", "title", "style", "body", "main", "header", "h1", "dl", "dt", "dd",
        "section", "h2", "p", "svg", "line", "text", "polyline", "circle", "ul", "li", "label", "input",
        "table", "thead", "tr", "th", "tbody", "noscript", "script",
    }  # fmt: skip
    assert "https://" not in page
    assert "http://" not in page.replace("http://www.w3.org", "")
    data = json.loads(parsed.scripts[0][1])
    names = [item["test"] for item in data["flaky"]]
    assert sorted(names) == sorted(f"unit::tests.test_mod::{h}" for h in HOSTILE)
    assert {item["rate"] for item in data["flaky"]} == {round(4 / 12, 4)}
    assert data["slowest"][0]["test"] == "unit::tests.test_mod::slow one"
    assert data["slowest"][0]["p50"] == pytest.approx(4.65)
    # the charts: 12 runs, the pass rate line and the longest CHART_SUITES suites; the rest named
    assert page.count('<polyline class="line') == 1 + CHART_SUITES
    assert "Not drawn (2)" in page


def test_an_empty_store_gives_a_page_saying_so(store: Store) -> None:
    record(store, run(1, status="cancelled"), passing(1))
    page = render(store, SCOPE, branch=None, window=50, runs=100)
    assert "Pass rate per run: no recorded run yet." in page
    assert json.loads(parse(page).scripts[0][1])["flaky"] == []


@pytest.mark.browser
def test_the_page_in_chromium(store: Store, tmp_path: Path) -> None:
    require_chromium()
    seeded(store)
    page = tmp_path / "history.html"
    page.write_text(render(store, SCOPE, branch=None, window=50, runs=100), encoding="utf-8")
    screenshot = artifacts_dir(tmp_path) / f"history-report-{store.backend.dialect}.png"
    shown = run_browser_script(NODE_SCRIPT, str(page), str(screenshot), "script")
    assert shown["blocked"] == []
    assert shown["console"] == []
    assert shown["pageErrors"] == []
    assert shown["injected"] == 0
    assert shown["title"] == "qaagent history — shop"
    rate, suites = shown["charts"]
    assert (rate["label"], rate["lines"], rate["dots"]) == ("Pass rate per run", 1, 12)
    assert (suites["label"], suites["lines"]) == ("Suite durations", CHART_SUITES)
    assert suites["dots"] == 12 * CHART_SUITES
    assert rate["width"] > 500
    assert shown["legend"][:2] == ["e2e", "unit"]
    expected = [f"unit::tests.test_mod::{h}" for h in HOSTILE]
    assert sorted(shown["flaky"]) == sorted(expected)  # as text, exactly: nothing became markup
    assert set(shown["flakyRates"]) == {"33.3 %"}
    assert shown["slowest"][0] == "unit::tests.test_mod::slow one"
    assert sorted(shown["filtered"]) == sorted(n for n in expected if "script" in n.lower())
    assert shown["note"] == f"{len(shown['filtered'])} of {len(expected)} match."
