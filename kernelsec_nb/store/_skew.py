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


#: Per node: the median of a connection's first Hubble sighting there minus its Tetragon connect
#: there.  Both agents stamp with the node's clock, microseconds apart when they agree; a gap
#: means one of the two exports is shifted (an agent's own time conversion), not the node.
SOURCES_SQL = """
WITH c AS (
    SELECT node, saddr, sport, daddr, dport, min(time_ns) AS t FROM kprobes
    WHERE node IS NOT NULL AND sport IS NOT NULL AND daddr IS NOT NULL
      AND regexp_matches(coalesce(function_name, kind), '(?i)connect')
    GROUP BY ALL
), f AS (
    SELECT node, src_ip, src_port, dst_ip, dst_port, min(time_ns) AS t FROM flows
    WHERE coalesce(is_reply, false) = false AND src_port IS NOT NULL AND node IS NOT NULL
    GROUP BY ALL
)
SELECT c.node, median(f.t - c.t) AS d, count(*) AS n
FROM c JOIN f ON f.node = c.node AND f.src_ip = c.saddr AND f.src_port = c.sport
             AND f.dst_ip = c.daddr AND f.dst_port = c.dport
WHERE abs(f.t - c.t) < ?
GROUP BY 1
ORDER BY 1
"""


def source_offsets(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Per node, how much later Hubble stamps a connection than Tetragon's connect (ns), for the
    nodes where that is :data:`SKEW_WARN_NS` or more over at least :data:`SKEW_MIN_FLOWS`."""
    return {node: int(gap) for node, gap, n in con.execute(SOURCES_SQL, [PAIR_LIMIT_NS]).fetchall()
            if n >= SKEW_MIN_FLOWS and abs(gap) >= SKEW_WARN_NS}


def clock_skew(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One line per pair of nodes whose clocks look :data:`SKEW_WARN_NS` or more apart, and per
    node where Hubble's and Tetragon's times disagree by that much."""
    rows = con.execute(PAIRS_SQL, [PAIR_LIMIT_NS]).fetchall()
    out = []
    for node_a, node_b, gap, flows in sorted(rows, key=lambda r: -abs(r[2])):
        if flows < SKEW_MIN_FLOWS or abs(gap) < SKEW_WARN_NS:
            continue
        ahead, behind = (node_b, node_a) if gap > 0 else (node_a, node_b)
        out.append(f"clock skew: {ahead} reads about {abs(gap) / 1e9:.2f} s ahead of {behind} "
                   f"(median over {flows} connections both saw); their events may look out of "
                   "order by that much")
    for node, gap in source_offsets(con).items():
        out.append(f"clock skew: on {node}, Hubble's flows read about {abs(gap) / 1e9:.2f} s "
                   f"{'later' if gap > 0 else 'earlier'} than Tetragon's connects of the same "
                   "connections; flow attribution allows for it, timelines do not")
    return out
