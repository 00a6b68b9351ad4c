"""Hand-offs and detections that must not be read as acts, on a few rows."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import graph as G

MS = 1_000_000


def test_a_runtime_exec_probe_after_a_connection_is_no_hand_off_but_the_servers_child_is():
    flows = pl.DataFrame({"event_id": ["f1"], "time_ns": [1000 * MS], "exec_id": ["cli"], "src_pod": ["web-1"],
                          "src_namespace": ["shop"], "dst_namespace": ["shop"], "dst_pod": ["db-0"],
                          "dst_port": [5432]})
    procs = pl.DataFrame({
        "exec_id": ["probe", "isready", "child"], "namespace": ["shop"] * 3, "pod": ["db-0"] * 3,
        "start_ns": [3000 * MS, 3002 * MS, 3500 * MS],
        "binary": ["/bin/sh", "/usr/bin/pg_isready", "/bin/sh"], "args": ["-c pg_isready", "", "-c x"],
        # the kubelet's exec probe (and its child) is outside the container's own tree; the server's child is in it
        "in_init_tree": [False, False, True]})
    got = G.service_edges(flows, procs).select("src", "dst", "kind").rows()
    assert got == [("proc:cli", "proc:child", "service")]


def test_an_impact_technique_a_rule_of_another_tactic_is_tagged_with_is_no_claim_of_damage():
    from kernelsec_nb.findings.detections import claimed_techniques

    hits = pl.DataFrame({
        "rule_id": ["falco:Contact K8S API Server From Container", "falco:miner pool", "sigma:x"],
        "techniques": [["T1565"], ["T1496"], ["T1565.001", "T1059"]],
        "tactics": [["discovery"], ["impact"], ["execution"]]})
    got = claimed_techniques(hits)["techniques"].to_list()
    assert got == [[], ["T1496"], ["T1059"]]
