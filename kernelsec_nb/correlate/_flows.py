"""Attribute Hubble flows to the Tetragon process that opened the connection.

Rules (in this order, the first that matches wins):

1. ``'5tuple'``: a connect-like kprobe (``tcp_connect``, ``connect``, ``*sendmsg``, old
   ``process_connect``) with the same client ip/port, server ip/port and protocol.  A flow is
   oriented first: a reply (``is_reply``) is looked up with source and destination swapped, so
   both directions and the ingress observation on the destination node find the same connect;
   a flow that finds nothing as oriented is tried swapped too (``is_reply`` is often missing).
   Among the connects of that 5-tuple (ephemeral ports are reused):

   * *back*: the latest connect at or before the flow time;
   * *ahead*: the earliest connect after the flow but at most ``tolerance`` (default 1.5 s)
     later, because flows observed on another node carry that node's clock (a few hundred ms
     off).  A later connect is never used.

   *back* wins when its connection was still open around the flow (no close seen, or its
   ``tcp_close`` at or after ``flow - tolerance``), unless an *ahead* connect exists and *back*
   has no close at all: two live sockets cannot share one 5-tuple, so a connect of the same
   5-tuple just after the flow means the flow belongs to it.  Confidence: 1.0 for *back* inside
   its connection, 0.9 for *ahead*, 0.5 for *back* whose connection had closed before the flow.
2. ``'pod+dest'``: no 5-tuple match; the connect from the same pod (namespace + pod name, or
   else the same source ip) to the same destination ip and port nearest in time within
   ``window`` (default 60 s).  Confidence 0.6 decreasing to 0.3 with the time distance.
3. ``'none'``: no process found (confidence 0).

Examples
--------
>>> import polars as pl
>>> flows = pl.DataFrame({"time_ns": [1_000], "src_ip": ["10.0.0.1"], "src_port": [40000],
...     "dst_ip": ["10.0.0.2"], "dst_port": [80], "protocol": ["TCP"]})
>>> kp = pl.DataFrame({"time_ns": [900], "exec_id": ["e1"], "function_name": ["tcp_connect"],
...     "saddr": ["10.0.0.1"], "sport": [40000], "daddr": ["10.0.0.2"], "dport": [80],
...     "protocol": ["TCP"]})
>>> attribute_flows(flows, kp).select("exec_id", "match", "confidence").rows()
[('e1', '5tuple', 1.0)]
"""

from __future__ import annotations

from typing import Any

import polars as pl

from kernelsec_nb.store.filters import to_duration_ns

#: kprobe functions / kinds that open (or first use) a connection from the calling process.
CONNECT_PATTERN = r"(?i)(^|_)(connect|sendmsg|sendto|sendmmsg)$"
CLOSE_PATTERN = r"(?i)(^|_)(close|release)$"
_KEY = ["_cip", "_cport", "_sip", "_sport", "_proto"]
OUT_COLUMNS = ["exec_id", "match", "confidence", "conn_event_id", "conn_time_ns"]


def _proto(col: str, fn: str | None = None) -> pl.Expr:
    p = pl.col(col).cast(pl.String).str.to_uppercase().str.replace("^IPPROTO_", "")
    if fn is None:
        return p
    guess = pl.when(pl.col(fn).cast(pl.String).str.contains("(?i)udp")).then(pl.lit("UDP")).otherwise(pl.lit("TCP"))
    return pl.coalesce(p, guess)


def _opt(df: pl.DataFrame, col: str, dtype: Any = pl.String) -> pl.Expr:
    return pl.col(col) if col in df.columns else pl.lit(None, dtype=dtype).alias(col)


def socket_kprobes(kprobes: pl.DataFrame, pattern: str) -> pl.DataFrame:
    """Kprobes with a full socket 5-tuple whose function (or kind) matches ``pattern``, keyed.

    Examples
    --------
    >>> import polars as pl
    >>> kp = pl.DataFrame({"time_ns": [1], "exec_id": ["e"], "function_name": ["tcp_connect"],
    ...     "saddr": ["a"], "sport": [1], "daddr": ["b"], "dport": [2], "protocol": [None]})
    >>> socket_kprobes(kp, CONNECT_PATTERN)["_proto"].to_list()
    ['TCP']
    """
    fn = pl.coalesce(_opt(kprobes, "function_name"), _opt(kprobes, "kind").cast(pl.String).str.replace("^process_", ""))
    df = kprobes.select(
        pl.col("time_ns").cast(pl.Int64).alias("_kt"),
        pl.col("exec_id").cast(pl.String),
        _opt(kprobes, "event_id").alias("conn_event_id"),
        pl.col("saddr").cast(pl.String).alias("_cip"), pl.col("sport").cast(pl.Int64).alias("_cport"),
        pl.col("daddr").cast(pl.String).alias("_sip"), pl.col("dport").cast(pl.Int64).alias("_sport"),
        fn.alias("_fn"), _opt(kprobes, "protocol").alias("_p"),
        _opt(kprobes, "namespace").alias("_kns"), _opt(kprobes, "pod").alias("_kpod"),
    )
    df = df.filter(pl.col("_fn").str.contains(pattern) & pl.all_horizontal(
        pl.col(c).is_not_null() for c in ["_kt", "_cip", "_cport", "_sip", "_sport"]))
    return df.with_columns(_proto("_p", "_fn").alias("_proto")).drop("_p", "_fn")


def _connections(kprobes: pl.DataFrame) -> pl.DataFrame:
    """Connect kprobes with the time of the next close of the same 5-tuple (``_close``)."""
    conn = socket_kprobes(kprobes, CONNECT_PATTERN).sort("_kt")
    closes = socket_kprobes(kprobes, CLOSE_PATTERN).select([*_KEY, pl.col("_kt").alias("_close")]).sort("_close")
    if closes.height:
        conn = conn.join_asof(closes, left_on="_kt", right_on="_close", by=_KEY, strategy="forward",
                              check_sortedness=False)
    else:
        conn = conn.with_columns(pl.lit(None, dtype=pl.Int64).alias("_close"))
    return conn


def _orient(flows: pl.DataFrame, reverse: pl.Expr) -> pl.DataFrame:
    def pick(a: str, b: str) -> pl.Expr:
        return pl.when(reverse).then(pl.col(b)).otherwise(pl.col(a))
    return flows.with_columns(
        pick("src_ip", "dst_ip").cast(pl.String).alias("_cip"),
        pick("src_port", "dst_port").cast(pl.Int64).alias("_cport"),
        pick("dst_ip", "src_ip").cast(pl.String).alias("_sip"),
        pick("dst_port", "src_port").cast(pl.Int64).alias("_sport"),
        _proto("protocol").alias("_proto"),
        pick("src_namespace", "dst_namespace").alias("_cns"),
        pick("src_pod", "dst_pod").alias("_cpod"),
    )


def _five_tuple(fl: pl.DataFrame, conn: pl.DataFrame, tol: int) -> pl.DataFrame:
    """Exact 5-tuple matches for oriented flows ``fl`` (sorted by ``_ft``); see the module rules."""
    c = conn.select([*_KEY, "_kt", "_close", "exec_id", "conn_event_id"])
    back = fl.join_asof(c, left_on="_ft", right_on="_kt", by=_KEY, strategy="backward",
                        check_sortedness=False)
    ahead_c = c.rename({"_kt": "_at", "exec_id": "_aexec", "conn_event_id": "_aev"}).drop("_close")
    both = back.join_asof(ahead_c, left_on="_ft", right_on="_at", by=_KEY, strategy="forward",
                          tolerance=tol, allow_exact_matches=False, check_sortedness=False)
    has_back = pl.col("_kt").is_not_null()
    has_ahead = pl.col("_at").is_not_null()
    back_open = pl.col("_close").is_null() | (pl.col("_close") >= pl.col("_ft") - tol)
    use_ahead = has_ahead & (~has_back | pl.col("_close").is_null() | ~back_open)
    return both.with_columns(
        pl.when(use_ahead).then(pl.col("_aexec")).when(has_back).then(pl.col("exec_id")).alias("exec_id"),
        pl.when(use_ahead).then(pl.col("_aev")).when(has_back).then(pl.col("conn_event_id")).alias("conn_event_id"),
        pl.when(use_ahead).then(pl.col("_at")).when(has_back).then(pl.col("_kt")).alias("conn_time_ns"),
        pl.when(use_ahead).then(pl.lit(0.9)).when(has_back & back_open).then(pl.lit(1.0))
        .when(has_back).then(pl.lit(0.5)).alias("confidence"),
    ).select("_row", "exec_id", "conn_event_id", "conn_time_ns", "confidence")


def _pod_dest(fl: pl.DataFrame, conn: pl.DataFrame, window: int) -> pl.DataFrame:
    """Nearest connect from the same pod (name, else source ip) to the same destination."""
    found = []
    left = fl
    for by in (["_cns", "_cpod", "_sip", "_sport"], ["_cip", "_sip", "_sport"]):
        rc = conn.rename({"_kns": "_cns", "_kpod": "_cpod"}) if "_cpod" in by else conn
        rc = rc.select([*by, "_kt", "exec_id", "conn_event_id"]).filter(
            pl.all_horizontal(pl.col(b).is_not_null() for b in by))
        lf = left.filter(pl.all_horizontal(pl.col(b).is_not_null() for b in by))
        if lf.height == 0 or rc.height == 0:
            continue
        m = lf.select("_row", "_ft", *by).join_asof(
            rc, left_on="_ft", right_on="_kt", by=by, strategy="nearest", tolerance=window,
            check_sortedness=False).filter(pl.col("exec_id").is_not_null())
        dist = (pl.col("_ft") - pl.col("_kt")).abs().cast(pl.Float64) / max(window, 1)
        found.append(m.select("_row", "exec_id", "conn_event_id", pl.col("_kt").alias("conn_time_ns"),
                              (0.6 - 0.3 * pl.min_horizontal(dist, pl.lit(1.0))).alias("confidence")))
        left = left.filter(~pl.col("_row").is_in(m["_row"].implode()))
    if not found:
        return pl.DataFrame(schema={"_row": pl.Int64, "exec_id": pl.String, "conn_event_id": pl.String,
                                    "conn_time_ns": pl.Int64, "confidence": pl.Float64})
    return pl.concat(found, how="vertical_relaxed")


def attribute_flows(flows: pl.DataFrame, kprobes: pl.DataFrame, *, tolerance: Any = "1500ms",
                    window: Any = "60s") -> pl.DataFrame:
    """Attribute each flow to the exec that opened its connection (see the module rules).

    Parameters
    ----------
    flows : polars.DataFrame
        Hubble flows: ``time_ns``, ``src_ip``, ``src_port``, ``dst_ip``, ``dst_port``,
        ``protocol``; optional ``is_reply``, ``src_namespace``/``src_pod``,
        ``dst_namespace``/``dst_pod``.
    kprobes : polars.DataFrame
        Tetragon hooks: ``time_ns``, ``exec_id``, ``function_name`` (or ``kind``), ``saddr``,
        ``sport``, ``daddr``, ``dport``, ``protocol``; optional ``event_id``, ``namespace``, ``pod``.
    tolerance : str, int or timedelta
        How far a connect may come *after* the flow (clock skew between nodes).
    window : str, int or timedelta
        Largest time distance for a ``'pod+dest'`` match.

    Returns
    -------
    polars.DataFrame
        ``flows`` in the same order with ``exec_id``, ``match`` (``'5tuple'``, ``'pod+dest'``,
        ``'none'``), ``confidence``, ``conn_event_id`` and ``conn_time_ns`` (the connect kprobe).

    Examples
    --------
    >>> import polars as pl
    >>> flows = pl.DataFrame({"time_ns": [0], "src_ip": ["10.0.0.2"], "src_port": [80],
    ...     "dst_ip": ["10.0.0.1"], "dst_port": [40000], "protocol": ["TCP"], "is_reply": [True]})
    >>> kp = pl.DataFrame({"time_ns": [300_000_000], "exec_id": ["e1"], "kind": ["process_connect"],
    ...     "saddr": ["10.0.0.1"], "sport": [40000], "daddr": ["10.0.0.2"], "dport": [80],
    ...     "protocol": ["TCP"]})
    >>> attribute_flows(flows, kp).select("exec_id", "match", "confidence").rows()
    [('e1', '5tuple', 0.9)]
    """
    tol = to_duration_ns(tolerance)
    win = to_duration_ns(window)
    base = flows.drop([c for c in OUT_COLUMNS if c in flows.columns])
    work = base.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"),
        pl.col("time_ns").cast(pl.Int64).alias("_ft"),
        *[_opt(base, c) for c in ("src_ip", "dst_ip", "protocol", "src_namespace", "src_pod",
                                  "dst_namespace", "dst_pod")],
        *[_opt(base, c, pl.Int64) for c in ("src_port", "dst_port")],
        _opt(base, "is_reply", pl.Boolean).alias("is_reply"),
    ).sort("_ft")
    conn = _connections(kprobes)
    cols = ["_row", "exec_id", "conn_event_id", "conn_time_ns", "confidence"]
    pieces: list[pl.DataFrame] = []
    if conn.height:
        fwd = _orient(work, pl.col("is_reply").fill_null(False))
        m1 = _five_tuple(fwd, conn, tol).filter(pl.col("exec_id").is_not_null())
        pieces.append(m1.with_columns(pl.lit("5tuple").alias("match")))
        # a reply whose ``is_reply`` is missing or wrong: the destination opened the connection
        rest = work.filter(~pl.col("_row").is_in(m1["_row"].implode()))
        if rest.height:
            m2 = _five_tuple(_orient(rest, pl.lit(True)), conn, tol).filter(pl.col("exec_id").is_not_null())
            pieces.append(m2.with_columns(pl.lit("5tuple").alias("match")))
        done = pl.concat([p["_row"] for p in pieces])
        rest = fwd.filter(~pl.col("_row").is_in(done.implode()))
        if rest.height:
            m3 = _pod_dest(rest, conn, win)
            pieces.append(m3.with_columns(pl.lit("pod+dest").alias("match")))
    if pieces:
        found = pl.concat([p.select([*cols, "match"]) for p in pieces], how="vertical_relaxed")
    else:
        found = pl.DataFrame(schema={"_row": pl.Int64, "exec_id": pl.String, "conn_event_id": pl.String,
                                     "conn_time_ns": pl.Int64, "confidence": pl.Float64,
                                     "match": pl.String})
    idx = pl.DataFrame({"_row": pl.int_range(base.height, dtype=pl.Int64, eager=True)})
    out = idx.join(found, on="_row", how="left", maintain_order="left").with_columns(
        pl.col("match").fill_null("none"), pl.col("confidence").fill_null(0.0))
    return pl.concat([base, out.select(OUT_COLUMNS)], how="horizontal")
