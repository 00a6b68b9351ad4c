"""Rights granted and admission webhooks registered through the Kubernetes API by a process of the capture.

A process in a pod that creates, through the API (the audit log names its calls), a service
account, a token, a role or a role binding gave someone rights that outlast its session
(ATT&CK T1098, account manipulation); one that registers a mutating or validating admission
webhook has the API server send it every object of the kinds it names, and may change them
(T1546, event triggered execution).  Applications do neither; an operator installing itself
does it once, from a human's ``helm`` on a laptop (no process of the capture).
:func:`grant_acts` makes each such ``create`` an act of its sender (evidence kind
``persistence``, rule :data:`RULE`), as :func:`~._api_acts.controller_acts` does for a controller
object; the sender's routine lowers it like any evidence.  The sender is the process the audit
log's attribution names (``exec_id``: by the pod's token, or by the source address when the token
belongs elsewhere — a token taken from another workload sent from the pod).

>>> calls = pl.DataFrame({"exec_id": ["sh", None], "verb": ["create", "create"],
...     "resource": ["mutatingwebhookconfigurations", "rolebindings"], "subresource": [None, None],
...     "namespace": [None, "shop"], "name": [None, None], "code": [201, 201], "time_ns": [1, 2],
...     "event_id": ["a", "b"], "user": ["system:serviceaccount:kube-system:bot", "ci"]},
...     schema_overrides={"subresource": pl.String, "namespace": pl.String, "name": pl.String})
>>> grant_acts(calls).select("exec_id", "kind", "techniques").rows()
[('sh', 'persistence', ['T1546'])]
"""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import _evidence as E

#: Rule id of the evidence.
RULE = "engine:api_grant"
#: Resources whose ``create`` grants rights or intercepts the cluster's objects, and the technique.
GRANTED = {"serviceaccounts": "T1098", "roles": "T1098", "rolebindings": "T1098", "clusterroles": "T1098",
           "clusterrolebindings": "T1098", "mutatingwebhookconfigurations": "T1546",
           "validatingwebhookconfigurations": "T1546"}


def _col(frame: pl.DataFrame, name: str, dtype: pl.DataType | type[pl.DataType] = pl.String) -> pl.Expr:
    return pl.col(name) if name in frame.columns else pl.lit(None, dtype).alias(name)


def grant_acts(calls: pl.DataFrame | None, weight: float = 2.0) -> pl.DataFrame:
    """Evidence (kind ``persistence``, rule :data:`RULE`, the technique of :data:`GRANTED`) for the
    sending process of each successful ``create`` of a resource of :data:`GRANTED` (a service
    account's ``token`` subresource included) — one row per process, resource and object."""
    if calls is None or calls.height == 0 or not {"exec_id", "verb", "resource"} <= set(calls.columns):
        return E.empty_evidence()
    sub = _col(calls, "subresource")
    c = calls.filter(pl.col("exec_id").is_not_null() & (pl.col("verb") == "create")
                     & pl.col("resource").is_in(list(GRANTED))
                     & (sub.is_null() | ((pl.col("resource") == "serviceaccounts") & (sub == "token")))
                     & (_col(calls, "code", pl.Int64).fill_null(200) < 400))
    if c.height == 0:
        return E.empty_evidence()
    what = pl.when(_col(c, "subresource").is_not_null()).then(
        pl.concat_str([pl.col("resource"), pl.lit("/"), _col(c, "subresource")])).otherwise(pl.col("resource"))
    where = pl.concat_str([pl.lit(" "), _col(c, "namespace").fill_null(""), pl.lit("/"),
                           pl.coalesce(_col(c, "created_name"), _col(c, "name")).fill_null("?")])
    told = pl.when(pl.col("resource").str.ends_with("webhookconfigurations")).then(
        pl.lit("the API server sends it the objects it names, and may let it change them")).otherwise(
        pl.lit("rights that outlast the session"))
    c = c.with_columns(what.alias("_what"), where.alias("_where"), told.alias("_told"))
    c = c.unique(["exec_id", "_what", "_where"], keep="first", maintain_order=True)
    return E._rows(c.select(
        "exec_id", pl.lit(E.PERSIST).alias("kind"), pl.lit(weight).alias("weight"),
        pl.format("create {}{} through the Kubernetes API by {} (audit log): {}", "_what", "_where",
                  _col(c, "user").fill_null("?"), "_told").alias("text"),
        _col(c, "event_id"), pl.lit(RULE).alias("rule_id"),
        pl.col("resource").replace_strict(GRANTED, default="T1098").cast(pl.String)
        .map_elements(lambda t: [t], return_dtype=pl.List(pl.String)).alias("techniques")))


__all__ = ["GRANTED", "RULE", "grant_acts"]
