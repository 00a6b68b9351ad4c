"""The bulk writer produces about target_bytes of valid, consistent lines."""

from __future__ import annotations

import json

import pytest

from kernelsec_nb.synth import write_bulk


@pytest.mark.parametrize("mix", ["tetragon", "network", "all"])
def test_bulk_size_and_validity(tmp_path, mix):
    target = 2_000_000
    path = tmp_path / f"{mix}.json"
    n = write_bulk(path, target_bytes=target, seed=3, mix=mix)
    assert n == path.stat().st_size
    assert target <= n < target + 16_000_000
    kinds = set()
    with open(path) as fh:
        for line in fh:
            ev = json.loads(line)
            kinds.add(next(iter(ev)))
    if mix == "tetragon":
        assert kinds == {"process_exec", "process_exit", "process_kprobe"}
    if mix == "network":
        assert "flow" in kinds and "process_kprobe" in kinds
    if mix == "all":
        assert {"flow", "process_kprobe", "hostname"} <= kinds


def test_bulk_deterministic(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_bulk(a, target_bytes=300_000, seed=5, mix="all")
    write_bulk(b, target_bytes=300_000, seed=5, mix="all")
    assert a.read_bytes() == b.read_bytes()


def test_network_mix_five_tuples_match(tmp_path):
    path = tmp_path / "net.json"
    write_bulk(path, target_bytes=2_000_000, seed=7, mix="network")
    connects, flows, execs = [], [], set()
    with open(path) as fh:
        for line in fh:
            ev = json.loads(line)
            if "process_kprobe" in ev:
                k = ev["process_kprobe"]
                assert k["function_name"] == "tcp_connect"
                assert k["process"]["exec_id"] in execs
                s = k["args"][0]["sock_arg"]
                connects.append((ev["node_name"], s["saddr"], s["sport"], s["daddr"], s["dport"]))
            elif "flow" in ev:
                f = ev["flow"]
                tcp = f["l4"]["TCP"]
                node = ev["node_name"].split("/", 1)[1]
                flows.append((node, f["IP"]["source"], tcp["source_port"],
                              f["IP"]["destination"], tcp["destination_port"]))
            elif "process_exec" in ev:
                execs.add(ev["process_exec"]["process"]["exec_id"])
    assert len(connects) > 100
    assert connects == flows
