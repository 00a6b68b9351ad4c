"""One incident's record: its entry, key command, chain, reached pods, endpoints and their roles.

:mod:`kernelsec_nb.findings.engine` finds the suspicious parts of the evidence graph; this module
turns one part (its process ids, their evidence and the edges) into an :class:`Incident`.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any

import polars as pl

from kernelsec_nb.findings import _endpoints as X
from kernelsec_nb.findings import _evidence as E
from kernelsec_nb.findings import graph as G
from kernelsec_nb.findings._api_acts import API_SERVER, CONTROLLER
from kernelsec_nb.findings._probes import PROBE, probed_pods
from kernelsec_nb.findings._records import (
    Endpoint,
    Entry,
    Incident,
    KeyCommand,
    Reached,
)
from kernelsec_nb.findings._shared import SHARED_ENDPOINT

if TYPE_CHECKING:
    from kernelsec_nb.findings.engine import EngineSettings

#: Endpoint roles, most telling first (one address in several roles keeps the first).
ROLE_ORDER = ("c2", "callback", "download", "exfil", "unknown")
#: Edge kinds that join processes into one part (pods and addresses are leaves).
LINKS = (G.SPAWN, G.SERVICE, G.SERVICE_WRITE, G.WRITE, G.EXEC_FILE, G.READ_FILE, G.READ_SPAWN, G.SERVED, G.API, G.ESCAPE, CONTROLLER,
         SHARED_ENDPOINT)


def _fields(i: Incident) -> dict[str, Any]:
    return {k: getattr(i, k) for k in Incident.__dataclass_fields__}


def _why(pev: pl.DataFrame, ids: list[str], info: dict[str, Any], s: EngineSettings) -> list[str]:
    plus = (pev.sort("weight", descending=True).unique("text", keep="first", maintain_order=True)
            .head(s.max_why))
    out = [f"+ {t}" for t in plus["text"].to_list()]
    against = {(info.get(x) or {}).get("reason") for x in ids} - {None, ""}
    out += [f"- partly routine: {r}" for r in sorted(against)[:3]]
    if not (pev["kind"] == E.DETECTION).any():
        out.append("- no detection fired on it")
    return out


def _entry(ids: list[str], pev: pl.DataFrame, info: dict[str, Any]) -> str:
    starts = set(pev.filter(pl.col("kind").is_in([E.EXEC_IN, E.SERVICE_CHILD]))["exec_id"].to_list())
    for x in ids:
        if x in starts:
            return x
    for x in ids:
        if (info.get(x) or {}).get("pod") is not None:
            return x
    return ids[0]


def _writers(edge: pl.DataFrame | None, ids: set[str]) -> dict[str, str]:
    """A process of the part → the process of the part that caused it: wrote the program or file
    it ran (in its pod or, through a service, in another), or whose connection or API call made
    another pod start it (``service``, ``api``), or that escaped to the host it runs on."""
    if edge is None or edge.height == 0:
        return {}
    w = edge.filter(pl.col("kind").is_in([G.WRITE, G.SERVICE_WRITE]) & pl.col("src").str.starts_with("proc:")).select(
        pl.col("src").alias("_w"), pl.col("dst").alias("_f"))
    r = edge.filter(pl.col("kind") == G.EXEC_FILE).select(pl.col("src").alias("_f"), pl.col("dst").alias("_r"))
    direct = edge.filter(pl.col("kind").is_in([G.SERVICE, G.API, G.ESCAPE, CONTROLLER]) & pl.col("src").str.starts_with("proc:")
                         & pl.col("dst").str.starts_with("proc:")).select(pl.col("src").alias("_w"), pl.col("dst").alias("_r"))
    out: dict[str, str] = {}
    for writer, ran in pl.concat([w.join(r, on="_f").select("_w", "_r"), direct]).iter_rows():
        if writer[5:] in ids and ran[5:] in ids and writer != ran:  # no process caused itself (its args name what it writes)
            out.setdefault(ran[5:], writer[5:])
    return out


def _entry_above(key: str, entry: str, pev: pl.DataFrame, info: dict[str, Any], ids: set[str],
                 edge: pl.DataFrame | None = None) -> str:
    """The entry on the key command's own line: of its ancestors in the part (itself included),
    the highest that came in from outside or that a service started — not another child of the
    same service that started earlier (a build beside the payload); ``entry`` when none is.  A
    process run from a file a process of the part wrote has that writer above it (the delivery).

    When none of the line came in that way but a process on it ran a file another process of
    the part wrote (a second stage an init container downloaded into a volume the app container
    then ran), the entry is on the writer's line (the highest of the writers so found): its own
    start if it has one, else the writer itself — the delivery is where the attacker's code
    came in, not a process that started after the key command.  When none of the key's line came
    in from outside but that line caused ``entry`` (its ``pods/exec`` started the shell that
    did), the entry is the top of the key's line: the sender came first."""
    starts = set(pev.filter(pl.col("kind").is_in([E.EXEC_IN, E.SERVICE_CHILD]))["exec_id"].to_list())
    writers = _writers(edge, ids)
    seen: set[str] = set()
    top, crossed = key, None  # crossed: the highest writer the walk followed back to
    head = key  # the highest process of the key's own line the walk reached
    while True:
        best, delivery, cur = None, None, top
        while cur in ids and cur not in seen:
            seen.add(cur)
            if top == key:
                head = cur
            if cur in starts:
                best = cur
            if writers.get(cur) is not None:
                delivery = writers[cur]  # the highest writer above the line so far
            parent = (info.get(cur) or {}).get("parent_exec_id")
            if parent not in ids and writers.get(cur) in ids:
                crossed = writers[cur]  # followed back across the delivery
            cur = parent if parent in ids else writers.get(cur, parent)
        if best is not None:
            return best
        if top != key and cur in seen:  # the writer's line joins the line already walked
            return entry
        if delivery is None or delivery in seen:
            if crossed is None and writers.get(entry) in seen:
                return head  # the key's line sent what started the entry (a pods/exec): it came first
            return crossed if crossed is not None else entry
        top = crossed = delivery


def _delivered(ids: list[str], pev: pl.DataFrame, edge: pl.DataFrame | None,
               info: dict[str, Any] | None = None) -> set[str]:
    """Writers whose hand-off is only the means: the program they wrote was run by a process of
    the part that acted itself, or below which a process of the part acted (the delivery of a
    tool is not the damage the tool, or what it started, did)."""
    if edge is None or edge.height == 0:
        return set()
    acted = set(pev.filter(pl.col("kind").is_in([k for k in E.ACTS if k != E.HANDOFF]))["exec_id"].to_list())
    idset = set(ids)
    ran = {d[5:] for d in edge.filter(pl.col("kind") == G.EXEC_FILE)["dst"].to_list() if d.startswith("proc:")}
    acted |= {x for x in ran & idset if info is not None and _below(x, idset, info) & acted}
    runs = edge.filter((pl.col("kind") == G.EXEC_FILE) & pl.col("dst").is_in(["proc:" + x for x in acted & idset]))
    wrote = edge.filter((pl.col("kind") == G.WRITE) & pl.col("dst").is_in(runs["src"].implode()))
    return {x.removeprefix("proc:") for x in wrote["src"].to_list()}


def _planted(ids: list[str], edge: pl.DataFrame | None, info: dict[str, Any]) -> set[str]:
    """Writers of ``ids`` whose file a process of ``ids`` in another pod ran later (``write`` →
    ``exec_file``, writer and runner both in pods, not the same one): a job planted in another
    pod — a hook script on a volume both mount, appended to — is a move into that pod (ATT&CK
    T1080, taint shared content, a lateral movement), ranked as one for the key, not a tool's
    delivery: the act that made the other pod act."""
    if edge is None or edge.height == 0:
        return set()
    idset = set(ids)

    def pod(x: str) -> tuple[Any, Any]:
        i = info.get(x, {})
        return i.get("namespace"), i.get("pod")

    runs = edge.filter((pl.col("kind") == G.EXEC_FILE) & pl.col("dst").is_in(["proc:" + x for x in idset]))
    ran: dict[str, set[tuple[Any, Any]]] = defaultdict(set)
    for f, d in runs.select("src", "dst").iter_rows():
        ran[f].add(pod(d.removeprefix("proc:")))
    wrote = edge.filter((pl.col("kind") == G.WRITE) & pl.col("dst").is_in(list(ran))
                        & pl.col("src").is_in(["proc:" + x for x in idset]))
    out = set()
    for src, f in wrote.select("src", "dst").iter_rows():
        w = src.removeprefix("proc:")
        if pod(w)[1] is not None and any(p[1] is not None and p != pod(w) for p in ran[f]):
            out.add(w)
    return out


def _driven(ids: set[str], info: dict[str, Any], edge: pl.DataFrame) -> set[str]:
    """Processes of ``ids`` that connected out of the cluster and below which processes started
    after that connection: a channel the attacker drove the pod through (a C2)."""
    out = set()
    conns = edge.filter(pl.col("src").is_in(["proc:" + x for x in ids]) & (pl.col("kind") == G.CONNECT)
                        & pl.col("dst").str.starts_with("ext:"))
    for src, t in conns.group_by("src").agg(pl.col("time_ns").min()).iter_rows():
        x = src[5:]
        if any((info.get(y, {}).get("start_ns") or 0) > (t or 0) for y in _below(x, ids, info) - {x}):
            out.add(x)
    return out


def _means(ids: list[str], pev: pl.DataFrame, info: dict[str, Any], edge: pl.DataFrame | None) -> set[str]:
    """Processes whose move into another pod was only the means of what the part then did there
    (the damage is the later act, as a tool's delivery is not what the tool did): every ``service``
    edge out of it started a line that opened a channel out the attacker then drove
    (:func:`_driven`: the pod is now run from outside), and every ``service_write`` edge out of it
    wrote a file no process used later in a pod where the part acted later.  A login whose shell
    ran one command, a job or file planted there and run later (``exec_file``), or a pod created
    through the API stays the key: the act that made the other pod act."""
    if edge is None or edge.height == 0:
        return set()
    idset = set(ids)
    acted = pev.filter(pl.col("kind").is_in([k for k in E.ACTS if k != E.LATERAL])
                       & (pl.col("rule_id").fill_null("") != E.ATTRIBUTED))
    acted_ids = set(acted["exec_id"].to_list())
    out = edge.filter(pl.col("src").is_in(["proc:" + x for x in ids])
                      & pl.col("kind").is_in([G.SERVICE, G.SERVICE_WRITE, G.SERVICE_CONNECT, G.API]))
    if out.height == 0:
        return set()
    used = set(edge.filter(pl.col("kind").is_in([G.EXEC_FILE, G.READ_FILE]))["src"].to_list())
    driven = _driven(idset, info, edge)
    verdict: dict[str, bool] = {}
    for src, dst, kind, t in out.select("src", "dst", "kind", "time_ns").iter_rows():
        x = src[5:]
        if kind == G.SERVICE:
            means = bool(_below(dst[5:], idset, info) & driven)
        elif kind == G.SERVICE_WRITE:
            scope = dst[5:].split(":", 1)[0]
            means = dst not in used and any(
                f"{info.get(y, {}).get('namespace') or ''}/{info.get(y, {}).get('pod')}" == scope
                and (info.get(y, {}).get("start_ns") or 0) >= (t or 0) for y in acted_ids)
        elif kind == G.SERVICE_CONNECT:
            continue  # what the pod fetched says nothing of whether it was the means
        else:
            means = False
        verdict[x] = verdict.get(x, True) and means
    return {x for x, m in verdict.items() if m}


def _escaping() -> pl.Expr:
    tech = G.ESCAPE_TECHNIQUE.upper()
    return pl.col("techniques").list.eval(pl.element().str.to_uppercase().str.starts_with(tech)).list.any().fill_null(False)


def _escapes(ids: list[str], pev: pl.DataFrame, info: dict[str, Any]) -> list[str]:
    """Processes of ``ids`` in a pod with an escape-to-host detection (technique
    :data:`graph.ESCAPE_TECHNIQUE`), earliest first."""
    if pev.height == 0 or "techniques" not in pev.columns:
        return []
    rows = pev.filter(pl.col("exec_id").is_in(ids) & (pl.col("rule_id").fill_null("") != E.ATTRIBUTED) & _escaping())
    found = [x for x in rows["exec_id"].unique().to_list() if info.get(x, {}).get("pod")]
    return sorted(found, key=lambda x: (info.get(x, {}).get("start_ns") or 0, x))


def _key(ids: list[str], pev: pl.DataFrame, info: dict[str, Any], edge: pl.DataFrame | None = None) -> tuple[str, str]:
    """The key command of line ``ids`` and why (README, "key command"): the act of the line by
    kind (:func:`_act_key`) unless that is a move into another pod (or, with no act, a call to
    the API server) and a process of the line escaped its container to the node before it: the
    escape is then the root of what followed (the node's credentials, the pods reached from
    there) and the key, its text naming the later step too.  What the line then did on the node
    itself (persistence, a channel out) stays the key: the damage, the escape its way there."""
    key, why, kind = _act_key(ids, pev, info, edge)
    if kind not in (E.LATERAL, "api"):
        return key, why
    start = info.get(key, {}).get("start_ns") or 0
    escapes = _escapes(ids, pev, info)
    before = [x for x in escapes if (info.get(x, {}).get("start_ns") or 0) <= start]
    if key in escapes or not before:
        return key, why
    esc = before[0]
    text = pev.filter((pl.col("exec_id") == esc) & _escaping())["text"][0]
    return esc, f"escaped its container to the node ({text}); then {why}"


def _act_key(ids: list[str], pev: pl.DataFrame, info: dict[str, Any],
             edge: pl.DataFrame | None = None) -> tuple[str, str, str]:
    """The key by the kind of its act, why, and that kind (``'api'``: the line's last API caller,
    ``'suspicious'``: the most suspicious process)."""
    delivered = _delivered(ids, pev, edge, info)
    means = _means(ids, pev, info, edge)
    planted = _planted(ids, edge, info)
    everything = pev.filter(pl.col("exec_id").is_in(ids)) if pev.height else pev
    # an act attributed to a process by time (a pod's lookups) joins its part but names no command
    pev = pev.filter(pl.col("exec_id").is_in(ids) & (pl.col("rule_id").fill_null("") != E.ATTRIBUTED)) \
        if pev.height else pev
    sent = X.exfil_senders(ids, info, edge, G.WRITE, G.CONNECT, API_SERVER) if edge is not None else set()
    for kind in E.ACTS:
        if kind == E.HANDOFF and sent:  # the data sent out is the damage, the archive made for it the means
            last = max(sent, key=lambda x: (info.get(x, {}).get("start_ns") or 0, x))
            return last, "sent out a file its line had just written (exfiltration)", kind
        rows = pev.filter(pl.col("kind") == kind)
        if kind == E.HANDOFF:
            rows = rows.filter(~pl.col("exec_id").is_in(list(delivered)))
        if kind == E.LATERAL:
            rows = pl.concat([rows.filter(~pl.col("exec_id").is_in(list(means))), pev.filter(
                (pl.col("kind") == E.HANDOFF) & pl.col("exec_id").is_in(list(planted)))])
        if rows.height:
            last = max(rows["exec_id"].unique().to_list(), key=lambda x: (info.get(x, {}).get("start_ns") or 0, x))
            text = rows.filter(pl.col("exec_id") == last)["text"][0]
            return last, text, kind
    # no act: the latest process of the line that called the Kubernetes API server — what the
    # pod's token let it read or change is the damage (the audit log would name the call), and the
    # shell or the program around that command only the way there
    if edge is not None and edge.height:
        calls = edge.filter((pl.col("kind") == API_SERVER) & pl.col("src").is_in(["proc:" + x for x in ids]))
        if calls.height:
            last = max({x[5:] for x in calls["src"].to_list()},
                       key=lambda x: (info.get(x, {}).get("start_ns") or 0, x))
            return last, calls.filter(pl.col("src") == "proc:" + last)["why"][0], "api"
    # then the most suspicious process; of equal weight, the latest (the deeper step), then by id
    if pev.height == 0:
        pev = everything
    top = pev.sort("weight", descending=True).group_by("exec_id", maintain_order=True).agg(
        pl.col("weight").sum(), pl.first("text"))
    top = top.with_columns(pl.col("exec_id").replace_strict(
        {x: (info.get(x, {}).get("start_ns") or 0) for x in top["exec_id"].to_list()}, default=0,
        return_dtype=pl.Int64).alias("_start")).sort(["weight", "_start", "exec_id"], descending=[True, True, False])
    return top["exec_id"][0], f"the most suspicious process: {top['text'][0]}", "suspicious"


def _chain(entry: str, key: str, ids: set[str], edge: pl.DataFrame) -> list[str]:
    nxt: dict[str, list[str]] = defaultdict(list)
    for src, dst in edge.filter(pl.col("kind").is_in(LINKS)).select("src", "dst").iter_rows():
        if (src[5:] in ids or src.startswith("file:")) and (dst[5:] in ids or dst.startswith("file:")):
            nxt[src].append(dst)
    start, goal = "proc:" + entry, "proc:" + key
    prev: dict[str, str | None] = {start: None}
    q = deque([start])
    while q:
        n = q.popleft()
        if n == goal:
            path = []
            cur: str | None = n
            while cur is not None:
                path.append(cur)
                cur = prev[cur]
            return [p[5:] for p in reversed(path) if p.startswith("proc:")]
        for m in nxt.get(n, []):
            if m not in prev:
                prev[m] = n
                q.append(m)
    return [entry] if entry == key else [entry, key]


def _incident(ids: list[str], pev: pl.DataFrame, entry: str, info: dict[str, Any],
              nodes_of: dict[tuple[str, str], Any], edge: pl.DataFrame, flows: pl.DataFrame, total: float,
              kinds: set[str], why: list[str], s: EngineSettings, line: list[str] | None = None) -> Incident:
    """The incident of part ``ids``: its key command, entry, chain, reached pods and endpoints
    come from ``line`` (the attacker's lineage in the part, see ``engine._lineage``; the whole
    part by default), its evidence and techniques from the whole part."""
    line = ids if not line else line
    idset = set(line)
    key, key_why = _key(line, pev, info, edge)
    if entry not in idset:
        entry = _entry(line, pev, info)
    entry = _entry_above(key, entry, pev, info, idset, edge)
    e = info.get(entry, {})
    k = info.get(key, {})
    every = ["proc:" + x for x in ids]
    pids = ["proc:" + x for x in line]
    # the trigger: a request into the pod just before the entry's parent started it, or an exec from outside
    trigger = None
    req = edge.filter((pl.col("kind") == G.HTTP) & (pl.col("dst") == "proc:" + str(e.get("parent_exec_id")))
                      & (pl.col("time_ns") <= (e.get("start_ns") or 0))
                      & (pl.col("time_ns") >= (e.get("start_ns") or 0) - s.graph.http_window_ns))
    if req.height:
        trigger = f"request {req.sort('time_ns')['why'][-1]}"
    elif (pev.filter(pl.col("exec_id") == entry)["kind"] == E.EXEC_IN).any():
        trigger = "exec'd into the container from outside it (kubectl exec, the container runtime)"
    # reached: other pods and hosts with processes of the part, and how the part got there
    inbound = edge.filter(pl.col("dst").is_in(pids) & pl.col("kind").is_in(LINKS))
    reached: dict[tuple[Any, Any, Any], Reached] = {}
    for x in line:
        r = info.get(x, {})
        place = (r.get("namespace"), r.get("pod"), r.get("node"))
        if r.get("pod") == e.get("pod") and r.get("namespace") == e.get("namespace"):
            continue
        into = inbound.filter(pl.col("dst") == "proc:" + x)
        files = into.filter(pl.col("src").str.starts_with("file:"))["src"]
        hows = [*edge.filter(pl.col("dst").is_in(files.implode()) & pl.col("src").is_in(pids))["kind"].to_list(),
                *into["kind"].to_list()]
        old = reached.get(place) or Reached(r.get("pod"), r.get("namespace"), r.get("node"), [], [])
        reached[place] = Reached(old.pod, old.namespace, old.node,
                                 list(dict.fromkeys([*old.how, *[h for h in hows if h != G.SPAWN]])),
                                 [*old.exec_ids, x])
    # pods a connection of the part made write a file (the file is the act there, even unused)
    for dst in edge.filter(pl.col("src").is_in(pids) & (pl.col("kind") == G.SERVICE_WRITE)
                           & pl.col("dst").str.starts_with("file:"))["dst"].unique(maintain_order=True).to_list():
        scope = dst[5:].split(":", 1)[0]
        if scope.startswith("node") or "/" not in scope:
            continue
        ns, _, pod = scope.partition("/")
        if (pod, ns or None) == (e.get("pod"), e.get("namespace")):
            continue
        place = next((k for k in reached if k[0] == (ns or None) and k[1] == pod), None)
        if place is None:
            reached[(ns or None, pod, None)] = Reached(pod, ns or None, nodes_of.get((ns, pod)), [G.SERVICE_WRITE], [])
        elif G.SERVICE_WRITE not in reached[place].how:
            old = reached[place]
            reached[place] = Reached(old.pod, old.namespace, old.node, [*old.how, G.SERVICE_WRITE], old.exec_ids)
    # pods the part's connections went into (a request that changed or killed something there);
    # a pod it only sent name lookups to (port 53) is the resolver, not a pod it acted in
    # (a pod the line only probed in a sweep of the pod network is reached by a ``probe``)
    resolvers, probed = _resolvers(flows, line), probed_pods(flows, line)
    for dst in edge.filter(pl.col("src").is_in(pids) & (pl.col("kind") == G.CONNECT)
                           & pl.col("dst").str.starts_with("pod:"))["dst"].unique(maintain_order=True).to_list():
        ns, _, pod = dst[4:].partition("/")
        if (pod, ns or None) == (e.get("pod"), e.get("namespace")) or (ns, pod) in resolvers:
            continue
        how = PROBE if (ns, pod) in probed else G.CONNECT
        place = next((k for k in reached if k[0] == (ns or None) and k[1] == pod), None)
        if place is None:
            reached[(ns or None, pod, None)] = Reached(pod, ns or None, nodes_of.get((ns, pod)), [how], [])
        elif how not in reached[place].how:
            old = reached[place]
            reached[place] = Reached(old.pod, old.namespace, old.node, [*old.how, how], old.exec_ids)
    # endpoints: outside addresses the part connected to
    ends = []
    answers = X.dns_answers(flows)

    def name(ip: str, src: str, t: int | None) -> str | None:
        r = info.get(src.removeprefix("proc:"), {})
        return X.name_for(answers, r.get("namespace"), r.get("pod"), ip, t) or _fqdn(flows, ip)

    sent = X.exfil_senders(line, info, edge, G.WRITE, G.CONNECT, API_SERVER)
    out = edge.filter(pl.col("src").is_in(pids) & pl.col("dst").str.starts_with("ext:")
                      & pl.col("kind").is_in([G.CONNECT, G.BLOCKED]))
    for src, dst, t in out.select("src", "dst", "time_ns").unique(["src", "dst"], maintain_order=True).iter_rows():
        m = re.match(r"^ext:(.*):(\d*)$", dst)
        if not m or E.is_internal(m.group(1)):
            continue
        ip, port = m.group(1), int(m.group(2)) if m.group(2) else None
        role = "exfil" if src[5:] in sent else _role(src[5:], t, line, idset, info, edge, s)
        if role == "unknown" and X.fetch_pipe(src[5:], line, info, s.pipe_window_ns):
            role = "download"  # ``curl … | sh``: the sibling interpreter ran what it fetched
        if role == "unknown" and (out.filter(pl.col("dst") == dst)["src"].n_unique() >= s.beacon_runs
                                  or X.beacon(flows, line, ip, port, s.beacon_runs, s.beacon_gap_ns)):
            role = "c2"  # a beacon: one run after another, or one process again and again, connects to it
        ends.append(Endpoint(ip, port, name(ip, src, t), role))  # type: ignore[arg-type]
    roles = {ep.role for ep in ends}  # an address in two roles shows its first; both are techniques
    best: dict[tuple[str, int | None], Endpoint] = {}
    for ep in ends:  # each address once, with its most telling role
        old = best.get((ep.ip, ep.port))
        if old is None or ROLE_ORDER.index(ep.role) < ROLE_ORDER.index(old.role):
            best[(ep.ip, ep.port)] = ep
    # what a pod the part connected into fetched from outside right after: a download when the pod
    # then wrote a file, else of unknown use
    fetched = edge.filter(pl.col("src").is_in(pids) & (pl.col("kind") == G.SERVICE_CONNECT))
    wrote_there = edge.filter(pl.col("src").is_in(pids) & (pl.col("kind") == G.SERVICE_WRITE))
    for src, dst, t in fetched.select("src", "dst", "time_ns").iter_rows():
        m = re.match(r"^ext:(.*):(\d*)$", dst)
        if not m or E.is_internal(m.group(1)):
            continue
        ip, port = m.group(1), int(m.group(2)) if m.group(2) else None
        role = "download" if wrote_there.filter((pl.col("src") == src) & (pl.col("time_ns") >= (t or 0))).height \
            else "unknown"
        old = best.get((ip, port))
        if old is None or ROLE_ORDER.index(role) < ROLE_ORDER.index(old.role):
            best[(ip, port)] = Endpoint(ip, port, name(ip, src, t), role)  # type: ignore[arg-type]
    # what the service that started the entry fetched from outside just before (an exploit's callback)
    if (pev.filter(pl.col("exec_id") == entry)["kind"] == E.SERVICE_CHILD).any():
        parent = e.get("parent_exec_id")
        for dst, t, role in X.service_callbacks(parent, e.get("start_ns"), edge, s.graph.http_window_ns, G.CONNECT):
            m = re.match(r"^ext:(.*):(\d*)$", dst)
            if not m or E.is_internal(m.group(1)):
                continue
            ip, port = m.group(1), int(m.group(2)) if m.group(2) else None
            if (ip, port) not in best:
                best[(ip, port)] = Endpoint(ip, port, name(ip, "proc:" + str(parent), t), role)  # type: ignore[arg-type]
    ends = list(best.values())
    # a DNS tunnel: the data left in the names, through whatever resolver (no address of its own)
    for dom in edge.filter(pl.col("src").is_in(pids) & (pl.col("kind") == G.DNS))["dst"].unique(
            maintain_order=True).to_list():
        ends.append(Endpoint("", 53, dom.removeprefix("dns:"), "exfil"))
    # techniques, evidence
    tech: dict[str, list[str]] = {}
    # detections' techniques, and those of the engine's own evidence that names one (an API act)
    for rid, techs in pev.filter((pl.col("kind") == E.DETECTION) | pl.col("techniques").is_not_null()).select(
            "rule_id", "techniques").iter_rows():
        for t in techs or []:
            tech.setdefault(t, [])
            if rid not in tech[t]:
                tech[t].append(rid)
    # what the graph itself shows, as ATT&CK techniques (rule id ``engine:<what>``)
    inferred = [("T1609", "engine:exec_in", E.EXEC_IN in kinds),
                ("T1190", "engine:request_to_service", bool(trigger and trigger.startswith("request "))
                 and (pev.filter(pl.col("exec_id") == entry)["kind"] == E.SERVICE_CHILD).any()),
                ("T1105", "engine:download", "download" in roles or any(ep.role == "download" for ep in ends)),
                ("T1048", "engine:exfil", any(ep.role == "exfil" for ep in ends)),
                # what left through an address (not DNS names) was data of the system it ran on
                ("T1005", "engine:collect", any(ep.role == "exfil" and ep.ip for ep in ends)),
                # the data went to the host of the incident's own channel (its C2 or callback)
                ("T1041", "engine:exfil_c2", any(ep.role == "exfil" and ep.ip in {
                    o.ip for o in ends if o.role in ("c2", "callback")} for ep in ends)),
                ("T1567", "engine:exfil_web", any(ep.role == "exfil" and ep.port in (80, 443) for ep in ends)),
                ("T1071", "engine:dns_tunnel", E.DNS_TUNNEL in kinds),
                ("T1610", "engine:api_pod", edge.filter(pl.col("src").is_in(pids) & (pl.col("kind") == G.API)).height > 0)]
    for technique, rule, seen in inferred:
        if seen and not any(t.split(".")[0] == technique for t in tech):
            tech[technique] = [rule]
    evid = pl.concat([pev.select("exec_id", "kind", "text", "event_id"),
                      edge.filter((pl.col("src").is_in(every) | pl.col("dst").is_in(every))
                                  & pl.col("event_id").is_not_null()).select(
                          pl.col("src").alias("exec_id"), "kind", pl.col("why").alias("text"), "event_id")])
    n_kinds = len(kinds)
    confidence = ("high" if total >= 2 * s.threshold and n_kinds >= 3 else "medium" if n_kinds >= 2 else "low")
    return Incident(
        rank=0, confidence=confidence, why=why, pod=e.get("pod"), namespace=e.get("namespace"),
        workload=e.get("workload"), node=e.get("node"),
        entry=Entry(entry, e.get("binary"), e.get("args"), trigger),
        key_command=KeyCommand(k.get("binary"), k.get("args"), key, key_why),
        chain=_chain(entry, key, idset, edge), reached=sorted(reached.values(), key=lambda r: r.how == [PROBE]), endpoints=ends,
        techniques=tech, evidence=evid.filter(pl.col("event_id").is_not_null()))


def _role(x: str, t: int, ids: list[str], idset: set[str], info: dict[str, Any], edge: pl.DataFrame,
          s: EngineSettings) -> str:
    """The part an outside address played for process ``x`` that connected to it at ``t``:
    ``c2`` when processes below ``x`` started after the connection (a shell driven from there) or
    ``x`` kept running ``c2_after`` past it (with no exit of any process of the part known — a
    sensor that writes none — shown only by a connection of ``x`` that long after); ``download``
    when ``x`` wrote a file used later, or a later process of the part runs a path named in
    ``x``'s arguments (as its program, or as the script an interpreter runs: ``curl -o /tmp/s.sh
    …`` then ``bash /tmp/s.sh``, when no hook saw the write: :func:`~._endpoints.interpreted`);
    ``exfil`` when a sibling of
    the same pipeline read from a pod or a file, or ``x`` is the end of a pipeline that fed it
    (:func:`~._endpoints.pipe_sink`); else ``unknown``."""
    r = info.get(x, {})
    below = _below(x, idset, info) - {x}
    if any((info.get(y, {}).get("start_ns") or 0) > t for y in below):
        return "c2"
    wrote = edge.filter((pl.col("src") == "proc:" + x) & (pl.col("kind") == G.WRITE))
    tokens = set(str(r.get("args") or "").split())
    ran = [y for y in ids if (info.get(y, {}).get("start_ns") or 0) > t and info.get(y, {}).get("binary") in tokens]
    if wrote.height or ran or any(tok.endswith("/" + str(info.get(y, {}).get("binary", "")).rsplit("/", 1)[-1])
                                  for tok in tokens for y in ids if (info.get(y, {}).get("start_ns") or 0) > t
                                  and info.get(y, {}).get("binary")) \
            or X.interpreted(tokens, [info.get(y, {}) for y in ids if (info.get(y, {}).get("start_ns") or 0) > t]):
        return "download"
    sibs = [y for y in ids if y != x and info.get(y, {}).get("parent_exec_id") == r.get("parent_exec_id")
            and abs((info.get(y, {}).get("start_ns") or 0) - (r.get("start_ns") or 0)) <= s.pipe_window_ns]
    fed = edge.filter(pl.col("src").is_in(["proc:" + y for y in sibs])
                      & (pl.col("kind").is_in([G.CONNECT]) & pl.col("dst").str.starts_with("pod:")))
    fed_files = edge.filter(pl.col("dst").is_in(["proc:" + y for y in sibs]) & (pl.col("kind") == G.READ_FILE))
    if fed.height or fed_files.height:
        return "exfil"  # a pipeline: its sibling read from a pod or a file, it sent out
    away = edge.filter((pl.col("kind") == G.CONNECT) & pl.col("dst").str.starts_with("ext:"))["src"]
    if X.pipe_sink(x, t, ids, info, s.pipe_window_ns, {v[5:] for v in away.to_list()}):
        return "exfil"  # the end of a pipeline: what its earlier members produced, it sent out
    end = r.get("exit_ns")
    if end is None and not any(info.get(y, {}).get("exit_ns") is not None for y in ids):
        # no process of the part exited: a sensor that writes no exit events (Inspektor Gadget)
        # says nothing of how long ``x`` ran; its own later connections do
        later = edge.filter((pl.col("src") == "proc:" + x) & (pl.col("kind") == G.CONNECT))["time_ns"].max()
        end = later if isinstance(later, int) else t
    if end is None or end - t >= s.c2_after_ns:
        return "c2"
    return "unknown"


def _resolvers(flows: pl.DataFrame, line: list[str]) -> set[tuple[str, str]]:
    """(namespace, pod) of the pods the processes of ``line`` sent flows to on port 53 only."""
    if flows.height == 0 or not {"exec_id", "dst_pod", "dst_port"} <= set(flows.columns):
        return set()
    f = flows.filter(pl.col("exec_id").is_in(line) & pl.col("dst_pod").is_not_null())
    if f.height == 0:
        return set()
    ns = pl.col("dst_namespace").fill_null("") if "dst_namespace" in f.columns else pl.lit("")
    g = f.group_by(ns.alias("_ns"), "dst_pod").agg((pl.col("dst_port") == 53).all().alias("_only"))
    return {(a, b) for a, b, only in g.iter_rows() if only}


def _below(x: str, ids: set[str], info: dict[str, Any]) -> set[str]:
    """``x`` and the processes of ``ids`` below it."""
    out = {x}
    changed = True
    while changed:
        changed = False
        for y in ids:
            if y not in out and (info.get(y, {}).get("parent_exec_id")) in out:
                out.add(y)
                changed = True
    return out


def _fqdn(flows: pl.DataFrame, ip: str) -> str | None:
    if "dst_names" not in flows.columns or flows.height == 0:
        return None
    names = flows.filter(pl.col("dst_ip") == ip)["dst_names"].drop_nulls().explode().drop_nulls()
    return names[0] if names.len() else None
