"""Build the notebooks in this folder from the cell lists below, then execute and save them.

    python notebooks/_build.py            # write + execute every notebook (outputs saved)
    python notebooks/_build.py 02         # only those whose name contains "02"

Edit the cells here, not in JupyterLab, so the notebooks stay reproducible.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
              "language_info": {"name": "python"}}


def md(text: str) -> dict:
    return new_markdown_cell(text.strip("\n"))


def code(text: str, *tags: str) -> dict:
    c = new_code_cell(text.strip("\n"))
    if tags:
        c.metadata["tags"] = list(tags)
    return c


SETUP = '''
import json, os, shutil
from pathlib import Path
import altair as alt
import polars as pl
import kernelsec_nb as kn

alt.renderers.enable("svg")          # static charts: the saved notebook shows them everywhere
kn.report.use_tables()               # tables as a report shows them: no quotes, no null, one time format
_ = (pl.Config.set_tbl_rows(25), pl.Config.set_fmt_str_lengths(80), pl.Config.set_tbl_cols(14))
'''


def open_bundled(name: str) -> str:
    return f'''
CAPTURE = Path("../data/deathstar")
CASES = Path(".cases"); CASES.mkdir(exist_ok=True)
case_file = CASES / "{name}.duckdb"
for stale in (case_file, Path(str(case_file) + ".wal")):
    stale.unlink(missing_ok=True)      # a clean case on every run
case = kn.open_case(case_file)
load = case.load(CAPTURE, progress=False)
'''


# ---------------------------------------------------------------------------------------------
GETTING_STARTED = [
    md("""
# 01 — Getting started with kernelsec_nb

A *case* is one DuckDB file holding every event of an incident: Tetragon process and kprobe
events, Hubble flows and Falco alerts in one common model, each row pointing back to its export
file and line. This notebook opens a case, loads the bundled capture (`../data/deathstar`,
three nodes of a kind cluster) and shows what is in it.
"""),
    code(SETUP),
    md("## Open a case and load the capture\n\n`load` takes files, folders or globs; every line is accounted for."),
    code(open_bundled("getting-started") + "kn.report.fold(load.text(relative=True))   # paths under the loaded folder; the rest a click away"),
    code('kn.report.fold({k: v for k, v in load.to_dict().items() if k != "per_file"})', ),
    md("## The tables of a case"),
    code("case.tables()", ),
    md("## Input files (with sha256 and line accounting)\n\nThe quarantine holds the lines that could not be parsed (here a line cut mid-JSON by an agent crash)."),
    code('case.files().select(pl.col("path").str.replace(r".*/data/", "data/"), "sources", "lines", "loaded", "duplicates", "quarantined", "sha256")'),
    code('case.quarantine().select(pl.col("file").str.replace(r".*/data/", "data/"), "line", "reason")'),
    md("## Coverage: what each source saw, per node\n\nTime span, gaps, share of processes whose parent was never seen, and each node's clock against the reference clock (the median node's), estimated from flows seen on two nodes."),
    code('kn.report.Table(case.coverage().select("source", "node", "first_time", "last_time", "events", "gaps", "orphan_share", (pl.col("clock_offset_ms") / 1000).round(2).alias("clock vs reference (s)")))'),
    md("## Counts per source, node and workload"),
    code('# NBVAL_CHECK_OUTPUT\ncase.sql("SELECT source, node, count(*) AS events FROM events GROUP BY ALL ORDER BY source, node")'),
    code('case.sql("SELECT namespace, workload, count(*) AS events, count(DISTINCT pod) AS pods FROM events WHERE workload IS NOT NULL GROUP BY ALL ORDER BY events DESC")'),
    md("""
## The filter vocabulary

Every query method (`events`, `processes`, `flows`, `alerts`, `process_tree`, the charts …)
takes the same keyword filters, in Hubble's and Tetragon's words:
"""),
    code('from kernelsec_nb.store import filters\nkn.report.fold(filters.__doc__.split("Examples")[0].strip())'),
    code('case.events(source="falco").select("time", "node", "namespace", "pod", "rule", "priority")'),
    code('case.flows(verdict="DROPPED", http_method="PUT").select("time", "node", "src_pod", "dst_pod", "http_path", "binary", "match")'),
    md("""
## HTTP requests from the sidecars' access logs

The deathstar pods run an Istio sidecar; kubelet keeps its access log
(`<node>/var/log/pods/<namespace>_<pod>_<uid>/istio-proxy/0.log`, Istio's TEXT format in the
runtime's CRI wrapping). `case.http_requests()` gives each request the sidecar let in or sent out,
with the pod that wrote it, the Hubble flow of its connection and the process that opened it,
and takes the same filters (`http_path` without the query string, `http_url` with it).
"""),
    code('kn.report.Table(case.http_requests(http_method="PUT").select("time", "pod", "method", "path", "response_code", "duration_ms", "request_id", "client_pod", "binary", "match"))'),
    md("## Kubernetes API calls\n\nThe API server's audit log: one row per request (its stages listed), attributed to the pod and process that sent it (a pod-bound token, the pod's IP, its service account) and linked to what it started. Here the admin's `kubectl exec` from outside the cluster started the attacker's shell in the tiefighter."),
    code('kn.report.Table(case.api_calls(resource="pods/exec").select("time", "user", "src_ip", "stages", "code", "target_pod", "link", "linked_binary"))'),
    code('case.api_calls().group_by("user", "verb", "resource", "src_match").agg(pl.len().alias("calls"), pl.col("src_pod").drop_nulls().n_unique().alias("pods")).sort("calls", descending=True)'),
    md("## One chart of each kind\n\nAll charts are plain altair charts (static SVG here)."),
    md("### Timeline — every source on one UTC axis"),
    code("kn.viz.timeline(case, lanes='workload', width=640)"),
    md("### Activity heatmap — events per node per 10 minutes"),
    code("kn.viz.activity_heatmap(case, by='node', every='10m', width=640)"),
    md("### Flow chart — the service map of one namespace"),
    code("kn.viz.flow_chart(case, namespace='default', width=640)"),
    md("### Process tree — the processes exec'd from outside a container's init tree"),
    code('''
outside = case.processes().filter(pl.col("in_init_tree") == False, pl.col("binary").str.contains(r"/(ba)?sh$"), pl.col("args").is_null())
kn.viz.process_tree(case, outside["exec_id"][0], width=640) if outside.height else "no interactive shell"
'''),
    md("### Attack flow — one causal chain across sources"),
    code('kn.viz.attack_flow(case, outside["exec_id"][0], width=720) if outside.height else "no interactive shell"'),
    md("Next: `02-deathstar-postmortem.ipynb` tells the investigation; `03-hunting.ipynb` hunts without an alert."),
]

# ---------------------------------------------------------------------------------------------
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
    code(SETUP),
    code(open_bundled("postmortem") + 'print(f"{load.total(\'loaded\')} events from {len(load.files)} files, {load.total(\'quarantined\')} line quarantined")'),
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

# ---------------------------------------------------------------------------------------------
HUNTING = [
    md("""
# 03 — Hunting without an alert

Alerts catch what a rule knows. These hunts start from the data instead: what is new, what
ran from outside a container's init tree, who holds dangerous capabilities, who talks to unusual
destinations, and what a policy dropped. Each hunt is a generic query that works on any case.
"""),
    code(SETUP),
    code(open_bundled("hunting") + 'print(f"{load.total(\'loaded\')} events")'),
    md("## 1. First-seen binaries per workload\n\nBaseline: the first two hours of the capture. Anything a workload ran only after that is new."),
    code('''
from kernelsec_nb.report import show   # a hunt's table, or "none found" when it comes back empty
t0, t1 = case.sql("SELECT min(time_ns) AS a, max(time_ns) AS b FROM events").row(0)
cut = t0 + 2 * 3600 * 10**9
new = case.first_seen(by="workload", baseline=(t0, cut))
new.filter(pl.col("what") == "binary").sort("first_time")
'''),
    md("## 2. Exec outside the init tree\n\nProcesses a container did not start itself (`kubectl exec`, readiness `exec` probes). Probes repeat; sessions do not."),
    code('''
outside = case.processes().filter(pl.col("in_init_tree") == False, pl.col("pod").is_not_null())
outside.group_by("namespace", "workload", "binary", "args").agg(pl.len().alias("n"), pl.col("start_time").min().alias("first")).sort("n", "first")
'''),
    code('''
F = case.findings()   # what the findings engine made of them: each incident's entry, and the leads
show(pl.DataFrame([{"kind": "incident", "namespace": i.namespace, "pod": i.pod, "node": i.node,
                    "entry": f"{i.entry.binary} {i.entry.args or ''}".strip() if i.entry else None,
                    "trigger": i.entry.trigger if i.entry else None, "why": "; ".join(i.why[:3])} for i in F.incidents]
                  + [{"kind": "lead", "namespace": x.namespace, "pod": x.pod, "node": x.node, "entry": None,
                      "trigger": None, "why": x.why_not} for x in F.leads]) if F.incidents or F.leads else "no incident and no lead")
'''),
    md("## 3. Processes with dangerous capabilities\n\n`CAP_SYS_ADMIN`, `CAP_SYS_PTRACE`, `CAP_NET_ADMIN`, `CAP_SYS_MODULE`, `CAP_BPF` in the effective set of processes in application pods, and `cap_capable` kprobes that used them."),
    code('''
DANGEROUS = ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_NET_ADMIN", "CAP_SYS_MODULE", "CAP_BPF", "CAP_DAC_READ_SEARCH"]
procs = case.processes().filter(pl.col("pod").is_not_null())
risky = procs.with_columns(pl.col("capabilities").list.eval(pl.element().filter(pl.element().is_in(DANGEROUS))).alias("dangerous")
        ).filter(pl.col("dangerous").list.len() > 0)
show(risky.group_by("namespace", "workload", "binary").agg(pl.len().alias("n"), pl.col("dangerous").first()).sort("n", descending=True))
'''),
    code('''
show(case.sql("""SELECT namespace, workload, function_name, count(*) AS n FROM kprobes
                 WHERE regexp_matches(coalesce(function_name, ''), 'cap_capable|commit_creds') GROUP BY ALL ORDER BY n DESC"""))
'''),
    md("## 4. Connections to unusual destinations\n\nThe rarest destinations (workload or IP, and port) per source workload, then the rarest L7 requests (method + path)."),
    code('''
fl = case.flows().filter(~pl.col("is_reply").fill_null(False), pl.col("src_workload").is_not_null())
dest = fl.with_columns(pl.coalesce("dst_workload", "dst_ip").alias("dest"))
pairs = dest.group_by("src_namespace", "src_workload", "dest", "dst_port").agg(pl.len().alias("n"), pl.col("time").min().alias("first"), pl.col("verdict").unique().alias("verdicts"))
pairs.sort("n", "first").head(12)   # the rarest source → destination pairs
'''),
    code('''
req = fl.filter(pl.col("http_method").is_not_null())   # the rarest L7 requests: method and path per source workload
rare = req.group_by("src_workload", "dst_workload", "http_method", "http_path").agg(
    pl.len().alias("seen"), pl.col("time").min().alias("first"), pl.col("verdict").unique().sort().alias("verdicts"),
    pl.col("binary").drop_nulls().unique().sort().alias("binaries")).sort("seen", "first").head(12)
show(rare)
'''),
    md("## 5. Drops by policy"),
    code('''
kn.report.Table(case.flows(verdict="DROPPED").group_by("src_namespace", "src_workload", "dst_workload", "dst_port", "http_method", "http_path", "drop_reason").agg(
    pl.len().alias("n"), pl.col("time").min().alias("first"), pl.col("binary").unique().sort().alias("binaries")).sort("first"))
'''),
    code("kn.viz.timeline(case, lanes='workload', width=640, verdict='DROPPED') if case.flows(verdict='DROPPED').height else 'no drops'"),
    md("""
## 6. Hunting with Sigma rules

Detections kept as **Sigma** rules run over the case as they are (`case.hunt(rules)`: a file, a
folder, rule text, a list). `case.detect()` runs the bundled Kubernetes pack and adds Falco's
alerts and Tetragon's policy actions, so one table holds every detection with its ATT&CK ids;
`event_id` leads back to the export line (`case.raw`).
"""),
    code('''
hits = case.detect()
kn.report.Table(hits.select("time", "source", "level", "title", "techniques", "entity", "pod", "detail"))
'''),
    code("kn.viz.attack_matrix(hits)"),
    md("SigmaHQ's own Linux rules run too; a rule that cannot (here the `auditd` ones: a case has no auditd records) is reported with its reason, never dropped silently."),
    code('''
sigmahq = kn.hunt.compile_rules(Path("../tests/hunt/data/sigmahq"))
print(f"{len(sigmahq.rules)} rules run, {len(sigmahq.unsupported)} not")
display(sigmahq.unsupported_frame().select("title", "reason"))
show(case.hunt(sigmahq).select("time", "title", "techniques", "pod", "detail"))
'''),
    md("Your own rule, with the Kubernetes fields the mapping adds (`Namespace`, `Pod`, `ContainerInitTree`: false for what `kubectl exec` started …):"),
    code('''
my_rule = """
title: Anything run by kubectl exec in the default namespace
logsource: {category: process_creation, product: linux}
tags: [attack.execution, attack.t1609]
detection:
  exec: {ContainerInitTree: 'false', Namespace: default}
  probe: {CommandLine|contains: ' -c '}
  condition: exec and not probe
level: medium
"""
show(case.hunt(my_rule).select("time", "pod", "binary", "detail"))
'''),
    code('''
# NBVAL_CHECK_OUTPUT
sigma = hits.filter(pl.col("source") == "sigma", pl.col("level").is_in(["high", "critical"]))
sigma.explode("techniques").group_by("pod").agg(pl.col("techniques").unique().sort()).sort("pod")
'''),
    md("## Where the hunts meet\n\nThe same pod shows up in hunts 1, 2, 4, 5 and 6 — a lead worth a postmortem (see notebook 02, or render `postmortem-template.ipynb` on this case)."),
    code('''
# NBVAL_CHECK_OUTPUT
leads = {"new binaries": set(new.filter(pl.col("what") == "binary")["group"].drop_nulls().to_list()),
         "findings (incidents, leads)": {x.workload for x in [*F.incidents, *F.leads] if x.workload},
         "rare requests": set(rare["src_workload"].drop_nulls().to_list()),
         "policy drops": set(case.flows(verdict="DROPPED")["src_workload"].drop_nulls().to_list()),
         "sigma rules (high+)": set(sigma["workload"].drop_nulls().to_list())}
pl.DataFrame([{"hunt": k, "workloads": sorted(v)} for k, v in leads.items()])
'''),
]

# ---------------------------------------------------------------------------------------------
TEMPLATE = [
    md("""
# Postmortem report

Generated from a capture by `kernelsec_nb`'s findings engine (`case.findings()`: an evidence graph
of processes, connections, files and detections, with the routine learned from the capture): the
incidents, ranked, each with where it entered, its chain of processes, its key command, the pods
and hosts it reached, its endpoints and the evidence behind it; the leads below the threshold.
Sections whose kind of events is missing say so. Parameters: `case_path` (the case file; none: a fresh case with the bundled capture) and
`exports` (files or folder to load into it first; none: the case as it is).
"""),
    code('case_path = None   # a case file; default: a fresh one in .cases/ with the bundled capture\nexports = None     # files/folder loaded into the case first (None: the case as it is)', "parameters"),
    code(SETUP + '''
# a report, not a working session: tables without their shape line and column types
_ = (pl.Config.set_tbl_hide_dataframe_shape(True), pl.Config.set_tbl_hide_column_data_types(True))
from kernelsec_nb.findings.sources import available, sources
from kernelsec_nb.report import show   # every text printed, every table shown: kn.shown (attacker text)

if case_path is None:
    Path(".cases").mkdir(exist_ok=True)
    case_path = ".cases/postmortem-template.duckdb"
    for stale in (Path(case_path), Path(case_path + ".wal")):
        stale.unlink(missing_ok=True)
    exports = exports or "../data/deathstar"   # the bundled capture, only into a fresh case
# read-only when nothing is loaded: the report runs while others explore the case
case = kn.open_case(case_path, read_only=not exports)
if exports:
    load = case.load(exports, progress=False)
    show(load.text(relative=True), title="load report")   # files under the loaded folder; folded
HAVE = available(case)        # what the case holds: "processes", "flows", "alerts"
SOURCES = sources(case)       # the tools behind them (tetragon, hubble, falco)
show(f"sources in the case: {', '.join(SOURCES) or 'none'}")
''', "remove-input"),
    md("## Findings\n\nThe incidents of `case.findings()` (the evidence graph: detections, routine learned from the capture, "
       "what each process did and where it went), ranked, each with its confidence and why; below the threshold, the leads "
       "and why each was not raised. The *key command* is the command that did the damage."),
    code('''
# NBVAL_CHECK_OUTPUT
from IPython.display import display as _display
F = case.findings()
for line in F.summary():   # the first line says whether there is an incident
    show(line)
FINDINGS = {**F.to_dict(), "sources": SOURCES}
for i, d in zip(F.incidents, FINDINGS["incidents"]):   # the requests its processes sent, let through or dropped
    ev = i.evidence["exec_id"].drop_nulls().to_list() if "exec_id" in i.evidence.columns else []
    ids = list(dict.fromkeys([*i.chain, *(r for x in i.reached for r in x.exec_ids),
                              *(x.removeprefix("proc:") for x in ev if not x.startswith(("pod:", "ext:", "file:")))]))
    fl = case.flows(exec_id=ids).filter(pl.col("http_method").is_not_null(), ~pl.col("is_reply").fill_null(False)) \\
        if "flows" in HAVE else pl.DataFrame()
    d["requests"] = [{k: str(r[k]) if k == "time" else r[k]
                      for k in ("node", "time", "src_port", "verdict", "http_method", "http_url", "exec_id")}
                     for r in fl.sort("time").iter_rows(named=True)] if fl.height else []
# JupyterLab draws the JSON: its text shown; the plain JSON escapes every control character (\\u202e),
# so the report reads the exported bytes back from it
_display({"application/json": kn.shown(FINDINGS), "text/plain": json.dumps(FINDINGS, indent=1, default=str)}, raw=True)
''', "findings", "remove-input"),
    md("## Sources and coverage"),
    code('''
cov = case.coverage()
show(cov.select("source", "node", "first_time", "last_time", "events", "gaps",
               (pl.col("clock_offset_ms") / 1000).alias("clock vs reference (s)")) if cov.height else "no events")
''', "remove-input"),
    md("## Timeline"),
    code('''
show(kn.viz.timeline(case, lanes="workload", width=640) if SOURCES else "no events: nothing to draw")
''', "remove-input"),
    md("## Incidents and leads\n\nEvery incident of `case.findings()` in rank order: where it entered (pod, node, entry process and its "
       "trigger), its key command and its confidence. With none, the leads (never called an attacker) and why each was not raised."),
    code('''
TOP = F.incidents[0] if F.incidents else None
if F.incidents:
    show(pl.DataFrame([{"rank": i.rank, "confidence": i.confidence, "namespace": i.namespace, "pod": i.pod, "node": i.node,
                        "entry": f"{i.entry.binary} {i.entry.args or ''}".strip() if i.entry else None,
                        "trigger": i.entry.trigger if i.entry else None,
                        "key command": f"{i.key_command.binary} {i.key_command.args or ''}".strip() if i.key_command else None}
                       for i in F.incidents]))
else:
    show("no incident: " + (f"{len(F.leads)} lead(s), below the threshold" if F.leads else "no lead either"))
if F.leads:
    show(pl.DataFrame([{"namespace": x.namespace, "pod": x.pod, "node": x.node, "score": x.score, "why not": x.why_not,
                        "why": "; ".join(x.why[:3])} for x in F.leads]))
    LEAD_IDS = [e for x in F.leads for e in x.exec_ids]
    if LEAD_IDS and "processes" in HAVE:
        show("the leads' processes:")
        show(case.processes().filter(pl.col("exec_id").is_in(LEAD_IDS)).sort("start_ns").select(
            "start_time", "node", "namespace", "pod", "binary", "args"))
# the processes of the top incident: its chain, what its entry started, what it reached, what its evidence names
IDS = []
if TOP:
    _ev = TOP.evidence["exec_id"].drop_nulls().to_list() if "exec_id" in TOP.evidence.columns else []
    IDS = list(dict.fromkeys([*TOP.chain, *(case.descendants(TOP.entry.exec_id)["exec_id"].to_list() if TOP.entry else []),
                              *(e for r in TOP.reached for e in r.exec_ids),
                              *(x for x in _ev if not x.startswith(("pod:", "ext:", "file:")))]))
''', "remove-input"),
    md("## The chain"),
    code('''
if TOP:
    show(case.processes().filter(pl.col("exec_id").is_in(IDS)).sort("start_ns").select(
        "start_time", "node", "namespace", "pod", "binary", "args", "in_init_tree"))
    for r in TOP.reached:
        show(f"reached {r.namespace or '(host)'}/{r.pod or r.node} by {', '.join(r.how)}: {len(r.exec_ids)} process(es)")
    if TOP.evidence.height:
        show("the evidence behind it (event_id leads to case.raw):")
        show(TOP.evidence.select([c for c in ("exec_id", "kind", "weight", "text", "event_id") if c in TOP.evidence.columns]))
    HOOKS = case.sql("""SELECT time, "binary", coalesce(function_name, kind) AS function_name, file_path, capability
                        FROM kprobes WHERE exec_id IN (SELECT unnest(?::VARCHAR[])) AND daddr IS NULL
                        ORDER BY time_ns, event_id LIMIT 100""", [IDS])
    if HOOKS.height:
        show("files opened, capabilities used and other hook events of its processes (Tetragon):")
        show(HOOKS)
    if TOP.entry:
        show(kn.viz.process_tree(case, TOP.entry.exec_id, width=640))
else:
    show("no incident: no chain" + ("" if "processes" in HAVE else " (no process events in this capture)"))
''', "remove-input"),
    md("## Key command\n\nThe command that did the damage: the latest process of the incident with the most telling act "
       "(a signal that killed, a hand-off to another pod, persistence, a file used later, a connection out, a way around a policy, "
       "a state-changing request, a drop); without an act, its most suspicious process. The `why` line says which."),
    code('''
KEY = TOP.key_command if TOP else None
if KEY:
    show(f"{KEY.binary} {KEY.args or ''}\\n  exec_id {KEY.exec_id}\\n  why: {KEY.why}")
    show(case.ancestry(KEY.exec_id).select("depth", "node", "pod", pl.col("binary").fill_null("(not in the capture)"), "args", "in_init_tree", "start_time"))
else:
    show("no incident: no key command")
''', "remove-input"),
    md("## Network activity"),
    code('''
if TOP and TOP.endpoints:
    show(pl.DataFrame([{"ip": e.ip, "port": e.port, "fqdn": e.fqdn, "role": e.role} for e in TOP.endpoints]))
if "flows" not in HAVE:
    show("no flows (Hubble) in this capture: connections come from Tetragon's connect hooks only")
elif TOP:
    req = case.flows(exec_id=IDS).filter(~pl.col("is_reply").fill_null(False))
    show(req.select("time", "node", "verdict", "src_pod", "dst_pod", "dst_ip", "dst_port", "http_method", "http_path", "binary", "match") if req.height else "no flows attributed to the incident's processes")
else:
    pods = [x.pod for x in F.leads if x.pod]
    fl = case.flows().filter(pl.col("src_pod").is_in(pods), ~pl.col("is_reply").fill_null(False)) if pods else pl.DataFrame()
    show("no incident: the flows of the leads' pods" if pods else "no incident and no lead: no flows to show")
    if fl.height:
        show(fl.sort("time").select("time", "node", "verdict", "src_pod", "dst_pod", "dst_ip", "dst_port", "http_method", "http_path", "dns_query").head(50))
''', "remove-input"),
    code('''
if "flows" in HAVE:
    ns = TOP.namespace if TOP else None
    show(kn.viz.flow_chart(case, width=640, **({"namespace": ns} if ns else {})))
''', "remove-input"),
    md("## Alerts"),
    code('''
if "alerts" not in HAVE:
    show("no alerts (Falco) in this capture")
else:
    al = case.alerts()
    mine = al.filter(pl.col("exec_id").is_in(IDS))
    show(f"{al.height} alerts in the capture, {mine.height} attributed to the incident's processes")
    # the alert's own command line (Falco's), and the exec it was matched to when Tetragon saw it
    show(al.select("time", "node", "rule", "priority", "namespace", "pod", "cmdline", "match"))
''', "remove-input"),
    md("## The chain across sources"),
    code('''
if TOP and TOP.entry:
    show(kn.viz.attack_flow(case, TOP.entry.exec_id, width=720))
else:
    show("no incident: no chain to draw")
''', "remove-input"),
    md("## Marked by the team\n\nWhat the analysts tagged, starred and noted in the case (`case.tag`, `case.star`; "
       "`case.notes()` lists them), one row per event, flow or process, in time order."),
    code('''
MARKS = case.notes()
if MARKS.height:
    MARKED = (MARKS.group_by("target_kind", "target", maintain_order=True)
              .agg(pl.col("time").first(), pl.col("node").first(), pl.col("pod").first(),
                   pl.col("binary").first(), pl.col("summary").first(),
                   pl.col("tag").drop_nulls().unique().sort().str.join(", ").alias("tags"),
                   pl.col("note").drop_nulls().unique(maintain_order=True).str.join(" / ").alias("notes"),
                   pl.col("author").unique().sort().str.join(", ").alias("by"))
              .sort("time", nulls_last=True))
    show(f"{MARKS.height} marks by {MARKS['author'].n_unique()} analyst(s) on {MARKED.height} events, flows and processes")
    show(MARKED.select("time", "target_kind", "node", "pod", "binary", "summary", "tags", "notes", "by"))
else:
    show("none found: nobody marked anything in this case yet (case.tag(event_id or exec_id, tags, note=...), case.star(...))")
''', "remove-input"),
]

NOTEBOOKS = {
    "01-getting-started.ipynb": GETTING_STARTED,
    "02-deathstar-postmortem.ipynb": POSTMORTEM,
    "03-hunting.ipynb": HUNTING,
    "postmortem-template.ipynb": TEMPLATE,
}


def build(name: str, cells: list) -> Path:
    for i, c in enumerate(cells):  # stable ids: a rebuild changes only what changed
        c["id"] = f"{Path(name).stem[:20]}-{i:03d}"
    nb = new_notebook(cells=cells, metadata=KERNELSPEC)
    path = HERE / name
    nbformat.write(nb, str(path))
    return path


def execute(path: Path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    for c in nb.cells:  # no execution timing noise in the saved file
        c.get("metadata", {}).pop("execution", None)
    nbformat.write(nb, str(path))


if __name__ == "__main__":
    want = sys.argv[1:]
    for name, cells in NOTEBOOKS.items():
        if want and not any(w in name for w in want):
            continue
        p = build(name, cells)
        execute(p)
        print("built and executed", p.name)
