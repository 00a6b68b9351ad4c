"""The evidence graph's file edges: a file written in a container (or on a node's host), then run or
read by another process (:func:`file_edges`), or read by a server right before it started a
command (:func:`read_spawn_edges`); and the hook events they are read from (:func:`file_accesses`).

Examples
--------
>>> k = pl.DataFrame({"exec_id": ["a"], "file_path": ["/x"], "time_ns": [1],
...                   "function_name": ["vfs_write"], "hook_args": ["[]"]})
>>> file_accesses(k)["access"].to_list()
['write']
"""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._edge_frame import (
    DEFAULT,
    EXEC_FILE,
    MAY_WRITE,
    NS,
    PERMISSION_FUNCTIONS,
    READ_FILE,
    READ_SPAWN,
    SERVED,
    WRITE,
    WRITE_FUNCTIONS,
    GraphSettings,
    _col,
    _edges,
    empty_edges,
    file_id,
    proc_id,
)


# -- file written → the same path executed or read later ---------------------------------------------
def file_accesses(kprobes: pl.DataFrame) -> pl.DataFrame:
    """Hook events with a file path, as ``exec_id``, ``node``, ``namespace``, ``pod``, ``path``,
    ``time_ns``, ``event_id``, ``access`` (``write`` or ``read``) and ``mode_known``: a write hook by
    its function name (:data:`WRITE_FUNCTIONS`), a permission check by its mask argument
    (``int_arg``: 2 or 8 write, 4 read), any other hook on a file (an open, its mode unknown:
    ``mode_known`` false) a read — unless the path is later run (see :func:`file_edges`).  Events on
    a unix socket (:func:`socket_file`) are messages to a daemon, not file accesses: left out.

    >>> k = pl.DataFrame({"exec_id": ["a", "b", "c"], "file_path": ["/x", "/x", "/y"], "time_ns": [1, 2, 3],
    ...                   "function_name": ["security_file_permission", "security_file_permission", "vfs_rename"],
    ...                   "hook_args": ['[{"file_arg":{}},{"int_arg":2}]', '[{"int_arg":4}]', None]})
    >>> file_accesses(k)["access"].to_list()
    ['write', 'read', 'write']
    >>> file_accesses(k)["mode_known"].to_list()
    [True, True, True]
    """
    k = kprobes.filter(pl.col("file_path").is_not_null() & pl.col("time_ns").is_not_null()
                       & ~socket_file(_col(kprobes, "hook_args")))
    fn = _col(k, "function_name").fill_null("")
    mask = _col(k, "hook_args").str.extract(r'"int_arg"\s*:\s*(\d+)', 1).cast(pl.Int64, strict=False)
    write = (fn.str.contains(WRITE_FUNCTIONS)
             | (fn.str.contains(PERMISSION_FUNCTIONS) & ((mask.fill_null(0) & MAY_WRITE) != 0)))
    return k.select(
        "exec_id", _col(k, "node"), _col(k, "namespace"), _col(k, "pod"), pl.col("file_path").alias("path"),
        "time_ns", _col(k, "event_id"),
        pl.when(write).then(pl.lit("write")).otherwise(pl.lit("read")).alias("access"),
        (write | (fn.str.contains(PERMISSION_FUNCTIONS) & mask.is_not_null())).alias("mode_known"))


#: The mode string a hook gives a file (``"permission":"srwxrwxrwx"``): its first letter ``s`` is a socket.
_SOCKET_MODE = r'"permission"\s*:\s*"s'


def socket_file(hook_args: pl.Expr) -> pl.Expr:
    """Whether a hook event's file is a unix socket (its mode string starts with ``s``): a process
    that writes to ``/run/containerd/containerd.sock`` sends a request to the daemon listening
    there, it leaves no content for a later process — every client of a socket would otherwise
    "write a file used later by another process".

    >>> pl.select(socket_file(pl.lit('[{"file_arg":{"path":"/run/x.sock","permission":"srwxrwxrwx"}},{"int_arg":2}]'))).item()
    True
    >>> pl.select(socket_file(pl.lit('[{"file_arg":{"path":"/tmp/x","permission":"-rw-r--r--"}}]'))).item()
    False
    """
    return hook_args.fill_null("").str.contains(_SOCKET_MODE)


def _opened_then_run(accesses: pl.DataFrame, procs: pl.DataFrame) -> pl.DataFrame:
    """Opens of unknown mode (``mode_known`` false) of a path that another process later ran as
    its binary, on the same node, and that nothing ran before the open: the open put the program
    there (``kubectl cp``'s ``tar``, a download tool) — counted as a write."""
    if "mode_known" not in accesses.columns or procs.height == 0:
        return accesses.clear()
    o = accesses.filter(~pl.col("mode_known").fill_null(True))
    if o.height == 0:
        return accesses.clear()
    runs = procs.filter(pl.col("start_ns").is_not_null()).select(
        pl.col("binary").alias("path"), _col(procs, "node").alias("_n"), pl.col("exec_id").alias("_r"),
        pl.col("start_ns"))
    first_run = runs.group_by("path", "_n").agg(pl.col("start_ns").min().alias("_first"))
    later = o.join(first_run, left_on=["path", "node"], right_on=["path", "_n"]).filter(
        pl.col("time_ns") < pl.col("_first"))
    other = later.join(runs, left_on=["path", "node"], right_on=["path", "_n"]).filter(
        pl.col("_r") != pl.col("exec_id")).select(accesses.columns).unique()
    return other.with_columns(pl.lit("write").alias("access"))


def _new_children(ran: pl.DataFrame, runs: pl.DataFrame, procs: pl.DataFrame) -> pl.DataFrame:
    """Of ``ran`` (runs joined to a write of their path: ``_file``, ``_w``), the ``exec_id``, ``_file``
    pairs whose run started a child whose binary no run of that path in the runner's own place
    (node, namespace, pod) started before the write: its run after the write is not its routine.
    A hook script another pod appended ``curl … | sh`` to runs ``curl`` for the first time."""
    if "parent_exec_id" not in procs.columns or ran.height == 0:
        return ran.select("exec_id", "_file").clear()
    place = ["node", "namespace", "pod", "path"]
    kids = procs.filter(pl.col("parent_exec_id").is_not_null() & pl.col("binary").is_not_null()).select(
        pl.col("parent_exec_id").alias("exec_id"), pl.col("binary").alias("_kid")).unique()
    rk = runs.join(kids, on="exec_id")
    after = ran.select("exec_id", "path", "_file").join(rk.select("exec_id", "path", "_kid"), on=["exec_id", "path"])
    before = ran.select("exec_id", "_file", "_w", *place).join(
        rk.select(*place, pl.col("start_ns").alias("_bs"), "_kid"), on=place, nulls_equal=True).filter(
        pl.col("_bs") < pl.col("_w")).select("exec_id", "_file", "_kid").unique()
    return after.join(before, on=["exec_id", "_file", "_kid"], how="anti").select("exec_id", "_file").unique()


def _not_its_own(ran: pl.DataFrame, writes: pl.DataFrame, runs: pl.DataFrame,
                 procs: pl.DataFrame | None = None) -> pl.DataFrame:
    """Of ``ran`` (a run joined to the first write of its path in some place: ``_file``, ``_w``,
    ``node_w``, ``namespace_w``, ``pod_w``), keep the joins to another place (another pod, a pod
    and a node's host, another node) only where the write is credibly the file that was run.

    * The runner's place wrote that path itself at some time of the capture: its own file is what
      it ran (every run of a CronJob downloads ``/tmp/x`` into its own container, then runs it;
      every replica writes its own ``/app/run.sh``) — dropped.
    * A process of the runner's place ran that path before the other place's write: the runs
      after it are joined only when they start a child no run of it before the write started
      (:func:`_new_children`): a hook script on a shared volume, appended to by another pod, runs
      ``curl … | sh`` at its next run — the same file, changed; a program of its image at a
      path another pod happened to write runs as it always did — dropped.
    * Nothing of the path in the runner's place: joined on the same node (a shared volume, the
      host's path); on another node only a volume both mount (NFS) shares a file, and nothing
      without a prior run shows one — dropped.

    Two containers see one file at one path only through a volume both mount; the export says
    nothing of mounts, so these are what stand for one."""
    if ran.height == 0:
        return ran
    place = ["node", "namespace", "pod", "path"]
    own_writes = writes.select(*place).unique()
    own_runs = runs.group_by(*place).agg(pl.col("start_ns").min().alias("_own_run"))
    other = ((pl.col("pod").fill_null("") != pl.col("pod_w").fill_null(""))
             | (pl.col("namespace").fill_null("") != pl.col("namespace_w").fill_null(""))
             | (pl.col("node") != pl.col("node_w")).fill_null(True))
    r = ran.join(own_writes.with_columns(pl.lit(True).alias("_own_w")), on=place, how="left", nulls_equal=True) \
        .join(own_runs, on=place, how="left", nulls_equal=True)
    ran_before = (pl.col("_own_run") < pl.col("_w")).fill_null(False)
    changed = _new_children(r.filter(other & ran_before & ~pl.col("_own_w").fill_null(False)), runs,
                            procs if procs is not None else pl.DataFrame()).with_columns(pl.lit(True).alias("_new"))
    r = r.join(changed, on=["exec_id", "_file"], how="left")
    same_node = (pl.col("node") == pl.col("node_w")).fill_null(False)
    keep = ~other | (~pl.col("_own_w").fill_null(False)
                     & pl.when(ran_before).then(pl.col("_new").fill_null(False)).otherwise(same_node))
    return r.filter(keep).drop("_own_w", "_own_run", "_new")


def file_edges(accesses: pl.DataFrame, procs: pl.DataFrame) -> pl.DataFrame:
    """A file written, then used: writer → ``file:…`` (``write``) and ``file:…`` → the process that
    later ran it (``exec_file``: its binary is the path, or an argument is) or read it
    (``read_file``, by another process).  Only paths both written and later used make edges.

    A read must be in the same container (or on the same node's host); a run may be in another pod
    of the same node (a shared volume, the host's path), since running a file that was just
    written there is rarely chance — unless the runner's own pod (or host) has that path of its
    own (:func:`_not_its_own`: it wrote it too, or ran it before).

    >>> acc = pl.DataFrame({"exec_id": ["w"], "node": ["n"], "namespace": ["b"], "pod": ["s-0"],
    ...                     "path": ["/jobs/x.sh"], "time_ns": [10], "event_id": ["k1"], "access": ["write"]})
    >>> p = pl.DataFrame({"exec_id": ["j"], "node": ["n"], "namespace": ["b"], "pod": ["s-0"],
    ...                   "binary": ["/bin/sh"], "args": ["/jobs/x.sh"], "start_ns": [99]})
    >>> file_edges(acc, p).select("src", "dst", "kind").rows()
    [('proc:w', 'file:b/s-0:/jobs/x.sh', 'write'), ('file:b/s-0:/jobs/x.sh', 'proc:j', 'exec_file')]
    """
    writes = pl.concat([accesses.filter(pl.col("access") == "write"), _opened_then_run(accesses, procs)]) \
        .with_columns(file_id().alias("_file"))
    if writes.height == 0:
        return empty_edges()
    first = writes.group_by("_file", "path", "node", "namespace", "pod").agg(
        pl.col("time_ns").min().alias("_w"))
    paths = first["path"].unique()
    # runs: the binary is the path, or an argument is (a script given to an interpreter)
    pr = procs.filter(pl.col("start_ns").is_not_null()).select(
        "exec_id", _col(procs, "node"), _col(procs, "namespace"), _col(procs, "pod"), "start_ns",
        _col(procs, "event_id"), pl.concat_list([pl.col("binary"),
                                                 _col(procs, "args").fill_null("").str.split(" ")]).alias("_tok"))
    runs = pr.explode("_tok").filter(pl.col("_tok").is_in(paths.implode())).rename({"_tok": "path"}).unique(
        ["exec_id", "path"])
    ran = runs.join(first.rename({"node": "node_w", "namespace": "namespace_w", "pod": "pod_w"}), on="path") \
        .filter(pl.col("start_ns") > pl.col("_w"))
    ran = _not_its_own(ran, writes, runs, procs)
    reads = accesses.filter(pl.col("access") == "read").with_columns(file_id().alias("_file")) \
        .join(first.select("_file", "_w"), on="_file").filter(pl.col("time_ns") > pl.col("_w"))
    used_ran = ran.select(pl.col("_file"), proc_id().alias("dst"), pl.lit(EXEC_FILE).alias("kind"),
                          pl.col("start_ns").alias("time_ns"), pl.format("ran {}", "path").alias("why"), "event_id")
    used_read = reads.select(pl.col("_file"), proc_id().alias("dst"), pl.lit(READ_FILE).alias("kind"), "time_ns",
                             pl.format("read {}", "path").alias("why"), "event_id")
    used = pl.concat([used_ran, used_read]).unique(["_file", "dst", "kind"], keep="first", maintain_order=True)
    wrote = writes.join(used.select("_file", pl.col("time_ns").alias("_u")).group_by("_file").agg(
        pl.col("_u").max()), on="_file").filter(pl.col("time_ns") < pl.col("_u"))
    # a read by the writer itself is no hand-off
    used = used.join(writes.select("_file", pl.col("exec_id").alias("_writer")).unique(), on="_file", how="left") \
        .filter((pl.col("kind") == EXEC_FILE) | (pl.col("dst") != proc_id("_writer"))).unique(
        ["_file", "dst", "kind"], keep="first", maintain_order=True)
    out = pl.concat([
        _edges(wrote.unique(["exec_id", "_file"], keep="first", maintain_order=True).select(
            proc_id().alias("src"), pl.col("_file").alias("dst"), pl.lit(WRITE).alias("kind"), "time_ns",
            pl.format("wrote {}", "path").alias("why"), "event_id")),
        _edges(used.rename({"_file": "src"}))])
    return out.sort("time_ns", "kind", maintain_order=True)


def read_spawn_edges(accesses: pl.DataFrame, procs: pl.DataFrame, s: GraphSettings = DEFAULT) -> pl.DataFrame:
    """A file written during the capture, then read by another process of the same container
    (or node's host), which started a child within ``read_spawn_window`` after that read →
    ``file:…`` → the child (``read_spawn``).  A server that reads a dropped script and then runs
    a command (a web shell: php-fpm reads ``uploads/x.php``, then starts ``sh``) is a routine
    process and links nothing itself; the file and what it made the server start are one story,
    so the writer (an exec'd session) joins what the child does.  Each child is linked to the
    latest such read before it by its parent; a read by the writer itself is none.

    >>> acc = pl.DataFrame({"exec_id": ["drop", "srv"], "node": ["n"] * 2, "namespace": ["a"] * 2,
    ...     "pod": ["web-1"] * 2, "path": ["/www/up/x.php"] * 2, "time_ns": [10, 500],
    ...     "event_id": ["k1", "k2"], "access": ["write", "read"]})
    >>> p = pl.DataFrame({"exec_id": ["srv", "sh"], "parent_exec_id": [None, "srv"], "binary": ["/php-fpm", "/bin/sh"],
    ...     "start_ns": [0, 900]})
    >>> read_spawn_edges(acc, p).select("src", "dst", "kind").rows()
    [('file:a/web-1:/www/up/x.php', 'proc:sh', 'read_spawn')]
    """
    if accesses is None or accesses.height == 0 or procs.height == 0 or "parent_exec_id" not in procs.columns:
        return empty_edges()
    a = accesses.filter(pl.col("exec_id").is_not_null()).with_columns(file_id().alias("_file"))
    writes = a.filter(pl.col("access") == "write")
    if writes.height == 0:
        return empty_edges()
    first = writes.group_by("_file").agg(pl.col("time_ns").min().alias("_w"),
                                         pl.col("exec_id").unique().alias("_writers"))
    reads = a.filter(pl.col("access") == "read").join(first, on="_file").filter(
        (pl.col("time_ns") > pl.col("_w")) & ~pl.col("_writers").list.contains(pl.col("exec_id")))
    if reads.height == 0:
        return empty_edges()
    reads = reads.select(pl.col("exec_id").alias("parent_exec_id"), pl.col("time_ns").alias("_rt"), "_file", "path",
                         pl.col("event_id").alias("_rev")).sort("_rt")
    kids = procs.filter(pl.col("parent_exec_id").is_in(reads["parent_exec_id"].unique().implode())
                        & pl.col("start_ns").is_not_null()).select(
        "exec_id", "parent_exec_id", "start_ns", _col(procs, "binary")).sort("start_ns")
    if kids.height == 0:
        return empty_edges()
    hit = kids.join_asof(reads, left_on="start_ns", right_on="_rt", by="parent_exec_id", strategy="backward",
                         tolerance=s.read_spawn_window_ns, check_sortedness=False).filter(pl.col("_file").is_not_null())
    lag = pl.col("start_ns") - pl.col("_rt")
    return _edges(hit.select(
        pl.col("_file").alias("src"), proc_id().alias("dst"), pl.lit(READ_SPAWN).alias("kind"),
        pl.col("start_ns").alias("time_ns"),
        pl.format("its parent read {} {} ms before starting {}", "path", lag // 1_000_000,
                  pl.col("binary").fill_null("?")).alias("why"),
        pl.col("_rev").alias("event_id")))


def served_edges(accesses: pl.DataFrame, procs: pl.DataFrame, unusual: list[str] | pl.Series,
                 s: GraphSettings = DEFAULT) -> pl.DataFrame:
    """A file dropped into a running server's directory from outside its container, then an unusual
    child of that server: the dropper → ``file:…`` (``write``) → the child (``served``).

    The drop: a write in a pod by a process outside the container's own tree (``in_init_tree``
    false: ``kubectl exec``/``kubectl cp``, exec'd in by the runtime) under the working directory
    (``cwd``, not ``/``) of a process of that pod's own tree running then — the server, which runs or serves
    what lies there (php-fpm in ``/var/www/html``, an app server in its app root).  The child: a
    process that server started at most ``served_window`` after the drop and that is in
    ``unusual`` (the engine passes the processes that are not routine: a server's usual children,
    its mailer, never link).  A web shell used later shows this way when no hook saw the server
    read the file (:func:`read_spawn_edges` needs that read).  Each child is linked to the latest
    such drop before it; what the operators' own ``kubectl exec`` sessions write there links only
    when the server then does what it never does.

    >>> p = pl.DataFrame({"exec_id": ["srv", "drop", "sh", "mail"], "parent_exec_id": [None, "rt", "srv", "srv"],
    ...     "namespace": ["a"] * 4, "pod": ["web-1"] * 4, "in_init_tree": [True, False, True, True],
    ...     "cwd": ["/www", "/", "/www", "/www"], "binary": ["/php-fpm", "/bin/sh", "/bin/sh", "/sendmail"],
    ...     "start_ns": [0, 10, 900, 950]})
    >>> acc = pl.DataFrame({"exec_id": ["drop"], "node": ["n"], "namespace": ["a"], "pod": ["web-1"],
    ...     "path": ["/www/up/x.php"], "time_ns": [12], "event_id": ["k1"], "access": ["write"]})
    >>> served_edges(acc, p, ["drop", "sh"]).select("src", "dst", "kind").rows()
    [('proc:drop', 'file:a/web-1:/www/up/x.php', 'write'), ('file:a/web-1:/www/up/x.php', 'proc:sh', 'served')]
    """
    need = {"in_init_tree", "cwd", "parent_exec_id", "pod"}
    if accesses is None or accesses.height == 0 or procs.height == 0 or not need <= set(procs.columns):
        return empty_edges()
    own = pl.col("in_init_tree").fill_null(True)
    outsiders = procs.filter(pl.col("pod").is_not_null() & ~own)["exec_id"]
    drops = accesses.filter((pl.col("access") == "write") & pl.col("pod").is_not_null()
                            & pl.col("exec_id").is_in(outsiders.implode()))
    if drops.height == 0:
        return empty_edges()
    # the unusual children first: only their parents can be servers (the join stays that small)
    odd = pl.Series(list(unusual), dtype=pl.String).implode()
    kids = procs.filter(pl.col("exec_id").is_in(odd) & pl.col("parent_exec_id").is_not_null()
                        & pl.col("start_ns").is_not_null()).select(
        "exec_id", pl.col("parent_exec_id").alias("_srv"), "start_ns", _col(procs, "binary"),
        _col(procs, "event_id")).sort("start_ns")
    root = pl.col("cwd").str.strip_chars_end("/")
    servers = procs.filter(pl.col("exec_id").is_in(kids["_srv"].unique().implode()) & pl.col("pod").is_not_null()
                           & own & pl.col("cwd").is_not_null() & (root != "")).select(
        pl.col("exec_id").alias("_srv"), "namespace", "pod", root.alias("_root"), pl.col("binary").alias("_sbin"),
        pl.col("start_ns").alias("_sstart"))
    # the server was running when the file was dropped (what started after it is no server of it)
    d = drops.with_columns(file_id().alias("_file")).join(servers, on=["namespace", "pod"], nulls_equal=True) \
        .filter(pl.col("path").str.starts_with(pl.col("_root") + "/")
                & (pl.col("_sstart").is_null() | (pl.col("_sstart") < pl.col("time_ns"))))
    if d.height == 0:
        return empty_edges()
    d = d.select("_srv", "_sbin", "_file", "path", pl.col("exec_id").alias("_writer"), pl.col("time_ns").alias("_w"),
                 pl.col("event_id").alias("_wev")).sort("_w")
    hit = kids.join_asof(d, left_on="start_ns", right_on="_w", by="_srv", strategy="backward",
                         tolerance=s.served_window_ns, check_sortedness=False).filter(pl.col("_file").is_not_null())
    if hit.height == 0:
        return empty_edges()
    wrote = hit.unique(["_writer", "_file"], keep="first", maintain_order=True).select(
        proc_id("_writer").alias("src"), pl.col("_file").alias("dst"), pl.lit(WRITE).alias("kind"),
        pl.col("_w").alias("time_ns"),
        pl.format("wrote {}", "path").alias("why"), pl.col("_wev").alias("event_id"))
    served = hit.select(
        pl.col("_file").alias("src"), proc_id().alias("dst"), pl.lit(SERVED).alias("kind"),
        pl.col("start_ns").alias("time_ns"),
        pl.format("{} started {} {} s after {} was dropped under its working directory", "_sbin",
                  pl.col("binary").fill_null("?"), (pl.col("start_ns") - pl.col("_w")) // NS, "path").alias("why"),
        "event_id")
    return pl.concat([_edges(wrote), _edges(served)])


__all__ = ["file_accesses", "file_edges", "read_spawn_edges", "served_edges"]
