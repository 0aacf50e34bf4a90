"""The low text helpers every layer shares (`qaagent.text`), in-process."""

from __future__ import annotations

from qaagent.text import one_line, shorten


def test_one_line_shows_line_breaks_and_tabs_instead_of_obeying_them() -> None:
    assert one_line("a\r\nb\tc") == "a\\r\\nb\\tc"
    assert "\n" not in one_line("x\n" * 5)
    assert one_line("plain") == "plain"


def test_a_shortened_one_line_id_stays_one_line() -> None:
    shown = shorten(one_line("t\n" * 400), 300)
    assert len(shown) == 300
    assert shown.endswith("…")
    assert "\n" not in shown
