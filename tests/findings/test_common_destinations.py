"""A namespace's common outside destinations (``_shared.common_destinations``), on a few rows."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._shared import common_destinations, flagged_destinations, flagged_pods
from kernelsec_nb.findings.routine import RoutineSettings

H = 3_600_000_000_000
S4 = RoutineSettings(destination_windows=4)


def _case(n_pods: int, pool_pods: int):
    """``n_pods`` CI job pods (each a workload of its own, some flows naming the pod) fetch from the
    registry through the capture; ``pool_pods`` runs of one planted job reach a pool once each."""
    ex, ns, pods, wls, ips, times, flow_wl = [], [], [], [], [], [], []
    for k in range(n_pods):
        ex.append(f"j{k}"), ns.append("ci"), pods.append(f"runner-p{k}-x"), wls.append(f"runner-{k}")
        ips.append("104.16.2.35"), times.append(k * 3 * H // max(n_pods - 1, 1))
        flow_wl.append(f"runner-p{k}-x" if k % 2 else f"runner-{k}")
    for k in range(pool_pods):
        ex.append(f"m{k}"), ns.append("shop"), pods.append(f"lc-{k}"), wls.append("lc"), ips.append("45.95.147.219")
        times.append(k * H // 3), flow_wl.append("lc")
    conns = pl.DataFrame({"exec_id": ex, "src_workload": flow_wl, "dst_ip": ips, "dst_port": [443] * len(ex),
                          "time_ns": times})
    procs = pl.DataFrame({"exec_id": ex, "namespace": ns, "pod": pods, "workload": wls})
    return conns, procs


def test_every_job_pods_registry_is_routine_for_each_workload_of_the_namespace_under_each_name():
    conns, procs = _case(6, 0)
    got = common_destinations(conns, procs, S4)
    assert set(got["dst"]) == {"104.16.2.35"}
    # the workload of each pod, and the pod's name where a flow named its pod instead
    assert {"runner-0", "runner-1", "runner-p1-x"} <= set(got["src_workload"])


def test_a_few_runs_of_a_planted_job_or_one_pod_teach_nothing():
    conns, procs = _case(2, 3)  # two pods only; the pool reached by 3 pods in one window
    assert common_destinations(conns, procs, S4).height == 0


def _schedule(flag: int):
    """Nine runs of one schedule (a pod each, a workload each) reach a pool all through the capture;
    a critical detection fired on ``flag`` of them."""
    n = 9
    conns = pl.DataFrame({"exec_id": [f"r{k}" for k in range(n)], "src_workload": ["lc"] * n,
                          "dst_ip": ["45.61.187.7"] * n, "dst_port": [3333] * n,
                          "time_ns": [k * 3 * H // (n - 1) for k in range(n)]})
    procs = pl.DataFrame({"exec_id": [f"r{k}" for k in range(n)], "namespace": ["apps"] * n,
                          "pod": [f"lc-{k}-x" for k in range(n)], "workload": [f"lc-{k}" for k in range(n)]})
    hits = pl.DataFrame({"exec_id": [f"r{k}" for k in range(flag)], "level": ["critical"] * flag})
    return conns, procs, hits


def test_a_destination_only_flagged_pods_reach_is_no_routine():
    conns, procs, hits = _schedule(9)
    assert common_destinations(conns, procs, S4).height == 10  # its own pool, for each name of the schedule
    flagged = flagged_pods(hits, procs)
    assert flagged.height == 9
    assert common_destinations(conns, procs, S4, flagged=flagged).height == 0
    assert flagged_destinations(conns, procs, flagged).rows() == [("45.61.187.7", 3333)]


def test_clean_pods_still_teach_a_destination_and_one_flagged_pod_is_no_schedule():
    conns, procs, hits = _schedule(3)  # six runs nothing flagged
    flagged = flagged_pods(hits, procs)
    assert common_destinations(conns, procs, S4, flagged=flagged).height == 10
    assert flagged_destinations(conns, procs, flagged).height == 0
    one = flagged_pods(hits.head(1), procs)
    assert flagged_destinations(conns.head(1), procs, one).height == 0  # min_pods 2
