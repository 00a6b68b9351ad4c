"""What each node's capture holds: process events, flows, alerts — by capability, not by name.

A finding is only as good as the sources behind it: "no alerts" on a node whose Falco was not
exported is no evidence.  :func:`available` says which kinds of events the case has at all (for
a template's "no flows in this capture"), :func:`by_node` counts them per node, and
:func:`missing_notes` says, for the nodes incidents happened on, which kind the capture has from
other nodes but not from that one.

Examples
--------
>>> import kernelsec_nb as kn
>>> sorted(available(kn.open_case()))
[]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from kernelsec_nb.sources import Capability, having

#: Kind of events → (table, the tool that usually exports them, how a note names them).
KINDS: dict[str, tuple[str, str]] = {
    "processes": ("processes", "process events (Tetragon)"),
    "flows": ("flows", "flows (Hubble)"),
    "alerts": ("alerts", "Falco alerts"),
}

_BY_NODE = """
SELECT node, count(*) AS n FROM {table} WHERE node IS NOT NULL GROUP BY node
"""


def by_node(case: Any) -> pl.DataFrame:
    """One row per node and kind of events (``processes``, ``flows``, ``alerts``) with ``n``."""
    parts = []
    for kind, (table, _) in KINDS.items():
        try:
            rows = case.con.execute(_BY_NODE.format(table=table)).fetchall()  # table: a fixed name above
        except Exception:  # noqa: BLE001 - an old case without the table
            rows = []
        parts.append(pl.DataFrame({"node": [r[0] for r in rows], "kind": [kind] * len(rows),
                                   "n": [int(r[1]) for r in rows]},
                                  schema={"node": pl.String, "kind": pl.String, "n": pl.Int64}))
    return pl.concat(parts)


def available(case: Any) -> set[str]:
    """The kinds of events the case has at all: a subset of ``{"processes", "flows", "alerts"}``."""
    out = set()
    for kind, (table, _) in KINDS.items():
        try:
            if case.con.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall():  # noqa: S608 - fixed name
                out.add(kind)
        except Exception:  # noqa: BLE001,S112 - an old case without the table
            continue
    return out


#: Kind of events → the capability of the sources that bring them.
CAPABILITIES = {"processes": Capability.PROCESS_EVENTS, "flows": Capability.FLOWS, "alerts": Capability.ALERTS}


def sources(case: Any) -> list[str]:
    """The tools behind the kinds of events the case has, sorted: ``["falco", "hubble",
    "tetragon"]`` for a capture with all three; named by what the case holds (process events,
    flows, alerts): the sources with that capability whose files the case loaded (all of them
    when the case has no ``files`` rows, as a hand-filled case).

    >>> import kernelsec_nb as kn
    >>> sources(kn.open_case())
    []
    """
    try:
        loaded = {s for (s,) in case.con.execute("SELECT DISTINCT unnest(sources) FROM files").fetchall()}
    except Exception:  # noqa: BLE001 - an old case without the table
        loaded = set()
    return sorted({s.name for k in available(case) for s in having(CAPABILITIES[k])
                   if not loaded or s.name in loaded})


def missing_notes(counts: pl.DataFrame, nodes: Iterable[str | None]) -> list[str]:
    """For each of ``nodes``: the kinds of events other nodes of the capture have but it has none
    of.  Only nodes the process events know count as "other nodes" (an alert's host name that is
    no node — a Falco pod's name — says nothing about coverage).

    >>> c = pl.DataFrame({"node": ["w2", "w9", "w9", "falco-x"], "kind": ["processes", "processes", "alerts", "alerts"],
    ...                   "n": [5, 1, 1, 3]})
    >>> missing_notes(c, ["w2"])
    ['no Falco alerts from w2 in the capture, though 1 other node(s) have them: its silence is no evidence']
    """
    known = set(counts.filter(pl.col("kind") == "processes")["node"].to_list())
    out = []
    for node in dict.fromkeys(n for n in nodes if n):
        for kind, (_, name) in KINDS.items():
            have = set(counts.filter((pl.col("kind") == kind) & (pl.col("n") > 0))["node"].to_list())
            others = (have & known) - {node} if kind != "processes" else have - {node}
            if node not in have and others:
                out.append(f"no {name} from {node} in the capture, though {len(others)} other node(s) have them: "
                           "its silence is no evidence")
    return out


__all__ = ["CAPABILITIES", "KINDS", "available", "by_node", "missing_notes", "sources"]
