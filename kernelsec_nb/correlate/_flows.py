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
_KEY = ["_cip", "_cport", "_sip", "_sport", "_proto"]  # client ip/port, server ip/port, protocol
OUT_COLUMNS = ["exec_id", "match", "confidence", "conn_event_id", "conn_time_ns"]


def _proto(col: str, fn: str | None = None) -> pl.Expr:
    p = pl.col(col).cast(pl.String).str.to_uppercase().str.replace("^IPPROTO_", "")
    if fn is None:
        return p
    guess = pl.when(pl.col(fn).cast(pl.String).str.contains("(?i)udp")).then(pl.lit("UDP")).otherwise(pl.lit("TCP"))
    return pl.coalesce(p, guess)


def _opt(df: pl.DataFrame, col: str, dtype: Any = pl.String) -> pl.Expr:
    return pl.col(col) if col in df.columns else pl.lit(None, dtype=dtype).alias(col)


def _key(*cols: pl.Expr) -> pl.Expr:
    """One UInt64 key for a tuple of columns (null when any part is null)."""
    ok = pl.all_horizontal(c.is_not_null() for c in cols)
    return pl.when(ok).then(pl.struct(*cols).hash(seed=7)).otherwise(pl.lit(None, dtype=pl.UInt64))


def socket_kprobes(kprobes: pl.DataFrame, pattern: str) -> pl.DataFrame:
    """Kprobes with a full socket 5-tuple whose function (or kind) matches ``pattern``, keyed.

    Adds ``_k`` (hash of client ip/port, server ip/port, protocol), ``_kpod`` (namespace, pod,
    server ip/port), ``_kip`` (client ip, server ip/port) and ``_kt`` (time).

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
        _opt(kprobes, "namespace").cast(pl.String).alias("_kns"), _opt(kprobes, "pod").cast(pl.String).alias("_kpodname"),
    )
    df = df.filter(pl.col("_fn").str.contains(pattern) & pl.all_horizontal(
        pl.col(c).is_not_null() for c in ["_kt", "_cip", "_cport", "_sip", "_sport"]))
    df = df.with_columns(_proto("_p", "_fn").alias("_proto")).drop("_p", "_fn")
    return df.with_columns(
        _key(*[pl.col(c) for c in _KEY]).alias("_k"),
        _key(pl.col("_kns"), pl.col("_kpodname"), pl.col("_sip"), pl.col("_sport")).alias("_kpod"),
        _key(pl.col("_cip"), pl.col("_sip"), pl.col("_sport")).alias("_kip"),
    )


def close_times(conn: pl.DataFrame, closes: pl.DataFrame) -> pl.DataFrame:
    """Add ``_close``: time of the first close (``_k``, ``_kt``) at or after each connect (sorted by ``_kt``)."""
    if closes.height == 0:
        return conn.with_columns(pl.lit(None, dtype=pl.Int64).alias("_close"))
    c = closes.select("_k", pl.col("_kt").alias("_close")).sort("_close")
    return conn.join_asof(c, left_on="_kt", right_on="_close", by="_k", strategy="forward", check_sortedness=False)


def _five_tuple(fl: pl.DataFrame, conn: pl.DataFrame, tol: int) -> pl.DataFrame:
    """Exact 5-tuple matches for flows keyed ``_k`` (sorted by ``_ft``); see the module rules.

    ``conn`` is sorted by ``(_k, _kt)`` and carries ``_nkt``/``_ncid``, the next connect of the
    same key, so the *ahead* candidate of a flow with a *back* match is a column lookup; only
    flows without any earlier connect need a second (forward) as-of join.
    """
    c = conn.select("_k", "_kt", "_close", "_cid", "_nkt", "_ncid")
    back = fl.select("_row", "_ft", "_k").join_asof(c, left_on="_ft", right_on="_kt", by="_k",
                                                    strategy="backward", check_sortedness=False)
    has_back = pl.col("_kt").is_not_null()
    near = has_back & pl.col("_nkt").is_not_null() & (pl.col("_nkt") <= pl.col("_ft") + tol)
    back = back.with_columns(pl.when(near).then(pl.col("_nkt")).alias("_at"),
                             pl.when(near).then(pl.col("_ncid")).alias("_acid"))
    lone = back.filter(~has_back).select("_row", "_ft", "_k")
    if lone.height:
        first = c.select("_k", pl.col("_kt").alias("_at2"), pl.col("_cid").alias("_acid2"))
        ahead = lone.join_asof(first, left_on="_ft", right_on="_at2", by="_k", strategy="forward",
                               tolerance=tol, allow_exact_matches=False, check_sortedness=False)
        back = back.join(ahead.select("_row", "_at2", "_acid2"), on="_row", how="left").with_columns(
            pl.coalesce("_at", "_at2").alias("_at"), pl.coalesce("_acid", "_acid2").alias("_acid"))
    has_ahead = pl.col("_at").is_not_null()
    back_open = pl.col("_close").is_null() | (pl.col("_close") >= pl.col("_ft") - tol)
    use_ahead = has_ahead & (~has_back | pl.col("_close").is_null() | ~back_open)
    return back.select(
        "_row",
        pl.when(use_ahead).then(pl.col("_acid")).when(has_back).then(pl.col("_cid")).alias("_cid"),
        pl.when(use_ahead).then(pl.col("_at")).when(has_back).then(pl.col("_kt")).alias("conn_time_ns"),
        pl.when(use_ahead).then(pl.lit(0.9)).when(has_back & back_open).then(pl.lit(1.0))
        .when(has_back).then(pl.lit(0.5)).alias("confidence"),
    ).filter(pl.col("_cid").is_not_null())


def _pod_dest(fl: pl.DataFrame, conn: pl.DataFrame, window: int) -> pl.DataFrame:
    """Nearest connect from the same pod (name, else source ip) to the same destination."""
    found = []
    left = fl
    for key in ("_kpod", "_kip"):
        rc = conn.select(key, "_kt", "_cid").filter(pl.col(key).is_not_null()).sort("_kt")
        lf = left.select("_row", "_ft", key).filter(pl.col(key).is_not_null())
        if lf.height == 0 or rc.height == 0:
            continue
        m = lf.join_asof(rc, left_on="_ft", right_on="_kt", by=key, strategy="nearest", tolerance=window,
                         check_sortedness=False).filter(pl.col("_cid").is_not_null())
        dist = (pl.col("_ft") - pl.col("_kt")).abs().cast(pl.Float64) / max(window, 1)
        found.append(m.select("_row", "_cid", pl.col("_kt").alias("conn_time_ns"),
                              (0.6 - 0.3 * pl.min_horizontal(dist, pl.lit(1.0))).alias("confidence")))
        left = left.filter(~pl.col("_row").is_in(m["_row"].implode()))
    if not found:
        return pl.DataFrame(schema={"_row": pl.Int64, "_cid": pl.Int64, "conn_time_ns": pl.Int64,
                                    "confidence": pl.Float64})
    return pl.concat(found, how="vertical_relaxed")


def attribute_keys(fk: pl.DataFrame, conn: pl.DataFrame, *, tolerance: int, window: int) -> pl.DataFrame:
    """The attribution core on integer keys (used by :func:`attribute_flows` and the case).

    Parameters
    ----------
    fk : polars.DataFrame
        One row per flow: ``_row`` (id), ``_ft`` (time ns), ``_kf``/``_kr`` (5-tuple key as
        oriented / swapped), ``_rev`` (true when the flow is a reply: try ``_kr`` first), and
        ``_kpod``/``_kip`` (pod+dest keys of the client side), all UInt64 keys.
    conn : polars.DataFrame
        One row per connect: ``_cid`` (id), ``_kt``, ``_k``, ``_close``, ``_kpod``, ``_kip``.
    tolerance, window : int
        Nanoseconds (see the module rules).

    Returns
    -------
    polars.DataFrame
        ``_row``, ``_cid``, ``match``, ``confidence``, ``conn_time_ns`` for the matched flows.
    """
    fk = fk.sort("_ft")
    conn = conn.sort("_k", "_kt")
    same = pl.col("_k") == pl.col("_k").shift(-1)
    conn = conn.with_columns(pl.when(same).then(pl.col("_kt").shift(-1)).alias("_nkt"),
                             pl.when(same).then(pl.col("_cid").shift(-1)).alias("_ncid"))
    first = fk.with_columns(pl.when(pl.col("_rev")).then(pl.col("_kr")).otherwise(pl.col("_kf")).alias("_k"))
    m1 = _five_tuple(first, conn, tolerance)
    # a reply whose ``is_reply`` is missing or wrong: the destination opened the connection
    rest = first.join(m1.select("_row"), on="_row", how="anti", maintain_order="left")
    second = rest.with_columns(pl.when(pl.col("_rev")).then(pl.col("_kf")).otherwise(pl.col("_kr")).alias("_k"))
    m2 = _five_tuple(second, conn, tolerance)
    rest = rest.join(m2.select("_row"), on="_row", how="anti", maintain_order="left")
    m3 = _pod_dest(rest.filter(~pl.col("_rev")), conn, window)
    parts = [m1.with_columns(pl.lit("5tuple").alias("match")), m2.with_columns(pl.lit("5tuple").alias("match")),
             m3.with_columns(pl.lit("pod+dest").alias("match"))]
    return pl.concat([p.select("_row", "_cid", "match", "confidence", "conn_time_ns") for p in parts],
                     how="vertical_relaxed")


def attribute_flows(flows: pl.DataFrame, kprobes: pl.DataFrame, *, tolerance: Any = "1500ms",
                    window: Any = "60s") -> pl.DataFrame:
    """Attribute each flow to the exec that opened its connection (see the module rules).

    Parameters
    ----------
    flows : polars.DataFrame
        Hubble flows: ``time_ns``, ``src_ip``, ``src_port``, ``dst_ip``, ``dst_port``,
        ``protocol``; optional ``is_reply``, ``src_namespace``/``src_pod``.
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
    sip, dip = pl.col("src_ip").cast(pl.String), pl.col("dst_ip").cast(pl.String)
    sp, dp = pl.col("src_port").cast(pl.Int64), pl.col("dst_port").cast(pl.Int64)
    proto = _proto("protocol")
    fk = base.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"),
        pl.col("time_ns").cast(pl.Int64).alias("_ft"),
        _key(sip, sp, dip, dp, proto).alias("_kf"),
        _key(dip, dp, sip, sp, proto).alias("_kr"),
        _opt(base, "is_reply", pl.Boolean).cast(pl.Boolean).fill_null(False).alias("_rev"),
        _key(_opt(base, "src_namespace").cast(pl.String), _opt(base, "src_pod").cast(pl.String), dip, dp).alias("_kpod"),
        _key(sip, dip, dp).alias("_kip"),
    )
    conn = socket_kprobes(kprobes, CONNECT_PATTERN).sort("_kt")
    conn = close_times(conn, socket_kprobes(kprobes, CLOSE_PATTERN))
    conn = conn.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_cid"))
    found = attribute_keys(fk, conn, tolerance=tol, window=win)
    found = found.join(conn.select("_cid", "exec_id", "conn_event_id"), on="_cid", how="left")
    idx = pl.DataFrame({"_row": pl.int_range(base.height, dtype=pl.Int64, eager=True)})
    out = idx.join(found, on="_row", how="left", maintain_order="left").with_columns(
        pl.col("match").fill_null("none"), pl.col("confidence").fill_null(0.0))
    return pl.concat([base, out.select(OUT_COLUMNS)], how="horizontal")
