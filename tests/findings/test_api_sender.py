"""A ``pods/exec`` whose source address is no pod's (NATed): the one process that connected to
the API server then sent it, and a routine tool's run that sent it is the incident's entry."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.correlate import _api
from kernelsec_nb.findings import _api_acts as A
from kernelsec_nb.findings.engine import find_in
from tests.findings.test_engine import MS, S, _hits, flow, frames, proc

CALL = {"call_id": pl.String, "time_ns": pl.Int64, "verb": pl.String, "resource": pl.String,
        "subresource": pl.String, "namespace": pl.String, "name": pl.String, "created_name": pl.String,
        "src_pod": pl.String}
CONN = {"event_id": pl.String, "time_ns": pl.Int64, "ref_time_ns": pl.Int64, "node": pl.String,
        "namespace": pl.String, "pod": pl.String, "exec_id": pl.String, "daddr": pl.String, "dport": pl.Int64}


def _calls(*rows):
    return pl.DataFrame([dict(zip(CALL, r, strict=True)) for r in rows], schema=CALL)


def _conns(*rows):
    return pl.DataFrame([dict(zip(CONN, r, strict=True)) for r in rows], schema=CONN)


def test_an_unsourced_exec_is_the_one_process_that_connected_to_the_api_server_just_before_on_the_reference_clock():
    c = _calls(("x", 100 * S, "create", "pods", "exec", "shop", "web-1", None, None),
               ("l", 100 * S, "list", "pods", None, "shop", None, None, None))
    # the node reads 300 ms ahead: raw, the connect is after the call; on the reference clock 20 ms before
    k = _conns(("k1", 100 * S + 280 * MS, 100 * S - 20 * MS, "n1", "ops", "jump-1", "plug", "172.18.0.2", 6443),
               ("k2", 90 * S, 90 * S, "n1", "ops", "jump-1", "old", "172.18.0.2", 6443),
               ("k3", 100 * S, 100 * S, "n2", "shop", "web-2", "app", "151.101.2.1", 443))
    got = _api.by_timing(c, k)
    assert got.select("call_id", "src_pod", "src_match", "exec_id").rows() == [
        ("x", "jump-1", "timing", "plug"), ("l", None, None, None)]  # a list acts on no pod
    # two processes connecting then: nobody is named
    k2 = pl.concat([k, _conns(("k4", 100 * S - 200 * MS, 100 * S - 200 * MS, "n2", "ci", "run-1", "ci", "10.0.0.1", 6443))])
    assert _api.by_timing(c, k2)["exec_id"].to_list() == [None, None]
    # a call another rule named a pod for keeps it
    named = c.with_columns(pl.lit("other-1").alias("src_pod"), pl.lit("ip").alias("src_match"))
    assert _api.by_timing(named, k)["src_pod"].to_list() == ["other-1", "other-1"]


def test_a_routine_commands_run_that_alone_sent_an_exec_is_unusual_but_a_kubectl_exec_is_not():
    calls = pl.DataFrame({"exec_id": ["p2", "k1", "k2"], "linked_exec_id": ["sh", "s1", "s2"]})
    procs = pl.DataFrame({"exec_id": ["p1", "p2", "p3", "k1", "k2"], "workload": ["jump"] * 5,
                          "binary": ["/bin/plug"] * 3 + ["/bin/kubectl"] * 2,
                          "args": ["-n a web"] * 3 + ["exec db-0 -- psql"] * 2})
    assert A.unusual_senders(calls, procs).to_list() == ["p2"]


def _plugin_exec_then_web_shell():
    """A tool run in every session of a jump pod; one run also sends a pods/exec into web-1 whose
    shell drops a script the server later reads, then starts a shell that connects out."""
    procs = [proc("jmain", None, "jump-1", "/usr/bin/sleep", "infinity", t=-1000 * S, seen="event", ns="ops"),
             proc("srv", None, "web-1", "/usr/sbin/srv", "-F", t=-1000 * S, seen="event", node="n2")]
    for n in range(6):
        t = n * 300 * S
        procs += [proc(f"bash{n}", "rt1", "jump-1", "/bin/bash", "", t, ns="ops", init=False, exit_ns=t + 200 * S),
                  proc(f"plug{n}", f"bash{n}", "jump-1", "/root/bin/plug", "-n a web", t + 5 * S, ns="ops",
                       init=False, exit_ns=t + 40 * S)]
    procs += [proc("rt1", None, None, "/usr/bin/runc", "", -2000 * S),
              proc("rt2", None, None, "/usr/bin/runc", "", -2000 * S, node="n2"),
              proc("drop", "rt2", "web-1", "/bin/sh", "-c echo x | base64 -d > /www/up/x.php", 906 * S, init=False,
                   node="n2", exit_ns=906 * S + 500 * MS),
              proc("rs", "srv", "web-1", "/bin/sh", "-c bash -i", 3000 * S, node="n2"),
              proc("bi", "rs", "web-1", "/bin/bash", "-i", 3000 * S + 4 * MS, node="n2")]
    kw = {"node": "n2", "namespace": "a", "pod": "web-1", "workload": "web", "daddr": None, "dport": None,
          "kind": "process_kprobe", "function_name": "security_file_permission", "file_path": "/www/up/x.php"}
    kp = [{**kw, "event_id": "w1", "time_ns": 906 * S + 7 * MS, "exec_id": "drop", "hook_args": '[{"int_arg":2}]'},
          {**kw, "event_id": "r1", "time_ns": 3000 * S - 2 * MS, "exec_id": "srv", "hook_args": '[{"int_arg":4}]'}]
    flows = [flow("c1", 3000 * S + 5 * MS, "bi", ("a", "web-1"), None, 443, dst_ip="203.0.113.9")]
    hits = _hits([{"rule_id": "falco:Reverse shell", "title": "Reverse shell", "level": "critical",
                   "techniques": ["T1059.004"], "exec_id": "rs", "event_id": "h1"}])
    fr = frames(procs, flows, kp, hits)
    fr["api"] = pl.DataFrame({
        "event_id": ["a1"], "time_ns": [906 * S - 40 * MS], "verb": ["create"], "resource": ["pods"],
        "subresource": ["exec"], "namespace": ["a"], "name": ["web-1"], "target_pod": ["web-1"],
        "user": ["oidc:bob"], "exec_id": ["plug3"], "linked_exec_id": ["drop"], "link": ["exec"],
        "created_name": [None], "code": [101]}, schema_overrides={"created_name": pl.String})
    return fr


def test_the_routine_tool_run_whose_exec_dropped_the_web_shell_is_the_incidents_entry():
    (i,) = find_in(**_plugin_exec_then_web_shell()).incidents
    assert i.entry is not None and i.entry.exec_id == "plug3"
    assert i.node == "n1" and i.pod == "jump-1"
