"""Clock skew between nodes, estimated from flows that two nodes both observed.

Hubble sees a connection on the node it leaves (egress) and on the node it reaches (ingress), each
stamped by that node's clock; inside a cluster the two sightings are well under a millisecond
apart.  For every connection (5-tuple) seen on two nodes, the gap between each node's *first*
sighting estimates how far apart their clocks are; the median over connections is the estimate.
The pair medians are chained into one offset per node against the reference clock (the median
node's); a node at least :data:`SKEW_WARN_NS` off gets a warning in the load report
(``report.clock_skew``, ``"warnings"`` in ``--json``), stated one way everywhere
(:func:`offset_text`: the node against the reference clock): its events may look out of order by
about that much.  On one node, Tetragon and Hubble stamp with the same clock: a gap
between a connect and its first flow there means one export is shifted, and is warned about too.

The load keeps the estimates in the ``clock_offsets`` table (per node: ``clock_offset_ns``, how far
its clock reads ahead of the median node's, ``offset_pairs``, and ``tetragon_offset_ns``, how
much later its Hubble flows read than its Tetragon connects), which ``case.coverage()`` shows and
flow attribution corrects by.  Above :data:`SAMPLE_CONNECTIONS` flows the medians are taken over
a sample of connections (by hash of the 5-tuple).

Example
-------
>>> import kernelsec_nb as kn
>>> kn.open_case().load([], progress=False).clock_skew
[]
"""

from __future__ import annotations

import re
from collections import defaultdict, deque

import duckdb

#: Warn from this median gap on (100 ms: far above the in-cluster latency of one packet).
SKEW_WARN_NS = 100_000_000
#: Connections a pair of nodes must share before its median is trusted.
SKEW_MIN_FLOWS = 3
#: Largest node-to-node difference considered the same connection (beyond that: port reuse).
PAIR_LIMIT_NS = 30 * 10**9

#: Connections a median is taken over, at most (about): above, a sample of connections (by hash of
#: their 5-tuple, so a sampled connection keeps all its sightings) stands for the rest.
SAMPLE_CONNECTIONS = 100_000


def _stride(con: duckdb.DuckDBPyConnection) -> int:
    """1 in how many connections the medians read (1: all), from the number of flows."""
    flows = con.execute("SELECT count(*) FROM flows").fetchall()[0][0]
    return max(1, int(flows) // SAMPLE_CONNECTIONS)


def _sql(template: str, stride: int) -> str:
    """``template`` with its sampling stride and time limit written in (our own integers: as
    parameters they made DuckDB plan the joins 3-4x slower)."""
    return template.replace("$stride", str(int(stride))).replace("$limit", str(int(PAIR_LIMIT_NS)))


#: Per pair of nodes (a < b): the median of b's first sighting minus a's over the connections both
#: saw, and how many there were (``$stride``, ``$limit``: see :func:`_sql`).
PAIRS_SQL = """
WITH firsts AS (
    SELECT node, src_ip, src_port, dst_ip, dst_port, protocol, min(time_ns) AS t
    FROM flows
    WHERE coalesce(is_reply, false) = false AND src_port IS NOT NULL AND node IS NOT NULL
      AND hash(src_ip, src_port, dst_ip, dst_port) % $stride = 0
    GROUP BY ALL
)
SELECT a.node AS a, b.node AS b, median(b.t - a.t) AS d, count(*) AS n
FROM firsts a JOIN firsts b USING (src_ip, src_port, dst_ip, dst_port, protocol)
WHERE a.node < b.node AND abs(b.t - a.t) < $limit
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
      AND hash(saddr, sport, daddr, dport) % $stride = 0
      AND list_contains(?::VARCHAR[], coalesce(function_name, kind))
    GROUP BY ALL
), f AS (
    SELECT node, src_ip, src_port, dst_ip, dst_port, min(time_ns) AS t FROM flows
    WHERE coalesce(is_reply, false) = false AND src_port IS NOT NULL AND node IS NOT NULL
      AND hash(src_ip, src_port, dst_ip, dst_port) % $stride = 0
    GROUP BY ALL
)
SELECT c.node, median(f.t - c.t) AS d, count(*) AS n
FROM c JOIN f ON f.node = c.node AND f.src_ip = c.saddr AND f.src_port = c.sport
             AND f.dst_ip = c.daddr AND f.dst_port = c.dport
WHERE abs(f.t - c.t) < $limit
GROUP BY 1
ORDER BY 1
"""


def _connect_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The hook function names of connects (classified on the few distinct names, not per row)."""
    names = con.execute("SELECT DISTINCT coalesce(function_name, kind) FROM kprobes").fetchall()
    return [n for (n,) in names if n and re.search(r"(?i)connect", n)]


def chain_offsets(pairs: list[tuple[str, str, float, int]]) -> dict[str, tuple[float, int]]:
    """Per node: its clock offset (ns) and the connections behind it, from the pair medians.

    Pairs are chained from the node with the most connections; each group of linked nodes is then
    shifted so that its median node reads 0 (one node off among agreeing ones is the one with
    an offset).  Network latency (well under a millisecond in a cluster) is neglected.

    >>> chain_offsets([("a", "b", -2e9, 5), ("b", "c", 0.0, 5)])
    {'b': (0.0, 10), 'a': (2000000000.0, 5), 'c': (0.0, 5)}
    """
    graph: dict[str, list[tuple[str, float]]] = defaultdict(list)
    count: dict[str, int] = defaultdict(int)
    for a, b, d, n in pairs:
        graph[a].append((b, float(d)))
        graph[b].append((a, -float(d)))
        count[a] += n
        count[b] += n
    offsets: dict[str, tuple[float, int]] = {}
    for start in sorted(count, key=lambda k: (-count[k], k)):
        if start in offsets:
            continue
        part = {start: 0.0}  # the nodes linked to ``start`` by shared connections
        todo = deque([start])
        while todo:
            x = todo.popleft()
            for y, d in graph[x]:
                if y not in part:
                    part[y] = part[x] + d
                    todo.append(y)
        ordered = sorted(part.values())
        middle = ordered[(len(ordered) - 1) // 2]  # the lower median: one of the nodes reads 0
        offsets.update({k: (v - middle, count[k]) for k, v in part.items()})
    return offsets


_STORE = "INSERT INTO clock_offsets VALUES (?, ?, ?, ?)"


def _sources_apart(node: str, gap: int) -> str:
    """The warning for a node whose Hubble flows read ``gap`` ns later than its Tetragon connects."""
    return (f"clock skew: on {node}, Hubble's flows read about {abs(gap) / 1e9:.2f} s "
            f"{'later' if gap > 0 else 'earlier'} than Tetragon's connects of the same connections")


def clock_skew(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Estimate the clock offsets, store them in the ``clock_offsets`` table, and return one line
    per pair of nodes whose clocks look :data:`SKEW_WARN_NS` or more apart, and per node where
    Hubble's and Tetragon's times disagree by that much."""
    stride = _stride(con)
    rows = con.execute(_sql(PAIRS_SQL, stride)).fetchall()
    names = _connect_names(con)
    gaps = ({node: (int(gap), n) for node, gap, n in con.execute(_sql(SOURCES_SQL, stride), [names]).fetchall()}
            if names else {})
    nodes = chain_offsets(rows)
    con.execute("DELETE FROM clock_offsets")
    for node in sorted(set(nodes) | set(gaps)):
        offset, pairs = nodes.get(node, (None, None))
        gap, n = gaps.get(node, (None, 0))
        con.execute(_STORE, [node, None if offset is None else round(offset), pairs,
                             gap if n >= SKEW_MIN_FLOWS else None])
    sample = f", a 1 in {stride} sample" if stride > 1 else ""
    return noted_offsets(con, sample=sample, attribution=True)


def offset_text(node: str, offset_ns: float, pairs: int | None, reference: str | None = None,
                sample: str = "") -> str:
    """The one statement of a node's clock skew: against the reference clock.

    The reference clock is the median node's (:func:`chain_offsets`), named when one node is it.

    >>> offset_text("n1", 2e9, 5, "n2")
    "clock skew: n1 reads about 2.00 s ahead of the reference clock (n2's, the median node's; from 5 connections seen on two nodes); its events may look out of order by that much"
    """
    ref = f"{reference}'s, the median node's" if reference else "the median node's"
    return (f"clock skew: {node} reads about {abs(offset_ns) / 1e9:.2f} s "
            f"{'ahead of' if offset_ns > 0 else 'behind'} the reference clock ({ref}; from {pairs} "
            f"connections seen on two nodes{sample}); its events may look out of order by that much")


def noted_offsets(con: duckdb.DuckDBPyConnection, *, sample: str = "", attribution: bool = False) -> list[str]:
    """One line per node whose stored offset (``clock_offsets``, from the last estimate) is
    :data:`SKEW_WARN_NS` or more, over at least :data:`SKEW_MIN_FLOWS` connections: its clock
    against the reference clock (:func:`offset_text`, the one way skew is stated: the load
    report, the findings' notes and ``case.coverage()``'s ``clock_offset_ms`` say the same), and
    its Hubble against its Tetragon."""
    out = []
    rows = con.execute("SELECT node, clock_offset_ns, offset_pairs, tetragon_offset_ns FROM clock_offsets "
                       "ORDER BY node").fetchall()
    zero = [node for node, offset, _, _ in rows if offset == 0]
    reference = zero[0] if len(zero) == 1 else None
    for node, offset, pairs, tetragon in rows:
        if offset is not None and abs(offset) >= SKEW_WARN_NS and (pairs or 0) >= SKEW_MIN_FLOWS:
            out.append(offset_text(node, offset, pairs, reference, sample))
        if tetragon is not None and abs(tetragon) >= SKEW_WARN_NS:
            out.append(_sources_apart(node, tetragon)
                       + ("; flow attribution allows for it, timelines do not" if attribution else ""))
    return out
