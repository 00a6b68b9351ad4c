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
