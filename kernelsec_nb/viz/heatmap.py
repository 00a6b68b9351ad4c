"""Activity heatmap: events per group per time bucket, counted in DuckDB."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import polars as pl

from kernelsec_nb.store.filters import to_duration_ns
from kernelsec_nb.viz import _common as c

GROUPS = {"node": "node", "namespace": "namespace", "workload": c.WORKLOAD_SQL, "pod": "pod",
          "source": "source", "kind": "kind", "binary": '"binary"', "verdict": "verdict",
          "cluster": "cluster"}
MAX_CELLS = 20_000
MAX_ROWS = 150


def activity_heatmap(case: Any, by: str | Sequence[str] = ("node", "workload"), every: str = "1m",
                     *, width: int = c.WIDTH, **filters: Any) -> alt.Chart:
    """Events per group (rows) per time bucket (columns), log-scaled, colour-blind safe.

    When ``every`` would give more than 20,000 cells the bucket grows (the subtitle says to
    what); at most the 150 busiest rows are kept.

    Parameters
    ----------
    case : Case
        The case.
    by : str or sequence of str
        Columns of ``events`` naming a row: any of node, namespace, workload, pod, source,
        kind, binary, verdict, cluster.
    every : str
        Bucket size (``"30s"``, ``"1m"``, ``"1h"``).
    width : int
        Pixels.
    **filters
        The filter vocabulary of :meth:`Case.events`.

    Returns
    -------
    altair.Chart

    Examples
    --------
    >>> import kernelsec_nb as kn
    >>> chart = kn.viz.activity_heatmap(kn.open_case(), by="node", every="5m")
    >>> chart.to_dict()["title"]["subtitle"]
    ['no events match']
    """
    keys = [by] if isinstance(by, str) else list(by)
    bad = [k for k in keys if k not in GROUPS]
    if bad or not keys:
        raise ValueError(f"by must name columns among {sorted(GROUPS)}, not {bad or keys}")
    step = to_duration_ns(every)
    whr, params = c.where_clause("events", filters)
    ((n, t0, t1),) = case.con.execute(
        f"SELECT count(*), min(time_ns), max(time_ns) FROM events{whr}",  # noqa: S608
        params).fetchall()
    subtitle = []
    if n:
        requested = step
        while ((t1 - t0) // step + 1) * MAX_ROWS > MAX_CELLS * 4 and step < 10**18:
            step *= 2
        if step != requested:
            subtitle.append(f"bucket grown from {c.duration_text(requested)} to "
                            f"{c.duration_text(step)} to stay readable")
    group = " || ' · ' || ".join(f"coalesce({GROUPS[k]}::VARCHAR, '(none)')" for k in keys)
    df = c.sql(case, f"""
        WITH g AS (
            SELECT {group} AS "group", (time_ns // {step}) * {step} AS bucket_ns, count(*) AS n
            FROM events{whr} GROUP BY ALL
        ), top AS (
            SELECT "group" FROM g GROUP BY "group" ORDER BY sum(n) DESC, "group" LIMIT {MAX_ROWS}
        )
        SELECT * FROM g WHERE "group" IN (SELECT "group" FROM top)
        ORDER BY "group", bucket_ns""", params)  # noqa: S608
    df = c.clip_text(df, ["group"], 80).with_columns(
        c.ns_to_utc_expr("bucket_ns", "start"),
        (pl.col("bucket_ns") + step).alias("_end"),
    ).with_columns(c.ns_to_utc_expr("_end", "end")).drop("bucket_ns", "_end")
    if df.height > MAX_CELLS:  # sparse but very long: keep the busiest cells
        df = df.sort(["n", "group", "start"], descending=[True, False, False]).head(MAX_CELLS)
    subtitle.insert(0, f"{n} events, counts per {c.duration_text(step)} bucket" if n
                    else "no events match")
    rows = df["group"].n_unique() if df.height else 1
    return alt.Chart(c.inline(df)).mark_rect().encode(
        x=alt.X("start:T", scale=alt.Scale(type="utc"),
                axis=c.time_axis((t1 - t0) if n else 0)), x2="end:T",
        y=alt.Y("group:N", title=" · ".join(keys), sort="ascending",
                axis=alt.Axis(labelLimit=300)),
        color=alt.Color("n:Q", title="events", scale=alt.Scale(type="log", scheme="viridis"),
                        legend=c.legend()),
        tooltip=[alt.Tooltip("start:N", title="from (UTC)"), "group:N",
                 alt.Tooltip("n:Q", title="events")],
    ).properties(width=width, height=min(max(16 * rows, 80), 2400),
                 title=alt.TitleParams(text=f"Activity by {' · '.join(keys)}",
                                       subtitle=subtitle, anchor="start"))
