"""Shared helpers of the views: palettes, UTC time strings, inline data, safe SQL pieces.

Private: the public names live in :mod:`kernelsec_nb.viz`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import altair as alt
import polars as pl

from kernelsec_nb import sources as _sources
from kernelsec_nb._text import shown_frame
from kernelsec_nb.store import filters as _filters

#: Okabe-Ito, the colour-blind-safe palette (black last).
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000"]
#: Each source's colour (its own, else the next palette colour none of them took).
SOURCE_COLORS = {s.name: s.color for s in _sources.registry() if s.color}
SOURCE_COLORS |= dict(zip((s.name for s in _sources.registry() if not s.color),
                          (c for c in OKABE_ITO if c not in SOURCE_COLORS.values()), strict=False))
VERDICT_COLORS = {"FORWARDED": "#0072B2", "DROPPED": "#D55E00", "REDIRECTED": "#E69F00",
                  "ERROR": "#CC79A7", "AUDIT": "#56B4E9", "TRACED": "#999999",
                  "TRANSLATED": "#999999", "UNKNOWN": "#000000"}
PRIORITY_COLORS = {"Emergency": "#000000", "Alert": "#000000", "Critical": "#D55E00",
                   "Error": "#D55E00", "Warning": "#E69F00", "Notice": "#CC79A7",
                   "Informational": "#56B4E9", "Debug": "#999999", "(none)": "#0072B2"}
#: Shapes per event class, so colour is never the only cue.
CLASS_SHAPES = {"alert": "triangle-up", "dropped flow": "cross", "flow": "circle",
                "exec": "square", "exit": "diamond", "kprobe": "triangle-right",
                "other": "circle", "http request": "triangle-down", "api call": "wedge"}

MAX_TEXT = 160
#: Default chart width (px of plot area): with the legend below and the axis labels beside it,
#: a chart stays inside a notebook's output area (about 850 px at a 1280 px window with the
#: file browser open) and inside a saved SVG/PNG.
WIDTH = 640


def legend(direction: str = "horizontal", **kw: Any) -> alt.Legend:
    """A legend below the chart (a narrow output area keeps it in view).

    Legends below a chart sit side by side: a chart with several legends lays each out as a
    column (``direction="vertical"``) so together they stay narrower than the plot.
    """
    return alt.Legend(orient="bottom", direction=direction, **kw)
UTC_FORMAT = "%Y-%m-%dT%H:%M:%S%.3fZ"


#: A workload for every event: Falco alerts carry only the pod, so borrow the workload that
#: Tetragon saw for the same namespace and pod.
WORKLOAD_SQL = ("coalesce(workload, (SELECT any_value(p.workload) FROM processes p "
                "WHERE p.namespace = events.namespace AND p.pod = events.pod))")


def time_axis(span_ns: int | None, title: str = "Time (UTC)") -> alt.Axis:
    """A UTC time axis whose label format fits the span (24-hour clock, zone in the title)."""
    span = span_ns or 0
    if span <= 2 * 10**9:
        fmt = "%H:%M:%S.%L"
    elif span <= 86400 * 10**9:
        fmt = "%H:%M:%S"
    elif span <= 60 * 86400 * 10**9:
        fmt = "%m-%d %H:%M"
    else:
        fmt = "%Y-%m-%d"
    return alt.Axis(title=title, format=fmt, labelOverlap=True, grid=True)


def scale_for(values: list[str], known: dict[str, str]) -> alt.Scale:
    """A colour scale giving known values their fixed colour and the rest Okabe-Ito in order."""
    rest = iter(c for c in OKABE_ITO if c not in known.values())
    rng = []
    for v in values:
        rng.append(known.get(v) or known.get(str(v).upper()) or next(rest, "#999999"))
    return alt.Scale(domain=values, range=rng)


def utc_text(ns: int | None) -> str:
    """``1763632800000000000`` → ``'2025-11-20T10:00:00.000Z'`` (UTC, milliseconds)."""
    if ns is None:
        return ""
    t = dt.datetime.fromtimestamp(ns // 1000 / 1e6, tz=dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def to_ns_text(text: str) -> int:
    """Inverse of :func:`utc_text` (millisecond precision)."""
    return _filters.to_ns(text.replace("Z", "+00:00"))


def ns_to_utc_expr(col: str, alias: str) -> pl.Expr:
    """polars: ns integers → ISO UTC strings ending in ``Z`` (Vega parses them as UTC)."""
    return (pl.from_epoch(pl.col(col), time_unit="ns").dt.strftime(UTC_FORMAT).alias(alias))


def clip_text(df: pl.DataFrame, cols: list[str], n: int = MAX_TEXT) -> pl.DataFrame:
    """Truncate long strings so the spec stays bounded (attacker args can be megabytes)."""
    exprs = []
    for c in cols:
        if c in df.columns and df.schema[c] == pl.String:
            e = pl.col(c)
            exprs.append(pl.when(e.str.len_chars() > n).then(e.str.slice(0, n) + "…")
                         .otherwise(e).alias(c))
    return df.with_columns(exprs) if exprs else df


def inline(df: pl.DataFrame) -> alt.Data:
    """Inline data values (bypasses altair's global data transformer and its row limit)."""
    out = df
    conv = [pl.col(c).dt.strftime(UTC_FORMAT) for c, t in df.schema.items()
            if isinstance(t, pl.Datetime)]
    if conv:
        out = df.with_columns(conv)
    return alt.Data(values=out.to_dicts())


def where(table: str, flt: dict[str, Any]) -> tuple[str, list[Any]]:
    """The shared filter vocabulary (every value a parameter)."""
    return _filters.where(table, **dict(flt))


def where_clause(table: str, flt: dict[str, Any]) -> tuple[str, list[Any]]:
    """``" WHERE …"`` (or ``""`` without filters: DuckDB plans ``WHERE true`` worse) + params."""
    cond, params = where(table, flt)
    return ("" if cond == "true" else f" WHERE {cond}"), params


def sql(case: Any, query: str, params: list[Any] | None = None) -> pl.DataFrame:
    """Run a query on the case and return every row as polars, its text safe to show
    (:func:`kernelsec_nb._text.shown_frame`: a control character in a label aborts vl-convert)."""
    return shown_frame(pl.from_arrow(case.con.sql(query, params=params or None).to_arrow_table()))  # type: ignore[arg-type]


NICE_STEPS_NS = [
    s * 10**9 for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
                        21600, 43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400,
                        91 * 86400, 365 * 86400)
]
NICE_STEPS_NS = [m * 10**6 for m in (1, 2, 5, 10, 20, 50, 100, 200, 500)] + NICE_STEPS_NS


def nice_bucket(span_ns: int, target: int) -> int:
    """The smallest 'nice' bucket size giving at most ``target`` buckets over ``span_ns``."""
    for step in NICE_STEPS_NS:
        if span_ns // step + 1 <= target:
            return step
    return NICE_STEPS_NS[-1] * max(1, span_ns // (NICE_STEPS_NS[-1] * target) + 1)


def duration_text(ns: int) -> str:
    """``30_000_000_000`` → ``'30 s'``; ``300e9`` → ``'5 min'``."""
    for unit, size in (("d", 86400 * 10**9), ("h", 3600 * 10**9), ("min", 60 * 10**9),
                       ("s", 10**9), ("ms", 10**6)):
        if ns >= size and ns % size == 0:
            return f"{ns // size} {unit}"
    return f"{ns / 1e9:g} s"


def resolve_time(case: Any, mark: Any) -> int | None:
    """A pivot given as event id, exec id (the process's start), time string, datetime or ns →
    ns since epoch (UTC)."""
    if mark is None:
        return None
    if isinstance(mark, str) and len(mark) == 20 and all(c in "0123456789abcdef" for c in mark):
        row = case.con.execute("SELECT min(time_ns) FROM events WHERE event_id = ?",
                               [mark]).fetchall()
        if row and row[0][0] is not None:
            return int(row[0][0])
    if isinstance(mark, str):
        row = case.con.execute("SELECT min(start_ns) FROM processes WHERE exec_id = ?", [mark]).fetchall()
        if row and row[0][0] is not None:
            return int(row[0][0])
    try:
        return _filters.to_ns(mark)
    except ValueError:
        raise ValueError(f"cannot read {mark!r} as a pivot: give an event_id, an exec_id or a time") from None


def has_method(case: Any, name: str) -> bool:
    """True when the case offers a correlation method (the correlate package may lag)."""
    return callable(getattr(case, name, None))
