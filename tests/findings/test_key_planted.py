"""The key command of a line that planted a job in another pod (findings/_incident.py ``_key``,
``_planted``), on a few hand-made evidence and edge rows."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import _evidence as E
from kernelsec_nb.findings import graph as G
from kernelsec_nb.findings._incident import _key

S = 1_000_000_000


def evidence(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame([dict(zip(E.EVIDENCE_SCHEMA, r, strict=True)) for r in rows], schema=E.EVIDENCE_SCHEMA)


def edges(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame([dict(zip(G.EDGE_SCHEMA, r, strict=True)) for r in rows], schema=G.EDGE_SCHEMA)


def _info(runner_pod: str) -> dict:
    return {"sh": {"start_ns": 1 * S, "namespace": "ml", "pod": "api-1"},
            "append": {"start_ns": 5 * S, "namespace": "ml", "pod": "api-1", "parent_exec_id": "sh"},
            "hook": {"start_ns": 60 * S, "namespace": "ml", "pod": runner_pod},
            "up": {"start_ns": 61 * S, "namespace": "ml", "pod": runner_pod, "parent_exec_id": "hook"}}


PEV = evidence(("append", E.HANDOFF, 2.0, "wrote /hooks/pre.sh (used later by another process)", "k1", None, []),
               ("up", E.CONNECT_OUT, 2.0, "connected out of the cluster to 203.0.113.9:443", "f1", None, []))
EDGE = edges(("proc:append", "file:ml/api-1:/hooks/pre.sh", G.WRITE, 5 * S, "wrote /hooks/pre.sh", "k1"),
             ("file:ml/api-1:/hooks/pre.sh", "proc:hook", G.EXEC_FILE, 60 * S, "ran /hooks/pre.sh", "e1"),
             ("proc:hook", "proc:up", G.SPAWN, 61 * S, "started curl", "e2"),
             ("proc:up", "ext:203.0.113.9:443", G.CONNECT, 61 * S, "203.0.113.9:443", "f1"))
IDS = ["sh", "append", "hook", "up"]


def test_a_job_planted_in_another_pod_and_run_there_is_the_key_not_a_delivery():
    key, why = _key(IDS, PEV, _info("trainer-1"), EDGE)
    assert key == "append" and why.startswith("wrote /hooks/pre.sh")


def test_a_tool_written_and_run_in_its_own_pod_stays_a_delivery():
    assert _key(IDS, PEV, _info("api-1"), EDGE)[0] == "up"
