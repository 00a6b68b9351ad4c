"""``find(case)``: incidents as the suspicious connected parts of the evidence graph.

1. **Frames** on the reference clock: processes, flows, hook events, detections.
2. **Routine** per process (:mod:`~kernelsec_nb.findings.routine`) and per workload's
   destinations and requests.
3. **Edges** (:mod:`~kernelsec_nb.findings.graph`) and **evidence** per process
   (:mod:`~kernelsec_nb.findings._evidence`), each weight lowered by the process's routine.
4. **Parts**: processes that are not routine (or carry evidence) joined by the causal edges —
   parent → child in the same pod (or the same host), a connection → what the destination pod did
   next, a file written → run or read later; pods and outside addresses are leaves (where the
   part went), not links (every client of a service would otherwise be one part).  A second
   pass joins the parts of other pods that reached an incident's outside address
   (:mod:`._shared`).
5. A part whose weight reaches ``threshold`` and that *acted* (a signal that killed, a hand-off
   to another pod, a file used later, a connection out, a state-changing request, a drop) with a
   detection (with one kind of act, on the act's own line: :mod:`._corroborate`) or with two
   kinds of acts — or that carries a critical detection — is an **incident**;
   any other part of weight ``lead_min`` or more is a **lead** (alike leads merged).

Confidence: ``high`` — weight at least twice the threshold from three or more kinds of
evidence; ``medium`` — at least two kinds; ``low`` — otherwise.

Examples
--------
>>> import kernelsec_nb as kn
>>> find(kn.open_case()).to_dict()["incidents"]
[]
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from kernelsec_nb.findings import _api_acts as A
from kernelsec_nb.findings import _brute as B
from kernelsec_nb.findings import _declared as D
from kernelsec_nb.findings import _evidence as E
from kernelsec_nb.findings import _leads as L
from kernelsec_nb.findings import _named as N
from kernelsec_nb.findings import _runs as R
from kernelsec_nb.findings import _sessions as S
from kernelsec_nb.findings import graph as G
from kernelsec_nb.findings._api_exec import exec_sessions
from kernelsec_nb.findings._api_grants import grant_acts
from kernelsec_nb.findings._api_managed import long_running, managed_calls
from kernelsec_nb.findings._api_session import probed_creates
from kernelsec_nb.findings._corroborate import corroborated
from kernelsec_nb.findings._exec_named import audited_execs, named_exec_edges
from kernelsec_nb.findings._frames import case_frames
from kernelsec_nb.findings._fresh import fresh_workloads
from kernelsec_nb.findings._incident import LINKS, _entry, _fields, _incident, _why
from kernelsec_nb.findings._init_tree import resolve_init_tree, with_init_tree
from kernelsec_nb.findings._peers import peer_groups, with_peers
from kernelsec_nb.findings._records import (
    Findings,
    Incident,
    Lead,
)
from kernelsec_nb.findings._shared import (
    common_destinations,
    flagged_destinations,
    flagged_pods,
    introduced_addresses,
    own_host_endpoints,
    shared_edges,
)
from kernelsec_nb.findings._typed_address import typed_destinations
from kernelsec_nb.findings.routine import (
    RoutineSettings,
    destinations,
    detections_routine,
    job_detections,
    repeated_detections,
    routine,
)
from kernelsec_nb.findings.sources import by_node, missing_notes
from kernelsec_nb.store._skew import noted_offsets

NS = 1_000_000_000


@dataclass(frozen=True)
class EngineSettings:
    """The engine's thresholds (one place)."""

    threshold: float = 3.5
    #: a process at least this routine is left out of parts unless it carries evidence
    routine_cut: float = 0.5
    #: the detection weight from which a detection alone makes a part an incident (critical only:
    #: a high rule on an exec'd shell is an engineer's debugging as often as an intruder's)
    strong_level: float = 4.0
    #: a detection counts for "detected" from this weight on (after the routine lowered it)
    detected_min: float = 1.0
    #: a part below the threshold is a lead from this weight on
    lead_min: float = 1.0
    max_leads: int = 10
    max_why: int = 8
    #: a process still running this long after its connection out keeps it (a C2 channel)
    c2_after_ns: int = 60 * NS
    #: distinct processes of a part connecting to one address make it a beacon's (C2)
    beacon_runs: int = 3
    #: connections of a line to one address this far apart are separate calls of a beacon
    beacon_gap_ns: int = 5 * NS
    #: processes of one pipeline (``a | b``) start this close together under one parent
    pipe_window_ns: int = 2 * NS
    routine: RoutineSettings = field(default_factory=RoutineSettings)
    graph: G.GraphSettings = field(default_factory=G.GraphSettings)
    evidence: E.EvidenceSettings = field(default_factory=E.EvidenceSettings)
    brute: B.BruteSettings = field(default_factory=B.BruteSettings)


DEFAULT = EngineSettings()
_CONNECT = r"(?i)(^|_)(connect|sendmsg|sendto|sendmmsg)$"
def find(case: Any, rules: Any = None, settings: EngineSettings = DEFAULT) -> Findings:
    """The incidents, leads and notes of ``case`` (see the module docstring)."""
    frames = case_frames(case, rules)
    notes = frames.pop("notes", pl.DataFrame({"note": []}))["note"].to_list()
    try:  # the one statement of skew (the load report's), and what the findings did about it
        notes += [f"{line}; the findings compare times on the reference clock" for line in noted_offsets(case.con)]
    except Exception:  # noqa: BLE001,S110 - an old case without the table
        pass
    f = find_in(**frames, settings=settings)
    notes += missing_notes(by_node(case), [i.node for i in f.incidents])
    return Findings(f.incidents, f.leads, [*notes, *f.notes])


# -- the pure engine -------------------------------------------------------------------------------
def _connections(flows: pl.DataFrame, kprobes: pl.DataFrame) -> pl.DataFrame:
    cols = {"exec_id": pl.String, "src_workload": pl.String, "dst_ip": pl.String, "dst_port": pl.Int64,
            "time_ns": pl.Int64, "event_id": pl.String, "dst_workload": pl.String}
    parts = []
    if flows.height:
        f = flows.filter(~pl.col("is_reply").fill_null(False)) if "is_reply" in flows.columns else flows
        parts.append(f.select(*(pl.col(c) if c in f.columns else pl.lit(None).alias(c) for c in cols)).cast(cols))
    if kprobes.height and "daddr" in kprobes.columns:
        k = kprobes.filter(pl.col("daddr").is_not_null() & pl.col("function_name").fill_null("").str.contains(_CONNECT))
        parts.append(k.select("exec_id", pl.col("workload").alias("src_workload"), pl.col("daddr").alias("dst_ip"),
                              pl.col("dport").alias("dst_port"), "time_ns", "event_id",
                              pl.lit(None, pl.String).alias("dst_workload")).cast(cols))
    return pl.concat(parts) if parts else pl.DataFrame(schema=cols)


def _untaint(rt: pl.DataFrame, edge: pl.DataFrame, s: EngineSettings) -> pl.DataFrame:
    """No routine for what runs a file a non-routine process wrote during the capture, nor for
    what that starts: a cron entry an intruder added runs on a schedule, but the schedule is the
    intruder's."""
    if edge.height == 0 or rt.height == 0:
        return rt
    usual = set(rt.filter(pl.col("routine") >= s.routine_cut)["exec_id"].to_list())
    writers = edge.filter(pl.col("kind").is_in([G.WRITE, G.SERVICE_WRITE]) & pl.col("src").str.starts_with("proc:"))
    bad_files = set(writers.filter(~pl.col("src").str.slice(5).is_in(list(usual)) | (pl.col("kind") == G.SERVICE_WRITE))
                    ["dst"].to_list())
    runs = edge.filter(pl.col("src").is_in(list(bad_files)) & (pl.col("kind") == G.EXEC_FILE))
    tainted = {d[5:] for d in runs["dst"].to_list()}
    # a pod a process that is not routine deployed through the API (a Job an intruder created) does
    # not run as its owner designed it
    api = edge.filter(pl.col("kind").is_in([G.API, A.CONTROLLER]) & pl.col("src").str.starts_with("proc:")
                      & ~pl.col("src").str.slice(5).is_in(list(usual)) & pl.col("dst").str.starts_with("proc:"))
    tainted |= {d[5:] for d in api["dst"].to_list()}
    if not tainted:
        return rt
    kids: dict[str, list[str]] = defaultdict(list)
    for src, dst in edge.filter(pl.col("kind") == G.SPAWN).select("src", "dst").iter_rows():
        kids[src[5:]].append(dst[5:])
    todo = list(tainted)
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in tainted:
                tainted.add(k)
                todo.append(k)
    hit = pl.col("exec_id").is_in(list(tainted))
    return rt.with_columns(pl.when(hit).then(0.0).otherwise(pl.col("routine")).alias("routine"),
                           pl.when(hit).then(pl.lit("")).otherwise(pl.col("reason")).alias("reason"))


def _weigh(ev: pl.DataFrame, rt: pl.DataFrame) -> pl.DataFrame:
    """Evidence weights lowered by the routine of their process (detections by half of it, a
    contact with the instance metadata service not at all)."""
    ev = ev.join(rt.select("exec_id", "routine", pl.col("reason").alias("routine_reason")), on="exec_id", how="left")
    r = pl.col("routine").fill_null(0.0)
    # the instance metadata service's credentials taken: its habit is the workload's destinations
    # (:func:`E.metadata_contacts`), not the process's routine (a service made to fetch them, SSRF)
    factor = pl.when(pl.col("kind") == E.DETECTION).then(1 - r / 2).when(pl.col("kind") == E.METADATA).then(1.0) \
        .otherwise(1 - r)
    return ev.with_columns((pl.col("weight") * factor).alias("weight"))


def _routine_rule(ev: pl.DataFrame) -> pl.DataFrame:
    """``ev`` with the hits of a rule that is routine there (``_rw``: its weight) weighing less,
    and the persistence act such a rule implies gone: a CI build's every test binary trips "drop
    and execute new binary" (tagged persistence) — no build made itself persistent."""
    routine_rule = pl.col("_rw").is_not_null() & (pl.col("_rw") > 0)
    return ev.filter(~((pl.col("kind") == E.PERSIST) & routine_rule)).with_columns(
        pl.col("weight") * (1 - pl.col("_rw").fill_null(0.0))).drop("_rw")


def _mains(procs: pl.DataFrame) -> list[str]:
    """The containers' main processes: of a pod's own tree (``in_init_tree``), started by a
    process that is not in that pod (the runtime's shim, not in the capture)."""
    if procs.height == 0 or not {"in_init_tree", "parent_exec_id", "pod"} <= set(procs.columns):
        return []
    par = procs.select(pl.col("exec_id").alias("parent_exec_id"), pl.col("pod").alias("_ppod")).unique("parent_exec_id")
    p = procs.filter(pl.col("pod").is_not_null() & pl.col("in_init_tree").fill_null(False)).join(
        par, on="parent_exec_id", how="left")
    return p.filter(pl.col("_ppod").is_null() | (pl.col("_ppod") != pl.col("pod")))["exec_id"].to_list()


def _loose_roots(procs: pl.DataFrame, score: dict[str, float], links: pl.DataFrame) -> pl.Series:
    """Containers' entrypoints whose start the capture saw — main processes (:func:`_mains`) whose
    parent is a process of the node's host (the container runtime) the capture saw start — without evidence of their own
    and without a causal link into them (anything but ``spawn``).  A process whose parent the
    capture never saw (a server's child) is not one: what started it is unknown."""
    caused = links.filter((pl.col("kind") != G.SPAWN) & pl.col("_d").is_not_null())["_d"].to_list()
    seen = pl.col("seen_as").fill_null("exec") == "exec" if "seen_as" in procs.columns else pl.lit(True)
    host = procs.filter(pl.col("pod").is_null() & seen)["exec_id"]
    started = set(procs.filter(pl.col("parent_exec_id").is_in(host.implode()))["exec_id"].to_list())
    loose = (set(_mains(procs)) & started) - set(score) - set(caused)
    return pl.Series(sorted(loose), dtype=pl.String).implode()


class _Parts:
    """Union-find over node ids."""

    def __init__(self) -> None:
        self.up: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.up.setdefault(x, x)
        while self.up[x] != x:
            self.up[x] = self.up[self.up[x]]
            x = self.up[x]
        return x

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.up[rb] = ra


def find_in(procs: pl.DataFrame, flows: pl.DataFrame, kprobes: pl.DataFrame, hits: pl.DataFrame,
            settings: EngineSettings = DEFAULT, requests: pl.DataFrame | None = None,
            api: pl.DataFrame | None = None) -> Findings:
    """The engine on plain frames: ``procs`` (``case.processes()``), ``flows`` (``case.flows()``),
    ``kprobes`` (hook events), ``hits`` (:data:`~kernelsec_nb.findings.detections.DETECTION_SCHEMA`),
    all on one clock; optionally ``requests`` (``case.http_requests()``) and ``api``
    (``case.api_calls()``, when the case has an audit log: its named calls replace the timing
    guess of the ``api`` edges)."""
    s = settings
    notes: list[str] = []
    if procs.height == 0:
        notes.append("no process events (Tetragon): no process, tree or incident can be traced; "
                     "detections are listed as leads")
    if flows.height == 0:
        notes.append("no flows (Hubble): connections come from Tetragon's connect hooks only")
    # which processes are of their container's own tree, where the source does not say: from the
    # container's init where the source names it (Tracee), else from the first process (IG)
    procs = with_init_tree(resolve_init_tree(procs))
    # whether the capture has exits of the node's processes (Inspektor Gadget writes none): a
    # process with no exit seen there may have ended long ago (``_endpoints.pipe_sink``)
    if procs.height and {"exit_ns", "node"} <= set(procs.columns):
        procs = procs.with_columns(pl.col("exit_ns").is_not_null().any().over("node").alias("node_exits"))
    # a container made for an operator's session (kubectl debug, kubectl run -it): its processes
    # are the session's, as kubectl exec's are, not the pod's own tree
    sessions = S.session_containers(procs, api)
    procs = S.as_sessions(procs, sessions)
    # a workload new in the capture (started in it, or created through the API in it): its
    # repetition across replicas or on a schedule is no evidence of routine
    # look-alike single pods (a notebook server per user, a build pod per run) are one workload
    # for the replicas rule and the per-workload detections' routine
    peers = peer_groups(procs)
    rt = routine(with_peers(procs, peers), s.routine, fresh_workloads(procs, api)) if procs.height else pl.DataFrame(
        schema={"exec_id": pl.String, "routine": pl.Float64, "reason": pl.String})
    # a container running the script its spec declares (a Helm hook as a bare pod): its steps
    rt = D.with_declared(rt, procs, api, s.routine)
    routine_creates = A.routine_pod_creates(api, _mains(procs))["event_id"] if api is not None \
        else pl.Series([], dtype=pl.String)
    # and an operator's calls into the namespace it reconciles all day (its exec of a backup)
    routine_creates = pl.concat([routine_creates, managed_calls(api, pl.concat(
        [rt.filter(pl.col("routine") >= s.routine_cut)["exec_id"], long_running(procs)]), s.routine)["event_id"]])
    conns = _connections(flows, kprobes)
    # routine destinations and requests are learned from routine processes only (a main process,
    # a scheduled job): an implant that beacons all day long must not teach its own C2 as routine
    usual = rt.filter(pl.col("routine") >= s.routine_cut)["exec_id"].implode()
    rdest = destinations(conns.filter(pl.col("exec_id").is_in(usual)), s.routine)
    # and a namespace's common destinations (every CI job pod's registry: each pod a workload of its own)
    flagged = flagged_pods(hits, procs)
    rdest = pl.concat([rdest, common_destinations(conns, procs, s.routine, flagged=flagged)]).unique(
        ["src_workload", "dst", "dst_port"], keep="first", maintain_order=True)
    # but none that only pods a critical detection fired on reached (a planted schedule's every run)
    rdest = rdest.join(flagged_destinations(conns, procs, flagged), on=["dst", "dst_port"], how="anti")
    rreq = destinations(E.request_keys(flows.filter(pl.col("exec_id").is_in(usual))), s.routine) \
        if "http_method" in flows.columns else None

    # edges
    acc = G.file_accesses(kprobes) if "file_path" in kprobes.columns else None
    edges = [G.spawn_edges(procs)] if procs.height else []
    probed = E.empty_evidence()
    if flows.height:
        edges.append(G.connect_edges(flows))
        # connections only a connect hook saw (Hubble not on that node, or not on that path)
        hooked = _connections(flows.clear(), kprobes)
        if hooked.height and "exec_id" in flows.columns:
            seen = flows.filter(pl.col("exec_id").is_not_null()).select(
                "exec_id", pl.col("dst_ip").cast(pl.String), pl.col("dst_port").cast(pl.Int64)).unique()
            hooked = hooked.join(seen, on=["exec_id", "dst_ip", "dst_port"], how="anti")
            if hooked.height:
                edges.append(G.connect_edges(hooked.with_columns(pl.lit(None, pl.String).alias("dst_pod"))))
    elif conns.height:
        edges.append(G.connect_edges(conns.with_columns(pl.lit(None, pl.String).alias("dst_pod"))))
    if procs.height:
        if acc is not None:
            edges.append(G.file_edges(acc, procs))
            # a server that read a dropped file, then started a command (a web shell)
            edges.append(G.read_spawn_edges(acc, procs, s.graph))
            # a file dropped into a server's directory from outside, then the server's unusual child
            edges.append(G.served_edges(acc, procs, rt.filter(pl.col("routine") < s.routine_cut)["exec_id"], s.graph))
        # ``curl -o /tmp/x``, then ``/tmp/x``: no hook saw it (below an escape: the host's path)
        edges.append(N.named_file_edges(procs, acc, G.escaping(hits)))
        if flows.height and "dst_pod" in flows.columns:
            busy = rt.filter(pl.col("routine") >= s.routine_cut)["exec_id"]
            # what a pod fetched from outside right after a connection into it (its workload's
            # usual destinations left out): a server made to download for the attacker
            odd = E.unusual_outside(conns, rdest).join(
                procs.select("exec_id", "namespace", "pod").unique("exec_id"), on="exec_id", how="inner")
            edges.append(G.service_edges(flows.filter(~pl.col("exec_id").is_in(busy.implode())), procs, acc, s.graph,
                                         outward=odd))
        # requests into a pod: Hubble's L7 flows and the sidecars' access logs (a child is linked to
        # the latest request before it, whichever saw it)
        heard = [flows] if flows.height and "dst_pod" in flows.columns else []
        if requests is not None and requests.height:
            heard.append(G.requests_as_flows(requests))
        if heard:
            edges.append(G.http_edges(pl.concat(heard, how="diagonal_relaxed"), procs, s.graph))
        busy = rt.filter(pl.col("routine") >= s.routine_cut)["exec_id"]
        calls = flows if flows.height else conns
        if api is not None and api.height:  # the audit log names the calls: no guess by timing
            # a workload's own creates of pods from one template (a driver's executors) link nothing
            edges.append(G.api_call_edges(api.filter(~pl.col("event_id").is_in(routine_creates.implode()).fill_null(False))))
            edges.append(A.controller_edges(api.filter(~pl.col("event_id").is_in(routine_creates.implode())
                                                       .fill_null(False)), procs))
            # a credential that probed its rights, then deployed: its pods are one part
            probed, probed_edges = probed_creates(api, procs)
            edges.append(probed_edges)
            # a client naming a pod and a command whose exec no audited call explains (a kubelet's
            # own API, ``:10250/run/…``, bypasses the API server)
            edges.append(named_exec_edges(procs, explained=audited_execs(api)))
        else:
            # a guess by time: not into a run a schedule kept starting all through the capture
            edges.append(R.drop_scheduled(G.api_edges(calls.filter(~pl.col("exec_id").is_in(busy.implode())), procs,
                                                      s.graph), procs, s.routine))
            # ``kubectl exec <pod> -- <cmd>`` → that command, exec'd into that pod just after
            edges.append(named_exec_edges(procs))
    # lookups that carry data out (a DNS tunnel): a pod's, no flow naming its process, go to the
    # line of the pod's process that started last before them
    es = s.evidence
    tunnels = E.dns_tunnel_queries(flows, es) if procs.height else pl.DataFrame(schema=E.TUNNEL_SCHEMA)
    tunnels = E.attribute_to_lineage(tunnels, procs, usual.explode(), es)
    edges.append(G.dns_edges(tunnels))
    # who called the Kubernetes API server (no link, no evidence: the key of a line that did nothing else)
    if procs.height:
        edges.append(A.api_server_edges([flows, _connections(flows.clear(), kprobes)], api))
    edge = pl.concat(edges) if edges else G.empty_edges()
    rt = _untaint(rt, edge, s)
    if api is not None and api.height and rt.height:  # a routine command's run that did what its others never do
        odd = A.unusual_senders(api, procs).implode()
        rt = rt.with_columns(pl.when(pl.col("exec_id").is_in(odd)).then(0.0).otherwise(pl.col("routine")).alias("routine"))

    # evidence
    ev = pl.concat([E.detections_on_processes(hits, es), E.persistence(hits, es), E.entry_kinds(procs, es),
                    E.outside_connections(conns, rdest, es), E.metadata_contacts(conns, rdest, es),
                    E.blocked_and_requests(flows, rreq, es, [*usual.explode().to_list(), *_mains(procs)]),
                    E.around_policy(flows, es), E.dns_tunnels(flows, es, tunnels),
                    E.signals(procs, es), E.from_edges(edge, es),
                    A.controller_acts(api, es, procs=procs) if api is not None else E.empty_evidence(), probed,
                    exec_sessions(api),  # a probing credential's exec from outside: on the shell it started
                    grant_acts(api),  # rights granted, an admission webhook registered, by a process
                    typed_destinations(conns, rdest, procs)])  # an address typed on the command line
    ev = S.session_texts(ev, sessions)
    # a workload's routine creates of pods through the API (and the rule that flags them) weigh nothing
    ev = ev.filter(~pl.col("event_id").is_in(routine_creates.implode()).fill_null(False))
    # a rule that fires again and again on one process is one piece of evidence (two engines' too)
    ev = E.once(ev)
    ev = _weigh(ev, rt)
    # a rule that fires on the workload all through the capture weighs less there
    as_peer = pl.coalesce("peer", "workload").alias("workload")
    rdet = detections_routine(with_peers(hits, peers).with_columns(as_peer), s.routine)
    if rdet.height and procs.height:
        wl = with_peers(procs, peers).select("exec_id", pl.coalesce("peer", "workload").alias("_wl")).unique("exec_id")
        ev = ev.join(wl, on="exec_id", how="left").join(
            rdet.select(pl.col("workload").alias("_wl"), "rule_id", pl.col("weight").alias("_rw")),
            on=["_wl", "rule_id"], how="left")
        ev = _routine_rule(ev).drop("_wl")
    # a rule that fires again and again, all through the capture, on a routine process (the main
    # process of an application that polls an API) is that process's routine
    # a rule that most of a service's jobs trip (a CI runner's builds run what they compiled in /tmp)
    rrep = pl.concat([repeated_detections(hits, usual.explode(), s.routine), job_detections(procs, hits, s.routine)])
    rrep = rrep.sort("weight", descending=True).unique(["exec_id", "rule_id"], keep="first")
    if rrep.height:
        ev = ev.join(rrep.select("exec_id", "rule_id", pl.col("weight").alias("_rw")), on=["exec_id", "rule_id"],
                     how="left")
        ev = _routine_rule(ev)
    ev = ev.filter(pl.col("weight") > 0)
    # an escape to the node joins what then ran suspiciously on its host (evidence known only now)
    esc = G.escape_edges(procs, hits, ev["exec_id"].unique(), s.graph)
    if esc.height:
        edge = pl.concat([edge, esc])
    # a critical rule alone in a session's container no process of the capture made raises nothing
    exempt = S.uncaused(procs, edge, sessions)
    found = _assemble(procs, rt, edge, ev, hits, flows, s, notes, exempt)
    # a pod that reached an incident's outside address joins it (a second pass with those edges)
    # (an address the incident itself brought into the capture is no routine destination there)
    shared = shared_edges(found.incidents, conns, rdest.join(introduced_addresses(found.incidents, conns, procs),
                                                             on=["dst", "dst_port"], how="anti"), procs)
    if shared.height:
        edge = pl.concat([edge, shared])
        # a process that reached the attacker's address (no routine destination) is no routine run of
        # its schedule, whatever its Job declares: it links
        reached = shared["dst"].str.slice(5).implode()
        rt = rt.with_columns(pl.when(pl.col("exec_id").is_in(reached)).then(0.0).otherwise(pl.col("routine"))
                             .alias("routine"))
        found = _assemble(procs, rt, edge, ev, hits, flows, s, notes, exempt)
    # the attacker's own host reached on its other ports by what no edge joins (the API server)
    found = Findings(own_host_endpoints(found.incidents, conns, rdest), found.leads, found.notes)
    # a burst of refused logins, then one let in, into the pod an incident then started in (T1110)
    bursts = B.bursts_of(flows, requests, s.brute) if found.incidents else pl.DataFrame()
    if bursts.height:
        entries = [i.entry.exec_id for i in found.incidents if i.entry is not None]
        starts = dict(procs.filter(pl.col("exec_id").is_in(entries)).select("exec_id", "start_ns").iter_rows())
        found = Findings(B.guessed_logins(found.incidents, bursts, starts, s.brute), found.leads, found.notes)
    lone = L.tunnel_leads(tunnels.filter(pl.col("exec_id").is_null()), s)
    if lone:
        found = Findings(found.incidents, sorted([*found.leads, *lone], key=lambda x: -x.score)[: s.max_leads],
                         found.notes)
    return found


def _assemble(procs: pl.DataFrame, rt: pl.DataFrame, edge: pl.DataFrame, ev: pl.DataFrame, hits: pl.DataFrame,
              flows: pl.DataFrame, s: EngineSettings, notes: list[str], exempt: set[str] | None = None) -> Findings:
    allp = procs.join(rt, on="exec_id", how="left") if procs.height else pl.DataFrame(
        schema={"exec_id": pl.String, "pod": pl.String, "node": pl.String, "routine": pl.Float64})
    score = dict(ev.group_by("exec_id").agg(pl.col("weight").sum()).iter_rows())
    # a routine process (a service's main process, a scheduler) is no link, even with evidence of its
    # own: through it every child of the service would be one part
    kept_ids = allp.filter(pl.col("routine").fill_null(0.0) < s.routine_cut)["exec_id"]
    known = set(allp["exec_id"].to_list())
    kept = set(kept_ids.to_list()) | {x for x in score if x not in known}
    kept_s = pl.Series(list(kept), dtype=pl.String).implode()

    links = edge.filter(pl.col("kind").is_in(LINKS)).with_columns(
        pl.when(pl.col("src").str.starts_with("proc:")).then(pl.col("src").str.slice(5)).alias("_s"),
        pl.when(pl.col("dst").str.starts_with("proc:")).then(pl.col("dst").str.slice(5)).alias("_d"))
    links = links.filter((pl.col("_s").is_null() | pl.col("_s").is_in(kept_s))
                         & (pl.col("_d").is_null() | pl.col("_d").is_in(kept_s)))
    place = allp.select("exec_id", pl.concat_str([pl.col("pod").fill_null(""), pl.lit("\x1f"),
                                                  pl.col("node").fill_null("")]).alias("_at"))
    links = (links.join(place.rename({"exec_id": "_s", "_at": "_sat"}), on="_s", how="left")
             .join(place.rename({"exec_id": "_d", "_at": "_dat"}), on="_d", how="left"))
    # the runtime that exec'd into a pod is no link between pods
    links = links.filter((pl.col("kind") != G.SPAWN) | pl.col("_sat").eq_missing(pl.col("_dat")))
    # a container's entrypoint that did nothing itself and that nothing of the capture caused (no
    # hand-off, API call or service connection led to it) only started the container's programs: the
    # app and a sidecar beside it are separate lines of one part, and an incident's key command,
    # chain, reached pods and endpoints come from its heaviest line (the attacker's lineage)
    loose = (pl.col("kind") == G.SPAWN) & pl.col("_s").is_in(_loose_roots(procs, score, links))
    parts, lines = _Parts(), _Parts()
    nxt: dict[str, list[str]] = defaultdict(list)
    for src, dst, is_loose in links.select("src", "dst", loose.alias("_l")).iter_rows():
        parts.join(src, dst)
        nxt[src].append(dst)
        if not is_loose:
            lines.join(src, dst)
    members: dict[str, list[str]] = defaultdict(list)
    for x in score:
        members[parts.find("proc:" + x) if x in kept else "alone:" + x].append(x)
    for x in kept:
        root = parts.find("proc:" + x)
        if root in members and x not in members[root]:
            members[root].append(x)

    # the parts' weights at once; only parts that can be a lead are looked at one by one, and
    # only their processes are read into Python
    part_of = pl.DataFrame({"exec_id": [x for ids in members.values() for x in ids],
                            "_part": [n for n, ids in enumerate(members.values()) for _ in ids]},
                           schema={"exec_id": pl.String, "_part": pl.Int64})
    ev = ev.join(part_of, on="exec_id", how="left")
    totals = ev.group_by("_part").agg(pl.col("weight").sum()).filter(pl.col("weight") >= s.lead_min)
    incidents: list[tuple[float, Incident]] = []
    raised: list[tuple[list[str], pl.DataFrame]] = []
    leads: list[Lead] = []
    all_parts = list(members.values())
    needed = {x for n in totals["_part"].to_list() for x in all_parts[n]}
    info: dict[str, Any] = {r["exec_id"]: r for r in allp.filter(
        pl.col("exec_id").is_in(pl.Series(list(needed), dtype=pl.String).implode())).iter_rows(named=True)}
    nodes_of = {(ns or "", pod): node for ns, pod, node in allp.filter(pl.col("pod").is_not_null()).select(
        "namespace", "pod", "node").unique(["namespace", "pod"]).iter_rows()} if "namespace" in allp.columns else {}
    for n in totals["_part"].to_list():
        ids = sorted(all_parts[n], key=lambda x: (info.get(x, {}).get("start_ns") or 0, x))
        pev = ev.filter(pl.col("_part") == n).drop("_part")
        total = float(pev["weight"].sum())
        kinds = set(pev["kind"].to_list())
        acts = kinds & set(E.ACTS)
        dets = pev.filter(pl.col("kind") == E.DETECTION)["weight"]
        detected = bool((dets >= s.detected_min).any())  # a rule that fires there all day does not count
        detected_anywhere = detected
        if detected and len(acts) == 1:  # one kind of act: a detection on its own line must speak for it
            # an exec'd shell's "shell exec'd in" says nothing about a download (an act that only reaches out)
            said = E.arrivals(pev) if acts <= set(E.OUTWARD) else pl.Series([False] * pev.height)
            on = pev.filter((pl.col("kind") == E.DETECTION) & (pl.col("weight") >= s.detected_min) & ~said)
            detected = corroborated(nxt, set(pev.filter(pl.col("kind").is_in(list(acts)))["exec_id"].to_list()),
                                    set(on["exec_id"].to_list()))
        strong = bool((pev.filter((pl.col("kind") == E.DETECTION) & ~pl.col("exec_id").is_in(list(exempt or ())))
                       ["weight"] >= s.strong_level).any())
        why = _why(pev, ids, info, s)
        entry = _entry(ids, pev, info)
        if total >= s.threshold and ((acts and (detected or len(acts) >= 2)) or strong):
            line = _lineage(ids, pev, lines)
            incidents.append((total, _incident(ids, pev, entry, info, nodes_of, edge, flows, total, kinds, why, s,
                                               line)))
            raised.append((ids, pev))
        elif total >= s.lead_min:
            e = info.get(entry, {})
            need = (f"weight {total:.1f} below the threshold {s.threshold:.1f}" if total < s.threshold else
                    "no act with an effect (a kill, a connection out, a file used later, a hand-off to another pod)"
                    if not acts else f"one kind of act ({sorted(acts)[0]}) and no detection"
                    + (" on its line that speaks for it" if detected_anywhere else ""))
            leads.append(Lead(pod=e.get("pod"), node=e.get("node"), why_not=need, namespace=e.get("namespace"),
                              workload=e.get("workload"), exec_ids=ids, score=round(total, 2), why=why))
    # the parts' leads in a fixed order (the parts come in none), then the detections and flows no
    # process explains: of equal weight, listed in that order
    leads = L.merge_leads([*sorted(leads, key=L.lead_order), *L.orphan_leads(hits, s),
                           *(L.flow_leads(flows, s) if procs.height == 0 else [])])
    incidents = _merge_incidents(incidents, raised, info, nodes_of, edge, flows, lines, s)
    # the heaviest first; of equal weight by where each entered (the parts come in no fixed order)
    incidents.sort(key=lambda t: (-t[0], t[1].namespace or "", t[1].pod or "", t[1].node or "",
                                  t[1].entry.exec_id if t[1].entry is not None else ""))
    ranked = [Incident(**{**_fields(i), "rank": n}) for n, (_, i) in enumerate(incidents, 1)]
    leads.sort(key=lambda x: -x.score)
    return Findings(ranked, leads[: s.max_leads], notes)


def _lineage(ids: list[str], pev: pl.DataFrame, lines: _Parts) -> list[str]:
    """The attacker's lineage in a part: of its lines (parts joined without a loose container
    entrypoint, :func:`_loose_roots`), the one whose evidence weighs most (of equal weight, the
    later); the whole part when it is one line."""
    by: dict[str, list[str]] = defaultdict(list)
    for x in ids:
        by[lines.find("proc:" + x)].append(x)
    if len(by) == 1:
        return ids
    w = dict(pev.group_by("exec_id").agg(pl.col("weight").sum()).iter_rows())
    return max(by.values(), key=lambda xs: (sum(w.get(x, 0.0) for x in xs), len(xs), max(xs)))


def _merge_incidents(found: list[tuple[float, Incident]], raised: list[tuple[list[str], pl.DataFrame]],
                     info: dict[str, Any], nodes_of: dict[tuple[str, str], Any], edge: pl.DataFrame,
                     flows: pl.DataFrame, lines: _Parts, s: EngineSettings) -> list[tuple[float, Incident]]:
    """Incidents that entered through the same pod and acted in the same other pod are one
    attacker's: one incident of their parts together (each request of an injection that drove the
    same service is a part of its own: the service's main process is no link)."""
    if len(found) < 2:
        return found
    groups = _Parts()
    places = []
    for _, i in found:
        home = (i.namespace, i.pod)
        places.append((home, {(r.namespace, r.pod) for r in i.reached if r.pod is not None} - {home}))
    for a in range(len(found)):
        for b in range(a + 1, len(found)):
            if places[a][0][1] is not None and places[a][0] == places[b][0] and places[a][1] & places[b][1]:
                groups.join(str(a), str(b))
    together: dict[str, list[int]] = defaultdict(list)
    for n in range(len(found)):
        together[groups.find(str(n))].append(n)
    out = []
    for ns in together.values():
        if len(ns) == 1:
            out.append(found[ns[0]])
            continue
        ids = sorted({x for n in ns for x in raised[n][0]}, key=lambda x: (info.get(x, {}).get("start_ns") or 0, x))
        pev = pl.concat([raised[n][1] for n in ns])
        total = float(pev["weight"].sum())
        kinds = set(pev["kind"].to_list())
        line = [x for n in ns for x in _lineage(raised[n][0], raised[n][1], lines)]
        out.append((total, _incident(ids, pev, _entry(ids, pev, info), info, nodes_of, edge, flows, total, kinds,
                                     _why(pev, ids, info, s), s, sorted(set(line), key=ids.index))))
    return out


__all__ = ["DEFAULT", "EngineSettings", "case_frames", "find", "find_in"]
