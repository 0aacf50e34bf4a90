"""docs/reliability.md is regenerated when its inputs change (`make reliability`).

The figures themselves take minutes to measure; what can go stale cheaply is checked here:
every corpus `scripts/reliability.py` measures has its row, and a corpus of stored inputs
shows as many cases as it has inputs.
"""

from __future__ import annotations

from pathlib import Path

from conftest import load_file_module

ROOT = Path(__file__).resolve().parent.parent
HINT = "docs/reliability.md is stale: regenerate it with `make reliability`"


def _rows() -> dict[str, int]:
    rows: dict[str, int] = {}
    for line in (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[1].isdigit():  # | corpus | cases | pass | test time |
            rows[cells[0]] = int(cells[1])
    return rows


def test_every_corpus_the_script_measures_has_its_row_with_its_input_count() -> None:
    script = load_file_module(ROOT / "scripts" / "reliability.py", "reliability_script")
    rows = _rows()
    assert list(rows) == list(script.CORPORA), HINT
    for title, (_, inputs) in script.CORPORA.items():
        if inputs is not None:
            assert rows[title] == inputs, f"{title}: {rows[title]} cases listed, {inputs} inputs; {HINT}"
