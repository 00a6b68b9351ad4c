"""The saved notebooks read well (issue 22): findings first in the template, its tables in one
time format with no quotes, no ``null`` and rounded numbers, no raw dump over 15 lines, no
absolute path of the machine that ran them, and skew stated one way."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
NB = REPO / "notebooks"
NAMES = ["01-getting-started.ipynb", "02-deathstar-postmortem.ipynb", "03-hunting.ipynb", "postmortem-template.ipynb"]
TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d[.\d]*(?:Z|\+00:00| UTC)?")


def _nb(name: str):
    return nbformat.read(NB / name, as_version=4)


def _text(v) -> str:
    return v if isinstance(v, str) else "".join(v) if isinstance(v, list) else json.dumps(v)


def test_template_puts_the_findings_first():
    heads = [c.source.splitlines()[0] for c in _nb("postmortem-template.ipynb").cells
             if c.cell_type == "markdown" and c.source.startswith("## ")]
    assert heads[0].startswith("## Findings"), heads


def test_template_tables_have_one_time_format_no_quotes_no_null_rounded_numbers():
    tables = [_text(o["data"]["text/html"]) for c in _nb("postmortem-template.ipynb").cells
              for o in c.get("outputs", []) if "<table" in _text(o.get("data", {}).get("text/html", ""))]
    assert len(tables) >= 4
    for html in tables:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)
        assert cells
        for cell in cells:
            assert cell not in ("null", "None") and not cell.startswith("&quot;"), cell
            assert not re.fullmatch(r"-?\d+\.\d{3,}", cell), cell  # rounded
            for t in TIME.findall(cell):
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t), t
    # the printed findings too
    printed = "".join(_text(o.get("text", "")) for c in _nb("postmortem-template.ipynb").cells
                      for o in c.get("outputs", []) if o.get("output_type") == "stream")
    for t in TIME.findall(printed):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t), t


@pytest.mark.parametrize("name", NAMES)
def test_no_raw_dump_over_15_lines_and_no_absolute_path(name):
    home = str(REPO.parent)  # where the notebooks were built: no output names it
    for c in _nb(name).cells:
        for o in c.get("outputs", []):
            texts = [o.get("text", "")] if o.get("output_type") == "stream" else []
            data = o.get("data", {})
            if "text/plain" in data and "text/html" not in data and "application/json" not in data:
                texts.append(_text(data["text/plain"]))  # shown as is: a dump
            for t in texts:
                assert len(_text(t).splitlines()) <= 16, (c.source[:80], _text(t)[:300])
            for v in data.values():
                assert home not in _text(v) and "/work/" not in _text(v), (c.source[:80], _text(v)[:300])
            assert "/work/" not in _text(o.get("text", "")), c.source[:80]
            # nor a temporary path (a warning's "/tmp/ipykernel_…/….py:4:" changes at every run)
            assert "/tmp/" not in _text(o.get("text", "")), (c.source[:80], _text(o.get("text", ""))[:200])


def test_template_states_skew_against_the_reference_clock():
    text = json.dumps([o for c in _nb("postmortem-template.ipynb").cells for o in c.get("outputs", [])])
    assert "clock_offset_ms" not in text and "clock vs reference (s)" in text


def test_an_empty_hunt_says_none_found():
    outs = [_text(o.get("text", "")) for c in _nb("03-hunting.ipynb").cells for o in c.get("outputs", [])]
    assert any(t.strip() == "none found" for t in outs)
    for c in _nb("03-hunting.ipynb").cells:
        for o in c.get("outputs", []):
            assert "shape: (0," not in _text(o.get("data", {}).get("text/plain", "")), c.source[:80]


@pytest.mark.parametrize("name", NAMES)
def test_every_table_has_one_time_format_no_quotes_no_null(name):
    """Not only the template's: a DataFrame a notebook shows is drawn as a report table (polars'
    own view put strings in quotes, ``null`` and ``… UTC`` times in 01, 02 and 03)."""
    tables = [_text(o["data"]["text/html"]) for c in _nb(name).cells for o in c.get("outputs", [])
              if "<table" in _text(o.get("data", {}).get("text/html", ""))]
    assert tables, name
    for html in tables:
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", html, re.S):
            assert cell not in ("null", "None") and not cell.startswith("&quot;"), (name, cell)
            if TIME.fullmatch(cell.strip()):  # a time cell (text such as a Falco output keeps its own)
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", cell.strip()), (name, cell)
