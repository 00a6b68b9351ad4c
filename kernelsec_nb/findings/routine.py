"""What is routine for each workload, learned from the capture itself (no program-name lists).

Rules, each a function of plain polars frames returning one row per process it applies to
(``exec_id``, ``weight`` in [0, 1], ``reason``):

* :func:`replicas` — the same command (binary, argument *shape*: numbers and hex ids masked,
  parent binary, inside or outside the container's init tree) runs in most pods of its workload
  ("runs in all 3 replicas");
* :func:`schedule` — it repeats at regular intervals, in one pod or across the workload's pods
  (a probe, a cron job, a sidecar's loop: at least ``min_runs`` runs whose intervals vary little,
  spread over a good part of the time the pod or workload was seen) ("runs every 30 s");
* :func:`two_runs` — it ran exactly twice, so far apart that a schedule of that period would
  have started no other run in the capture (more when the two started on the same second of the
  minute, like cron);
* :func:`job_pods` — the own tree of a pod Kubernetes' Job controller made (a CronJob's run doing
  what its Job declares);
* :func:`startup` — the container's own init tree at its start (the entrypoint and what it runs
  in its first ``startup_window``), or a process already running when the capture began;
* :func:`destinations` — per workload, the destinations (pod workload or address, and port) it
  talks to across the capture's span ("talks to db:5432 all day", weighed per connection);
* :func:`detections_routine`, :func:`repeated_detections`, :func:`job_detections` — the rules
  that fire on a workload all through the capture, on one routine process again and again, or in
  most jobs of a service (a CI runner's every build): those hits weigh less.

:func:`routine` combines the process rules: the weight is the highest, reasons joined
(``"runs every 10 s in all 3 replicas"``).  A hit or a process that matches its workload's
routine weighs less in the engine by that weight.  Thresholds live in :class:`RoutineSettings`.

Examples
--------
>>> import polars as pl
>>> procs = pl.DataFrame({
...     "exec_id": [f"e{i}" for i in range(6)], "parent_exec_id": ["r"] * 6,
...     "workload": ["web"] * 6, "pod": ["web-a", "web-b"] * 3,
...     "binary": ["/bin/probe"] * 6, "args": ["--port 8080"] * 6,
...     "start_ns": [0, 1, 10_000_000_000, 10_000_000_001, 20_000_000_000, 20_000_000_001],
...     "in_init_tree": [True] * 6})
>>> routine(procs).row(0)
('e0', 0.9, 'runs every 10 s in both replicas')
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from kernelsec_nb.findings._init_tree import start_or_before

NS = 1_000_000_000
#: What an argument shape masks: hex ids (6+ hex digits with a digit in them), then numbers.
_HEX_ANY = r"(?i)\b[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*\b|\b[0-9a-f]*[a-f][0-9a-f]*[0-9][0-9a-f]*\b"


@dataclass(frozen=True)
class RoutineSettings:
    """Thresholds of the routine rules (one place, not inline)."""

    #: share of a workload's pods a command must run in (and at least 2 pods)
    replica_share: float = 0.75
    #: runs needed to call something scheduled
    min_runs: int = 3
    #: coefficient of variation (std / mean) of the intervals at most
    max_interval_cv: float = 0.35
    #: the runs must cover this share of the time the pod (or workload) was seen
    min_span_share: float = 0.5
    #: the init tree's startup: processes of the init tree this soon after the pod's first one
    startup_window_ns: int = 60 * NS
    #: a destination is the workload's routine when contacted in this share of the capture's windows
    destination_share: float = 0.5
    #: look-alike single pods (``findings._peers``, driven by different users): a command in this
    #: share of them and ``peer_min`` at least is the template's routine (an intruder's pod is one)
    peer_share: float = 0.5
    peer_min: int = 3
    #: the number of windows the capture's span is cut into for destinations
    destination_windows: int = 12
    #: two runs make a schedule when a third run one interval before the first or after the last
    #: would fall outside the capture (the capture saw every run the schedule made); their weight,
    #: and that of two runs on the same second of the minute (cron starts jobs on the minute)
    w_two_runs: float = 0.4
    w_two_runs_cron: float = 0.7
    #: the starts of two runs within this of a whole number of minutes apart are cron-like
    cron_slack_ns: int = 2 * NS
    #: a pod of a Job (its ``job-name`` label) runs its declared command: its own init tree's weight
    w_job: float = 0.6
    #: a service starting this many children of one binary runs jobs; a rule that fires in at least
    #: ``job_share`` of them (and two) is its jobs' routine
    min_jobs: int = 3
    job_share: float = 0.5
    #: how deep below a job its processes are followed
    job_depth: int = 8
    #: weights of the rules, and of two of them together
    w_replicas: float = 0.6
    w_schedule: float = 0.8
    w_both: float = 0.9
    w_startup: float = 0.5
    w_running: float = 0.5
    w_destination: float = 0.8
    #: the share of its weight a process of a workload new in the capture keeps (its pods all
    #: started in it, or an API call in it created it: ``findings._fresh``): repetition across
    #: replicas, or on a schedule, of a template nobody ran before is no evidence of routine
    fresh_factor: float = 0.4


DEFAULT = RoutineSettings()
RULE_COLUMNS = {"exec_id": pl.String, "weight": pl.Float64, "reason": pl.String}


def arg_shape(args: pl.Expr) -> pl.Expr:
    """``args`` with hex ids and numbers masked, so a command's runs compare equal.

    >>> pl.select(arg_shape(pl.lit("-name /tmp/x.3f9a1c7e --n 15 10.0.0.7"))).item()
    '-name /tmp/x.<hex> --n <n> <n>.<n>.<n>.<n>'
    """
    return (args.fill_null("").str.to_lowercase()
            .str.replace_all(_HEX_ANY, "<hex>").str.replace_all(r"\d+", "<n>"))


#: The workload name host processes (no pod) are grouped under; each node's host is one "replica".
HOST = "(host)"


def _places(procs: pl.DataFrame) -> pl.DataFrame:
    """``procs`` with host processes (no pod) placed in the pseudo-pod ``node:<node>`` of the
    workload :data:`HOST`, so that the rules see the nodes' hosts like a workload's pods."""
    if "workload" not in procs.columns:
        procs = procs.with_columns(pl.lit(None, pl.String).alias("workload"))
    if "node" not in procs.columns:
        return procs.with_columns(pl.coalesce("workload", "pod").alias("workload"))
    host = pl.col("pod").is_null() & pl.col("node").is_not_null()
    return procs.with_columns(
        pl.when(host).then(pl.lit("node:") + pl.col("node")).otherwise(pl.col("pod")).alias("pod"),
        pl.when(host).then(pl.lit(HOST)).otherwise(pl.coalesce("workload", "pod")).alias("workload"))


def _keyed(procs: pl.DataFrame) -> pl.DataFrame:
    """``procs`` with ``_key``: workload, binary, argument shape, parent binary, init tree."""
    procs = _places(procs)
    parent = procs.select(pl.col("exec_id").alias("parent_exec_id"), pl.col("binary").alias("_parent_binary"))
    has_parent = "parent_exec_id" in procs.columns
    out = procs.join(parent.unique("parent_exec_id"), on="parent_exec_id", how="left",
                     maintain_order="left") if has_parent else procs.with_columns(
        pl.lit(None, pl.String).alias("_parent_binary"))
    init = pl.col("in_init_tree").cast(pl.String) if "in_init_tree" in procs.columns else pl.lit("")
    return out.with_columns(pl.concat_str(
        [pl.col("workload").fill_null(pl.col("pod")).fill_null(""), pl.col("binary").fill_null(""),
         arg_shape(pl.col("args")), pl.col("_parent_binary").fill_null(""), init.fill_null("")],
        separator="\x1f").alias("_key"))


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=RULE_COLUMNS)


def replicas(procs: pl.DataFrame, s: RoutineSettings = DEFAULT) -> pl.DataFrame:
    """Processes whose command runs in most pods of their workload (at least two pods); a pod of a
    ``peer`` group (``findings._peers``) counts in it ("runs in 4 of 5 look-alike pods").

    >>> procs = pl.DataFrame({"exec_id": ["a", "b", "c"], "workload": ["w"] * 3, "pod": ["p1", "p2", "p3"],
    ...                       "binary": ["/x"] * 2 + ["/y"], "args": ["1", "2", ""], "start_ns": [0, 1, 2]})
    >>> replicas(procs)["exec_id"].to_list()
    []
    >>> replicas(procs, RoutineSettings(replica_share=0.6)).rows()
    [('a', 0.6, 'runs in 2 of 3 replicas'), ('b', 0.6, 'runs in 2 of 3 replicas')]
    """
    if procs.height == 0:
        return _empty()
    peer = "peer" in procs.columns
    if peer:
        procs = procs.with_columns(pl.coalesce("peer", "workload").alias("workload"))
    k = _keyed(procs).filter(pl.col("pod").is_not_null())
    pods = k.group_by("workload").agg(pl.col("pod").n_unique().alias("_pods"))
    seen = k.group_by("_key").agg(pl.col("pod").n_unique().alias("_in"), pl.first("workload"))
    k = k.drop("workload")
    is_peer = pl.col("workload").is_in(procs["peer"].drop_nulls().unique().implode()) if peer else pl.lit(False)
    good = seen.join(pods, on="workload", how="left").filter(
        pl.when(is_peer).then((pl.col("_in") >= s.peer_min) & (pl.col("_in") >= s.peer_share * pl.col("_pods")))
        .otherwise((pl.col("_in") >= 2) & (pl.col("_in") >= s.replica_share * pl.col("_pods"))))
    return k.join(good, on="_key", how="inner", maintain_order="left").select(
        "exec_id", pl.lit(s.w_replicas).alias("weight"),
        pl.when(pl.col("workload") == HOST).then(pl.format("runs on {} of {} nodes", "_in", "_pods"))
        .when(is_peer).then(pl.format("runs in {} of {} look-alike pods", "_in", "_pods"))
        .when((pl.col("_in") == pl.col("_pods")) & (pl.col("_pods") == 2)).then(pl.lit("runs in both replicas"))
        .when(pl.col("_in") == pl.col("_pods")).then(pl.format("runs in all {} replicas", "_pods"))
        .otherwise(pl.format("runs in {} of {} replicas", "_in", "_pods")).alias("reason"),
    ).cast(RULE_COLUMNS)  # type: ignore[arg-type]


def human_interval(ns: float) -> str:
    """``ns`` as a short duration: ``"10 s"``, ``"5 min"``, ``"2 h"``.

    >>> human_interval(9.6e9), human_interval(300e9), human_interval(7200e9)
    ('10 s', '5 min', '2 h')
    """
    sec = ns / NS
    if sec < 90:
        return f"{sec:.0f} s"
    if sec < 5400:
        return f"{sec / 60:.0f} min"
    return f"{sec / 3600:.0f} h"


def _regular(k: pl.DataFrame, by: list[str], span: pl.DataFrame, s: RoutineSettings) -> pl.DataFrame:
    """Groups ``by`` whose start times repeat at regular intervals: ``by`` + ``_every``."""
    runs = (k.sort("start_ns").group_by(by, maintain_order=True)
            .agg(pl.col("start_ns").diff().drop_nulls().alias("_d"), pl.len().alias("_n"),
                 (pl.col("start_ns").max() - pl.col("start_ns").min()).alias("_covered"))
            .filter(pl.col("_n") >= s.min_runs)
            .with_columns(pl.col("_d").list.mean().alias("_every"),
                          pl.col("_d").list.std(ddof=0).alias("_sd")))
    on = [c for c in span.columns if c != "_seen"]
    return runs.join(span, on=on, how="left").filter(
        (pl.col("_every") > 0) & (pl.col("_sd") <= s.max_interval_cv * pl.col("_every"))
        & (pl.col("_covered") >= s.min_span_share * pl.col("_seen"))).select(*by, "_every")


def schedule(procs: pl.DataFrame, s: RoutineSettings = DEFAULT, across_pods: bool = True) -> pl.DataFrame:
    """Processes whose command repeats at regular intervals, in its pod or across its workload's
    pods (a CronJob's pods run once each), over at least ``min_span_share`` of the time that pod
    or workload was seen in the capture.  Only starts the capture saw count (``seen_as``
    ``exec`` when the column is there).  ``across_pods=False``: in its pod only.

    >>> t = [0, 30, 61, 90, 150]
    >>> procs = pl.DataFrame({"exec_id": list("abcde"), "workload": ["w"] * 5, "pod": ["p"] * 5,
    ...                       "binary": ["/x"] * 4 + ["/y"], "args": [""] * 5,
    ...                       "start_ns": [x * 1_000_000_000 for x in t]})
    >>> schedule(procs).rows()
    [('a', 0.8, 'runs every 30 s'), ('b', 0.8, 'runs every 30 s'), ('c', 0.8, 'runs every 30 s'), ('d', 0.8, 'runs every 30 s')]
    """
    k = _keyed(procs.filter(pl.col("start_ns").is_not_null()))
    if "seen_as" in k.columns:  # starts the capture saw: a process started before it has no interval
        k = k.filter(pl.col("seen_as") == "exec")
    if k.height == 0:
        return _empty()
    k = k.with_columns(pl.col("workload").fill_null(pl.col("pod")))
    pod_span = k.group_by("pod").agg((pl.col("start_ns").max() - pl.col("start_ns").min()).alias("_seen"))
    wl_span = k.group_by("workload").agg((pl.col("start_ns").max() - pl.col("start_ns").min()).alias("_seen"))
    per_pod = _regular(k, ["_key", "pod"], pod_span, s)
    per_wl = _regular(k, ["_key"], wl_span.join(k.select("_key", "workload").unique(), on="workload")
                      .select("_key", "_seen"), s)
    hit = pl.concat([
        k.join(per_pod, on=["_key", "pod"], how="inner").select("exec_id", "_every"),
        k.join(per_wl, on="_key", how="inner").select("exec_id", "_every").filter(pl.lit(across_pods))])
    hit = hit.unique("exec_id", keep="first", maintain_order=True)
    return hit.select("exec_id", pl.lit(s.w_schedule).alias("weight"),
                      pl.col("_every").map_elements(lambda x: f"runs every {human_interval(x)}",
                                                    return_dtype=pl.String).alias("reason")
                      ).cast(RULE_COLUMNS)  # type: ignore[arg-type]


def two_runs(procs: pl.DataFrame, s: RoutineSettings = DEFAULT) -> pl.DataFrame:
    """Processes whose command ran exactly twice, in one pod by the same process (a cron daemon, a
    backup loop) or once in each of two pods of its workload (a CronJob's), so far apart that a
    schedule of that period would have started no other run in the capture: one interval before
    the first run and one after the second both fall outside the capture's span (its first to last
    process start).  Two runs say less than three: they weigh ``w_two_runs``, or
    ``w_two_runs_cron`` when they started a whole number of minutes apart (within
    ``cron_slack``: cron starts a job on the minute) — the evidence for a schedule, weighed.

    >>> h, m = 3_600_000_000_000, 60_000_000_000
    >>> procs = pl.DataFrame({"exec_id": ["d", "r1", "r2", "x", "e"], "parent_exec_id": ["", "d", "d", "d", ""],
    ...     "workload": ["w"] * 5, "pod": ["p"] * 5, "binary": ["/loop", "/tmp/bk", "/tmp/bk", "/x", "/sh"],
    ...     "args": [""] * 5, "start_ns": [0, 20 * m + 5, h + 20 * m + 5, 90 * m, 130 * m]})
    >>> two_runs(procs).rows()
    [('r1', 0.7, 'runs every 60 min (2 runs: all a schedule would start in the capture; on the minute, like cron)'), ('r2', 0.7, 'runs every 60 min (2 runs: all a schedule would start in the capture; on the minute, like cron)')]
    """
    k = _keyed(procs.filter(pl.col("start_ns").is_not_null()))
    if "seen_as" in k.columns:
        k = k.filter(pl.col("seen_as") == "exec")
    if k.height < 2:
        return _empty()
    lo, hi = k["start_ns"].min(), k["start_ns"].max()
    if "parent_exec_id" not in k.columns:
        k = k.with_columns(pl.lit(None, pl.String).alias("parent_exec_id"))
    parts = []
    for by, same_parent in ((["_key", "pod"], True), (["_key"], False)):
        g = k.group_by(by).agg(pl.len().alias("_n"), pl.col("start_ns").min().alias("_t1"),
                               pl.col("start_ns").max().alias("_t2"), pl.col("pod").n_unique().alias("_pods"),
                               pl.col("parent_exec_id").n_unique().alias("_parents"),
                               pl.col("parent_exec_id").null_count().alias("_orphans"))
        g = g.filter((pl.col("_n") == 2) & ((pl.col("_parents") == 1) & (pl.col("_orphans") == 0) if same_parent
                                            else pl.col("_pods") == 2))
        g = g.with_columns((pl.col("_t2") - pl.col("_t1")).alias("_every")).filter(
            (pl.col("_every") > 0) & (pl.col("_t1") - pl.col("_every") < lo) & (pl.col("_t2") + pl.col("_every") > hi))
        parts.append(k.join(g.select(*by, "_every"), on=by, how="inner").select("exec_id", "_every"))
    hit = pl.concat(parts).unique("exec_id", keep="first", maintain_order=True)
    if hit.height == 0:
        return _empty()
    minute = 60 * NS
    cron = (pl.col("_every") + s.cron_slack_ns) % minute <= 2 * s.cron_slack_ns
    return hit.sort("exec_id").select(
        "exec_id", pl.when(cron).then(pl.lit(s.w_two_runs_cron)).otherwise(pl.lit(s.w_two_runs)).alias("weight"),
        (pl.col("_every").map_elements(lambda x: f"runs every {human_interval(x)}", return_dtype=pl.String)
         + pl.lit(" (2 runs: all a schedule would start in the capture")
         + pl.when(cron).then(pl.lit("; on the minute, like cron)")).otherwise(pl.lit(")"))).alias("reason"),
    ).cast(RULE_COLUMNS)  # type: ignore[arg-type]


#: The labels Kubernetes' Job controller puts on the pods it makes (a CronJob's runs too).
JOB_LABELS = ("batch.kubernetes.io/job-name", "job-name")


def _label_keys(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The keys of a labels column (a map, or a list of key/value structs) as a list of strings."""
    if isinstance(dtype, pl.List):
        return col.list.eval(pl.element().struct.field("key"))
    return col.cast(pl.List(pl.Struct({"key": pl.String, "value": pl.String}))).list.eval(
        pl.element().struct.field("key"))


def job_pods(procs: pl.DataFrame, s: RoutineSettings = DEFAULT) -> pl.DataFrame:
    """The container's own tree (``in_init_tree``) in a pod Kubernetes' Job controller made (a
    :data:`JOB_LABELS` label: a Job's or a CronJob's run): it runs the command its Job declares,
    designed behaviour — a backup reading secrets and uploading them, a report dumping a
    database.  What is exec'd into such a pod is not.  (The engine takes the weight back from a
    pod a process that is not routine deployed through the Kubernetes API.)

    >>> labels = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))
    >>> procs = pl.DataFrame({"exec_id": ["a", "b", "c"], "pod": ["bk-1", "bk-1", "web"],
    ...     "in_init_tree": [True, False, True],
    ...     "pod_labels": pl.Series([[{"key": "job-name", "value": "bk"}]] * 2 + [[{"key": "app", "value": "web"}]],
    ...                             dtype=labels)})
    >>> job_pods(procs).rows()
    [('a', 0.6, "runs the command its Job declares (the pod's own tree)")]
    """
    if procs.height == 0 or not {"pod_labels", "in_init_tree", "pod"} <= set(procs.columns):
        return _empty()
    dtype = procs.schema["pod_labels"]
    if not isinstance(dtype, pl.List | pl.Map):  # the store's MAP(VARCHAR, VARCHAR), or key/value structs
        return _empty()
    keys = _label_keys(pl.col("pod_labels"), dtype)
    jobs = procs.filter(pl.col("pod").is_not_null() & pl.col("pod_labels").is_not_null()).select(
        "pod", keys.list.eval(pl.element().is_in(list(JOB_LABELS))).list.any().alias("_job"))
    pods = jobs.filter(pl.col("_job").fill_null(False))["pod"].unique()
    return procs.filter(pl.col("pod").is_in(pods.implode()) & pl.col("in_init_tree").fill_null(False)).select(
        "exec_id", pl.lit(s.w_job).alias("weight"),
        pl.lit("runs the command its Job declares (the pod's own tree)").alias("reason")).cast(RULE_COLUMNS)  # type: ignore[arg-type]


def job_detections(procs: pl.DataFrame, hits: pl.DataFrame, s: RoutineSettings = DEFAULT) -> pl.DataFrame:
    """The rules a service's jobs trip as a matter of course: ``exec_id``, ``rule_id``, ``weight``,
    ``reason`` (the hits to weigh less).  A process of a pod's own tree that started at least
    ``min_jobs`` children of one binary runs *jobs* (a CI runner's builds, a cron daemon's tasks,
    a notebook's cells); a job is such a child with everything below it.  A rule that fires in at
    least two of a service's jobs and in ``job_share`` of them is what its jobs do (a build runs the
    test binary it just compiled from ``/tmp``): on any of its jobs — a one-off release step like
    its test runs — it weighs less.  Rules that fire in one job only (what is new in it) keep their
    weight.

    >>> procs = pl.DataFrame({"exec_id": ["ci", "j1", "t1", "j2", "t2", "j3", "t3"],
    ...     "parent_exec_id": [None, "ci", "j1", "ci", "j2", "ci", "j3"], "pod": ["p"] * 7,
    ...     "binary": ["/runner", "/bin/sh", "/tmp/a.test", "/bin/sh", "/tmp/b.test", "/bin/sh", "/tmp/x"],
    ...     "in_init_tree": [True] * 7})
    >>> hits = pl.DataFrame({"exec_id": ["t1", "t2", "t3", "t3"], "rule_id": ["tmp", "tmp", "tmp", "new"]})
    >>> job_detections(procs, hits).select("exec_id", "rule_id", "reason").rows()
    [('t1', 'tmp', 'fires in 3 of 3 jobs of /runner'), ('t2', 'tmp', 'fires in 3 of 3 jobs of /runner'), ('t3', 'tmp', 'fires in 3 of 3 jobs of /runner')]
    """
    cols = {"exec_id": pl.String, "rule_id": pl.String, "weight": pl.Float64, "reason": pl.String}
    need = {"exec_id", "parent_exec_id", "pod", "binary", "in_init_tree"}
    h = hits.filter(pl.col("exec_id").is_not_null() & pl.col("rule_id").is_not_null())
    if procs.height == 0 or h.height == 0 or not need <= set(procs.columns):
        return pl.DataFrame(schema=cols)
    p = procs.select(*need).unique("exec_id")
    par = p.filter(pl.col("in_init_tree").fill_null(False)).select(
        pl.col("exec_id").alias("parent_exec_id"), pl.col("pod").alias("_ppod"), pl.col("binary").alias("_sbin"))
    kids = p.join(par, on="parent_exec_id", how="inner").filter(pl.col("_ppod").eq_missing(pl.col("pod")))
    kids = kids.with_columns(pl.len().over("parent_exec_id", "binary").alias("_siblings"))
    jobs = kids.filter(pl.col("_siblings") >= s.min_jobs).select(
        "exec_id", pl.col("exec_id").alias("_job"), pl.col("parent_exec_id").alias("_service"), "_sbin", "_siblings")
    if jobs.height == 0:
        return pl.DataFrame(schema=cols)
    # every process below a job belongs to it (followed ``job_depth`` levels down)
    member = jobs.select("exec_id", "_job", "_service", "_sbin", "_siblings")
    frontier = member
    for _ in range(s.job_depth):
        nxt = p.select("exec_id", "parent_exec_id").join(
            frontier.rename({"exec_id": "parent_exec_id"}), on="parent_exec_id", how="inner").drop("parent_exec_id")
        nxt = nxt.join(member.select("exec_id"), on="exec_id", how="anti")
        if nxt.height == 0:
            break
        member = pl.concat([member, nxt.select(member.columns)])
        frontier = nxt
    fired = h.select("exec_id", "rule_id").unique().join(member, on="exec_id", how="inner")
    per = fired.group_by("_service", "rule_id").agg(pl.col("_job").n_unique().alias("_in"), pl.first("_sbin"),
                                                    pl.first("_siblings"))
    # a service's jobs of every binary count, not only the most frequent one's
    njobs = jobs.group_by("_service").agg(pl.len().alias("_jobs"))
    good = per.join(njobs, on="_service").filter((pl.col("_in") >= 2) & (pl.col("_in") >= s.job_share * pl.col("_jobs")))
    return fired.join(good.select("_service", "rule_id", "_in", "_jobs"), on=["_service", "rule_id"], how="inner").sort(
        "exec_id", "rule_id").select(
        "exec_id", "rule_id", pl.lit(s.w_destination).alias("weight"),
        pl.format("fires in {} of {} jobs of {}", "_in", "_jobs", "_sbin").alias("reason")).unique(
        ["exec_id", "rule_id"], keep="first", maintain_order=True).cast(cols)  # type: ignore[arg-type]


def startup(procs: pl.DataFrame, s: RoutineSettings = DEFAULT) -> pl.DataFrame:
    """The init tree's startup (processes of the container's own tree started within
    ``startup_window`` of the pod's first process, in a workload of two pods or more) and
    processes already running when the capture began (``seen_as`` other than ``exec``: the
    containers' main processes, and the node's own daemons outside any pod).

    >>> procs = pl.DataFrame({"exec_id": ["a", "b", "c", "d"], "pod": ["p", "p", "p", "q"], "workload": ["w"] * 4,
    ...                       "binary": ["/e", "/s", "/x", "/e"],
    ...                       "start_ns": [0, 5_000_000_000, 3_600_000_000_000, 0], "in_init_tree": [True] * 4,
    ...                       "seen_as": ["exec"] * 4})
    >>> startup(procs)["exec_id"].to_list()
    ['a', 'b', 'd']
    >>> startup(procs.filter(pl.col("pod") == "p"))["exec_id"].to_list()
    []
    """
    if procs.height == 0 or "in_init_tree" not in procs.columns:
        return _empty()
    procs = _places(procs)
    # a process running before the capture whose start the source does not write (Inspektor Gadget) came first
    first = procs.group_by("pod").agg(start_or_before(procs.columns).min().alias("_first"))
    pods = procs.group_by("workload").agg(pl.col("pod").n_unique().alias("_pods"))
    k = procs.join(first, on="pod", how="left", maintain_order="left").join(pods, on="workload", how="left")
    # a lone pod's start is not routine: nothing else started that way (a pod made by hand)
    early = k.filter(pl.col("in_init_tree").fill_null(False) & (pl.col("_pods") >= 2)
                     & (pl.col("start_ns") - pl.col("_first") <= s.startup_window_ns)).select(
        "exec_id", pl.lit(s.w_startup).alias("weight"),
        pl.lit("the container's own start (init tree)").alias("reason"))
    parts = [early]
    if "seen_as" in procs.columns:
        parts.append(procs.filter(pl.col("seen_as").is_in(["event", "parent", "reference"])
                                  & pl.col("in_init_tree").fill_null(False)).select(
            "exec_id", pl.lit(s.w_running).alias("weight"),
            pl.lit("already running in the container when the capture began").alias("reason")))
        # the node's own daemons (cron, the kubelet): host processes running before the capture
        if "pod" in procs.columns:
            parts.append(procs.filter(pl.col("seen_as").is_in(["event", "parent", "reference"])
                                      & (pl.col("pod").is_null() | (pl.col("workload") == HOST))).select(
                "exec_id", pl.lit(s.w_running).alias("weight"),
                pl.lit("already running on the node's host when the capture began").alias("reason")))
    return pl.concat(parts).unique("exec_id", keep="first", maintain_order=True).cast(RULE_COLUMNS)  # type: ignore[arg-type]


def detections_routine(hits: pl.DataFrame, s: RoutineSettings = DEFAULT) -> pl.DataFrame:
    """Per workload, the rules that fire on it all through the capture (a CI runner's every build
    starts a shell from a service): ``workload``, ``rule_id``, ``weight``, ``reason``.  The
    capture's span is cut into ``destination_windows`` windows; a rule that fired on at least
    ``min_runs`` processes of the workload, in at least ``destination_share`` of the capture's
    windows (those the detections span), is routine there.

    >>> h = 3_600_000_000_000
    >>> hits = pl.DataFrame({"workload": ["ci"] * 4 + ["web"], "rule_id": ["r"] * 5,
    ...                      "exec_id": ["a", "b", "c", "d", "e"], "time_ns": [0, h, 2 * h, 3 * h, 3 * h]})
    >>> detections_routine(hits, RoutineSettings(destination_windows=4)).rows()
    [('ci', 'r', 0.8, 'fires on ci all through the capture (4 processes, 4 of 4 windows)')]
    """
    cols = {"workload": pl.String, "rule_id": pl.String, "weight": pl.Float64, "reason": pl.String}
    h = hits.filter(pl.col("workload").is_not_null() & pl.col("time_ns").is_not_null() & pl.col("rule_id").is_not_null())
    if h.height == 0:
        return pl.DataFrame(schema=cols)
    lo, hi = h["time_ns"].min(), h["time_ns"].max()
    width = max((int(hi) - int(lo)) // s.destination_windows + 1, 1)  # type: ignore[arg-type]
    h = h.with_columns(((pl.col("time_ns") - lo) // width).alias("_w"))
    n_windows = min(s.destination_windows, int(h["_w"].max()) + 1)  # type: ignore[arg-type]
    seen = h.group_by("workload", "rule_id").agg(pl.col("_w").n_unique().alias("_in"),
                                                 pl.col("exec_id").n_unique().alias("_procs"))
    good = seen.filter((pl.col("_procs") >= s.min_runs) & (pl.col("_in") >= 2)
                       & (pl.col("_in") >= s.destination_share * n_windows))
    return good.sort("workload", "rule_id").select(
        "workload", "rule_id", pl.lit(s.w_destination).alias("weight"),
        pl.format("fires on {} all through the capture ({} processes, {} of {} windows)", "workload", "_procs",
                  "_in", pl.lit(n_windows)).alias("reason")).cast(cols)  # type: ignore[arg-type]


def repeated_detections(hits: pl.DataFrame, usual: list[str] | pl.Series, s: RoutineSettings = DEFAULT) -> pl.DataFrame:
    """Per routine process (``usual``: a main process already running when the capture began, a
    scheduled job), the rules that fire on it again and again all through the capture (an
    application's own client polling the Kubernetes API): ``exec_id``, ``rule_id``, ``weight``,
    ``reason``.  The capture's span (that of all the detections) is cut into
    ``destination_windows`` windows; a rule whose hits on the process fall in at least
    ``min_runs`` of the windows and cover at least ``min_span_share`` of the span (a poll every
    40 min over three hours; not a burst, not one hit at each end) is that process's routine.
    Hits of other processes
    (an intruder's shell, an implant started during the capture) never count: an implant that
    beacons all day must not make its own detections routine.

    >>> h = 3_600_000_000_000
    >>> hits = pl.DataFrame({"exec_id": ["m"] * 4 + ["x"] * 4, "rule_id": ["api"] * 8,
    ...                      "time_ns": [0, h, 2 * h, 3 * h] * 2})  # x: not a routine process
    >>> repeated_detections(hits, ["m"], RoutineSettings(destination_windows=4)).rows()
    [('m', 'api', 0.8, 'fires on this process all through the capture (4 times, 4 of 4 windows)')]
    """
    cols = {"exec_id": pl.String, "rule_id": pl.String, "weight": pl.Float64, "reason": pl.String}
    h = hits.filter(pl.col("time_ns").is_not_null() & pl.col("rule_id").is_not_null())
    if h.height == 0:
        return pl.DataFrame(schema=cols)
    lo, hi = h["time_ns"].min(), h["time_ns"].max()
    width = max((int(hi) - int(lo)) // s.destination_windows + 1, 1)  # type: ignore[arg-type]
    n_windows = min(s.destination_windows, (int(hi) - int(lo)) // width + 1)  # type: ignore[arg-type]
    usual = pl.Series(list(usual), dtype=pl.String) if not isinstance(usual, pl.Series) else usual.cast(pl.String)
    h = h.filter(pl.col("exec_id").is_in(usual.implode())).with_columns(((pl.col("time_ns") - lo) // width).alias("_w"))
    seen = h.group_by("exec_id", "rule_id").agg(
        pl.col("_w").n_unique().alias("_in"), pl.col("time_ns").n_unique().alias("_n"),
        (pl.col("time_ns").max() - pl.col("time_ns").min()).alias("_covered"))
    good = seen.filter((pl.col("_in") >= max(s.min_runs, 2))
                       & (pl.col("_covered") >= s.min_span_share * (int(hi) - int(lo))))  # type: ignore[arg-type]
    return good.sort("exec_id", "rule_id").select(
        "exec_id", "rule_id", pl.lit(s.w_destination).alias("weight"),
        pl.format("fires on this process all through the capture ({} times, {} of {} windows)", "_n", "_in",
                  pl.lit(n_windows)).alias("reason")).cast(cols)  # type: ignore[arg-type]


def routine(procs: pl.DataFrame, s: RoutineSettings = DEFAULT, fresh: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per process, how routine it is for its workload: ``exec_id``, ``routine`` (0 to 1) and
    ``reason`` (``""`` for a process no rule matched).  Schedule and replicas together weigh
    ``w_both`` and read ``"runs every 10 s in all 3 replicas"``.  A process of a workload in
    ``fresh`` (``namespace``, ``workload``, ``fresh``: why it is new in the capture,
    :func:`~kernelsec_nb.findings._fresh.fresh_workloads`) keeps ``fresh_factor`` of that weight,
    the reason saying why.

    >>> procs = pl.DataFrame({"exec_id": ["a", "b"], "namespace": ["n"] * 2, "workload": ["w"] * 2,
    ...     "pod": ["w-1", "w-2"], "binary": ["/x"] * 2, "args": [""] * 2, "start_ns": [0, 0]})
    >>> routine(procs).row(0)
    ('a', 0.6, 'runs in both replicas')
    >>> routine(procs, fresh=pl.DataFrame({"namespace": ["n"], "workload": ["w"], "fresh": ["new"]})).row(0)
    ('a', 0.24, 'runs in both replicas, but its workload is new: new')
    """
    base = procs.select(pl.col("exec_id").cast(pl.String)).unique(maintain_order=True)
    if procs.height == 0:
        return base.with_columns(pl.lit(0.0).alias("routine"), pl.lit("").alias("reason"))
    sch = schedule(procs, s).rename({"weight": "_ws", "reason": "_rs"})
    rep = replicas(procs, s).rename({"weight": "_wr", "reason": "_rr"})
    st = pl.concat([job_pods(procs, s), two_runs(procs, s), startup(procs, s)]).sort(
        "weight", descending=True, maintain_order=True).unique("exec_id", keep="first", maintain_order=True).rename(
        {"weight": "_wi", "reason": "_ri"})
    out = base.join(sch, on="exec_id", how="left").join(rep, on="exec_id", how="left").join(
        st, on="exec_id", how="left")
    both = pl.col("_ws").is_not_null() & pl.col("_wr").is_not_null()
    weight = (pl.when(both).then(pl.lit(s.w_both))
              .otherwise(pl.max_horizontal(pl.col("_ws"), pl.col("_wr"), pl.col("_wi")))).fill_null(0.0)
    # the reason of the rule that gave the weight
    top = pl.max_horizontal(pl.col("_ws").fill_null(-1), pl.col("_wr").fill_null(-1), pl.col("_wi").fill_null(-1))
    reason = (pl.when(both).then(pl.col("_rs") + pl.lit(" ") + pl.col("_rr").str.replace(r"^runs ", ""))
              .when(pl.col("_ws").is_not_null() & (pl.col("_ws") >= top)).then(pl.col("_rs"))
              .when(pl.col("_wr").is_not_null() & (pl.col("_wr") >= top)).then(pl.col("_rr"))
              .otherwise(pl.col("_ri"))).fill_null("")
    out = out.select("exec_id", weight.alias("routine"), reason.alias("reason"))
    if fresh is None or fresh.height == 0 or "workload" not in procs.columns:
        return out
    ns = pl.col("namespace").cast(pl.String) if "namespace" in procs.columns else pl.lit(None, pl.String)
    new = procs.select(pl.col("exec_id").cast(pl.String), ns.alias("namespace"), pl.col("workload").cast(pl.String)) \
        .unique("exec_id").join(fresh.select(pl.col("namespace").cast(pl.String), pl.col("workload").cast(pl.String),
                                             pl.col("fresh").cast(pl.String)),
                                on=["namespace", "workload"], how="inner", nulls_equal=True).select("exec_id", "fresh")
    if new.height == 0:
        return out
    # a loop in one pod (a probe, a sidecar's poll) is that pod's own schedule, new workload or not
    own = schedule(procs.filter(pl.col("exec_id").is_in(new["exec_id"].implode())), s, across_pods=False)
    out = out.join(new, on="exec_id", how="left").join(own.select("exec_id", pl.col("weight").alias("_own"),
                                                                  pl.col("reason").alias("_rown")),
                                                       on="exec_id", how="left")
    hit = pl.col("fresh").is_not_null() & (pl.col("routine") > 0)
    scaled = pl.col("routine") * s.fresh_factor
    keep_own = hit & pl.col("_own").is_not_null() & (pl.col("_own") >= scaled)
    return out.select(
        "exec_id",
        pl.when(keep_own).then(pl.col("_own")).when(hit).then(scaled).otherwise(pl.col("routine")).alias("routine"),
        pl.when(keep_own).then(pl.col("_rown") + pl.lit(" in its pod"))
        .when(hit).then(pl.col("reason") + pl.lit(", but its workload is new: ") + pl.col("fresh"))
        .otherwise(pl.col("reason")).alias("reason"))


def destinations(flows: pl.DataFrame, s: RoutineSettings = DEFAULT) -> pl.DataFrame:
    """Per workload, the destinations it talks to across the capture's span: ``src_workload``,
    ``dst`` (the destination workload, else its address), ``dst_port``, ``weight``, ``reason``.

    The capture's span (first to last flow) is cut into ``destination_windows`` windows; a
    destination contacted in at least ``destination_share`` of the windows in which the workload
    sent anything is routine.  Replies are left out.

    >>> h = 3_600_000_000_000
    >>> flows = pl.DataFrame({"src_workload": ["web"] * 5, "dst_workload": ["db"] * 4 + [None],
    ...                       "dst_ip": ["10.0.0.2"] * 4 + ["6.6.6.6"], "dst_port": [5432] * 4 + [4444],
    ...                       "time_ns": [0, h, 2 * h, 3 * h, 3 * h]})
    >>> destinations(flows, RoutineSettings(destination_windows=4)).rows()
    [('web', 'db', 5432, 0.8, 'web talks to db:5432 all through the capture (4 of 4 windows)')]
    """
    cols = {"src_workload": pl.String, "dst": pl.String, "dst_port": pl.Int64, "weight": pl.Float64,
            "reason": pl.String}
    f = flows
    if "is_reply" in f.columns:
        f = f.filter(~pl.col("is_reply").fill_null(False))
    f = f.filter(pl.col("time_ns").is_not_null() & pl.col("src_workload").is_not_null())
    if f.height == 0:
        return pl.DataFrame(schema=cols)
    lo, hi = f["time_ns"].min(), f["time_ns"].max()
    width = max((int(hi) - int(lo)) // s.destination_windows + 1, 1)  # type: ignore[arg-type]
    dst = pl.coalesce(*(pl.col(c) for c in ("dst_workload", "dst_ip") if c in f.columns))
    f = f.with_columns(((pl.col("time_ns") - lo) // width).alias("_w"), dst.cast(pl.String).alias("dst"))
    active = f.group_by("src_workload").agg(pl.col("_w").n_unique().alias("_active"))
    seen = f.group_by("src_workload", "dst", "dst_port").agg(pl.col("_w").n_unique().alias("_in"))
    good = seen.join(active, on="src_workload").filter(
        (pl.col("_in") >= 2) & (pl.col("_in") >= s.destination_share * pl.col("_active")))
    return good.sort("src_workload", "dst", "dst_port").select(
        "src_workload", "dst", pl.col("dst_port").cast(pl.Int64), pl.lit(s.w_destination).alias("weight"),
        pl.format("{} talks to {}:{} all through the capture ({} of {} windows)",
                  "src_workload", "dst", "dst_port", "_in", "_active").alias("reason")).cast(cols)  # type: ignore[arg-type]


__all__ = ["DEFAULT", "JOB_LABELS", "RoutineSettings", "arg_shape", "destinations", "detections_routine",
           "human_interval", "job_detections", "job_pods", "repeated_detections", "replicas",
           "routine", "schedule", "startup", "two_runs"]
