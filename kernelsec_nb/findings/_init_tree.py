"""Which processes are of their container's own tree, where the source does not say.

Tetragon marks every process of a container ``in_init_tree`` (started by the container's main
process or one of its descendants) or not (exec'd into the container by the runtime:
``kubectl exec``, a kubelet's ``/run`` or ``/exec``, an exec probe, ``crictl exec``).  Other
sources say less, and two steps fill what they leave NULL (values a source gave are kept):

* :func:`resolve_init_tree` — a source that names only the container's init (Tracee: pid 1 of
  the container's own pid namespace, marked true by its mapping): the rest of that container's
  tree from the parents.  A parent in the same container passes its value on (a descendant of
  the init is in its tree; a descendant of an exec'd shell is not); a parent that also started
  one of the container's inits (the runtime's shim), or a process the capture saw run outside
  the container (``runc``, ``nsenter``), means "started into the container from outside"; a
  parent the capture never saw run (maybe a silent process of the container) leaves it unknown.
* :func:`with_init_tree` — a container of which nothing is known (Inspektor Gadget, or a Tracee
  capture that began after the container's init): the main process and an exec'd shell both
  have a parent outside the container (the runtime), but the container's first process came
  first: of the processes of a container whose parent is not in it, the one that started first
  is its init, what descends from it inside the container is its own tree, and the later ones
  are exec'd in, with what they start.  Only for a container whose processes all have a start
  time (or ran before the capture began).

Examples
--------
>>> p = pl.DataFrame({"exec_id": ["shim", "init", "w", "sh", "cat"],
...     "parent_exec_id": [None, "shim", "init", "shim", "sh"], "container_id": [None, "c", "c", "c", "c"],
...     "in_init_tree": [None, True, None, None, None], "seen_as": ["parent", "event", "exec", "exec", "exec"]})
>>> resolve_init_tree(p)["in_init_tree"].to_list()
[None, True, True, False, False]
>>> procs = pl.DataFrame({"exec_id": ["m", "c", "sh", "ls"], "parent_exec_id": ["shim", "m", "runc", "sh"],
...     "container_id": ["k1"] * 4, "pod": ["web-1"] * 4, "start_ns": [0, 5, 100, 101],
...     "in_init_tree": [None, None, None, None]}, schema_overrides={"in_init_tree": pl.Boolean})
>>> with_init_tree(procs)["in_init_tree"].to_list()
[True, True, False, False]
"""

from __future__ import annotations

from typing import Any

import polars as pl

#: The start given to a process that ran before the capture began when its source writes no start
#: time (Inspektor Gadget): earlier than every start the capture saw.
BEFORE_CAPTURE_NS = -(2**62)


def start_or_before(columns: Any) -> pl.Expr:
    """``start_ns``, or :data:`BEFORE_CAPTURE_NS` for a process without one that the capture saw
    only running (``seen_as`` event, parent or reference: not its exec); ``columns``: the frame's.

    >>> df = pl.DataFrame({"start_ns": [5, None, None], "seen_as": ["exec", "event", "exec"]})
    >>> df.select(start_or_before(df.columns).alias("s"))["s"].to_list() == [5, BEFORE_CAPTURE_NS, None]
    True
    """
    if "seen_as" not in columns:
        return pl.col("start_ns")
    pre = pl.col("start_ns").is_null() & pl.col("seen_as").is_in(["event", "parent", "reference"])
    return pl.when(pre).then(pl.lit(BEFORE_CAPTURE_NS)).otherwise(pl.col("start_ns"))


#: How deep below a container's roots the flag is carried.
MAX_DEPTH = 32


def with_init_tree(procs: pl.DataFrame) -> pl.DataFrame:
    """``procs`` with ``in_init_tree`` filled where it is null (see the module)."""
    need = {"exec_id", "parent_exec_id", "pod", "start_ns", "in_init_tree"}
    if procs.height == 0 or not need <= set(procs.columns) or procs["in_init_tree"].null_count() == 0:
        return procs
    box = pl.coalesce(pl.col("container_id"), pl.col("pod")) if "container_id" in procs.columns else pl.col("pod")
    # a process running before the capture began whose start the source does not write started
    # before every process whose exec the capture saw
    start = start_or_before(procs.columns)
    p = procs.select("exec_id", "parent_exec_id", box.alias("_box"), start.alias("start_ns"), "in_init_tree").filter(
        pl.col("_box").is_not_null()).unique("exec_id", keep="first")
    # a container whose processes have no start time (or already say): nothing to infer
    open_ = p.group_by("_box").agg(pl.col("in_init_tree").is_null().all().alias("_unknown"),
                                   pl.col("start_ns").is_not_null().all().alias("_timed"))
    p = p.join(open_.filter(pl.col("_unknown") & pl.col("_timed")).select("_box"), on="_box", how="semi")
    if p.height == 0:
        return procs
    parents = p.select(pl.col("exec_id").alias("parent_exec_id"), pl.col("_box").alias("_pbox"))
    p = p.join(parents, on="parent_exec_id", how="left")
    roots = p.filter(pl.col("_pbox").is_null() | (pl.col("_pbox") != pl.col("_box")))
    first = roots.sort("start_ns", "exec_id").group_by("_box", maintain_order=True).first().select("exec_id")
    flag = dict.fromkeys(roots["exec_id"].to_list(), False) | dict.fromkeys(first["exec_id"].to_list(), True)
    inner = p.filter(pl.col("_pbox") == pl.col("_box")).select("exec_id", "parent_exec_id")
    kids: dict[str, list[str]] = {}
    for child, parent in inner.iter_rows():
        kids.setdefault(parent, []).append(child)
    todo = list(flag)
    for _ in range(MAX_DEPTH):
        nxt = []
        for x in todo:
            for k in kids.get(x, []):
                if k not in flag:
                    flag[k] = flag[x]
                    nxt.append(k)
        if not nxt:
            break
        todo = nxt
    known = pl.DataFrame({"exec_id": list(flag), "_inferred": list(flag.values())},
                         schema={"exec_id": procs.schema["exec_id"], "_inferred": pl.Boolean})
    return procs.join(known, on="exec_id", how="left", maintain_order="left").with_columns(
        pl.coalesce("in_init_tree", "_inferred").alias("in_init_tree")).drop("_inferred")


#: At most this many generations (resolve_init_tree) are followed down from a resolved process (a cycle of parents
#: in hostile data ends here).
RESOLVE_DEPTH = 64


def resolve_init_tree(procs: pl.DataFrame) -> pl.DataFrame:
    """``procs`` with the NULL ``in_init_tree`` of containers whose init is known filled from the
    parents (see the module).  Needs ``exec_id``, ``parent_exec_id``, ``container_id``,
    ``in_init_tree`` (``seen_as`` optional); returned unchanged without them."""
    need = {"exec_id", "parent_exec_id", "container_id", "in_init_tree"}
    if procs.height == 0 or not need <= set(procs.columns):
        return procs
    init = procs.filter(pl.col("in_init_tree").fill_null(False) & pl.col("container_id").is_not_null())
    if init.height == 0:
        return procs
    todo = procs.filter(pl.col("in_init_tree").is_null()
                        & pl.col("container_id").is_in(init["container_id"].unique().implode()))
    if todo.height == 0:
        return procs
    seen = pl.col("seen_as").is_in(["exec", "event"]) if "seen_as" in procs.columns else pl.lit(False)
    par = procs.select(pl.col("exec_id").alias("parent_exec_id"), pl.col("container_id").alias("_pc"),
                       seen.fill_null(False).alias("_pseen")).unique("parent_exec_id")
    runtime = init.select("container_id", "parent_exec_id", pl.lit(True).alias("_rt")).drop_nulls().unique()
    t = todo.select("exec_id", "parent_exec_id", "container_id").unique("exec_id").join(
        par, on="parent_exec_id", how="left").join(runtime, on=["container_id", "parent_exec_id"], how="left")
    inherits = (pl.col("_pc") == pl.col("container_id")).fill_null(False)
    outside = ~inherits & (pl.col("_rt").fill_null(False) | pl.col("_pseen").fill_null(False))
    values = pl.concat([
        procs.filter(pl.col("in_init_tree").is_not_null()).select("exec_id", pl.col("in_init_tree").alias("_v")),
        t.filter(outside).select("exec_id", pl.lit(False).alias("_v"))]).unique("exec_id")
    left = t.filter(inherits).select("exec_id", "parent_exec_id")
    for _ in range(RESOLVE_DEPTH):
        got = left.join(values.rename({"exec_id": "parent_exec_id"}), on="parent_exec_id", how="inner")
        if got.height == 0:
            break
        values = pl.concat([values, got.select("exec_id", "_v")])
        left = left.join(got.select("exec_id"), on="exec_id", how="anti")
    return procs.join(values, on="exec_id", how="left", maintain_order="left").with_columns(
        pl.coalesce("in_init_tree", "_v").alias("in_init_tree")).drop("_v")
