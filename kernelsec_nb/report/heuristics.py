"""Generic postmortem heuristics: find the attacker's session, its exec chain and key command.

Nothing here knows a scenario: the rules are ordinary incident-response heuristics over the
process tree (Tetragon) and what was attributed to it (Hubble flows, Falco alerts).  What each
process shows (the patterns named below) is :mod:`kernelsec_nb.report.signals`; the flows as
evidence (rare requests, DNS tunnelling, the pod without process events) are
:mod:`kernelsec_nb.report.network`; what happened outside the session (how a payload got in,
what an escape left running on the host) is :mod:`kernelsec_nb.report.surroundings`.

* **Suspicious process**: one with a Falco alert attributed to it, a flow a policy dropped
  (matched to it by 5-tuple), a binary run from a world-writable directory (``/tmp``,
  ``/var/tmp``, ``/dev/shm``: a dropped payload), or a namespace tool (``nsenter``, ``unshare``:
  the way from a container to its host; also ``chroot``, ``mount``).  Its hooks add weight:
  files read for credentials or written to stay (cron, systemd units)
  (:data:`~kernelsec_nb.report.signals.SENSITIVE_FILES`) and connections out of the cluster (outside :data:`~kernelsec_nb.report.signals.INTERNAL_IPS`).
* **Session entries**, each with its ``basis``:

  1. an interactive shell (a shell binary with no script, ``-c`` or arguments, or only
     ``-i``/``-l``) started in a pod *outside* the container's init tree (``kubectl exec``,
     ``docker exec``; in old exports without ``in_init_tree``: started by the container runtime
     after the container's first process);
  1b. a shell a remote-login daemon (``sshd``) started: a login session, judged like an exec'd
     shell (quiet unless it did something), unless routine;
  2. a shell started by a service process (neither a shell, nor a launcher such as ``nsenter``,
     ``sudo``, ``env``, nor a container runtime or init; in the same pod), whose session holds a
     suspicious process with an alert or a drop, or a payload that read credentials or connected
     out of the cluster (command injection into a service: ``app → sh -c …``); a command the
     service ran :data:`ROUTINE_REPEATS` times is routine;
  3. a suspicious process the container runtime started outside the init tree (exec'd into the
     container), or 4. one a service process started directly, with an alert, or run from a
     writable directory with an alert, a drop, credentials read or a connection out (a payload;
     builds and plugins run binaries from ``/tmp`` too; a worker that only met policy drops is
     misconfigured, not a payload);

  What a service ran :data:`ROUTINE_REPEATS` times (same workload, binary and arguments: build
  steps, a CronJob's tool) is routine, and so is everything below it.  A build tool
  (:data:`~kernelsec_nb.report.signals.BUILD_TOOLS`) and what runs below it are the build's: their ``/tmp`` binaries, their
  Falco alerts and their downloads do not count.  A signal tool counts only when something on its
  node died by a signal within :data:`~kernelsec_nb.report.signals.SIGNAL_EFFECT_NS`.
  5. when none of these did anything suspicious, the roots of rare (once or twice seen per
     workload) commands outside the init tree (a one-off ``kubectl exec -- sh -c …``).

  A candidate inside another candidate's session is dropped.  An exec'd shell whose session did
  nothing suspicious (no alert below the shell itself, no drop, payload, namespace tool, signal
  that killed, credentials read, or connection with an effect — with Hubble to judge; without,
  any connection: ``ls``, ``cat``, ``ps``, ``psql``, a config reload by SIGHUP) is marked ``quiet`` and never named as the attacker's
  (an administrator's, perhaps; the findings say so in a note).  The rest are ranked by what their
  session did (:data:`~kernelsec_nb.report.signals.EVIDENCE`): alerts (4), dropped flows (3), binaries run from a writable
  directory (3), a namespace tool (3), credentials read (2), connections out of the cluster (2);
  then a connection that got through with an effect (4), any attributed flow or connection (2),
  more than one process (1).
* **Key command**: the last process of the session that acted on another process (a
  signal-sending tool with a signal and a pid); else the last that acted otherwise — a payload, a
  namespace tool, or a connection that got through with an effect (:func:`reached`: a
  state-changing HTTP request, a connection out of the cluster, or one to a destination the
  session had been refused before); else its most suspicious process (the latest of equals); else
  its last command.  Reconnaissance (``id``, reading a token) is not the key command while
  something acted after it.
* **Flows of the session**: its L7 requests, and the first flow of each connection to a
  destination it sent no L7 request to, when the connection got through (Cilium sees a
  connection on both nodes: one its source's node let out and its destination's dropped did not);
  apart, each dropped request and each other dropped connection once; replies are left out.
  Its **pod's flows** no process was matched to while it ran (DNS, ICMP, UDP), up to
  :data:`SESSION_TAIL_NS` after its last process: the first lookup of each name, the first
  request of each HTTP method and URL, the first flow to each other destination.
  Its **connections**: the connect hooks of its processes (Tetragon), with or without Hubble; its
  **hooks**: the other hook events of its processes (files opened, capabilities used, ...).
* **Without a session** (no Tetragon, or nothing suspicious in it): the pod that Falco alerts name
  (4 each), whose requests a policy dropped (2 per destination refused, however often), that sent the rarest L7 requests (1 each:
  method and path seen at most 5 times) or queried many long names under one domain (DNS
  tunnelling: 1 per name, from 50 new names whose first label has 20 characters or more), and the
  node where its egress was seen (else where its alerts were raised).  The command is then not
  determinable.

Each function degrades to empty frames / ``None`` when a source is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from kernelsec_nb.report.network import (
    CONNECTION,
    POD_FLOWS_MAX,
    alert_records,
    connections,
    dns_tunnels,
    flow_records,
    l7_requests,
    network_suspect,
    one_sighting,
    pod_flows,
    rare_requests,
    reached,
    session_flows,
    sources,
    with_connection_verdict,
)
from kernelsec_nb.report.signals import (
    EVIDENCE_WORDS,
    INTERACTIVE_ARGS,
    INTERNAL_IPS,
    INTERPRETERS,
    LAUNCHERS,
    LOGIN_DAEMONS,
    RUNTIMES,
    SHELLS,
    children_of,
    evidence,
    evidence_of,
    subtree,
    tree_signals,
    with_signals,
)
from kernelsec_nb.report.surroundings import (
    aftermath,
    aftermath_note,
    alert_command,
    blind_spots,
    deliveries,
    origin,
    origin_note,
    rollout_leads,
    triggers,
    triggers_note,
)
from kernelsec_nb.store._skew import noted_offsets

__all__ = ["NOT_DETERMINABLE", "chain", "connections", "derive_findings", "dns_tunnels", "flow_records", "hooks",
           "key_command", "network_suspect", "rare_requests", "reached", "session_entries", "sources", "steps"]

#: A shell a service started with the same command this many times is routine (builds, job steps).
ROUTINE_REPEATS = 2
#: Without process events, the pod's connections out of the cluster from this long before its
#: first Falco alert are listed with its flows.
ALERT_LEAD_NS = 60_000_000_000
#: A program (no shell) a service ran this many times in every pod is routine whatever its arguments.
ROUTINE_RUNS = 5
#: What a routine's runs differ in and is left aside when they are compared: numbers and hex ids.
ROUTINE_IDS = r"[0-9a-fA-F]*[0-9][0-9a-fA-F]*"
NOT_DETERMINABLE = "not determinable from this data"
RARE = "rare command outside the init tree"
INTERACTIVE = "interactive shell outside the init tree"
LOGIN = "shell started by a remote-login daemon (ssh)"

_ENTRY_COLS = ["exec_id", "node", "namespace", "pod", "workload", "binary", "args", "pid",
               "start_time", "start_ns", "parent_exec_id", "capabilities", "pod_labels"]
_STATS = {"processes": pl.Int64, "flows": pl.Int64, "connections": pl.Int64, "alerts": pl.Int64, "critical": pl.Int64,
          "dropped": pl.Int64, "written": pl.Int64, "escape": pl.Int64, "sensitive": pl.Int64,
          "outside": pl.Int64, "signals": pl.Int64, "files": pl.Int64, "alerts_below": pl.Int64,
          "effects": pl.Int64}


_COUNTS = ("flows", "connections", "alerts", "critical", "dropped", "written", "escape", "sensitive", "outside", "signals", "files")


def _session_stats(case: Any, exec_id: str, signals: pl.DataFrame) -> dict[str, Any]:
    d = case.descendants(exec_id).select("exec_id").join(signals.select("exec_id", "build", *_COUNTS),
                                                         on="exec_id", how="left")
    below = d.filter(pl.col("exec_id") != exec_id)
    own = d.filter(~pl.col("build").fill_null(False))  # a build's flows and files are the build's
    return {"exec_id": exec_id, "processes": d.height,
            **{k: int((own if k in ("flows", "connections", "files") else d)[k].fill_null(0).sum()) for k in _COUNTS},
            "alerts_below": int(below["alerts"].fill_null(0).sum()),
            "effects": len(reached(case, _not_build(d)))}


@dataclass
class _Routine:
    rest: pl.DataFrame  #: the rows that are not routine
    routine: set[str]  #: every exec id at or below a routine row


def _args_shape() -> pl.Expr:
    """``_shape``: the arguments with numbers and hex ids (:data:`ROUTINE_IDS`) as ``#``."""
    return pl.col("args").fill_null("").str.replace_all(ROUTINE_IDS, "#").alias("_shape")


def _routine_apart(rows: pl.DataFrame, children: dict[str, list[str]], alerted: set[str],
                   pods: pl.DataFrame) -> _Routine:
    """Split what services started: a command (binary and arguments, numbers and hex ids aside: a
    CI job's ``durable-75999529/script.sh``) a workload's services ran :data:`ROUTINE_REPEATS`
    times or more, in every pod of the workload the capture saw (``pods``: workload, pods), is
    routine (a build or job step, a backup CronJob's tool), and so is everything below it —
    unless a Falco alert of priority Warning or above fell there (``alerted``).  A backdoored
    rollout's new pods run their payload once each too, but the old pods do not.  A program (no
    shell or interpreter) a workload's services ran :data:`ROUTINE_RUNS` times or more in every pod
    is routine whatever its arguments (a renderer a service runs from /tmp with per-job flags)."""
    key = ["workload", "binary", "_shape"]
    rows = rows.with_columns(_args_shape())
    seen = rows.group_by(key).agg(pl.len().alias("_times"), pl.col("pod").n_unique().alias("_in"))
    runs = rows.group_by("workload", "binary").agg(pl.len().alias("_runs"), pl.col("pod").n_unique().alias("_run_in"))
    rows = (rows.join(seen, on=key, how="left", nulls_equal=True).join(runs, on=["workload", "binary"], how="left",
                                                                         nulls_equal=True)
            .join(pods, on="workload", how="left", nulls_equal=True))
    program = ~pl.col("binary").fill_null("").str.contains(SHELLS) & ~pl.col("binary").fill_null("").str.contains(
        INTERPRETERS)
    often = rows.filter(((pl.col("_times") >= ROUTINE_REPEATS) & (pl.col("_in") >= pl.col("_pods")))
                        | (program & (pl.col("_runs") >= ROUTINE_RUNS) & (pl.col("_run_in") >= pl.col("_pods"))))
    below = {e: subtree(children, e) for e in often["exec_id"].to_list()}
    quiet = {e for e, under in below.items() if not under & alerted}
    return _Routine(rows.filter(~pl.col("exec_id").is_in(list(quiet))).drop("_shape", "_times", "_in", "_runs",
                                                                             "_run_in", "_pods"),
                    set().union(*(below[e] for e in quiet)) if quiet else set())


def session_entries(case: Any) -> pl.DataFrame:
    """Candidate session entries (see the module docstring), best first, with their ``basis``,
    session counts (``processes``, ``flows``, ``alerts``, ``dropped``, ``written``, ``files``) and
    ``score``."""
    t = tree_signals(case)
    if t.is_empty():
        return pl.DataFrame()
    parent = t.select(pl.col("exec_id").alias("parent_exec_id"), pl.col("binary").alias("_pbin"),
                      pl.col("pod").alias("_ppod"))
    first = t.group_by("container_id").agg(pl.col("start_ns").min().alias("_cfirst"))
    t = t.join(parent, on="parent_exec_id", how="left").join(first, on="container_id", how="left")
    shell = pl.col("binary").fill_null("").str.contains(SHELLS)
    parent_shell = pl.col("_pbin").fill_null("").str.contains(SHELLS) | pl.col("_pbin").fill_null("").str.contains(LAUNCHERS)
    parent_runtime = pl.col("_pbin").fill_null("").str.contains(RUNTIMES)
    in_pod = pl.col("pod").is_not_null()
    interactive = shell & pl.col("args").fill_null("").str.strip_chars().str.contains(INTERACTIVE_ARGS)
    # outside the init tree; in old exports without in_init_tree: started by the container runtime
    # after the container's first process, or an interactive shell it started (the container's
    # first process may have started before the capture and done nothing since)
    exec_in = (pl.col("in_init_tree") == False) | (  # noqa: E712
        pl.col("in_init_tree").is_null() & parent_runtime & ((pl.col("start_ns") > pl.col("_cfirst")) | interactive))
    outside = t.filter(exec_in & in_pod)
    groups: list[tuple[str, pl.DataFrame]] = [(INTERACTIVE, outside.filter(interactive))]
    children = children_of(t)
    alerted = set(t.filter(pl.col("warned") > 0)["exec_id"].to_list())
    pods = t.filter(in_pod).group_by("workload").agg(pl.col("pod").n_unique().alias("_pods"))
    # a shell a remote-login daemon started is a login session (ssh into a pod), unless routine
    logins = _routine_apart(t.filter(shell & in_pod & pl.col("_pbin").fill_null("").str.contains(LOGIN_DAEMONS)),
                            children, alerted, pods)
    groups.append((LOGIN, logins.rest))
    # a service: the parent is no shell and no runtime, in the same pod (its pod is unknown when
    # the capture saw it only as a parent)
    service_parent = (pl.col("_pbin").is_not_null() & ~parent_shell & ~parent_runtime
                      & ((pl.col("_ppod") == pl.col("pod")) | pl.col("_ppod").is_null()))
    # what a service starts needs an alert or a drop, or a payload that read credentials or
    # connected out of the cluster (builds and plugins run binaries from /tmp too), or a file
    # written to stay (cron, systemd units)
    alarmed = (pl.col("suspicious") & ((pl.col("alerts") > 0) | (pl.col("dropped") > 0) | (
        (pl.col("written") > 0) & ((pl.col("sensitive") > 0) | (pl.col("outside") > 0))))) | (pl.col("persist") > 0)
    started = _routine_apart(t.filter(shell & in_pod & service_parent), children, alerted, pods)
    # (a program a service started that only met policy drops is a misconfigured worker, not a
    # payload: a payload is alerted on or was written at run time)
    paid = _routine_apart(t.filter(alarmed & ((pl.col("alerts") > 0) | (pl.col("written") > 0))
                                   & in_pod & service_parent), children, alerted, pods)
    routine = started.routine | paid.routine | logins.routine
    under = {e: subtree(children, e) for e in started.rest["exec_id"].to_list()}
    bad = set(t.filter(alarmed)["exec_id"].to_list()) - routine
    groups.append(("shell started by a service process, with alerts, drops or a payload below it",
                   started.rest.filter(pl.col("exec_id").is_in([e for e, s in under.items() if s & bad]))))
    groups.append(("suspicious process exec'd into the container (its parent is the container runtime)",
                   t.filter(pl.col("suspicious") & in_pod & parent_runtime & exec_in)))
    groups.append(("suspicious process started by a service process",
                   paid.rest.filter(~pl.col("exec_id").is_in(list(routine)))))
    # a container whose own main process is the threat (a rogue workload, a backdoored image)
    groups.append(("container main process with critical alerts or a payload",
                   t.filter(in_pod & parent_runtime & ~exec_in & ((pl.col("critical") > 0) | (
                       (pl.col("written") > 0) & ((pl.col("sensitive") > 0) | (pl.col("outside") > 0)))))))
    found = [(basis, g) for basis, g in groups if g.height]
    hubble = "hubble" in sources(case)
    out = _ranked(case, t, children, found, hubble)
    if out.is_empty() or out["quiet"].all():
        # rare commands outside the init tree (exec probes repeat, one-off `kubectl exec` commands
        # do not), when no session did anything suspicious; counted across the cluster, numbers
        # and hex ids aside (a CI executor's job pods each run the same steps once)
        shaped = outside.filter(~pl.col("build")).with_columns(_args_shape())
        counts = shaped.group_by("binary", "_shape").len()
        rare = shaped.join(counts, on=["binary", "_shape"], how="left", nulls_equal=True).filter(
            pl.col("len") <= 2).drop("_shape", "len")
        out = _ranked(case, t, children, [*found, (RARE, rare)], hubble)
    return out


def _ranked(case: Any, t: pl.DataFrame, children: dict[str, list[str]],
            found: list[tuple[str, pl.DataFrame]], hubble: bool) -> pl.DataFrame:
    """Candidate entries (``(basis, rows)`` in order of preference) with their session counts and
    ``score``, best first; a candidate inside another one's session is left out.  With Hubble
    flows to judge them, connections make a session active only when they had an effect
    (:func:`reached`); without, any connection does (for a rare one-off command, always)."""
    if not found:
        return pl.DataFrame()
    cand = pl.concat([g.select([c for c in _ENTRY_COLS if c in g.columns]).with_columns(
        pl.lit(basis).alias("basis"), pl.lit(i).alias("_rank")) for i, (basis, g) in enumerate(found)],
        how="vertical_relaxed").unique("exec_id", keep="first", maintain_order=True)
    # a candidate inside another candidate's session belongs to that session
    ids = cand["exec_id"].to_list()
    inner = set().union(*(subtree(children, e) - {e} for e in ids)) if ids else set()
    cand = cand.filter(~pl.col("exec_id").is_in(list(inner)))
    if cand.is_empty():
        return pl.DataFrame()
    cand = cand.sort(["_rank", "start_ns"]).head(50)
    st = pl.DataFrame([_session_stats(case, e, t) for e in cand["exec_id"]], schema={"exec_id": pl.String, **_STATS})
    # (what got through with an effect weighs more than what was refused: the impact)
    score = (evidence() + (pl.col("effects") > 0).cast(pl.Int64) * 4
             + (pl.col("flows") + pl.col("connections") > 0).cast(pl.Int64) * 2 + (pl.col("processes") > 1).cast(pl.Int64))
    # an exec'd shell whose session only read and listed (no alert below its own, no drop, payload,
    # namespace tool, signal, credentials read or connection with an effect) is kept, marked
    # quiet: an administrator's, perhaps
    # (a one-off command exec'd into a pod is looked at only when nothing else did anything: there
    # any connection counts)
    anything = pl.col("flows") + pl.col("connections") + pl.col("effects")
    network = pl.when(pl.col("basis") == RARE).then(anything).otherwise(pl.col("effects") if hubble else anything)
    quiet = (pl.col("alerts_below") + pl.col("dropped") + pl.col("written") + pl.col("escape") + pl.col("signals")
             + pl.col("sensitive") + network) == 0
    out = cand.join(st, on="exec_id", how="inner").with_columns(score.alias("score"), quiet.alias("quiet"))
    return out.sort(["quiet", "score", "processes", "_rank", "start_ns"],
                    descending=[False, True, True, False, False]).drop("_rank")


def _not_build(procs: pl.DataFrame) -> list[str]:
    """The exec ids of ``procs`` outside builds (a build tool downloading its dependencies is no
    effect of a session)."""
    return procs.filter(~pl.col("build").fill_null(False))["exec_id"].to_list()


@dataclass
class _Session:
    procs: pl.DataFrame  #: the session's processes with their signals, by start time
    hit: set[str]  #: those whose connection got through with an effect (:func:`reached`)


def _session(case: Any, entry_exec_id: str) -> _Session | None:
    """What :func:`key_command` and :func:`steps` read of a session (computed once for both)."""
    d = case.descendants(entry_exec_id)
    if d.is_empty():
        return None
    d = with_signals(case, d).sort("start_ns")
    return _Session(d, reached(case, _not_build(d)))


def _first_run(procs: pl.DataFrame, last: dict[str, Any]) -> dict[str, Any]:
    """The first process of ``procs`` (by start) that ran ``last``'s command unchanged: a retry's
    first run."""
    return procs.filter((pl.col("binary") == last["binary"])
                        & (pl.col("args").fill_null("") == (last["args"] or ""))).row(0, named=True)


def key_command(case: Any, entry_exec_id: str, view: _Session | None = None) -> dict[str, Any] | None:
    """The session's key command: the last process that signalled another process (one died of
    it, see :func:`~kernelsec_nb.report.signals.killed_something`); else the last
    that acted — a payload (run from a writable directory), a namespace tool, or a connection that
    got through with an effect (see :func:`reached`); else its most suspicious process (by
    :data:`~kernelsec_nb.report.signals.EVIDENCE`, the latest of equals); else its last command."""
    view = view or _session(case, entry_exec_id)
    if view is None:
        return None
    d, hit = view.procs, view.hit
    later = d.filter(pl.col("depth") > 0)
    sig = later.filter(pl.col("signals") > 0)
    acted = later.filter((pl.col("written") > 0) | (pl.col("escape") > 0) | pl.col("exec_id").is_in(list(hit)))
    bad = later.with_columns(evidence().alias("_w")).filter(pl.col("_w") > 0)
    if sig.height:
        row, why = sig.row(-1, named=True), "last process of the session that signalled another process"
    elif acted.height:
        last = acted.row(-1, named=True)
        row = _first_run(acted, last)
        why = "last process of the session that acted (" + ", ".join(
            w for w, on in (("run from a writable directory", row["written"]), ("a namespace tool", row["escape"]),
                            ("a connection that got through with an effect", row["exec_id"] in hit)) if on) + ")" + (
            "; its first run (it ran again unchanged)" if row["exec_id"] != last["exec_id"] else "")
    elif bad.height:
        row = bad.filter(pl.col("_w") == pl.col("_w").max()).row(-1, named=True)
        why = "most suspicious process of the session (" + ", ".join(
            w for k, w in EVIDENCE_WORDS.items() if row[k]) + ")"
    elif evidence_of(d.row(0, named=True)):
        row = d.row(0, named=True)
        why = "the session entry itself, the most suspicious process of its session (" + ", ".join(
            w for k, w in EVIDENCE_WORDS.items() if row[k]) + ")"
    elif later.height:
        last = later.row(-1, named=True)
        row = _first_run(later, last)
        why = "last command of the session (nothing suspicious below the entry)" + (
            "; its first run (it ran again unchanged)" if row["exec_id"] != last["exec_id"] else "")
    else:
        row, why = d.row(0, named=True), "the session entry itself (nothing ran below it)"
    return {"exec_id": row["exec_id"], "binary": row["binary"], "args": row["args"] or "",
            "pid": row["pid"], "start_time": str(row["start_time"]), "reason": why}


#: At most this many steps are listed.
STEPS_MAX = 50


def steps(case: Any, entry_exec_id: str, view: _Session | None = None) -> list[dict[str, Any]]:
    """The session's processes that did something that counts (alerts, drops, a payload, a
    namespace or root-filesystem tool, credentials or persistence files, a connection out or with an
    effect, a kill), by start time, each with what it did: the attack's steps, also those beside
    the key command's chain (a ``mount`` before the ``chroot``)."""
    view = view or _session(case, entry_exec_id)
    if view is None:
        return []
    out = []
    d, hit = view.procs, view.hit
    for row in d.iter_rows(named=True):
        what = [w for k, w in EVIDENCE_WORDS.items() if (row.get(k) or 0) > 0]
        what += [w for w, on in (("killed a process", row["signals"]),
                                 ("a connection that got through with an effect", row["exec_id"] in hit)) if on]
        if what:
            out.append({"exec_id": row["exec_id"], "binary": row["binary"], "args": row["args"] or "",
                        "pid": row["pid"], "start_time": str(row["start_time"]), "what": ", ".join(what)})
    return out[:STEPS_MAX]


def chain(case: Any, entry_exec_id: str, key_exec_id: str | None) -> list[str]:
    """Exec ids from the entry down to the key command (inclusive)."""
    if not key_exec_id:
        return [entry_exec_id]
    anc = case.ancestry(key_exec_id)["exec_id"].to_list()
    return anc[anc.index(entry_exec_id):] if entry_exec_id in anc else [entry_exec_id, key_exec_id]


def hooks(case: Any, session: list[str]) -> list[dict[str, Any]]:
    """The session's hook events other than connects (files, capabilities, ...), oldest first."""
    df = case.sql("""
        SELECT time, exec_id, "binary", coalesce(function_name, kind) AS function_name, file_path,
               capability, policy_name
        FROM kprobes WHERE exec_id IN (SELECT unnest(?::VARCHAR[])) AND daddr IS NULL
        ORDER BY time_ns, event_id LIMIT 100""", [session])
    return [{**r, "time": r["time"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")} for r in df.iter_rows(named=True)]


def _quiet_notes(quiet: pl.DataFrame, reported: dict[str, Any] | None) -> list[str]:
    """Notes on the sessions that did nothing suspicious: the shells a service started in the
    reported session's own pod before it (an injection's probe, a first try), and the others (an
    administrator's exec, a service's ordinary shell)."""
    def said(q: dict[str, Any], where: bool = False) -> str:
        return (f"{q['binary']} {(q['args'] or '')[:120]}".rstrip()
                + (f" in {q['namespace']}/{q['pod']}" if where else "") + f" at {q['start_time']} ({q['basis']})")

    notes = []
    exec_d = pl.col("basis").is_in([INTERACTIVE, LOGIN, RARE]) | pl.col("basis").str.contains("exec'd", literal=True)
    if reported is not None and quiet.height:
        before = quiet.filter((pl.col("pod") == reported["pod"]) & (pl.col("start_ns") < reported["start_ns"])
                              & ~exec_d)
        if before.height:
            notes.append(f"{before.height} quiet session(s) ran in the same pod before the reported one, e.g. "
                         f"{said(before.row(-1, named=True))}: a probe or a first try by the same intruder?")
            quiet = quiet.join(before.select("exec_id"), on="exec_id", how="anti")
    if quiet.height:
        q = quiet.with_columns(exec_d.alias("_exec_d")).row(0, named=True)
        notes.append(f"{quiet.height} session(s) did nothing suspicious (no alert below the shell, drop, payload, "
                     f"namespace tool, kill, credentials read or connection with an effect), e.g. {said(q, True)}"
                     + (": an administrator's?" if q["_exec_d"] else ""))
    return notes


def derive_findings(case: Any) -> dict[str, Any]:
    """All generic findings of a case as one JSON-ready dict (see the module docstring)."""
    srcs = sources(case)
    f: dict[str, Any] = {"sources": srcs, "basis": None, "attacker_namespace": None,
                         "attacker_pod": None, "attacker_workload": None, "node": None,
                         "entry": None, "chain": [], "flag": None, "flag_text": NOT_DETERMINABLE,
                         "attack_flows": [], "dropped_flows": [], "pod_flows": [], "connections": [], "hooks": [],
                         "alerts": [], "chain_text": "", "steps": [], "triggers": [], "origin": [], "aftermath": [], "notes": []}
    f["notes"] += [f"{line}; times in this report are as each node wrote them"
                   for line in noted_offsets(case.con)]
    if "tetragon" in srcs:
        f["notes"] += rollout_leads(case)
    entries = session_entries(case) if "tetragon" in srcs else pl.DataFrame()
    quiet = entries.filter(pl.col("quiet")) if entries.height else entries
    entries = entries.filter(~pl.col("quiet")) if entries.height else entries
    f["notes"] += _quiet_notes(quiet, entries.row(0, named=True) if entries.height else None)
    if entries.height:
        e = entries.row(0, named=True)
        f.update(basis=e["basis"], attacker_namespace=e["namespace"], attacker_pod=e["pod"],
                 attacker_workload=e["workload"], node=e["node"])
        parent = case.processes(exec_id=e["parent_exec_id"]) if e["parent_exec_id"] else pl.DataFrame()
        f["entry"] = {"exec_id": e["exec_id"], "binary": e["binary"], "args": e["args"] or "",
                      "pid": e["pid"], "start_time": str(e["start_time"]),
                      "parent": ({k: parent.row(0, named=True)[k] for k in ("exec_id", "binary", "args", "pid")}
                                 if parent.height else None)}
        view = _session(case, e["exec_id"])
        key = key_command(case, e["exec_id"], view)
        f["chain"] = chain(case, e["exec_id"], key["exec_id"] if key else None)
        names = dict(case.processes(exec_id=f["chain"]).select("exec_id", "binary").iter_rows())
        f["chain_text"] = " → ".join((names.get(x) or "?").rsplit("/", 1)[-1] for x in f["chain"])
        if key:
            f["flag"] = key
            f["flag_text"] = f"{key['binary']} {key['args']}".strip()
        f["steps"] = steps(case, e["exec_id"], view)
        procs = case.descendants(e["exec_id"])
        session = procs["exec_id"].to_list()
        f["connections"] = connections(case, session)
        f["hooks"] = hooks(case, session)
        f["notes"] += deliveries(case, session) + blind_spots(case, e["node"], srcs)
        f["origin"] = origin(case, e)
        f["notes"] += origin_note(f["origin"], e)
        if "hubble" in srcs and ("service process" in e["basis"] or e["basis"] == LOGIN):
            f["triggers"] = triggers(case, e, login=e["basis"] == LOGIN)
            f["notes"] += triggers_note(f["triggers"], e, login=e["basis"] == LOGIN)
        if view is not None:
            f["aftermath"] = aftermath(case, view.procs)
            f["notes"] += aftermath_note(f["aftermath"])
        if "hubble" in srcs:
            mine = session_flows(case, session)
            if mine.height:
                # a connection one node let out and the other dropped did not get through
                let_through = one_sighting(mine.filter(~pl.col("conn_dropped")))
                l7 = l7_requests(let_through)
                # and where it sent no L7 request (let through or not), the first flow of each connection
                rest = let_through.join(l7_requests(mine).select("dst_ip", "dst_port").unique(),
                                        on=["dst_ip", "dst_port"], how="anti", nulls_equal=True).sort("time_ns").unique(
                    CONNECTION, keep="first", maintain_order=True)
                f["attack_flows"] = flow_records(pl.concat([l7, rest], how="vertical_relaxed").sort("time_ns"))
                # each dropped request, and each other connection once (its retries and its other
                # node's sighting left out)
                dropped = one_sighting(mine.filter(pl.col("verdict") == "DROPPED"))
                l4 = dropped.filter(pl.col("http_method").is_null() & pl.col("dns_query").is_null()).unique(
                    CONNECTION, keep="first", maintain_order=True)
                f["dropped_flows"] = flow_records(pl.concat([l7_requests(dropped), dropped.filter(
                    pl.col("dns_query").is_not_null()), l4], how="vertical_relaxed").sort("time_ns"))
            others = pod_flows(case, e, procs)
            f["pod_flows"] = flow_records(others.head(POD_FLOWS_MAX))
            if others.height > POD_FLOWS_MAX:
                f["notes"].append(f"the pod sent {others.height} other flows no process was matched to while the "
                                  f"session ran (first lookup of each name, first flow to each destination); "
                                  f"the first {POD_FLOWS_MAX} are listed")
        if "falco" in srcs:
            f["alerts"] = alert_records(case.alerts(exec_id=session))
        if len(entries) > 1:
            others = entries.slice(1).filter(pl.col("pod") != e["pod"]).unique("pod", maintain_order=True).head(5)
            # (the same intruder's other shells in the pod: a notebook's cells, an injection's retries)
            beside = entries.slice(1).filter(pl.col("pod") == e["pod"]).head(3)
            f["notes"].append(f"{len(entries)} candidate sessions; the one with the most activity is reported" + (
                "; others in " + ", ".join(f"{r['namespace']}/{r['pod']} ({r['basis']})" for r in others.iter_rows(named=True))
                if others.height else "") + (
                "; in the same pod also: " + "; ".join(f"{r['binary']} {(r['args'] or '')[:100]}".rstrip()
                                                       + f" at {r['start_time']}" for r in beside.iter_rows(named=True))
                if beside.height else ""))
    elif "hubble" in srcs or "falco" in srcs:
        ns = network_suspect(case)
        if ns:
            why = [(n, w) for n, w in ((ns["alerts"], "Falco alerts"), (ns["dropped"], "destination(s) a policy refused"),
                                        (ns["rare_requests"], "rare L7 requests"),
                                        (ns["dns_names"], "long DNS names under " + ", ".join(ns["tunnel_domains"])))
                   if n]
            f.update(basis="pod pointed at by " + ", ".join(w for _, w in why),
                     attacker_namespace=ns["namespace"], attacker_pod=ns["pod"],
                     attacker_workload=ns["workload"], node=ns["node"])
            mine = case.flows(from_pod=ns["pod"]).filter(pl.col("src_pod") == ns["pod"]) if "hubble" in srcs else None
            if mine is not None and mine.height:
                mine = with_connection_verdict(mine.filter(~pl.col("is_reply").fill_null(False)))
                rare = rare_requests(case).filter(pl.col("src_pod") == ns["pod"])
                under = r"\.(" + "|".join(re.escape(d) for d in ns["tunnel_domains"]) + r")\.?$"
                tunnel = mine.filter(pl.col("dns_query").str.to_lowercase().str.contains(under)) \
                    if ns["tunnel_domains"] else mine.head(0)
                # and its connections out of the cluster from a minute before its first alert on (a
                # miner's pool, a C2), each once
                first = case.sql("SELECT min(time_ns) AS t FROM alerts WHERE pod = ?", [ns["pod"]])["t"][0] \
                    if "falco" in srcs else None
                out = mine.filter(pl.col("dst_pod").is_null() & ~pl.col("dst_ip").fill_null("").str.contains(INTERNAL_IPS)
                                  & pl.col("dns_query").is_null() & (pl.col("time_ns") >= (first or 2**62) - ALERT_LEAD_NS)
                                  ).unique(CONNECTION, keep="first", maintain_order=True)
                shown = mine.join(pl.concat([rare.select("event_id"), tunnel.select("event_id"), out.select("event_id")]),
                                  on="event_id", how="semi")
                f["attack_flows"] = flow_records(one_sighting(shown.filter(~pl.col("conn_dropped"))).head(100))
                f["dropped_flows"] = flow_records(one_sighting(mine.filter(pl.col("verdict") == "DROPPED")).head(100))
            if "falco" in srcs:
                # attributed to their processes when the capture has them (the pod filter is a prefix)
                al = (case.alerts(pod=ns["pod"]).filter(pl.col("pod") == ns["pod"]) if "tetragon" in srcs else
                      case.sql("SELECT time, rule, pid FROM alerts WHERE pod = ? ORDER BY time_ns", [ns["pod"]]))
                f["alerts"] = alert_records(al)
            f["notes"].append("what points at the pod: " + ", ".join(f"{n} {w}" for n, w in why)
                              + ("; also pointed at, less: " + ", ".join(ns["others"]) if ns["others"] else ""))
            f["notes"].append(
                "no suspicious session in the process events: the command is not determinable"
                if "tetragon" in srcs else "no process events: the command is not determinable")
            if "falco" in srcs:
                f["notes"] += alert_command(case, ns["pod"])
    if f["attacker_pod"] is None:
        f["notes"].append("no suspicious session, alert, drop or rare request found: " + NOT_DETERMINABLE)
    return f
