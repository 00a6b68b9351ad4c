"""An attacker's schedule: each run of a planted CronJob mines to one pool, a critical detection on
every run.  The pool is no routine destination (``_shared.flagged_destinations``) and the runs, for
all their Job-declared credit, join the incident that reached the pool (``shared_endpoint``)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings.engine import find_in
from tests.findings.test_engine import MS, S, _hits, flow, frames, proc

POOL = "45.61.187.7"
H = 3600 * S


def _capture():
    procs = [proc("m", None, "runner-1", "/srv/runner", t=-100 * S, seen="event", ns="ci"),
             proc("sh", "m", "runner-1", "/bin/sh", "-c ./x", 10 * S, ns="ci"),
             proc("x", "sh", "runner-1", "/tmp/x", f"-o {POOL}:3333", 10 * S + 5 * MS, ns="ci")]
    flows = [flow("f0", 10 * S + 9 * MS, "x", ("ci", "runner-1"), None, 3333, dst_ip=POOL)]
    hits = [{"source": "falco", "rule_id": "pool", "title": "outbound connection to a miner pool port",
             "level": "critical", "techniques": ["T1496"], "tactics": ["impact"], "exec_id": "x", "time_ns": 10 * S}]
    for k in range(9):
        t = 20 * S + k * H // 3
        pod = f"lc-{k}-x"
        procs += [proc(f"c{k}", None, pod, "/bin/sh", "-c run", t, ns="apps", workload=f"lc-{k}"),
                  proc(f"r{k}", f"c{k}", pod, "/tmp/lc", f"-o {POOL}:3333", t + 5 * MS, ns="apps", workload=f"lc-{k}")]
        flows.append(flow(f"f{k + 1}", t + 9 * MS, f"r{k}", ("apps", pod), None, 3333, dst_ip=POOL))
        hits.append({**hits[0], "exec_id": f"r{k}", "time_ns": t + 9 * MS})
    fr = frames(procs, flows, hits=_hits(hits))
    labels = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))
    job = pl.col("namespace") == "apps"
    fr["procs"] = fr["procs"].with_columns(
        pl.when(job).then(pl.lit([{"key": "job-name", "value": "lc"}], dtype=labels)).otherwise(
            pl.lit([{"key": "app", "value": "runner"}], dtype=labels)).alias("pod_labels"))
    return fr


def test_the_runs_of_a_flagged_schedule_join_the_incident_that_reached_its_pool():
    f = find_in(**_capture())
    reached = {r.pod for i in f.incidents for r in i.reached}
    assert {f"lc-{k}-x" for k in range(9)} <= reached | {i.pod for i in f.incidents}, f.summary()
    assert len(f.incidents) == 1, f.summary()
