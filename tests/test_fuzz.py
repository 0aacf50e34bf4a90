"""Property-based tests (hypothesis) for the parts that read or write untrusted text.

- profile loader: any text gives a Profile or a one-line ProfileError, never another exception;
- JUnit reader: structured XML-ish input (the byte-level fuzz lives in test_junit_hostile.py);
- workflow commands: the emitted line parses back, the way the runner parses it, to one
  command carrying exactly the text (Unicode line separators become an encoded newline);
- summary truncation: never over the budget, a prefix cut at a line end (no split character,
  no half table row);
- redaction of a stream in pieces of any size equals redaction of the whole text, and no
  secret survives it, even split by a line break.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import read_junit_files, unescape_data, unescape_property
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qaagent.errors import ProfileError
from qaagent.github import commands
from qaagent.profile import Profile
from qaagent.profile_load import parse_profile
from qaagent.redact import Redactor
from qaagent.redact_stream import StreamRedactor
from qaagent.results import TestCase
from qaagent.text import truncate_utf8

FUZZ = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])

# -- profile loader -----------------------------------------------------------

KEYS = ["run", "tests", "project", "app", "reports", "unit", "parallel", "max_workers", "timeout"]
KEYS += ["retry_count", "suite_order", "runner", "command", "path", "env", "args", "enabled", "&a", "*a"]
TOKENS = st.sampled_from(
    [*KEYS, ":", " ", "\n", "  ", "- ", "[", "]", "{", "}", ",", "'", '"', "\t", "1", "-3"]
)
TOKENS |= st.sampled_from(
    ["true", "null", "pytest", "command", "<<", "!!str", "---", "#", "1e9", "\xff", "é"]
)


def _check_profile(text: str) -> None:
    outcome: Profile | ProfileError
    try:
        outcome = parse_profile(text, "p.yaml")
    except ProfileError as error:
        outcome = error
    if isinstance(outcome, ProfileError):
        assert "\n" not in str(outcome)
        assert str(outcome).startswith("p.yaml: ")
    else:
        assert isinstance(outcome, Profile)


@FUZZ
@given(st.text(max_size=300))
def test_profile_loader_any_text(text: str) -> None:
    _check_profile(text)


@pytest.mark.slow
@FUZZ
@given(st.lists(TOKENS, max_size=60).map("".join))
def test_profile_loader_yaml_like_text(text: str) -> None:
    _check_profile(text)


# -- JUnit reader --------------------------------------------------------------

XML_TOKENS = st.sampled_from(
    [
        "<testsuites>",
        "</testsuites>",
        "<testsuite>",
        '<testsuite name="s" tests="x">',
        "</testsuite>",
        '<testcase classname="c" name="t" time="-1" file="../../etc/passwd" line="-5">',
        '<testcase name="" time="nan" line="99999999999999999999">',
        "<testcase/>",
        "</testcase>",
        '<failure message="m">',
        "</failure>",
        "<error/>",
        "<skipped/>",
        '<flakyFailure message="f"><stackTrace>s</stackTrace></flakyFailure>',
        "<rerunError/>",
        "<system-out>",
        "</system-out>",
        "<![CDATA[",
        "]]>",
        "<!-- c -->",
        "&amp;",
        "&#0;",
        "&#27;",
        "&x;",
        "\x1b",
        "\xff",
        "text",
        "<?xml version='1.0'?>",
        "<!DOCTYPE testsuite>",
    ]
)


@pytest.mark.slow
@FUZZ
@given(st.lists(XML_TOKENS, max_size=40).map("".join))
def test_junit_reader_structured_input(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.xml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    cases, errors = read_junit_files([path], suite="s", base_dir=tmp_path, repo_root=tmp_path)
    assert all(isinstance(case, TestCase) for case in cases)
    assert all(case.line is None or case.line >= 1 for case in cases)
    assert all(case.duration >= 0 for case in cases)
    assert all(error.startswith("fuzz.xml: ") and "\n" not in error for error in errors)


# -- workflow commands ---------------------------------------------------------

_COMMAND_LINE = re.compile(r"^::(?P<name>[A-Za-z0-9-]+)(?: (?P<props>[^:]*))?::(?P<data>.*)$", re.DOTALL)


def runner_parse(line: str) -> tuple[str, dict[str, str], str]:
    """Parse one command line the way the Actions runner does (ActionCommand.TryParseV2)."""
    match = _COMMAND_LINE.match(line)
    assert match is not None, line
    props: dict[str, str] = {}
    for pair in (match["props"] or "").split(","):
        if pair:
            key, _, value = pair.partition("=")
            props[key] = unescape_property(value)
    return match["name"], props, unescape_data(match["data"])


def _as_runner_sees(text: str) -> str:
    """Characters the escaper neutralises into an encoded newline."""
    return re.sub("[\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e]", "\n", text)


@pytest.mark.slow
@settings(deadline=None, max_examples=300)
@given(message=st.text(), title=st.text(), file=st.text())
def test_command_parses_back_to_exactly_one_command_with_the_text(
    message: str, title: str, file: str
) -> None:
    line = commands.command("error", message, title=title, file=file, line=3)
    assert len(line.splitlines()) == 1
    assert "\n" not in line
    assert "\r" not in line
    name, props, data = runner_parse(line)
    assert name == "error"
    assert data == _as_runner_sees(message)
    assert props == {"title": _as_runner_sees(title), "file": _as_runner_sees(file), "line": "3"}


# -- summary truncation ----------------------------------------------------------

ROWS = st.lists(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\n|"), max_size=30),
    max_size=60,
)


@pytest.mark.slow
@settings(deadline=None, max_examples=300)
@given(rows=ROWS, budget=st.integers(min_value=0, max_value=2000), prose=st.text(max_size=200))
def test_summary_truncation_never_over_budget_nor_cuts_a_row(
    rows: list[str], budget: int, prose: str
) -> None:
    table = "".join(f"| {cell} | 😀é |\n" for cell in rows)
    text = prose.replace("|", "") + "\n\n| a | b |\n|---|---|\n" + table
    out = truncate_utf8(text, budget, "shortened")
    assert len(out.encode("utf-8")) <= budget  # whatever fits is returned whole, nothing else
    if out == text:
        return
    body = out.removesuffix("\n\nshortened\n").removesuffix("\n")
    assert text.startswith(body)  # a prefix: no character is cut or changed
    whole_lines = text.splitlines()
    for line in body.splitlines():
        if line.startswith("|"):
            assert line in whole_lines  # a table row is whole or absent


def test_summary_truncation_at_the_one_mebibyte_budget() -> None:
    table = "".join(f"| test_{i} | {'€' * 40} |\n" for i in range(20_000))
    out = truncate_utf8(table, 1024 * 1024, "shortened")
    assert len(out.encode("utf-8")) <= 1024 * 1024
    assert out.endswith("\n\nshortened\n")
    assert all(line.endswith("|") for line in out.removesuffix("\n\nshortened\n").splitlines())


# -- redaction in pieces ------------------------------------------------------------

SECRET = "s3cr3t-VALUE"  # noqa: S105 - a made-up value to mask
OTHER = "tok1-other-value"
PIECES = st.sampled_from(
    ["x", "yy ", SECRET, OTHER, "\n", "\r\n", " Authorization: Bearer zz", "é", "abc", "s3cr3t-", "VALUE"]
)


@FUZZ
@given(parts=st.lists(PIECES, max_size=40), size=st.integers(min_value=1, max_value=50))
def test_redaction_of_a_stream_in_pieces_equals_redaction_of_the_whole(parts: list[str], size: int) -> None:
    redactor = Redactor([SECRET, OTHER])
    text = "".join(parts)
    stream = StreamRedactor(redactor)
    out = "".join(stream.feed(text[i : i + size]) for i in range(0, len(text), size)) + stream.close()
    assert out == redactor.redact(text)
    joined = out.replace("\r", "").replace("\n", "")
    assert SECRET not in joined
    assert OTHER not in joined
