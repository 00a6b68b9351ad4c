"""Activity over time per group, and what each group did for the first time.

Examples
--------
>>> import kernelsec_nb as kn
>>> activity(kn.open_case().con, by="node", every="1m").columns
['window', 'node', 'source', 'kind', 'events']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl

from kernelsec_nb.correlate._frames import fetch
from kernelsec_nb.store import filters

#: Columns of ``events`` one may group by.
GROUPS = ("node", "cluster", "namespace", "pod", "workload", "container_id", "exec_id", "binary",
          "verdict", "rule", "priority", "dst_port", "http_method")
#: ``first_seen`` groups and the flow column that holds the same thing for the source side.
_FLOW_SIDE = {"workload": "src_workload", "namespace": "src_namespace", "pod": "src_pod", "node": "node"}


def _groups(by: str | Sequence[str]) -> list[str]:
    cols = [by] if isinstance(by, str) else list(by)
    bad = [c for c in cols if c not in GROUPS]
    if bad:
        raise ValueError(f"cannot group by {bad}; choose from {', '.join(GROUPS)}")
    return cols


def activity(con: Any, by: str | Sequence[str] = ("node", "workload"), every: Any = "1m",
             **flt: Any) -> pl.DataFrame:
    """Counts of events per group, ``source`` and ``kind`` in windows of ``every`` (``time_bucket``).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The case connection.
    by : str or sequence of str
        Columns of ``events`` (see :data:`GROUPS`).
    every : str, int or timedelta
        Window length (``"1m"``, ``"30s"``, …).
    **flt
        Event filters (:func:`kernelsec_nb.store.filters.where` on ``events``).

    Returns
    -------
    polars.DataFrame
        ``window`` (start, UTC), the group columns, ``source``, ``kind``, ``events``.

    Examples
    --------
    >>> import kernelsec_nb as kn
    >>> activity(kn.open_case().con, by=["node"], every="5m", source="hubble").height
    0
    """
    cols = _groups(by)
    step_us = max(filters.to_duration_ns(every) // 1000, 1)
    cond, params = filters.where("events", **flt)
    group = ", ".join(f'"{c}"' for c in cols)
    return fetch(
        con,
        f"SELECT time_bucket(to_microseconds(?::BIGINT), time) AS \"window\", {group}, source, kind, "  # noqa: S608
        f"count(*) AS events FROM events WHERE {cond} GROUP BY ALL ORDER BY \"window\", {group}, source, kind",
        [step_us, *params])


def _items(case: Any, by: str, since: int | None, until: int | None) -> pl.DataFrame:
    """(group, what, value, first_ns, count) of everything seen in ``[since, until]``."""
    tcond_p = "true" if since is None else "p.start_ns BETWEEN ? AND ?"
    tcond_f = "true" if since is None else "f.time_ns BETWEEN ? AND ?"
    rng = [] if since is None else [since, until]
    side = _FLOW_SIDE[by]
    binaries = case._fetch(
        f'SELECT p."{by}" AS "group", \'binary\' AS what, p."binary" AS value, min(p.start_ns) AS first_ns, '  # noqa: S608
        f"count(*) AS count FROM processes p WHERE p.\"binary\" IS NOT NULL AND {tcond_p} GROUP BY ALL", rng)
    pairs = case._fetch(
        f'SELECT p."{by}" AS "group", \'exec_pair\' AS what, q."binary" || \' -> \' || p."binary" AS value, '  # noqa: S608
        f"min(p.start_ns) AS first_ns, count(*) AS count FROM processes p JOIN processes q "
        f"ON q.exec_id = p.parent_exec_id WHERE p.\"binary\" IS NOT NULL AND q.\"binary\" IS NOT NULL "
        f"AND {tcond_p} GROUP BY ALL", rng)
    dest = ("coalesce(f.dst_namespace || '/' || f.dst_workload, f.dst_names[1], f.dst_ip) || ':' || "
            "coalesce(CAST(f.dst_port AS VARCHAR), '')")
    dests = case._fetch(
        f'SELECT f."{side}" AS "group", \'destination\' AS what, {dest} AS value, min(f.time_ns) AS first_ns, '  # noqa: S608
        f"count(*) AS count FROM flows f WHERE coalesce(f.is_reply, false) = false AND f.dst_ip IS NOT NULL "
        f"AND {tcond_f} GROUP BY ALL", rng)
    dns = case._fetch(
        f'SELECT f."{side}" AS "group", \'dns\' AS what, rtrim(f.dns_query, \'.\') AS value, '  # noqa: S608
        f"min(f.time_ns) AS first_ns, count(*) AS count FROM flows f WHERE f.dns_query IS NOT NULL "
        f"AND coalesce(f.is_reply, false) = false AND coalesce(f.l7_direction, 'REQUEST') = 'REQUEST' "
        f"AND {tcond_f} GROUP BY ALL", rng)
    # the lookups the eBPF tools saw with their process (Inspektor Gadget, Tracee: see case.dns()),
    # queries and answers alike (the stored columns do not tell them apart: same name, same first time)
    tcond_o = "true" if since is None else "o.time_ns BETWEEN ? AND ?"
    dns_own = case._fetch(
        f'SELECT o."{by}" AS "group", \'dns\' AS what, rtrim(o.dns_query, \'.\') AS value, '  # noqa: S608
        f"min(o.time_ns) AS first_ns, count(*) AS count FROM other_events o WHERE o.dns_query IS NOT NULL "
        f"AND {tcond_o} GROUP BY ALL", rng)
    if dns.height and dns_own.height:
        dns = (pl.concat([dns.with_columns(pl.col("group").cast(pl.String), pl.col("value").cast(pl.String)),
                          dns_own.with_columns(pl.col("group").cast(pl.String), pl.col("value").cast(pl.String))],
                         how="vertical_relaxed")
               .group_by("group", "what", "value", maintain_order=True)
               .agg(pl.col("first_ns").min(), pl.col("count").sum()))
    elif dns_own.height:
        dns = dns_own
    parts = [d.with_columns(pl.col("group").cast(pl.String), pl.col("value").cast(pl.String))
             for d in (binaries, pairs, dests, dns) if d.height]
    if not parts:
        return pl.DataFrame(schema={"group": pl.String, "what": pl.String, "value": pl.String,
                                    "first_ns": pl.Int64, "count": pl.Int64})
    return pl.concat(parts, how="vertical_relaxed")


def first_seen(case: Any, by: str = "workload", baseline: Any = None) -> pl.DataFrame:
    """What each group did for the first time: binaries, parent→child pairs, destinations, DNS names.

    Parameters
    ----------
    case : kernelsec_nb.Case
        The case to look at.
    by : str
        ``workload``, ``namespace``, ``pod`` or ``node`` (flows use the source side).
    baseline : Case, (since, until) or a time, optional
        Keep only items the baseline never saw.  With a time range, the items are counted
        after ``until`` and compared with those seen in the range; a single time is the range
        from the start of the capture to it.

    Returns
    -------
    polars.DataFrame
        ``group``, ``what`` (``binary``, ``exec_pair``, ``destination``, ``dns``), ``value``,
        ``first_time``, ``count``, ordered by first time.

    Examples
    --------
    >>> import kernelsec_nb as kn
    >>> first_seen(kn.open_case()).columns
    ['group', 'what', 'value', 'first_time', 'count']
    """
    if by not in _FLOW_SIDE:
        raise ValueError(f"first_seen groups by one of {', '.join(_FLOW_SIDE)}, not {by!r}")
    if baseline is None:
        items = _items(case, by, None, None)
    elif hasattr(baseline, "_fetch"):  # another case
        items = _items(case, by, None, None)
        known = _items(baseline, by, None, None)
        items = items.join(known.select("group", "what", "value"), on=["group", "what", "value"],
                           how="anti", nulls_equal=True)
    else:
        if isinstance(baseline, tuple | list) and len(baseline) == 2:
            since, until = (filters.to_ns(t) for t in baseline)
        elif isinstance(baseline, str | int | dt.datetime):
            since, until = 0, filters.to_ns(baseline)
        else:
            raise TypeError(f"baseline is a Case, a (since, until) pair or a time, not {baseline!r}")
        items = _items(case, by, until + 1, 2**62)
        known = _items(case, by, since, until)
        items = items.join(known.select("group", "what", "value"), on=["group", "what", "value"],
                           how="anti", nulls_equal=True)
    return (items.with_columns(pl.from_epoch("first_ns", time_unit="ns").dt.replace_time_zone("UTC")
                               .alias("first_time"))
            .sort("first_ns", "group", "what", "value", nulls_last=True)
            .select("group", "what", "value", "first_time", pl.col("count").cast(pl.Int64)))
