"""A tiny hand-made incident, inserted straight into the case tables (fast, deterministic).

Generic names on purpose: a shop with frontend/api/db, one shell exec'd into the frontend
from outside (kubectl exec), a request with attacker strings, a dropped flow, a Falco alert,
and an api process killed right after.  ``PAYLOADS`` are planted in args, HTTP path and labels.
Every event is also written as an NDJSON line so ``case.raw`` and provenance work.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

import kernelsec_nb as kn
from kernelsec_nb.store._ids import event_id

IMG = "<img src=x onerror=alert(1)>"
BREAK = '"}]};alert(1)//'
SCRIPT = "</script><script>alert(1)</script>"
PAYLOADS = (IMG, BREAK, SCRIPT)

T0 = 1_763_632_800_000_000_000  # 2025-11-20T10:00:00Z
S = 10**9


def _exec_id(n: int) -> str:
    return f"ZXhlYzp{n:04d}"


PROCS = [
    # n, parent, workload, pod, container, node, binary, args, in_init_tree, start (s)
    (1, None, "frontend", "frontend-7d9f-abcde", "c0ffee000001", "node-a", "/usr/bin/node",
     "server.js", True, 0),
    (2, 1, "frontend", "frontend-7d9f-abcde", "c0ffee000001", "node-a", "/bin/sh",
     "-c healthcheck", True, 20),
    (3, None, "frontend", "frontend-7d9f-abcde", "c0ffee000001", "node-a", "/bin/sh",
     "-i", False, 60),
    (4, 3, "frontend", "frontend-7d9f-abcde", "c0ffee000001", "node-a", "/usr/bin/curl",
     f"-s http://api:8080/{IMG} {BREAK} {SCRIPT}", False, 65),
    (5, None, "api", "api-5c8b-fghij", "c0ffee000002", "node-b", "/app/api", "--port 8080",
     True, 0),
    (6, None, "db", "db-0", "c0ffee000003", "node-b", "/usr/bin/postgres", "-D /data", True, 0),
]
IPS = {"frontend": "10.0.1.10", "api": "10.0.2.20", "db": "10.0.2.30", "coredns": "10.0.0.53"}


def _events() -> list[dict[str, Any]]:
    ev: list[dict[str, Any]] = []

    def add(**kw: Any) -> None:
        kw.setdefault("cluster", "test")
        ev.append(kw)

    for n, parent, wl, pod, cid, node, binary, args, init, start in PROCS:
        add(source="tetragon", kind="process_exec", time_ns=T0 + start * S, node=node,
            namespace="shop", pod=pod, workload=wl, container_id=cid, exec_id=_exec_id(n),
            parent_exec_id=_exec_id(parent) if parent else None, pid=100 + n, uid=0,
            binary=binary, args=args, summary=None, _init=init, _start=start)
    # the curl connects to api, the flow is forwarded with the planted path, then a drop to db
    add(source="tetragon", kind="process_kprobe", time_ns=T0 + 66 * S, node="node-a",
        namespace="shop", pod="frontend-7d9f-abcde", workload="frontend",
        container_id="c0ffee000001", exec_id=_exec_id(4), parent_exec_id=_exec_id(3), pid=104,
        binary="/usr/bin/curl", args=PROCS[3][7], summary="tcp_connect",
        src_ip=IPS["frontend"], src_port=40000, dst_ip=IPS["api"], dst_port=8080, protocol="TCP",
        _function="tcp_connect")
    add(source="hubble", kind="flow", time_ns=T0 + 66 * S + 5_000_000, node="node-a",
        namespace="shop", pod="frontend-7d9f-abcde", workload="frontend",
        src_ip=IPS["frontend"], src_port=40000, dst_ip=IPS["api"], dst_port=8080,
        protocol="TCP", verdict="FORWARDED", http_method="GET", http_path=f"/{IMG}{SCRIPT}",
        http_code=200, summary="HTTP/1.1 GET", _dst=("shop", "api", "api-5c8b-fghij"),
        _labels={"app": SCRIPT})
    add(source="hubble", kind="flow", time_ns=T0 + 67 * S, node="node-a", namespace="shop",
        pod="frontend-7d9f-abcde", workload="frontend", src_ip=IPS["frontend"],
        src_port=40001, dst_ip=IPS["db"], dst_port=5432, protocol="TCP", verdict="DROPPED",
        summary="TCP Flags: SYN", _dst=("shop", "db", "db-0"), _labels={"app": IMG})
    # normal background traffic: frontend→api, api→db, frontend→coredns DNS, api→world
    for i in range(12):
        t = T0 + (5 + i * 10) * S
        add(source="hubble", kind="flow", time_ns=t, node="node-a", namespace="shop",
            pod="frontend-7d9f-abcde", workload="frontend", src_ip=IPS["frontend"],
            src_port=41000 + i, dst_ip=IPS["api"], dst_port=8080, protocol="TCP",
            verdict="FORWARDED", http_method="GET", http_path="/health", http_code=200,
            summary="HTTP/1.1 GET", _dst=("shop", "api", "api-5c8b-fghij"), _labels={})
        add(source="hubble", kind="flow", time_ns=t + 2_000_000, node="node-b",
            namespace="shop", pod="api-5c8b-fghij", workload="api", src_ip=IPS["api"],
            src_port=42000 + i, dst_ip=IPS["db"], dst_port=5432, protocol="TCP",
            verdict="FORWARDED", summary="TCP Flags: ACK", _dst=("shop", "db", "db-0"),
            _labels={})
    add(source="hubble", kind="flow", time_ns=T0 + 3 * S, node="node-a", namespace="shop",
        pod="frontend-7d9f-abcde", workload="frontend", src_ip=IPS["frontend"],
        src_port=53000, dst_ip=IPS["coredns"], dst_port=53, protocol="UDP",
        verdict="FORWARDED", dns_query="api.shop.svc.cluster.local.", summary="DNS Query",
        _dst=("kube-system", "coredns", "coredns-1"), _labels={})
    add(source="hubble", kind="flow", time_ns=T0 + 90 * S, node="node-b", namespace="shop",
        pod="api-5c8b-fghij", workload="api", src_ip=IPS["api"], src_port=43000,
        dst_ip="203.0.113.7", dst_port=443, protocol="TCP", verdict="FORWARDED",
        summary="TCP Flags: SYN", _dst=(None, None, None), _dst_names=["example.org"],
        _labels={})
    add(source="falco", kind="alert", time_ns=T0 + 61 * S, node="node-a", namespace="shop",
        pod="frontend-7d9f-abcde", container_id="c0ffee000001", pid=103, binary="sh" + SCRIPT,
        args="sh -i", rule="Terminal shell in container", priority="Notice",
        summary="A shell was spawned in a container " + SCRIPT)
    add(source="tetragon", kind="process_exit", time_ns=T0 + 70 * S, node="node-b",
        namespace="shop", pod="api-5c8b-fghij", workload="api", container_id="c0ffee000002",
        exec_id=_exec_id(5), pid=105, binary="/app/api", args="--port 8080",
        summary="SIGKILL", _signal="SIGKILL")
    return ev


def build(tmp: Path, *, extra_flows: int = 0) -> kn.Case:
    """A case with the incident above; ``extra_flows`` adds bulk frontend→api flows."""
    case = kn.open_case()
    rows = _events()
    for i in range(extra_flows):
        rows.append(dict(source="hubble", kind="flow", time_ns=T0 + (i * 37 % 120) * S + i,
                         node="node-a", namespace="shop", pod="frontend-7d9f-abcde",
                         workload="frontend", src_ip=IPS["frontend"], src_port=30000 + i % 20000,
                         dst_ip=IPS["api"], dst_port=8080, protocol="TCP", verdict="FORWARDED",
                         http_method="GET", http_path="/bulk", http_code=200, cluster="test",
                         summary="HTTP/1.1 GET", _dst=("shop", "api", "api-5c8b-fghij"),
                         _labels={}))
    path = tmp / "capture.ndjson"
    offset = 0
    lines = []
    for i, r in enumerate(rows, start=1):
        public = {k: v for k, v in r.items() if not k.startswith("_") and v is not None}
        line = json.dumps(public, sort_keys=True)
        r["event_id"] = event_id(line.encode())  # as the loader computes it
        r["file"], r["line"], r["byte_offset"] = str(path), i, offset
        offset += len(line.encode()) + 1
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    con = case.con
    con.execute("INSERT INTO files (path, sha256, format, lines, loaded) VALUES (?, 'x', 'ndjson', ?, ?)",
                [str(path), len(rows), len(rows)])
    # each event is stored once, in the table of its kind (``events`` is a view over them)
    def prov(r: dict) -> dict:
        return {"file": r["file"], "line": r["line"], "byte_offset": r["byte_offset"]}

    flows = [r for r in rows if r["source"] == "hubble"]
    fdf = pl.DataFrame([{
        "event_id": r["event_id"], "time_ns": r["time_ns"], "node": r["node"],
        "cluster": "test", "verdict": r["verdict"],
        "src_namespace": r["namespace"], "src_pod": r["pod"], "src_workload": r["workload"],
        "src_ip": r["src_ip"], "src_port": r["src_port"],
        "dst_namespace": r["_dst"][0], "dst_pod": r["_dst"][2], "dst_workload": r["_dst"][1],
        "dst_ip": r["dst_ip"], "dst_port": r["dst_port"], "protocol": r["protocol"],
        "http_method": r.get("http_method"), "http_path": r.get("http_path"),
        "http_code": r.get("http_code"), "dns_query": r.get("dns_query"),
        "summary": r["summary"], "dst_names": r.get("_dst_names", []),
        "label_app": r["_labels"].get("app"), **prov(r),
    } for r in flows], infer_schema_length=None)
    con.register("fl_df", fdf.to_arrow())
    con.execute("INSERT INTO flows BY NAME SELECT * EXCLUDE (label_app), "
                "make_timestamp(time_ns // 1000)::TIMESTAMPTZ AS time, "
                "CASE WHEN label_app IS NULL THEN MAP {} ELSE MAP {'app': label_app} END "
                "AS src_labels FROM fl_df")
    pe = [r for r in rows if r["source"] == "tetragon" and r["kind"] in ("process_exec", "process_exit")]
    pdf = pl.DataFrame([{
        "event_id": r["event_id"], "source": r["source"], "kind": r["kind"], "time_ns": r["time_ns"], "node": r["node"],
        "exec_id": r["exec_id"], "pid": r["pid"], "uid": 0, "binary": r["binary"],
        "args": r["args"], "start_ns": T0 + r.get("_start", 0) * S,
        "parent_exec_id": r.get("parent_exec_id"), "in_init_tree": r.get("_init", True),
        "namespace": r["namespace"], "pod": r["pod"], "workload": r["workload"],
        "container_id": r["container_id"], "signal": r.get("_signal"),
        "summary": r.get("summary"), "cluster": r.get("cluster"), **prov(r),
    } for r in pe], infer_schema_length=None)
    con.register("pe_df", pdf.to_arrow())
    con.execute("INSERT INTO process_events BY NAME SELECT *, make_timestamp(time_ns // 1000)::TIMESTAMPTZ "
                "AS time FROM pe_df")
    kp = [r for r in rows if r["kind"] == "process_kprobe"]
    kdf = pl.DataFrame([{
        "event_id": r["event_id"], "source": r["source"], "kind": r["kind"], "time_ns": r["time_ns"], "node": r["node"],
        "namespace": r["namespace"], "pod": r["pod"], "workload": r["workload"],
        "container_id": r["container_id"], "exec_id": r["exec_id"],
        "parent_exec_id": r["parent_exec_id"], "pid": r["pid"], "binary": r["binary"],
        "args": r["args"], "function_name": r["_function"], "saddr": r["src_ip"],
        "sport": r["src_port"], "daddr": r["dst_ip"], "dport": r["dst_port"], "protocol": "TCP",
        "uid": r.get("uid"), "summary": r.get("summary"), "cluster": r.get("cluster"), **prov(r),
    } for r in kp], infer_schema_length=None)
    con.register("kp_df", kdf.to_arrow())
    con.execute("INSERT INTO kprobes BY NAME SELECT *, make_timestamp(time_ns // 1000)::TIMESTAMPTZ "
                "AS time FROM kp_df")
    al = [r for r in rows if r["source"] == "falco"]
    adf = pl.DataFrame([{
        "event_id": r["event_id"], "source": r["source"], "time_ns": r["time_ns"], "node": r["node"], "rule": r["rule"],
        "priority": r["priority"], "namespace": r["namespace"], "pod": r["pod"],
        "container_id": r["container_id"], "pid": r["pid"], "proc_name": r["binary"],
        "cmdline": r["args"], "output": r["summary"], "_bin": r["binary"], "_args": r["args"],
        **prov(r),
    } for r in al], infer_schema_length=None)
    con.register("al_df", adf.to_arrow())
    con.execute("INSERT INTO alerts BY NAME SELECT * EXCLUDE (_bin, _args), "
                "make_timestamp(time_ns // 1000)::TIMESTAMPTZ AS time, "
                "MAP {'proc.exepath': _bin, 'proc.cmdline': _args} AS fields FROM al_df")
    sql = (Path(kn.__file__).parent / "store" / "processes.sql").read_text()
    con.execute(sql)
    for name in ("fl_df", "pe_df", "kp_df", "al_df"):
        con.unregister(name)
    return case


def exec_id(n: int) -> str:
    """The exec_id of fixture process ``n`` (3 is the shell exec'd from outside, 4 its curl)."""
    return _exec_id(n)
