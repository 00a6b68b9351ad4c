"""Service map from Hubble flows: workloads in namespace columns, edges weighted by flow count."""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import polars as pl

from kernelsec_nb.viz import _common as c

WORLD = "world"

# An endpoint's node key: namespace + workload (or pod); a cluster entity Hubble names by a
# reserved identity (kube-apiserver, host, remote-node, ...) under "(cluster)"; outside the
# cluster, a DNS name or "world".
_RESERVED = ("list_filter(map_keys(coalesce({p}_labels, MAP {{}})), lambda k: starts_with(k, 'reserved:') "
             "AND k NOT IN ('reserved:world', 'reserved:unknown'))[1]")
_END = """
    coalesce({p}_namespace, CASE WHEN {p}_workload IS NULL AND {p}_pod IS NULL AND {reserved} IS NOT NULL
                                 THEN '(cluster)'
                                 WHEN {p}_workload IS NULL AND {p}_pod IS NULL THEN '{world}' END,
             '(no namespace)') AS {p}_ns,
    coalesce({p}_workload, {p}_pod, replace({reserved}, 'reserved:', ''),
             CASE WHEN len(coalesce({p}_names, [])) > 0 THEN {p}_names[1] END,
             '{world}') AS {p}_name"""

#: Within this much time, a dropped sighting of the same 5-tuple (on the other node) is the same
#: connection: it did not get through, whatever the node it left said.
SAME_CONNECTION_NS = 10_000_000_000

_QUERY = """
WITH dropped AS (
    SELECT src_ip, src_port, dst_ip, dst_port, protocol, time_ns FROM flows WHERE verdict = 'DROPPED'
), f AS (
    SELECT {src}, {dst}, upper(coalesce(verdict, 'UNKNOWN')) AS verdict, dst_port, protocol,
           http_method, http_path, http_code, dns_query, dst_ip
    FROM flows AS x WHERE ({cond}) AND NOT coalesce(is_reply, false)
      AND (verdict = 'DROPPED' OR NOT EXISTS (
          SELECT 1 FROM dropped d
          WHERE d.src_ip = x.src_ip AND d.dst_ip = x.dst_ip AND d.src_port IS NOT DISTINCT FROM x.src_port
            AND d.dst_port IS NOT DISTINCT FROM x.dst_port AND d.protocol IS NOT DISTINCT FROM x.protocol
            AND abs(d.time_ns - x.time_ns) < {same}))
)
SELECT src_ns, src_name, dst_ns, dst_name, verdict, count(*) AS flows,
       list_sort(list_distinct(list(protocol || '/' || dst_port::VARCHAR)))[1:8] AS ports,
       list_sort(list_distinct(list(http_method || ' ' || http_path)))[1:6] AS http,
       list_sort(list_distinct(list(dns_query)))[1:6] AS dns,
       list_sort(list_distinct(list(dst_ip)))[1:4] AS dst_ips
FROM f GROUP BY ALL
"""
MAX_EDGES = 2000
#: What a click on an edge selects (the point selection ``pick_edge``).
EDGE_FIELDS = ("src_ns", "src_name", "dst_ns", "dst_name", "verdict")


def _ns_order(ns: list[str]) -> list[str]:
    return sorted(ns, key=lambda n: (n == WORLD, n.startswith("("), n))


def _join(values: list[str] | None, limit: int = 120) -> str:
    text = ", ".join(v for v in (values or []) if v)
    return text if len(text) <= limit else text[:limit] + "…"


def flow_chart(case: Any, *, width: int | None = None, **filters: Any) -> alt.LayerChart:
    """Service map of Hubble flows: who talked to whom, how often, with which verdict.

    A connection that one node let out and the other dropped (Cilium sees it on both) counts only
    as dropped: its let-out sightings are left out, so a FORWARDED edge means it got through.
    Replies are left out (an edge points from the side that opened the connection); dropped edges
    are drawn over the others.

    Nodes are workloads (or pods without one) in one column per namespace, sorted by name;
    endpoints outside the cluster are grouped in a ``world`` column (by DNS name when Hubble
    knew it).  Edges are curves from source to destination (the arrowhead sits at the
    destination), as wide as log(flow count), coloured by verdict (dropped is vermillion and
    dashed).  Hover an edge for ports, HTTP method/path and DNS names.

    Parameters
    ----------
    case : Case
        The case.
    width : int, optional
        Pixels; by default 220 per namespace column.
    **filters
        The filter vocabulary of the ``flows`` table (``namespace``, ``from_pod``, ``verdict``,
        ``since``, ``http_path`` …).

    Returns
    -------
    altair.LayerChart

    Examples
    --------
    >>> import kernelsec_nb as kn
    >>> chart = kn.viz.flow_chart(kn.open_case(), verdict="DROPPED")
    >>> chart.to_dict()["title"]["subtitle"]
    ['no flows match']
    """
    cond, params = c.where("flows", filters)
    q = _QUERY.format(src=_END.format(p="src", world=WORLD, reserved=_RESERVED.format(p="src")),
                      dst=_END.format(p="dst", world=WORLD, reserved=_RESERVED.format(p="dst")),
                      cond=cond, same=SAME_CONNECTION_NS)
    edges = c.sql(case, q, params)
    if edges.height > MAX_EDGES:  # keep the busiest edges; say so
        edges = edges.sort(["flows", "src_ns", "src_name", "dst_ns", "dst_name", "verdict"],
                           descending=[True, False, False, False, False, False]).head(MAX_EDGES)
    # dropped edges last: drawn over the busier let-through curves of the same pair
    edges = edges.sort([pl.col("verdict") == "DROPPED", "src_ns", "src_name", "dst_ns", "dst_name", "verdict"])
    total = int(edges["flows"].sum()) if edges.height else 0
    subtitle = [f"{total} flows, {edges.height} edges; width grows with log(flows), "
                "dropped flows dashed, bold rings: workloads with drops"
                if total else "no flows match"]
    nodes = _nodes(edges)
    layers = []
    if nodes.height:
        pos = {(r["ns"], r["name"]): (r["x"], r["y"]) for r in nodes.iter_rows(named=True)}
        layers += _edge_layers(edges, pos)
        layers += _node_layers(nodes)
    else:
        layers.append(alt.Chart(alt.Data(values=[])).mark_point())
    ncols = max(nodes["x"].max() + 1 if nodes.height else 1, 1)
    nrows = max(nodes["y"].max() + 1 if nodes.height else 1, 1)
    return alt.layer(*layers).properties(
        width=width or int(220 * ncols), height=int(min(max(34 * nrows, 140), 3000)),
        title=alt.TitleParams(text="Service map (Hubble flows)", subtitle=subtitle, anchor="start"),
    ).properties(view=alt.ViewBackground(stroke=None))


def _nodes(edges: pl.DataFrame) -> pl.DataFrame:
    if not edges.height:
        return pl.DataFrame(schema={"ns": pl.String, "name": pl.String, "x": pl.Int64,
                                    "y": pl.Int64, "out": pl.Int64, "in": pl.Int64,
                                    "dropped": pl.Int64})
    out = edges.group_by(["src_ns", "src_name"]).agg(
        pl.col("flows").sum().alias("out"),
        pl.col("flows").filter(pl.col("verdict") == "DROPPED").sum().alias("dropped_out"),
    ).rename({"src_ns": "ns", "src_name": "name"})
    inn = edges.group_by(["dst_ns", "dst_name"]).agg(
        pl.col("flows").sum().alias("in"),
        pl.col("flows").filter(pl.col("verdict") == "DROPPED").sum().alias("dropped_in"),
    ).rename({"dst_ns": "ns", "dst_name": "name"})
    nodes = out.join(inn, on=["ns", "name"], how="full", coalesce=True).fill_null(0)
    nodes = nodes.with_columns((pl.col("dropped_out") + pl.col("dropped_in")).alias("dropped")
                               ).drop("dropped_out", "dropped_in")
    order = _ns_order(nodes["ns"].unique().to_list())
    nodes = nodes.with_columns(
        pl.col("ns").replace_strict(order, list(range(len(order))), return_dtype=pl.Int64).alias("x")
    ).sort(["x", "name"])
    return nodes.with_columns(pl.int_range(pl.len()).over("x").cast(pl.Int64).alias("y"))


def _edge_layers(edges: pl.DataFrame, pos: dict[tuple[str, str], tuple[int, int]]) -> list[Any]:
    """Edges as 3-point basis curves (bowed so edges in one column do not overlap)."""
    pts, heads = [], []
    for i, e in enumerate(edges.iter_rows(named=True)):
        x0, y0 = pos[(e["src_ns"], e["src_name"])]
        x1, y1 = pos[(e["dst_ns"], e["dst_name"])]
        if (x0, y0) == (x1, y1):  # a workload talking to itself: a small loop to the right
            mx, my = x0 + 0.35, y0 + 0.001
        else:
            bow = 0.25 if x0 == x1 else 0.0
            mx, my = (x0 + x1) / 2 + bow + 0.04 * (hash_verdict(e["verdict"])), (y0 + y1) / 2 + (
                0.15 if x0 != x1 else 0.0)
        tip = {
            "edge": i, "src_ns": e["src_ns"], "src_name": e["src_name"], "dst_ns": e["dst_ns"],
            "dst_name": e["dst_name"], "from": f"{e['src_ns']}/{e['src_name']}",
            "to": f"{e['dst_ns']}/{e['dst_name']}", "verdict": e["verdict"],
            "flows": e["flows"], "weight": math.log10(e["flows"]) + 1,
            "ports": _join(e["ports"]), "http": _join(e["http"]), "dns": _join(e["dns"]),
            "ips": _join(e["dst_ips"]),
        }
        for order, (x, y) in enumerate(((x0, y0), (mx, my), (x1, y1))):
            pts.append({**tip, "order": order, "x": x, "y": y})
        # arrowhead at 85 % of the way from the control point to the destination
        hx, hy = mx + 0.85 * (x1 - mx), my + 0.85 * (y1 - my)
        angle = (math.degrees(math.atan2(x1 - mx, -(y1 - my) * 0.16)) + 360) % 360
        heads.append({**tip, "x": hx, "y": hy, "angle": round(angle, 1)})
    verdicts = sorted({p["verdict"] for p in pts})
    color = alt.Color("verdict:N", title="verdict", scale=c.scale_for(verdicts, c.VERDICT_COLORS),
                      legend=c.legend())
    dash = alt.StrokeDash("verdict:N", title="verdict", legend=c.legend(), scale=alt.Scale(
        domain=verdicts, range=[[6, 3] if v == "DROPPED" else [1, 0] for v in verdicts]))
    tooltip = ["from:N", "to:N", "verdict:N", "flows:Q", "ports:N", "http:N", "dns:N", "ips:N"]
    hover = alt.selection_point(name="edge_hover", fields=["edge"], on="pointerover",
                                clear="pointerout")
    # a click picks the edge (its two ends and verdict): the Explorer filters on it
    pick = alt.selection_point(name="pick_edge", fields=list(EDGE_FIELDS))
    line = alt.Chart(alt.Data(values=pts)).mark_line(interpolate="basis", opacity=0.75).encode(
        x=_X, y=_Y, detail="edge:N", order="order:Q", color=color, strokeDash=dash,
        strokeWidth=alt.StrokeWidth("weight:Q", legend=None, scale=alt.Scale(range=[1, 7])),
        tooltip=tooltip,
    ).add_params(hover, pick)
    head = alt.Chart(alt.Data(values=heads)).mark_point(shape="triangle", filled=True,
                                                        size=90).encode(
        x=_X, y=_Y, angle=alt.Angle("angle:Q", scale=None), color=color, tooltip=tooltip)
    return [line, head]


def hash_verdict(verdict: str) -> int:
    """A small deterministic offset per verdict so parallel edges of two verdicts separate."""
    return {"FORWARDED": 0, "DROPPED": 1, "REDIRECTED": -1}.get(verdict, 2)


_X = alt.X("x:Q", axis=None, scale=alt.Scale(nice=False, padding=60))
_Y = alt.Y("y:Q", axis=None, scale=alt.Scale(reverse=True, nice=False, padding=30))


def _node_layers(nodes: pl.DataFrame) -> list[Any]:
    nd = c.clip_text(nodes, ["name"], 40).with_columns(
        (pl.col("out") + pl.col("in")).alias("total"),
        pl.when(pl.col("dropped") > 0).then(pl.lit("has dropped flows"))
        .otherwise(pl.lit("no drops")).alias("status"))
    data = c.inline(nd)
    base = alt.Chart(data)
    tooltip = ["ns:N", "name:N", alt.Tooltip("out:Q", title="flows out"),
               alt.Tooltip("in:Q", title="flows in"), alt.Tooltip("dropped:Q", title="dropped")]
    dots = base.mark_circle(stroke="#000000", fill="#ffffff", opacity=1).encode(
        x=_X, y=_Y, size=alt.Size("total:Q", scale=alt.Scale(type="log", range=[60, 400]),
                                  legend=None),
        strokeWidth=alt.StrokeWidth("status:N", legend=None, scale=alt.Scale(
            domain=["has dropped flows", "no drops"], range=[3, 1])),
        tooltip=tooltip)
    labels = base.mark_text(align="left", dx=10, dy=-9, fontSize=11).encode(
        x=_X, y=_Y, text="name:N", tooltip=tooltip)
    heads = nd.group_by("ns").agg(pl.col("x").first()).sort("x")
    headers = alt.Chart(c.inline(heads)).mark_text(fontWeight="bold", fontSize=12, dy=-22,
                                                   baseline="bottom").encode(
        x=_X, y=alt.value(0), text="ns:N")
    return [dots, labels, headers]


_EDGE_QUERY = """
WITH dropped AS (
    SELECT src_ip, src_port, dst_ip, dst_port, protocol, time_ns FROM flows WHERE verdict = 'DROPPED'
), f AS (
    SELECT event_id, time_ns, src_workload, src_pod, dst_workload, dst_pod, {src}, {dst},
           upper(coalesce(verdict, 'UNKNOWN')) AS verdict
    FROM flows AS x WHERE ({cond}) AND NOT coalesce(is_reply, false)
      AND (verdict = 'DROPPED' OR NOT EXISTS (
          SELECT 1 FROM dropped d
          WHERE d.src_ip = x.src_ip AND d.dst_ip = x.dst_ip AND d.src_port IS NOT DISTINCT FROM x.src_port
            AND d.dst_port IS NOT DISTINCT FROM x.dst_port AND d.protocol IS NOT DISTINCT FROM x.protocol
            AND abs(d.time_ns - x.time_ns) < {same}))
)
SELECT event_id, src_ns, src_workload, src_pod, dst_ns, dst_workload, dst_pod FROM f
WHERE src_ns = ? AND src_name = ? AND dst_ns = ? AND dst_name = ? AND verdict = ?
ORDER BY time_ns, event_id LIMIT 10000
"""


def edge_flows(case: Any, edge: dict[str, Any], **filters: Any) -> pl.DataFrame:
    """The flows drawn as one edge of :func:`flow_chart` (what a click on it picks).

    Parameters
    ----------
    case : Case
        The case.
    edge : dict
        ``src_ns``, ``src_name``, ``dst_ns``, ``dst_name``, ``verdict`` (:data:`EDGE_FIELDS`),
        as the chart's ``pick_edge`` selection holds them.
    **filters
        The filters the chart was drawn with.

    Returns
    -------
    polars.DataFrame
        ``event_id`` and both ends' namespace, workload and pod, by time (at most 10,000).

    Examples
    --------
    >>> import kernelsec_nb as kn
    >>> edge_flows(kn.open_case(), {"src_ns": "a", "src_name": "b", "dst_ns": "c",
    ...                             "dst_name": "d", "verdict": "DROPPED"}).height
    0
    """
    cond, params = c.where("flows", filters)
    q = _EDGE_QUERY.format(src=_END.format(p="src", world=WORLD, reserved=_RESERVED.format(p="src")),
                           dst=_END.format(p="dst", world=WORLD, reserved=_RESERVED.format(p="dst")),
                           cond=cond, same=SAME_CONNECTION_NS)
    return c.sql(case, q, [*params, *(str(edge.get(k, "")) for k in EDGE_FIELDS)])
