"""The case's API-call attribution (``case.api_calls``: the calls' own columns only, the addresses
of their source IPs only, the nodes of the named pods apart) against a brute-force oracle written
from the rules of :mod:`kernelsec_nb.correlate._api`, and against the reference polars function
on every address, on a small random case full of the awkward cases: an IP two pods had, pods seen
on two nodes, tokens, service accounts of one or two pods, connects at the same nanosecond,
connects just after the call."""

from __future__ import annotations

import random

import pytest

import kernelsec_nb as kn
from kernelsec_nb.correlate import _api
from kernelsec_nb.correlate._api_methods import _ADDRESSES, _CALLS, _CONNECTS, _sa_pods
from kernelsec_nb.correlate._frames import fetch

S = 1_000_000_000
SOURCE = ["src_namespace", "src_pod", "src_node", "src_match", "exec_id", "conn_event_id", "conn_time_ns"]


@pytest.fixture(scope="module")
def case():
    rng = random.Random(20)
    case = kn.open_case()
    pods = [(f"ns{i % 3}", f"pod-{i}") for i in range(12)]
    ip_of = {p: f"10.0.0.{i % 9}" for i, p in enumerate(pods)}  # pods 0/9, 1/10, 2/11 share an IP
    flows, kprobes, audit = [], [], []
    for n in range(400):
        ns, pod = rng.choice(pods)
        t = rng.randrange(0, 3600) * S // 4 * 4  # a coarse grid: sightings and connects at the same time
        node = f"n{rng.randrange(2)}" if pod != "pod-4" else rng.choice([None, "n1"])
        flows.append((f"f{n}", t, node, ns, pod, ip_of[(ns, pod)], "10.96.0.1", "TCP"))
        port = rng.choice([443, 443, 6443, 80])
        fn = rng.choice(["tcp_connect", "tcp_connect", "tcp_close"])
        kprobes.append((f"k{n:03d}", t + rng.choice([0, 0, 3 * S]), node, ns, pod, f"e{rng.randrange(60)}",
                        ip_of[(ns, pod)], "10.96.0.1", port, fn))
    for n in range(250):
        ns, pod = rng.choice(pods)
        t = rng.randrange(0, 3700) * S // 4 * 4 + rng.choice([0, S, -S, 20 * S, -40 * S])
        token = pod if rng.random() < 0.15 else None
        sa_of = rng.choice(["user", "user", "impersonated", None])
        sa = rng.choice(["default", "runner", "builder"])
        create = rng.random() < 0.2
        audit.append((f"a{n}", f"id{n}", t, "ResponseComplete", "create" if create else "get",
                      rng.choice([ip_of[(ns, pod)], "172.18.0.1", None]), ns, sa, sa_of, token,
                      rng.choice([None, "n1"]) if token else None, "pods", ns, f"c-{n % 7}" if create else pod,
                      f"c-{n % 7}" if create else None, ("builder" if n % 7 == 3 else "runner") if create else None,
                      rng.choice([None, "n0"]) if create else None, rng.choice([200, 201, 403])))
    for n in range(0, 250, 10):  # a long-running request: its ResponseStarted stage first
        first = list(audit[n])
        first[0], first[2], first[3], first[-1] = f"s{n}", first[2] - S, "ResponseStarted", None
        audit.append(tuple(first))
    con = case.con
    con.executemany("INSERT INTO flows (event_id, time_ns, node, src_namespace, src_pod, src_ip, dst_ip, protocol) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", flows)
    con.executemany("INSERT INTO kprobes (event_id, time_ns, node, namespace, pod, exec_id, saddr, daddr, dport, "
                    "function_name, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'process_kprobe')", kprobes)
    con.executemany('INSERT INTO audit_events (event_id, audit_id, time_ns, stage, verb, src_ip, sa_namespace, '
                    'sa_name, sa_of, token_pod, token_node, resource, namespace, name, created_name, created_sa, '
                    'created_node, code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', audit)
    return case


def _oracle(calls: list[dict], sightings: list[dict], connects: list[dict]) -> dict[str, tuple]:
    """The rules, one call at a time, by looping over every row."""
    w, cw, tol = 600 * S, 30 * S, 2 * S
    addr: dict[tuple, dict] = {}
    for s in sightings:
        a = addr.setdefault((s["ip"], s["namespace"], s["pod"]), {"t": [], "nodes": []})
        a["t"].append(s["time_ns"])
        if s["node"] is not None:
            a["nodes"].append((s["time_ns"], s["node"]))
    rows = {k: (min(a["t"]), max(a["t"]), min(a["nodes"])[1] if a["nodes"] else None) for k, a in addr.items()}
    creates: dict[tuple, str | None] = {}
    for c in calls:
        if (c["resource"] == "pods" and c["subresource"] is None and c["verb"] == "create"
                and (c["code"] is None or c["code"] < 300) and c["created_name"] and c["created_sa"] and c["namespace"]):
            key = (c["namespace"], c["created_sa"], c["created_name"])
            creates[key] = min((n for n in (creates.get(key), c["created_node"]) if n is not None), default=None)
    out = {}
    for c in calls:
        got = None
        if c["token_pod"] is not None:
            got = (c["sa_namespace"], c["token_pod"], c["token_node"], "token")
        if got is None and c["src_ip"] is not None:
            near = [(ns, pod, node) for (ip, ns, pod), (t0, t1, node) in rows.items()
                    if ip == c["src_ip"] and t0 - w <= c["time_ns"] <= t1 + w]
            if len(near) == 1:
                got = (*near[0], "ip")
        if got is None and c["sa_of"] == "user":
            one = [(pod, node) for (ns, sa, pod), node in creates.items()
                   if ns == c["sa_namespace"] and sa == c["sa_name"]]
            if len(one) == 1:
                got = (c["sa_namespace"], one[0][0], one[0][1], "sa")
        if got is None:
            out[c["call_id"]] = (None,) * 7
            continue
        ns, pod, node, how = got
        if node is None:  # the node of the pod's first address (ip, first seen) that names one
            named = sorted((ip, t0, nd) for (ip, n2, p2), (t0, _, nd) in rows.items()
                           if (n2, p2) == (ns, pod) and nd is not None)
            node = named[0][2] if named else None
        mine = [k for k in connects if (k["namespace"], k["pod"]) == (ns, pod)] if ns is not None else []
        before = [k for k in mine if k["time_ns"] <= c["time_ns"]]
        after = [k for k in mine if k["time_ns"] >= c["time_ns"]]
        k = None
        if before:
            k = max(before, key=lambda k: (k["time_ns"], k["event_id"]))
            k = k if c["time_ns"] - k["time_ns"] <= cw else None
        if k is None and after:
            k = min(after, key=lambda k: (k["time_ns"], k["event_id"]))
            k = k if k["time_ns"] - c["time_ns"] <= tol else None
        out[c["call_id"]] = (ns, pod, node, how, *((k["exec_id"], k["event_id"], k["time_ns"]) if k else (None,) * 3))
    return out


def test_the_case_attribution_is_the_oracles(case):
    con = case.con
    calls = fetch(con, _CALLS)
    sightings = fetch(con, "SELECT src_ip AS ip, src_namespace AS namespace, src_pod AS pod, node, time_ns FROM flows "
                           "UNION ALL SELECT saddr, namespace, pod, node, time_ns FROM kprobes").to_dicts()
    connects = fetch(con, _CONNECTS, [[443, 6443], ["tcp_connect"]]).to_dicts()
    want = _oracle(calls.to_dicts(), sightings, connects)
    got = case._api_attribution().select("call_id", *SOURCE)
    assert got.height == len(want) == 250
    assert {r[0]: tuple(r[1:]) for r in got.iter_rows()} == want
    hows = got["src_match"].value_counts()
    assert set(hows["src_match"].drop_nulls()) == {"token", "ip", "sa"}  # every rule is exercised
    assert got["exec_id"].is_not_null().sum() > 5 and got["src_node"].is_not_null().sum() > 20


def test_the_case_attribution_is_the_reference_functions(case):
    con = case.con
    calls = fetch(con, _CALLS)
    connects = fetch(con, _CONNECTS, [[443, 6443], ["tcp_connect"]])
    ref = _api.attribute(calls, fetch(con, _ADDRESSES), _sa_pods(calls), connects).select("call_id", *SOURCE)
    got = case._api_attribution().select("call_id", *SOURCE)
    assert got.sort("call_id").equals(ref.sort("call_id"))
    full = case.api_calls()
    assert full.height == 250 and full.select("call_id", *SOURCE).sort("call_id").equals(ref.sort("call_id"))


def test_the_rules_columns_are_the_views(case):
    narrow = fetch(case.con, _CALLS).sort("call_id")
    view = fetch(case.con, f"SELECT {', '.join(narrow.columns)} FROM api_calls").sort("call_id")  # noqa: S608
    assert narrow.height == 250 and narrow.equals(view)
