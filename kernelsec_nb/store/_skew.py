"""Clock skew between nodes, estimated from flows that two nodes both observed.

Hubble sees a connection on the node it leaves (egress) and on the node it reaches (ingress), each
stamped by that node's clock; inside a cluster the two sightings are well under a millisecond
apart.  For every connection (5-tuple) seen on two nodes, the gap between each node's *first*
sighting estimates how far apart their clocks are; the median over connections is the estimate.
A pair of nodes whose median is at least :data:`SKEW_WARN_NS` apart gets a warning in the load
report (``report.clock_skew``, ``"warnings"`` in ``--json``): events of those nodes may look out of
order by about that much.

Example
-------
>>> import kernelsec_nb as kn
>>> kn.open_case().load([], progress=False).clock_skew
[]
"""

from __future__ import annotations

import duckdb

#: Warn from this median gap on (100 ms: far above the in-cluster latency of one packet).
SKEW_WARN_NS = 100_000_000
#: Connections a pair of nodes must share before its median is trusted.
SKEW_MIN_FLOWS = 3
#: Largest node-to-node difference considered the same connection (beyond that: port reuse).
PAIR_LIMIT_NS = 30 * 10**9

#: Per pair of nodes (a < b): the median of b's first sighting minus a's over the connections both
#: saw, and how many there were.  (Also what ``case.coverage()`` chains into per-node offsets.)
PAIRS_SQL = """
WITH firsts AS (
    SELECT node, src_ip, src_port, dst_ip, dst_port, protocol, min(time_ns) AS t
    FROM flows
    WHERE coalesce(is_reply, false) = false AND src_port IS NOT NULL AND node IS NOT NULL
    GROUP BY ALL
)
SELECT a.node AS a, b.node AS b, median(b.t - a.t) AS d, count(*) AS n
FROM firsts a JOIN firsts b USING (src_ip, src_port, dst_ip, dst_port, protocol)
WHERE a.node < b.node AND abs(b.t - a.t) < ?
GROUP BY ALL
ORDER BY a, b
"""


def clock_skew(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One line per pair of nodes whose clocks look :data:`SKEW_WARN_NS` or more apart."""
    rows = con.execute(PAIRS_SQL, [PAIR_LIMIT_NS]).fetchall()
    out = []
    for node_a, node_b, gap, flows in sorted(rows, key=lambda r: -abs(r[2])):
        if flows < SKEW_MIN_FLOWS or abs(gap) < SKEW_WARN_NS:
            continue
        ahead, behind = (node_b, node_a) if gap > 0 else (node_a, node_b)
        out.append(f"clock skew: {ahead} reads about {abs(gap) / 1e9:.2f} s ahead of {behind} "
                   f"(median over {flows} connections both saw); their events may look out of "
                   "order by that much")
    return out
