"""The correlation methods of :class:`kernelsec_nb.Case` (processes, ancestry, flows, alerts …).

Heavy filtering runs in DuckDB with every filter value as a parameter; joins and graph walks run
in polars on Arrow data.  Work that does not depend on the filters (the parent index, the flow
and alert attribution of the whole case) is cached on the case and recomputed when the tables it
read change (their DuckDB oid or row count).

Examples
--------
>>> import kernelsec_nb as kn
>>> case = kn.open_case()
>>> case.processes().height, case.flows().height
(0, 0)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import polars as pl

from kernelsec_nb.correlate import _activity, _coverage, _dns, _explain
from kernelsec_nb.correlate._alerts import attribute_alerts
from kernelsec_nb.correlate._flows import (
    CLOSE_PATTERN,
    CONNECT_PATTERN,
    CONNECTION_HOOKS,
    ConnectIndex,
    attribute_keys,
)
from kernelsec_nb.correlate._frames import fetch, filter_frame, table_state
from kernelsec_nb.correlate._tree import ParentIndex, add_counts
from kernelsec_nb.store import filters
from kernelsec_nb.store._connection import cursor
from kernelsec_nb.store._skew import SKEW_WARN_NS
from kernelsec_nb.store.filters import to_duration_ns

#: Flow attribution settings used by the case (see :mod:`kernelsec_nb.correlate._flows`).
FLOW_TOLERANCE = "1500ms"
FLOW_WINDOW = "60s"

T = TypeVar("T")

def _all_set(*cols: str) -> str:
    return " AND ".join(f"{c} IS NOT NULL" for c in cols)


# Integer keys computed by DuckDB (hash of the same typed tuple on both sides), row ids as ids:
# the numpy side then searches only integers (see _flows.attribute_keys).  A flow tuple with a
# null part is hashed too: connect tuples have none, so it can only match by a hash collision,
# like any two different tuples.  The pod+dest keys are only fetched for the flows the 5-tuple
# rule leaves (``pod_keys`` in ``_flow_keys``).
_FLOW_KEYS = (
    "SELECT rowid AS _row, time_ns AS _ft, "  # noqa: S608 - our own column names only
    "hash(src_ip, src_port, dst_ip, dst_port, upper(protocol)) AS _kf, "
    "hash(dst_ip, dst_port, src_ip, src_port, upper(protocol)) AS _kr, "
    "coalesce(is_reply, false) AS _rev FROM {flows_rows} WHERE time_ns IS NOT NULL")
_FLOW_POD_KEYS = (
    "SELECT rowid AS _row, time_ns AS _ft, "  # noqa: S608
    f"CASE WHEN {_all_set('src_namespace', 'src_pod', 'dst_ip', 'dst_port')} "
    "THEN hash(src_namespace, src_pod, dst_ip, dst_port) END AS _kpod, "
    f"CASE WHEN {_all_set('src_ip', 'dst_ip', 'dst_port')} THEN hash(src_ip, dst_ip, dst_port) END AS _kip "
    "FROM {flows_rows} WHERE rowid IN (SELECT _row FROM {rows})")
_FN = "coalesce(function_name, replace(kind, 'process_', ''))"
_PROTO = f"coalesce(upper(protocol), CASE WHEN {_FN} ILIKE '%udp%' THEN 'UDP' ELSE 'TCP' END)"
# The connect/close patterns are applied to the few distinct function names (in Python), not to
# every row: the rows are then selected by list membership.
_FN_NAMES = f"SELECT DISTINCT {_FN} AS fn FROM kprobes WHERE {_FN} IS NOT NULL"  # noqa: S608
_SOCKET = f"FROM {{kprobes_rows}} WHERE {_all_set('saddr', 'sport', 'daddr', 'dport', 'time_ns')}"
_CONN_KEYS = (
    f"SELECT rowid AS _cid, time_ns AS _kt, hash(saddr, sport, daddr, dport, {_PROTO}) AS _k, "  # noqa: S608
    f"list_contains(?::VARCHAR[], {_FN}) AS _is_close {_SOCKET} AND list_contains(?::VARCHAR[], {_FN})")
_CONN_POD_KEYS = (
    "SELECT rowid AS _cid, time_ns AS _kt, "  # noqa: S608
    "CASE WHEN namespace IS NOT NULL AND pod IS NOT NULL THEN hash(namespace, pod, daddr, dport) END AS _kpod, "
    f"hash(saddr, daddr, dport) AS _kip {_SOCKET} AND list_contains(?::VARCHAR[], {_FN})")
_PROC_COLS = ('p.pid, p.parent_exec_id, p."binary", p.args, p.container_id AS process_container_id, '
              "p.pod_labels AS process_pod_labels")


def connect_index(con: Any, kt: str = "time_ns", ktp: Sequence[Any] = (),
                  rows_sql: Callable[[str], str] | None = None) -> tuple[ConnectIndex, list[str]]:
    """The connect kprobes of the case indexed for the 5-tuple search (their time as the SQL
    ``kt`` with parameters ``ktp``: see :func:`_reference_time`), and the connect function names
    (for the pod+dest keys, :data:`_CONN_POD_KEYS`); ``rows_sql`` names the tables with a stable
    ``rowid`` (a case's own tables, a lake's numbered views: ``Case._rows_sql``)."""
    names = [r[0] for r in con.execute(_FN_NAMES).fetchall()]
    connect = [n for n in names if re.search(CONNECT_PATTERN, n)]
    close = [n for n in names if re.search(CLOSE_PATTERN, n)]
    rows_sql = rows_sql or _case_rows_sql
    ck = fetch(con, rows_sql(_CONN_KEYS.replace("time_ns AS _kt", f"{kt} AS _kt")), [*ktp, close, connect + close])
    index = ConnectIndex(*((ck.filter(~pl.col("_is_close")), ck.filter(pl.col("_is_close"))) if close else (ck, None)))
    return index, connect


def _case_rows_sql(query: str) -> str:
    """``query`` reading a case file's own tables (see ``CorrelateMixin._ROWS_SQL``)."""
    return CorrelateMixin._rows_sql(CorrelateMixin, query)  # type: ignore[arg-type]


def _node_offsets(case: Any) -> tuple[dict[str, int], dict[str, int]]:
    """What to subtract from a flow's and from a connect's time, per node, to put it on the
    reference clock, from the ``clock_offsets`` the load estimated (:mod:`kernelsec_nb.store._skew`):
    the node's clock offset, and for Tetragon also how far its times are off Hubble's on that
    node.  Only offsets the load warns about (:data:`SKEW_WARN_NS`) are applied: smaller ones
    are latency."""
    def big(x: int | None) -> int:
        return int(x) if x is not None and abs(x) >= SKEW_WARN_NS else 0

    rows = case.con.execute("SELECT node, clock_offset_ns, tetragon_offset_ns FROM clock_offsets").fetchall()
    node = {n: big(o) for n, o, _ in rows if big(o)}
    tetragon = {n: big(o) - big(g) for n, o, g in rows if big(o) - big(g)}
    return node, tetragon


def _reference_time(offsets: dict[str, int]) -> tuple[str, list[Any]]:
    """SQL for ``time_ns`` minus its node's offset in ``offsets``, and its parameters."""
    if not offsets:
        return "time_ns", []
    return (f"(time_ns - CASE node {' '.join('WHEN ? THEN ?' for _ in offsets)} ELSE 0 END)",
            [x for r in offsets.items() for x in r])


class CorrelateMixin:
    """Mixed into :class:`kernelsec_nb.Case`; methods use ``self.sql`` and ``self.con``."""

    con: Any

    # -- caching -------------------------------------------------------------------------
    def _cached(self, name: str, tables: Sequence[str], build: Callable[[], T]) -> T:
        cache: dict[str, tuple[Any, Any]] = self.__dict__.setdefault("_correlate_cache", {})
        state = table_state(self.con, *tables)
        hit = cache.get(name)
        if hit is not None and hit[0] == state:
            return hit[1]  # type: ignore[no-any-return]
        value = build()
        cache[name] = (state, value)
        return value

    def _fetch(self, query: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        return fetch(self.con, query, params)

    #: What the flow attribution's queries read ``flows`` and ``kprobes`` from, with a stable
    #: integer ``rowid`` per row: the tables themselves in a case file; a lake's views over
    #: Parquet files have none, and name views that add it (:mod:`kernelsec_nb.lake._read`).
    _ROWS_SQL: dict[str, str] = {"{flows_rows}": "flows", "{kprobes_rows}": "kprobes",
                                 "{http_requests_rows}": "http_requests", "{flows_star}": "f.*",
                                 "{http_requests_star}": "r.*"}

    def _rows_sql(self, query: str) -> str:
        for mark, name in self._ROWS_SQL.items():
            query = query.replace(mark, name)
        return query

    def parent_index(self) -> ParentIndex:
        """The cached :class:`~kernelsec_nb.correlate.ParentIndex` over the ``processes`` table."""
        return self._cached("parent_index", ["processes"],
                            lambda: ParentIndex(self._fetch("SELECT * FROM processes")))

    def _flow_keys(self) -> pl.DataFrame:
        """Attribution of every flow as integers: flows rowid, kprobes rowid, match, confidence."""
        def build() -> pl.DataFrame:
            # nodes whose clocks are off are compared on the reference clock
            flow_off, conn_off = _node_offsets(self)
            t, tp = _reference_time(flow_off)
            kt, ktp = _reference_time(conn_off)
            at = lambda sql, col, t: sql.replace(f"time_ns AS {col}", f"{t} AS {col}")  # noqa: E731
            # the flow keys are fetched on a second connection while the connects are indexed
            with cursor(self.con) as cur, ThreadPoolExecutor(1) as pool:
                flows = pool.submit(fetch, cur, self._rows_sql(at(_FLOW_KEYS, "_ft", t)), tp)
                index, connect = connect_index(self.con, kt, ktp, self._rows_sql)
                fk = flows.result()

            def pod_keys(rows: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
                frame = pl.DataFrame({"_row": rows})
                name = f"_kn_flow_rows_{id(frame)}"
                self.con.register(name, frame.to_arrow())
                try:
                    fl = self._fetch(self._rows_sql(at(_FLOW_POD_KEYS, "_ft", t)).format(rows=name), tp)
                finally:
                    self.con.unregister(name)
                return fl, self._fetch(self._rows_sql(at(_CONN_POD_KEYS, "_kt", kt)), [*ktp, connect])

            return attribute_keys(fk, index, tolerance=to_duration_ns(FLOW_TOLERANCE),
                                  window=to_duration_ns(FLOW_WINDOW), pod_keys=pod_keys)
        return self._cached("flow_keys", ["flows", "kprobes"], build)

    def _with_flow_keys(self, query: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """Run ``query`` where ``{att}`` names the registered integer attribution."""
        att = self._flow_keys()
        name = f"_kn_flow_att_{id(att)}"
        self.con.register(name, att.to_arrow())
        try:
            return self._fetch(self._rows_sql(query).format(att=name), params)
        finally:
            self.con.unregister(name)

    def _flow_attribution(self) -> pl.DataFrame:
        """Attributed flows: event_id, exec_id, match, confidence, conn_event_id, conn_time_ns."""
        return self._cached("flow_attribution", ["flows", "kprobes"], lambda: self._with_flow_keys(
            "SELECT f.event_id, k.exec_id, a.match, a.confidence, k.event_id AS conn_event_id, k.time_ns AS conn_time_ns "
            "FROM {att} a JOIN {flows_rows} f ON f.rowid = a._row LEFT JOIN {kprobes_rows} k ON k.rowid = a._cid"))

    def _alert_attribution(self) -> pl.DataFrame:
        def build() -> pl.DataFrame:
            procs = self._fetch('SELECT exec_id, node, container_id, pid, "binary", args, start_ns, exit_ns, '
                                "namespace, pod, workload FROM processes")
            att = attribute_alerts(self._fetch("SELECT * FROM alerts ORDER BY time_ns, event_id"), procs)
            info = procs.select("exec_id", "binary", "args", pl.col("pid").alias("exec_pid")).unique("exec_id")
            return att.join(info, on="exec_id", how="left", maintain_order="left")
        return self._cached("alert_attribution", ["alerts", "processes"], build)

    def _tree(self) -> pl.DataFrame:
        def build() -> pl.DataFrame:
            tree = self.parent_index().tree()
            return add_counts(tree, **self._activity_parts())
        return self._cached("tree", ["processes", "kprobes", "flows", "alerts"], build)

    def _activity_parts(self) -> dict[str, pl.DataFrame]:
        return {
            "connections": self._fetch(
                "SELECT exec_id FROM kprobes WHERE exec_id IS NOT NULL AND daddr IS NOT NULL AND "
                "regexp_matches(coalesce(function_name, kind), ?)", [CONNECTION_HOOKS]),
            "flows": self._flow_attribution().select("exec_id"),
            "alerts": self._alert_attribution().select("exec_id"),
            "files": self._fetch("SELECT exec_id FROM kprobes WHERE exec_id IS NOT NULL AND file_path IS NOT NULL"),
        }

    # -- processes -----------------------------------------------------------------------
    def processes(self, **flt: Any) -> pl.DataFrame:
        """One row per exec (the ``processes`` table), filtered.

        Examples
        --------
        >>> case.processes(pod="tiefighter", binary=r"/(ba)?sh$")  # doctest: +SKIP
        """
        cond, params = filters.where("processes", **flt)
        return self._fetch(f"SELECT * FROM processes WHERE {cond} ORDER BY start_ns, exec_id", params)  # noqa: S608

    def ancestry(self, exec_id: str) -> pl.DataFrame:
        """The chain from the oldest known ancestor down to ``exec_id``, root first, with ``depth``.

        ``captured`` is false for a parent the capture only names (``seen_as`` ``'parent'``,
        ``'reference'``, or ``'missing'`` for an id with no row at all).

        Examples
        --------
        >>> case.ancestry(flag_exec_id).select("depth", "binary", "args")  # doctest: +SKIP
        """
        return self.parent_index().ancestry(exec_id)

    def descendants(self, exec_id: str) -> pl.DataFrame:
        """``exec_id`` (depth 0) and every process below it, with activity counts, by depth and
        then start time.

        Counts: ``connections`` (connect kprobes), ``flows`` and ``alerts`` (attributed),
        ``files`` (kprobes with a file path).

        Examples
        --------
        >>> case.descendants(shell_exec_id).select("depth", "binary", "flows")  # doctest: +SKIP
        """
        idx = self.parent_index()
        pos, depths = idx.descendant_positions(exec_id)
        ids = idx.frame["exec_id"].gather(pos)
        tree = self._tree().drop("depth")
        rows = pl.DataFrame({"exec_id": ids, "depth": pl.Series(depths, dtype=pl.Int64)})
        return rows.join(tree, on="exec_id", how="left", maintain_order="left").sort(
            "depth", "start_ns", "exec_id", nulls_last=True, maintain_order=True)

    def process_tree(self, **flt: Any) -> pl.DataFrame:
        """Every process with ``depth``, ``root_exec_id``, ``children`` and activity counts, filtered.

        Depth is global (from the oldest known ancestor), whatever the filter keeps.

        Examples
        --------
        >>> case.process_tree(namespace="default").filter(pl.col("flows") > 0)  # doctest: +SKIP
        """
        return filter_frame(self.con, self._tree(), "process_tree", "start_ns, exec_id", **flt)

    # -- flows and alerts ----------------------------------------------------------------
    def flows(self, **flt: Any) -> pl.DataFrame:
        """Hubble flows, each attributed to the Tetragon exec that opened the connection.

        Adds ``exec_id``, ``match`` (``'5tuple'``, ``'pod+dest'``, ``'none'``), ``confidence``,
        ``conn_event_id``/``conn_time_ns`` (the connect kprobe) and the process's ``pid``,
        ``parent_exec_id``, ``binary``, ``args``, ``process_container_id``,
        ``process_pod_labels``.  Rules: :mod:`kernelsec_nb.correlate._flows`.  Filters are the
        flow filters plus ``exec_id``, ``binary``, ``args``, ``match`` on the attributed process.

        Examples
        --------
        >>> case.flows(http_method="PUT", http_path="^/v1/").select("src_pod", "binary", "match")  # doctest: +SKIP
        """
        return self._flows_only(None, **flt)

    def _flows_only(self, columns: Sequence[str] | None, label_keys: Sequence[str] | None = None,
                    **flt: Any) -> pl.DataFrame:
        """:meth:`flows`, with only those of ``columns`` (fixed names, not user input) it has,
        in its own order: the scan and the joins read no other column (the findings engine reads
        a third of them, and fetching the rest took most of the time).  With ``label_keys``,
        ``dst_labels`` keeps only the labels of those keys (the findings ask one: whether the
        destination is the API server), not every label of every destination pod."""
        cond, params = filters.where("flows_attributed", **flt)
        pick, replace, first = "*", "", []
        if columns is not None:
            if any(not c.isidentifier() for c in columns):
                raise ValueError(f"not a column name: {columns!r}")
            pick = f"COLUMNS(lambda c: c IN ({', '.join(repr(c) for c in columns)}))"
        if label_keys is not None:
            replace = ("REPLACE (map_from_entries(list_filter(map_entries(dst_labels), "
                       "lambda e: list_contains(?::VARCHAR[], e.key))) AS dst_labels)")
            first = [list(label_keys)]
        return self._with_flow_keys(
            f"SELECT {pick} FROM (SELECT * {replace} FROM (SELECT {{flows_star}}, k.exec_id, "  # noqa: S608
            "coalesce(a.match, 'none') AS match, "
            "coalesce(a.confidence, 0.0) AS confidence, k.event_id AS conn_event_id, k.time_ns AS conn_time_ns, "
            f"{_PROC_COLS} FROM {{flows_rows}} f LEFT JOIN {{att}} a ON a._row = f.rowid "
            "LEFT JOIN {kprobes_rows} k ON k.rowid = a._cid LEFT JOIN processes p ON p.exec_id = k.exec_id) "
            f"WHERE {cond}) ORDER BY time_ns, event_id", [*first, *params])

    def dns(self, **flt: Any) -> pl.DataFrame:
        """DNS lookups of every source that sees them: Hubble's L7 DNS flows, Inspektor Gadget's
        ``trace_dns`` and Tracee's ``net_packet_dns`` events, one row each, by time.

        ``query`` is the name asked (without its final dot); ``exec_id``/``pid``/``binary``/``args``
        the process that asked (Inspektor Gadget's, Tracee's own; a Hubble flow's attributed
        process, as in :meth:`flows`, with its ``match`` and ``confidence``); ``is_reply``,
        ``dns_ips``, ``dns_rcode``, ``src_pod``/``dst_pod`` Hubble's.  Filters: those of
        :meth:`events` (``source``, ``fqdn``/``dns_query`` regex, ``pod``, ``exec_id``,
        ``binary``, ``since`` …) on the rows with their process.  Rules:
        :mod:`kernelsec_nb.correlate._dns`.

        Examples
        --------
        >>> case.dns(fqdn=r"\\.cluster\\.local$", source="tracee").select("time", "query", "binary")  # doctest: +SKIP
        """
        if not self._fetch("SELECT 1 FROM flows WHERE dns_query IS NOT NULL LIMIT 1").height:
            return self._fetch(*_dns.dns_sql(**flt))  # no Hubble lookup: no flow attribution to run
        return self._with_flow_keys(*_dns.dns_sql(att=_dns.FLOW_PROCESS, **flt))

    def alerts(self, **flt: Any) -> pl.DataFrame:
        """Alerts (Falco's, Tracee's) attributed to an exec, with missing Kubernetes fields filled.

        Adds ``exec_id``, ``match`` (``'exec_id'``: Tracee's findings name the process of its
        own exec events; ``'container+pid'``, ``'container+name'``: Falco's, to Tetragon's
        execs; ``'none'``),
        ``confidence``, ``binary``/``args``/``exec_pid`` of the exec, ``workload``, and
        ``k8s_filled`` (true where ``namespace``/``pod`` came from Tetragon).  Rules:
        :mod:`kernelsec_nb.correlate._alerts`.

        Examples
        --------
        >>> case.alerts(rule="shell", namespace="default")  # doctest: +SKIP
        """
        return filter_frame(self.con, self._alert_attribution(), "alerts_attributed", "time_ns, event_id", **flt)

    # -- overviews -----------------------------------------------------------------------
    def activity(self, by: str | Sequence[str] = ("node", "workload"), every: Any = "1m",
                 **flt: Any) -> pl.DataFrame:
        """Event counts per group, source, kind and time window (for timelines and heatmaps).

        Examples
        --------
        >>> case.activity(by="node", every="5m", namespace="default")  # doctest: +SKIP
        """
        return _activity.activity(self.con, by=by, every=every, **flt)

    def first_seen(self, by: str = "workload", baseline: Any = None) -> pl.DataFrame:
        """Binaries, parent→child binary pairs and destinations seen for the first time per group.

        ``baseline`` is another case or a ``(since, until)`` range of this one: only what the
        baseline never saw is kept.

        Examples
        --------
        >>> case.first_seen(by="workload", baseline=("2024-05-14T05:00Z", "2024-05-14T08:00Z"))  # doctest: +SKIP
        """
        return _activity.first_seen(self, by=by, baseline=baseline)

    def coverage(self, gap: Any = "5m") -> pl.DataFrame:
        """Per source and node: time span, counts, gaps, orphan share and clock offset.

        Examples
        --------
        >>> case.coverage(gap="2m").select("source", "node", "gaps", "clock_offset_ms")  # doctest: +SKIP
        """
        return _coverage.coverage(self, gap=gap)

    def on_reference_clock(self, df: pl.DataFrame, column: str = "time_ns") -> pl.DataFrame:
        """``df`` with ``ref_time_ns`` and ``ref_time``: its ``column`` (ns) on the reference clock.

        The offset the load estimated for each row's ``node`` (``clock_offsets``; only those it
        warned about, smaller ones are latency) is taken out, and for Tetragon rows also how far
        that node's Tetragon reads off its Hubble; rows are Tetragon's when their ``source`` says
        so, or, without a ``source`` column, when ``column`` is a process time (``start_ns``,
        ``exit_ns``).  Events of nodes whose clocks disagree then line up: sort by
        ``ref_time_ns`` to see what happened before what.

        Examples
        --------
        >>> case.on_reference_clock(case.events(around="10:14Z", window="10s")).sort("ref_time_ns")  # doctest: +SKIP
        """
        node, tetragon = _node_offsets(self)
        if "source" in df.columns:
            from_tetragon = pl.col("source") == "tetragon"
        else:
            from_tetragon = pl.lit(column in ("start_ns", "exit_ns"))
        offset = (pl.when(from_tetragon)
                  .then(pl.col("node").replace_strict(tetragon, default=0, return_dtype=pl.Int64))
                  .otherwise(pl.col("node").replace_strict(node, default=0, return_dtype=pl.Int64)))
        ref = (pl.col(column) - offset).alias("ref_time_ns")
        return df.with_columns(ref).with_columns(
            pl.from_epoch("ref_time_ns", time_unit="ns").dt.replace_time_zone("UTC").alias("ref_time"))

    def explain(self, id: str) -> pl.DataFrame:  # noqa: A002
        """The provenance behind an event id or exec id: the events, their file/line and raw JSON.

        Examples
        --------
        >>> case.explain(flow_event_id).select("role", "kind", "file", "line")  # doctest: +SKIP
        """
        return _explain.explain(self, id)
