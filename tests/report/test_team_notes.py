"""The report's "Marked by the team" section: the notes kept in the case, shown and escaped."""

from __future__ import annotations

import html as htmllib
from pathlib import Path

import pytest

import kernelsec_nb as kn
from kernelsec_nb import report
from tests.correlate.conftest import scenario, write

pytestmark = pytest.mark.slow

NOTE = "exfil <script>alert(1)</script> \u202eevil\x1b[2J"


def test_the_report_shows_what_the_team_marked(tmp_path):
    root = write(tmp_path / "capture", scenario())
    case_file = tmp_path / "case.duckdb"
    with kn.open_case(case_file) as case:
        case.load(root, progress=False)
        flow = case.flows()["event_id"][0]
        case.tag(flow, ["c2", "exfil"], note=NOTE, author="alice")
        case.star(case.processes()["exec_id"][0], author="bob")
    res = report.render(case_file, "postmortem", tmp_path / "r.html")
    assert res["errors"] == []
    text = Path(res["html"]).read_text(encoding="utf-8")
    assert "Marked by the team" in text
    section = htmllib.unescape(text.split("Marked by the team", 1)[1].split("<h2", 1)[0])
    assert "3 marks by 2 analyst(s) on 2 events, flows and processes" in section
    for word in ("c2, exfil", "star", "alice", "bob", "exfil <script>alert(1)</script>"):
        assert word in section, word
    assert "<script>alert(1)" not in text  # escaped in the HTML
    assert "\u202e" not in section and "\x1b" not in section  # shown, not obeyed
    assert "�evil␛[2J" in section


def test_a_case_without_notes_says_none_found(tmp_path):
    root = write(tmp_path / "capture", scenario())
    res = report.render(tmp_path / "case.duckdb", "postmortem", tmp_path / "r.html", exports=root)
    assert res["errors"] == []
    text = htmllib.unescape(Path(res["html"]).read_text(encoding="utf-8"))
    assert "none found: nobody marked anything in this case yet" in text
