"""Explorer behaviour: set widget values as an analyst would and check what changes."""

from __future__ import annotations

import json

import kernelsec_nb as kn
from tests.viz.fixture_case import IMG, SCRIPT, T0

S = 10**9


def _brush(ex, t0: int, t1: int) -> None:
    """What the browser sends when the analyst brushes the timeline (epoch ms bounds)."""
    ex.timeline_view._vl_selections = {
        "brush": {"value": {"time": [t0 / 1e6, t1 / 1e6]}, "store": []}}


def _click(ex, event_id: str) -> None:
    ex.timeline_view._vl_selections = {"pick": {
        "value": {"vlPoint": {"or": [{"event_id": event_id}]}, "event_id": [event_id]},
        "store": [{"unit": "layer_0", "fields": [{"field": "event_id", "type": "E"}],
                   "values": [event_id]}]}}


def test_pickers_set_filters_and_redraw(case) -> None:
    ex = kn.widgets.Explorer(case)
    assert ex.filters == {}
    assert "shop" in ex.pickers["namespace"].options
    ex.pickers["namespace"].value = "shop"
    ex.pickers["source"].value = "falco"
    assert ex.filters == {"namespace": "shop", "source": "falco"}
    spec = ex.timeline_view.chart.to_dict()
    assert spec["title"]["subtitle"][0] == "1 events"
    assert ex.flow_view.chart.to_dict()["title"]["subtitle"] == ["no flows match"]
    ex.pickers["source"].value = "(all)"
    assert ex.filters == {"namespace": "shop"}


def test_time_range_becomes_since_until(case) -> None:
    ex = kn.widgets.Explorer(case, since=T0 + 60 * S)
    assert "since" in ex.filters and ex.filters["since"].endswith("Z")
    n_all = kn.widgets.Explorer(case).timeline_view.chart.to_dict()["usermeta"]["kernelsec"]
    n_cut = ex.timeline_view.chart.to_dict()["usermeta"]["kernelsec"]
    assert n_cut["events"] < n_all["events"]
    lo, hi = ex.time_range.index
    ex.time_range.index = (0, hi)
    assert "since" not in ex.filters


def test_brush_fills_selection_and_table(case) -> None:
    ex = kn.widgets.Explorer(case)
    assert ex.selection.height == 0
    _brush(ex, T0 + 60 * S, T0 + 62 * S)
    assert ex.selection["kind"].to_list() == ["process_exec", "alert"]
    assert "Terminal shell in container" in ex.table.value
    assert len(ex.row.options) == 2
    _brush(ex, T0 + 60 * S, T0 + 200 * S)
    assert ex.selection.height > 2
    ex.timeline_view._vl_selections = {}
    assert ex.selection.height == 0


def test_click_selects_one_event_and_row_shows_raw(case) -> None:
    ex = kn.widgets.Explorer(case)
    eid = case.sql("SELECT event_id FROM events WHERE kind = 'alert'")["event_id"][0]
    _click(ex, eid)
    assert ex.selection["event_id"].to_list() == [eid]
    ex.row.value = eid
    raw = ex.raw.value
    assert "provenance" in raw and "capture.ndjson:" in raw
    assert "Terminal shell in container" in raw
    assert json.loads(case.raw(eid))["rule"] == "Terminal shell in container"


def test_everything_shown_is_escaped(case) -> None:
    ex = kn.widgets.Explorer(case)
    _brush(ex, T0, T0 + 200 * S)
    for text in (ex.table.value, ex.status.value):
        assert "<img src=x" not in text and "<script>alert" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in ex.table.value
    curl = case.sql("SELECT event_id FROM events WHERE \"binary\" = '/usr/bin/curl' "
                    "AND kind = 'process_exec'")["event_id"][0]
    ex.show_event(curl)
    assert "<img src=x" not in ex.raw.value and "<script>alert" not in ex.raw.value
    assert IMG not in ex.raw.value and SCRIPT not in ex.raw.value
    snap = ex.snapshot()
    assert "<img src=x" not in snap and "<script" not in snap
    assert snap.count("<svg") >= 2


def test_static_fallback_mimebundle(case) -> None:
    ex = kn.widgets.Explorer(case)
    bundle = ex._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/html"].startswith('<div class="kernelsec-explorer-snapshot">')
    assert ex.snapshot_chart().to_dict()["vconcat"]


def test_empty_case() -> None:
    ex = kn.widgets.Explorer(kn.open_case())
    assert ex.filters == {} and ex.selection.height == 0
    assert "no events match" in json.dumps(ex.timeline_view.chart.to_dict()["title"])
