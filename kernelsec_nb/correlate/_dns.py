"""DNS lookups from every source that sees them, in one frame (``case.dns()``).

The case has no table of its own for DNS: each source keeps its lookups where its events go, with
the name asked in the event model's ``dns_query`` column:

* **Hubble** L7 DNS flows (``flows``: the query, and in a response ``dns_ips``, ``dns_rcode``),
  between endpoints; the process is that of the flow's attribution (``case.flows()``: the socket
  hook of its 5-tuple, else the nearest of its pod to the same destination), where there is one;
* **Inspektor Gadget**'s ``trace_dns`` (kind ``dns``) and **Tracee**'s ``net_packet_dns``
  (``other_events``): the name asked and the process that asked it (``exec_id``, ``pid``,
  ``binary``: the same identity as their exec events, so ``case.ancestry(exec_id)`` works), the
  addresses and ports of the packet where the tool writes them; the answers, the response code
  and whether the packet was the query or the response stay in the raw line (``case.raw``).

:func:`dns_sql` puts them together from the ``events`` view (every source's rows, the same
columns), with the Hubble flows' DNS details beside their rows and their process filled from the
flow attribution: ``exec_id``, ``pid``, ``binary``, ``args`` of the attributed exec, and ``match``,
``confidence`` as in ``case.flows()`` (``'exec_id'``, 1.0 for a row whose source names its
process; ``'none'``, 0.0 for a row without one).  The filters apply to the rows with their process
filled (``case.dns(binary="curl")`` finds Hubble's lookups attributed to curl).  Nothing here is a new table: a
load of such events already stores them; ``case.flows()`` stays Hubble's flows (verdicts and
endpoints, which these events do not have).

Examples
--------
>>> import kernelsec_nb as kn
>>> kn.open_case().dns().columns[:6]
['time', 'source', 'kind', 'query', 'node', 'namespace']
"""

from __future__ import annotations

from typing import Any

from kernelsec_nb.store import filters

#: The frame's columns: the events' model columns (a Hubble row's process filled from the flow
#: attribution ``{att}``: event_id, exec_id, match, confidence), then the Hubble flow's DNS details.
_SELECT = """
SELECT e.time, e.source, e.kind, rtrim(e.dns_query, '.') AS query, e.node, e.namespace, e.pod, e.workload,
       e.exec_id, e.pid, e."binary", e.args, e.container_id,
       e.src_ip, e.src_port, e.dst_ip, e.dst_port, e.protocol, e.verdict,
       f.is_reply, f.dns_ips, f.dns_rcode, f.src_pod, f.dst_pod,
       e.dns_query, e.time_ns, e.event_id, e.file, e.line, e.match, e.confidence
FROM (
    SELECT * FROM (
        SELECT v.* REPLACE (coalesce(v.exec_id, a.exec_id) AS exec_id,
                            CASE WHEN v.exec_id IS NULL THEN p.pid ELSE v.pid END AS pid,
                            CASE WHEN v.exec_id IS NULL THEN p."binary" ELSE v."binary" END AS "binary",
                            CASE WHEN v.exec_id IS NULL THEN p.args ELSE v.args END AS args),
               CASE WHEN v.exec_id IS NOT NULL THEN 'exec_id' WHEN a.exec_id IS NOT NULL THEN a.match
                    ELSE 'none' END AS match,
               CASE WHEN v.exec_id IS NOT NULL THEN 1.0 WHEN a.exec_id IS NOT NULL THEN a.confidence
                    ELSE 0.0 END AS confidence
        FROM (SELECT * FROM events WHERE dns_query IS NOT NULL) v
        LEFT JOIN {att} a ON v.source = 'hubble' AND a.event_id = v.event_id AND a.exec_id IS NOT NULL
        LEFT JOIN processes p ON p.exec_id = a.exec_id
    ) WHERE {cond}
) e
LEFT JOIN flows f ON f.event_id = e.event_id
ORDER BY e.time_ns, e.event_id
"""


#: The process of each Hubble DNS flow, from the integer flow attribution ``{att}`` (see
#: ``CorrelateMixin._with_flow_keys``).
FLOW_PROCESS = """(
    SELECT f.event_id, k.exec_id, a.match, a.confidence FROM {att} a JOIN {flows_rows} f ON f.rowid = a._row
    JOIN {kprobes_rows} k ON k.rowid = a._cid WHERE f.dns_query IS NOT NULL
)"""


def dns_sql(att: str = "(SELECT NULL::VARCHAR AS event_id, NULL::VARCHAR AS exec_id, NULL::VARCHAR AS match, "
                       "NULL::DOUBLE AS confidence)",
            **flt: Any) -> tuple[str, list[Any]]:
    """The query of :meth:`Case.dns` and its parameters: ``att`` names the flow attribution
    (``event_id, exec_id, match, confidence`` per flow; default none); the events filters
    (``source``, ``namespace``, ``pod``, ``node``, ``exec_id``, ``binary``,
    ``dns_query``/``fqdn`` (regex), ``port``, ``since``/``until``/``around``, ``tag`` …) apply
    to every source's rows, with the Hubble rows' process filled.

    >>> sql, params = dns_sql(fqdn=r"\\.example\\.com\\.?$")
    >>> params
    ['\\\\.example\\\\.com\\\\.?$']
    """
    cond, params = filters.where("events", **flt)
    return _SELECT.format(cond=cond, att=att), params
