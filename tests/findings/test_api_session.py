"""A credential that probed its rights, then created a workload (``findings._api_session``)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._api_session import probed_creates

S = 1_000_000_000


def _calls(probe: bool):
    rows = [  # the CI deployer, from its runner: patches, and a Job it creates now and then
        ("sa:ci:deployer", "4.175.1.2", "create", "jobs", "shop", "mig", 100 * S, 201),
        ("sa:ci:deployer", "4.175.1.2", "patch", "deployments", "shop", "web", 110 * S, 200),
        # the same token from elsewhere: what may I do, a refusal, then a CronJob
        ("sa:ci:deployer", "193.0.2.9", "create", "selfsubjectrulesreviews" if probe else "pods", None, None,
         1000 * S, 201),
        ("sa:ci:deployer", "193.0.2.9", "list", "namespaces", None, None, 1020 * S, 403 if probe else 200),
        ("sa:ci:deployer", "193.0.2.9", "create", "cronjobs", "shop", "lc", 1130 * S, 201),
        ("system:serviceaccount:kube-system:cronjob-controller", "172.18.0.2", "create", "jobs", "shop",
         "lc-28623500", 1201 * S, 201),
    ]
    cols = ["user", "src_ip", "verb", "resource", "namespace", "name", "time_ns", "code"]
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows]).with_columns(
        pl.lit(None, pl.String).alias("exec_id"), pl.lit(None, pl.String).alias("subresource"),
        pl.format("a{}", pl.int_range(pl.len())).alias("event_id"))


PROCS = pl.DataFrame({"exec_id": ["mig1", "m1", "m2", "m3"], "namespace": ["shop"] * 4,
                      "pod": ["mig-x1abc", "lc-28623500-ab1cd", "lc-28623520-ef2gh", "lc-28623540-ij3kl"],
                      "start_ns": [105 * S, 1206 * S, 2406 * S, 3606 * S]})


def test_a_create_by_a_sender_that_probed_its_rights_charges_the_first_pod_and_links_the_others():
    ev, edges = probed_creates(_calls(probe=True), PROCS)
    assert ev.select("exec_id", "kind").rows() == [("m1", "persistence")]
    assert ev["techniques"].to_list() == [["T1078", "T1053.007"]]
    assert "refused 1 times" in ev["text"][0]
    assert edges.select("src", "dst").rows() == [("proc:m1", "proc:m2"), ("proc:m1", "proc:m3")]


def test_a_create_by_a_sender_that_did_not_probe_nor_meet_a_refusal_is_nothing():
    ev, edges = probed_creates(_calls(probe=False), PROCS)
    assert ev.height == 0 and edges.height == 0
