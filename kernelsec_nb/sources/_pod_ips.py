"""Which pod had an IP address at a time, from what the case saw: SQL for the sources whose events
name addresses but not pods (sidecar access logs, API server audit logs).

The case sees a pod with an IP in Hubble's endpoints (a flow's source or destination pod) and in
the local address of Tetragon's socket hooks of a pod's process.  Pod IPs are reused over time,
so an address is resolved at a time: the pod seen with it around that time, else the pod seen
with it closest in time.  An IP two pods held at the same time (host-network pods share their
node's) names no pod; loopback addresses name none.

Examples
--------
>>> import duckdb
>>> con = duckdb.connect()
>>> _ = con.execute("CREATE TABLE flows AS SELECT * FROM (VALUES ('10.0.0.5', 'shop', 'api-1', 'api', "
...                 "NULL, NULL, NULL, NULL, 100)) t(src_ip, src_namespace, src_pod, src_workload, dst_ip, "
...                 "dst_namespace, dst_pod, dst_workload, time_ns)")
>>> _ = con.execute("CREATE TABLE kprobes (saddr VARCHAR, namespace VARCHAR, pod VARCHAR, workload VARCHAR, "
...                 "time_ns BIGINT)")
>>> con.execute(resolve_sql("SELECT 1 AS rid, 90 AS t, '10.0.0.5' AS ip, 1 AS prio")).fetchall()
[(1, 'shop', 'api-1', 'api')]
"""

from __future__ import annotations

#: Every (ip, pod) the case saw, with when: Hubble's endpoints and the local address of
#: Tetragon's socket hooks of a pod's process.
POD_IPS_SQL = """
SELECT ip, namespace, pod, any_value(workload) AS workload, min(time_ns) AS first_ns, max(time_ns) AS last_ns
FROM (
    SELECT src_ip AS ip, src_namespace AS namespace, src_pod AS pod, src_workload AS workload, time_ns
    FROM flows WHERE src_pod IS NOT NULL
    UNION ALL
    SELECT dst_ip, dst_namespace, dst_pod, dst_workload, time_ns FROM flows WHERE dst_pod IS NOT NULL
    UNION ALL
    SELECT saddr, namespace, pod, workload, time_ns FROM kprobes WHERE pod IS NOT NULL AND saddr IS NOT NULL
)
WHERE ip IS NOT NULL AND time_ns IS NOT NULL AND NOT (starts_with(ip, '127.') OR ip = '::1')
GROUP BY ip, namespace, pod
"""


def resolve_sql(keys: str) -> str:
    """SQL naming the pod of each ``(rid, t, ip, prio)`` row of the query ``keys``: among the rows
    of a ``rid``, the lowest ``prio`` whose IP the case knows, and the pod seen with it nearest
    ``t``; a tie between two pods names none.  Columns ``rid, namespace, pod, workload``."""
    return f"""
WITH ips AS ({POD_IPS_SQL}),
c AS (
    SELECT q.rid, i.namespace, i.pod, i.workload,
           rank() OVER (PARTITION BY q.rid ORDER BY q.prio, greatest(i.first_ns - q.t, q.t - i.last_ns, 0)) AS rk
    FROM ({keys}) q JOIN ips i ON i.ip = q.ip
)
SELECT rid, any_value(namespace) AS namespace, any_value(pod) AS pod, any_value(workload) AS workload
FROM c WHERE rk = 1 GROUP BY rid HAVING count(DISTINCT (namespace, pod)) = 1
"""  # noqa: S608 - our own constants
