"""Workloads that are new in the capture: their repetition is no evidence of routine.

A command that runs in every replica of a workload, or on its schedule, is the workload's
routine only when the workload (its pod template) ran before the capture's evidence of change:
a compromised image does the same thing in both replicas of its new ReplicaSet, and an
intruder's CronJob runs on the intruder's schedule.  :func:`fresh_workloads` names the
workloads first seen in the capture:

* **created through the API during the capture** (audit log): a ``create`` of a CronJob, Job,
  Deployment, DaemonSet, StatefulSet or ReplicaSet sent by anyone but the control plane (the
  controller-manager's controllers, a node) — each pod its controllers made from it later
  (named as the controllers name them, :func:`~._api_acts.named_after`) is of a fresh workload;
* **started in the capture**: a workload none of whose processes was running when the capture
  began, each of whose pods' containers started in it (a main process the capture saw
  start, from a process of the node's host it has: the runtime) and each of whose pods is named
  as a long-running controller names its pods (:data:`SERVICE_POD`: a ReplicaSet's
  ``<workload>-<hash>-<5 chars>``, a DaemonSet's ``<workload>-<5 chars>``, a StatefulSet's
  ``<workload>-<n>``) — pods made by anything else (a Spark driver's executors, a CI runner's
  or a workflow engine's pods, a bare pod) are new by design, as a Job's are; and except a Job's pods (a CronJob's runs are new pods by design: only the audit log's
  ``create`` of the CronJob says it is new; a run's pod has a ``job-name`` label, or is named
  as the CronJob controller names it, :data:`CRON_RUN`).

The routine rules then give such a workload's processes only
:attr:`~.routine.RoutineSettings.fresh_factor` of their weight (``routine(..., fresh=...)``):
below the engine's cut, they stay links of their parts and their evidence keeps most of its
weight.

>>> import polars as pl
>>> procs = pl.DataFrame({"exec_id": ["h", "a", "b", "c"], "parent_exec_id": [None, "h", "h", "h"],
...     "namespace": [None, "n", "n", "n"], "pod": [None, "new-7d9f8c6b5-qx2lz", "new-7d9f8c6b5-kt8wm", "old-5f-x"],
...     "workload": [None, "new", "new", "old"], "in_init_tree": [False, True, True, True],
...     "seen_as": ["event", "exec", "exec", "event"], "start_ns": [0, 5, 6, 0],
...     "binary": ["/usr/bin/containerd-shim-runc-v2", "/app", "/app", "/app"]})
>>> fresh_workloads(procs).rows()
[('n', 'new', 'its pods all started in the capture')]
"""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._api_acts import CONTROLLERS, named_after, pod_suffix
from kernelsec_nb.findings.routine import JOB_LABELS, _label_keys

#: What the CronJob controller appends to a CronJob's name for a run's pod: the scheduled minute
#: (minutes since the epoch), then the Job controller's 5 characters.
CRON_RUN = r"^\d{6,}-[a-z0-9]{5}$"
COLUMNS = {"namespace": pl.String, "workload": pl.String, "fresh": pl.String}
#: How a long-running controller names its pods after the workload: ReplicaSet (template hash,
#: then 5 characters), DaemonSet (5 characters), StatefulSet (ordinal) — the controllers' pattern
#: (:func:`~._api_acts.pod_suffix`) with a hash of any length: the pod's own workload is known
#: (a CronJob's run, ``<minute>-<5>``, which it also matches, is told apart by :data:`CRON_RUN`).
SERVICE_POD = pod_suffix(hash_min=1)
#: Senders that are the control plane itself: the controllers make objects from others' objects.
CONTROL_PLANE = r"^(system:serviceaccount:kube-system:|system:kube-controller-manager$|system:node:|system:kube-scheduler$)"


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=COLUMNS)


def _col(frame: pl.DataFrame, name: str, dtype: pl.DataType | type[pl.DataType] = pl.String) -> pl.Expr:
    return pl.col(name) if name in frame.columns else pl.lit(None, dtype).alias(name)


def created_workloads(procs: pl.DataFrame, api: pl.DataFrame | None) -> pl.DataFrame:
    """Workloads whose controller object a ``create`` through the API made during the capture
    (not the control plane's own): ``namespace``, ``workload``, ``fresh`` (why).

    >>> api = pl.DataFrame({"verb": ["create", "create"], "resource": ["cronjobs", "jobs"],
    ...     "namespace": ["shop"] * 2, "name": ["lc", "lc-2890"], "time_ns": [0, 5],
    ...     "user": ["system:serviceaccount:ci:deployer", "system:serviceaccount:kube-system:cronjob-controller"],
    ...     "code": [201, 201]})
    >>> procs = pl.DataFrame({"exec_id": ["m"], "namespace": ["shop"], "pod": ["lc-2890-ab1cd"],
    ...     "workload": ["lc"], "start_ns": [9]})
    >>> created_workloads(procs, api).rows()
    [('shop', 'lc', 'created through the API in the capture (create cronjobs shop/lc by system:serviceaccount:ci:deployer)')]
    >>> created_workloads(procs, api.tail(1)).height
    0
    """
    if api is None or api.height == 0 or procs.height == 0 or not {"verb", "resource", "namespace"} <= set(api.columns):
        return _empty()
    c = api.filter((pl.col("verb") == "create") & pl.col("resource").is_in(list(CONTROLLERS))
                   & _col(api, "subresource").is_null() & (_col(api, "code", pl.Int64).fill_null(200) < 400)
                   & ~_col(api, "user").fill_null("").str.contains(CONTROL_PLANE))
    c = c.select(pl.col("namespace").cast(pl.String), pl.col("time_ns").cast(pl.Int64), "resource",
                 pl.coalesce(_col(c, "created_name"), _col(c, "name")).alias("owner"),
                 _col(c, "user")).filter(pl.col("owner").is_not_null())
    if c.height == 0:
        return _empty()
    pods = (procs.filter(pl.col("pod").is_not_null() & pl.col("workload").is_not_null())
            .group_by("namespace", "pod").agg(pl.col("start_ns").min(), pl.first("workload"))
            .with_columns(pl.col("namespace").cast(pl.String)))
    hit = c.join(pods, on="namespace").filter(
        named_after(pl.col("owner"))
        & (pl.col("start_ns") >= pl.col("time_ns")))
    return hit.sort("time_ns").unique(["namespace", "workload"], keep="first", maintain_order=True).select(
        "namespace", "workload",
        pl.format("created through the API in the capture (create {} {}/{} by {})", "resource", "namespace",
                  "owner", pl.col("user").fill_null("?")).alias("fresh")).cast(COLUMNS)  # type: ignore[arg-type]


def started_workloads(procs: pl.DataFrame) -> pl.DataFrame:
    """Workloads (not a Job's) none of whose processes ran before the capture and each of whose
    pods' containers started in it: ``namespace``, ``workload``, ``fresh``."""
    need = {"exec_id", "parent_exec_id", "pod", "workload", "in_init_tree", "seen_as", "binary"}
    if procs.height == 0 or not need <= set(procs.columns):
        return _empty()
    p = procs.filter(pl.col("pod").is_not_null() & pl.col("workload").is_not_null())
    if "namespace" not in p.columns:
        p = p.with_columns(pl.lit(None, pl.String).alias("namespace"))
    # (a parent the capture only knows by its id — a reference, no binary — is no known process)
    known = pl.col("binary").is_not_null() if "binary" in procs.columns else pl.lit(True)
    par = procs.select(pl.col("exec_id").alias("parent_exec_id"), pl.col("pod").alias("_ppod"),
                       known.alias("_pseen")).unique("parent_exec_id")
    p = p.join(par, on="parent_exec_id", how="left")
    # a container's start the capture saw: its main process, started by a process of the node's
    # host the capture has (the runtime); one whose parent it never saw may have run for days
    main = pl.col("in_init_tree").fill_null(False) & pl.col("_pseen").fill_null(False) & pl.col("_ppod").is_null()
    job = pl.lit(False)
    if "pod_labels" in p.columns and isinstance(p.schema["pod_labels"], pl.List | pl.Map):
        job = _label_keys(pl.col("pod_labels"), p.schema["pod_labels"]).list.eval(
            pl.element().is_in(list(JOB_LABELS))).list.any().fill_null(False)
    # a CronJob's run is named ``<cronjob>-<scheduled minute>-<5 chars>`` (labels or not)
    job = job | named_after(pl.col("workload"), CRON_RUN)
    service = named_after(pl.col("workload"), SERVICE_POD)
    per_pod = p.group_by("namespace", "workload", "pod").agg(
        (pl.col("seen_as").fill_null("exec") != "exec").any().alias("_before"),
        (main & (pl.col("seen_as").fill_null("exec") == "exec")).any().alias("_started"),
        job.any().alias("_job"), service.all().alias("_service"))
    wl = per_pod.group_by("namespace", "workload").agg(
        pl.col("_before").any(), pl.col("_started").all(), pl.col("_job").any(), pl.col("_service").all())
    return wl.filter(~pl.col("_before") & pl.col("_started") & ~pl.col("_job") & pl.col("_service")).sort("namespace", "workload").select(
        pl.col("namespace").cast(pl.String), "workload",
        pl.lit("its pods all started in the capture").alias("fresh")).cast(COLUMNS)  # type: ignore[arg-type]


def fresh_workloads(procs: pl.DataFrame, api: pl.DataFrame | None = None) -> pl.DataFrame:
    """The workloads new in the capture (see the module): ``namespace``, ``workload``, ``fresh``."""
    return pl.concat([created_workloads(procs, api), started_workloads(procs)]).unique(
        ["namespace", "workload"], keep="first", maintain_order=True)


__all__ = ["CONTROL_PLANE", "SERVICE_POD", "created_workloads", "fresh_workloads", "started_workloads"]
