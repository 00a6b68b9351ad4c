"""A client naming a pod and a command → that command exec'd into the pod (``findings._exec_named``)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._exec_named import named_exec_edges

S = 1_000_000_000
MS = 1_000_000


def _procs(client_args: str, late: bool = False):
    rows = [  # (exec_id, parent, pod, binary, args, start, in_init_tree)
        ("k", "sh", "ide-1", "/home/u/kubectl", client_args, 100 * S, True),
        # what the runtime started in the debug pod (another node): the escape, and an unrelated exec
        ("ns", "shim", "dbg", "/usr/bin/nsenter", "-t 1 -m -u -i -n -p -- bash -c \"tar czf /tmp/k.tgz /etc\"",
         100 * S + (30 * S if late else 180 * MS), False),
        ("ls", "shim", "dbg", "/bin/ls", "-la", 101 * S, False),
        ("sh2", "shim", "dbg-2", "/bin/sh", "", 101 * S, False),   # a shell in a pod whose name begins alike
        ("child", "ns", "dbg", "/usr/bin/tar", "czf /tmp/k.tgz /etc", 100 * S + 200 * MS, False),
    ]
    cols = ["exec_id", "parent_exec_id", "pod", "binary", "args", "start_ns", "in_init_tree"]
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows])


def test_kubectl_exec_links_to_the_command_it_names_in_the_pod_it_names():
    args = "exec dbg -- nsenter -t 1 -m -u -i -n -p -- bash -c \"tar czf /tmp/k.tgz /etc\""
    e = named_exec_edges(_procs(args))
    assert e.select("src", "dst", "kind").rows() == [("proc:k", "proc:ns", "api")]


def test_an_interactive_shell_is_named_by_its_program():
    e = named_exec_edges(_procs("exec -it dbg-2 -- sh"))
    assert e.select("src", "dst").rows() == [("proc:k", "proc:sh2")]


def test_another_command_another_pod_or_too_late_is_no_link():
    assert named_exec_edges(_procs("exec dbg -- cat /etc/hostname")).height == 0
    assert named_exec_edges(_procs("logs dbg-3 -f")).height == 0
    args = "exec dbg -- nsenter -t 1 -m -u -i -n -p -- bash -c \"tar czf /tmp/k.tgz /etc\""
    assert named_exec_edges(_procs(args, late=True)).height == 0
