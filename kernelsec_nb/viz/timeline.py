"""Timeline: every source on one UTC time axis, one swim lane per workload, node or source."""

from __future__ import annotations

from typing import Any, Literal

import altair as alt
import polars as pl

from kernelsec_nb import sources as _sources
from kernelsec_nb.viz import _common as c

LANES = {
    "workload": f"coalesce(namespace || '/' || {c.WORKLOAD_SQL}, namespace || '/' || pod, "
                "'node ' || node, '(unattributed)')",
    "node": "coalesce(node, '(no node)')",
    "source": "coalesce(source, '(no source)')",
}
COLORS = {
    "source": "coalesce(source, '(none)')",
    "kind": "coalesce(kind, '(none)')",
    "priority": "coalesce(priority, '(none)')",
}


def _of(capability: _sources.Capability, name: str) -> str:
    """A CASE clause: the events of the sources that bring ``capability`` are of class ``name``."""
    names = sorted(_sources.names_with(capability))
    return f"WHEN source IN ({', '.join(repr(n) for n in names)}) THEN '{name}' " if names else ""


#: Each event's class: alerts, flows (the dropped ones apart), execs, exits, the API calls of the
#: sources that log them (the Kubernetes audit log), the HTTP requests of the proxies' logs
#: (Istio), the hooks of the sources with hooks, other.  (Every alert's kind is ``alert``, every
#: flow's ``flow``.)
CLASS_SQL = ("CASE WHEN kind = 'alert' THEN 'alert' "
             "WHEN upper(verdict) = 'DROPPED' THEN 'dropped flow' "
             "WHEN kind = 'flow' THEN 'flow' "
             "WHEN kind = 'process_exec' THEN 'exec' WHEN kind = 'process_exit' THEN 'exit' "
             + _of(_sources.Capability.API_CALLS, "api call") + _of(_sources.Capability.HTTP_REQUESTS, "http request")
             + _of(_sources.Capability.HOOKS, "kprobe") + "ELSE 'other' END")
API_CLASS = "api call"
#: What an API call's tooltip says (``verb resource[/subresource] [namespace/name] by user (code)``),
#: over the table of the sources with API calls (their rows in ``events`` carry no verb or user).
_API_TEXT = ("concat_ws(' ', verb, concat_ws('/', resource, subresource), nullif(concat_ws('/', namespace, name), ''), "
             "'by ' || \"user\", '(' || code || ')')")
NOTABLE = ("alert", "dropped flow")
_POINT_COLS = ("event_id, time_ns, source, kind, node, namespace, pod, workload, \"binary\", args, "
               "verdict, http_method, http_path, http_code, dns_query, rule, priority, summary")
MAX_LANES = 40
TARGET_BUCKETS = 150
#: At most this many (lane, colour, bucket) cells and individually drawn alerts/drops when
#: aggregating: keeps the spec (and altair's validation of it) small whatever the capture.
MAX_CELLS = 1500
MAX_NOTABLE = 300
#: Dropped flows are counted in buckets of about span / DROP_BUCKETS (or the events' own).
DROP_BUCKETS = 40


#: Mark size per event class (others: 45): what stands out, and what a lane is made of.
_SIZES = {"alert": 220, "dropped flow": 220, "exec": 60, "http request": 60, "api call": 80}


def _shape_scale() -> alt.Scale:
    return alt.Scale(domain=list(c.CLASS_SHAPES), range=list(c.CLASS_SHAPES.values()))


def _size_scale() -> alt.Scale:
    return alt.Scale(domain=list(c.CLASS_SHAPES), range=[_SIZES.get(k, 45) for k in c.CLASS_SHAPES])


def _stroke_scale() -> alt.Scale:
    return alt.Scale(domain=list(c.CLASS_SHAPES), range=[1.5 if k in NOTABLE else 0 for k in c.CLASS_SHAPES])


def _color_scale(color: str, values: list[str]) -> alt.Scale:
    known = {"source": c.SOURCE_COLORS, "priority": c.PRIORITY_COLORS}.get(color, {})
    return c.scale_for(values, known)


def _cap_lanes(df: pl.DataFrame, max_lanes: int) -> tuple[pl.DataFrame, int]:
    """Keep the ``max_lanes`` busiest lanes; fold the rest into one '(other lanes)' lane."""
    totals = (df.group_by("lane").agg(pl.col("n").sum())
              .sort(["n", "lane"], descending=[True, False]))
    if totals.height <= max_lanes:
        return df, 0
    keep = totals["lane"][: max_lanes - 1].to_list()
    folded = totals.height - len(keep)
    df = df.with_columns(pl.when(pl.col("lane").is_in(keep)).then(pl.col("lane"))
                         .otherwise(pl.lit(f"(other {folded} lanes)")).alias("lane"))
    return df, folded


def _coarsen(df: pl.DataFrame, bucket: int, max_rows: int) -> tuple[pl.DataFrame, int]:
    """Regroup into coarser buckets until the row count is at most ``max_rows``."""
    df = df.group_by(["lane", "color", "bucket_ns"]).agg(pl.col("n").sum(), pl.col("notable").sum())
    while df.height > max_rows:
        bucket = next((s for s in c.NICE_STEPS_NS if s > bucket and s % bucket == 0),
                      bucket * 2)
        df = (df.with_columns((pl.col("bucket_ns") // bucket * bucket).alias("bucket_ns"))
              .group_by(["lane", "color", "bucket_ns"])
              .agg(pl.col("n").sum(), pl.col("notable").sum()))
    return df, bucket


def timeline(case: Any, *, lanes: Literal["workload", "node", "source"] = "workload",
             color: Literal["source", "kind", "priority"] = "source", mark: Any = None,
             max_points: int = 5000, select: Literal["zoom", "brush"] = "zoom",
             width: int = c.WIDTH, **filters: Any) -> alt.LayerChart:
    """All sources on one UTC time axis, one swim lane per workload, node or source.

    Falco alerts (triangles) are larger and outlined in black; dropped flows are counted per
    lane and time bucket (about :data:`DROP_BUCKETS` over the span) and drawn as one cross per
    bucket sized by the count (legend: "dropped flows per <bucket>"; the tooltip gives the count,
    the first and last drop).
    When more than ``max_points`` events match, counts per lane per time bucket are computed
    in DuckDB and drawn as squares sized by count; alerts and dropped flows are still drawn
    one by one on top when they number at most ``max_points // 5``.  The subtitle says which.

    Parameters
    ----------
    case : Case
        The case to draw.
    lanes : {"workload", "node", "source"}
        One horizontal lane per namespace/workload, per node or per source.
    color : {"source", "kind", "priority"}
        What the colour tells.
    mark : str, datetime or int, optional
        A pivot (an ``event_id``, an ``exec_id``: its start, or a time) drawn as a dashed
        vertical rule.
    max_points : int
        Above this many matching events, draw counts per time bucket instead.
    select : {"zoom", "brush"}
        ``"zoom"``: drag to pan, wheel to zoom (interval selection ``zoom`` bound to scales).
        ``"brush"``: drag to select a time range (interval selection ``brush``); used by the
        Explorer.  Clicking a mark always fills the point selection ``pick``.
    width : int
        Width in pixels.
    **filters
        The filter vocabulary of :meth:`Case.events` (``namespace``, ``since``, ``kind`` …).

    Returns
    -------
    altair.LayerChart

    Examples
    --------
    >>> import kernelsec_nb as kn
    >>> case = kn.open_case()
    >>> chart = kn.viz.timeline(case, lanes="node")
    >>> chart.to_dict()["title"]["subtitle"]
    ['no events match']
    """
    if lanes not in LANES:
        raise ValueError(f"lanes must be one of {sorted(LANES)}, not {lanes!r}")
    if color not in COLORS:
        raise ValueError(f"color must be one of {sorted(COLORS)}, not {color!r}")
    whr, params = c.where_clause("events", filters)
    ((n, t0, t1),) = case.con.execute(
        f"SELECT count(*), min(time_ns), max(time_ns) FROM events{whr}",  # noqa: S608
        params).fetchall()
    pivot = c.resolve_time(case, mark)
    span = (int(t1) - int(t0)) if n else 0
    base_sel = f"SELECT {LANES[lanes]} AS lane, {COLORS[color]} AS color, {CLASS_SQL} AS class"
    layers: list[alt.Chart] = []
    folded = 0
    meta: dict[str, Any] = {"view": "timeline", "lanes": lanes, "events": int(n),
                            "mode": "points", "bucket_ns": None}
    if n <= max_points:
        df = c.sql(case, f"{base_sel}, {_POINT_COLS} FROM events{whr} "  # noqa: S608
                         "ORDER BY time_ns, event_id", params)
        subtitle = [f"{n} events" if n else "no events match"]
        df = _with_api_text(case, df)
        if df.height:
            layers.append(_points(df, color, span, width=width))
        lane_list = sorted(set(df["lane"].to_list()))
    else:
        bucket = c.nice_bucket(max(int(t1) - int(t0), 1), TARGET_BUCKETS)
        notable_in = ", ".join(f"'{k}'" for k in NOTABLE)
        agg = c.sql(case, f"""
            SELECT lane, color, (time_ns // {bucket}) * {bucket} AS bucket_ns, count(*) AS n,
                   count(*) FILTER (WHERE class IN ({notable_in})) AS notable
            FROM ({base_sel}, time_ns FROM events{whr}) GROUP BY ALL""",  # noqa: S608
                    params)
        agg, folded = _cap_lanes(agg, MAX_LANES)
        agg, bucket = _coarsen(agg, bucket, min(max_points, MAX_CELLS))
        agg = agg.sort(["lane", "color", "bucket_ns"])
        lane_list = sorted(set(agg["lane"].to_list()))
        layers.append(_buckets(agg, bucket, color, span))
        meta.update(mode="buckets", bucket_ns=int(bucket))
        text = f"{n} events as counts per {c.duration_text(bucket)} bucket"
        n_notable = int(agg["notable"].sum())
        if 0 < n_notable <= min(max_points // 5, MAX_NOTABLE):
            df = c.sql(case, f"SELECT * FROM ({base_sel}, {_POINT_COLS} FROM events "  # noqa: S608
                             f"{whr}) WHERE class IN ({notable_in}) "
                             "ORDER BY time_ns, event_id", params)
            df = _with_api_text(case, df)
            if folded:
                df = df.with_columns(pl.when(pl.col("lane").is_in(lane_list)).then(pl.col("lane"))
                                     .otherwise(pl.lit(f"(other {folded} lanes)")).alias("lane"))
            layers.append(_points(df, color, span, selectable=False, bucket=bucket, width=width))
            text += f"; {n_notable} alerts/dropped flows drawn one by one"
        elif n_notable:
            text += f"; {n_notable} alerts/dropped flows inside the squares (filter to see each)"
        subtitle = [text]
    if folded:
        subtitle.append(f"{MAX_LANES - 1} busiest lanes shown, {folded} more folded into one")
    if pivot is not None:
        subtitle.append(f"pivot {c.utc_text(pivot)} UTC")
        layers.append(_pivot_rule(pivot, span))
    if not layers:
        layers.append(alt.Chart(alt.Data(values=[])).mark_point())
    if select == "brush":
        sel = alt.selection_interval(name="brush", encodings=["x"])
    else:
        sel = alt.selection_interval(name="zoom", encodings=["x"], bind="scales")
    layers[0] = layers[0].add_params(sel)
    height = min(max(26 * len(lane_list), 120), 1400)
    chart = alt.layer(*layers).properties(
        width=width, height=height, usermeta={"kernelsec": meta},
        title=alt.TitleParams(text=f"Timeline by {lanes}", subtitle=subtitle, anchor="start"),
    ).resolve_scale(color="shared")
    return chart


def _with_api_text(case: Any, df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with ``api``: what each API call did (:data:`_API_TEXT`), through
    :func:`kernelsec_nb.shown` like the rest of the chart's text; NULL for other events."""
    ids = df.filter(pl.col("class") == API_CLASS)["event_id"] if df.height else pl.Series([], dtype=pl.String)
    tables = [t.name for s in _sources.having(_sources.Capability.API_CALLS) for t in s.tables]
    if not ids.len() or not tables:
        return df.with_columns(pl.lit(None, dtype=pl.String).alias("api"))
    union = " UNION ALL ".join(f"SELECT event_id, {_API_TEXT} AS api FROM {t}" for t in tables)  # noqa: S608 - our own names
    text = c.sql(case, f"SELECT event_id, api FROM ({union}) WHERE list_contains(?, event_id)",  # noqa: S608
                 [ids.to_list()])
    return df.join(text, on="event_id", how="left", maintain_order="left")


def _x(field: str, span: int) -> alt.X:
    return alt.X(f"{field}:T", scale=alt.Scale(type="utc"), axis=c.time_axis(span))


def _y(lanes: list[str] | None = None) -> alt.Y:
    return alt.Y("lane:N", title=None, sort="ascending",
                 axis=alt.Axis(labelLimit=260, grid=True))


DROP_CLASS = "dropped flow"


def _drop_counts(df: pl.DataFrame, bucket: int) -> pl.DataFrame:
    """The dropped flows of ``df`` as one row per lane, colour and ``bucket``: ``n`` drops, the
    first and last time, the first drop's fields (what its tooltip tells), centred in the bucket."""
    keep = [x for x in ("source", "kind", "node", "binary", "args", "verdict", "http_method", "http_path",
                        "http_code", "dns_query", "summary", "event_id") if x in df.columns]
    return (df.sort("time_ns", "event_id").with_columns((pl.col("time_ns") // bucket * bucket).alias("bucket_ns"))
            .group_by("lane", "color", "bucket_ns", maintain_order=True)
            .agg(pl.len().alias("n"), pl.col("time_ns").min().alias("first_ns"), pl.col("time_ns").max().alias("last_ns"),
                 *[pl.col(x).first() for x in keep])
            .with_columns(pl.lit(DROP_CLASS).alias("class"),
                          (pl.col("bucket_ns") + bucket // 2).alias("time_ns")))


def _drops(df: pl.DataFrame, color: str, span: int, bucket: int, colors: list[str],
           width: int = c.WIDTH) -> alt.Chart:
    """Dropped flows as one cross per lane and ``bucket``, sized by how many fell in it: 117
    drops in a lane read as a few crosses with counts, not a black smear.  The largest cross
    is about as wide as a bucket, so neighbours do not merge."""
    label = c.duration_text(bucket)
    step = width * bucket / max(span, 1)
    biggest = max(60.0, min(500.0, (step * 1.1) ** 2))
    agg = c.clip_text(_drop_counts(df, bucket), ["args", "http_path", "summary", "binary", "dns_query", "lane"])
    agg = agg.with_columns(
        c.ns_to_utc_expr("time_ns", "time"), c.ns_to_utc_expr("first_ns", "first"), c.ns_to_utc_expr("last_ns", "last"),
        pl.concat_str([pl.col("http_method"), pl.col("http_path"), pl.col("http_code").cast(pl.String)],
                      separator=" ", ignore_nulls=True).alias("http"),
    ).drop("time_ns", "first_ns", "last_ns", "bucket_ns", "http_method", "http_path", "http_code")
    return alt.Chart(c.inline(agg)).mark_point(shape="cross", filled=True, stroke="#000000", strokeWidth=1,
                                               opacity=0.9).encode(
        x=_x("time", span), y=_y(), yOffset=alt.YOffset("color:N", sort="ascending"),
        color=alt.Color("color:N", title=color, scale=_color_scale(color, colors), legend=c.legend("vertical")),
        size=alt.Size("n:Q", title=f"dropped flows per {label}",
                      scale=alt.Scale(type="sqrt", domainMin=1, range=[min(40.0, biggest), biggest]),
                      legend=c.legend("vertical", format="d", tickMinStep=1)),
        tooltip=[alt.Tooltip("n:Q", title=f"dropped flows in this {label}"),
                 alt.Tooltip("first:N", title="first (UTC)"), alt.Tooltip("last:N", title="last (UTC)"),
                 "lane:N", "node:N", "binary:N", "http:N", "dns_query:N", alt.Tooltip("event_id:N", title="first event_id")],
    )


def _points(df: pl.DataFrame, color: str, span: int, selectable: bool = True,
            bucket: int | None = None, width: int = c.WIDTH) -> alt.Chart | alt.LayerChart:
    """Each event a mark; dropped flows counted per ``bucket`` (default: the span in about
    :data:`DROP_BUCKETS`) in a layer of their own (:func:`_drops`)."""
    colors = sorted(set(df["color"].to_list()))
    drops = df.filter(pl.col("class") == DROP_CLASS)
    df = df.filter(pl.col("class") != DROP_CLASS)
    drop_bucket = max(bucket or 0, c.nice_bucket(max(span, 1), DROP_BUCKETS))
    chart = _each(df, color, span, selectable, colors) if df.height else None
    if not drops.height:
        return chart if chart is not None else alt.Chart(alt.Data(values=[])).mark_point()
    layer = _drops(drops, color, span, drop_bucket, colors, width)
    if chart is None:
        return layer.add_params(alt.selection_point(name="pick", fields=["event_id"])) if selectable else layer
    return alt.layer(chart, layer)


def _each(df: pl.DataFrame, color: str, span: int, selectable: bool, colors: list[str]) -> alt.Chart:
    df = c.clip_text(df, ["args", "http_path", "summary", "rule", "binary", "dns_query", "lane", "api"])
    df = df.with_columns(
        c.ns_to_utc_expr("time_ns", "time"),
        # (an API call's response code is in its own text)
        pl.when(pl.col("class") != API_CLASS).then(
            pl.concat_str([pl.col("http_method"), pl.col("http_path"),
                           pl.col("http_code").cast(pl.String)], separator=" ", ignore_nulls=True))
        .alias("http"),
    ).drop("time_ns", "http_method", "http_path", "http_code", "workload")
    # alerts are drawn last, on top of the flows and execs of their lane (marks follow data order)
    df = df.sort(pl.col("class") == "alert", maintain_order=True)
    chart = alt.Chart(c.inline(df)).mark_point(filled=True, stroke="#000000", opacity=0.85).encode(
        x=_x("time", span), y=_y(), yOffset=alt.YOffset("color:N", sort="ascending"),
        color=alt.Color("color:N", title=color, scale=_color_scale(color, colors), legend=c.legend("vertical")),
        shape=alt.Shape("class:N", title="event", scale=_shape_scale(), legend=c.legend("vertical")),
        size=alt.Size("class:N", scale=_size_scale(), legend=None),
        strokeWidth=alt.StrokeWidth("class:N", scale=_stroke_scale(), legend=None),
        tooltip=[alt.Tooltip("time:N", title="time (UTC)"), "source:N", "kind:N", "node:N",
                 "lane:N", "binary:N", "args:N", alt.Tooltip("http:N", title="http (method path code)"),
                 alt.Tooltip("api:N", title="API call (verb resource by user)"), "verdict:N", "dns_query:N",
                 "rule:N", "priority:N", "summary:N", "event_id:N"],
    )
    if selectable:
        chart = chart.add_params(alt.selection_point(name="pick", fields=["event_id"]))
    return chart


def _buckets(df: pl.DataFrame, bucket: int, color: str, span: int) -> alt.Chart:
    df = df.with_columns((pl.col("bucket_ns") + bucket // 2).alias("_mid")).with_columns(
        c.ns_to_utc_expr("_mid", "time")).drop("_mid")
    colors = sorted(set(df["color"].to_list()))
    label = c.duration_text(bucket)
    return alt.Chart(c.inline(df)).mark_square(opacity=0.75).encode(
        x=_x("time", span), y=_y(), yOffset=alt.YOffset("color:N", sort="ascending"),
        color=alt.Color("color:N", title=color, scale=_color_scale(color, colors), legend=c.legend("vertical")),
        size=alt.Size("n:Q", title=f"events per {label}", scale=alt.Scale(type="sqrt", range=[8, 260]),
                      legend=c.legend("vertical")),
        tooltip=[alt.Tooltip("time:T", title=f"{label} bucket centred on (UTC)",
                             format="%Y-%m-%d %H:%M:%S", formatType="utc"),
                 "lane:N", alt.Tooltip("color:N", title=color), alt.Tooltip("n:Q", title="events"),
                 alt.Tooltip("notable:Q", title="alerts + dropped")],
    ).add_params(alt.selection_point(name="pick", fields=["lane", "bucket_ns"]))


def _pivot_rule(pivot: int, span: int) -> alt.LayerChart:
    data = alt.Data(values=[{"time": c.utc_text(pivot), "label": "pivot"}])
    base = alt.Chart(data)
    return alt.layer(
        base.mark_rule(color="#CC79A7", strokeDash=[6, 3], size=2).encode(x=_x("time", span)),
        base.mark_text(align="left", dx=4, dy=-4, baseline="bottom", color="#CC79A7",
                       fontWeight="bold").encode(x=_x("time", span), y=alt.value(0), text="label:N"),
    )
