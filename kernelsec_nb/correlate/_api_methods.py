"""``case.api_calls``: the Kubernetes API calls of the case, attributed and linked
(:mod:`kernelsec_nb.correlate._api` has the rules).

The attribution of every call does not depend on the filters: it is computed once and cached on
the case until the tables it read change.
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from kernelsec_nb.correlate import _api
from kernelsec_nb.correlate._flows import CONNECT_PATTERN
from kernelsec_nb.correlate._frames import fetch, filter_frame
from kernelsec_nb.sources.k8s_audit import _RANK, API_CALLS_SELECT

# Which pod had which IP when: flow endpoints (the source's node is the flow's; the
# destination's is not known from the flow) and the source address of Tetragon's connects; the
# node of an address is that of its first sighting that names one.  {src}, {dst}, {k} restrict
# each arm early (to the calls' source IPs, or to some pods: see _ADDRESSES_OF, _NODES_OF).
_SIGHTINGS = """
SELECT src_ip AS ip, src_namespace AS namespace, src_pod AS pod, node, time_ns FROM flows s {src}
WHERE src_ip IS NOT NULL AND src_pod IS NOT NULL AND time_ns IS NOT NULL
UNION ALL
SELECT dst_ip, dst_namespace, dst_pod, NULL, time_ns FROM flows s {dst}
WHERE dst_ip IS NOT NULL AND dst_pod IS NOT NULL AND time_ns IS NOT NULL
UNION ALL
SELECT saddr, namespace, pod, node, time_ns FROM kprobes s {k}
WHERE saddr IS NOT NULL AND pod IS NOT NULL AND time_ns IS NOT NULL
"""
_ADDRESS_ROWS = ("SELECT ip, namespace, pod, arg_min(node, time_ns) FILTER (WHERE node IS NOT NULL) AS node, "
                 "min(time_ns) AS first_ns, max(time_ns) AS last_ns FROM ({sightings}) GROUP BY ip, namespace, pod")
#: Every address (the reference input of :func:`_api.attribute`).
_ADDRESSES = _ADDRESS_ROWS.format(sightings=_SIGHTINGS.format(src="", dst="", k=""))
#: The addresses of the IPs of the registered frame ``{x}`` (column ``ip``).
_ADDRESSES_OF = _ADDRESS_ROWS.format(sightings=_SIGHTINGS.format(
    src="SEMI JOIN {x} x ON x.ip = s.src_ip", dst="SEMI JOIN {x} x ON x.ip = s.dst_ip",
    k="SEMI JOIN {x} x ON x.ip = s.saddr"))
#: The node of each pod of the registered frame ``{x}`` (``namespace``, ``pod``), as
#: :func:`_api.attribute` finds it in every address: that of its addresses in (ip, first seen) order.
_NODES_OF = ("SELECT namespace, pod, arg_min(node, (ip, first_ns)) AS node FROM ("  # noqa: S608
             + _ADDRESS_ROWS.format(sightings=_SIGHTINGS.format(
                 src="SEMI JOIN {x} x ON x.namespace = s.src_namespace AND x.pod = s.src_pod",
                 dst="SEMI JOIN {x} x ON x.namespace = s.dst_namespace AND x.pod = s.dst_pod",
                 k="SEMI JOIN {x} x ON x.namespace = s.namespace AND x.pod = s.pod"))
             + ") WHERE node IS NOT NULL GROUP BY namespace, pod")
#: The columns of a call the attribution reads (the rest of a call's row is joined back after).
_CALL_KEYS = ("call_id", "time_ns", "src_ip", "sa_namespace", "sa_name", "sa_of", "token_pod", "token_node",
              "verb", "resource", "subresource", "namespace", "name", "created_name", "request_uri",
              "created_sa", "created_node", "code")
_LATEST_KEYS = [c for c in _CALL_KEYS if c not in ("call_id", "time_ns", "code")]
#: Those columns of the ``api_calls`` rows (:data:`API_CALLS_SELECT`), computed as the view
#: computes them (the latest stage's row, the earliest time, the code of the latest stage that
#: has one) without its lists and its first event's row: what the rules need, faster (only
#: those columns read: the events' other columns are wide).
_CALLS = f"""
WITH r AS (
    SELECT event_id, time_ns, code, {", ".join(_LATEST_KEYS)}, coalesce({_RANK}, 0) AS _rank,
           coalesce(audit_id, event_id) AS _call
    FROM audit_events
), k AS (
    SELECT _call, min(time_ns) AS time_ns, arg_max(code, _rank) AS code,
           arg_max(event_id, (_rank, time_ns, event_id)) AS _last
    FROM r GROUP BY _call
)
SELECT k._call AS call_id, k.time_ns, {", ".join(f"l.{c}" for c in _LATEST_KEYS)}, k.code
FROM k JOIN r l ON l.event_id = k._last
"""  # noqa: S608 - our own names


def _sa_pods(calls: pl.DataFrame) -> pl.DataFrame:
    """Pods and the service account they run as: the pods whose create the audit log shows (the
    reference path's input; the case's query selects the same)."""
    ok = pl.col("code").is_null() | (pl.col("code") < 300)
    return calls.filter((pl.col("resource") == "pods") & pl.col("subresource").is_null()
                        & (pl.col("verb") == "create") & ok & pl.col("created_name").is_not_null()
                        & pl.col("created_sa").is_not_null()).select(
        "namespace", pl.col("created_sa").alias("sa_name"), pl.col("created_name").alias("pod"),
        pl.col("created_node").alias("node"))


_FN = "coalesce(function_name, replace(kind, 'process_', ''))"
_FN_NAMES = f"SELECT DISTINCT {_FN} FROM kprobes WHERE dport IN (SELECT unnest(?::BIGINT[]))"  # noqa: S608
_CONNECTS = (f"SELECT event_id, time_ns, node, namespace, pod, exec_id, daddr, dport FROM kprobes "  # noqa: S608
             f"WHERE dport IN (SELECT unnest(?::BIGINT[])) AND pod IS NOT NULL AND list_contains(?::VARCHAR[], {_FN})")
#: Every pod's connects to the API server's own port or to its known addresses (``?``: the port, the
#: addresses, the connect functions), for :func:`_api.by_timing`.
_API_CONNECTS = ("SELECT event_id, time_ns, node, namespace, pod, exec_id, daddr, dport FROM kprobes "  # noqa: S608
                 "WHERE (dport = ? OR list_contains(?::VARCHAR[], daddr)) AND pod IS NOT NULL "
                 f"AND list_contains(?::VARCHAR[], {_FN})")
# The API server's addresses when Hubble names them (the reserved kube-apiserver identity).
_API_ADDRESSES = ("SELECT DISTINCT dst_ip FROM flows WHERE dst_ip IS NOT NULL AND "
                  "(dst_identity = 7 OR list_contains(map_keys(dst_labels), 'reserved:kube-apiserver'))")
# The processes of the pods the calls act on, each with its parent's pod (NULL for a parent
# outside any pod: the container runtime); {targets} is the registered (namespace, pod) pairs.
_PROCESSES = ("SELECT p.exec_id, p.namespace, p.pod, p.start_ns, p.in_init_tree, pp.pod AS parent_pod, "
              'pp.namespace AS parent_namespace, p.container_name, p."binary", p.args '
              "FROM processes p SEMI JOIN {targets} t ON t.namespace = p.namespace AND t.pod = p.pod "
              "LEFT JOIN processes pp ON pp.exec_id = p.parent_exec_id")
# The processes that made API connects (the senders are among them).
#: The API connects of the pods of the registered frame ``{x}`` (``namespace``, ``pod``).
_CONNECTS_OF = _CONNECTS.replace("FROM kprobes ", "FROM kprobes k SEMI JOIN {x} x ON x.namespace = k.namespace AND x.pod = k.pod ")
#: Those kprobes with their function's name (``_fn``), whichever it is: the connect functions are
#: picked from them after (one scan of ``kprobes``, not a second one for the function names).
_PORT_PROBES_OF = _CONNECTS_OF.replace(" FROM kprobes", f", {_FN} AS _fn FROM kprobes").replace(
    f" AND list_contains(?::VARCHAR[], {_FN})", "")
#: The processes of the exec ids of the registered frame ``{x}`` (``exec_id``).
_SENDERS = 'SELECT p.exec_id, p."binary", p.args FROM processes p SEMI JOIN {x} x ON x.exec_id = p.exec_id'



class ApiMixin:
    """``api_calls`` on :class:`kernelsec_nb.Case`."""

    con: Any

    def _api_attribution(self) -> pl.DataFrame:
        """Per call (``call_id``): the columns :meth:`api_calls` adds to the view's row, in order."""
        def build() -> pl.DataFrame:
            calls = fetch(self.con, _CALLS)  # only the columns the rules read
            # the addresses of the calls' source IPs only; the pods a rule may name, their API
            # connects, and the nodes of those whose rule names none
            addresses = self._with_frame(_ADDRESSES_OF, calls.select(pl.col("src_ip").alias("ip")).drop_nulls().unique())
            sa_pods = _sa_pods(calls)
            named = pl.concat([calls.select(pl.col("sa_namespace").alias("namespace"), pl.col("token_pod").alias("pod"),
                                            pl.col("token_node").alias("node")),
                               sa_pods.select("namespace", "pod", "node"), addresses.select("namespace", "pod", "node")],
                              how="vertical_relaxed").drop_nulls(["namespace", "pod"])
            nodeless = named.filter(pl.col("node").is_null()).select("namespace", "pod").unique()
            nodes = (self._with_frame(_NODES_OF, nodeless) if nodeless.height
                     else pl.DataFrame(schema={"namespace": pl.String, "pod": pl.String, "node": pl.String}))
            ports = list(_api.API_PORTS)
            probes = self._with_frame(_PORT_PROBES_OF, named.select("namespace", "pod").unique(), [ports])
            picked = [n for n in probes["_fn"].drop_nulls().unique().to_list() if n and re.search(CONNECT_PATTERN, n)]
            connects = probes.filter(pl.col("_fn").is_in(picked)).drop("_fn")
            # compared on the reference clock (a node's skew would name the pod's previous
            # process), with the sending processes' arguments (one naming the call's object)
            connects = self.on_reference_clock(  # type: ignore[attr-defined]
                connects.with_columns(pl.lit("tetragon").alias("source"))).drop("source", "ref_time")
            args = self._with_frame(_SENDERS, connects.select(pl.col("exec_id").drop_nulls().unique())).unique("exec_id")
            connects = connects.join(args.select("exec_id", "args"), on="exec_id", how="left", maintain_order="left")
            api = [r[0] for r in self.con.execute(_API_ADDRESSES).fetchall()]
            out = _api.attribute(calls, addresses, sa_pods, connects, api_addresses=api or None, pod_nodes=nodes)
            # a call on a pod whose source address is no pod's: the one process that connected then
            if _api.unsourced(out).height:
                names = [r[0] for r in self.con.execute(_FN_NAMES, [ports]).fetchall() if r[0]]
                fns = [n for n in names if re.search(CONNECT_PATTERN, n)]
                timed = fetch(self.con, _API_CONNECTS, [_api.API_PORT_OWN, api, fns])
                timed = self.on_reference_clock(  # type: ignore[attr-defined]
                    timed.with_columns(pl.lit("tetragon").alias("source"))).drop("source", "ref_time")
                out = _api.by_timing(out, timed, api_addresses=api or None)
            targets = _api.link_targets(out)
            name = f"_kn_api_targets_{id(targets)}"
            self.con.register(name, targets.to_arrow())
            try:
                procs = fetch(self.con, _PROCESSES.format(targets=name))
            finally:
                self.con.unregister(name)
            out = _api.link_started(out, procs)
            # the senders' binary and arguments: those of the connects' processes, fetched above,
            # and only the processes the timing rule added fetched again
            extra = out.select(pl.col("exec_id").drop_nulls().unique()).join(args, on="exec_id", how="anti")
            if extra.height:
                args = pl.concat([args, self._with_frame(_SENDERS, extra).unique("exec_id")], how="vertical_relaxed")
            info = out.select(pl.col("exec_id").drop_nulls().unique()).join(args, on="exec_id", how="inner")
            linked = procs.select(pl.col("exec_id").alias("linked_exec_id"),
                                  pl.col("binary").alias("linked_binary"),
                                  pl.col("args").alias("linked_args")).unique("linked_exec_id")
            out = (out.join(info, on="exec_id", how="left", maintain_order="left")
                   .join(linked, on="linked_exec_id", how="left", maintain_order="left"))
            return out.select("call_id", *(c for c in out.columns if c not in _CALL_KEYS))
        return self._cached("api_attribution",  # type: ignore[attr-defined, no-any-return]
                            ["audit_events", "flows", "kprobes", "processes"], build)

    def _with_frame(self, sql: str, frame: pl.DataFrame, params: list[Any] | None = None) -> pl.DataFrame:
        """``fetch(sql, params)`` with ``frame`` registered as ``{x}`` for the query."""
        name = f"_kn_api_frame_{id(frame)}"
        self.con.register(name, frame.to_arrow())
        try:
            return fetch(self.con, sql.replace("{x}", name), params)
        finally:
            self.con.unregister(name)

    def _api_calls_frame(self) -> pl.DataFrame:
        """Every call: the view's row, then its attribution (cached like it)."""
        def build() -> pl.DataFrame:
            att = self._api_attribution()
            name = f"_kn_api_att_{id(att)}"
            self.con.register(name, att.to_arrow())
            try:
                added = ", ".join(f'a."{c}"' for c in att.columns if c != "call_id")
                return fetch(self.con, f"SELECT c.*, {added} FROM ({API_CALLS_SELECT}) c "  # noqa: S608
                                       f"LEFT JOIN {name} a ON a.call_id = c.call_id ORDER BY c.time_ns, c.call_id")
            finally:
                self.con.unregister(name)
        return self._cached("api_calls", ["audit_events", "flows", "kprobes", "processes"],  # type: ignore[attr-defined, no-any-return]
                            build)

    def api_calls(self, limit: int | None = None, **flt: Any) -> pl.DataFrame:
        """Kubernetes API calls (the ``api_calls`` view: one row per request, its stages
        listed), each attributed to the pod and process that sent it and linked to what it
        started.

        Adds ``src_namespace``, ``src_pod``, ``src_node``, ``src_match`` (``'token'``, ``'ip'``,
        ``'sa'``), ``exec_id``/``binary``/``args`` and ``conn_event_id``/``conn_time_ns`` (the
        process and its connect to the API server), ``link`` (``'exec'``, ``'attach'``,
        ``'created-pod'``), ``target_pod``, ``linked_exec_id`` (the shell an exec started, the
        created pod's first process), ``linked_exec_ids``, ``linked_binary``/``linked_args``.
        Rules: :mod:`kernelsec_nb.correlate._api`.

        Filters: the usual ones (``since``/``until``/``around``, ``namespace``, ``pod`` (sender
        or target), ``from_pod``, ``to_pod``, ``node``, ``exec_id``, ``binary``, ``tag``) plus
        ``verb``, ``resource`` (``"pods"`` or ``"pods/exec"``), ``user`` (the user or the
        impersonated user: a name prefix, or a compiled regex), ``http_status`` (the response
        code), ``src_match`` and ``link``.

        Examples
        --------
        >>> case.api_calls(resource="pods/exec").select("time", "user", "target_pod", "linked_binary")  # doctest: +SKIP
        >>> case.api_calls(verb="create", resource="pods", from_pod="gitlab-runner")  # doctest: +SKIP
        """
        out = filter_frame(self.con, self._api_calls_frame(), "api_calls", "time_ns, call_id", **flt)
        return out.head(int(limit)) if limit is not None else out
