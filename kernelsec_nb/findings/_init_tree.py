"""Which processes are of their container's own tree, where the source does not say
(:func:`with_init_tree`).

Tetragon marks each process ``in_init_tree``: a descendant of the container's first process, not
something the runtime exec'd into the container (``kubectl exec``, an exec probe, ``crictl
exec``).  Tracee writes no such flag, so a container's main process is not "already running in
its container's own tree", a pod's startup is no startup, and an exec'd shell is not "exec'd from
outside its container's tree".  Both come in the same way (their parent a process outside the
container: the runtime), but the container's first process came first: of the processes of a
container whose parent is not in that container, the one that started first is its init, and
what descends from it, inside the container, is its own tree; the later ones are exec'd in, and
so is what they start.

Only unknown values are filled (a source that says keeps its word), and only for a container whose
processes all have a start time (Inspektor Gadget writes none: its first exec is no proof of
anything).

Examples
--------
>>> procs = pl.DataFrame({"exec_id": ["m", "c", "sh", "ls"], "parent_exec_id": ["shim", "m", "runc", "sh"],
...     "container_id": ["k1"] * 4, "pod": ["web-1"] * 4, "start_ns": [0, 5, 100, 101],
...     "in_init_tree": [None, None, None, None]}, schema_overrides={"in_init_tree": pl.Boolean})
>>> with_init_tree(procs)["in_init_tree"].to_list()
[True, True, False, False]
"""

from __future__ import annotations

import polars as pl

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
    before = pl.col("seen_as").is_in(["event", "parent", "reference"]) if "seen_as" in procs.columns \
        else pl.lit(False)
    start = pl.when(pl.col("start_ns").is_null() & before).then(pl.lit(-(2**62))).otherwise(pl.col("start_ns"))
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
