"""Pods an incident only probed in a sweep of the pod network are reached by a ``probe``, the pod it
held a session with by a ``connect`` (``findings._probes``)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._probes import PROBE, probed_pods
from kernelsec_nb.findings.engine import find_in
from tests.findings.test_engine import MS, S, _hits, flow, frames, proc


def _sweep(n_pods=10, session_s=30):
    """``scan`` SYNs n_pods pods on one port (one flow each), then holds a connection to db-0
    (SYN, then its FIN ``session_s`` later, one source port)."""
    rows = [{**flow(f"s{i}", 100 * S + i * MS, "scan", ("a", "web-1"), ("b", f"p{i}-0"), 5432), "src_port": 41000 + i}
            for i in range(n_pods)]
    rows += [{**flow("d1", 101 * S, "scan", ("a", "web-1"), ("b", "db-0"), 5432), "src_port": 42000},
             {**flow("d2", (101 + session_s) * S, "scan", ("a", "web-1"), ("b", "db-0"), 5432), "src_port": 42000},
             {**flow("d3", 101 * S + 5 * MS, "scan", ("a", "web-1"), ("b", "db-0"), 6379), "src_port": 42001}]
    return rows


def test_a_sweep_probes_the_pods_it_only_touched_not_the_one_it_held_a_session_with():
    f = pl.DataFrame(_sweep())
    got = probed_pods(f, ["scan"])
    assert got == {("b", f"p{i}-0") for i in range(10)}
    # fewer targets than a sweep: no claim about any pod
    assert probed_pods(pl.DataFrame(_sweep(n_pods=5)), ["scan"]) == set()
    # a connection whose length no flow gives (a connect hook alone: no source port) is no probe
    assert probed_pods(f.with_columns(pl.lit(None, pl.Int64).alias("src_port")), ["scan"]) == set()
    # another process's flows are not the line's
    assert probed_pods(f, ["other"]) == set()


def test_the_incident_lists_the_swept_pods_as_probes_after_the_pod_it_dumped():
    procs = [proc("srv", None, "web-1", "/srv/app", t=-1000 * S, seen="event"),
             proc("sh", "srv", "web-1", "/bin/sh", "-c curl x | sh", 90 * S),
             proc("scan", "sh", "web-1", "/tmp/.pgtools", "-q", 99 * S)]
    flows = [*_sweep(), flow("c2", 140 * S, "scan", ("a", "web-1"), None, 8443, dst_ip="203.0.113.9")]
    hits = _hits([{"rule_id": "sigma:shell", "title": "Shell started by a service process", "level": "high",
                   "techniques": ["T1059.004"], "exec_id": "sh", "event_id": "h1"}])
    (i,) = find_in(**frames(procs, flows, [], hits)).incidents
    how = {r.pod: r.how for r in i.reached}
    assert how["db-0"] == ["connect"]
    assert all(how[f"p{n}-0"] == [PROBE] for n in range(10))
    assert i.reached[0].pod == "db-0"  # the sessions first
