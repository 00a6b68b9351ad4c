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
