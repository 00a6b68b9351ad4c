"""A container's tree where the source names only its init (Tracee): ``findings._init_tree``."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._init_tree import resolve_init_tree

COLS = ["exec_id", "parent_exec_id", "container_id", "in_init_tree", "seen_as"]


def _procs(rows):
    return pl.DataFrame([dict(zip(COLS, r, strict=True)) for r in rows],
                        schema={"exec_id": pl.String, "parent_exec_id": pl.String, "container_id": pl.String,
                                "in_init_tree": pl.Boolean, "seen_as": pl.String})


def _tree(df):
    return dict(zip(df["exec_id"].to_list(), df["in_init_tree"].to_list(), strict=True))


def test_an_exec_d_shell_and_its_children_are_outside_the_tree_the_init_s_children_inside():
    p = _procs([("shim", None, None, None, "parent"),
                ("init", "shim", "c1", True, "event"),      # pid 1 of the container (the mapping says so)
                ("worker", "init", "c1", None, "exec"),
                ("job", "worker", "c1", None, "exec"),
                ("sh", "shim", "c1", None, "exec"),         # the runtime's exec (kubectl exec, kubelet /run)
                ("cat", "sh", "c1", None, "exec")])
    assert _tree(resolve_init_tree(p)) == {"shim": None, "init": True, "worker": True, "job": True,
                                           "sh": False, "cat": False}


def test_a_host_process_that_ran_starts_a_process_into_the_container_from_outside():
    p = _procs([("init", "shim", "c1", True, "event"),
                ("nsenter", "bash", None, None, "exec"),     # seen running on the host
                ("sh", "nsenter", "c1", None, "exec")])
    assert _tree(resolve_init_tree(p))["sh"] is False


def test_an_unseen_parent_or_an_unknown_init_leaves_it_unknown():
    p = _procs([("init", "shim", "c1", True, "event"),
                ("w", "silent", "c1", None, "exec"),          # its parent never seen run: may be the pod's own
                ("x", "shim2", "c2", None, "exec")])          # a container whose init the capture never saw
    assert _tree(resolve_init_tree(p)) == {"init": True, "w": None, "x": None}


def test_values_a_source_gave_are_kept_and_a_cycle_ends():
    p = _procs([("init", "shim", "c1", True, "event"),
                ("a", "b", "c1", None, "exec"), ("b", "a", "c1", None, "exec"),   # hostile: parents in a loop
                ("t", "shim", "c1", True, "exec")])                               # Tetragon said so
    out = _tree(resolve_init_tree(p))
    assert out == {"init": True, "a": None, "b": None, "t": True}
