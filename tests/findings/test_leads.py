"""Leads alike are merged, and the same leads come out in the same order whatever the order in."""

from __future__ import annotations

import itertools

from kernelsec_nb.findings._leads import merge_leads
from kernelsec_nb.findings._records import Lead
from kernelsec_nb.findings.engine import find_in
from tests.findings.test_engine import S, _hits, flow, frames, proc


def _replicas() -> list[Lead]:
    why = ["+ connected out of the cluster to 192.0.2.7:443"]
    return [Lead(f"agent-{c}", f"node-{n}", "no act", "sec", "agent", [f"e{c}1", f"e{c}2"], 3.2, why)
            for c, n in (("b", 2), ("a", 3), ("c", 1))] + [
        Lead("web-1", "node-1", "no act", "shop", "web", ["w1"], 3.2, why),
        Lead("agent-d", "node-1", "weight too low", "sec", "agent", ["ed"], 1.0, why)]


def test_merged_leads_of_equal_weight_name_the_same_replica_in_any_input_order():
    """Three replicas' equal leads are one lead: it names the first replica by pod (then node),
    its processes first, then the others' in that order — for every order of the input."""
    outs = {repr(sorted(merge_leads(list(p)), key=lambda x: (x.namespace, x.pod)))
            for p in itertools.permutations(_replicas())}
    assert len(outs) == 1
    got = merge_leads(_replicas())
    agent = next(x for x in got if x.workload == "agent" and x.score == 3.2)
    assert (agent.pod, agent.node) == ("agent-a", "node-3")
    assert agent.exec_ids == ["ea1", "ea2", "eb1", "eb2", "ec1", "ec2"]
    assert agent.why_not == "no act (and 2 more like it in agent)"


def test_the_engine_lists_the_same_leads_whatever_the_order_of_its_rows():
    """Replicas that each did the same lone thing: the leads (their pod, node, process ids and
    order) do not depend on the order of the process rows."""
    procs, flows, hits = [], [], []
    for n, pod in enumerate(("agent-x", "agent-y", "agent-z")):
        node = f"node-{3 - n}"
        procs += [proc(f"{pod}-main", None, pod, "/agent", t=-100 * S, seen="event", node=node, workload="agent"),
                  proc(f"{pod}-sh", f"{pod}-main", pod, "/bin/sh", "-c id", 10 * S, node=node, workload="agent",
                       init=False)]
        flows.append(flow(f"f{n}", 11 * S, f"{pod}-sh", ("sec", pod), None, 443, dst_ip="192.0.2.7"))
        hits.append({"rule_id": "falco:Shell", "title": "Shell", "level": "high", "exec_id": f"{pod}-sh",
                     "event_id": f"h{n}", "time_ns": 10 * S, "techniques": [], "tactics": []})
    outs = set()
    for shift in range(len(procs)):
        rows = procs[shift:] + procs[:shift]
        f = find_in(**frames(rows[::-1] if shift % 2 else rows, flows[::-1] if shift % 2 else flows,
                             hits=_hits(hits[::-1] if shift % 2 else hits)))
        outs.add(repr([(x.pod, x.node, x.exec_ids, x.why_not) for x in f.leads]))
    assert len(outs) == 1
    assert "agent-x" in next(iter(outs))
