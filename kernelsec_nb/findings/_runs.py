"""The pods a schedule starts: no call to the API made them, whatever ran just before.

Without an audit log the ``api`` edge (:func:`~.graph.api_edges`) is a guess by time: a call to
the API server, then the first process of a pod that started within 3 minutes.  A CronJob's run
that the schedule starts in that window is no pod the call made: its workload started its pods
at regular intervals all through the capture, before the call too.  :func:`scheduled_runs` names
the first processes of such runs — every pod but the first of a workload whose pods' starts (at
least ``min_runs``, the capture saw them start) repeat at regular intervals (the intervals'
coefficient of variation at most ``max_interval_cv``) over at least ``min_span_share`` of the
capture's span — and :func:`drop_scheduled` takes the timing edges into them away.  The
schedule's first run in the capture keeps them (an intruder's new CronJob's first run may be
what the call made).

>>> m = 60_000_000_000
>>> procs = pl.DataFrame({"exec_id": ["r1", "r2", "r3", "r4", "x"], "namespace": ["shop"] * 5,
...     "pod": ["rep-1", "rep-2", "rep-3", "rep-4", "dbg"], "workload": ["rep"] * 4 + ["dbg"],
...     "start_ns": [0, 15 * m, 30 * m, 45 * m, 31 * m], "seen_as": ["exec"] * 5})
>>> scheduled_runs(procs).to_list()
['r2', 'r3', 'r4']
"""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings.routine import DEFAULT, RoutineSettings


def scheduled_runs(procs: pl.DataFrame, s: RoutineSettings = DEFAULT) -> pl.Series:
    """The first processes of the pods a regular schedule started, its first run left out (see the module)."""
    need = {"exec_id", "pod", "start_ns"}
    if procs.height == 0 or not need <= set(procs.columns):
        return pl.Series("exec_id", [], dtype=pl.String)
    p = procs.filter(pl.col("start_ns").is_not_null())
    if "seen_as" in p.columns:  # starts the capture saw: its span (a process running for days is no part of it)
        p = p.filter(pl.col("seen_as").fill_null("exec") == "exec")
    if p.height == 0:
        return pl.Series("exec_id", [], dtype=pl.String)
    lo, hi = p["start_ns"].min(), p["start_ns"].max()
    span = int(hi) - int(lo) if lo is not None and hi is not None else 0  # type: ignore[arg-type]
    ns = pl.col("namespace").cast(pl.String) if "namespace" in p.columns else pl.lit("")
    wl = pl.coalesce(pl.col("workload"), pl.col("pod")) if "workload" in p.columns else pl.col("pod")
    first = (p.filter(pl.col("pod").is_not_null()).with_columns(ns.alias("_ns"), wl.alias("_wl"))
             .sort("start_ns").group_by("_ns", "pod", maintain_order=True).first())
    runs = first.sort("start_ns").with_columns(pl.col("start_ns").diff().over("_ns", "_wl").alias("_d"))
    stats = runs.group_by("_ns", "_wl").agg(
        pl.len().alias("_n"), pl.col("_d").drop_nulls().mean().alias("_every"),
        pl.col("_d").drop_nulls().std(ddof=0).alias("_sd"),
        (pl.col("start_ns").max() - pl.col("start_ns").min()).alias("_covered"))
    regular = stats.filter((pl.col("_n") >= s.min_runs) & (pl.col("_every") > 0)
                           & (pl.col("_sd") <= s.max_interval_cv * pl.col("_every"))
                           & (pl.col("_covered") >= s.min_span_share * span))
    later = runs.join(regular.select("_ns", "_wl"), on=["_ns", "_wl"], how="inner").filter(pl.col("_d").is_not_null())
    return later["exec_id"]


def drop_scheduled(edges: pl.DataFrame, procs: pl.DataFrame, s: RoutineSettings = DEFAULT) -> pl.DataFrame:
    """``edges`` (timing ``api`` edges) without those into a schedule's later runs (:func:`scheduled_runs`)."""
    if edges.height == 0:
        return edges
    runs = ("proc:" + scheduled_runs(procs, s)).implode()
    return edges.filter(~pl.col("dst").is_in(runs))


__all__ = ["drop_scheduled", "scheduled_runs"]
