"""A workload's credential used from outside the cluster to exec into a pod, after it probed its rights.

A service account's token is a workload's: its pods send its calls from the cluster's own
addresses (a CI runner holding a deployer's token sends them from the runner's).  With a leaked
token an intruder first asks what it may do (``selfsubjectrulesreviews``), meets refusals (403),
often gives itself a lasting hold (a new service account, a role binding, a token), then execs
into a pod to work there.  The sender is outside the capture (no process sent the call): the
shell the runtime started for the exec (``linked_exec_id``, ``case.api_calls()``) is where the
session continues, and :func:`exec_sessions` puts the session on it — one evidence row (kind
``detection``, rule :data:`RULE`, level high) per such exec, when

* the call is a ``pods/exec`` or ``pods/attach`` whose shell the capture saw, sent by no process
  of the capture;
* its user is a service account outside the control plane (``system:serviceaccount:…``, not
  ``kube-system``'s), its source address outside the cluster (no pod's, no node's);
* the same user from the same address, before the exec, probed its rights, was refused, or
  granted rights (created or changed a service account, a token, a role or a role binding).

Its ATT&CK techniques: T1078 (valid accounts), T1609 (container administration command), and
T1098 (account manipulation) when the session granted rights, T1552.007 (container API
credentials) when it read Secrets.  The detection speaks for what the shell's line then does
(its connection out is the session's act, not an engineer's outbound check), and the session's
audit trail is in its text.

>>> S = 1_000_000_000
>>> sa = "system:serviceaccount:shop:deployer"
>>> calls = pl.DataFrame({"user": [sa] * 3, "src_ip": ["203.0.113.250"] * 3,
...     "verb": ["create", "create", "create"], "resource": ["selfsubjectrulesreviews", "rolebindings", "pods"],
...     "subresource": [None, None, "exec"], "namespace": [None, "shop", "shop"], "name": [None, None, "db-0"],
...     "code": [201, 201, 101], "time_ns": [0, S, 2 * S], "exec_id": [None] * 3,
...     "linked_exec_id": [None, None, "sh"], "event_id": ["a", "b", "c"]},
...     schema_overrides={"subresource": pl.String, "exec_id": pl.String})
>>> exec_sessions(calls).select("exec_id", "kind", "techniques").rows()
[('sh', 'detection', ['T1078', 'T1609', 'T1098'])]
"""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import _evidence as E
from kernelsec_nb.findings._api_session import PROBES
from kernelsec_nb.findings._fresh import CONTROL_PLANE

#: Rule id of the evidence.
RULE = "engine:api_exec_session"
#: Resources whose write grants rights: a new identity, its token, a role or its binding.
GRANTS = ("serviceaccounts", "roles", "rolebindings", "clusterroles", "clusterrolebindings")
#: Verbs that create or change an object.
WRITES = ("create", "patch", "update")
#: The user names of workloads' credentials.
SERVICE_ACCOUNT = "system:serviceaccount:"


def _col(frame: pl.DataFrame, name: str, dtype: pl.DataType | type[pl.DataType] = pl.String) -> pl.Expr:
    return pl.col(name) if name in frame.columns else pl.lit(None, dtype).alias(name)


def _session_calls(calls: pl.DataFrame) -> pl.DataFrame:
    """Per call: ``user``, ``_ip``, ``time_ns`` and whether it probed, was refused, granted, read Secrets."""
    code = _col(calls, "code", pl.Int64).fill_null(200)
    ok = code < 400
    return calls.select(
        "user", _col(calls, "src_ip").cast(pl.String).alias("_ip"), pl.col("time_ns").cast(pl.Int64).alias("_t"),
        pl.col("resource").is_in(list(PROBES)).fill_null(False).alias("_probe"),
        (code == 403).alias("_denied"),
        (pl.col("verb").is_in(list(WRITES)) & pl.col("resource").is_in(list(GRANTS)) & ok).fill_null(False)
        .alias("_grant"),
        (pl.col("verb").is_in(["get", "list", "watch"]) & (pl.col("resource") == "secrets")
         & _col(calls, "subresource").is_null() & ok).fill_null(False).alias("_secrets"),
        pl.when(_col(calls, "subresource").is_not_null())
        .then(pl.concat_str([pl.col("resource"), pl.lit("/"), _col(calls, "subresource")]))
        .otherwise(pl.col("resource")).alias("_what"))


def exec_sessions(calls: pl.DataFrame | None, weight: float = 3.0) -> pl.DataFrame:
    """Evidence on the shell of each exec into a pod by a service account's session from outside
    the cluster that probed, was refused or granted rights before it (see the module)."""
    if calls is None or calls.height == 0 or not {"verb", "resource", "user", "time_ns"} <= set(calls.columns) \
            or "linked_exec_id" not in calls.columns:
        return E.empty_evidence()
    execs = calls.filter(
        (pl.col("resource") == "pods") & _col(calls, "subresource").is_in(["exec", "attach"])
        & pl.col("linked_exec_id").is_not_null() & _col(calls, "exec_id").is_null()
        & pl.col("user").fill_null("").str.starts_with(SERVICE_ACCOUNT)
        & ~pl.col("user").fill_null("").str.contains(CONTROL_PLANE))
    if execs.height == 0:
        return E.empty_evidence()
    execs = execs.select("user", _col(execs, "src_ip").cast(pl.String).alias("_ip"),
                         pl.col("time_ns").cast(pl.Int64), "linked_exec_id", _col(execs, "event_id"),
                         pl.col("namespace").cast(pl.String), _col(execs, "name"))
    execs = execs.filter(pl.col("_ip").map_elements(lambda ip: not E.is_internal(ip), return_dtype=pl.Boolean)
                         .fill_null(False))
    if execs.height == 0:
        return E.empty_evidence()
    session = _session_calls(calls.filter(pl.col("user").is_in(execs["user"].unique().implode())))
    before = execs.join(session, on=["user", "_ip"], how="inner").filter(pl.col("_t") < pl.col("time_ns"))
    grants = pl.col("_what").filter(pl.col("_grant")).unique(maintain_order=True).str.join(", ")
    told = before.group_by("event_id", maintain_order=True).agg(
        pl.col("_probe").sum().alias("_probes"), pl.col("_denied").sum().alias("_refused"),
        pl.col("_grant").sum().alias("_grants"), pl.col("_secrets").sum().alias("_read"), grants.alias("_granted"))
    hit = execs.join(told, on="event_id", how="inner").filter(
        (pl.col("_probes") + pl.col("_refused") + pl.col("_grants")) > 0)
    if hit.height == 0:
        return E.empty_evidence()
    text = pl.format(
        "exec'd into {}/{} through the Kubernetes API by {} from {}, outside the cluster (audit log), a sender that "
        "before it probed its rights {} times, was refused {} times, read Secrets {} times and granted rights {} "
        "times{}", pl.col("namespace").fill_null(""), pl.col("name").fill_null("?"), "user", "_ip", "_probes",
        "_refused", "_read", "_grants",
        pl.when(pl.col("_grants") > 0).then(pl.lit(" (") + pl.col("_granted") + pl.lit(")")).otherwise(pl.lit("")))
    techniques = pl.concat_list(
        pl.lit("T1078"), pl.lit("T1609"),
        pl.when(pl.col("_grants") > 0).then(pl.lit(["T1098"])).otherwise(pl.lit([], dtype=pl.List(pl.String))),
        pl.when(pl.col("_read") > 0).then(pl.lit(["T1552.007"])).otherwise(pl.lit([], dtype=pl.List(pl.String))))
    return E._rows(hit.select(
        pl.col("linked_exec_id").alias("exec_id"), pl.lit(E.DETECTION).alias("kind"), pl.lit(weight).alias("weight"),
        text.alias("text"), "event_id", pl.lit(RULE).alias("rule_id"), techniques.alias("techniques")))


__all__ = ["GRANTS", "RULE", "SERVICE_ACCOUNT", "exec_sessions"]
