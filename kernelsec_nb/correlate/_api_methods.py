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

# Which pod had which IP when: flow endpoints (the source's node is the flow's; the
# destination's is not known from the flow) and the source address of Tetragon's connects.
_ADDRESSES = """
SELECT ip, namespace, pod, any_value(node) AS node, min(time_ns) AS first_ns, max(time_ns) AS last_ns
FROM (
    SELECT src_ip AS ip, src_namespace AS namespace, src_pod AS pod, node, time_ns FROM flows
    WHERE src_ip IS NOT NULL AND src_pod IS NOT NULL AND time_ns IS NOT NULL
    UNION ALL
    SELECT dst_ip, dst_namespace, dst_pod, NULL, time_ns FROM flows
    WHERE dst_ip IS NOT NULL AND dst_pod IS NOT NULL AND time_ns IS NOT NULL
    UNION ALL
    SELECT saddr, namespace, pod, node, time_ns FROM kprobes
    WHERE saddr IS NOT NULL AND pod IS NOT NULL AND time_ns IS NOT NULL
)
GROUP BY ip, namespace, pod
"""
# Pods and the service account they run as: the pods whose create the audit log shows.
_SA_PODS = """
SELECT namespace, created_sa AS sa_name, created_name AS pod, created_node AS node FROM api_calls
WHERE resource = 'pods' AND subresource IS NULL AND verb = 'create' AND coalesce(code < 300, true)
  AND created_name IS NOT NULL AND created_sa IS NOT NULL
"""
_FN = "coalesce(function_name, replace(kind, 'process_', ''))"
_FN_NAMES = f"SELECT DISTINCT {_FN} FROM kprobes WHERE dport IN (SELECT unnest(?::BIGINT[]))"  # noqa: S608
_CONNECTS = (f"SELECT event_id, time_ns, namespace, pod, exec_id, daddr, dport FROM kprobes "  # noqa: S608
             f"WHERE dport IN (SELECT unnest(?::BIGINT[])) AND pod IS NOT NULL AND list_contains(?::VARCHAR[], {_FN})")
# The API server's addresses when Hubble names them (the reserved kube-apiserver identity).
_API_ADDRESSES = ("SELECT DISTINCT dst_ip FROM flows WHERE dst_ip IS NOT NULL AND "
                  "(dst_identity = 7 OR list_contains(map_keys(dst_labels), 'reserved:kube-apiserver'))")
# Each process with its parent's pod (NULL for a parent outside any pod: the container runtime).
_PROCESSES = ("SELECT p.exec_id, p.namespace, p.pod, p.start_ns, p.in_init_tree, pp.pod AS parent_pod, "
              'pp.namespace AS parent_namespace, p.container_name, p."binary", p.args '
              "FROM processes p LEFT JOIN processes pp ON pp.exec_id = p.parent_exec_id")


class ApiMixin:
    """``api_calls`` on :class:`kernelsec_nb.Case`."""

    con: Any

    def _api_attribution(self) -> pl.DataFrame:
        def build() -> pl.DataFrame:
            calls = fetch(self.con, "SELECT * FROM api_calls ORDER BY time_ns, call_id")
            addresses = fetch(self.con, _ADDRESSES)
            sa_pods = fetch(self.con, _SA_PODS)
            ports = list(_api.API_PORTS)
            names = [r[0] for r in self.con.execute(_FN_NAMES, [ports]).fetchall() if r[0]]
            connects = fetch(self.con, _CONNECTS, [ports, [n for n in names if re.search(CONNECT_PATTERN, n)]])
            api = [r[0] for r in self.con.execute(_API_ADDRESSES).fetchall()]
            procs = fetch(self.con, _PROCESSES)
            out = _api.attribute(calls, addresses, sa_pods, connects, api_addresses=api or None)
            out = _api.link_started(out, procs)
            info = procs.select("exec_id", "binary", "args").unique("exec_id")
            linked = procs.select(pl.col("exec_id").alias("linked_exec_id"),
                                  pl.col("binary").alias("linked_binary"),
                                  pl.col("args").alias("linked_args")).unique("linked_exec_id")
            return (out.join(info, on="exec_id", how="left", maintain_order="left")
                    .join(linked, on="linked_exec_id", how="left", maintain_order="left"))
        return self._cached("api_attribution",  # type: ignore[attr-defined, no-any-return]
                            ["audit_events", "flows", "kprobes", "processes"], build)

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
        out = filter_frame(self.con, self._api_attribution(), "api_calls", "time_ns, call_id", **flt)
        return out.head(int(limit)) if limit is not None else out
