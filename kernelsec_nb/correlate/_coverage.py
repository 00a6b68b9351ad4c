"""How complete the capture is, per source and node: so "no process did X" is only as strong as the data.

* time span and event count per source and node;
* gaps: stretches longer than ``gap`` with no event of that source on that node (not for a source
  of alerts only, as Falco, which writes only when a rule fires: its silence is no lost data, and
  its gaps are null);
* ``orphan_share``: share of captured processes (rows of sources with process events) whose
  parent is not captured;
* ``throttles``: times Tetragon started throttling a cgroup there (``process_throttle``
  THROTTLE_START: it dropped that cgroup's events for a while);
* ``clock_offset_ms``: estimated clock offset of each node, from connections seen on two nodes
  (the first non-reply flow of the same 5-tuple on the client's and the server's node), as the
  load estimated it (:mod:`kernelsec_nb.store._skew`): against the median node.

Examples
--------
>>> import kernelsec_nb as kn
>>> coverage(kn.open_case()).height
0
"""

from __future__ import annotations

from typing import Any

import polars as pl

from kernelsec_nb.sources import Capability, names_with, registry
from kernelsec_nb.store import filters

#: Sources that write only when a rule fires (Falco): their silence is no lost data.
_ALERTS_ONLY = [s.name for s in registry() if s.capabilities <= {Capability.ALERTS}]


def clock_offsets(case: Any) -> pl.DataFrame:
    """Estimated clock offset of each node (ns, against the median node) and the pairs behind it,
    as the last load with Hubble flows stored them (:mod:`kernelsec_nb.store._skew`).

    Examples
    --------
    >>> import kernelsec_nb as kn
    >>> clock_offsets(kn.open_case()).columns
    ['node', 'clock_offset_ns', 'offset_pairs']
    """
    return case._fetch("SELECT node, clock_offset_ns, offset_pairs FROM clock_offsets "
                       "WHERE clock_offset_ns IS NOT NULL ORDER BY node")


def coverage(case: Any, gap: Any = "5m") -> pl.DataFrame:
    """Per source and node: first/last time, events, gaps longer than ``gap``, orphans, clock offset.

    Parameters
    ----------
    case : kernelsec_nb.Case
        The case.
    gap : str, int or timedelta
        Silence longer than this counts as a gap.

    Returns
    -------
    polars.DataFrame
        ``source``, ``node``, ``first_time``, ``last_time``, ``events``, ``gaps`` (count),
        ``longest_gap_s``, ``gap_list`` (list of {start, end}), ``processes``, ``orphan_share``
        (tetragon rows only), ``throttles`` (tetragon rows only), ``clock_offset_ms``, ``offset_pairs``.

    Examples
    --------
    >>> import kernelsec_nb as kn
    >>> "orphan_share" in coverage(kn.open_case(), gap="1m").columns
    True
    """
    g = filters.to_duration_ns(gap)
    span = case._fetch(
        "SELECT source, node, min(time) AS first_time, max(time) AS last_time, count(*) AS events "
        "FROM events GROUP BY ALL")
    gaps = case._fetch(
        "WITH t AS (SELECT source, node, time, lag(time) OVER (PARTITION BY source, node ORDER BY time_ns) AS prev, "
        "time_ns - lag(time_ns) OVER (PARTITION BY source, node ORDER BY time_ns) AS dt FROM events) "
        "SELECT source, node, count(*) AS gaps, max(dt) / 1e9 AS longest_gap_s, "
        "list({'start': prev, 'end': time} ORDER BY time) AS gap_list FROM t WHERE dt > ? GROUP BY ALL", [g])
    orphans = case._fetch(
        "SELECT c.source, c.node, count(*) AS processes, "
        "avg(CASE WHEN c.parent_exec_id IS NULL OR p.seen_as IS NULL OR p.seen_as NOT IN ('exec', 'event') "
        "THEN 1.0 ELSE 0.0 END) AS orphan_share "
        "FROM processes c LEFT JOIN processes p ON p.exec_id = c.parent_exec_id "
        "WHERE c.seen_as IN ('exec', 'event') GROUP BY ALL")
    throttles = case._fetch(
        "SELECT source, node, count(*) AS throttles FROM other_events "
        "WHERE kind = 'process_throttle' AND starts_with(summary, 'THROTTLE_START') GROUP BY ALL")
    offs = clock_offsets(case).with_columns((pl.col("clock_offset_ns") / 1e6).alias("clock_offset_ms"))
    out = span.join(gaps, on=["source", "node"], how="left", nulls_equal=True)
    out = out.join(orphans, on=["source", "node"], how="left", nulls_equal=True)
    out = out.join(throttles, on=["source", "node"], how="left", nulls_equal=True).with_columns(
        pl.when(pl.col("source").is_in(list(names_with(Capability.HOOKS))))
        .then(pl.col("throttles").fill_null(0)).alias("throttles"))
    out = out.join(offs.select("node", "clock_offset_ms", "offset_pairs"), on="node", how="left", nulls_equal=True)
    alerts = pl.col("source").is_in(_ALERTS_ONLY)
    return out.with_columns(pl.when(alerts).then(None).otherwise(pl.col("gaps").fill_null(0)).alias("gaps"),
                            pl.when(alerts).then(None).otherwise(pl.col("longest_gap_s").fill_null(0.0))
                            .alias("longest_gap_s"),
                            pl.when(alerts).then(None).otherwise(pl.col("gap_list")).alias("gap_list")).sort(
        "source", "node", nulls_last=True)
