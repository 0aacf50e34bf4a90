from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from helpers import case, run_of, suite, unescape_data, unescape_property
from hypothesis import given
from hypothesis import strategies as st

from qaagent.github import commands
from qaagent.github.annotations import write_annotations

INJECTIONS = [
    "::set-output name=x::y",
    "::add-mask::secret",
    "boom%0A::error::owned",
    "line1\n::error::second line",
    "lone\rcarriage::warning::x",
    "::stop-commands::abc",
    "sep\u2028::error::after LS",
    "para\u2029::error::after PS",
    "nel\x85::error::after NEL",
    "vt\x0b::error::x ff\x0c::error::y",
    "crlf\r\n::endgroup::",
    "100% done, a:b,c",
]


def test_escape_data_and_property_exact() -> None:
    assert commands.escape_data("a%b\r\nc") == "a%25b%0D%0Ac"
    assert commands.escape_property("a%b\r\nc:d,e") == "a%25b%0D%0Ac%3Ad%2Ce"
    assert commands.escape_data("x\u2028y\u2029z\x85w") == "x%0Ay%0Az%0Aw"
    assert commands.escape_data("a:b,c") == "a:b,c"


def test_command_line_format() -> None:
    line = commands.command("error", "it broke\nhere", file="src/a b.py", line=3, title="t: 1,2", col=None)
    assert line == "::error file=src/a b.py,line=3,title=t%3A 1%2C2::it broke%0Ahere"
    assert commands.command("endgroup") == "::endgroup::"


def test_command_rejects_bad_names() -> None:
    with pytest.raises(ValueError, match="invalid workflow command name"):
        commands.command("error::x", "m")
    with pytest.raises(ValueError, match="invalid workflow command property"):
        commands.command("error", "m", **{"ti,tle": "x"})


@given(st.text())
def test_escape_round_trips(text: str) -> None:
    plain = re.sub("[\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e]", "", text)
    assert unescape_data(commands.escape_data(plain)) == plain
    assert unescape_property(commands.escape_property(plain)) == plain
    escaped = commands.escape_property(text)
    assert "\n" not in escaped
    assert "\r" not in escaped
    assert len(escaped.splitlines()) <= 1


@pytest.mark.parametrize("evil", INJECTIONS)
def test_no_injected_command_lines(evil: str) -> None:
    run = run_of(
        suite(
            evil,
            [
                case(
                    evil, "failed", suite=evil, classname=evil, message=evil, details=evil, file=evil, line=7
                ),
                case(evil + "2", "error", suite=evil, classname=evil, message=evil, file=None),
                case(evil + "3", "passed", suite=evil, classname=evil, flaky=True),
            ],
        ),
        project=evil,
    )
    out = io.StringIO()
    write_annotations(run, fail_on=["failed", "error"], stream=out)
    commands.write_command(out, "notice", evil, title=evil)
    lines = out.getvalue().splitlines()
    # one summary + 2 errors + 1 warning + the extra notice; nothing else starts with "::"
    assert len(lines) == 5
    starts = [line[: line.index("::", 2) + 2] if line.startswith("::") else line for line in lines]
    for start in starts:
        assert re.fullmatch(r"::(notice|error|warning)( [^:]*)?::", start), start
    assert not any(line.startswith(("::set-output", "::add-mask")) for line in lines)


def test_add_mask_each_line() -> None:
    out = io.StringIO()
    commands.add_mask("ab%c\nsecond", out)
    assert out.getvalue() == "::add-mask::ab%25c\n::add-mask::second\n"


def test_stop_commands_context_manager() -> None:
    out = io.StringIO()
    with commands.stop_commands(out) as token:
        out.write("::error::from the suite\n")
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert lines == [f"::stop-commands::{token}", "::error::from the suite", f"::{token}::"]
    start, end = commands.stop_commands_lines()
    assert start != f"::stop-commands::{token}"
    assert end == "::" + start.removeprefix("::stop-commands::") + "::"


def test_group_and_endgroup() -> None:
    out = io.StringIO()
    with commands.grouped("suite unit\n::error::x", out):
        out.write("log\n")
    assert out.getvalue() == "::group::suite unit%0A::error::x\nlog\n::endgroup::\n"


def test_write_outputs_heredoc(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("existing<<EOF\n1\nEOF\n")
    commands.write_outputs(
        path, {"conclusion": "failure", "total": 12, "evil": "a\nb<<EOF\nc=d", "empty": None}
    )
    text = path.read_text()
    assert text.startswith("existing<<EOF\n1\nEOF\n")
    blocks = re.findall(r"^(\w+)<<(ghadelimiter_[0-9a-f]{32})\n(.*?)\n\2$", text, re.MULTILINE | re.DOTALL)
    assert [(name, value) for name, _, value in blocks] == [
        ("conclusion", "failure"),
        ("total", "12"),
        ("evil", "a\nb<<EOF\nc=d"),
        ("empty", ""),
    ]
    assert len({delim for _, delim, _ in blocks}) == 4


@pytest.mark.parametrize("name", ["", "a<<b", "a\nb", "x=y", " lead"])
def test_write_outputs_rejects_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="invalid output name"):
        commands.write_outputs(tmp_path / "out", {name: "v"})


def test_append_summary(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    commands.append_summary(path, "# one")
    commands.append_summary(path, "two\n")
    assert path.read_text(encoding="utf-8") == "# one\ntwo\n"
