"""kn.viz.attack_matrix: techniques under tactics, counts, and hostile rule titles kept inert."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl

import kernelsec_nb as kn
from kernelsec_nb.hunt import HIT_SCHEMA
from tests.viz.fixture_case import BREAK, IMG, SCRIPT
from tests.viz.test_viz_xss import _assert_page_safe, _spec_text

HOSTILE = "\x1b[2J\x00\u202e"


def _hits(titles: list[str], techniques: list[list[str]], tactics: list[list[str]]) -> pl.DataFrame:
    n = len(titles)
    return pl.DataFrame({
        "source": ["sigma"] * n, "rule_id": [f"r{i}" for i in range(n)], "title": titles,
        "level": ["high"] * n, "techniques": techniques, "tactics": tactics,
    }).with_columns([pl.lit(None).cast(t).alias(c) for c, t in HIT_SCHEMA.items()
                     if c not in ("source", "rule_id", "title", "level", "techniques", "tactics")]
                    ).select(list(HIT_SCHEMA))


def test_counts_per_tactic_and_technique() -> None:
    hits = _hits(["a", "a", "b", "c"], [["T1059.004"], ["T1059.004"], ["T1611"], []],
                 [["execution"], ["execution"], ["privilege-escalation", "execution"], []])
    spec = kn.viz.attack_matrix(hits).to_dict()
    values = (spec.get("data") or spec["layer"][0]["data"])["values"]
    rows = {(v["tactic"], v["technique"]): v["hits"] for v in values}
    assert rows == {("execution", "T1059.004"): 2, ("execution", "T1611"): 1,
                    ("privilege-escalation", "T1611"): 1}
    assert spec["title"]["subtitle"] == ["1 hit(s) without an ATT&CK technique not shown"]
    assert spec["layer"][0]["encoding"]["x"]["sort"] == ["execution", "privilege-escalation"]


def test_hostile_titles_and_tags_stay_inert(tmp_path: Path) -> None:
    hits = _hits([IMG, SCRIPT + HOSTILE, BREAK], [["T1059"], ["T1059"], [IMG]],
                 [["execution"], ["execution"], [SCRIPT]])
    chart = kn.viz.attack_matrix(hits)
    page = kn.viz.save(chart, tmp_path / "m.html").read_text()
    _assert_page_safe(page)
    text = json.dumps(json.loads(_spec_text(page)), ensure_ascii=False)
    assert IMG in text and "\x1b" not in text and "␛[2J" in text  # kept as data, shown as pictures
    # vl-convert aborts the process on a control character: render in a child
    code = ("import sys, kernelsec_nb as kn, polars as pl; "
            "kn.viz.save(kn.viz.attack_matrix(pl.read_parquet(sys.argv[1])), sys.argv[2]); print('ok')")
    hits.write_parquet(tmp_path / "h.parquet")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "h.parquet"), str(tmp_path / "m.svg")],
                         capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]
    assert "\x1b" not in (tmp_path / "m.svg").read_text(encoding="utf-8")


def test_matrix_of_a_real_hunt(case) -> None:
    chart = kn.viz.attack_matrix(case.detect())
    assert chart.to_dict()["title"]["text"] == "ATT&CK techniques hit"
