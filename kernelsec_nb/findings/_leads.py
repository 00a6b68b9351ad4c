"""The leads the engine lists beside its incidents: what it could not make an incident, and why.

A lead is never called an attacker: detections no process explains (:func:`orphan_leads`), a
pod's flows with no process events (:func:`flow_leads`), a DNS tunnel no process could be given
(:func:`tunnel_leads`); leads alike (a CI job's every run) are listed once (:func:`merge_leads`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import polars as pl

from kernelsec_nb.findings import _evidence as E
from kernelsec_nb.findings._records import Lead
from kernelsec_nb.findings.routine import destinations

if TYPE_CHECKING:
    from kernelsec_nb.findings.engine import EngineSettings


def lead_order(lead: Lead) -> tuple[Any, ...]:
    """The sort key of leads: the heaviest first; of equal weight by namespace, pod, node and
    process ids, so that the same capture lists the same leads in the same order on every run
    (the engine's frames are grouped in no fixed order).

    >>> a, b = Lead("web-2", "n1", "x", "ns", "web", ["e2"], 3.0), Lead("web-1", "n2", "x", "ns", "web", ["e1"], 3.0)
    >>> [x.pod for x in sorted([a, b], key=lead_order)]
    ['web-1', 'web-2']
    """
    return (-lead.score, lead.namespace or "", lead.pod or "", lead.node or "", lead.exec_ids)


def merge_leads(leads: list[Lead]) -> list[Lead]:
    """Leads alike (same namespace, workload and evidence: a CI job's every run) as one, the
    number of the others in its ``why_not``: the heaviest names its pod and node (of equal
    weight, the first by :func:`lead_order`), its process ids first, then the others' in that
    order — whatever the order of ``leads``; the merged leads come in the order of their first
    lead in ``leads``."""
    groups: dict[tuple[Any, ...], list[Lead]] = defaultdict(list)
    for lead in leads:
        shape = tuple(re.sub(r"\d+", "#", w) for w in lead.why)
        groups[(lead.namespace, lead.workload or lead.pod, shape, lead.why_not)].append(lead)
    out = []
    for same in groups.values():
        same = sorted(same, key=lead_order)
        top = same[0]
        if len(same) > 1:
            top = Lead(top.pod, top.node, f"{top.why_not} (and {len(same) - 1} more like it in {top.workload})",
                       top.namespace, top.workload, [x for lead in same for x in lead.exec_ids], top.score, top.why)
        out.append(top)
    return out


def flow_leads(flows: pl.DataFrame, s: EngineSettings) -> list[Lead]:
    """With no process events: per source pod, the flows a policy dropped and the state-changing
    requests its workload does not send all through the capture (``blocked`` and ``request``
    evidence, with the source pod standing in for the process), as leads of ``lead_min`` or
    more — never incidents: no process says who sent them."""
    if flows.height == 0 or "src_pod" not in flows.columns:
        return []
    f = flows.filter(pl.col("src_pod").is_not_null())
    if "is_reply" in f.columns:
        f = f.filter(~pl.col("is_reply").fill_null(False))
    key = pl.concat_str([pl.col("src_namespace").fill_null(""), pl.lit("/"), pl.col("src_pod")]) \
        if "src_namespace" in f.columns else pl.col("src_pod")
    f = f.with_columns(key.alias("exec_id"))
    rreq = destinations(E.request_keys(f), s.routine) if "http_method" in f.columns else None
    ev = pl.concat([E.blocked_and_requests(f, rreq, s.evidence), E.dns_tunnels(f, s.evidence)])
    out = []
    for pid, g in ev.group_by("exec_id", maintain_order=True):
        total = float(g["weight"].sum())
        if total < s.lead_min:
            continue
        mine = f.filter(pl.col("exec_id") == pid[0])
        one = mine.row(0, named=True)
        # the node that saw most of the pod's flows (a flow is seen by both ends' nodes)
        node = mine["node"].drop_nulls().mode().sort()[0] if "node" in mine.columns and mine["node"].null_count() < mine.height else None
        out.append(Lead(pod=one["src_pod"], node=node, namespace=one.get("src_namespace"),
                        workload=one.get("src_workload"), score=round(total, 2),
                        why_not="no process events: no process says who sent these flows",
                        why=[f"+ {t}" for t in g.sort("weight", descending=True)["text"].unique(maintain_order=True)
                             .head(s.max_why).to_list()]))
    return out


def tunnel_leads(rows: pl.DataFrame, s: EngineSettings) -> list[Lead]:
    """A pod's DNS tunnel no process could be given (:func:`~._dns_tunnel.attribute_to_lineage`): a
    lead of its pod, weighed as the act."""
    out = []
    for (ns, pod, dom), g in rows.group_by("src_namespace", "src_pod", "domain", maintain_order=True):
        out.append(Lead(pod=pod, node=None, namespace=ns, workload=None, score=s.evidence.weights[E.DNS_TUNNEL],
                        why_not="no process of the pod was running to send these lookups",
                        why=[f"+ sent data out in {g['dns_query'].n_unique()} distinct random-looking DNS names "
                             f"under {dom}"]))
    return out


def orphan_leads(hits: pl.DataFrame, s: EngineSettings) -> list[Lead]:
    """Detections no process explains (no ``exec_id``), medium or above, per pod: leads."""
    h = hits.filter(pl.col("exec_id").is_null() & pl.col("level").fill_null("medium").str.to_lowercase().is_in(
        ["medium", "high", "critical"]))
    out = []
    for (ns, pod, node), g in h.group_by("namespace", "pod", "node", maintain_order=True):
        # each rule once, with the text of its first hit (a Falco alert's output names the command)
        first = g.filter(pl.col("title").is_not_null()).unique("title", keep="first", maintain_order=True).head(3)
        out.append(Lead(pod=pod, node=node, namespace=ns,  # type: ignore[arg-type]
                        why_not="no process of the capture explains these detections",
                        workload=g["workload"][0], score=float(g.height),
                        why=[f"+ {t}: {d}" if d else f"+ {t}" for t, d in first.select("title", "detail").iter_rows()]))
    return out
