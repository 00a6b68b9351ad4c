"""Explorer: pickers and a time range feeding a linked timeline, service map, process tree and
event table.

How the views are linked (each link is a Python observer of an altair ``JupyterChart``
selection, so a test can drive it by setting the selection's value):

* brushing the timeline lists the brushed events and redraws the service map for that time range;
* clicking an edge of the service map lists that edge's flows and redraws the timeline for the
  edge's source (the workload, or pod, that opened the connections; the destination when the
  source is outside the cluster);
* clicking a process of the tree lists its events and redraws the timeline for that process;
* picking a saved query (``case.save_query``) lists the events its rows name (by ``event_id``,
  else by ``exec_id``) and, when its filters are the events' vocabulary, redraws the timeline
  with them.

Clicking the same mark again (or an empty spot) clears that link.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import ipywidgets as w
import polars as pl

from kernelsec_nb.sources import Capability, names_with
from kernelsec_nb.store.filters import to_ns
from kernelsec_nb.viz import _common as c
from kernelsec_nb.viz.flows import EDGE_FIELDS, edge_flows, flow_chart
from kernelsec_nb.viz.timeline import LANES, timeline
from kernelsec_nb.viz.tree import process_tree
from kernelsec_nb.widgets._notes import NoteBox
from kernelsec_nb.widgets._table import TABLE_COLUMNS, cell, pre_html, table_html

ALL = "(all)"
PICKERS = ("namespace", "workload", "node", "source")
TIME_STEPS = 60
TABLE_ROWS = 200
#: Chart width (px): with the legend below, a chart fits a notebook's output area at a
#: 1280 px window with the file browser open (about 760 px wide).
CHART_WIDTH = 640
TREE_NODES = 150
NO_QUERY = "(no saved query)"


def _ms_to_ns(v: Any) -> int:
    """A brush bound from the browser (epoch ms number or ISO string) → ns."""
    if isinstance(v, (int, float)):
        return int(v * 1_000_000)
    if isinstance(v, dict) and "value" in v:
        return _ms_to_ns(v["value"])
    return c.to_ns_text(str(v))


def _legend_below(chart: Any) -> Any:
    """The chart with its legends below it (a narrow output area keeps them in view)."""
    return chart.copy().configure_legend(orient="bottom", direction="horizontal")


class Explorer(w.VBox):
    """Pickers (namespace, workload, node, source) and a time range feeding a linked timeline
    and service map; brushing the timeline or clicking a mark fills the event table, and
    choosing a row shows its raw JSON and provenance.

    Everything shown is escaped: attacker strings in args, paths or labels stay text.

    Parameters
    ----------
    case : Case
        The case to explore.
    max_points : int
        Passed to :func:`kernelsec_nb.viz.timeline`.
    offline : bool
        Use the Vega JavaScript bundled with vl-convert for the interactive charts (no CDN);
        this sets altair's ``JupyterChart`` JavaScript for the session.
    **filters
        Initial values of the pickers (``namespace=``, ``workload=``, ``node=``, ``source=``)
        and ``since=``/``until=``.

    Attributes
    ----------
    filters : dict
        The current filters (only those set), in the vocabulary of :meth:`Case.events`.
    selection : polars.DataFrame
        The events selected by the brush or click (empty when nothing is selected).

    Examples
    --------
    >>> import kernelsec_nb as kn
    >>> ex = kn.widgets.Explorer(kn.open_case())
    >>> ex.filters
    {}
    >>> ex.selection.height
    0
    """

    def __init__(self, case: Any, *, max_points: int = 3000, offline: bool = True,
                 **filters: Any) -> None:
        import altair as alt

        if offline:
            alt.JupyterChart.enable_offline()
        self.case = case
        self.max_points = max_points
        self._selection = pl.DataFrame()
        self._selection_total = 0
        self._silent = False
        self._brushed = False
        opts = {k: self._options(k) for k in PICKERS}
        self.pickers = {k: w.Dropdown(options=[ALL, *opts[k]], value=ALL,
                                      description=k, layout=w.Layout(width="240px"))
                        for k in PICKERS}
        self.lanes = w.Dropdown(options=list(LANES), value="workload", description="lanes",
                                layout=w.Layout(width="200px"))
        self._bounds = self._time_bounds()
        self.time_range = w.SelectionRangeSlider(
            options=self._time_options(), description="time (UTC)",
            layout=w.Layout(width="100%", max_width="760px"), continuous_update=False,
            style={"description_width": "initial"})
        self.saved = w.Dropdown(options=self._query_options(), value=NO_QUERY,
                                description="saved query", style={"description_width": "initial"},
                                layout=w.Layout(width="320px"))
        self._focus: dict[str, Any] = {}  # timeline filters from a click (edge, process, query)
        self._focus_text = ""
        # which link is active ("edge", "process", "query"), and whether the timeline has a
        # brush or pick: a redrawn chart's browser side reports empty selections, which must
        # not undo a link made elsewhere
        self._focus_from: str | None = None
        self._tl_active = False
        self.time_range.index = (0, len(self.time_range.options) - 1)
        self.timeline_view = alt.JupyterChart(alt.Chart(alt.Data(values=[])).mark_point())
        self.flow_view = alt.JupyterChart(alt.Chart(alt.Data(values=[])).mark_point())
        self.tree_view = alt.JupyterChart(alt.Chart(alt.Data(values=[])).mark_point())
        self.status = w.HTML()
        self.table = w.HTML()
        self.row = w.Dropdown(options=[], description="event",
                              layout=w.Layout(width="100%", max_width="760px"))
        self.raw = w.HTML()
        self.note_box = NoteBox(case)  # tag the event picked in ``row``
        for k, v in filters.items():
            self._set_initial(k, v)
        controls = w.VBox([w.HBox([*self.pickers.values(), self.lanes, self.saved],
                                  layout=w.Layout(flex_flow="row wrap")), self.time_range])
        super().__init__([controls, self.status, self.timeline_view, self.flow_view,
                          self.tree_view, self.table, self.row, self.note_box, self.raw])
        for p in [*self.pickers.values(), self.lanes, self.time_range]:
            p.observe(self._on_filters, names="value")
        self.timeline_view.observe(self._on_chart_selection, names="_vl_selections")
        self.flow_view.observe(self._on_edge, names="_vl_selections")
        self.tree_view.observe(self._on_process, names="_vl_selections")
        self.saved.observe(self._on_saved, names="value")
        self.row.observe(self._on_row, names="value")
        self.refresh()

    # -- state -----------------------------------------------------------------------------
    @property
    def filters(self) -> dict[str, Any]:
        """The filters in force, in the vocabulary of :meth:`Case.events`."""
        out: dict[str, Any] = {k: p.value for k, p in self.pickers.items() if p.value != ALL}
        opts = self.time_range.options
        if opts:
            lo, hi = self.time_range.index
            if lo > 0:
                out["since"] = c.utc_text(opts[lo][1])
            if hi < len(opts) - 1:
                out["until"] = c.utc_text(opts[hi][1])
        return out

    @property
    def selection(self) -> pl.DataFrame:
        """The selected events (brushed time range or clicked marks), at most 10,000 rows."""
        return self._selection

    # -- actions (also what the chart callbacks call) --------------------------------------
    def refresh(self) -> None:
        """Redraw the charts for the current filters and clear the selection and the links."""
        flt = self.filters
        self._focus, self._focus_text, self._focus_from = {}, "", None
        self._silent = True
        try:
            self.saved.value = NO_QUERY
        finally:
            self._silent = False
        self._draw_timeline()
        self._draw_flows(self._flow_filters(flt))
        tree = process_tree(self.case, max_nodes=TREE_NODES, width=CHART_WIDTH,
                            **self._tree_filters(flt))
        self.tree_view.chart = _legend_below(tree)
        self._tree_chart = tree
        self._apply_selection(None, None, None)

    def _draw_timeline(self) -> None:
        self._tl_active = False
        flt = {**self.filters, **self._focus}
        try:
            tl = timeline(self.case, lanes=self.lanes.value, max_points=self.max_points,
                          select="brush", width=CHART_WIDTH, **flt)
        except (TypeError, ValueError) as exc:  # a saved query's filter the events lack
            self._focus_text += f" (timeline not narrowed: {exc})"
            tl = timeline(self.case, lanes=self.lanes.value, max_points=self.max_points,
                          select="brush", width=CHART_WIDTH, **self.filters)
        self.timeline_view.chart = _legend_below(tl)
        self._timeline_chart = tl
        self._status()

    def _draw_flows(self, flt: dict[str, Any]) -> None:
        if self._focus_from == "edge":  # the picked edge is redrawn away; the link stays
            self._focus_from = "edge (redrawn)"
        self._flow_chart = flow_chart(self.case, width=CHART_WIDTH, **flt)
        self.flow_view.chart = _legend_below(self._flow_chart)

    def _status(self) -> None:
        text = cell(", ".join(f"{k}={v}" for k, v in self.filters.items()) or "none")
        focus = f"; <b>linked</b>: {cell(self._focus_text, 400)}" if self._focus_text else ""
        self.status.value = "<b>filters</b>: " + text + focus

    def select(self, since: Any = None, until: Any = None,
               event_ids: list[str] | None = None) -> pl.DataFrame:
        """Select events by time range (within the filters) or by id, as a brush or click does."""
        return self._apply_selection(None if since is None else to_ns(since),
                                     None if until is None else to_ns(until),
                                     event_ids)

    def snapshot_chart(self) -> Any:
        """The current timeline and service map as one static altair chart."""
        import altair as alt

        tl = self._timeline_chart.copy()
        tl.usermeta = alt.Undefined  # only allowed on a top-level spec
        return alt.vconcat(tl, self._flow_chart).configure_legend(orient="bottom")

    def snapshot(self) -> str:
        """Static HTML of the current view (SVG charts and the escaped table), for notebooks
        viewed where widgets do not run (GitHub, nbviewer)."""
        import vl_convert as vlc

        from kernelsec_nb.viz.html import _spec, _vl_version

        parts = []
        for ch in (self._timeline_chart, self._flow_chart):
            spec = _spec(_legend_below(ch))
            ver = _vl_version(spec)
            parts.append(vlc.vegalite_to_svg(spec, **({"vl_version": ver} if ver else {})))
        return ('<div class="kernelsec-explorer-snapshot">' + self.status.value
                + "".join(f"<div>{p}</div>" for p in parts) + self.table.value + "</div>")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):
            try:
                data["text/html"] = self.snapshot()
            except Exception as exc:  # noqa: BLE001 - a static fallback must never break display
                data["text/plain"] = f"Explorer (snapshot failed: {exc})"
        return bundle

    # -- internals -------------------------------------------------------------------------
    def _options(self, col: str) -> list[str]:
        rows = self.case.con.execute(
            f"SELECT DISTINCT {col} FROM events WHERE {col} IS NOT NULL ORDER BY 1 LIMIT 2000"  # noqa: S608
        ).fetchall()
        return [r[0] for r in rows]

    def _query_options(self) -> list[str]:
        if not c.has_method(self.case, "queries"):
            return [NO_QUERY]
        try:
            names = self.case.queries()["name"].to_list()
        except Exception:  # noqa: BLE001 - a case without the notes tables: no saved queries
            names = []
        return [NO_QUERY, *names]

    def _time_bounds(self) -> tuple[int, int] | None:
        ((t0, t1),) = self.case.con.execute("SELECT min(time_ns), max(time_ns) FROM events").fetchall()
        return None if t0 is None else (int(t0), int(t1))

    def _time_options(self) -> list[tuple[str, int]]:
        if self._bounds is None:
            return [("(no events)", 0), ("(no events) ", 1)]
        t0, t1 = self._bounds
        step = max((t1 - t0) // TIME_STEPS, 1)
        # short labels, so the slider's readout ("from – to") is not cut: the day is in the
        # status line's since/until and only shown here when the capture spans days
        day = dt.datetime.fromtimestamp(t0 / 1e9, tz=dt.UTC).date()
        same_day = dt.datetime.fromtimestamp(t1 / 1e9, tz=dt.UTC).date() == day
        fmt = "%H:%M:%S" if same_day else "%m-%d %H:%M"
        ticks = [t0 + i * step for i in range(TIME_STEPS)] + [t1 + 1]
        seen: dict[str, int] = {}
        for t in ticks:
            label = dt.datetime.fromtimestamp(t / 1e9, tz=dt.UTC).strftime(fmt)
            while label in seen:
                label += " "
            seen[label] = t
        return list(seen.items())

    def _set_initial(self, key: str, value: Any) -> None:
        if key in self.pickers:
            if value not in self.pickers[key].options:
                self.pickers[key].options = [*self.pickers[key].options, value]
            self.pickers[key].value = value
        elif key in ("since", "until"):
            ns = to_ns(value)
            opts = [t for _, t in self.time_range.options]
            lo, hi = self.time_range.index
            if key == "since":
                lo = max(i for i, t in enumerate(opts) if t <= ns) if ns >= opts[0] else 0
            else:
                hi = min((i for i, t in enumerate(opts) if t >= ns), default=len(opts) - 1)
            self.time_range.index = (lo, max(lo, hi))
        else:
            raise TypeError(f"Explorer filters are {', '.join(PICKERS)}, since, until; not {key!r}")

    @staticmethod
    def _tree_filters(flt: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in flt.items() if k in ("namespace", "workload", "node", "since",
                                                      "until")}

    @staticmethod
    def _flow_filters(flt: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in flt.items() if k in ("namespace", "workload", "node", "since",
                                                      "until")}
        if flt.get("source") is not None and flt["source"] not in names_with(Capability.FLOWS):
            out["verdict"] = "__none__"  # another source picked: no flows to show
        return out

    def _on_filters(self, change: Any) -> None:
        if not self._silent:
            self.refresh()

    def _on_chart_selection(self, change: Any) -> None:
        """Read the selections altair parsed from the browser (``brush`` interval, ``pick``)."""
        sels = self.timeline_view.selections
        names = (change["new"] or {}).keys()
        brush_sel = getattr(sels, "brush", None) if "brush" in names else None
        pick_sel = getattr(sels, "pick", None) if "pick" in names else None
        brush = (brush_sel.value if brush_sel is not None else None) or {}
        pick = (pick_sel.value if pick_sel is not None else None) or []
        if not brush and not pick and not self._tl_active:
            return  # a redrawn timeline reporting its empty selections
        self._tl_active = bool(brush or pick)
        if brush:
            rng = next(iter(brush.values()))
            t0, t1 = sorted((_ms_to_ns(rng[0]), _ms_to_ns(rng[1])))
            self._draw_flows({**self._flow_filters(self.filters), "since": t0, "until": t1})
            self._brushed = True
            self._apply_selection(t0, t1, None)
        elif pick:
            ids = [p["event_id"] for p in pick if isinstance(p, dict) and "event_id" in p]
            buckets = [p for p in pick if isinstance(p, dict) and "bucket_ns" in p]
            if ids:
                self._apply_selection(None, None, ids)
            elif buckets:
                meta = (self._timeline_chart.to_dict().get("usermeta") or {}).get("kernelsec", {})
                size = int(meta.get("bucket_ns") or 0)
                b = int(buckets[0]["bucket_ns"])
                self._apply_selection(b, b + size - 1, None, lane=buckets[0].get("lane"))
        else:
            if self._brushed:  # the brush was cleared: the service map of the whole range
                self._brushed = False
                self._draw_flows(self._flow_filters(self.filters))
            self._apply_selection(None, None, None)

    def _on_edge(self, change: Any) -> None:
        """A click on a service-map edge: its flows in the table, its source on the timeline."""
        sel = getattr(self.flow_view.selections, "pick_edge", None)
        picked = [p for p in ((sel.value if sel is not None else None) or [])
                  if isinstance(p, dict) and all(k in p for k in EDGE_FIELDS)]
        if picked or self._focus_from == "edge":
            self.pick_edge(picked[0] if picked else None)

    def pick_edge(self, edge: dict[str, Any] | None) -> pl.DataFrame:
        """Link an edge of the service map (as a click does): list its flows and narrow the
        timeline to the workload (or pod) that opened them; ``None`` clears the link."""
        if not edge:
            return self._unfocus()
        flows = edge_flows(self.case, edge, **self._flow_filters(self.filters))
        end = self._end_filter(flows, "src") or self._end_filter(flows, "dst")
        self._focus, self._focus_from = end, "edge"
        self._focus_text = (f"edge {edge['src_ns']}/{edge['src_name']} → {edge['dst_ns']}/"
                            f"{edge['dst_name']} {edge['verdict']}: {flows.height} flows")
        self._draw_timeline()
        return self._apply_selection(None, None, flows["event_id"].to_list() or ["(none)"])

    @staticmethod
    def _end_filter(flows: pl.DataFrame, side: str) -> dict[str, Any]:
        if not flows.height:
            return {}
        r = flows.row(0, named=True)
        if r[f"{side}_workload"]:
            return {"namespace": r[f"{side}_ns"], "workload": r[f"{side}_workload"]}
        if r[f"{side}_pod"]:
            return {"namespace": r[f"{side}_ns"], "pod": r[f"{side}_pod"]}
        return {}

    def _on_process(self, change: Any) -> None:
        sel = getattr(self.tree_view.selections, "pick_process", None)
        picked = [p["exec_id"] for p in ((sel.value if sel is not None else None) or [])
                  if isinstance(p, dict) and p.get("exec_id")]
        if picked or self._focus_from == "process":
            self.pick_process(picked[0] if picked else None)

    def pick_process(self, exec_id: str | None) -> pl.DataFrame:
        """Link a process of the tree (as a click does): list its events and narrow the
        timeline to it; ``None`` clears the link."""
        if not exec_id:
            return self._unfocus()
        self._focus, self._focus_from = {"exec_id": exec_id}, "process"
        row = self.case.con.execute(
            "SELECT \"binary\", args FROM processes WHERE exec_id = ? LIMIT 1", [exec_id]).fetchall()
        what = " ".join(str(x or "") for x in row[0]).strip() if row else exec_id
        self._focus_text = f"process {what[:80]}"
        self._draw_timeline()
        ids = [r[0] for r in self.case.con.execute(
            "SELECT event_id FROM events WHERE exec_id = ? ORDER BY time_ns LIMIT 10000",
            [exec_id]).fetchall()]
        df = self._apply_selection(None, None, ids or ["(none)"])
        if ids and not df.height:  # an ancestor the tree shows for context, outside the pickers
            self._focus_text += f" ({len(ids)} events, none within the filters)"
            self._status()
        elif not ids:  # known from its children's events (it started before the capture)
            self._focus_text += " (no events of its own in the case)"
            self._status()
        return df

    def _on_saved(self, change: Any) -> None:
        if not self._silent:
            self.pick_query(None if change["new"] == NO_QUERY else change["new"])

    def pick_query(self, name: str | None) -> pl.DataFrame:
        """Use a saved query (``case.save_query``): list the events its rows name and narrow
        the timeline with its filters when the events have them; ``None`` clears it."""
        if not name:
            return self._unfocus()
        method, flt = self.case.saved_query(name)
        rows = self.case.query(name)
        self._focus, self._focus_from = dict(flt), "query"
        self._focus_text = f"saved query {name!r} ({method}): {rows.height} rows"
        self._draw_timeline()
        if "event_id" in rows.columns:
            ids = rows["event_id"].drop_nulls().unique().to_list()
        elif "exec_id" in rows.columns:
            ex = rows["exec_id"].drop_nulls().unique().to_list()
            ids = [r[0] for r in self.case.con.execute(
                "SELECT event_id FROM events WHERE exec_id IN (SELECT unnest(?::VARCHAR[])) "
                "ORDER BY time_ns LIMIT 10000", [ex]).fetchall()]
        else:
            ids = []
        return self._apply_selection(None, None, ids or ["(none)"])

    def _unfocus(self) -> pl.DataFrame:
        if self._focus or self._focus_text:
            self._focus, self._focus_text, self._focus_from = {}, "", None
            self._draw_timeline()
        return self._apply_selection(None, None, None)

    def _apply_selection(self, t0: int | None, t1: int | None, ids: list[str] | None,
                         lane: str | None = None) -> pl.DataFrame:
        if t0 is None and t1 is None and not ids:
            self._selection = pl.DataFrame()
            self.table.value = "<p>Brush the timeline or click a mark to list its events.</p>"
            self.row.options = []
            self.raw.value = ""
            return self._selection
        flt = dict(self.filters)
        cond, params = c.where("events", flt)
        extra = []
        if t0 is not None:
            extra.append("time_ns >= ?")
            params.append(t0)
        if t1 is not None:
            extra.append("time_ns <= ?")
            params.append(t1)
        if ids:
            extra.append("event_id IN (SELECT unnest(?::VARCHAR[]))")
            params.append(list(ids))
        if lane is not None:
            extra.append(f"{LANES[self.lanes.value]} = ?")
            params.append(lane)
        q = (f"SELECT * FROM events WHERE {cond} AND {' AND '.join(extra)} "  # noqa: S608
             "ORDER BY time_ns, event_id LIMIT 10000")
        df = c.sql(self.case, q, params)
        if df.height:
            df = df.with_columns(c.ns_to_utc_expr("time_ns", "time"))
        self._selection = df
        self.table.value = ('<div style="overflow-x:auto;max-width:100%">'
                            + table_html(df, columns=TABLE_COLUMNS, limit=TABLE_ROWS) + "</div>")
        opts = []
        for r in df.head(TABLE_ROWS).iter_rows(named=True):
            what = r.get("binary") or r.get("http_path") or r.get("rule") or r.get("summary") or ""
            opts.append((f"{r['time']} {r['kind']} {str(what)[:80]}", r["event_id"]))
        self._silent = True
        try:
            self.row.options = opts
            self.row.value = None
        finally:
            self._silent = False
        self.raw.value = ""
        return df

    def _on_row(self, change: Any) -> None:
        if self._silent or change["new"] is None:
            return
        self.show_event(change["new"])

    def show_event(self, event_id: str) -> str:
        """Show an event's raw JSON and provenance (file:line, and ``case.explain`` if any)."""
        parts = []
        loc = self.case.con.execute("SELECT file, line FROM events WHERE event_id = ? LIMIT 1",
                                    [event_id]).fetchall()
        if loc:
            parts.append(f"<p><b>provenance</b>: {cell(loc[0][0], 1000)}:{cell(loc[0][1])}</p>")
        try:
            raw = self.case.raw(event_id)
        except Exception as exc:  # noqa: BLE001 - show why the raw line is not available
            raw = f"(raw JSON not available: {exc})"
        parts.append(pre_html(raw, title=f"raw event {event_id}"))
        if c.has_method(self.case, "explain"):
            try:
                ex = self.case.explain(event_id)
                keep = [k for k in ("role", "kind", "event_id", "file", "line") if k in ex.columns]
                parts.append("<b>explain</b>" + table_html(ex, columns=keep, limit=50))
            except Exception as exc:  # noqa: BLE001
                parts.append(f"<p>explain: {html.escape(str(exc))}</p>")
        self.raw.value = "".join(parts)
        self.note_box.show(event_id)
        return self.raw.value
