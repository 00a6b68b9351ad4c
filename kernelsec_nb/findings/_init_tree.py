"""Whether a process descends from its container's init, where the source only names the init.

Tetragon marks every process of a container ``in_init_tree`` (started by the container's main
process or one of its descendants) or not (exec'd into the container by the runtime:
``kubectl exec``, a kubelet's ``/run`` or ``/exec``, an exec probe).  Tracee only tells the
container's init (pid 1 of the container's own pid namespace; the mapping marks it true) and
leaves every other process NULL, so a shell exec'd into a pod is not seen as started from
outside its container's tree.  :func:`resolve_init_tree` fills the NULLs of a container whose
init is known, from the parents:

* a parent in the same container: the parent's value (a descendant of the init is in its tree; a
  descendant of an exec'd shell is not);
* a parent that also started one of the container's inits (the runtime's shim), or a process the
  capture saw run (its own exec or events) outside the container (``runc``, ``nsenter``): false,
  the process was started into the container from outside;
* else (a parent the capture never saw run, which may be a silent process of the container) it
  stays NULL: unknown.

Values a source gave are kept.  A container whose init the capture never saw is left as it is.

>>> p = pl.DataFrame({"exec_id": ["shim", "init", "w", "sh", "cat"],
...     "parent_exec_id": [None, "shim", "init", "shim", "sh"], "container_id": [None, "c", "c", "c", "c"],
...     "in_init_tree": [None, True, None, None, None], "seen_as": ["parent", "event", "exec", "exec", "exec"]})
>>> resolve_init_tree(p)["in_init_tree"].to_list()
[None, True, True, False, False]
"""

from __future__ import annotations

import polars as pl

#: At most this many generations are followed down from a resolved process (a cycle of parents
#: in hostile data ends here).
MAX_DEPTH = 64


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
    for _ in range(MAX_DEPTH):
        got = left.join(values.rename({"exec_id": "parent_exec_id"}), on="parent_exec_id", how="inner")
        if got.height == 0:
            break
        values = pl.concat([values, got.select("exec_id", "_v")])
        left = left.join(got.select("exec_id"), on="exec_id", how="anti")
    return procs.join(values, on="exec_id", how="left", maintain_order="left").with_columns(
        pl.coalesce("in_init_tree", "_v").alias("in_init_tree")).drop("_v")


__all__ = ["MAX_DEPTH", "resolve_init_tree"]
