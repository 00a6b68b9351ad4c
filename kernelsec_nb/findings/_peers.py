"""Look-alike single pods: workloads of one pod that are one workload for the routine model.

A JupyterHub or Kubeflow notebook server, a CI runner's build pod, a workflow engine's step:
a controller that is not one of Kubernetes' makes a *bare pod* per user or per run, each a
workload of its own — so neither "runs in all 3 replicas" nor a workload's routine rules
(:func:`~.routine.detections_routine`) can ever apply, although the pods are copies of one
template.  :func:`peer_groups` names such pods' group: pods in the same namespace, each the only
pod of its workload, with the same image, the same container name and the same label *keys*
(the values differ: a user's name, a run's id), at least ``min_pods`` of them.  The engine gives
the group's name as the ``peer`` column to :func:`~.routine.replicas` and to the per-workload
detections' routine: a command run in most of the look-alike pods, a rule that fires on them all
through the capture, is the template's routine.

Only those two rules read the group; a look-alike pod's start (:func:`~.routine.startup`) and its
schedules stay its own.  The risk, kept small: an intruder's own bare pod made to look like the
others (same image, container and label keys, in their namespace) has what it shares with most of
them weigh less (by :attr:`~.routine.RoutineSettings.w_replicas` at most) — what it alone does
keeps its weight, and a pod created through the API by a process that is not routine runs no
routine at all (the engine's ``_untaint``).

>>> import polars as pl
>>> procs = pl.DataFrame({"exec_id": ["a", "b", "c", "d"], "namespace": ["hub"] * 3 + ["web"],
...     "pod": ["nb-ann", "nb-bob", "nb-cy", "web-1"], "workload": ["nb-ann", "nb-bob", "nb-cy", "web-1"],
...     "image": ["lab:1"] * 3 + ["lab:1"], "container_name": ["notebook"] * 4})
>>> peer_groups(procs).sort("pod")["pod"].to_list()
['nb-ann', 'nb-bob', 'nb-cy']
"""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings.routine import _label_keys

#: How a look-alike group's name starts (it stands for a workload in the routine rules).
PEER = "(look-alike pods) "
COLUMNS = {"namespace": pl.String, "pod": pl.String, "peer": pl.String}


def peer_groups(procs: pl.DataFrame, min_pods: int = 3) -> pl.DataFrame:
    """The look-alike pods of ``procs`` (see the module): ``namespace``, ``pod``, ``peer`` (the
    group's name, :data:`PEER` then namespace, image, container and label keys)."""
    need = {"namespace", "pod", "workload", "image", "container_name"}
    if procs.height == 0 or not need <= set(procs.columns):
        return pl.DataFrame(schema=COLUMNS)
    p = procs.filter(pl.col("pod").is_not_null() & pl.col("workload").is_not_null())
    keys = pl.lit("")
    if "pod_labels" in p.columns and isinstance(p.schema["pod_labels"], pl.List | pl.Map):
        keys = _label_keys(pl.col("pod_labels"), p.schema["pod_labels"]).list.sort().list.join(",")
    per_pod = p.group_by(pl.col("namespace").cast(pl.String), pl.col("pod").cast(pl.String)).agg(
        pl.col("workload").drop_nulls().first(), pl.col("image").drop_nulls().first(),
        pl.col("container_name").drop_nulls().first(), keys.drop_nulls().first().alias("_keys"))
    # each the only pod of its workload
    per_pod = per_pod.filter(pl.len().over("namespace", "workload") == 1).filter(
        pl.col("image").is_not_null() & pl.col("container_name").is_not_null())
    peer = pl.concat_str([pl.lit(PEER), pl.col("namespace").fill_null(""), pl.lit(" "), pl.col("image"),
                          pl.lit(" "), pl.col("container_name"), pl.lit(" ["), pl.col("_keys").fill_null(""),
                          pl.lit("]")])
    out = per_pod.with_columns(peer.alias("peer"))
    return out.filter(pl.len().over("peer") >= min_pods).sort("namespace", "pod").select(
        "namespace", "pod", "peer").cast(COLUMNS)  # type: ignore[arg-type]


def with_peers(frame: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (with ``namespace`` and ``pod``) with the ``peer`` column of ``groups`` (null
    for a pod of no look-alike group)."""
    if not {"namespace", "pod"} <= set(frame.columns):
        return frame.with_columns(pl.lit(None, pl.String).alias("peer"))
    g = groups.select(pl.col("namespace").cast(pl.String).alias("_pns"), pl.col("pod").cast(pl.String).alias("_ppod"),
                      "peer")
    keyed = frame.with_columns(pl.col("namespace").cast(pl.String).alias("_pns"),
                               pl.col("pod").cast(pl.String).alias("_ppod"))
    return keyed.join(g, on=["_pns", "_ppod"], how="left", maintain_order="left").drop("_pns", "_ppod")


__all__ = ["PEER", "peer_groups", "with_peers"]
