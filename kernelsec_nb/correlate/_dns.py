"""DNS lookups from every source that sees them, in one frame (``case.dns()``).

The case has no table of its own for DNS: each source keeps its lookups where its events go, with
the name asked in the event model's ``dns_query`` column:

* **Hubble** L7 DNS flows (``flows``: the query, and in a response ``dns_ips``, ``dns_rcode``),
  between endpoints, without the process;
* **Inspektor Gadget**'s ``trace_dns`` (kind ``dns``) and **Tracee**'s ``net_packet_dns``
  (``other_events``): the name asked and the process that asked it (``exec_id``, ``pid``,
  ``binary``: the same identity as their exec events, so ``case.ancestry(exec_id)`` works), the
  addresses and ports of the packet where the tool writes them; the answers, the response code
  and whether the packet was the query or the response stay in the raw line (``case.raw``).

:func:`dns_sql` puts them together from the ``events`` view (every source's rows, the same
columns), with the Hubble flows' DNS details beside their rows.  Nothing here is a new table: a
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

#: The frame's columns: the events' model columns, then the Hubble flow's DNS details.
_SELECT = """
SELECT e.time, e.source, e.kind, rtrim(e.dns_query, '.') AS query, e.node, e.namespace, e.pod, e.workload,
       e.exec_id, e.pid, e."binary", e.args, e.container_id,
       e.src_ip, e.src_port, e.dst_ip, e.dst_port, e.protocol, e.verdict,
       f.is_reply, f.dns_ips, f.dns_rcode, f.src_pod, f.dst_pod,
       e.dns_query, e.time_ns, e.event_id, e.file, e.line
FROM (SELECT * FROM events WHERE dns_query IS NOT NULL AND {cond}) e
LEFT JOIN flows f ON f.event_id = e.event_id
ORDER BY e.time_ns, e.event_id
"""


def dns_sql(**flt: Any) -> tuple[str, list[Any]]:
    """The query of :meth:`Case.dns` and its parameters: the events filters (``source``,
    ``namespace``, ``pod``, ``node``, ``exec_id``, ``binary``, ``dns_query``/``fqdn`` (regex),
    ``port``, ``since``/``until``/``around``, ``tag`` …) apply to every source's rows.

    >>> sql, params = dns_sql(fqdn=r"\\.example\\.com\\.?$")
    >>> params
    ['\\\\.example\\\\.com\\\\.?$']
    """
    cond, params = filters.where("events", **flt)
    return _SELECT.format(cond=cond), params
