"""A pod that reaches an incident's outside address joins the incident (``shared_endpoint``)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._shared import SHARED_ENDPOINT, shared_endpoint_edges


def _conns(rows):
    cols = ["exec_id", "namespace", "pod", "dst_ip", "dst_port", "time_ns", "event_id"]
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows], schema={
        c: (pl.Int64 if c in ("dst_port", "time_ns") else pl.String) for c in cols})


ADDR = pl.DataFrame({"key": ["k"], "namespace": ["a"], "pod": ["web-1"], "ip": ["6.6.6.6"], "port": [443],
                     "known": [["b/api-1"]]})


def test_another_pods_process_that_reached_the_incidents_address_is_linked_to_its_key_command():
    c = _conns([("j", "b", "job-1", "6.6.6.6", 443, 5, "f1"),
                ("j", "b", "job-1", "6.6.6.6", 443, 9, "f2"),     # one edge per process and address
                ("w", "a", "web-1", "6.6.6.6", 443, 6, "f3"),     # the incident's own pod
                ("r", "b", "api-1", "6.6.6.6", 443, 6, "f4"),     # a pod it already reached
                ("o", "b", "job-1", "6.6.6.6", 80, 6, "f5")])     # another port
    e = shared_endpoint_edges(ADDR, c)
    assert e.select("src", "dst", "kind", "event_id").rows() == [("proc:k", "proc:j", SHARED_ENDPOINT, "f1")]


def test_an_address_that_is_a_workloads_routine_destination_links_nothing():
    c = _conns([("j", "b", "job-1", "6.6.6.6", 443, 5, "f1")])
    rdest = pl.DataFrame({"src_workload": ["billing"], "dst": ["6.6.6.6"], "dst_port": [443], "reason": ["all day"]})
    assert shared_endpoint_edges(ADDR, c, rdest).height == 0


def test_the_c2_host_reached_on_another_port_links_and_names_the_port():
    from kernelsec_nb.findings._records import Endpoint, Entry, Incident, KeyCommand
    from kernelsec_nb.findings._shared import own_host_endpoints, shared_endpoint_edges
    inc = pl.DataFrame({"key": ["k", "k"], "namespace": ["a", "a"], "pod": ["web-1", "web-1"],
                        "ip": ["6.6.6.6", "7.7.7.7"], "port": [443, 443], "role": ["c2", "exfil"]})
    conns = pl.DataFrame({"exec_id": ["j", "u"], "namespace": ["b", "b"], "pod": ["job-1", "up-1"],
                          "dst_ip": ["6.6.6.6", "7.7.7.7"], "dst_port": [8443, 9001], "time_ns": [5, 6],
                          "event_id": ["f1", "f2"]})
    # the C2's host on another port links; an exfil address's (a storage service's) other port does not
    assert shared_endpoint_edges(inc, conns).select("src", "dst").rows() == [("proc:k", "proc:j")]
    i = Incident(rank=1, confidence="high", why=[], pod="web-1", namespace="a", workload=None, node="n",
                 entry=Entry("e", None, None, None), key_command=KeyCommand(None, None, "k", None), chain=[],
                 reached=[], endpoints=[Endpoint("6.6.6.6", 443, None, "c2"), Endpoint("7.7.7.7", 443, None, "exfil")],
                 techniques={})
    out = conns.with_columns(pl.lit(None, pl.String).alias("src_workload"), pl.lit("api").alias("exec_id"))
    (j,) = own_host_endpoints([i], out, None)
    assert [(e.ip, e.port, e.role) for e in j.endpoints][2:] == [("6.6.6.6", 8443, "unknown")]


def test_a_pool_the_incident_brought_into_the_capture_joins_every_run_of_its_schedule():
    """The intruder's shell mines to a pool first; a schedule then runs the miner in a new pod every
    5 min all through the capture (each run its own workload), so the pool is reached by many pods
    of the namespace over most windows.  The incident brought that address in: it is no routine
    destination for the shared-endpoint join, and every run joins the incident.  Another address
    the runs reach that something reached before the incident keeps its routine."""
    from tests.findings.test_engine import MS, S, _hits, find_in, flow, frames, proc

    # (a sensor with exit events, as Tetragon: the setup's own id exits; the shell that mines keeps running)
    procs = [proc("rmain", None, "run-1", "/runner", t=-100 * S, seen="event", ns="ci"),
             proc("sh", "rmain", "run-1", "/bin/sh", "-c setup", 10 * S, ns="ci", init=False),
             proc("id", "sh", "run-1", "/usr/bin/id", "", 10 * S + 5 * MS, ns="ci", init=False,
                  exit_ns=10 * S + 9 * MS)]
    flows = [flow("f0", 1 * S, "rmain", ("ci", "run-1"), None, 443, dst_ip="192.0.2.80"),
             flow("f1", 11 * S, "sh", ("ci", "run-1"), None, 3333, dst_ip="203.0.113.9")]
    for k in range(12):
        pod, t = f"lc-{28623495 + 5 * k}-x{k:04d}", 100 * S + k * 300 * S
        procs += [proc(f"m{k}", None, pod, "/bin/sh", "-c run", t, ns="apps", node="n2", workload=pod[:-6]),
                  proc(f"x{k}", f"m{k}", pod, "/tmp/lc", "-o pool", t + 50 * MS, ns="apps", node="n2",
                       workload=pod[:-6])]
        flows += [flow(f"p{k}", t + 60 * MS, f"x{k}", ("apps", pod), None, 3333, dst_ip="203.0.113.9"),
                  flow(f"q{k}", t + 70 * MS, f"x{k}", ("apps", pod), None, 443, dst_ip="192.0.2.80")]
    hits = _hits([{"rule_id": "falco:x", "title": "Reverse shell", "level": "critical", "exec_id": "sh",
                   "event_id": "h1", "time_ns": 10 * S, "techniques": [], "tactics": []}])
    f = find_in(**frames(procs, flows, hits=hits))
    assert len(f.incidents) == 1
    i = f.incidents[0]
    assert i.pod == "run-1"
    assert {r.pod for r in i.reached} == {f"lc-{28623495 + 5 * k}-x{k:04d}" for k in range(12)}
    assert all(r.how == ["shared_endpoint"] for r in i.reached)
