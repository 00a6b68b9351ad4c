"""HTTP requests from sidecar access logs (``http_requests``), joined with the rest of the case.

**The pod whose sidecar wrote a request** is filled after every load
(:data:`kernelsec_nb.sources.istio.DERIVE`): from the file's path when kubelet named it
(``pod_from = 'file'``), else from the request's addresses (``pod_from = 'address'``): the
sidecar's own address is

* for an ``inbound`` request, its downstream *local* address (the pod the client connected to),
  else its upstream host (the same pod's port);
* for an ``outbound`` request, its upstream *local* address (the pod's address toward the
  destination), else its downstream *remote* address (the pod's application);
* for a request with no cluster (refused before routing: ``NR``, codec errors), its downstream
  local address;

and the pod is the one the case saw with that IP around that time (``pod_addresses``, built at
load: :mod:`kernelsec_nb.sources._pod_ips`).  The client's pod (``client_pod``) is found the same way
from the downstream remote address.

**The requesting process.**  The request's downstream connection (downstream remote → local,
TCP) is attributed like a Hubble flow (:mod:`kernelsec_nb.correlate._flows`): the connect kprobe
of that 5-tuple (``'5tuple'``), else the nearest connect from the same address to the same
destination (``'pod+dest'``).  Inbound, that is the client's process (or its sidecar's Envoy
when the client has one); outbound, the application in the sidecar's pod.

**The Hubble flow.**  The flow of the request's downstream or upstream connection (either
orientation) nearest in time to the request (its start to its end): the leg Hubble sees first
(``downstream`` for inbound and unrouted requests, ``upstream`` for outbound).

Examples
--------
>>> import kernelsec_nb as kn
>>> kn.open_case().http_requests().height
0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from kernelsec_nb.correlate._case_methods import (
    _CONN_POD_KEYS,
    FLOW_TOLERANCE,
    FLOW_WINDOW,
    connect_index,
)
from kernelsec_nb.correlate._flows import attribute_keys
from kernelsec_nb.correlate._frames import fetch
from kernelsec_nb.sources._pod_ips import TABLE, ensure, resolve_rows_sql
from kernelsec_nb.store import filters
from kernelsec_nb.store.filters import to_duration_ns

#: Each request's client address (downstream remote) for the client pod of inbound requests (one
#: row per request).
_CLIENT_KEYS = ("SELECT rowid AS rid, time_ns AS t, downstream_remote_ip AS ip, 1 AS prio FROM {http_requests_rows} "
                "WHERE coalesce(direction, '') <> 'outbound'")

#: The two connections of a request, each under both orientations, with when it ran.
_LEGS = """
SELECT rid, t0, t1, leg, name, unnest([k, kr]) AS k FROM (
    SELECT rowid AS rid, time_ns AS t0, time_ns + coalesce(duration_ms, 0) * 1000000 AS t1,
           CASE WHEN direction = 'outbound' THEN 2 ELSE 1 END AS leg, 'downstream' AS name,
           hash(downstream_remote_ip, downstream_remote_port, downstream_local_ip, downstream_local_port, 'TCP') AS k,
           hash(downstream_local_ip, downstream_local_port, downstream_remote_ip, downstream_remote_port, 'TCP') AS kr
    FROM {http_requests_rows} WHERE downstream_remote_port IS NOT NULL AND downstream_local_port IS NOT NULL
    UNION ALL
    SELECT rowid, time_ns, time_ns + coalesce(duration_ms, 0) * 1000000,
           CASE WHEN direction = 'outbound' THEN 1 ELSE 2 END, 'upstream',
           hash(upstream_local_ip, upstream_local_port, upstream_ip, upstream_port, 'TCP'),
           hash(upstream_ip, upstream_port, upstream_local_ip, upstream_local_port, 'TCP')
    FROM {http_requests_rows} WHERE upstream_local_port IS NOT NULL AND upstream_port IS NOT NULL
)"""
#: Every candidate Hubble flow of each request: the TCP flows of its legs' connections, with the
#: key to rank them by (see the module's rules): ``rank`` (leg - 1 in the top bit, the distance
#: to the request, never negative, in the low 63 bits), then the flow's time and row.
FLOW_CANDIDATES_SQL = f"""
SELECT rid, ((l.leg - 1)::UBIGINT << 63) + greatest(l.t0 - f.time_ns, f.time_ns - l.t1, 0)::UBIGINT AS rank,
       f.time_ns AS flow_time_ns, f.rowid AS flow_row, l.name = 'upstream' AS upstream
FROM ({_LEGS}) l
JOIN (SELECT rowid, time_ns, hash(src_ip, src_port, dst_ip, dst_port, upper(protocol)) AS k FROM {{flows_rows}}
      WHERE time_ns IS NOT NULL AND upper(protocol) = 'TCP') f ON f.k = l.k
"""  # noqa: S608 - our own constants


def _duplicated(ids: pl.Series) -> pl.Series:
    """Which values of ``ids`` occur more than once: counted by :func:`numpy.bincount` when they are
    non-negative integers below a few times their number (a case file's ``rowid``: ten times
    cheaper than hashing them), else by :meth:`polars.Series.is_duplicated` (a lake's row numbers).

    >>> _duplicated(pl.Series([3, 1, 3, 0])).to_list()
    [True, False, True, False]
    """
    if ids.len() and ids.null_count() == 0 and ids.min() >= 0 and ids.max() < 4 * ids.len() + 1024:  # type: ignore[operator]
        values = ids.to_numpy()
        return pl.Series(ids.name, np.bincount(values)[values] > 1)
    return ids.is_duplicated()


def flow_of_request(con: Any, candidates_sql: str) -> pl.DataFrame:
    """The Hubble flow of each request: among its candidates (``candidates_sql``, rows of
    :data:`FLOW_CANDIDATES_SQL`), the smallest (rank, flow time, flow row).  Columns ``rid``,
    ``flow_row`` (the flow's ``rowid``), ``flow_time_ns``, ``upstream`` (the flow is of the
    upstream leg).

    Most requests have a single candidate: that one is taken as it is, and only the candidates
    of the requests with several are sorted (integers only) for the first row of each; this
    costs less than DuckDB's grouped ``arg_min`` over every request, and than sorting all of
    them (benchmarks/RESULTS.md).

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> sql = ("SELECT * FROM (VALUES (1, 5::UBIGINT, 10, 7, false), (1, 0::UBIGINT, 20, 3, true), "
    ...        "(2, 9::UBIGINT, 30, 8, false)) t(rid, rank, flow_time_ns, flow_row, upstream)")
    >>> flow_of_request(con, sql).sort("rid").rows()
    [(1, 20, 3, True), (2, 30, 8, False)]
    """
    cand = fetch(con, candidates_sql)
    several = _duplicated(cand["rid"])
    if not several.any():
        return cand.drop("rank")
    return pl.concat([cand.filter(~several).drop("rank"),
                      cand.filter(several).sort("rank", "flow_time_ns", "flow_row")
                      .unique("rid", keep="first", maintain_order=False).drop("rank")])


#: The downstream connection of each request as 5-tuple keys (see ``_flows.attribute_keys``).
_REQUEST_KEYS = """
SELECT rowid AS _row, time_ns AS _ft,
       hash(downstream_remote_ip, downstream_remote_port, downstream_local_ip, downstream_local_port, 'TCP') AS _kf,
       hash(downstream_local_ip, downstream_local_port, downstream_remote_ip, downstream_remote_port, 'TCP') AS _kr,
       false AS _rev
FROM {http_requests_rows}
WHERE time_ns IS NOT NULL AND downstream_remote_port IS NOT NULL AND downstream_local_port IS NOT NULL
"""
_REQUEST_POD_KEYS = """
SELECT rowid AS _row, time_ns AS _ft, NULL::UBIGINT AS _kpod,
       hash(downstream_remote_ip, downstream_local_ip, downstream_local_port) AS _kip
FROM {http_requests_rows} WHERE rowid IN (SELECT _row FROM {rows})
"""

_PROC_COLS = ('p.pid, p.parent_exec_id, p."binary", p.args, p.container_id AS process_container_id, '
              "p.pod_labels AS process_pod_labels")


class HttpMixin:
    """``http_requests`` on :class:`kernelsec_nb.Case` (uses ``_cached``, ``_fetch`` and ``con``)."""

    con: Any
    _rows_sql: Callable[[str], str]  # CorrelateMixin's (the case's or the lake's row views)

    def _request_keys(self) -> pl.DataFrame:
        """Attribution of every request's downstream connection: ``_row`` (rowid), ``_cid``
        (kprobes rowid), ``match``, ``confidence``, ``conn_time_ns``."""
        def build() -> pl.DataFrame:
            index, connect = connect_index(self.con, rows_sql=self._rows_sql)
            fk = fetch(self.con, self._rows_sql(_REQUEST_KEYS))

            def pod_keys(rows: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
                frame = pl.DataFrame({"_row": rows})
                name = f"_kn_http_rows_{id(frame)}"
                self.con.register(name, frame.to_arrow())
                try:
                    return (fetch(self.con, self._rows_sql(_REQUEST_POD_KEYS).format(rows=name)),
                            fetch(self.con, self._rows_sql(_CONN_POD_KEYS), [connect]))
                finally:
                    self.con.unregister(name)

            return attribute_keys(fk, index, tolerance=to_duration_ns(FLOW_TOLERANCE),
                                  window=to_duration_ns(FLOW_WINDOW), pod_keys=pod_keys)
        return self._cached("request_keys", ["http_requests", "kprobes"], build)  # type: ignore[attr-defined]

    def _request_links(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Per request: its Hubble flow (``rid``, ``flow_row``: the flow's ``rowid``,
        ``flow_time_ns``, ``upstream``) and its client's pod (``rid``, ``client_row``: the
        ``rowid`` of the pod's row of ``pod_addresses``), two integer frames: :meth:`http_requests`
        joins both to the requests (cheaper than joining them here into one, and that join
        again), and the pod's names there (fetching them here cost more than the join)."""
        ensure(self.con)  # a lake's pod_addresses (a case's is built at load)

        def build() -> tuple[pl.DataFrame, pl.DataFrame]:
            return (flow_of_request(self.con, self._rows_sql(FLOW_CANDIDATES_SQL)),
                    fetch(self.con, "SELECT rid, row AS client_row FROM "  # noqa: S608
                          f"({resolve_rows_sql(self._rows_sql(_CLIENT_KEYS), one_per_rid=True)})"))
        return self._cached("request_links", ["http_requests", "flows", "kprobes", TABLE],  # type: ignore[attr-defined, no-any-return]
                            build)

    def http_requests(self, **flt: Any) -> pl.DataFrame:
        """HTTP requests from sidecar access logs, each with its Hubble flow and the process that
        sent it.

        Adds ``flow_event_id``/``flow_time_ns`` (the Hubble flow of its connection) and
        ``flow_leg`` (``'downstream'``, ``'upstream'``), ``client_namespace``/``client_pod``
        (the pod of the downstream remote address; the sidecar's own pod for an outbound
        request), and like :meth:`flows` ``exec_id``, ``match``, ``confidence``,
        ``conn_event_id``, ``conn_time_ns`` and the process's ``pid``, ``parent_exec_id``,
        ``binary``, ``args``, ``process_container_id``, ``process_pod_labels``.  Rules:
        :mod:`kernelsec_nb.correlate._http`.  Filters: ``namespace``, ``pod``, ``workload`` (the
        sidecar's pod), ``from_pod``, ``http_method``, ``http_path`` (without the query),
        ``http_url`` (the path with its query), ``http_status``, ``authority``, ``direction``,
        ``response_flags``, ``request_id``, ``port``, ``since``/``until`` and ``exec_id``,
        ``binary``, ``args``, ``match`` of the process.

        Examples
        --------
        >>> case.http_requests(http_method="PUT", pod="deathstar").select("path", "response_code", "binary")  # doctest: +SKIP
        """
        cond, params = filters.where("http_requests_attributed", **flt)
        att = self._request_keys()
        flow, client = self._request_links()
        names = (f"_kn_http_att_{id(att)}", f"_kn_http_flow_{id(flow)}", f"_kn_http_client_{id(client)}")
        for name, frame in zip(names, (att, flow, client), strict=True):
            self.con.register(name, frame.to_arrow())
        try:
            return self._fetch(self._rows_sql(  # type: ignore[attr-defined, no-any-return]
                "SELECT * FROM (SELECT {http_requests_star}, fl.event_id AS flow_event_id, l.flow_time_ns, "  # noqa: S608
                "CASE WHEN l.upstream THEN 'upstream' WHEN NOT l.upstream THEN 'downstream' END AS flow_leg, "
                "CASE WHEN r.direction = 'outbound' THEN r.namespace ELSE ca.namespace END AS client_namespace, "
                "CASE WHEN r.direction = 'outbound' THEN r.pod ELSE ca.pod END AS client_pod, "
                "k.exec_id, coalesce(a.match, 'none') AS match, coalesce(a.confidence, 0.0) AS confidence, "
                f"k.event_id AS conn_event_id, k.time_ns AS conn_time_ns, {_PROC_COLS} "
                f"FROM {{http_requests_rows}} r LEFT JOIN {names[1]} l ON l.rid = r.rowid "
                f"LEFT JOIN {names[2]} c ON c.rid = r.rowid LEFT JOIN {TABLE} ca ON ca.rowid = c.client_row "
                "LEFT JOIN {flows_rows} fl ON fl.rowid = l.flow_row "
                f"LEFT JOIN {names[0]} a ON a._row = r.rowid LEFT JOIN {{kprobes_rows}} k ON k.rowid = a._cid "
                "LEFT JOIN processes p ON p.exec_id = k.exec_id) "
                f"WHERE {cond} ORDER BY time_ns, event_id"), params)
        finally:
            for name in names:
                self.con.unregister(name)
