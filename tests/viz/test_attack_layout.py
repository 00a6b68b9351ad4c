"""The attack flow reads well (issue 22): labels do not collide, fans are bundled, long
commands are elided with the full text in the tooltip, the subtitle names the command."""

from __future__ import annotations

from pathlib import Path

import pytest

import kernelsec_nb as kn
from kernelsec_nb.viz import attack

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def spec(bundled_case):
    case = bundled_case  # data/deathstar, loaded once per session
    entry = case.findings().incidents[0].entry   # the top incident's entry process
    assert entry is not None
    out = kn.viz.attack_flow(case, entry.exec_id, width=980).to_dict()
    return out, entry.exec_id


def _layers(spec: dict) -> list[dict]:
    return spec["layer"]


def _ns(t: str) -> int:
    from kernelsec_nb.viz import _common as c

    return c.to_ns_text(t)


def test_labels_do_not_overlap(spec):
    s, _ = spec
    texts = [ly for ly in _layers(s) if ly["mark"]["type"] == "text" and "label" in str(ly["encoding"].get("text"))]
    rows = [(ly["mark"]["align"], r) for ly in texts for r in ly["data"]["values"] if r["label"]]
    t0 = min(_ns(r["time"]) for _, r in rows)
    t1 = max(_ns(r["time"]) for _, r in rows)
    boxes = []
    for align, r in rows:
        x = 40 + (_ns(r["time"]) - t0) / (t1 - t0) * (980 - 80)
        w = len(r["label"]) * attack.CHAR_PX
        boxes.append((r["y"], x if align == "left" else x - w, x + w if align == "left" else x))
    for i, (y, lo, hi) in enumerate(boxes):
        for y2, lo2, hi2 in boxes[i + 1:]:
            assert not (abs(y - y2) < 10 and lo < hi2 and lo2 < hi), ((y, lo, hi), (y2, lo2, hi2))
    # nothing runs past the right edge
    assert max(hi for _, _, hi in boxes) <= 980 + 40


def test_fans_are_bundled_into_straight_segments(spec):
    s, _ = spec
    links = next(ly for ly in _layers(s) if ly["mark"]["type"] == "rule" and ly["data"].get("values")
                 and "link" in ly["data"]["values"][0])["data"]["values"]
    diagonal = [ln for ln in links if abs(_ns(ln["time"]) - _ns(ln["time2"])) > 10**9 and ln["y"] != ln["y2"]]
    # the shell's dozen commands and the requests to one destination: no fan of diagonals left
    assert len(diagonal) <= 3, diagonal


def test_long_commands_are_elided_with_the_full_text_in_the_tooltip(spec):
    s, _ = spec
    items = next(ly for ly in _layers(s) if ly["mark"]["type"] == "point")["data"]["values"]
    curl = [it for it in items if it["lane"] == "process" and "curl" in it["detail"]]
    assert curl and all(len(it["label"]) <= attack.LABEL_CHARS for it in items)
    assert all(it["label"].endswith("…") and len(it["detail"]) > len(it["label"]) for it in curl)
    tips = next(ly for ly in _layers(s) if ly["mark"]["type"] == "point")["encoding"]["tooltip"]
    assert any(t.get("field") == "detail" for t in tips)


def test_subtitle_names_the_command_not_the_exec_id(spec):
    s, exec_id = spec
    sub = " ".join(s["title"]["subtitle"])
    assert exec_id not in sub and "chain of sh" in sub


def test_place_labels_thins_what_cannot_fit():
    items = [{"key": str(i), "lane": "flow", "time": "2024-05-14T08:00:00.000Z", "label": "x" * 30}
             for i in range(attack.SLOTS + 3)]
    attack.place_labels(items, 600, 0, 1)
    assert sum(1 for it in items if it["label"]) == attack.SLOTS
    assert {it["slot"] for it in items} <= set(range(attack.SLOTS))


def test_process_tree_subtitle_names_the_command_not_the_exec_id(case):
    from tests.viz.fixture_case import exec_id

    sub = " ".join(kn.viz.process_tree(case, exec_id=exec_id(4)).to_dict()["title"]["subtitle"])
    assert exec_id(4) not in sub and "ancestry and descendants of " in sub
