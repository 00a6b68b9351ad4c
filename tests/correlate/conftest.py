"""A small hand-built incident in the real export formats (Tetragon, Hubble, Falco NDJSON).

Two nodes: ``n1`` (client pod ``shop/web-7d9f8c6b5-bcdfg``, ip 10.0.0.1) and ``n2`` (server pod
``shop/api-5c4b7d8f9-ghjkl``, ip 10.0.1.5) whose clock is 300 ms behind ``n1``.

* shell ``S`` (pid 100) whose parent (a shim) is only known as the exec's ``parent`` object,
  and whose grandparent is not in the capture at all;
* ``C1`` curl (pid 101) connects 10.0.0.1:40000 -> 10.0.1.5:80 and closes; ``C2`` curl reuses
  pid 101 *and* the same 5-tuple 8 s later (PID and port reuse);
* flows: egress SYN on n1, ingress SYN/L7 PUT/reply on n2 (skewed), a FIN of C1, a duplicated
  L7 flow, a flow from the pod on a port no kprobe saw (``pod+dest``), a DNS flow with no kprobe;
* Falco: alerts with the 12-hex short container id, ``<NA>`` k8s fields, pid reuse, no pid.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

import kernelsec_nb as kn
from tests.conftest import CASE_KINDS, build_store

T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z
S = 10**9
MS = 10**6
CID = "0123456789ab" + "c" * 52
SRV_CID = "fedcba987654" + "d" * 52
SKEW_N2 = -300 * MS
CLIENT = ("10.0.0.1", "shop", "web-7d9f8c6b5-bcdfg")
SERVER = ("10.0.1.5", "shop", "api-5c4b7d8f9-ghjkl")


def ts(ns: int) -> str:
    sec, frac = divmod(ns, S)
    return dt.datetime.fromtimestamp(sec, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def proc(exec_id: str, pid: int, binary: str, args: str, start: int, parent: str | None,
         cid: str = CID, pod: str = CLIENT[2], workload: str = "web") -> dict[str, Any]:
    p: dict[str, Any] = {
        "exec_id": exec_id, "pid": pid, "uid": 0, "cwd": "/", "binary": binary, "arguments": args,
        "flags": "execve clone", "start_time": ts(start), "auid": 4294967295,
        "pod": {"namespace": "shop", "name": pod,
                "container": {"id": f"containerd://{cid}", "name": "main",
                              "image": {"name": "example/img:1"}, "pid": 1},
                "pod_labels": {"app": workload}, "workload": workload, "workload_kind": "Deployment"},
        "docker": cid[:31], "tid": pid,
    }
    if parent is not None:
        p["parent_exec_id"] = parent
    return p


SHIM = {"exec_id": "SHIM", "pid": 90, "uid": 0, "cwd": "/", "binary": "/usr/bin/containerd-shim",
        "arguments": "-namespace k8s.io", "flags": "execve", "start_time": ts(T0 - 3600 * S),
        "parent_exec_id": "GONE", "tid": 90}
P_S = proc("S", 100, "/bin/sh", "", T0 + 1 * S, "SHIM")
P_C1 = proc("C1", 101, "/usr/bin/curl", "-XPUT api/v1/secret", T0 + 2 * S, "S")
P_C2 = proc("C2", 101, "/usr/bin/curl", "-XPUT api/v1/secret", T0 + 10 * S, "S")
P_SRV = proc("SRV", 7, "/usr/local/bin/api", "--port 80", T0 - 60 * S, None, SRV_CID, SERVER[2], "api")


def tg(node: str, t: int, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {kind: body, "node_name": node, "time": ts(t)}


def sock(saddr: str, sport: int, daddr: str, dport: int) -> dict[str, Any]:
    return {"sock_arg": {"family": "AF_INET", "type": "SOCK_STREAM", "protocol": "IPPROTO_TCP",
                         "saddr": saddr, "daddr": daddr, "sport": sport, "dport": dport,
                         "cookie": "1", "state": "TCP_SYN_SENT"}}


def kprobe(p: dict[str, Any], parent: dict[str, Any], t: int, fn: str, args: list[dict[str, Any]]) -> dict[str, Any]:
    return tg("n1", t, "process_kprobe", {"process": p, "parent": parent, "function_name": fn,
                                         "args": args, "action": "KPROBE_ACTION_POST", "policy_name": "net"})


def endpoint(who: tuple[str, str, str] | None) -> dict[str, Any]:
    if who is None:
        return {"identity": 2, "labels": ["reserved:world"]}
    ip, ns, pod = who
    return {"identity": 1000, "namespace": ns, "pod_name": pod, "labels": [f"k8s:app={pod.split('-')[0]}"]}


def flow(node: str, t: int, src: tuple[str, str, str] | None, dst: tuple[str, str, str] | None,
         sip: str, sport: int, dip: str, dport: int, *, reply: bool | None = False, verdict: str = "FORWARDED",
         direction: str = "EGRESS", http: tuple[str, str] | None = None, udp: bool = False,
         dns: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    l4 = {"UDP" if udp else "TCP": {"source_port": sport, "destination_port": dport}}
    f: dict[str, Any] = {"time": ts(t), "verdict": verdict,
                         "IP": {"source": sip, "destination": dip, "ipVersion": "IPv4"}, "l4": l4,
                         "source": endpoint(src), "destination": endpoint(dst), "Type": "L3_L4",
                         "node_name": node, "traffic_direction": direction, "Summary": "TCP Flags: SYN"}
    if reply is not None:
        f["is_reply"] = reply
    if http is not None:
        f["Type"] = "L7"
        f["l7"] = {"type": "RESPONSE" if reply else "REQUEST", "http": {"method": http[0], "url": http[1]}}
        f["Summary"] = f"HTTP/1.1 {http[0]} {http[1]}"
    if dns is not None:
        f["Type"] = "L7"
        f["l7"] = {"type": "REQUEST", "dns": {"query": dns}}
    f.update(extra or {})
    return {"flow": f, "node_name": node, "time": ts(t)}


def falco(t: int, rule: str, pid: int | None, name: str, ns: str | None, pod: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"container.id": CID[:12], "proc.name": name, "proc.cmdline": name,
                              "k8s.ns.name": ns, "k8s.pod.name": pod, "evt.time": t}
    if pid is not None:
        fields["proc.pid"] = pid
    return {"hostname": "n1", "output": f"{ts(t)}: Notice {rule}", "output_fields": fields,
            "priority": "Notice", "rule": rule, "source": "syscall", "tags": ["container"], "time": ts(t)}


C_IP, C_PORT, S_IP, S_PORT = "10.0.0.1", 40000, "10.0.1.5", 80


def scenario() -> dict[str, list[dict[str, Any]]]:
    """Lines per file name."""
    n1_tg = [
        tg("n1", T0 + 1 * S + 900, "process_exec", {"process": P_S, "parent": SHIM}),
        tg("n1", T0 + 2 * S + 900, "process_exec", {"process": P_C1, "parent": P_S}),
        kprobe(P_C1, P_S, T0 + 2100 * MS, "tcp_connect", [sock(C_IP, C_PORT, S_IP, S_PORT)]),
        kprobe(P_C1, P_S, T0 + 2900 * MS, "tcp_close", [sock(C_IP, C_PORT, S_IP, S_PORT)]),
        tg("n1", T0 + 3 * S, "process_exit", {"process": P_C1, "parent": P_S, "time": ts(T0 + 3 * S)}),
        tg("n1", T0 + 10 * S + 900, "process_exec", {"process": P_C2, "parent": P_S}),
        kprobe(P_C2, P_S, T0 + 10100 * MS, "tcp_connect", [sock(C_IP, C_PORT, S_IP, S_PORT)]),
        kprobe(P_C2, P_S, T0 + 10900 * MS, "tcp_close", [sock(C_IP, C_PORT, S_IP, S_PORT)]),
        tg("n1", T0 + 11 * S, "process_exit", {"process": P_C2, "parent": P_S, "time": ts(T0 + 11 * S)}),
    ]
    n2_tg = [tg("n2", T0 - 60 * S + SKEW_N2, "process_exec", {"process": P_SRV})]
    cli, srv = CLIENT, SERVER
    n1_hb = [
        flow("n1", T0 + 2100 * MS + 20_000, cli, srv, C_IP, C_PORT, S_IP, S_PORT),  # egress SYN (C1)
        flow("n1", T0 + 2900 * MS + 5_000, cli, srv, C_IP, C_PORT, S_IP, S_PORT,
             extra={"Summary": "TCP Flags: ACK, FIN"}),  # FIN of C1 just before C2 reuses the port
        flow("n1", T0 + 2200 * MS, cli, srv, C_IP, 45555, S_IP, S_PORT),  # no kprobe: pod+dest
        flow("n1", T0 + 2050 * MS, cli, ("10.0.2.2", "kube-system", "coredns-1-x"), C_IP, 51000,
             "10.0.2.2", 53, udp=True, dns="api.shop.svc.cluster.local."),  # no kprobe at all
        flow("n1", T0 + 10100 * MS + 20_000, cli, srv, C_IP, C_PORT, S_IP, S_PORT),  # egress SYN (C2)
    ]
    sk = SKEW_N2
    n2_hb = [
        flow("n2", T0 + 2100 * MS + 400_000 + sk, cli, srv, C_IP, C_PORT, S_IP, S_PORT, direction="INGRESS"),
        flow("n2", T0 + 2101 * MS + sk, cli, srv, C_IP, C_PORT, S_IP, S_PORT, direction="INGRESS",
             http=("PUT", "http://api/v1/secret")),
        # the same observation exported twice (a relay restart): not byte-identical, so both load
        flow("n2", T0 + 2101 * MS + sk, cli, srv, C_IP, C_PORT, S_IP, S_PORT, direction="INGRESS",
             http=("PUT", "http://api/v1/secret"), extra={"uuid": "dup-1"}),
        flow("n2", T0 + 2103 * MS + sk, srv, cli, S_IP, S_PORT, C_IP, C_PORT, reply=True, direction="INGRESS",
             http=("PUT", "http://api/v1/secret")),
        flow("n2", T0 + 10100 * MS + 400_000 + sk, cli, srv, C_IP, C_PORT, S_IP, S_PORT, direction="INGRESS"),
        flow("n2", T0 + 10101 * MS + sk, cli, srv, C_IP, C_PORT, S_IP, S_PORT, direction="INGRESS",
             http=("PUT", "http://api/v1/secret"), verdict="DROPPED"),
        flow("n2", T0 + 10103 * MS + sk, srv, cli, S_IP, S_PORT, C_IP, C_PORT, reply=None, direction="INGRESS"),
    ]
    n1_falco = [
        falco(T0 + 1 * S + 5 * MS, "Terminal shell in container", 100, "sh", "<NA>", "<NA>"),
        falco(T0 + 2500 * MS, "Outbound connection", 101, "curl", "shop", CLIENT[2]),
        falco(T0 + 10500 * MS, "Outbound connection", 101, "curl", None, None),
        falco(T0 + 1200 * MS, "Shell without pid", None, "sh", "<NA>", "<NA>"),
    ]
    return {"n1/tetragon.log": n1_tg, "n2/tetragon.log": n2_tg, "n1/hubble.json": n1_hb,
            "n2/hubble.json": n2_hb, "n1/falco.json": n1_falco}


def write(root: Path, files: dict[str, list[dict[str, Any]]]) -> Path:
    for name, lines in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return root


@pytest.fixture(scope="session", params=CASE_KINDS)
def mini_case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> kn.Case:
    """The scenario in a case (in memory) and in a lake: every test that reads it runs on both."""
    root = write(tmp_path_factory.mktemp("mini"), scenario())
    if request.param == "lake":
        return kn.open_case(build_store("lake", root, tmp_path_factory.mktemp("mini-lake")))
    case = kn.open_case()
    case.load(root, progress=False)
    return case
