"""The low text helpers every layer shares (`qaagent.text`), in-process."""

from __future__ import annotations

from pathlib import Path

from qaagent.paths import shown
from qaagent.text import CONTROL, XML_ILLEGAL, controls_shown, one_line, shorten


def test_one_line_shows_line_breaks_and_tabs_instead_of_obeying_them() -> None:
    assert one_line("a\r\nb\tc") == "a\\r\\nb\\tc"
    assert "\n" not in one_line("x\n" * 5)
    assert one_line("plain") == "plain"


def test_a_shortened_one_line_id_stays_one_line() -> None:
    shown = shorten(one_line("t\n" * 400), 300)
    assert len(shown) == 300
    assert shown.endswith("…")
    assert "\n" not in shown


def test_every_control_character_of_a_name_is_shown_escaped() -> None:
    every = "".join(chr(c) for c in range(0x20)) + "\x7f\x85\x9f\u2028\u2029"
    text = controls_shown(f"a{every}b.xml")
    assert CONTROL.search(text) is None
    assert text.startswith("a\\x00\\x01")
    assert text.endswith("\\u2028\\u2029b.xml")
    assert controls_shown("ünïcode/ok.xml") == "ünïcode/ok.xml"


def test_a_file_is_named_relative_to_the_project_with_its_controls_escaped(tmp_path: Path) -> None:
    assert shown(tmp_path / "r" / "a\nb.xml", tmp_path) == "r/a\\x0ab.xml"
    assert shown(Path("/elsewhere/x\r.xml"), tmp_path) == "/elsewhere/x\\x0d.xml"


def test_the_xml_illegal_class_is_exactly_the_complement_of_xml_char() -> None:
    """`XML_ILLEGAL` (written as the excluded ranges) matches every code point XML 1.0's `Char` leaves out."""

    def allowed(code: int) -> bool:
        return (
            code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000
        )

    every = "".join(map(chr, range(0x110000)))
    assert {m.start() for m in XML_ILLEGAL.finditer(every)} == {c for c in range(0x110000) if not allowed(c)}
