"""A credential that probed its rights, then deployed: the pods it made are one incident's.

With a stolen token an intruder first asks what it may do (``selfsubjectrulesreviews``,
``selfsubjectaccessreviews``), often meets a refusal (403), then creates a workload that runs
its code (a CronJob of a miner).  The sender is outside the capture (no process sent the call),
so :func:`~._api_acts.controller_acts` has nobody to charge.  :func:`probed_creates` finds, in
the audit log, a ``create`` of a controller object (not the control plane's) whose sender — one
user from one source address — also probed its rights or was refused during the capture, and
returns

* evidence (kind ``persistence``, rule :data:`RULE`) on the first process of the first pod made
  from it: the act of deploying, with ATT&CK T1078 (valid accounts) and T1053.007 (a CronJob) or
  T1610 (deploy a container);
* ``controller`` edges from that process to the first process of each later pod made from it:
  a CronJob's runs are one deployment, one part — the others are the pods it reached.

>>> S = 1_000_000_000
>>> calls = pl.DataFrame({"verb": ["create", "list", "create"],
...     "resource": ["selfsubjectrulesreviews", "namespaces", "cronjobs"], "subresource": [None] * 3,
...     "namespace": [None, None, "shop"], "name": [None, None, "lc"], "time_ns": [0, S, 2 * S],
...     "code": [201, 403, 201], "user": ["sa:ci:deployer"] * 3, "src_ip": ["193.0.2.9"] * 3,
...     "user_agent": ["kubectl"] * 3, "exec_id": [None] * 3, "event_id": ["a", "b", "c"]},
...     schema_overrides={"subresource": pl.String, "exec_id": pl.String})
>>> procs = pl.DataFrame({"exec_id": ["m1", "m2"], "namespace": ["shop"] * 2,
...     "pod": ["lc-28623500-ab1cd", "lc-28623520-ef2gh"], "start_ns": [60 * S, 1260 * S]})
>>> ev, edges = probed_creates(calls, procs)
>>> ev.select("exec_id", "kind", "techniques").rows()
[('m1', 'persistence', ['T1078', 'T1053.007'])]
>>> edges.select("src", "dst", "kind").rows()
[('proc:m1', 'proc:m2', 'controller')]
"""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import _evidence as E
from kernelsec_nb.findings import graph as G
from kernelsec_nb.findings._api_acts import CONTROLLER, CONTROLLERS, named_after
from kernelsec_nb.findings._fresh import CONTROL_PLANE

#: Rule id of the evidence.
RULE = "engine:api_probed_create"
#: Calls that ask the API server what the caller may do.
PROBES = ("selfsubjectrulesreviews", "selfsubjectaccessreviews")


def _col(frame: pl.DataFrame, name: str, dtype: pl.DataType | type[pl.DataType] = pl.String) -> pl.Expr:
    return pl.col(name) if name in frame.columns else pl.lit(None, dtype).alias(name)


def probed_creates(calls: pl.DataFrame | None, procs: pl.DataFrame,
                   weight: float = 2.0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Evidence and edges of the creates by a sender that probed its rights (see the module)."""
    if calls is None or calls.height == 0 or procs.height == 0 or not {"verb", "resource", "user"} <= set(calls.columns):
        return E.empty_evidence(), G.empty_edges()
    c = calls.with_columns(_col(calls, "src_ip").cast(pl.String).alias("_ip"),
                           _col(calls, "code", pl.Int64).fill_null(200).alias("_code"))
    probe = c.filter(pl.col("resource").is_in(list(PROBES)) | (pl.col("_code") == 403)).group_by("user", "_ip").agg(
        pl.col("resource").is_in(list(PROBES)).sum().alias("_probes"), (pl.col("_code") == 403).sum().alias("_denied"),
        pl.col("time_ns").min().alias("_first"))
    made = c.filter((pl.col("verb") == "create") & pl.col("resource").is_in(list(CONTROLLERS))
                    & _col(c, "subresource").is_null() & (pl.col("_code") < 400) & _col(c, "exec_id").is_null()
                    & ~pl.col("user").fill_null("").str.contains(CONTROL_PLANE))
    made = made.select("user", "_ip", _col(made, "user_agent"), pl.col("namespace").cast(pl.String),
                       pl.col("time_ns").cast(pl.Int64), "resource", _col(made, "event_id"),
                       pl.coalesce(_col(made, "created_name"), _col(made, "name")).alias("owner"))
    made = made.join(probe, on=["user", "_ip"], how="inner", nulls_equal=True).filter(
        (pl.col("_first") <= pl.col("time_ns")) & pl.col("owner").is_not_null())
    if made.height == 0:
        return E.empty_evidence(), G.empty_edges()
    first = (procs.filter(pl.col("pod").is_not_null() & pl.col("start_ns").is_not_null())
             .sort("start_ns").group_by("namespace", "pod", maintain_order=True).first()
             .select("exec_id", pl.col("namespace").cast(pl.String), "pod", "start_ns"))
    hit = made.join(first, on="namespace").filter(
        named_after(pl.col("owner"))
        & (pl.col("start_ns") >= pl.col("time_ns"))).sort("start_ns")
    if hit.height == 0:
        return E.empty_evidence(), G.empty_edges()
    hit = hit.with_columns(pl.col("exec_id").first().over("event_id", "owner").alias("_entry"))
    entry = hit.unique(["event_id", "owner"], keep="first", maintain_order=True)
    why = pl.format("its {} {}/{} was created through the Kubernetes API (audit log) by {} from {} ({}) after that "
                    "sender probed its rights {} times and was refused {} times", "resource", "namespace", "owner",
                    "user", pl.col("_ip").fill_null("?"), pl.col("user_agent").fill_null("?"), "_probes", "_denied")
    ev = E._rows(entry.select(
        "exec_id", pl.lit(E.PERSIST).alias("kind"), pl.lit(weight).alias("weight"), why.alias("text"), "event_id",
        pl.lit(RULE).alias("rule_id"),
        pl.concat_list(pl.lit("T1078"), pl.col("resource").replace_strict(CONTROLLERS, default="T1610")
                       .cast(pl.String)).alias("techniques")))
    rest = hit.filter(pl.col("exec_id") != pl.col("_entry"))
    edges = G._edges(rest.select(
        G.proc_id("_entry").alias("src"), G.proc_id().alias("dst"), pl.lit(CONTROLLER).alias("kind"),
        pl.col("start_ns").alias("time_ns"),
        pl.format("pod {} made from the same {} {}/{} (created by {} from {})", "pod", "resource", "namespace",
                  "owner", "user", pl.col("_ip").fill_null("?")).alias("why"), "event_id"))
    return ev, edges


__all__ = ["PROBES", "RULE", "probed_creates"]
