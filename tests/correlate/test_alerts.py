"""Alert attribution: container + pid with PID reuse, name fallback, short ids, <NA> fields."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.correlate import attribute_alerts, fill_k8s

S = 10**9


def procs() -> pl.DataFrame:
    return pl.DataFrame({
        "exec_id": ["sh", "c1", "c2"], "container_id": ["0123456789ab"] * 3, "pid": [100, 101, 101],
        "binary": ["/bin/sh", "/usr/bin/curl", "/usr/bin/curl"], "start_ns": [1 * S, 2 * S, 10 * S],
        "exit_ns": [None, 3 * S, 11 * S], "namespace": "shop", "pod": "web-1", "workload": "web"})


def alerts(rows: list[tuple[int, int | None, str]]) -> pl.DataFrame:
    return pl.DataFrame({"time_ns": [r[0] for r in rows], "container_id": "0123456789ab",
                         "pid": [r[1] for r in rows], "proc_name": [r[2] for r in rows],
                         "namespace": ["<NA>"] * len(rows), "pod": [None] * len(rows)},
                        schema_overrides={"pid": pl.Int64, "pod": pl.String})


def test_pid_reuse() -> None:
    out = attribute_alerts(alerts([(2 * S + 5, 101, "curl"), (10 * S + 5, 101, "curl"), (5 * S, 101, "curl")]),
                           procs())
    assert out["exec_id"].to_list() == ["c1", "c2", "c1"]
    assert out["match"].to_list() == ["container+pid"] * 3
    assert out["confidence"].to_list() == [1.0, 1.0, 0.5]  # at 5 s c1 had exited


def test_alert_just_before_start_within_tolerance() -> None:
    out = attribute_alerts(alerts([(10 * S - 200_000_000, 101, "curl")]), procs())
    assert out.select("exec_id", "confidence").rows() == [("c2", 0.9)]


def test_name_fallback_and_none() -> None:
    out = attribute_alerts(alerts([(int(1.5 * S), None, "sh"), (int(1.5 * S), None, "python3")]), procs())
    assert out.select("exec_id", "match").rows() == [("sh", "container+name"), (None, "none")]


def test_comm_truncated_to_15_chars() -> None:
    p = procs().with_columns(pl.lit("/opt/bin/averyveryverylongname").alias("binary"))
    out = attribute_alerts(alerts([(2 * S, None, "averyveryverylo")]), p)
    assert out["match"].to_list() == ["container+name"]


def test_na_fields_filled_and_flagged() -> None:
    out = attribute_alerts(alerts([(2 * S + 5, 101, "curl")]), procs())
    assert out.select("namespace", "pod", "workload", "k8s_filled").rows() == [("shop", "web-1", "web", True)]
    keep = fill_k8s(pl.DataFrame({"exec_id": ["c1"], "container_id": ["x"], "namespace": ["a"], "pod": ["b"]}),
                    procs())
    assert keep.select("namespace", "pod", "k8s_filled").rows() == [("a", "b", False)]


def test_tetragon_workload_wins_over_the_one_read_off_the_pod_name() -> None:
    # a StatefulSet pod "db-0" keeps its name as workload when read off Falco's pod name; the exec's
    # workload (Tetragon, from the Kubernetes API) replaces it; without an exec it stays
    a = pl.DataFrame({"exec_id": ["c1", None], "container_id": ["x", "y"], "namespace": ["shop"] * 2,
                      "pod": ["db-0"] * 2, "workload": ["db-0"] * 2})
    assert fill_k8s(a, procs())["workload"].to_list() == ["web", "db-0"]


def test_case_alerts(mini_case) -> None:
    a = mini_case.alerts()
    got = {(r["rule"], r["time_ns"] % 10**10): (r["exec_id"], r["match"], r["k8s_filled"]) for r in a.iter_rows(named=True)}
    rows = sorted(got.values(), key=str)
    assert ("C1", "container+pid", False) in rows and ("C2", "container+pid", True) in rows
    assert ("S", "container+pid", True) in rows and ("S", "container+name", True) in rows
    assert set(a["namespace"]) == {"shop"} and set(a["pod"]) == {"web-7d9f8c6b5-bcdfg"}
    assert mini_case.alerts(rule="Terminal", namespace="shop")["binary"].to_list() == ["/bin/sh"]
    assert mini_case.alerts(workload="web", binary="curl$").height == 2


def test_an_alert_that_names_its_exec_keeps_it() -> None:
    """A tool that writes the process events too (Tracee) names the exec itself: kept, rule 0."""
    a = alerts([(2 * S + 5, 101, "curl"), (2 * S + 5, 101, "curl")]).with_columns(
        pl.Series("exec_id", ["sh", None], dtype=pl.String))
    out = attribute_alerts(a, procs())
    assert out.select("exec_id", "match", "confidence").rows() == [
        ("sh", "exec_id", 1.0), ("c1", "container+pid", 1.0)]
    assert out["namespace"].to_list() == ["shop", "shop"]  # filled from the exec it names


def test_a_host_process_alert_is_matched_by_node_and_pid() -> None:
    """Falco's ``container.id=host`` (no container): the host process of that pid on that node, 1 ms
    before; not one of another node, nor a container's process of the same pid."""
    p = pl.DataFrame({"exec_id": ["cat", "other", "inpod"], "node": ["n2", "n1", "n2"],
                      "container_id": [None, None, "0123456789ab"], "pid": [24311, 24311, 24311],
                      "binary": ["/bin/cat"] * 3, "start_ns": [5 * S, 5 * S, 5 * S], "exit_ns": [None] * 3,
                      "namespace": [None, None, "shop"], "pod": [None, None, "web-1"], "workload": [None, None, "web"]},
                     schema_overrides={"container_id": pl.String, "namespace": pl.String, "pod": pl.String,
                                       "workload": pl.String, "exit_ns": pl.Int64})
    a = pl.DataFrame({"time_ns": [5 * S + 1_000_000, 5 * S], "node": ["n2", "n3"], "container_id": [None, None],
                      "pid": [24311, 24311], "proc_name": ["cat", "cat"], "namespace": [None, None], "pod": [None, None]},
                     schema_overrides={"container_id": pl.String, "namespace": pl.String, "pod": pl.String})
    out = attribute_alerts(a, p)
    assert out.select("exec_id", "match").rows() == [("cat", "node+pid"), (None, "none")]
    assert out["pod"].to_list() == [None, None]
