"""Validating patterns end at the end of the text: ``$`` also matches before a trailing line break.

A value such as ``20250101_120000Z\\n`` passed every check anchored with ``$``, and a
line break in a run id, suite name, branch or shard is exactly what an injection needs.
The patterns that parse one line of a tool's output (TAP, go test…) keep ``$``: they
only ever see a line without its break.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from qaagent import options
from qaagent.errors import ProfileError
from qaagent.evidence import bundle as evidence_bundle
from qaagent.evidence.read import RUN_ID_RE, BundleError, read_manifest
from qaagent.history import bundles as history_bundles
from qaagent.profile import SUITE_NAME
from qaagent.profile_load import parse_profile
from qaagent.report import html

VALIDATORS: list[tuple[str, re.Pattern[str], str]] = [
    ("run id", RUN_ID_RE, "20250101_120000Z"),
    ("profile suite name", SUITE_NAME, "unit"),
    ("bundle suite folder", evidence_bundle._SUITE_NAME_RE, "unit"),
    ("shard", options._SHARD, "1/2"),
    ("branch", options._BRANCH, "main"),
    ("report server link", html._SAFE_URL, "https://github.com"),
    ("report repository link", html._SAFE_REPO, "o/r"),
    ("pull request ref", history_bundles._PR_REF, "refs/pull/7/merge"),
]


@pytest.mark.parametrize(("what", "pattern", "good"), VALIDATORS, ids=[v[0] for v in VALIDATORS])
def test_a_validating_pattern_refuses_a_trailing_line_break(
    what: str, pattern: re.Pattern[str], good: str
) -> None:
    assert pattern.match(good), what
    for bad in (good + "\n", good + "\r\n", good + "\nmore"):
        assert pattern.match(bad) is None, (what, bad)


def test_a_manifest_whose_run_id_ends_with_a_line_break_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "20250101_120000Z"
    bundle.mkdir()
    manifest = {"schema_version": 1, "run_id": "20250101_120000Z\n", "status": "success"}
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match="run_id"):
        read_manifest(bundle)


@pytest.mark.parametrize(
    "check",
    [
        lambda: options.shard("1/2\n"),
        lambda: options.branch("main\nx"),
        lambda: options.branch("ma\nin"),
    ],
    ids=["shard", "branch with a second line", "branch with a break inside"],
)
def test_an_option_with_a_line_break_is_refused(check: Callable[[], object]) -> None:
    with pytest.raises(options.InvalidValue):
        check()


def test_a_profile_suite_name_with_a_trailing_line_break_is_refused() -> None:
    with pytest.raises(ProfileError, match="suite name"):
        parse_profile('tests:\n  "unit\\n":\n    runner: pytest\n')
