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
   Connects of one 5-tuple at the same instant are ordered by their row (the later row is the
   *back* of a flow at or after that instant).  A connect's close is the first close of the
   same 5-tuple at or after it.
2. ``'pod+dest'``: no 5-tuple match; the connect from the same pod (namespace + pod name, or
   else the same source ip) to the same destination ip and port nearest in time within
   ``window`` (default 60 s).  Confidence 0.6 decreasing to 0.3 with the time distance.
3. ``'none'``: no process found (confidence 0).

The 5-tuple rule is a vectorised search on integer keys (64-bit hashes of the tuples), not a
join: the connects are sorted once by (key, time, row), so the connects of one 5-tuple form a
run; each flow finds its run by a binary search over the sorted keys (flows taken in key order,
so the search walks memory in order) and its place in the run by a binary search over time
(one comparison for a 5-tuple connected once).  *back* and *ahead* are then neighbours in the
run.  Cost O((F + C) log C) whatever the port reuse; flows are searched in chunks, in parallel.

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

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import polars as pl

from kernelsec_nb.store.filters import to_duration_ns

#: kprobe functions / kinds that open (or first use) a connection from the calling process.
CONNECT_PATTERN = r"(?i)(^|_)(connect|sendmsg|sendto|sendmmsg)$"
CLOSE_PATTERN = r"(?i)(^|_)(close|release)$"
#: Hooks counted as a process's connections (tree counts, findings): any function naming a connect or
#: a send, with a destination address.
CONNECTION_HOOKS = r"(?i)connect|sendmsg|sendto"
_KEY = ["_cip", "_cport", "_sip", "_sport", "_proto"]  # client ip/port, server ip/port, protocol
OUT_COLUMNS = ["exec_id", "match", "confidence", "conn_event_id", "conn_time_ns"]
_NEVER = np.iinfo(np.int64).max  # "no close seen"
_CHUNK = 1 << 18  # flows searched at a time (numpy temporaries of 2 MB)
_THREADS = max(1, min(8, os.cpu_count() or 1))

#: ``pod_keys(rows)`` of :func:`attribute_keys`: the pod+dest keys of these flows and of all connects.
PodKeys = Callable[[pl.Series], tuple[pl.DataFrame, pl.DataFrame]]


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
    server ip/port), ``_kip`` (client ip, server ip/port), ``_kt`` (time) and ``_cid`` (the
    row number in ``kprobes``).

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
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_cid"),
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


_LOW = np.uint64(0xFFFFFFFF)
_HIGH = 0xFFFFFFFF00000000
_PACK_LIMIT = 1 << 32  # row numbers must fit in the low half of a packed key


def _key_order(key: np.ndarray) -> np.ndarray:
    """Row order by the high 32 bits of ``key``, then row: a plain sort of packed integers
    (several times faster than ``argsort``).  Exact for keys that differ in their high half."""
    n = len(key)
    if n >= _PACK_LIMIT:
        return np.argsort(key)
    packed = np.arange(n, dtype=np.uint64)
    packed |= key & ~_LOW
    packed.sort()
    packed &= _LOW
    return packed.view(np.int64)


def _ties(c: pl.Expr) -> pl.Expr:
    """True where the value equals the previous or the next one."""
    return ((c == c.shift(1)) | (c == c.shift(-1))).fill_null(False)


class _Runs:
    """Rows sorted by (key, time, id): the rows of one key form a run.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> r = _Runs(pl.Series([7, 3, 7], dtype=pl.UInt64), pl.Series([5, 1, 2]), pl.Series([0, 1, 2]))
    >>> r.id.tolist(), r.multi.tolist()
    ([1, 2, 0], [False, True, True])
    >>> o, _, lo, p, hi = r.locate(np.array([9, 7, 7], np.uint64), np.array([0, 2, 9]), after=True)
    >>> o.tolist(), lo.tolist(), p.tolist(), hi.tolist()  # 7 at 2: run [1, 3), next connect at 5
    ([0, 1, 2], [2, 1, 1], [2, 2, 3], [2, 3, 3])
    """

    def __init__(self, key: pl.Series, time: pl.Series, ident: pl.Series) -> None:
        df = pl.DataFrame([key.cast(pl.UInt64).alias("k"), time.cast(pl.Int64).alias("t"),
                           ident.cast(pl.Int64).alias("i")]).rechunk()  # gathers are slow across chunks
        n = df.height
        if n < _PACK_LIMIT:  # by the high half of the key, then row: a sort of packed integers
            packed = df.select(((pl.col("k") & _HIGH) | pl.int_range(n, dtype=pl.UInt64)).sort().alias("p"))
            order, high = (pl.col("p") & int(_LOW)).cast(pl.Int64), pl.col("p") // (1 << 32)
        else:  # row numbers do not fit in the low half
            by_key = df["k"].arg_sort()
            packed = pl.DataFrame({"p": by_key.cast(pl.Int64), "h": df["k"].gather(by_key)})
            order, high = pl.col("p"), pl.col("h")
        # rows sharing the high half of their key (repeated keys; rarely others) need an exact order
        o = packed.select(order.alias("o"), _ties(high).alias("tie"))
        order, at = o["o"], o["tie"].arg_true()
        if at.len():
            sub = df.with_row_index("_r")[order.gather(at)].sort("k", "t", "i")
            order = order.scatter(at, sub["_r"].cast(pl.Int64))
        df = df[order]  # sorted; polars memory (numpy's large arrays page-fault slowly on THP)
        self.key, self.time, self.id = (df[c].to_numpy() for c in ("k", "t", "i"))
        self.multi = df.select(_ties(pl.col("k"))).to_series().to_numpy()  # key seen more than once

    def locate(self, key: np.ndarray, t: np.ndarray, *,
               after: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Search ``(key, t)`` pairs, taken in an order ``o`` (returned first) close to key order.

        For each pair (in that order): ``t``, the run ``lo``/``hi`` of its key (``lo == hi``
        when absent) and ``p``, the first row of the run with time ``> t`` (``after``) or ``>= t``.
        """
        o = _key_order(key)  # needles nearly sorted: the key search walks memory in order
        m, n = len(key), len(self.key)
        if m == 0 or n == 0:
            z = np.zeros(m, np.int64)
            return o, t[o], z, z, z
        ko, to = key[o], t[o]
        lo = np.searchsorted(self.key, ko)
        np.minimum(lo, n - 1, out=lo)  # an absent key gets lo == hi anyway
        found = self.key[lo] == ko
        first = self.time[lo]
        go = found & ((first <= to) if after else (first < to))
        p = lo + go  # exact for a key seen once (a 5-tuple connected once)
        hi = lo + found
        many = np.flatnonzero(found & self.multi[lo])
        if many.size:
            hi[many] = np.searchsorted(self.key, ko[many], side="right")
            act = many[go[many]]  # runs of several rows where the first is not later than t
            low, high, ta = p[act], hi[act], to[act]
            while act.size:  # binary search on time inside those runs, all at once
                mid = (low + high) >> 1
                tm = self.time[mid]
                g = (tm <= ta) if after else (tm < ta)
                low = np.where(g, mid + 1, low)
                high = np.where(g, high, mid)
                done = low >= high
                if done.any():
                    p[act[done]] = low[done]
                    live = ~done
                    act, low, high, ta = act[live], low[live], high[live], ta[live]
        return o, to, lo, p, hi


def _chunked(fn: Callable[[int], Any], total: int) -> list[Any]:
    """``fn(start)`` for the chunks of ``total`` rows, on several threads when there are several:
    numpy releases the GIL in its loops, and small chunks keep the temporaries in cache."""
    starts = range(0, total, _CHUNK)
    if len(starts) < 2:
        return [fn(s) for s in starts]
    with ThreadPoolExecutor(min(len(starts), _THREADS)) as pool:
        return list(pool.map(fn, starts))


def _close_of(runs: _Runs, closes: pl.DataFrame | None) -> np.ndarray | None:
    """Per sorted connect: time of the first close of its key at or after it, else ``_NEVER``
    (``None``: no close at all)."""
    if closes is None or len(runs.key) == 0:
        return None
    c = closes.select("_k", "_kt").drop_nulls()
    if c.height == 0:
        return None
    cr = _Runs(c["_k"], c["_kt"], pl.int_range(c.height, dtype=pl.Int64, eager=True))
    out = np.full(len(runs.key), _NEVER, dtype=np.int64)

    def chunk(start: int) -> None:
        at = slice(start, start + _CHUNK)
        o, _, _, p, hi = cr.locate(runs.key[at], runs.time[at], after=False)
        ok = p < hi
        out[o[ok] + start] = cr.time[p[ok]]

    _chunked(chunk, len(runs.key))
    return out


def _five_tuple(runs: _Runs, close: np.ndarray | None, key: np.ndarray, ft: np.ndarray,
                tol: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rule 1 for flows (``key``, ``ft``), see the module rules: ``(i, pos, conf)``, the
    matched flows (indices into ``key``), their connect (position in ``runs``) and confidence."""
    o, ft, lo, p, hi = runs.locate(key, ft, after=True)
    if len(runs.key) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    has_back = p > lo  # p - 1: the latest connect at or before the flow
    nxt = runs.time[np.minimum(p, len(runs.key) - 1)]  # p: the next connect (if p < hi)
    nxt -= tol
    has_ahead = (p < hi) & (nxt <= ft)
    if close is None:  # no close seen: *back* is open, and an *ahead* connect ends it
        use_ahead = has_ahead
        back_open = None
    else:
        cl = close[np.maximum(p - 1, 0)]
        back_open = cl >= ft - tol  # true when no close was seen
        use_ahead = has_ahead & (~has_back | (cl == _NEVER) | ~back_open)
    some = use_ahead | has_back
    if not some.all():
        hit = np.flatnonzero(some)
        o, p, use_ahead = o[hit], p[hit], use_ahead[hit]
        back_open = None if back_open is None else back_open[hit]
    conf = np.where(use_ahead, 0.9, 1.0 if back_open is None else np.where(back_open, 1.0, 0.5))
    p -= ~use_ahead
    return o, p, conf


class ConnectIndex:
    """Connects (``_cid``, ``_kt``, ``_k``; see :func:`attribute_keys`) sorted for the 5-tuple
    search, with the time of their close.

    Examples
    --------
    >>> import polars as pl
    >>> conn = pl.DataFrame({"_cid": [0, 1], "_kt": [5, 1], "_k": [7, 7]}, schema_overrides={"_k": pl.UInt64})
    >>> ConnectIndex(conn, pl.DataFrame({"_k": [7], "_kt": [3]}, schema_overrides={"_k": pl.UInt64})).close.tolist()
    [3, 9223372036854775807]
    """

    def __init__(self, conn: pl.DataFrame, closes: pl.DataFrame | None = None) -> None:
        self.conn = conn
        self.runs = _Runs(conn["_k"], conn["_kt"], conn["_cid"])
        self.close = _close_of(self.runs, closes)


def _pod_dest(fl: pl.DataFrame, conn: pl.DataFrame, window: int) -> pl.DataFrame:
    """Nearest connect from the same pod (name, else source ip) to the same destination."""
    found = []
    left = fl
    for key in ("_kpod", "_kip"):
        rc = conn.select(key, "_kt", "_cid").filter(pl.col(key).is_not_null()).sort("_kt", "_cid")
        lf = left.select("_row", "_ft", key).filter(pl.col(key).is_not_null()).sort("_ft")
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


def _np(s: pl.Series, dtype: Any) -> np.ndarray:
    """A column without nulls as numpy (no copy when it is one chunk of that type)."""
    return s.cast(dtype).to_numpy()


def _keys(s: pl.Series) -> tuple[np.ndarray, np.ndarray | None]:
    """A UInt64 key column as (values, not-null mask or None when no null)."""
    if s.null_count() == 0:
        return _np(s, pl.UInt64), None
    return s.fill_null(0).cast(pl.UInt64).to_numpy(), s.is_not_null().to_numpy()


def attribute_keys(fk: pl.DataFrame, conn: pl.DataFrame | ConnectIndex, closes: pl.DataFrame | None = None, *,
                   tolerance: int, window: int, pod_keys: PodKeys | None = None) -> pl.DataFrame:
    """The attribution core on integer keys (used by :func:`attribute_flows` and the case).

    Parameters
    ----------
    fk : polars.DataFrame
        One row per flow: ``_row`` (id), ``_ft`` (time ns), ``_kf``/``_kr`` (UInt64 5-tuple
        key as oriented / swapped), ``_rev`` (the flow is a reply: try ``_kr`` first), and
        optionally ``_kpod``/``_kip`` (pod+dest keys of the client side).
    conn : polars.DataFrame or ConnectIndex
        One row per connect: ``_cid`` (id, also the tie-breaker between connects of one 5-tuple
        at the same instant), ``_kt``, ``_k``, and ``_kpod``/``_kip`` when ``fk`` has them; or
        a :class:`ConnectIndex` of them built beforehand (``closes`` is then ignored).
    closes : polars.DataFrame, optional
        One row per close: ``_k``, ``_kt``.
    tolerance, window : int
        Nanoseconds (see the module rules).
    pod_keys : callable, optional
        When ``fk`` has no ``_kpod``: called with the ``_row`` of the flows left for the
        pod+dest rule (only if there are some), returns ``(flows, connects)`` frames with
        ``_row, _ft, _kpod, _kip`` and ``_cid, _kt, _kpod, _kip``.

    Returns
    -------
    polars.DataFrame
        ``_row``, ``_cid``, ``match``, ``confidence``, ``conn_time_ns`` for the matched flows.
    """
    if fk["_ft"].null_count():
        fk = fk.filter(pl.col("_ft").is_not_null())
    fk = fk.rechunk()  # one chunk: numpy views without copies
    index = conn if isinstance(conn, ConnectIndex) else ConnectIndex(conn, closes)
    runs, close, conn = index.runs, index.close, index.conn
    ft = _np(fk["_ft"], pl.Int64)
    rev = fk["_rev"].fill_null(False).to_numpy()
    kf, okf = _keys(fk["_kf"])
    kr, okr = _keys(fk["_kr"])
    rows = _np(fk["_row"], pl.Int64)
    n = fk.height
    matched = np.zeros(n, bool)
    parts = []
    every = np.ones(n, bool)
    for swap in (False, True):  # the second orientation: flows the first left unmatched
        a, b = (kr, kf) if swap else (kf, kr)  # a reply (b) is first looked up swapped
        oka, okb = (okr, okf) if swap else (okf, okr)  # not-null masks (None: no null)
        ok = None if oka is None and okb is None else np.where(rev, every if okb is None else okb,
                                                               every if oka is None else oka)
        if not swap and (ok is None or ok.all()):
            todo = None  # every flow, without an index array
        else:
            todo = np.flatnonzero(~matched if ok is None else ok & ~matched)
        total = n if todo is None else todo.size

        def chunk(start: int, a: np.ndarray = a, b: np.ndarray = b, todo: np.ndarray | None = todo) -> pl.DataFrame:
            at: slice | np.ndarray = slice(start, start + _CHUNK) if todo is None else todo[start:start + _CHUNK]
            i, pos, conf = _five_tuple(runs, close, np.where(rev[at], b[at], a[at]), ft[at], tolerance)
            i = i + start if todo is None else at[i]
            matched[i] = True
            return pl.DataFrame({"_row": rows[i], "_cid": runs.id[pos], "confidence": conf,
                                 "conn_time_ns": runs.time[pos]})

        parts.extend(_chunked(chunk, total))
    # the chunks stay chunks (no copy): the case hands the frame to DuckDB through Arrow
    m5 = pl.concat(parts, rechunk=False) if parts else pl.DataFrame(
        schema={"_row": pl.Int64, "_cid": pl.Int64, "confidence": pl.Float64, "conn_time_ns": pl.Int64})
    m5 = m5.select("_row", "_cid", pl.lit("5tuple").alias("match"), "confidence", "conn_time_ns")
    rest = fk.filter(pl.Series(~(matched | rev)))
    if rest.height == 0 or conn.height == 0:
        return m5
    if "_kpod" in fk.columns:
        rfl, rconn = rest, conn
    elif pod_keys is not None:
        rfl, rconn = pod_keys(rest["_row"])
    else:
        return m5
    m3 = _pod_dest(rfl, rconn, window).select(
        "_row", "_cid", pl.lit("pod+dest").alias("match"), "confidence", "conn_time_ns")
    return pl.concat([m5, m3], how="vertical_relaxed")


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
    conn = socket_kprobes(kprobes, CONNECT_PATTERN)
    found = attribute_keys(fk, conn, socket_kprobes(kprobes, CLOSE_PATTERN), tolerance=tol, window=win)
    found = found.join(conn.select("_cid", "exec_id", "conn_event_id"), on="_cid", how="left")
    idx = pl.DataFrame({"_row": pl.int_range(base.height, dtype=pl.Int64, eager=True)})
    out = idx.join(found, on="_row", how="left", maintain_order="left").with_columns(
        pl.col("match").fill_null("none"), pl.col("confidence").fill_null(0.0))
    return pl.concat([base, out.select(OUT_COLUMNS)], how="horizontal")
