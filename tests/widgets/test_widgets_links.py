"""The Explorer's linked views, driven through the charts' selection state as the browser sets it."""

from __future__ import annotations

import kernelsec_nb as kn
from kernelsec_nb.viz.flows import EDGE_FIELDS
from tests.viz.fixture_case import T0

S = 10**9


def _point(view, name: str, fields: list[str], rows: list[dict]) -> None:
    """What vega sends when a mark of a point selection is clicked (``[]`` when cleared)."""
    view._vl_selections = {name: {
        "value": {"vlPoint": {"or": [{f: r[f] for f in fields} for r in rows]},
                  **{f: [r[f] for r in rows] for f in fields}} if rows else None,
        "store": [{"unit": "layer_0", "fields": [{"field": f, "type": "E"} for f in fields],
                   "values": [r[f] for f in fields]} for r in rows]}}


def _edge(ex, **want) -> dict:
    """An edge of the drawn service map, as its data holds it."""
    spec = ex.flow_view.chart.to_dict()
    for layer in spec["layer"]:
        for row in layer.get("data", {}).get("values", []):
            if all(k in row for k in EDGE_FIELDS) and all(row[k] == v for k, v in want.items()):
                return {k: row[k] for k in EDGE_FIELDS}
    raise AssertionError(f"no edge {want}")


def _lanes(ex) -> set:
    """The lanes the timeline draws (its data is inline, maybe moved to ``datasets``)."""
    out: set = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            if "lane" in node and isinstance(node["lane"], str):
                out.add(node["lane"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(ex.timeline_view.chart.to_dict())
    return out


def _timeline_events(ex) -> int:
    return ex.timeline_view.chart.to_dict()["usermeta"]["kernelsec"]["events"]


def test_clicking_an_edge_filters_the_timeline_and_the_table(case) -> None:
    ex = kn.widgets.Explorer(case)
    before = _timeline_events(ex)
    edge = _edge(ex, src_name="frontend", dst_name="db", verdict="DROPPED")
    _point(ex.flow_view, "pick_edge", list(EDGE_FIELDS), [edge])
    assert ex.selection["kind"].unique().to_list() == ["flow"]
    assert ex.selection["verdict"].to_list() == ["DROPPED"]
    assert "DROPPED" in ex.table.value and "edge shop/frontend" in ex.status.value
    # the timeline shows the edge's source workload only
    assert 0 < _timeline_events(ex) < before
    assert _lanes(ex) == {"shop/frontend"}
    # the redrawn timeline's browser side then reports its empty selections: the link stays
    ex.timeline_view._vl_selections = {"pick": {"value": None, "store": []}}
    assert ex.selection["verdict"].to_list() == ["DROPPED"]
    _point(ex.flow_view, "pick_edge", list(EDGE_FIELDS), [])  # click on nothing: link cleared
    assert _timeline_events(ex) == before and ex.selection.height == 0


def test_clicking_a_process_filters_the_timeline_and_the_table(case) -> None:
    ex = kn.widgets.Explorer(case)
    curl = case.sql("SELECT exec_id FROM processes WHERE \"binary\" = '/usr/bin/curl'")["exec_id"][0]
    assert "pick_process" in str(ex.tree_view.chart.to_dict())
    _point(ex.tree_view, "pick_process", ["exec_id"], [{"exec_id": curl}])
    assert set(ex.selection["exec_id"].to_list()) == {curl}
    assert ex.selection.height >= 2  # its exec and its connect
    assert _timeline_events(ex) == ex.selection.height
    assert "process /usr/bin/curl" in ex.status.value
    ex.flow_view._vl_selections = {"pick_edge": {"value": None, "store": []}}  # not an edge link
    assert set(ex.selection["exec_id"].to_list()) == {curl}


def test_a_process_outside_the_filters_says_so(case) -> None:
    """The tree shows a process's ancestors for context, whatever the pickers: a click on one
    whose events the filters leave out says why the table is empty."""
    curl = case.sql("SELECT exec_id, workload FROM events WHERE \"binary\" = '/usr/bin/curl' LIMIT 1")
    others = case.sql("SELECT DISTINCT workload FROM events WHERE workload IS NOT NULL")["workload"]
    other = next(n for n in others if n != curl["workload"][0])
    ex = kn.widgets.Explorer(case, workload=other)
    _point(ex.tree_view, "pick_process", ["exec_id"], [{"exec_id": curl["exec_id"][0]}])
    assert ex.selection.height == 0
    assert "none within the filters" in ex.status.value


def test_a_process_without_events_of_its_own_says_so(case) -> None:
    """A process known only from its children's events (it started before the capture)."""
    ex = kn.widgets.Explorer(case)
    _point(ex.tree_view, "pick_process", ["exec_id"], [{"exec_id": "c3RhcnRlZC1iZWZvcmU="}])
    assert ex.selection.height == 0
    assert "no events of its own in the case" in ex.status.value


def test_brushing_the_timeline_filters_the_flow_chart(case) -> None:
    ex = kn.widgets.Explorer(case)
    def flows() -> int:
        sub = ex.flow_view.chart.to_dict()["title"]["subtitle"][0]
        return 0 if sub == "no flows match" else int(sub.split()[0])
    everything = flows()
    ex.timeline_view._vl_selections = {
        "brush": {"value": {"time": [(T0 + 66 * S) / 1e6, (T0 + 67.5 * S) / 1e6]}, "store": []}}
    assert 0 < flows() < everything
    ex.timeline_view._vl_selections = {"brush": {"value": None, "store": []}}
    assert flows() == everything


def test_saved_queries_are_offered_and_filter(case) -> None:
    case.save_query("drops", "flows", verdict="DROPPED")
    case.save_query("curl", "events", binary="curl")
    ex = kn.widgets.Explorer(case)
    assert list(ex.saved.options)[1:] == ["curl", "drops"]
    ex.saved.value = "drops"
    assert ex.selection["verdict"].to_list() == ["DROPPED"]
    ex.saved.value = "curl"
    assert set(ex.selection["binary"].to_list()) == {"/usr/bin/curl"}
    assert _timeline_events(ex) == ex.selection.height
    ex.pickers["namespace"].value = "shop"  # a new filter clears the query
    assert ex.saved.value == "(no saved query)" and ex.selection.height == 0


def test_the_explorer_charts_fit_a_narrow_notebook(case) -> None:
    ex = kn.widgets.Explorer(case)
    for view in (ex.timeline_view, ex.flow_view, ex.tree_view):
        spec = view.chart.to_dict()
        assert spec["width"] <= 700 if "width" in spec else True
        assert spec["config"]["legend"]["orient"] == "bottom"
    assert ex.time_range.layout.width == "100%"


def test_the_time_slider_labels_are_short(case) -> None:
    """Its readout shows "from – to" in a narrow box: two full dates were cut in JupyterLab."""
    ex = kn.widgets.Explorer(case)
    labels = [label for label, _ in ex.time_range.options]
    assert max(len(label.strip()) for label in labels) <= 11
