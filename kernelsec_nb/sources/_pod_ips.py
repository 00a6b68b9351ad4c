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
#: Tetragon's socket hooks of a pod's process.  ``{only}`` restricts the addresses (a semi-join
#: to the addresses asked about, so only their flows and hooks are aggregated).
_POD_IPS = """
SELECT ip, namespace, pod, any_value(workload) AS workload, min(time_ns) AS first_ns, max(time_ns) AS last_ns
FROM (
    SELECT src_ip AS ip, src_namespace AS namespace, src_pod AS pod, src_workload AS workload, time_ns
    FROM flows WHERE src_pod IS NOT NULL{only_src}
    UNION ALL
    SELECT dst_ip, dst_namespace, dst_pod, dst_workload, time_ns FROM flows WHERE dst_pod IS NOT NULL{only_dst}
    UNION ALL
    SELECT saddr, namespace, pod, workload, time_ns FROM kprobes WHERE pod IS NOT NULL AND saddr IS NOT NULL{only_k}
)
WHERE ip IS NOT NULL AND time_ns IS NOT NULL AND NOT (starts_with(ip, '127.') OR ip = '::1')
GROUP BY ip, namespace, pod
"""
POD_IPS_SQL = _POD_IPS.format(only_src="", only_dst="", only_k="")
_ONLY = " AND {col} IN (SELECT ip FROM qi)"


def resolve_sql(keys: str, *, one_per_rid: bool = False) -> str:
    """SQL naming the pod of each ``(rid, t, ip, prio)`` row of the query ``keys``: among the rows
    of a ``rid``, the lowest ``prio`` (a small non-negative integer) whose IP the case knows, and
    the pod seen with it nearest ``t``; a tie between two pods names none.  Columns
    ``rid, namespace, pod, workload``.

    Only the flows and hooks of the keys' addresses are aggregated (their distinct addresses
    found once, for the three semi-joins), and the best candidate of a
    ``rid`` is found by one integer aggregation instead of a rank over all of them: a candidate's
    rank key ``k = prio * 2^63 + distance`` (a missing ``t`` or ``prio`` sorts last, as in
    ``ORDER BY``) and its pod's number ``pid`` pack into one HUGEINT; ``min(k * 2^31 + pid)``
    holds the best ``k`` with its smallest pod, ``max(-k * 2^31 + pid)`` the best ``k`` with its
    largest pod, and they name the same pod exactly when no other pod ties with it.

    With ``one_per_rid`` (the caller's promise that ``keys`` has one row per ``rid``), a row
    whose IP the case saw with a single pod names it without ranking: only the rows of IPs
    several pods held go through the aggregation."""
    ranked, single = ("AND i.pods > 1", """
UNION ALL
SELECT q.rid, i.namespace, i.pod, i.workload FROM q JOIN ips i ON i.ip = q.ip AND i.pods = 1""") \
        if one_per_rid else ("", "")
    ips = _POD_IPS.format(only_src=_ONLY.format(col="src_ip"), only_dst=_ONLY.format(col="dst_ip"),
                          only_k=_ONLY.format(col="saddr"))
    return f"""
WITH q AS MATERIALIZED ({keys}),
qi AS MATERIALIZED (SELECT DISTINCT ip FROM q),
ips AS MATERIALIZED (SELECT *, row_number() OVER () AS row, dense_rank() OVER (ORDER BY namespace, pod) AS pid,
                            count(*) OVER (PARTITION BY ip) AS pods FROM ({ips})),
c AS (
    SELECT q.rid, i.row, i.pid, coalesce(q.prio, 2147483647)::HUGEINT * 9223372036854775808
                                + coalesce(greatest(i.first_ns - q.t, q.t - i.last_ns, 0), 9223372036854775807) AS k
    FROM q JOIN ips i ON i.ip = q.ip {ranked}
),
best AS (
    SELECT rid, min(k * 2147483648 + pid) AS lo, max(-k * 2147483648 + pid) AS hi, arg_min(row, k) AS row
    FROM c GROUP BY rid
)
SELECT b.rid, i.namespace, i.pod, i.workload FROM best b JOIN ips i ON i.row = b.row
WHERE b.lo % 2147483648 = b.hi + (b.lo // 2147483648) * 2147483648{single}
"""  # noqa: S608 - our own constants
