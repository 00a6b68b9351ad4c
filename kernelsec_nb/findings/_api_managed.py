"""An operator's calls into the namespace it reconciles (:func:`managed_calls`).

A controller (a database operator, a message-queue operator, a storage operator) runs as a
long-lived main process that calls the Kubernetes API about the objects of the namespaces it
manages all day long (a ``get``/``patch`` of its custom resource every minute), and, now and
then, acts there through its service account: it ``exec``s a backup command into the database
pod it manages, it ``create``s a Job that verifies a restore.  Those acts are what the audit
rules flag ("exec or attach by a pod's service account", ATT&CK T1609; a Job created through
the API, T1610), and, sent by a process already running before the capture began, they read as
the routine process turned bad.

A call of a **routine** process (its routine at least the engine's cut: already running when the
capture began, a schedule, …; or, when the source does not say whether a process is of its
container's own tree — Tracee, Inspektor Gadget — a pod's process already running when the
capture began, :func:`long_running`) into a namespace whose objects that same process called the API
about in at least ``destination_share`` of the API log's windows and over at least
``min_span_share`` of its span (a reconcile loop, not a burst) is that process's controller
work: like a workload's routine creates of pods (:func:`._api_acts.routine_pod_creates`), such a
call and the rules that flag it weigh nothing and link nothing; the shell it exec'd and the pods
it made are parts of their own, found by what they do.

The risk: an intruder who took over such an operator's main process (not a child of it) and used
its service account in the namespaces it manages links nothing from there; what the exec'd
command or the created pods then do is found on its own (a lead, or an incident when it acts).

Examples
--------
>>> m = 60_000_000_000
>>> calls = pl.DataFrame({"exec_id": ["op"] * 13, "namespace": ["db"] * 13,
...     "verb": ["get"] * 12 + ["create"], "resource": ["clusters"] * 12 + ["pods"],
...     "time_ns": [i * 10 * m for i in range(12)] + [55 * m],
...     "event_id": [f"g{i}" for i in range(12)] + ["x"]})
>>> managed_calls(calls, ["op"]).filter(pl.col("verb") == "create")["event_id"].to_list()
['x']
>>> managed_calls(calls, []).height  # the sender is not a routine process
0
"""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings.routine import DEFAULT, RoutineSettings

_COLS = {"event_id": pl.String, "exec_id": pl.String, "namespace": pl.String, "verb": pl.String}


def long_running(procs: pl.DataFrame) -> pl.Series:
    """The pods' processes already running when the capture began (seen first by an event, not by
    their exec) that are not known to have come from outside their container's own tree
    (``in_init_tree`` not false: unknown where the source does not say, Tracee, Inspektor Gadget).

    >>> procs = pl.DataFrame({"exec_id": ["m", "sh", "new"], "pod": ["op-1"] * 3,
    ...     "seen_as": ["event", "event", "exec"], "in_init_tree": [None, False, None]})
    >>> long_running(procs).to_list()
    ['m']
    """
    if procs.height == 0 or not {"seen_as", "pod"} <= set(procs.columns):
        return pl.Series("exec_id", [], dtype=pl.String)
    inside = ~pl.col("in_init_tree").fill_null(True) if "in_init_tree" in procs.columns else pl.lit(False)
    return procs.filter(pl.col("pod").is_not_null() & pl.col("seen_as").is_in(["event", "parent", "reference"])
                        & ~inside)["exec_id"].cast(pl.String)


def managed_calls(calls: pl.DataFrame | None, usual: list[str] | pl.Series,
                  s: RoutineSettings = DEFAULT) -> pl.DataFrame:
    """The calls of routine processes (``usual``) into the namespaces they reconcile (see the
    module): ``event_id``, ``exec_id``, ``namespace``, ``verb``.  The API log's span (its first to
    last call) is cut into ``s.destination_windows`` windows; a process whose calls naming a
    namespace fall in at least ``s.destination_share`` of them (and three) and cover
    ``s.min_span_share`` of the span reconciles that namespace.

    >>> m = 60_000_000_000
    >>> burst = pl.DataFrame({"exec_id": ["op"] * 4, "namespace": ["db"] * 4, "verb": ["get"] * 4,
    ...     "time_ns": [0, m, 2 * m, 120 * m], "event_id": list("abcd")})
    >>> managed_calls(burst, ["op"]).height  # calls at two ends and one burst: no reconcile loop
    0
    """
    if calls is None or calls.height == 0 or not {"exec_id", "namespace", "time_ns", "event_id"} <= set(calls.columns):
        return pl.DataFrame(schema=_COLS)
    usual = pl.Series(list(usual), dtype=pl.String) if not isinstance(usual, pl.Series) else usual.cast(pl.String)
    c = calls.filter(pl.col("time_ns").is_not_null())
    if c.height == 0:
        return pl.DataFrame(schema=_COLS)
    lo, hi = int(c["time_ns"].min()), int(c["time_ns"].max())  # type: ignore[arg-type]
    width = max((hi - lo) // s.destination_windows + 1, 1)
    n_windows = min(s.destination_windows, (hi - lo) // width + 1)
    mine = c.filter(pl.col("exec_id").is_in(usual.implode()) & pl.col("namespace").is_not_null()).with_columns(
        ((pl.col("time_ns") - lo) // width).alias("_w"))
    loops = mine.group_by("exec_id", "namespace").agg(
        pl.col("_w").n_unique().alias("_in"), (pl.col("time_ns").max() - pl.col("time_ns").min()).alias("_covered"))
    loops = loops.filter((pl.col("_in") >= max(s.min_runs, 3)) & (pl.col("_in") >= s.destination_share * n_windows)
                         & (pl.col("_covered") >= s.min_span_share * (hi - lo)))
    if loops.height == 0:
        return pl.DataFrame(schema=_COLS)
    out = mine.join(loops.select("exec_id", "namespace"), on=["exec_id", "namespace"], how="semi")
    verb = pl.col("verb") if "verb" in out.columns else pl.lit(None, pl.String)
    return out.select("event_id", "exec_id", "namespace", verb.alias("verb")).cast(_COLS)  # type: ignore[arg-type]
