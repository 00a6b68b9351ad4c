"""Generic postmortem heuristics: find an interactive session, its exec chain and key command.

Nothing here knows a scenario: the rules are ordinary incident-response heuristics.

* **Entry**: an interactive shell (a shell binary with no script, ``-c`` or arguments, or only
  ``-i``/``-l``) started in a pod *outside* the container's init tree (``kubectl exec``,
  ``docker exec``), ranked by what its session did (alerts, flows, processes).  Without such a
  shell, the roots of rare (once or twice seen per workload) commands outside the init tree.
* **Key command**: the last process of the session that acted on another process (a
  signal-sending tool with a signal and a pid), else the last command of the session.
* **Without Tetragon** (only Hubble flows): the source pod of the rarest L7 requests, weighted
  by requests a policy dropped, and the node where its egress was seen.

Each function degrades to empty frames / ``None`` when a source is missing.
"""

from __future__ import annotations

from typing import Any

import polars as pl

SHELLS = r"(^|/)(sh|bash|dash|ash|zsh|ksh|mksh|busybox)$"
INTERACTIVE_ARGS = r"^(|-i|-l|-il|-li|--login|-)$"
SIGNAL_TOOLS = r"(^|/)(kill|pkill|killall|skill|tkill)$"
SIGNAL_ARGS = r"(^|\s)-(\d+|[A-Z]+|s\s+\S+|-signal\s+\S+)\s+(.*\s)?-?\d+\s*$"
NOT_DETERMINABLE = "not determinable from this data"

_FLOW_COLS = ["node", "time", "src_pod", "src_ip", "src_port", "dst_pod", "dst_ip", "dst_port",
              "protocol", "http_method", "http_url", "verdict", "exec_id", "event_id"]


def sources(case: Any) -> list[str]:
    """The sources that have events in the case."""
    return case.sql("SELECT DISTINCT source FROM events WHERE source IS NOT NULL ORDER BY 1")[
        "source"].to_list()


def _subtree_stats(case: Any, exec_id: str) -> dict[str, Any]:
    d = case.descendants(exec_id)
    return {"processes": d.height,
            "flows": int(d["flows"].fill_null(0).sum()) if "flows" in d.columns else 0,
            "alerts": int(d["alerts"].fill_null(0).sum()) if "alerts" in d.columns else 0,
            "files": int(d["files"].fill_null(0).sum()) if "files" in d.columns else 0}


def interactive_entries(case: Any) -> pl.DataFrame:
    """Candidate session entries (interactive shells outside the init tree), best first."""
    tree = case.process_tree()
    cols = ["exec_id", "node", "namespace", "pod", "workload", "binary", "args", "pid",
            "start_time", "start_ns", "parent_exec_id", "capabilities", "pod_labels"]
    if tree.is_empty():
        return pl.DataFrame()
    outside = tree.filter((pl.col("in_init_tree") == False) & pl.col("pod").is_not_null())  # noqa: E712
    cand = outside.filter(pl.col("binary").str.contains(SHELLS)
                          & pl.col("args").fill_null("").str.strip_chars().str.contains(INTERACTIVE_ARGS))
    basis = "interactive shell outside the init tree"
    if cand.is_empty():  # rare commands outside the init tree (exec probes repeat, sessions do not)
        counts = outside.group_by("workload", "binary", "args").len()
        rare = outside.join(counts, on=["workload", "binary", "args"], how="left",
                            nulls_equal=True).filter(pl.col("len") <= 2)
        cand = rare.filter(~pl.col("parent_exec_id").is_in(rare["exec_id"].implode()).fill_null(False))
        basis = "rare command outside the init tree"
    else:
        cand = cand.filter(~pl.col("parent_exec_id").is_in(cand["exec_id"].implode()).fill_null(False))
    if cand.is_empty():
        return pl.DataFrame()
    stats = [dict(exec_id=e, **_subtree_stats(case, e)) for e in cand["exec_id"].head(50)]
    st = pl.DataFrame(stats, schema={"exec_id": pl.String, "processes": pl.Int64,
                                     "flows": pl.Int64, "alerts": pl.Int64, "files": pl.Int64})
    out = (cand.select([c for c in cols if c in cand.columns]).join(st, on="exec_id", how="inner")
           .with_columns(pl.lit(basis).alias("basis"),
                         ((pl.col("alerts") > 0).cast(pl.Int64) * 4 + (pl.col("flows") > 0).cast(pl.Int64) * 2
                          + (pl.col("processes") > 1).cast(pl.Int64)).alias("score")))
    return out.sort(["score", "processes", "start_ns"], descending=[True, True, False])


def key_command(case: Any, entry_exec_id: str) -> dict[str, Any] | None:
    """The last process of the session that signalled another process, else its last command."""
    d = case.descendants(entry_exec_id)
    if d.is_empty():
        return None
    d = d.sort("start_ns")
    later = d.filter(pl.col("depth") > 0)
    sig = later.filter(pl.col("binary").fill_null("").str.contains(SIGNAL_TOOLS)
                       & pl.col("args").fill_null("").str.contains(SIGNAL_ARGS))
    if sig.height:
        row, why = sig.row(-1, named=True), "last process of the session that signalled another process"
    elif later.height:
        row, why = later.row(-1, named=True), "last command of the session (no process-to-process action seen)"
    else:
        row, why = d.row(0, named=True), "the session entry itself (nothing ran below it)"
    return {"exec_id": row["exec_id"], "binary": row["binary"], "args": row["args"] or "",
            "pid": row["pid"], "start_time": str(row["start_time"]), "reason": why}


def chain(case: Any, entry_exec_id: str, key_exec_id: str | None) -> list[str]:
    """Exec ids from the entry down to the key command (inclusive)."""
    if not key_exec_id:
        return [entry_exec_id]
    anc = case.ancestry(key_exec_id)["exec_id"].to_list()
    return anc[anc.index(entry_exec_id):] if entry_exec_id in anc else [entry_exec_id, key_exec_id]


def _requests(flows: pl.DataFrame) -> pl.DataFrame:
    if flows.is_empty() or "http_method" not in flows.columns:
        return flows.head(0)
    return flows.filter(pl.col("http_method").is_not_null() & ~pl.col("is_reply").fill_null(False))


def flow_records(df: pl.DataFrame) -> list[dict[str, Any]]:
    """Flows as JSON-ready dicts (times as ISO text)."""
    if df.is_empty():
        return []
    cols = [c for c in _FLOW_COLS if c in df.columns]
    out = []
    for r in df.select(cols).iter_rows(named=True):
        r["time"] = r["time"].strftime("%Y-%m-%dT%H:%M:%S.%fZ") if r.get("time") is not None else None
        out.append(r)
    return out


def rare_requests(case: Any, max_count: int = 5) -> pl.DataFrame:
    """L7 requests whose method+path was seen at most ``max_count`` times in the capture."""
    req = _requests(case.flows())
    if req.is_empty():
        return req
    counts = req.group_by("http_method", "http_path").len("seen")
    return req.join(counts, on=["http_method", "http_path"], how="left", nulls_equal=True).filter(
        pl.col("seen") <= max_count)


def network_suspect(case: Any) -> dict[str, Any] | None:
    """From flows alone: the source pod of the rarest L7 requests (drops weigh double) and its node."""
    rare = rare_requests(case)
    if rare.is_empty():
        return None
    score = (rare.filter(pl.col("src_pod").is_not_null())
             .group_by("src_namespace", "src_pod", "src_workload")
             .agg(pl.len().alias("rare_requests"),
                  (pl.col("verdict") == "DROPPED").sum().alias("dropped"),
                  pl.col("time").min().alias("first"))
             .with_columns((pl.col("rare_requests") + pl.col("dropped")).alias("score"))
             .sort(["score", "first"], descending=[True, False]))
    if score.is_empty():
        return None
    top = score.row(0, named=True)
    egress = case.flows(from_pod=top["src_pod"]).filter(pl.col("src_pod") == top["src_pod"])
    eg = egress.filter(pl.col("traffic_direction") == "EGRESS")
    node = None
    for frame in (eg, egress):
        if frame.height:
            node = frame.group_by("node").len().sort("len", descending=True)["node"][0]
            break
    return {"namespace": top["src_namespace"], "pod": top["src_pod"], "workload": top["src_workload"],
            "node": node, "rare_requests": int(top["rare_requests"]), "dropped": int(top["dropped"])}


def derive_findings(case: Any) -> dict[str, Any]:
    """All generic findings of a case as one JSON-ready dict (see the module docstring)."""
    srcs = sources(case)
    f: dict[str, Any] = {"sources": srcs, "basis": None, "attacker_namespace": None,
                         "attacker_pod": None, "attacker_workload": None, "node": None,
                         "entry": None, "chain": [], "flag": None, "flag_text": NOT_DETERMINABLE,
                         "attack_flows": [], "dropped_flows": [], "alerts": [], "notes": []}
    entries = interactive_entries(case) if "tetragon" in srcs else pl.DataFrame()
    if entries.height:
        e = entries.row(0, named=True)
        f.update(basis=e["basis"], attacker_namespace=e["namespace"], attacker_pod=e["pod"],
                 attacker_workload=e["workload"], node=e["node"])
        f["entry"] = {"exec_id": e["exec_id"], "binary": e["binary"], "args": e["args"] or "",
                      "pid": e["pid"], "start_time": str(e["start_time"])}
        key = key_command(case, e["exec_id"])
        f["chain"] = chain(case, e["exec_id"], key["exec_id"] if key else None)
        if key:
            f["flag"] = key
            f["flag_text"] = f"{key['binary']} {key['args']}".strip()
        session = case.descendants(e["exec_id"])["exec_id"].to_list()
        req = _requests(case.flows(exec_id=session)) if "hubble" in srcs else pl.DataFrame()
        if req.height:
            f["attack_flows"] = flow_records(req.filter(pl.col("verdict") != "DROPPED"))
            f["dropped_flows"] = flow_records(req.filter(pl.col("verdict") == "DROPPED"))
        if "falco" in srcs:
            al = case.alerts(exec_id=session)
            f["alerts"] = [{"time": r["time"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "rule": r["rule"],
                            "exec_id": r["exec_id"], "pid": r["pid"]}
                           for r in al.iter_rows(named=True)]
        if len(entries) > 1:
            f["notes"].append(f"{len(entries)} candidate sessions; the one with the most activity is reported")
    elif "hubble" in srcs:
        ns = network_suspect(case)
        if ns:
            f.update(basis="rare L7 requests (Hubble only)", attacker_namespace=ns["namespace"],
                     attacker_pod=ns["pod"], attacker_workload=ns["workload"], node=ns["node"])
            req = rare_requests(case).filter(pl.col("src_pod") == ns["pod"])
            f["attack_flows"] = flow_records(req.filter(pl.col("verdict") != "DROPPED"))
            f["dropped_flows"] = flow_records(req.filter(pl.col("verdict") == "DROPPED"))
            f["notes"].append("no process events: the command behind the requests is not determinable")
    if f["attacker_pod"] is None:
        f["notes"].append("no interactive session or rare request found: " + NOT_DETERMINABLE)
    return f
