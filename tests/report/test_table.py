"""Report tables read well (issue 22): one time format, no quotes, no null, rounded numbers;
long texts folded, an empty result says "none found"."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from kernelsec_nb.report import show
from kernelsec_nb.report._table import Folded, Table, fold, tidy, time_text

ISO_MS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def _frame() -> pl.DataFrame:
    return pl.DataFrame({
        "first_time": [dt.datetime(2024, 5, 14, 8, 23, 7, 335073), None],
        "time": ["2024-05-14T08:23:26.735633Z", "2024-05-14 08:24:41.835033+00:00"],
        "utc": ["2024-05-14 08:23:07.335033 UTC", None],
        "pod": ["web", None],
        "clock_offset_ms": [199.652362, -308.0],
        "gaps": [None, 3],
        "tags": [["a", "b"], []],
    }).with_columns(pl.col("first_time").dt.replace_time_zone("UTC"))


def test_tidy_gives_one_time_format_rounded_numbers_and_empty_cells():
    t = tidy(_frame())
    for col in ("time",):
        assert t[col].str.contains(ISO_MS).all(), t[col].to_list()
    assert t["first_time"].to_list() == ["2024-05-14T08:23:07.335Z", ""]
    assert t["time"].to_list() == ["2024-05-14T08:23:26.735Z", "2024-05-14T08:24:41.835Z"]
    assert t["utc"].to_list() == ["2024-05-14T08:23:07.335Z", ""]
    assert t["clock_offset_ms"].to_list() == ["199.65", "-308"]
    assert t["gaps"].to_list() == ["", "3"]
    assert t["tags"].to_list() == ["a, b", ""]
    assert t["pod"].to_list() == ["web", ""]


def test_table_html_and_text_have_no_quotes_no_null_no_long_floats():
    table = Table(_frame())
    for text in (table._repr_html_(), repr(table)):
        cells = re.sub(r"<[^>]*>", " ", text)  # the text of the cells, tags aside
        assert "null" not in cells and "&quot;" not in cells and '"' not in cells and "'" not in cells
        assert "199.652362" not in text and "199.65" in text
        assert " UTC" not in text and "+00:00" not in text and "2024-05-14T08:23:07.335Z" in text


def test_table_escapes_and_shows_attacker_text():
    html = Table(pl.DataFrame({"pod": ["<b>x</b>\u202e\r"]}))._repr_html_()
    assert "<b>x" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "\u202e" not in html and "\r" not in html


def test_time_text_normalises_every_format():
    want = "2024-05-14T08:20:01.123Z"
    for v in ("2024-05-14T08:20:01.123456Z", "2024-05-14 08:20:01.123456+00:00", "2024-05-14 08:20:01.123456 UTC",
              "2024-05-14T08:20:01.123456789Z", "2024-05-14T10:20:01.123+02:00", 1715674801123456789,
              dt.datetime(2024, 5, 14, 8, 20, 1, 123456, tzinfo=dt.UTC)):
        assert time_text(v) == want, v


def test_empty_result_says_none_found(capsys):
    show(pl.DataFrame({"pod": []}, schema={"pod": pl.String}))
    assert capsys.readouterr().out.strip() == "none found"
    assert repr(Table(pl.DataFrame({"pod": []}, schema={"pod": pl.String}))) == "none found"


def test_long_text_is_folded_after_15_lines():
    text = "\n".join(f"line {i}" for i in range(40))
    f = fold(text)
    plain = repr(f)
    assert len(plain.splitlines()) == 16 and plain.endswith("… 25 more lines")
    html = f._repr_html_()
    assert "<details>" in html and "line 39" in html  # the whole text, collapsed
    assert repr(Folded("a\nb")) == "a\nb"
    assert len(repr(fold({"k": list(range(30))})).splitlines()) == 16


def test_show_displays_a_table_and_folds_a_long_text(monkeypatch):
    shown_items = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda x: shown_items.append(x))
    show(_frame())
    show("\n".join(map(str, range(30))))
    assert isinstance(shown_items[0], Table) and isinstance(shown_items[1], Folded)
