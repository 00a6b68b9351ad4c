"""Workloads new in the capture earn little routine (``findings._fresh``), on a few rows."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._fresh import created_workloads, fresh_workloads, started_workloads
from kernelsec_nb.findings.routine import routine

S = 1_000_000_000


def _procs(rows):
    cols = ["exec_id", "parent_exec_id", "namespace", "workload", "pod", "binary", "args", "start_ns",
            "in_init_tree", "seen_as"]
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows], schema={
        "exec_id": pl.String, "parent_exec_id": pl.String, "namespace": pl.String, "workload": pl.String,
        "pod": pl.String, "binary": pl.String, "args": pl.String, "start_ns": pl.Int64, "in_init_tree": pl.Boolean,
        "seen_as": pl.String})


def _rollout():
    """Two replicas of a new ReplicaSet run the same implant; the old app ran before the capture."""
    return _procs([
        ("shim1", None, None, None, None, "/usr/bin/containerd-shim", "", 0, False, "event"),
        ("e1", "shim1", "pay", "rec", "rec-5d8f-aaaaa", "/bin/sh", "/entrypoint.sh", 100 * S, True, "exec"),
        ("i1", "e1", "pay", "rec", "rec-5d8f-aaaaa", "/tmp/.x/helper", "", 101 * S, True, "exec"),
        ("e2", "shim1", "pay", "rec", "rec-5d8f-bbbbb", "/bin/sh", "/entrypoint.sh", 109 * S, True, "exec"),
        ("i2", "e2", "pay", "rec", "rec-5d8f-bbbbb", "/tmp/.x/helper", "", 110 * S, True, "exec"),
        ("w1", None, "pay", "web", "web-7c9d-ccccc", "/app/web", "", 0, True, "event"),
        ("w2", None, "pay", "web", "web-7c9d-ddddd", "/app/web", "", 0, True, "event"),
    ])


def test_a_workload_whose_pods_all_started_in_the_capture_is_fresh_not_one_that_ran_before():
    got = started_workloads(_rollout())
    assert got.select("namespace", "workload").rows() == [("pay", "rec")]


def test_replicas_of_a_fresh_workload_are_not_routine_enough_to_cut_their_links():
    p = _rollout()
    plain = dict(routine(p).select("exec_id", "routine").iter_rows())
    assert plain["i1"] >= 0.5 and plain["w1"] >= 0.5   # without the mechanism: "runs in both replicas"
    rt = routine(p, fresh=fresh_workloads(p))
    got = dict(rt.select("exec_id", "routine").iter_rows())
    assert got["i1"] < 0.5 and got["i2"] < 0.5            # a new template's repetition is no routine
    assert got["w1"] == plain["w1"]                        # the app that ran before keeps its routine
    assert "its workload is new" in rt.filter(pl.col("exec_id") == "i1")["reason"][0]


def test_a_cronjob_created_through_the_api_in_the_capture_loses_its_schedule_not_one_created_before():
    rows = []
    for n, t in enumerate((1200, 2400, 3600)):
        pod = f"lc-{28623500 + 20 * n}-x{n}abc"
        rows += [(f"m{n}", "shim", "shop", "lc", pod, "/usr/local/bin/compactor", "-c /etc/c.json", t * S, True, "exec")]
        pod = f"rep-{28623500 + 20 * n}-y{n}abc"
        rows += [(f"r{n}", "shim", "shop", "rep", pod, "/opt/report.sh", "", (t + 5) * S, True, "exec")]
    rows.append(("shim", None, None, None, None, "/usr/bin/containerd-shim", "", 0, False, "event"))
    p = _procs(rows)
    assert started_workloads(p).height == 0  # a CronJob's runs are new pods by design
    api = pl.DataFrame({
        "verb": ["create", "create"], "resource": ["cronjobs", "jobs"], "namespace": ["shop"] * 2,
        "name": ["lc", "rep-28623500"], "time_ns": [600 * S, 1190 * S], "code": [201, 201],
        "user": ["system:serviceaccount:ci:deployer", "system:serviceaccount:kube-system:cronjob-controller"]})
    fresh = fresh_workloads(p, api)
    assert fresh.select("namespace", "workload").rows() == [("shop", "lc")]
    assert "create cronjobs shop/lc" in created_workloads(p, api)["fresh"][0]
    got = dict(routine(p, fresh=fresh).select("exec_id", "routine").iter_rows())
    assert all(got[f"m{n}"] < 0.5 for n in range(3))
    assert all(got[f"r{n}"] >= 0.5 for n in range(3))  # the report CronJob the controller ran keeps its schedule


def test_a_pod_whose_containers_start_the_capture_did_not_see_is_not_fresh():
    # the main process's parent (the runtime) is not in the capture: the pod may have run for days
    p = _procs([
        ("py", "gone", "ops", "backup", "backup-6c-aaaaa", "/usr/bin/python3", "/opt/run.py", 0, True, "exec"),
        ("r1", "py", "ops", "backup", "backup-6c-aaaaa", "/tmp/restic", "backup /data", 5 * S, True, "exec"),
        ("py2", "stub", "ops", "backup", "backup-6c-bbbbb", "/usr/bin/python3", "/opt/run.py", 0, True, "exec"),
        ("stub", None, None, None, None, None, None, None, None, "parent"),  # known by its id only
    ])
    assert started_workloads(p).height == 0


def test_pods_another_program_made_are_new_by_design_not_a_fresh_workload():
    # a batch driver's executors (named by the driver, not as a ReplicaSet, DaemonSet or
    # StatefulSet names its pods) all start in the capture: that is how they always run
    p = _procs([
        ("shim1", None, None, None, None, "/usr/bin/containerd-shim", "", 0, False, "event"),
        ("x1", "shim1", "data", "agg-exec", "agg-9f2c-exec-1", "/usr/bin/java", "Executor", 100 * S, True, "exec"),
        ("x2", "shim1", "data", "agg-exec", "agg-9f2c-exec-2", "/usr/bin/java", "Executor", 101 * S, True, "exec"),
        ("s1", "shim1", "data", "sts", "sts-0", "/usr/bin/redis", "", 102 * S, True, "exec"),
        ("d1", "shim1", "data", "agent", "agent-k8x2p", "/usr/bin/agent", "", 103 * S, True, "exec"),
    ])
    assert started_workloads(p).select("workload").to_series().to_list() == ["agent", "sts"]
