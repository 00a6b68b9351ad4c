"""The cells of ``postmortem-template.ipynb``: the postmortem report of any case (its
parameters cell names the case; ``kernelsec-nb report`` renders it).
"""

from __future__ import annotations

from _cells import SETUP, code, md

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
else:   # the case as it is: what its loads counted (a lake's report adds its manifest's runs)
    show(case.load_report().text(relative=True), title="load report")
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
