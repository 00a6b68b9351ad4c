"""Edge builders, one test (or a few) per edge kind, on a few rows of plain polars data."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings.graph import (
    EDGE_SCHEMA,
    GraphSettings,
    connect_edges,
    file_accesses,
    file_edges,
    http_edges,
    service_edges,
    spawn_edges,
)

MS = 1_000_000
S = 1_000_000_000


def _procs(rows):
    cols = ["exec_id", "parent_exec_id", "node", "namespace", "pod", "binary", "args", "start_ns"]
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows], schema={
        c: (pl.Int64 if c == "start_ns" else pl.String) for c in cols})


def _flows(rows):
    cols = ["event_id", "time_ns", "exec_id", "src_namespace", "src_pod", "src_ip", "src_port",
            "dst_namespace", "dst_pod", "dst_ip", "dst_port", "verdict", "is_reply", "http_method", "http_url"]
    types = {"time_ns": pl.Int64, "src_port": pl.Int64, "dst_port": pl.Int64, "is_reply": pl.Boolean}
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows],
                        schema={c: types.get(c, pl.String) for c in cols})


def test_spawn_edges_parent_to_child_only_when_the_parent_is_named():
    p = _procs([("a", None, "n", "ns", "p", "/bin/sh", "", 1),
                ("b", "a", "n", "ns", "p", "/usr/bin/curl", "-s x", 2),
                ("c", "zz", "n", "ns", "p", "/bin/id", None, 3)])
    e = spawn_edges(p)
    assert e.schema == pl.Schema(EDGE_SCHEMA)
    assert e.select("src", "dst", "kind", "time_ns", "why").rows() == [
        ("proc:a", "proc:b", "spawn", 2, "started /usr/bin/curl -s x"),
        ("proc:zz", "proc:c", "spawn", 3, "started /bin/id")]  # a parent the capture only names is a node too


def test_connect_edges_pods_addresses_drops_and_replies():
    f = _flows([
        ("f1", 10, "a", "x", "app", "10.0.0.1", 40000, "y", "db-0", "10.0.0.2", 5432, "FORWARDED", False, None, None),
        ("f2", 11, "a", "x", "app", "10.0.0.2", 5432, "x", "app", "10.0.0.1", 40000, "FORWARDED", True, None, None),
        ("f3", 12, "a", "x", "app", "10.0.0.1", 40001, "y", "db-0", "10.0.0.2", 5432, "FORWARDED", False, None, None),
        ("f4", 13, "a", "x", "app", "10.0.0.1", 40002, None, None, "6.6.6.6", 4444, "FORWARDED", False, None, None),
        ("f5", 14, "a", "x", "app", "10.0.0.1", 40003, "y", "api-0", "10.0.0.3", 80, "DROPPED", False, "PUT",
         "http://api/v1/x"),
        ("f6", 15, None, "x", "app", "10.0.0.1", 40004, None, None, "7.7.7.7", 53, "FORWARDED", False, None, None),
    ])
    e = connect_edges(f)
    assert e.select("src", "dst", "kind", "event_id").rows() == [
        ("proc:a", "pod:y/db-0", "connect", "f1"),
        ("proc:a", "ext:6.6.6.6:4444", "connect", "f4"),
        ("proc:a", "pod:y/api-0", "blocked", "f5")]
    assert e["why"].to_list() == ["y/db-0:5432 (2 flows)", "6.6.6.6:4444",
                                  "dropped: y/api-0:80 PUT http://api/v1/x"]


def test_service_edges_link_a_connection_to_what_the_destination_pod_did_next():
    f = _flows([
        ("f1", 100 * MS, "cli", "a", "app-1", None, None, "b", "sched-0", None, 8080, "FORWARDED", False, "PUT", "/jobs/x"),
        ("f2", 200 * MS, "cli", "a", "app-1", None, None, "b", "sched-0", None, 8080, "DROPPED", False, None, None),
        ("f3", 300 * MS, "self", "b", "sched-0", None, None, "b", "sched-0", None, 8080, "FORWARDED", False, None, None),
    ])
    p = _procs([("job", "main", "n2", "b", "sched-0", "/bin/sh", "/jobs/x.sh", 350 * MS),   # after f3 (own pod): f1's
                ("late", "main", "n2", "b", "sched-0", "/bin/sh", "", 100 * MS + 6 * S),      # outside the window
                ("other", "m", "n2", "c", "web-0", "/bin/sh", "", 150 * MS)])                  # another pod
    acc = pl.DataFrame({"exec_id": ["main"], "node": ["n2"], "namespace": ["b"], "pod": ["sched-0"],
                        "path": ["/jobs/x.sh"], "time_ns": [120 * MS], "event_id": ["k1"], "access": ["write"]})
    e = service_edges(f, p, acc)
    assert e.select("src", "dst", "kind").rows() == [
        ("proc:cli", "proc:job", "service"), ("proc:cli", "file:b/sched-0:/jobs/x.sh", "service_write")]
    assert e["why"][0] == "b/sched-0 started /bin/sh 250 ms after a connection to sched-0:8080"
    assert service_edges(f, p, acc, GraphSettings(service_window_ns=100 * MS)).height == 1  # only the write


def test_file_accesses_reads_the_permission_mask():
    k = pl.DataFrame({"exec_id": ["a", "b", "c", "d"], "file_path": ["/x", "/x", "/y", None],
                      "time_ns": [1, 2, 3, 4],
                      "function_name": ["security_file_permission", "security_file_permission", "fd_install", "x"],
                      "hook_args": ['[{"file_arg":{"path":"/x"}},{"int_arg":10}]', '[{"int_arg": 4}]', None, None]})
    assert file_accesses(k).select("exec_id", "access").rows() == [("a", "write"), ("b", "read"), ("c", "read")]


def test_file_edges_written_then_run_or_read_later():
    acc = pl.DataFrame({
        "exec_id": ["w", "r", "w", "early", "w"],
        "node": ["n1"] * 5, "namespace": ["a", "a", "a", "a", "a"], "pod": ["p"] * 5,
        "path": ["/tmp/.x", "/tmp/.x", "/tmp/.x", "/etc/cron.d/job", "/tmp/unused"],
        "time_ns": [10, 20, 25, 5, 30], "event_id": ["k1", "k2", "k3", "k4", "k5"],
        "access": ["write", "read", "read", "read", "write"]})
    p = _procs([("run", "r0", "n1", "a", "p", "/tmp/.x", "", 40),
                ("before", "r0", "n1", "a", "p", "/tmp/.x", "", 5),           # ran before the write
                ("script", "r0", "n1", "b", "q", "/bin/sh", "/tmp/.x", 50),  # another pod on the node: a run counts
                ("far", "r0", "n2", "a", "p2", "/tmp/.x", "", 60)])          # another node
    e = file_edges(acc, p)
    assert e.select("src", "dst", "kind").rows() == [
        ("proc:w", "file:a/p:/tmp/.x", "write"),
        ("file:a/p:/tmp/.x", "proc:r", "read_file"),      # the writer's own read (k3) is no hand-off
        ("file:a/p:/tmp/.x", "proc:run", "exec_file"),
        ("file:a/p:/tmp/.x", "proc:script", "exec_file")]
    assert e.filter(pl.col("kind") == "write")["event_id"].to_list() == ["k1"]


def test_file_edges_a_read_in_another_pod_is_not_the_same_file():
    acc = pl.DataFrame({"exec_id": ["w", "r"], "node": ["n1", "n1"], "namespace": ["a", "a"], "pod": ["p", "q"],
                        "path": ["/etc/passwd"] * 2, "time_ns": [1, 2], "event_id": ["k1", "k2"],
                        "access": ["write", "read"]})
    assert file_edges(acc, _procs([])).height == 0


def test_http_edges_request_to_the_process_that_started_a_child():
    f = _flows([
        ("r1", 1 * S, None, None, None, "203.0.113.9", 5555, "a", "web-1", "10.0.0.5", 80, "FORWARDED", False,
         "POST", "http://shop/upload?f=x"),
        ("r2", 1 * S + 500 * MS, "cli", "b", "cl-0", "10.0.1.1", 4444, "a", "web-1", "10.0.0.5", 80, "FORWARDED",
         False, "GET", "/health"),
        ("r3", 9 * S, None, None, None, "203.0.113.9", 5556, "a", "web-1", "10.0.0.5", 80, "FORWARDED", False,
         "GET", "/"),
    ])
    p = _procs([("srv", None, "n", "a", "web-1", "/srv", "", 0),
                ("sh", "srv", "n", "a", "web-1", "/bin/sh", "-c id", 1 * S + 200 * MS),
                ("ex", "kubectl", "n", "a", "web-1", "/bin/sh", "", 9 * S + 100 * MS)])  # parent not in the pod
    e = http_edges(f, p)
    assert e.select("src", "dst", "kind", "event_id").rows() == [("ext:203.0.113.9:5555", "proc:srv", "http", "r1")]
    assert e["why"][0] == "POST http://shop/upload?f=x → /bin/sh 200 ms later"
    assert http_edges(f, p, GraphSettings(http_window_ns=100 * MS)).height == 0


def test_service_edges_without_writes_in_any_pod():
    f = _flows([("f1", 100, "cli", "a", "app-1", None, None, "b", "s-0", None, 80, "FORWARDED", False, None, None)])
    acc = pl.DataFrame({"exec_id": ["h"], "node": ["n"], "namespace": [None], "pod": [None], "path": ["/x"],
                        "time_ns": [120], "event_id": ["k"], "access": ["write"]},
                       schema_overrides={"namespace": pl.String, "pod": pl.String})
    assert service_edges(f, _procs([]), acc).height == 0


def test_api_edges_a_call_to_the_api_then_a_new_pod_starts():
    from kernelsec_nb.findings.graph import api_edges

    calls = pl.DataFrame({"exec_id": ["kubectl", "kubectl", "other"], "dst_port": [6443, 443, 6443],
                          "time_ns": [10 * S, 11 * S, 500 * S], "event_id": ["c1", "c2", "c3"]})
    p = pl.DataFrame({
        "exec_id": ["kubectl", "new1", "new2", "old", "late"],
        "namespace": ["ci", "ci", "ci", "x", "y"], "pod": ["runner", "dbg", "dbg", "web", "late"],
        "start_ns": [5 * S, 40 * S, 41 * S, 30 * S, 900 * S], "seen_as": ["exec", "exec", "exec", "event", "exec"],
        "binary": ["/kubectl", "/nsenter", "/sh", "/srv", "/x"]})
    e = api_edges(calls, p)
    # the first process of the pod that started 30 s after the call; not a pod running before the
    # capture, not one started long after any call
    assert e.select("src", "dst", "kind", "event_id").rows() == [("proc:kubectl", "proc:new1", "api", "c1")]
    assert e["why"][0] == "pod ci/dbg started 30 s after /kubectl called the Kubernetes API"
    assert api_edges(calls, p, GraphSettings(api_window_ns=10 * S)).height == 0


def test_connect_edges_from_connect_hooks_alone_without_namespace_columns():
    """Connections from Tetragon's connect hooks (no flows): no ``dst_namespace``, an outside address."""
    from kernelsec_nb.findings.graph import connect_edges

    conns = pl.DataFrame({"exec_id": ["m"], "src_workload": ["w"], "dst_ip": ["45.9.148.108"], "dst_port": [4444],
                          "time_ns": [5], "event_id": ["k1"], "dst_workload": [None], "dst_pod": [None]},
                         schema_overrides={"dst_workload": pl.String, "dst_pod": pl.String})
    assert connect_edges(conns).select("dst", "kind").rows() == [("ext:45.9.148.108:4444", "connect")]


def test_file_edges_an_open_of_unknown_mode_then_the_path_run_by_another_process_is_a_write():
    # `kubectl cp` = tar opening /tmp/tool (security_file_open: no mode), then /tmp/tool exec'd
    k = pl.DataFrame({"exec_id": ["tar", "cat"], "file_path": ["/tmp/tool", "/etc/hosts"], "time_ns": [10, 11],
                      "function_name": ["security_file_open"] * 2, "hook_args": pl.Series([None, None], dtype=pl.String),
                      "node": ["n1"] * 2, "namespace": ["a"] * 2, "pod": ["p"] * 2})
    acc = file_accesses(k)
    assert acc["mode_known"].to_list() == [False, False]
    p = _procs([("tool", "r0", "n1", "a", "p", "/tmp/tool", "--scan", 40),
                ("old", "r0", "n1", "a", "p", "/bin/ls", "/etc/hosts", 50)])
    assert file_edges(acc, p).select("src", "dst", "kind").rows() == [
        ("proc:tar", "file:a/p:/tmp/tool", "write"), ("file:a/p:/tmp/tool", "proc:tool", "exec_file")]
    # a program already run before the open (a loader, a scanner reading it) is no delivery
    p2 = _procs([("tool0", "r0", "n1", "a", "p", "/tmp/tool", "", 5), ("tool", "r0", "n1", "a", "p", "/tmp/tool", "", 40)])
    assert file_edges(acc, p2).height == 0


def test_http_edges_a_server_started_before_the_capture_handles_what_its_init_tree_child_shows():
    # the server never seen starting (only as a parent); its child is in the container's own tree
    f = _flows([("r1", 1 * S, None, "ingress", "nginx-0", "10.0.7.7", 5555, "a", "nb-0", "10.0.0.5", 8080,
                 "FORWARDED", False, "POST", "http://nb/api/kernels")])
    p = _procs([("kernel", "srv", "n", "a", "nb-0", "/usr/bin/python3", "-m ipykernel", 1 * S + 50 * MS),
                ("ex", "shim", "n", "a", "nb-0", "/bin/sh", "", 1 * S + 60 * MS)])
    p = p.with_columns(pl.Series("in_init_tree", [True, False]))
    e = http_edges(f, p)
    assert e.select("src", "dst", "kind").rows() == [("pod:ingress/nginx-0", "proc:srv", "http")]


def test_dns_edges_one_per_lookup_of_a_process_to_its_domain():
    from kernelsec_nb.findings.graph import dns_edges

    q = pl.DataFrame({"exec_id": ["p", "p", None], "domain": ["t.x.net"] * 3, "time_ns": [1, 2, 3],
                      "event_id": ["d1", "d2", "d3"], "dns_query": ["a1.t.x.net.", "b2.t.x.net.", "c3.t.x.net."]})
    e = dns_edges(q)
    assert e.select("src", "dst", "kind", "event_id").rows() == [
        ("proc:p", "dns:t.x.net", "dns", "d1"), ("proc:p", "dns:t.x.net", "dns", "d2")]
    assert e["why"][0] == "looked up a1.t.x.net." and dict(e.schema) == EDGE_SCHEMA


def test_service_edges_what_the_destination_pod_fetched_from_outside_next():
    """A client's connection into db-0, then db-0's server connects out (an address its workload
    does not use all day: the caller passes only those) within the window: ``service_connect``.
    One long after the window, or from another pod, is not linked."""
    f = _flows([("c1", 100 * S, "cli", "a", "web-1", "10.0.0.1", 40000, "b", "db-0", "10.0.1.2", 6379,
                 "FORWARDED", False, None, None)])
    p = _procs([("srv", None, "n2", "b", "db-0", "/srv/db", "", 0)])
    out = pl.DataFrame({"namespace": ["b", "b", "c"], "pod": ["db-0", "db-0", "x-0"],
                        "time_ns": [100 * S + 300 * MS, 200 * S, 100 * S + 300 * MS],
                        "dst_ip": ["203.0.113.7"] * 3, "dst_port": [6379] * 3, "event_id": ["o1", "o2", "o3"]})
    e = service_edges(f, p, outward=out)
    assert e.select("src", "dst", "kind", "event_id").rows() == [
        ("proc:cli", "ext:203.0.113.7:6379", "service_connect", "o1")]
    assert e["why"][0] == "b/db-0 connected out to 203.0.113.7:6379 300 ms after a connection to db-0:6379"


def test_file_edges_a_run_in_another_pod_that_has_the_path_of_its_own_is_not_the_writers_file():
    # each run of a CronJob downloads /tmp/m into its own container and runs it: run 2's processes
    # (its shell naming the path, then its own download and run) are not run 1's file
    acc = pl.DataFrame({"exec_id": ["dl1", "dl2", "w"], "node": ["n1"] * 3, "namespace": ["a"] * 3,
                        "pod": ["job-1", "job-2", "p"], "path": ["/tmp/m", "/tmp/m", "/opt/t"],
                        "time_ns": [10, 110, 200], "event_id": ["k1", "k2", "k3"], "access": ["write"] * 3})
    p = _procs([("m1", "sh1", "n1", "a", "job-1", "/tmp/m", "", 20),
                ("sh2", "r0", "n1", "a", "job-2", "/bin/sh", "-c /tmp/m", 100),   # names the path before its write
                ("m2", "sh2", "n1", "a", "job-2", "/tmp/m", "", 120),
                ("t0", "r0", "n1", "b", "q", "/opt/t", "", 150),                  # its image's /opt/t, run before
                ("t1", "r0", "n1", "b", "q", "/opt/t", "", 250),
                ("t2", "r0", "n1", "c", "s", "/opt/t", "", 260)])                # nothing of its own: a shared volume
    e = file_edges(acc, p).filter(pl.col("kind") == "exec_file")
    assert sorted(e.select("src", "dst").rows()) == [
        ("file:a/job-1:/tmp/m", "proc:m1"), ("file:a/job-2:/tmp/m", "proc:m2"), ("file:a/p:/opt/t", "proc:t2")]


def test_file_edges_a_path_another_pod_wrote_whose_next_run_starts_something_new_is_joined_also_across_nodes():
    # a hook script on a volume two pods mount (NFS, another node): pod a/api-1 appends to it at 200;
    # b/trainer-1 ran it before (it starts python) and never wrote it. Its run after the write that starts
    # curl is that file, changed; its run that starts only python again is not joined.
    acc = pl.DataFrame({"exec_id": ["app", "rep1", "rep2"], "node": ["n1", "n1", "n2"], "namespace": ["a", "c", "c"],
                        "pod": ["api-1", "web-1", "web-2"], "path": ["/hooks/pre.sh", "/app/run.sh", "/app/run.sh"],
                        "time_ns": [200, 50, 60], "event_id": ["k1", "k2", "k3"], "access": ["write"] * 3})
    p = _procs([("h0", "r0", "n2", "b", "trainer-1", "/bin/sh", "/hooks/pre.sh", 100),
                ("py0", "h0", "n2", "b", "trainer-1", "/usr/bin/python3", "sync.py", 101),
                ("h1", "r0", "n2", "b", "trainer-1", "/bin/sh", "/hooks/pre.sh", 300),     # same as before
                ("py1", "h1", "n2", "b", "trainer-1", "/usr/bin/python3", "sync.py", 301),
                ("h2", "r0", "n2", "b", "trainer-1", "/bin/sh", "/hooks/pre.sh", 400),     # starts curl: new
                ("py2", "h2", "n2", "b", "trainer-1", "/usr/bin/python3", "sync.py", 401),
                ("cu2", "h2", "n2", "b", "trainer-1", "/usr/bin/curl", "-s http://x/t", 402),
                # on another node with nothing of the path before: no sign of a shared volume
                ("o1", "r0", "n2", "d", "other-1", "/bin/sh", "/hooks/pre.sh", 500),
                ("oc", "o1", "n2", "d", "other-1", "/usr/bin/curl", "-s http://y", 501),
                # every replica writes its own /app/run.sh and runs it: its own file, on any node
                ("w1", "r0", "n1", "c", "web-1", "/app/run.sh", "", 70),
                ("w2", "r0", "n2", "c", "web-2", "/app/run.sh", "", 80),
                ("w2b", "w2", "n2", "c", "web-2", "/usr/bin/curl", "", 81)])
    e = file_edges(acc, p).filter(pl.col("kind") == "exec_file")
    assert sorted(e.select("src", "dst").rows()) == [
        ("file:a/api-1:/hooks/pre.sh", "proc:h2"), ("file:c/web-1:/app/run.sh", "proc:w1"),
        ("file:c/web-2:/app/run.sh", "proc:w2")]


def test_escape_edges_come_from_the_latest_escape_before_the_host_process():
    # a DaemonSet's routine nsenter -t 1 at 10 and 400; a pod's escape at 1000; its implant at 1002
    from kernelsec_nb.findings.graph import escape_edges
    p = pl.DataFrame({"exec_id": ["npd1", "npd2", "esc", "impl", "late"], "parent_exec_id": ["d", "d", "c", "sd", "sd"],
                      "node": ["n"] * 5, "pod": ["npd-1", "npd-1", "x-1", None, None],
                      "start_ns": [10, 400, 1000, 1002, 1500], "binary": ["/usr/bin/nsenter"] * 3 + ["/usr/local/bin/h"] * 2})
    h = pl.DataFrame({"exec_id": ["npd1", "npd2", "esc"], "techniques": [["T1611"]] * 3})
    e = escape_edges(p, h, ["impl", "late"])
    assert e.select("src", "dst").rows() == [("proc:esc", "proc:impl"), ("proc:esc", "proc:late")]
