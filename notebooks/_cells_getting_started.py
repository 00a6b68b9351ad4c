"""The cells of ``01-getting-started.ipynb``: a case, its tables, one chart of each kind."""

from __future__ import annotations

from _cells import SETUP, code, md, open_bundled, parameters

GETTING_STARTED = [
    md("""
# 01 — Getting started with kernelsec_nb

A *case* is one DuckDB file holding every event of an incident: Tetragon process and kprobe
events, Hubble flows and Falco alerts in one common model, each row pointing back to its export
file and line. This notebook opens a case, loads the bundled capture (`../data/deathstar`,
three nodes of a kind cluster) and shows what is in it.

Its parameter `case_path` names a case file or a lake (`kn.load_lake`, see the README's "The
lake") already holding the capture instead: the notebook then reads it, and shows the load
report the case keeps (`case.load_report()`; a lake's adds the runs of its manifest).
"""),
    parameters(),
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
    code('case.api_calls().group_by("user", "verb", "resource", "src_match").agg(pl.len().alias("calls"), pl.col("src_pod").drop_nulls().n_unique().alias("pods")).sort(["calls", "user", "verb", "resource"], descending=[True, False, False, False])'),
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
