"""Process trees: ancestry, descendants, build_tree (frames and case)."""

from __future__ import annotations

import polars as pl
import pytest

from kernelsec_nb.correlate import ParentIndex, ancestry, build_tree, descendants


def frame() -> pl.DataFrame:
    return pl.DataFrame({
        "exec_id": ["shim", "sh", "c1", "c2", "cat", "x"],
        "parent_exec_id": ["gone", "shim", "sh", "sh", "c2", None],
        "binary": ["/shim", "/bin/sh", "/usr/bin/curl", "/usr/bin/curl", "/bin/cat", "/x"],
        "seen_as": ["parent", "exec", "exec", "exec", "exec", "exec"],
    })


def test_ancestry_parent_outside_capture() -> None:
    out = ancestry(frame(), "cat")
    assert out["exec_id"].to_list() == ["gone", "shim", "sh", "c2", "cat"]
    assert out["depth"].to_list() == [0, 1, 2, 3, 4]
    assert out["captured"].to_list() == [False, False, True, True, True]
    assert out["seen_as"][0] == "missing"


def test_ancestry_root_without_parent_and_unknown() -> None:
    assert ancestry(frame(), "x")["exec_id"].to_list() == ["x"]
    with pytest.raises(KeyError):
        ancestry(frame(), "nope")


def test_cycle_does_not_hang() -> None:
    df = pl.DataFrame({"exec_id": ["a", "b"], "parent_exec_id": ["b", "a"]})
    assert sorted(ancestry(df, "a")["exec_id"].to_list()) == ["a", "b"]
    assert build_tree(df).height == 2


def test_descendants_breadth_first() -> None:
    out = descendants(frame(), "sh")
    assert out.select("exec_id", "depth").rows() == [("sh", 0), ("c1", 1), ("c2", 1), ("cat", 2)]


def test_build_tree_depth_root_counts() -> None:
    flows = pl.DataFrame({"exec_id": ["c1", "c1", None]})
    out = build_tree(frame(), flows=flows).sort("exec_id")
    row = {r["exec_id"]: r for r in out.iter_rows(named=True)}
    assert row["cat"]["depth"] == 3 and row["cat"]["root_exec_id"] == "shim"
    assert row["c1"]["flows"] == 2 and row["sh"]["flows"] == 0
    assert row["sh"]["children"] == 2


def test_duplicate_exec_ids_keep_first() -> None:
    df = pl.concat([frame(), frame().head(1)])
    assert ParentIndex(df).n == frame().height


def test_case_ancestry_and_tree(mini_case) -> None:
    chain = mini_case.ancestry("C2")
    assert chain.select("exec_id", "captured").rows() == [
        ("GONE", False), ("SHIM", False), ("S", True), ("C2", True)]
    assert chain["seen_as"].to_list()[:2] == ["missing", "parent"]
    assert {"binary", "args", "pid", "start_ns", "depth"} <= set(chain.columns)
    tree = mini_case.process_tree(pod="web-")
    assert set(tree["exec_id"]) == {"S", "C1", "C2"}
    d = {r["exec_id"]: r for r in mini_case.descendants("S").iter_rows(named=True)}
    assert d["C1"]["connections"] == 1 and d["C1"]["flows"] >= 5 and d["C1"]["alerts"] == 1
    assert d["S"]["alerts"] == 2 and d["S"]["depth"] == 0


def test_case_processes_filters(mini_case) -> None:
    assert mini_case.processes(binary="curl$")["exec_id"].to_list() == ["C1", "C2"]
    assert mini_case.processes(workload="api")["exec_id"].to_list() == ["SRV"]
