"""Outside the session: how a payload got into the pod, and what an escape left running on the host.

A session's own processes are its descendants; two things an analyst asks next happen outside
them, in processes the tree does not link:

* **deliveries** — a process outside the session (``kubectl cp``'s ``tar xf - -C /tmp``, a
  download, a dropper) that opened a binary the session later ran from a writable directory, in
  the same pod and before it;
* **triggers** — when a service process started the session (command injection), the HTTP
  requests its pod received in the :data:`TRIGGER_NS` before (Hubble L7): the request that
  carried the command, with its source and whole URL (query string included); when a login
  daemon did (ssh), the TCP connections into the pod in the :data:`LOGIN_NS` before; with the
  process that opened each, when the capture matched one (another pod's ``ssh -i …``);
* **aftermath** — once the session used a namespace or root-filesystem tool (``chroot``,
  ``nsenter``, ``mount``: see :data:`~kernelsec_nb.report.signals.ESCAPE_TOOLS`), the suspicious
  processes that started after it on the same node *outside any pod*: the host's. A cron entry
  the session wrote runs there later (``cron → sh -c 'curl … | sh' → /tmp/.p``), as does anything it
  started on the host by other means. Suspicious means what :func:`~kernelsec_nb.report.signals.with_signals`
  weighs (a payload run from a writable directory, an alert, a drop, credentials read, a
  connection out of the cluster), outside builds, what the node's agents start, and the commands
  the hosts run anyway (seen on this node before the escape, or on other nodes). They are listed, not made part of the session:
  nothing in the events proves the link, only the node and the order;
* **origin** — when the session's pod itself started during the capture (its first process was
  exec'd in it), the processes in *other* pods (not a container's main process: an operator's
  or a controller's API calls are its work) that contacted the Kubernetes API in the
  :data:`ORIGIN_NS` before (a flow to Cilium's ``reserved:kube-apiserver`` identity, a connect to
  port 6443, or ``kubectl``/``helm``/``oc``), on the reference clock (nodes' offsets from
  ``clock_offsets`` taken out): the session that may have created the pod through the API;
* **leads** — programs of a container's own tree with alerts that ran in only some pods of their
  workload (a new version's addition, or a poisoned rollout), and, without process events, the
  command line of the pod's most severe Falco alert;
* **blind spots** — a source the capture has from other nodes but not from the session's node
  (Falco not deployed or not exported there): "no alerts" there is no evidence.

Examples
--------
>>> import kernelsec_nb as kn
>>> case = kn.open_case()
>>> deliveries(case, [])
[]
"""

from __future__ import annotations

from typing import Any

import polars as pl

from kernelsec_nb.report.signals import (
    EVIDENCE_WORDS,
    WARNING_PRIORITIES,
    WRITABLE_DIRS,
    evidence,
    main_processes,
    tree_signals,
    with_signals,
)

#: At most this many host processes are listed after an escape.
AFTERMATH_MAX = 20
#: The node's own agents: what they start on the host is their work (kubelet mounts volumes).
#: (Not systemd or init: a unit or an init script an intruder wrote runs from those.)
NODE_AGENTS = (r"(^|/)(kubelet|containerd|containerd-shim[-a-z0-9]*|dockerd|crio|runc|crun|conmon|k3s|k3s-agent|"
               r"rke2|microk8s\.daemon-kubelite)$")
#: A request the pod received this long before a service started the session may have carried it.
TRIGGER_NS = 2_000_000_000
#: A connection into the pod this long before a login daemon started the session may have carried it.
LOGIN_NS = 30_000_000_000
#: At most this many requests are listed as triggers, nearest first.
TRIGGERS_MAX = 5
#: A pod that started this soon after a session elsewhere contacted the Kubernetes API may be its.
ORIGIN_NS = 120_000_000_000
#: Flows are looked for this much wider than the window (nodes' clocks differ).
SKEW_MARGIN_NS = 10_000_000_000
#: Clients of the Kubernetes API by their binary.
API_CLIENTS = r"(^|/)(kubectl|helm|oc)$"


def deliveries(case: Any, session: list[str]) -> list[str]:
    """Notes naming the processes outside the session that touched (a hook's file path) a binary the
    session then ran from a writable directory, in the same pod and before it: how a payload got
    there (``kubectl cp`` runs ``tar xf - -C /tmp`` in the container; a download; a dropper)."""
    rows = case.sql("""
        SELECT DISTINCT s."binary" AS payload, k."binary", k.args, k.exec_id, min(k.time) AS time
        FROM processes s JOIN kprobes k
          ON k.file_path = s."binary" AND k.pod = s.pod AND k.namespace IS NOT DISTINCT FROM s.namespace
         AND k.time_ns <= s.start_ns AND k.exec_id <> s.exec_id
        WHERE s.exec_id IN (SELECT unnest(?::VARCHAR[])) AND regexp_matches(s."binary", ?)
          AND k.exec_id NOT IN (SELECT unnest(?::VARCHAR[]))
        GROUP BY ALL ORDER BY time LIMIT 5""", [session, WRITABLE_DIRS, session])
    return [f"{r['payload']} was written or opened before it ran by {r['binary']} {r['args'] or ''}".rstrip()
            + f" (exec {r['exec_id']}, {r['time']}), outside the session: how it got there"
            for r in rows.iter_rows(named=True)]


def triggers(case: Any, entry: dict[str, Any], *, login: bool = False) -> list[dict[str, Any]]:
    """The HTTP requests into ``entry``'s pod in the :data:`TRIGGER_NS` before it started (a row of
    the session entries: ``pod``, ``namespace``, ``node``, ``start_ns``, ``parent_exec_id``; when
    there is none, before the service process that started it did, if it started in the same pod
    during the capture: a notebook kernel) — or, for a login session
    (``login``), the TCP connections into it in the :data:`LOGIN_NS` before — nearest first, with
    the process that opened each when the capture matched one (``by``); a request or connection
    seen on two nodes is listed once, as the pod's node saw it (its clock is the entry's)."""
    fl, before = _into_pod(case, entry, entry["start_ns"], login), None
    if fl.is_empty() and not login and entry.get("parent_exec_id"):
        # none just before the shell: the service process that started it may itself have been
        # started by a request (a notebook kernel by POST /api/kernels) and run it later
        parent = case.processes(exec_id=entry["parent_exec_id"])
        if parent.height and parent["start_ns"][0] is not None and parent["pod"][0] == entry["pod"]:
            fl = _into_pod(case, entry, parent["start_ns"][0], login)
            before = f"{parent['binary'][0]} {parent['args'][0] or ''}".strip()
    if fl.is_empty():
        return []
    key = ["src_ip", "src_port", "dst_ip", "dst_port"] if login else ["src_ip", "src_port", "http_method", "http_url"]
    fl = (fl.sort([pl.col("node") == entry["node"], "time_ns"], descending=True)
          .unique(key, keep="first", maintain_order=True).sort("time_ns", descending=True).head(TRIGGERS_MAX))
    by = dict(case.processes(exec_id=fl["exec_id"].drop_nulls().unique().to_list()).select(
        "exec_id", pl.concat_str("binary", pl.col("args").fill_null(""), separator=" ").str.strip_chars())
        .iter_rows()) if fl["exec_id"].drop_nulls().len() else {}
    cols = ["time", "node", "src_namespace", "src_pod", "src_ip", "src_port", "dst_pod", "dst_port",
            "http_method", "http_url", "verdict", "exec_id", "event_id"]
    return [{**r, "time": r["time"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "by": by.get(r["exec_id"]), "before": before}
            for r in fl.select(cols).iter_rows(named=True)]


def _into_pod(case: Any, entry: dict[str, Any], before_ns: int, login: bool) -> pl.DataFrame:
    """The requests (or, for a login, TCP connections) into ``entry``'s pod in the window before
    ``before_ns``; replies left out."""
    fl = case.flows(to_pod=entry["pod"], since=before_ns - (LOGIN_NS if login else TRIGGER_NS), until=before_ns)
    if fl.is_empty():
        return fl
    fl = fl.filter((pl.col("dst_pod") == entry["pod"]) & pl.col("dst_namespace").eq_missing(entry["namespace"])
                   & ~pl.col("is_reply").fill_null(False))
    if login:
        return fl.filter(pl.col("http_method").is_null() & pl.col("dns_query").is_null() & (pl.col("protocol") == "TCP"))
    return fl.filter(pl.col("http_method").is_not_null() & (pl.col("l7_direction").fill_null("REQUEST") == "REQUEST"))


def triggers_note(rows: list[dict[str, Any]], entry: dict[str, Any], *, login: bool = False) -> list[str]:
    """One note naming the nearest :func:`triggers` request or connection (none when there is none)."""
    if not rows:
        return []
    r = rows[0]
    source = f"{r['src_namespace']}/{r['src_pod']}" if r["src_pod"] else r["src_ip"]
    opened = f", opened by {r['by']} (exec {r['exec_id']})" if r["by"] else ""
    if login:
        return [f"the login came over a connection from {source} to port {r['dst_port']} at {r['time']}{opened}: "
                f"where the login came from (see `triggers`)"]
    started = (f"the service process that started {entry['binary']} ({r['before'][:120]}) was itself started"
               if r.get("before") else f"a service started {entry['binary']}")
    return [f"the pod received {r['http_method']} {r['http_url']} from {source} at {r['time']}{opened}, just "
            f"before {started}: the request that carried the command? (see `triggers`; "
            f"the source is where it came from inside the cluster, e.g. an ingress: its own flows name the client)"]


def aftermath(case: Any, procs: pl.DataFrame) -> list[dict[str, Any]]:
    """The suspicious host processes (no pod) on the node of the session's first escape tool that
    started after it, oldest first; ``procs`` is the session with its signals (``escape`` per
    process, as :func:`~kernelsec_nb.report.signals.with_signals` gives it)."""
    escapes = procs.filter(pl.col("escape") > 0).sort("start_ns")
    if escapes.is_empty() or escapes["start_ns"][0] is None:
        return []
    first = escapes.row(0, named=True)
    tree = case.process_tree(node=first["node"])  # with the attributed alerts, flows, connections
    parents = tree.select(pl.col("exec_id").alias("parent_exec_id"), pl.col("binary").alias("parent_binary"),
                          pl.col("args").alias("parent_args"))
    # what the node's own agents start (kubelet mounting a pod's volumes, a runtime's shims) is theirs
    host = tree.filter(pl.col("pod").is_null() & (pl.col("start_ns") > first["start_ns"])).join(
        parents, on="parent_exec_id", how="left").filter(
        ~pl.col("parent_binary").fill_null("").str.contains(NODE_AGENTS)).drop("parent_binary", "parent_args")
    # a host command this node ran before the escape, or other nodes ran, is the hosts' routine
    # (cron's hourly job reading /etc/shadow through PAM on every node)
    usual = case.sql("""
        SELECT DISTINCT "binary", coalesce(args, '') AS _args FROM processes
        WHERE pod IS NULL AND "binary" IS NOT NULL AND (node <> ? OR start_ns <= ?)""", [first["node"], first["start_ns"]])
    host = host.with_columns(pl.col("args").fill_null("").alias("_args")).join(
        usual, on=["binary", "_args"], how="anti").drop("_args")
    if host.is_empty():
        return []
    listed = (with_signals(case, host).filter(~pl.col("build") & (evidence() > 0)).sort("start_ns")
              .head(AFTERMATH_MAX).join(parents, on="parent_exec_id", how="left", maintain_order="left"))
    return [{"exec_id": r["exec_id"], "binary": r["binary"], "args": r["args"] or "", "pid": r["pid"],
             "start_time": str(r["start_time"]),
             "parent": f"{r['parent_binary'] or '?'} {r['parent_args'] or ''}".rstrip(),
             "what": ", ".join(w for k, w in EVIDENCE_WORDS.items() if (r.get(k) or 0) > 0),
             "after": f"{first['binary']} {first['args'] or ''}".rstrip()}
            for r in listed.iter_rows(named=True)]


def aftermath_note(rows: list[dict[str, Any]]) -> list[str]:
    """One note summing up :func:`aftermath` (none when it found nothing)."""
    if not rows:
        return []
    runs: dict[tuple[str, str, str], int] = {}  # a cron entry runs the same command again and again
    for r in rows:
        key = (f"{r['binary']} {r['args']}".rstrip(), r["what"], r["parent"])
        runs[key] = runs.get(key, 0) + 1
    listed = "; ".join(f"{cmd} ({what}; started by {parent}" + (f"; {n} runs)" if n > 1 else ")")
                       for (cmd, what, parent), n in list(runs.items())[:3])
    more = f" and {len(runs) - 3} other command(s)" if len(runs) > 3 else ""
    return [f"after the session's {rows[0]['after']}, {len(rows)} suspicious process(es) ran on the node "
            f"outside any pod (the host): {listed}{more}; what the escape left running? (see `aftermath`)"]


def origin(case: Any, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The contacts with the Kubernetes API from other pods in the :data:`ORIGIN_NS` before
    ``entry``'s pod started (see the module docstring), the nearest first; empty when the capture
    did not see the pod start."""
    first = case.sql("""
        SELECT min(start_ns) AS start_ns, any_value(node) AS node FROM processes
        WHERE pod = ? AND namespace IS NOT DISTINCT FROM ? AND in_init_tree AND seen_as = 'exec'""",
                     [entry["pod"], entry["namespace"]]).row(0, named=True)
    if first["start_ns"] is None:
        return []
    offsets = dict(case.sql("SELECT node, clock_offset_ns FROM clock_offsets").iter_rows())
    started = first["start_ns"] - (offsets.get(first["node"]) or 0)
    contacts = case.sql("""
        SELECT p.exec_id, p.node, p.namespace, p.pod, p."binary", p.args, k.time_ns
        FROM kprobes k JOIN processes p USING (exec_id)
        WHERE k.dport = 6443 AND p.pod IS NOT NULL
        UNION ALL
        SELECT exec_id, node, namespace, pod, "binary", args, start_ns FROM processes
        WHERE regexp_matches("binary", ?) AND pod IS NOT NULL""", [API_CLIENTS])
    lo, hi = started - ORIGIN_NS - SKEW_MARGIN_NS, first["start_ns"] + SKEW_MARGIN_NS
    ids = case.sql("""
        SELECT event_id FROM flows WHERE map_contains(dst_labels, 'reserved:kube-apiserver')
          AND NOT coalesce(is_reply, false) AND time_ns BETWEEN ? AND ?""", [lo, hi])
    if ids.height:
        api = case.flows(since=lo, until=hi).join(ids, on="event_id", how="semi").filter(
            pl.col("exec_id").is_not_null())
        if api.height:
            procs = case.processes(exec_id=api["exec_id"].unique().to_list()).select(
                "exec_id", "node", "namespace", "pod", "binary", "args")
            contacts = pl.concat([contacts, api.select("exec_id", "time_ns").join(procs, on="exec_id")
                                  .select(contacts.columns)], how="vertical_relaxed")
    # a container's own main process talking to the API is an operator's or a controller's work
    # (a main process that started before the capture has a parent the capture only names)
    mains = main_processes(case, contacts["exec_id"].unique().to_list())
    contacts = contacts.filter(~pl.col("exec_id").is_in(mains)).with_columns(
        (pl.col("time_ns") - pl.col("node").replace_strict(offsets, default=0, return_dtype=pl.Int64)).alias("_t"))
    near = contacts.filter((pl.col("pod") != entry["pod"]) & pl.col("_t").is_between(started - ORIGIN_NS, started))
    near = near.sort("_t", descending=True).unique("exec_id", keep="first", maintain_order=True).head(5)
    return [{"exec_id": r["exec_id"], "namespace": r["namespace"], "pod": r["pod"], "node": r["node"],
             "binary": r["binary"], "args": r["args"] or "", "seconds_before": round((started - r["_t"]) / 1e9, 1)}
            for r in near.iter_rows(named=True)]


def origin_note(rows: list[dict[str, Any]], entry: dict[str, Any]) -> list[str]:
    """One note naming the nearest :func:`origin` contact (none when there is none)."""
    if not rows:
        return []
    r = rows[0]
    return [f"the pod {entry['namespace']}/{entry['pod']} itself started during the capture, "
            f"{r['seconds_before']} s after {r['binary']} {r['args'][:160]}".rstrip()
            + f" in {r['namespace']}/{r['pod']} contacted the Kubernetes API: did that session create it? "
            f"(see `origin`; times on the reference clock)"]


#: Each source's table (its ``node`` column names the node that wrote the event), and its events.
_NODE_OF = {"falco": ("alerts", "Falco alerts"), "hubble": ("flows", "Hubble flows observed")}


def blind_spots(case: Any, node: str, srcs: list[str]) -> list[str]:
    """Notes naming each source of ``srcs`` that other nodes wrote but ``node`` did not."""
    notes = []
    for src, (table, what) in _NODE_OF.items():
        if src not in srcs:
            continue
        # only nodes Tetragon names too count (a Falco whose hostname is its own pod's says nothing)
        nodes, here = case.sql(f"SELECT count(DISTINCT node) FILTER (WHERE node IN (SELECT node FROM processes)), "  # noqa: S608
                               f"count(*) FILTER (WHERE node = ?) FROM {table}", [node]).row(0)
        if nodes and not here:
            notes.append(f"no {what} from {node} in the capture, though {nodes} other node(s) have them: "
                         f"{src} was not running or not exported there, and finding nothing on that node is no evidence")
    return notes


def rollout_leads(case: Any) -> list[str]:
    """Notes on the programs of a container's own tree (started by its entrypoint, not exec'd)
    with an alert of priority Warning or above that read credentials or connected out of the
    cluster, and that ran in only some pods of their workload: a new version's addition — or a
    poisoned rollout's backdoor.  A lead, never a session: both look the same in the events."""
    t = tree_signals(case)
    if t.is_empty():
        return []
    in_pod = pl.col("pod").is_not_null()
    own = t.filter(in_pod & pl.col("in_init_tree").fill_null(False) & ~pl.col("build") & (pl.col("warned") > 0)
                   & ((pl.col("sensitive") > 0) | (pl.col("outside") > 0)))
    if own.is_empty():
        return []
    pods = t.filter(in_pod).group_by("workload").agg(pl.col("pod").n_unique().alias("_pods"))
    ran_in = t.filter(in_pod).group_by("workload", "binary").agg(pl.col("pod").n_unique().alias("_ran_in"))
    some = own.join(ran_in, on=["workload", "binary"], how="left", nulls_equal=True).join(
        pods, on="workload", how="left", nulls_equal=True).filter(pl.col("_ran_in") < pl.col("_pods"))
    out = []
    for (workload, binary), g in some.group_by("workload", "binary", maintain_order=True):
        what = ", ".join(w for k, w in EVIDENCE_WORDS.items() if (g[k].fill_null(0) > 0).any())
        out.append(f"{binary} ran in {g['_ran_in'][0]} of the {g['_pods'][0]} pods of workload {workload} "
                   f"(e.g. {g['namespace'][0]}/{g['pod'][0]}; {what}), started by its containers themselves: "
                   f"a new version's addition, or a poisoned rollout?")
    return out[:3]


def alert_command(case: Any, pod: str) -> list[str]:
    """A note with the command line of the pod's most severe Falco alert (the latest of equals):
    what Falco saw run, when no process event says more."""
    rows = case.sql("""
        SELECT rule, priority, time, cmdline FROM alerts WHERE pod = ? AND coalesce(cmdline, '') NOT IN ('', '<NA>')
        ORDER BY list_position(?::VARCHAR[], upper(priority)) NULLS LAST, time_ns DESC LIMIT 1""",
                    [pod, [*WARNING_PRIORITIES, "NOTICE"]])
    return [f"Falco's most severe alert on the pod ({r['priority']} '{r['rule']}' at {r['time']}) saw {r['cmdline']}"
            for r in rows.iter_rows(named=True)]
