"""The cells of ``02-deathstar-postmortem.ipynb``: the investigation of the bundled incident,
checked against the generator's ``TRUTH.json`` in its last cell.
"""

from __future__ import annotations

from _cells import SETUP, code, md, open_bundled, parameters

POSTMORTEM = [
    md("""
# 02 — Postmortem INC-0514: the exhaust port

**Summary.** During a quiet morning on the demo cluster, someone opened an interactive shell
inside one of the empire's ship pods, looked around, read a sensitive file, sent a `PUT` to the
space station's maintenance endpoint (after which one replica of the station stopped answering
and was restarted), killed a process inside the pod, and — after the on-call engineer applied an
L7 network policy — retried the same request three times, each one dropped by the policy.

Everything below is computed from the capture (`../data/deathstar`) by library calls; the
last cell checks the answers against the generator's `TRUTH.json`, so this notebook fails in CI
if the investigation stops working.
"""),
    parameters(),
    code(SETUP),
    code("# NBVAL_CHECK_OUTPUT\n# the load's accounting: the same on a case file or a lake" + open_bundled("postmortem") + 'print(f"{load.total(\'loaded\')} events from {len(load.files)} files, {load.total(\'quarantined\')} line quarantined")'),
    md("## Timeline of the capture\n\nAll sources on one axis. The Falco alerts (triangles) and dropped flows (crosses) cluster at the end."),
    code("kn.viz.timeline(case, lanes='workload', width=640)"),
    md("""
## How it was found

### 1. The symptom: a request to an unusual endpoint

The restart of a station replica made us look at the HTTP requests it received. Grouping every
L7 request by method and path, one pair stands out: it was seen a handful of times, against
over a thousand ordinary requests.
"""),
    code('''
requests = case.flows().filter(pl.col("http_method").is_not_null(), ~pl.col("is_reply").fill_null(False))
by_kind = requests.group_by("src_workload", "http_method", "http_path", "verdict").len().sort("len")
by_kind
'''),
    code('''
rare = by_kind.filter(pl.col("len") <= 5)
unusual = requests.join(rare.select("http_method", "http_path").unique(), on=["http_method", "http_path"])
first = unusual.filter(pl.col("verdict") != "DROPPED").sort("time").head(1)
kn.report.Table(first.select("time", "node", "verdict", "src_pod", "dst_pod", "http_method", "http_url", "event_id"))
'''),
    md("### 2. From the flow to the process: attribution through Tetragon's `tcp_connect`\n\nThe flow's 5-tuple matches a connect kprobe on the client's node, which names the exec that opened the socket."),
    code('''
hit = first.row(0, named=True)
print(f"source pod  : {hit['src_namespace']}/{hit['src_pod']}")
print(f"process     : {hit['binary']} {hit['args']}")
print(f"exec_id     : {hit['exec_id']}   (match={hit['match']}, confidence={hit['confidence']})")
case.explain(hit["event_id"]).select("role", "kind", "node", pl.col("file").str.replace(r".*/data/", "data/"), "line")
'''),
    md("### 3. The node and the exec chain behind it\n\nWalking up from the request's process: the client's process ran on this node, under a shell that was *not* started by the container's entrypoint (exec'd from outside the init tree)."),
    code('''
anc = case.ancestry(hit["exec_id"])
kn.report.Table(anc.select("depth", "node", "pod", "binary", "args", "in_init_tree", "captured", "start_time"))
'''),
    code('''
# NBVAL_CHECK_OUTPUT
entry = anc.filter(pl.col("in_init_tree") == False).row(0, named=True)   # the first exec from outside
NODE = entry["node"]
print("entry exec :", entry["binary"], entry["args"] or "(no arguments: interactive)", entry["exec_id"])
print("node       :", NODE)
'''),
    md("### 4. The JSON detail of the entry: start time, pod labels, workload, capabilities\n\n`case.raw` reads the exported line back from its file (checked against the stored hash)."),
    code('''
exp = case.explain(entry["exec_id"])
raw = json.loads(case.raw(exp.filter(pl.col("role") == "exec")["event_id"][0]))
proc = raw["process_exec"]["process"]
pod = proc.get("pod", {})
detail = {"start_time": proc.get("start_time"), "pod": pod.get("name"), "namespace": pod.get("namespace"),
          "workload": pod.get("workload"), "pod_labels": pod.get("pod_labels"),
          "container": pod.get("container", {}).get("name"), "image": pod.get("container", {}).get("image", {}).get("name"),
          "uid": proc.get("uid"), "capabilities (effective)": proc.get("cap", {}).get("effective")}
kn.report.fold(detail)   # its first lines; the whole JSON a click away
'''),
    md("### 5. Everything the session ran — and the key command\n\nThe session's processes with their activity counts. The command that acted on another process (a signal sent to a pid) is the one that matters: "
       "`case.findings()` names it as the incident's *key command*, with the exec chain from the entry to it."),
    code('''
session = case.descendants(entry["exec_id"])
kn.report.Table(session.sort("start_ns").select("depth", "start_time", "binary", "args", "flows", "alerts", "files", "exit_status", "signal"))
'''),
    code('''
# NBVAL_CHECK_OUTPUT
FINDINGS = case.findings()
incident = FINDINGS.incidents[0]          # ranked; [] when nothing crosses the threshold
key = incident.key_command
CHAIN = incident.chain                    # exec_ids from the entry to the key command, root first
print(f"{len(FINDINGS.incidents)} incident(s), {len(FINDINGS.leads)} lead(s); #1 confidence {incident.confidence}")
print("entered      :", f"{incident.namespace}/{incident.pod} on {incident.node}")
print("key command  :", key.binary, key.args, "   exec_id", key.exec_id, "\\n              ", key.why)
''', ),
    code("kn.viz.process_tree(case, entry['exec_id'], width=640)"),
    md("### The whole chain across sources"),
    code("kn.viz.attack_flow(case, entry['exec_id'], width=720)"),
    md("""
## Impact

The station replica that received the first request was killed and restarted: its main process
ended with SIGKILL just after the request.
"""),
    code('''
victim_pod = hit["dst_pod"]
case.processes(pod=victim_pod).filter(pl.col("signal").is_not_null() | pl.col("exit_ns").is_not_null()).select(
    "node", "pod", "binary", "start_time", "exit_time", "exit_status", "signal")
'''),
    md("Falco saw part of it — the shell and the sensitive read — attributed to the same session:"),
    code('''
alerts = case.alerts(exec_id=session["exec_id"].to_list())
kn.report.Table(alerts.select("time", "node", "rule", "priority", "pod", "binary", "args", "match"))
'''),
    md("## What the network policy changed\n\nAfter the L7 policy was applied, the session's requests to the endpoint were DROPPED; nothing of that kind got through."),
    code('''
session_requests = case.flows(exec_id=session["exec_id"].to_list()).filter(
    pl.col("http_method").is_not_null(), ~pl.col("is_reply").fill_null(False))
kn.report.Table(session_requests.select("time", "node", "verdict", "src_port", "dst_pod", "http_method", "http_path", "binary"))
'''),
    code('''
drops = case.flows(verdict="DROPPED")
drops.group_by("src_workload", "dst_workload", "http_method", "http_path").agg(pl.len(), pl.col("time").min().alias("first"), pl.col("time").max().alias("last")).sort("first")
'''),
    code("kn.viz.flow_chart(case, namespace='default', width=640)"),
    md("## Evidence, with provenance\n\nEvery claim above rests on these exported lines (file:line)."),
    code('''
ids = [*CHAIN, *session_requests["event_id"].to_list(), *alerts["event_id"].to_list()]
evidence = pl.concat([case.explain(i).select("role", "kind", "node", "time", "file", "line", "event_id") for i in ids], how="diagonal_relaxed")
evidence.unique("event_id", keep="first").sort("time").with_columns(
    (pl.col("file").str.replace(r".*/data/", "data/") + ":" + pl.col("line").cast(pl.String)).alias("provenance")
).select("time", "role", "kind", "node", "provenance")
'''),
    md("""
## Recommendations

1. **Restrict `exec` into pods**: RBAC so that only break-glass roles may `pods/exec`; alert on
   every interactive shell outside the init tree (Tetragon already sees it; Falco raised it).
2. **Default-deny L7 policy for internal APIs**: maintenance endpoints must not be reachable
   from client workloads; the policy that finally stopped the retries should have existed before.
3. **Drop capabilities**: the session ran with the full default capability set; run ship pods
   with `capabilities: drop: [ALL]`, read-only root, non-root user.
4. **Detection**: a rule for signal-sending tools run from exec'd shells, and for rare
   method+path pairs on service APIs.
5. **Collection**: keep rotated Tetragon logs; one was truncated by an agent crash.

## Explore interactively

Pickers, a brushable timeline and the service map (needs a running kernel; a static snapshot is
saved with the notebook).
"""),
    code("explorer = kn.widgets.Explorer(case)\nexplorer"),
    md("## Check against the generator's truth\n\n`TRUTH.json` is read only here, after the investigation."),
    code('''
# NBVAL_CHECK_OUTPUT
truth = json.loads((CAPTURE / "TRUTH.json").read_text())
assert (incident.pod, incident.node) == (hit["src_pod"], NODE)   # the findings agree with the walk above
answers = {"pod": incident.pod, "node": incident.node, "chain": CHAIN,
           "key_command": {"binary": key.binary, "args": key.args, "exec_id": key.exec_id},
           "attack_flows": [(r["node"], r["src_port"], r["verdict"], r["http_url"], r["exec_id"])
                            for r in session_requests.filter(pl.col("verdict") != "DROPPED").iter_rows(named=True)],
           "dropped_flows": [(r["node"], r["src_port"], r["verdict"], r["http_url"], r["exec_id"])
                             for r in session_requests.filter(pl.col("verdict") == "DROPPED").iter_rows(named=True)]}
expected = {"pod": truth["attacker"]["pod"], "node": truth["attacker"]["node"],
            "chain": [c["exec_id"] for c in truth["chain"]],
            "key_command": {k: truth["flag"][k] for k in ("binary", "args", "exec_id")},
            "attack_flows": [(r["node"], r["src_port"], r["verdict"], r["http_url"], r["exec_id"]) for r in truth["attack_flows"]],
            "dropped_flows": [(r["node"], r["src_port"], r["verdict"], r["http_url"], r["exec_id"]) for r in truth["dropped_flows"]]}
for k in expected:
    assert answers[k] == expected[k], (k, answers[k], expected[k])
print("all answers match TRUTH.json:")
print(f"  pod          : {answers['pod']}\\n  node         : {answers['node']}\\n  key command  : {answers['key_command']['binary']} {answers['key_command']['args']}")
''', "answer"),
]
