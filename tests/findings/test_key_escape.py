"""The key command of a line whose process escaped its container before its act
(findings/_incident.py ``_key``), on a few hand-made evidence rows."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import _evidence as E
from kernelsec_nb.findings import graph as G
from kernelsec_nb.findings._incident import _key

S = 1_000_000_000


def evidence(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame([dict(zip(E.EVIDENCE_SCHEMA, r, strict=True)) for r in rows], schema=E.EVIDENCE_SCHEMA)


INFO = {x: {"start_ns": t * S, "namespace": "build", "pod": "job-1"}
        for x, t in (("sh", 1), ("breakout", 5), ("client", 9))}


def test_an_escape_before_the_lateral_act_is_the_key_and_its_text_names_both():
    pev = evidence(("breakout", E.DETECTION, 5.0, "Host namespace tool (critical)", "d1", "r1", [G.ESCAPE_TECHNIQUE]),
                   ("client", E.LATERAL, 3.0, "exec'd into db/pg-0", "a1", None, []))
    key, why = _key(["sh", "breakout", "client"], pev, INFO)
    assert key == "breakout"
    assert "escaped its container" in why and "Host namespace tool" in why and "exec'd into db/pg-0" in why


def test_an_escape_after_the_act_leaves_the_act_the_key():
    info = {**INFO, "breakout": {**INFO["breakout"], "start_ns": 20 * S}}
    pev = evidence(("breakout", E.DETECTION, 5.0, "Host namespace tool (critical)", "d1", "r1", ["t1611"]),
                   ("client", E.LATERAL, 3.0, "exec'd into db/pg-0", "a1", None, []))
    assert _key(["sh", "breakout", "client"], pev, info) == ("client", "exec'd into db/pg-0")
    # a host process (no pod) with the technique is no container escape
    host = {**INFO, "breakout": {"start_ns": 5 * S, "namespace": None, "pod": None}}
    assert _key(["sh", "breakout", "client"], pev, host)[0] == "client"


def test_what_the_line_then_did_on_the_node_stays_the_key():
    pev = evidence(("breakout", E.DETECTION, 5.0, "Host namespace tool (critical)", "d1", "r1", [G.ESCAPE_TECHNIQUE]),
                   ("client", E.PERSIST, 3.0, "made itself persistent: crontab written", "p1", None, []))
    assert _key(["sh", "breakout", "client"], pev, INFO) == ("client", "made itself persistent: crontab written")
