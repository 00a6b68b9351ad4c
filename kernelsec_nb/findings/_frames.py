"""The frames the findings engine reads from a case (:func:`case_frames`): processes, flows,
hook events, sidecar requests, API calls and detections, each with only the columns the engine
reads, on the reference clock (``case.on_reference_clock``).

The engine itself (:func:`kernelsec_nb.findings.engine.find_in`) works on plain polars frames;
this module is the one place that knows the case's tables.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from kernelsec_nb.correlate._frames import fetch
from kernelsec_nb.findings.detections import detections, empty_detections
from kernelsec_nb.findings.graph import API_LABEL

#: The columns of ``case.flows()`` the engine and its parts read (``case_frames`` keeps these).
FLOW_COLUMNS = ("event_id", "time", "time_ns", "node", "verdict", "src_namespace", "src_pod", "src_workload",
                "src_ip", "src_port", "dst_namespace", "dst_pod", "dst_workload", "dst_labels", "dst_names",
                "dst_ip", "dst_port", "l7_direction", "http_method", "http_url", "http_path", "http_code", "dns_query",
                "dns_ips",
                "is_reply", "exec_id", "parent_exec_id", "binary", "args", "confidence")
_KPROBE_COLS = ('event_id, kind, time_ns, node, namespace, pod, workload, exec_id, function_name, '
                'file_path, daddr, dport, hook_args')


def _on_ref(case: Any, df: pl.DataFrame, col: str, tetragon: bool) -> pl.DataFrame:
    if df.height == 0 or "node" not in df.columns:
        return df
    src = df.with_columns(pl.lit("tetragon" if tetragon else "hubble").alias("source")) \
        if "source" not in df.columns else df
    ref = case.on_reference_clock(src, col)
    shift = (pl.col(col) - pl.col("ref_time_ns"))
    out = ref.with_columns(shift.alias("_shift"))
    others = [c for c in ("exit_ns",) if c in df.columns]
    out = out.with_columns(pl.col("ref_time_ns").alias(col), *((pl.col(c) - pl.col("_shift").fill_null(0)).alias(c)
                                                                for c in others))
    return out.select(df.columns)


def case_frames(case: Any, rules: Any = None) -> dict[str, pl.DataFrame]:
    """The frames :func:`find_in` reads, from ``case``, on the reference clock."""
    procs = _on_ref(case, _exec_starts(case, case.processes()), "start_ns", tetragon=True)
    # only the columns the engine reads: fetching the others took most of the time, and every
    # filter of a wide frame copies all its columns; of a destination's labels, only the one the
    # engine asks about (whether it is the API server)
    flows = case._flows_only(FLOW_COLUMNS, label_keys=[API_LABEL]) if hasattr(case, "_flows_only") \
        else case.flows()
    flows = _on_ref(case, flows.select([c for c in FLOW_COLUMNS if c in flows.columns]), "time_ns", tetragon=False)
    kp = fetch(case.con, f"SELECT {_KPROBE_COLS} FROM kprobes")  # noqa: S608 - fixed column list
    kp = _on_ref(case, kp, "time_ns", tetragon=True)
    # access logs name no node: their times are their pod's node's, taken as they are
    requests = case.http_requests()
    try:
        hits = detections(case, rules)
    except Exception as e:  # noqa: BLE001 - a rule pack that cannot run is a note, not a traceback
        hits = empty_detections()
        return {"procs": procs, "flows": flows, "kprobes": kp, "hits": hits, "requests": requests,
                "notes": pl.DataFrame({"note": [f"detections not run: {str(e).splitlines()[0] if str(e) else e!r}"]})}
    api = _api_calls(case)
    return {"procs": procs, "flows": flows, "kprobes": kp, "hits": _api_senders(hits, api), "api": api,
            "requests": requests}


def _exec_starts(case: Any, procs: pl.DataFrame) -> pl.DataFrame:
    """A process whose exec the capture saw and whose source writes no start time (Inspektor
    Gadget) started at its exec event."""
    if procs.height == 0 or not {"start_ns", "exec_event_id"} <= set(procs.columns):
        return procs
    ids = procs.filter(pl.col("start_ns").is_null() & pl.col("exec_event_id").is_not_null())["exec_event_id"]
    if ids.len() == 0:
        return procs
    at = fetch(case.con, "SELECT event_id AS exec_event_id, time_ns AS _exec_ns FROM process_events "
                         "WHERE event_id IN (SELECT unnest(?::VARCHAR[]))", [ids.unique().to_list()])
    if at.height == 0:
        return procs
    at = at.unique("exec_event_id").cast({"exec_event_id": pl.String, "_exec_ns": pl.Int64})
    return procs.join(at, on="exec_event_id", how="left", maintain_order="left").with_columns(
        pl.coalesce("start_ns", "_exec_ns").alias("start_ns")).drop("_exec_ns")


def _api_calls(case: Any) -> pl.DataFrame | None:
    """The case's API calls, attributed and linked (None without an audit log)."""
    try:
        if not hasattr(case, "api_calls") or not case.con.execute("SELECT 1 FROM audit_events LIMIT 1").fetchall():
            return None
    except Exception:  # noqa: BLE001 - a case (a lake) without the table
        return None
    return case.api_calls()  # on the API server's clock, which is the reference's neighbour


def _api_senders(hits: pl.DataFrame, api: pl.DataFrame | None) -> pl.DataFrame:
    """A detection on an API call gets the process that sent the call (case.api_calls)."""
    if api is None or hits.height == 0:
        return hits
    sent = api.select(pl.col("event_id").alias("_ev"), pl.col("exec_id").alias("_sender")).drop_nulls()
    return (hits.join(sent, left_on="event_id", right_on="_ev", how="left", maintain_order="left")
            .with_columns(pl.coalesce("exec_id", "_sender").alias("exec_id")).drop("_sender"))


__all__ = ["FLOW_COLUMNS", "case_frames"]
