"""Wide tables in the saved notebooks go through ``kn.report.Table``: it scrolls sideways inside
its own box and is compact (one time format, no quotes) — a raw DataFrame of 8+ columns scrolled sideways, of 9+ lost its
last column at a 1280 px window (issue 22: 03 [10])."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
WIDE = 8  # columns


def _tables(path: Path):
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        for out in cell.get("outputs", []):
            text = "".join(out.get("data", {}).get("text/html", []))
            for table in re.findall(r"<table.*?</table>", text, re.S):
                head = re.search(r"<tr>(.*?)</tr>", table, re.S)
                cols = len(re.findall(r"<th\b", head.group(1))) if head else 0
                yield i, cols, text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_wide_tables_scroll_in_their_own_box(path: Path) -> None:
    bad = [(i, cols) for i, cols, html in _tables(path)
           if cols >= WIDE and "overflow-x:auto" not in html]
    assert not bad, f"{path.name}: raw wide tables (cell, columns): {bad}"
