"""Attribute alerts to execs and fill the Kubernetes fields Falco left empty.

Rules (first that matches wins):

0. ``'exec_id'``: the alert names its process itself.  A tool that writes both the process
   events and the alerts (Tracee) gives its findings the exec identity of its own exec events
   (``alerts.exec_id``, computed at load from the same fields: host, entity id or host pid, see
   :mod:`kernelsec_nb.sources.tracee`); confidence 1.0, whether or not the capture holds that
   process's exec.
1. ``'container+pid'``: same 12-hex container id and same pid, and the alert time inside the
   process's lifetime.  PIDs are reused: the candidates are the latest process with that pid
   started at or before the alert and the first one started at most ``tolerance`` (default
   1 s) after it (clock/timestamp skew between Falco and Tetragon).  The earlier one wins while
   it was alive (no exit, or exit at or after ``alert - tolerance``); confidence 1.0, 0.9 for the
   later one, 0.5 for a dead earlier process with no later candidate.
1b. ``'node+pid'``: an alert on a host process (Falco's ``container.id`` ``host``: no container)
   and a process of no container on the same node, by pid and lifetime as rule 1 (a node's
   pids are one namespace).
2. ``'container+name'``: same container, same process name (``basename(binary)`` cut to the 15
   characters of a Linux ``comm``, as Falco's ``proc.name``), nearest start within ``window``
   (default 5 min).  Confidence 0.5 decreasing to 0.25 with the distance.
3. ``'none'``.

``namespace`` and ``pod`` that Falco left null or ``<NA>`` are taken from the attributed exec,
else from any Tetragon process of the same container; ``k8s_filled`` says which rows were
filled, and ``workload`` comes from Tetragon too.

Examples
--------
>>> import polars as pl
>>> alerts = pl.DataFrame({"time_ns": [50], "container_id": ["0123456789ab"], "pid": [7],
...     "proc_name": ["sh"], "namespace": ["<NA>"], "pod": [None]})
>>> procs = pl.DataFrame({"exec_id": ["e7"], "container_id": ["0123456789ab"], "pid": [7],
...     "binary": ["/bin/sh"], "start_ns": [10], "exit_ns": [None], "namespace": ["default"],
...     "pod": ["web-1"], "workload": ["web"]})
>>> attribute_alerts(alerts, procs).select("exec_id", "match", "namespace", "k8s_filled").rows()
[('e7', 'container+pid', 'default', True)]
"""

from __future__ import annotations

from typing import Any

import polars as pl

from kernelsec_nb.correlate._frames import is_na
from kernelsec_nb.store.filters import to_duration_ns

OUT_COLUMNS = ["exec_id", "match", "confidence"]
_COMM = 15


def _opt(df: pl.DataFrame, col: str, dtype: Any = pl.String) -> pl.Expr:
    return pl.col(col) if col in df.columns else pl.lit(None, dtype=dtype).alias(col)


def _comm(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).str.replace(r"^.*/", "").str.slice(0, _COMM)


def _by_pid(al: pl.DataFrame, pr: pl.DataFrame, tol: int, place: str = "container_id") -> pl.DataFrame:
    key = [place, "pid"]
    p = pr.filter(pl.col("pid").is_not_null()).select(*key, "_st", "_ex", "exec_id").sort("_st")
    a = al.filter(pl.col(place).is_not_null() & pl.col("pid").is_not_null()).sort("_at")
    back = a.join_asof(p, left_on="_at", right_on="_st", by=key, strategy="backward", check_sortedness=False)
    ahead = p.rename({"_st": "_st2", "exec_id": "_e2"}).drop("_ex")
    both = back.join_asof(ahead, left_on="_at", right_on="_st2", by=key, strategy="forward",
                          tolerance=tol, allow_exact_matches=False, check_sortedness=False)
    has_back = pl.col("_st").is_not_null()
    alive = pl.col("_ex").is_null() | (pl.col("_ex") >= pl.col("_at") - tol)
    use_ahead = pl.col("_st2").is_not_null() & ~(has_back & alive)
    return both.select(
        "_row",
        pl.when(use_ahead).then(pl.col("_e2")).when(has_back).then(pl.col("exec_id")).alias("exec_id"),
        pl.when(use_ahead).then(pl.lit(0.9)).when(has_back & alive).then(pl.lit(1.0))
        .when(has_back).then(pl.lit(0.5)).alias("confidence"),
    ).filter(pl.col("exec_id").is_not_null())


def _by_name(al: pl.DataFrame, pr: pl.DataFrame, window: int) -> pl.DataFrame:
    key = ["container_id", "_comm"]
    p = pr.filter(pl.col("_comm").is_not_null()).select(*key, "_st", "exec_id").sort("_st")
    a = al.filter(pl.col("container_id").is_not_null() & pl.col("_comm").is_not_null()).sort("_at")
    m = a.join_asof(p, left_on="_at", right_on="_st", by=key, strategy="nearest", tolerance=window,
                    check_sortedness=False).filter(pl.col("exec_id").is_not_null())
    dist = (pl.col("_at") - pl.col("_st")).abs().cast(pl.Float64) / max(window, 1)
    return m.select("_row", "exec_id", (0.5 - 0.25 * pl.min_horizontal(dist, pl.lit(1.0))).alias("confidence"))


def attribute_alerts(alerts: pl.DataFrame, processes: pl.DataFrame, *, tolerance: Any = "1s",
                     window: Any = "5m") -> pl.DataFrame:
    """Attribute each alert to a Tetragon exec and fill missing Kubernetes fields.

    Parameters
    ----------
    alerts : polars.DataFrame
        Alerts: ``time_ns``, ``container_id`` (12-hex short id), ``pid``, ``proc_name``;
        optional ``node``, ``namespace``, ``pod``, and ``exec_id`` (the alerting tool's own,
        kept: rule 0).
    processes : polars.DataFrame
        Rows of the ``processes`` table: ``exec_id``, ``container_id``, ``pid``, ``binary``,
        ``start_ns``, ``exit_ns``, ``namespace``, ``pod``, ``workload``; optional ``node``
        (rule 1b).
    tolerance : str, int or timedelta
        How far a process start may come after the alert.
    window : str, int or timedelta
        Largest start-time distance for a ``'container+name'`` match.

    Returns
    -------
    polars.DataFrame
        ``alerts`` in the same order plus ``exec_id``, ``match``, ``confidence``, ``workload``
        and ``k8s_filled``; ``namespace``/``pod`` filled where Falco left them empty.

    Examples
    --------
    >>> import polars as pl
    >>> a = pl.DataFrame({"time_ns": [5], "container_id": ["c1"], "pid": [None], "proc_name": ["cat"]})
    >>> p = pl.DataFrame({"exec_id": ["x"], "container_id": ["c1"], "pid": [9], "binary": ["/bin/cat"],
    ...     "start_ns": [4], "exit_ns": [6]})
    >>> attribute_alerts(a, p)["match"].to_list()
    ['container+name']
    """
    tol = to_duration_ns(tolerance)
    win = to_duration_ns(window)
    # filled by the load already (from the container's processes): stays filled
    prior = alerts["k8s_filled"].fill_null(False) if "k8s_filled" in alerts.columns else None
    own = alerts["exec_id"].cast(pl.String) if "exec_id" in alerts.columns else pl.Series([None] * alerts.height,
                                                                                           dtype=pl.String)
    base = alerts.drop([c for c in (*OUT_COLUMNS, "k8s_filled") if c in alerts.columns])
    al = base.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"),
        own.alias("_own"),
        pl.col("time_ns").cast(pl.Int64).alias("_at"),
        _opt(base, "container_id").cast(pl.String).alias("container_id"),
        _opt(base, "pid", pl.Int64).cast(pl.Int64).alias("pid"),
        _comm(_opt(base, "proc_name")).alias("_comm"),
        # a host process's alert (no container): placed by its node
        pl.when(_opt(base, "container_id").is_null()).then(_opt(base, "node").cast(pl.String)).alias("_node"),
    )
    host = processes.filter(pl.col("exec_id").is_not_null() & _opt(processes, "container_id").is_null()).select(
        pl.col("exec_id").cast(pl.String), _opt(processes, "node").cast(pl.String).alias("_node"),
        _opt(processes, "pid", pl.Int64).cast(pl.Int64).alias("pid"),
        _opt(processes, "start_ns", pl.Int64).cast(pl.Int64).alias("_st"),
        _opt(processes, "exit_ns", pl.Int64).cast(pl.Int64).alias("_ex"),
    ).filter(pl.col("_st").is_not_null() & pl.col("_node").is_not_null())
    pr = processes.filter(pl.col("exec_id").is_not_null() & pl.col("container_id").is_not_null()).select(
        pl.col("exec_id").cast(pl.String), pl.col("container_id").cast(pl.String),
        _opt(processes, "pid", pl.Int64).cast(pl.Int64).alias("pid"),
        pl.col("start_ns").cast(pl.Int64).alias("_st"),
        _opt(processes, "exit_ns", pl.Int64).cast(pl.Int64).alias("_ex"),
        _comm(_opt(processes, "binary")).alias("_comm"),
    ).filter(pl.col("_st").is_not_null())
    m0 = al.filter(pl.col("_own").is_not_null()).select(
        "_row", pl.col("_own").alias("exec_id"), pl.lit(1.0).alias("confidence"), pl.lit("exec_id").alias("match"))
    rest = al.filter(pl.col("_own").is_null())
    m1 = _by_pid(rest, pr, tol).with_columns(pl.lit("container+pid").alias("match"))
    rest = rest.filter(~pl.col("_row").is_in(m1["_row"].implode()))
    m1b = _by_pid(rest, host, tol, place="_node").with_columns(pl.lit("node+pid").alias("match"))
    rest = rest.filter(~pl.col("_row").is_in(m1b["_row"].implode()))
    m2 = _by_name(rest, pr, win).with_columns(pl.lit("container+name").alias("match"))
    found = pl.concat([m0, m1, m1b, m2], how="vertical_relaxed")
    out = (al.select("_row").join(found, on="_row", how="left", maintain_order="left")
           .with_columns(pl.col("match").fill_null("none"), pl.col("confidence").fill_null(0.0)))
    res = fill_k8s(pl.concat([base, out.select(OUT_COLUMNS)], how="horizontal"), processes)
    return res if prior is None else res.with_columns(pl.col("k8s_filled") | prior)


def fill_k8s(alerts: pl.DataFrame, processes: pl.DataFrame) -> pl.DataFrame:
    """Fill ``namespace``/``pod`` Falco left empty from the exec, else from the container.

    ``workload`` is Tetragon's (the exec's, else the container's) wherever Tetragon knows it: an
    alert's own workload is only read off its pod name (Falco names none).

    Examples
    --------
    >>> import polars as pl
    >>> a = pl.DataFrame({"exec_id": [None], "container_id": ["c1"], "namespace": ["<NA>"], "pod": ["<NA>"]})
    >>> p = pl.DataFrame({"exec_id": ["x"], "container_id": ["c1"], "namespace": ["ns"], "pod": ["p"]})
    >>> fill_k8s(a, p).select("namespace", "pod", "k8s_filled").rows()
    [('ns', 'p', True)]
    """
    cols = ["namespace", "pod", "workload"]
    meta = processes.select(
        pl.col("exec_id").cast(pl.String),
        _opt(processes, "container_id").cast(pl.String).alias("container_id"),
        *[_opt(processes, c).cast(pl.String).alias(c) for c in cols])
    by_exec = meta.filter(pl.col("pod").is_not_null()).unique("exec_id", keep="first").select(
        "exec_id", *[pl.col(c).alias(f"_e_{c}") for c in cols])
    by_cont = (meta.filter(pl.col("pod").is_not_null() & pl.col("container_id").is_not_null())
               .unique("container_id", keep="first")
               .select("container_id", *[pl.col(c).alias(f"_c_{c}") for c in cols]))
    df = alerts
    for c in ("namespace", "pod", "workload", "container_id", "exec_id"):
        if c not in df.columns or df.schema[c] == pl.Null:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    df = (df.join(by_exec, on="exec_id", how="left", maintain_order="left")
          .join(by_cont, on="container_id", how="left", maintain_order="left"))
    missing = is_na("namespace") | is_na("pod")
    filled: list[pl.Expr] = []
    for c in ("namespace", "pod"):
        new = pl.coalesce(f"_e_{c}", f"_c_{c}")
        filled.append(pl.when(is_na(c) & new.is_not_null()).then(new)
                      .when(is_na(c)).then(pl.lit(None, dtype=pl.String)).otherwise(pl.col(c)).alias(c))
    can_fill = pl.coalesce("_e_pod", "_c_pod").is_not_null()
    df = df.with_columns(
        *filled,
        # Tetragon's workload (from the Kubernetes API) over the one read off Falco's pod name
        pl.coalesce("_e_workload", "_c_workload",
                    pl.when(~is_na("workload")).then(pl.col("workload"))).alias("workload"),
        (missing & can_fill).alias("k8s_filled"),
    )
    return df.drop([c for c in df.columns if c.startswith(("_e_", "_c_"))])
