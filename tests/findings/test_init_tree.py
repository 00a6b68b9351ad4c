"""Which processes are of their container's own tree where the source does not say
(``findings._init_tree``): from the init where the source names it (Tracee: ``resolve_init_tree``),
else the container's first process and what it starts are, what came in later from outside the
container (an exec) is not (``with_init_tree``)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._init_tree import resolve_init_tree, with_init_tree
from kernelsec_nb.findings.engine import find_in
from tests.findings.test_engine import MS, S, _hits, flow, frames, proc


def _pod(init=None):
    """A pod's main process (running before the capture) and its child; a shell exec'd in later
    (its parent the node's runtime) that starts curl, which connects out; a rule on the shell."""
    procs = [proc("rt", None, None, "/usr/bin/runc", "", -2000 * S),
             proc("main", "rt", "web-1", "/srv/web", "", -1000 * S, seen="event", init=init),
             proc("kid", "main", "web-1", "/bin/gzip", "-9 log", 50 * S, init=init),
             proc("sh", "rt", "web-1", "/bin/sh", "", 100 * S, init=False if init else init),
             proc("curl", "sh", "web-1", "/usr/bin/curl", "https://x.example", 101 * S,
                  init=False if init else init)]
    return procs


def test_the_first_process_of_a_container_and_its_children_are_its_tree_a_later_exec_is_not():
    got = with_init_tree(frames(_pod())["procs"])
    assert dict(got.select("exec_id", "in_init_tree").iter_rows()) == {
        "rt": None, "main": True, "kid": True, "sh": False, "curl": False}
    # a source that says keeps its word
    said = frames(_pod(init=True))["procs"]
    assert with_init_tree(said)["in_init_tree"].to_list() == said["in_init_tree"].to_list()
    # no start times (Inspektor Gadget): nothing inferred
    untimed = frames(_pod())["procs"].with_columns(pl.lit(None, pl.Int64).alias("start_ns"))
    assert with_init_tree(untimed)["in_init_tree"].null_count() == untimed.height


def test_an_exec_d_shell_reads_as_exec_d_and_the_main_process_as_running_when_the_source_does_not_say():
    fr = frames(_pod(), [flow("f", 101 * S + 5 * MS, "curl", ("a", "web-1"), None, 443, dst_ip="203.0.113.7")],
                hits=_hits([{"rule_id": "r", "title": "r", "level": "medium", "exec_id": "main", "event_id": "h",
                             "time_ns": 10 * S, "techniques": [], "tactics": []}]))
    f = find_in(**fr)
    parts = [*f.incidents, *f.leads]
    assert any("exec'd into pod web-1 from outside its container's own tree" in " ".join(x.why) for x in parts), \
        [x.why for x in parts]
    assert any("already running in the container" in " ".join(x.why) for x in parts), [x.why for x in parts]


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
