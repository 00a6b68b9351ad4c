"""A file an exec'd session dropped, read by the pod's server right before it started a command
(a web shell): the session joins what the command did."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import graph as G
from kernelsec_nb.findings.engine import find_in
from tests.findings.test_engine import MS, S, _hits, flow, frames, proc

K = {"node": "n1", "namespace": "a", "pod": "web-1", "workload": "web", "daddr": None, "dport": None}


def _hook(eid, t, exec_id, path, mask):
    return {**K, "event_id": eid, "kind": "process_kprobe", "time_ns": t, "exec_id": exec_id,
            "function_name": "security_file_permission", "file_path": path,
            "hook_args": f'[{{"file_arg":{{}}}},{{"int_arg":{mask}}}]'}


def _dropped_then_served(read: bool = True):
    """A session exec'd into web-1 (from outside the container's tree) writes up/x.php; half an hour
    later the server reads it and starts ``sh -c id``, then a shell that connects out."""
    procs = [proc("srv", None, "web-1", "/usr/sbin/srv", "-F", t=-1000 * S, seen="event"),
             proc("drop", "shim", "web-1", "/bin/sh", "-c echo x | base64 -d > up/x.php", 100 * S, init=False,
                  exit_ns=100 * S + 500 * MS),
             proc("b64", "drop", "web-1", "/usr/bin/base64", "-d", 100 * S + 5 * MS, init=False,
                  exit_ns=100 * S + 9 * MS),
             proc("id", "srv", "web-1", "/bin/sh", "-c id", 2000 * S, exit_ns=2000 * S + 8 * MS),
             proc("rs", "srv", "web-1", "/bin/sh", "-c bash -i", 2050 * S),
             proc("bi", "rs", "web-1", "/bin/bash", "-i", 2050 * S + 4 * MS),
             proc("shim", None, None, "/usr/bin/runc", "", 99 * S)]
    kp = [_hook("w1", 100 * S + 7 * MS, "drop", "/www/up/x.php", 2)]
    if read:
        kp += [_hook("r1", 2000 * S - 2 * MS, "srv", "/www/up/x.php", 4),
               _hook("r2", 2050 * S - 2 * MS, "srv", "/www/up/x.php", 4)]
    flows = [flow("c1", 2050 * S + 5 * MS, "bi", ("a", "web-1"), None, 443, dst_ip="203.0.113.9")]
    hits = _hits([{"rule_id": "falco:Reverse shell", "title": "Reverse shell", "level": "critical",
                   "techniques": ["T1059.004"], "exec_id": "rs", "event_id": "h1"}])
    return frames(procs, flows, kp, hits)


def test_a_child_started_right_after_its_parent_read_a_dropped_file_is_linked_to_the_file():
    fr = _dropped_then_served()
    acc = G.file_accesses(fr["kprobes"])
    got = G.read_spawn_edges(acc, fr["procs"]).select("src", "dst", "kind").rows()
    assert got == [("file:a/web-1:/www/up/x.php", "proc:id", "read_spawn"),
                   ("file:a/web-1:/www/up/x.php", "proc:rs", "read_spawn")]
    # the writer's own reads, and a child started long after the read, are none
    late = fr["procs"].with_columns(pl.col("start_ns") + pl.when(pl.col("parent_exec_id") == "srv").then(5 * S)
                                    .otherwise(0))
    assert G.read_spawn_edges(acc, late).height == 0


def test_the_session_that_dropped_a_file_the_server_read_before_its_shell_is_the_incidents_entry():
    (i,) = find_in(**_dropped_then_served()).incidents
    assert i.entry is not None and i.entry.exec_id == "drop"
    assert not any("drop" in lead.exec_ids for lead in find_in(**_dropped_then_served()).leads)


def test_without_a_read_the_dropping_session_stays_apart():
    # (no working directory is known: nothing says the server serves that path; test_served.py has
    # the same drop under the server's working directory)
    f = find_in(**_dropped_then_served(read=False))
    assert all(i.entry is None or i.entry.exec_id != "drop" for i in f.incidents)
