"""Which processes are of their container's own tree where the source does not say (Tracee):
the container's first process and what it starts are; what came in later from outside the
container (an exec) is not."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._init_tree import with_init_tree
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
