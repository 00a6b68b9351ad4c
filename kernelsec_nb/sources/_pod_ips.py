"""Which pod had an IP address at a time, from what the case saw: SQL for the sources whose events
name addresses but not pods (sidecar access logs, API server audit logs).

The case sees a pod with an IP in Hubble's endpoints (a flow's source or destination pod) and in
the local address of Tetragon's socket hooks of a pod's process.  Pod IPs are reused over time,
so an address is resolved at a time: the pod seen with it around that time, else the pod seen
with it closest in time.  An IP two pods held at the same time (host-network pods share their
node's) names no pod; loopback addresses name none.

Which pod held which IP over which interval is the derived table ``pod_addresses`` (one row per
IP and pod: ``ip``, ``namespace``, ``pod``, ``workload``, ``first_ns``, ``last_ns``, and
``ip_pods``, ``pod_id`` for :func:`resolve_rows_sql`), built once
per load with ``processes`` (:mod:`kernelsec_nb.store._derived`), before the sources' derived
columns that read it; a lake, or a case made before the table opened read-only, computes it on
first use (:func:`ensure`).

Examples
--------
>>> import duckdb
>>> con = duckdb.connect()
>>> _ = con.execute("CREATE TABLE flows AS SELECT * FROM (VALUES ('10.0.0.5', 'shop', 'api-1', 'api', "
...                 "NULL, NULL, NULL, NULL, 100)) t(src_ip, src_namespace, src_pod, src_workload, dst_ip, "
...                 "dst_namespace, dst_pod, dst_workload, time_ns)")
>>> _ = con.execute("CREATE TABLE kprobes (saddr VARCHAR, namespace VARCHAR, pod VARCHAR, workload VARCHAR, "
...                 "time_ns BIGINT)")
>>> _ = con.execute(BUILD_SQL)
>>> con.execute(resolve_sql("SELECT 1 AS rid, 90 AS t, '10.0.0.5' AS ip, 1 AS prio")).fetchall()
[(1, 'shop', 'api-1', 'api')]
"""

from __future__ import annotations

from typing import Any

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
#: The rows of ``pod_addresses``: those, with how many pods the case saw with the IP
#: (``ip_pods``) and a number per pod (``pod_id``, the same in each row of the pod), which
#: :func:`resolve_rows_sql` ranks by (computed here once, not by every query).
POD_ADDRESSES_SQL = f"""
SELECT *, count(*) OVER (PARTITION BY ip) AS ip_pods, dense_rank() OVER (ORDER BY namespace, pod) AS pod_id
FROM ({POD_IPS_SQL})
ORDER BY ip, namespace, pod
"""  # noqa: S608 - our own constants
#: The derived table's name, and the statement that (re)builds it from ``flows`` and ``kprobes``.
TABLE = "pod_addresses"
BUILD_SQL = f"CREATE OR REPLACE TABLE {TABLE} AS {POD_ADDRESSES_SQL}"
_HAS_TABLE = f"SELECT 1 FROM duckdb_tables() WHERE table_name = '{TABLE}'"  # noqa: S608 - our name


def ensure(con: Any) -> None:
    """Make ``pod_addresses`` where the connection has none: a temporary table computed now from
    ``flows`` and ``kprobes`` (a lake's views; a case made before the table, opened read-only,
    which cannot store it).  A case opened for writing has it (built at load, or on the open that
    found it missing)."""
    if not con.execute(_HAS_TABLE).fetchall():
        con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {TABLE} AS {POD_ADDRESSES_SQL}")


def resolve_rows_sql(keys: str, *, one_per_rid: bool = False) -> str:
    """SQL naming the pod of each ``(rid, t, ip, prio)`` row of the query ``keys``: among the rows
    of a ``rid``, the lowest ``prio`` (a small non-negative integer) whose IP the case knows
    (``pod_addresses``), and the pod seen with it nearest ``t``; a tie between two pods names
    none.  Columns ``rid`` and ``row``: the ``rowid`` of that pod's row of ``pod_addresses``
    (:func:`resolve_sql` gives its names).

    The best candidate of a ``rid`` is found by one integer aggregation instead of a rank over all
    of them: a candidate's rank key ``k = prio * 2^63 + distance`` (a missing ``t`` or ``prio``
    sorts last, as in ``ORDER BY``) and its pod's number ``pid`` (``pod_id``) pack into one HUGEINT;
    ``min(k * 2^31 + pid)`` holds the best ``k`` with its smallest pod, ``max(-k * 2^31 + pid)``
    the best ``k`` with its largest pod, and they name the same pod exactly when no other pod ties
    with it.

    With ``one_per_rid`` (the caller's promise that ``keys`` has one row per ``rid``), a row
    whose IP the case saw with a single pod names it by one join with the (small) table: only
    the rows of IPs several pods held go through the aggregation.  ``keys`` is then read twice
    (once per kind of IP) rather than kept: reading it again costs less than storing it.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE pod_addresses AS SELECT * FROM (VALUES ('10.0.0.5', 'shop', 'api-1', "
    ...                 "'api', 10, 50, 2, 1), ('10.0.0.5', 'shop', 'api-2', 'api', 80, 90, 2, 2)) "
    ...                 "t(ip, namespace, pod, workload, first_ns, last_ns, ip_pods, pod_id)")
    >>> con.execute(resolve_rows_sql("SELECT 1 AS rid, 85 AS t, '10.0.0.5' AS ip, 1 AS prio")).fetchall()
    [(1, 1)]
    """
    ips = f"ips AS (SELECT rowid AS row, ip, first_ns, last_ns, pod_id AS pid, ip_pods AS pods FROM {TABLE})"  # noqa: S608
    if one_per_rid:
        q, ranked = f"({keys})", "AND i.pods > 1"
        single = f"""
UNION ALL
SELECT q.rid, i.row FROM ({keys}) q JOIN ips i ON i.ip = q.ip AND i.pods = 1"""  # noqa: S608 - our own
    else:
        q, ranked, single = "q", "", ""
        ips = f"q AS MATERIALIZED ({keys}),\n{ips}"
    return f"""
WITH {ips},
c AS (
    SELECT q.rid, i.row, i.pid, coalesce(q.prio, 2147483647)::HUGEINT * 9223372036854775808
                                + coalesce(greatest(i.first_ns - q.t, q.t - i.last_ns, 0), 9223372036854775807) AS k
    FROM {q} q JOIN ips i ON i.ip = q.ip {ranked}
),
best AS (
    SELECT rid, min(k * 2147483648 + pid) AS lo, max(-k * 2147483648 + pid) AS hi, arg_min(row, k) AS row
    FROM c GROUP BY rid
)
SELECT rid, row FROM best WHERE lo % 2147483648 = hi + (lo // 2147483648) * 2147483648{single}
"""  # noqa: S608 - our own constants


def resolve_sql(keys: str, *, one_per_rid: bool = False) -> str:
    """As :func:`resolve_rows_sql`, with the pod's names: columns ``rid, namespace, pod,
    workload``."""
    return (f"SELECT m.rid, a.namespace, a.pod, a.workload FROM ({resolve_rows_sql(keys, one_per_rid=one_per_rid)}) m "  # noqa: S608
            f"JOIN {TABLE} a ON a.rowid = m.row")
