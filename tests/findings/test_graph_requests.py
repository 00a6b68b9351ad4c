"""The evidence graph's ``http`` edge fed by sidecar access logs (``case.http_requests()``)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import graph as G

PROCS = pl.DataFrame({"exec_id": ["srv", "sh", "cli"], "parent_exec_id": [None, "srv", None],
                      "namespace": ["a", "a", "b"], "pod": ["web-1", "web-1", "x-1"], "start_ns": [0, 900, 0],
                      "binary": ["/srv", "/bin/sh", "/usr/bin/curl"]})


def request(direction: str | None, **kw: object) -> pl.DataFrame:
    row = {"event_id": "r1", "time_ns": 100, "direction": direction, "namespace": "a", "pod": "web-1",
           "method": "PUT", "path": "/v1/exhaust-port?now=1", "exec_id": "cli", "downstream_remote_ip": "10.0.0.9",
           "downstream_remote_port": 4000, "downstream_local_port": 80, "client_pod": "x-1",
           "client_namespace": "b", **kw}
    return pl.DataFrame([row])


def test_a_request_the_sidecar_let_in_links_its_client_to_the_handler():
    e = G.http_edges(G.requests_as_flows(request("inbound")), PROCS)
    assert e.select("src", "dst", "kind", "event_id").rows() == [("proc:cli", "proc:srv", "http", "r1")]
    assert e["why"][0].startswith("PUT /v1/exhaust-port?now=1 → /bin/sh")


def test_outbound_requests_are_not_requests_into_the_pod():
    assert G.http_edges(G.requests_as_flows(request("outbound")), PROCS).height == 0
    assert G.requests_as_flows(pl.DataFrame()).height == 0


def test_hubble_and_the_sidecar_seeing_one_request_make_one_edge():
    flow = pl.DataFrame({"event_id": ["f1"], "time_ns": [99], "exec_id": ["cli"], "src_ip": ["10.0.0.9"],
                         "src_port": [4000], "src_pod": ["x-1"], "src_namespace": ["b"], "dst_namespace": ["a"],
                         "dst_pod": ["web-1"], "dst_port": [80], "http_method": ["PUT"],
                         "http_url": ["http://web/v1/exhaust-port?now=1"]})
    both = pl.concat([flow, G.requests_as_flows(request("inbound"))], how="diagonal_relaxed")
    e = G.http_edges(both, PROCS)
    assert e.select("src", "dst", "event_id").rows() == [("proc:cli", "proc:srv", "r1")]  # the latest before the child
