"""Flows that two export files both hold, written differently: the same observation counted twice.

A line is a duplicate when its bytes were loaded before (``event_id``).  The same Hubble flow
exported twice in different shapes — the exporter's file and a ``hubble observe -o json`` dump
of the same hour, or a field-masked copy — has other bytes, so it loads twice.  After a load,
flows of the new files that match a flow of another file on node, time to the nanosecond,
5-tuple, verdict and direction are counted per pair of files and reported as a warning (they are
kept: the rule for duplicates stays "byte for byte", and which copy is the better one is the
analyst's call).

Example
-------
>>> import duckdb
>>> con = duckdb.connect()
>>> con.execute("CREATE TABLE flows (event_id VARCHAR, file VARCHAR, node VARCHAR, time_ns BIGINT, "
...             "src_ip VARCHAR, src_port BIGINT, dst_ip VARCHAR, dst_port BIGINT, protocol VARCHAR, "
...             "verdict VARCHAR, is_reply BOOLEAN, traffic_direction VARCHAR)") and None
>>> con.execute("INSERT INTO flows VALUES ('a', 'x.json', 'n1', 5, '10.0.0.1', 1, '10.0.0.2', 80, 'TCP', "
...             "'FORWARDED', false, 'EGRESS'), ('b', 'y.json', 'n1', 5, '10.0.0.1', 1, '10.0.0.2', 80, "
...             "'TCP', 'FORWARDED', false, 'EGRESS')") and None
>>> flows_seen_twice(con, ["y.json"])
['1 flows of y.json are the same observations as flows of x.json (same node, time to the ns, 5-tuple, verdict, direction; exported in another shape): both are kept, so they count twice']
"""

from __future__ import annotations

import duckdb

_SAME = " AND ".join(f"a.{c} IS NOT DISTINCT FROM b.{c}" for c in (
    "src_ip", "src_port", "dst_ip", "dst_port", "protocol", "verdict", "is_reply", "traffic_direction"))

#: Per pair (a new file, another file): how many of the new file's flows the other holds too.
PAIRS_SQL = f"""
SELECT a.file, b.file, count(DISTINCT a.event_id)
FROM flows a JOIN flows b ON a.node = b.node AND a.time_ns = b.time_ns AND a.file <> b.file
    AND a.event_id <> b.event_id AND {_SAME}
WHERE a.file IN (SELECT unnest(?::VARCHAR[]))
GROUP BY ALL ORDER BY 3 DESC, 1, 2
"""  # noqa: S608 - built from our own column names


def flows_seen_twice(con: duckdb.DuckDBPyConnection, files: list[str]) -> list[str]:
    """One warning per pair of files whose flows are the same observations (see the module)."""
    if not files:
        return []
    out, seen = [], set()
    for new, other, n in con.execute(PAIRS_SQL, [files]).fetchall():
        if (other, new) in seen:  # both new in this load: say it once
            continue
        seen.add((new, other))
        out.append(f"{n} flows of {new} are the same observations as flows of {other} (same node, time "
                   "to the ns, 5-tuple, verdict, direction; exported in another shape): both are kept, "
                   "so they count twice")
    return out
