"""The cells of ``03-hunting.ipynb``: hunts without an alert, generic queries on any case."""

from __future__ import annotations

from _cells import SETUP, code, md, open_bundled, parameters

HUNTING = [
    md("""
# 03 — Hunting without an alert

Alerts catch what a rule knows. These hunts start from the data instead: what is new, what
ran from outside a container's init tree, who holds dangerous capabilities, who talks to unusual
destinations, and what a policy dropped. Each hunt is a generic query that works on any case.
"""),
    parameters(),
    code(SETUP),
    code("# NBVAL_CHECK_OUTPUT\n# the load's accounting: the same on a case file or a lake" + open_bundled("hunting") + 'print(f"{load.total(\'loaded\')} events")'),
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
show(risky.group_by("namespace", "workload", "binary").agg(pl.len().alias("n"), pl.col("dangerous").first()).sort(["n", "namespace", "workload", "binary"], descending=[True, False, False, False], nulls_last=True))
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
import warnings
sigmahq = kn.hunt.compile_rules(Path("../tests/hunt/data/sigmahq"))
print(f"{len(sigmahq.rules)} rules run, {len(sigmahq.unsupported)} not")
display(sigmahq.unsupported_frame().select("title", "reason"))
with warnings.catch_warnings():  # the rules not run are listed just above: no second HuntWarning
    warnings.simplefilter("ignore", kn.hunt.HuntWarning)
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
