"""Scan probes told from sessions among the pods an incident connected to.

A process that sweeps the pod network (``nmap``, a scanner the attacker downloaded) touches every
pod on a handful of ports for a few milliseconds each; the pods it then talks to (the database it
dumps) it holds a connection to.  :func:`probed_pods` names the pods an incident's line only
probed: its processes reached at least ``sweep_targets`` distinct pod-and-port pairs, and every
connection of theirs into the pod ended within ``probe_ns`` of its first packet (a connection is
its flows of one source port to one destination port, from Hubble).  The incident lists such a
pod as reached ``how`` ``probe`` instead of ``connect``; a connection whose source port no flow
gives (a connect hook alone) says nothing of its length and keeps the pod a session.

>>> S = 1_000_000_000
>>> f = pl.DataFrame({"exec_id": ["x"] * 12, "dst_namespace": ["a"] * 12,
...     "dst_pod": [f"p{i}" for i in range(10)] + ["db-0", "db-0"], "dst_port": [5432] * 12,
...     "src_port": list(range(40000, 40011)) + [40010], "time_ns": [i * 1000 for i in range(11)] + [30 * S],
...     "is_reply": [False] * 12})
>>> sorted(probed_pods(f, ["x"]))[:2], ("a", "db-0") in probed_pods(f, ["x"])
([('a', 'p0'), ('a', 'p1')], False)
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

NS = 1_000_000_000
#: The ``how`` of a pod an incident only probed (:func:`probed_pods`).
PROBE = "probe"


@dataclass(frozen=True)
class ProbeSettings:
    """What makes a sweep and a probe (one place)."""

    #: distinct pod-and-port pairs a line's processes reached that make a sweep of the pod network
    sweep_targets: int = 10
    #: a connection whose flows all fall within this of its first one is a probe, not a session
    probe_ns: int = NS


DEFAULT = ProbeSettings()


def probed_pods(flows: pl.DataFrame, line: list[str], s: ProbeSettings = DEFAULT) -> set[tuple[str, str]]:
    """(namespace, pod) of the pods the processes of ``line`` only probed in a sweep (see the
    module); empty when they made no sweep."""
    need = {"exec_id", "dst_pod", "dst_port", "src_port", "time_ns"}
    if flows.height == 0 or not need <= set(flows.columns) or not line:
        return set()
    f = flows.filter(pl.col("exec_id").is_in(line) & pl.col("dst_pod").is_not_null())
    if "is_reply" in f.columns:
        f = f.filter(~pl.col("is_reply").fill_null(False))
    if f.height == 0:
        return set()
    ns = pl.col("dst_namespace").fill_null("") if "dst_namespace" in f.columns else pl.lit("")
    f = f.with_columns(ns.alias("_ns"))
    if f.select(pl.struct("_ns", "dst_pod", "dst_port").n_unique()).item() < s.sweep_targets:
        return set()
    conn = f.group_by("_ns", "dst_pod", "dst_port", "src_port", "exec_id").agg(
        (pl.col("time_ns").max() - pl.col("time_ns").min()).alias("_span"))
    short = pl.col("src_port").is_not_null() & (pl.col("_span") < s.probe_ns)
    pods = conn.group_by("_ns", "dst_pod").agg(short.all().alias("_probe"))
    return {(a, b) for a, b, probe in pods.iter_rows() if probe}


__all__ = ["DEFAULT", "PROBE", "ProbeSettings", "probed_pods"]
