"""The evidence graph's edges, each kind built by one function of plain polars frames.

Every builder returns an edges frame (:data:`EDGE_SCHEMA`): ``src``, ``dst`` (typed node ids),
``kind`` (one of :data:`KINDS`), ``time_ns`` (when the edge happened), ``why`` (one line for the
analyst) and ``event_id`` (the event behind it, for ``case.raw``; null when it is derived from
two).  Node ids are typed strings:

* ``proc:<exec_id>`` — a process;
* ``pod:<namespace>/<pod>`` — a pod (a destination that no process of it was linked to);
* ``ext:<ip>:<port>`` — an address outside the capture's pods;
* ``dns:<domain>`` — a domain names were looked up under (the resolver is no destination);
* ``file:<scope>:<path>`` — a file, where ``scope`` is ``<namespace>/<pod>`` for a container's
  file and ``node:<node>`` for the host's (a container's ``/tmp/x`` is not another container's).

Builders compare times as given: the engine puts every frame on the reference clock first
(``case.on_reference_clock``) when nodes' clocks disagree.

Examples
--------
>>> procs = pl.DataFrame({"exec_id": ["a", "b"], "parent_exec_id": [None, "a"],
...                       "binary": ["/bin/sh", "/bin/id"], "start_ns": [1, 2]})
>>> spawn_edges(procs).select("src", "dst", "kind").rows()
[('proc:a', 'proc:b', 'spawn')]
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

NS = 1_000_000_000

#: The columns of an edges frame.
EDGE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "src": pl.String, "dst": pl.String, "kind": pl.String, "time_ns": pl.Int64, "why": pl.String,
    "event_id": pl.String}

SPAWN = "spawn"                  # parent → child
CONNECT = "connect"              # process → destination pod or address (let through)
BLOCKED = "blocked"              # process → destination a policy dropped
SERVICE = "service"              # process → a process its connection's destination pod started next
SERVICE_WRITE = "service_write"  # process → a file its connection's destination pod wrote next
SERVICE_CONNECT = "service_connect"  # process → an outside address its connection's destination pod connected to next
WRITE = "write"                  # process → file it wrote (that something used later)
EXEC_FILE = "exec_file"          # file → process that ran it (binary or script argument)
READ_FILE = "read_file"          # file → process that read it later
READ_SPAWN = "read_spawn"        # file → a child its reader started right after reading it (a web shell)
HTTP = "http"                    # request's source → the process in the pod that handled it (Hubble L7, sidecar logs)
API = "api"                      # a call to the Kubernetes API → the first process of a pod started next
ESCAPE = "escape"                # a pod's process that escaped to its node → a suspicious host process after it
DNS = "dns"                      # process → ``dns:<domain>``: a lookup that carried data out (a DNS tunnel)
#: ATT&CK "Escape to Host": a detection tagged with it marks the process that left its container.
ESCAPE_TECHNIQUE = "T1611"
KINDS = (SPAWN, CONNECT, BLOCKED, SERVICE, SERVICE_WRITE, SERVICE_CONNECT, WRITE, EXEC_FILE, READ_FILE, READ_SPAWN, HTTP, API, ESCAPE, DNS)
#: The Kubernetes API server's port (behind the ``kubernetes.default`` service), and Cilium's label
#: for it: a connection there is an API call.
API_PORT = 6443
API_LABEL = "reserved:kube-apiserver"

#: Hook function names that change a file (the first ``file_arg``/``path_arg`` is the target).
WRITE_FUNCTIONS = r"(?i)(write|creat|rename|truncate|link|mknod|chmod|chown|mkdir|setattr)"
#: Permission-check hooks whose mask argument says read (4) or write (2) / append (8).
PERMISSION_FUNCTIONS = r"(?i)permission"
MAY_WRITE = 2 | 8
MAY_READ = 4


@dataclass(frozen=True)
class GraphSettings:
    """Windows of the derived edges (one place, not inline)."""

    #: a process or file write in a destination pod this soon after a connection into it
    service_window_ns: int = 5 * NS
    #: a child started by a pod's process this soon after an HTTP request into the pod
    http_window_ns: int = 2 * NS
    #: a pod's first process this soon after a call to the Kubernetes API (scheduling, image pull)
    api_window_ns: int = 180 * NS
    #: a child started by a process this soon after it read a file another process wrote
    read_spawn_window_ns: int = 2 * NS
    #: a suspicious process on the node's host this soon after a pod's process escaped to it
    escape_window_ns: int = 3600 * NS


DEFAULT = GraphSettings()


def empty_edges() -> pl.DataFrame:
    """An edges frame without rows."""
    return pl.DataFrame(schema=EDGE_SCHEMA)


def _edges(frame: pl.DataFrame) -> pl.DataFrame:
    for c in EDGE_SCHEMA:
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(None).alias(c))
    return frame.select(list(EDGE_SCHEMA)).cast(EDGE_SCHEMA)  # type: ignore[arg-type]


def proc_id(col: str = "exec_id") -> pl.Expr:
    """``proc:<exec_id>``."""
    return pl.lit("proc:") + pl.col(col)


def pod_id(ns: str, pod: str) -> pl.Expr:
    """``pod:<namespace>/<pod>`` from two columns (``""`` for a missing namespace)."""
    return pl.concat_str([pl.lit("pod:"), pl.col(ns).fill_null(""), pl.lit("/"), pl.col(pod)])


def ext_id(ip: str, port: str) -> pl.Expr:
    """``ext:<ip>:<port>``."""
    return pl.concat_str([pl.lit("ext:"), pl.col(ip), pl.lit(":"), pl.col(port).cast(pl.String).fill_null("")])


def file_id(path: str = "path") -> pl.Expr:
    """``file:<ns>/<pod>:<path>`` for a container's file, ``file:node:<node>:<path>`` for the host's."""
    scope = pl.when(pl.col("pod").is_not_null()).then(
        pl.concat_str([pl.col("namespace").fill_null(""), pl.lit("/"), pl.col("pod")])
    ).otherwise(pl.lit("node:") + pl.col("node").fill_null(""))
    return pl.concat_str([pl.lit("file:"), scope, pl.lit(":"), pl.col(path)])


def _col(frame: pl.DataFrame, name: str, dtype: pl.DataType | type[pl.DataType] = pl.String) -> pl.Expr:
    return pl.col(name) if name in frame.columns else pl.lit(None, dtype).alias(name)


# -- parent → child ----------------------------------------------------------------------------
def spawn_edges(procs: pl.DataFrame) -> pl.DataFrame:
    """Parent → child for every process whose parent is named (``processes``)."""
    p = procs.filter(pl.col("parent_exec_id").is_not_null() & pl.col("exec_id").is_not_null())
    return _edges(p.select(
        proc_id("parent_exec_id").alias("src"), proc_id().alias("dst"), pl.lit(SPAWN).alias("kind"),
        pl.col("start_ns").alias("time_ns"),
        pl.concat_str([pl.lit("started "), pl.col("binary").fill_null("?"),
                       pl.lit(" "), _col(procs, "args").fill_null("")]).str.strip_chars().alias("why"),
        _col(procs, "event_id")))


# -- process → connection → destination ----------------------------------------------------------
def _destination(f: pl.DataFrame) -> pl.Expr:
    has_pod = pl.col("dst_pod").is_not_null() if "dst_pod" in f.columns else pl.lit(False)
    return pl.when(has_pod).then(pod_id("dst_namespace", "dst_pod")).otherwise(ext_id("dst_ip", "dst_port"))


def connect_edges(flows: pl.DataFrame) -> pl.DataFrame:
    """Process → destination pod or address for every attributed flow (``case.flows()``: its
    ``exec_id``), one edge per process, destination, port and outcome (the first flow's time and
    event); replies are left out.  ``connect`` when the flow went through, ``blocked`` when a
    policy dropped it (``verdict`` ``DROPPED``/``DENIED``).

    >>> f = pl.DataFrame({"event_id": ["f1", "f2", "f3"], "time_ns": [5, 6, 7], "exec_id": ["a", "a", "a"],
    ...                   "dst_namespace": ["db", "db", None], "dst_pod": ["pg-0", "pg-0", None],
    ...                   "dst_ip": ["10.0.0.2", "10.0.0.2", "6.6.6.6"], "dst_port": [5432, 5432, 4444],
    ...                   "verdict": ["FORWARDED", "FORWARDED", "DROPPED"], "is_reply": [False] * 3})
    >>> connect_edges(f).select("dst", "kind", "event_id").rows()
    [('pod:db/pg-0', 'connect', 'f1'), ('ext:6.6.6.6:4444', 'blocked', 'f3')]
    """
    f = flows.filter(pl.col("exec_id").is_not_null() & pl.col("time_ns").is_not_null())
    if "is_reply" in f.columns:
        f = f.filter(~pl.col("is_reply").fill_null(False))
    if f.height == 0:
        return empty_edges()
    verdict = _col(f, "verdict").fill_null("")
    blocked = verdict.is_in(["DROPPED", "DENIED", "ERROR"])
    what = pl.concat_str([_col(f, "http_method").fill_null(""), pl.lit(" "), _col(f, "http_url").fill_null(
        _col(f, "http_path")).fill_null("")]).str.strip_chars()
    if "dst_namespace" not in f.columns:  # connect hooks alone (no flows): no destination pod to name
        f = f.with_columns(pl.lit(None, pl.String).alias("dst_namespace"))
    e = f.sort("time_ns").with_columns(
        proc_id().alias("src"), _destination(f).alias("dst"),
        pl.when(blocked).then(pl.lit(BLOCKED)).otherwise(pl.lit(CONNECT)).alias("kind"))
    e = e.group_by("src", "dst", _col(f, "dst_port", pl.Int64).alias("_port"), "kind", maintain_order=True).agg(
        pl.first("time_ns"), pl.first("event_id"), pl.len().alias("_n"),
        what.drop_nulls().filter(what != "").first().alias("_what"), pl.first("dst_ip"))
    why = pl.concat_str([
        pl.when(pl.col("kind") == BLOCKED).then(pl.lit("dropped: ")).otherwise(pl.lit("")),
        pl.col("dst").str.replace(r"^(pod|ext):", ""),
        pl.when(pl.col("dst").str.starts_with("pod:")).then(pl.lit(":") + pl.col("_port").cast(pl.String))
        .otherwise(pl.lit("")),
        pl.when(pl.col("_what").is_not_null()).then(pl.lit(" ") + pl.col("_what")).otherwise(pl.lit("")),
        pl.when(pl.col("_n") > 1).then(pl.format(" ({} flows)", "_n")).otherwise(pl.lit(""))])
    return _edges(e.with_columns(why.alias("why")))


# -- the destination pod's server → what it or its pod did next ------------------------------------
def _asof_into_pod(targets: pl.DataFrame, conns: pl.DataFrame, window_ns: int) -> pl.DataFrame:
    """Each ``targets`` row (``_pod``, ``_t``) with the latest connection into its pod at most
    ``window_ns`` before it (``conns``: ``_pod``, ``_t``, ``_src``, ``_cev``, ``_cwhy``)."""
    t = targets.filter(pl.col("_pod").is_not_null() & pl.col("_t").is_not_null()).sort("_t")
    c = conns.filter(pl.col("_pod").is_not_null()).sort("_t").rename({"_t": "_ct"})
    if t.height == 0 or c.height == 0:
        return t.head(0).with_columns(pl.lit(None, pl.Int64).alias("_ct"),
                                      *(pl.lit(None, pl.String).alias(x) for x in ("_src", "_cev", "_cwhy")))
    return t.join_asof(c, left_on="_t", right_on="_ct", by="_pod", strategy="backward",
                       tolerance=window_ns, check_sortedness=False).filter(pl.col("_src").is_not_null())


def _connections_into_pods(flows: pl.DataFrame) -> pl.DataFrame:
    f = flows.filter(pl.col("exec_id").is_not_null() & pl.col("dst_pod").is_not_null()
                     & pl.col("time_ns").is_not_null())
    if "is_reply" in f.columns:
        f = f.filter(~pl.col("is_reply").fill_null(False))
    if "verdict" in f.columns:
        f = f.filter(~pl.col("verdict").fill_null("").is_in(["DROPPED", "DENIED", "ERROR"]))
    src_pod = _col(f, "src_pod")
    f = f.filter(src_pod.is_null() | (src_pod != pl.col("dst_pod")) |
                 (_col(f, "src_namespace").fill_null("") != pl.col("dst_namespace").fill_null("")))
    return f.select(pod_id("dst_namespace", "dst_pod").alias("_pod"), pl.col("time_ns").alias("_t"),
                    proc_id().alias("_src"), pl.col("event_id").alias("_cev"),
                    pl.concat_str([pl.col("dst_pod"), pl.lit(":"), _col(f, "dst_port", pl.Int64).cast(pl.String)
                                   .fill_null("")]).alias("_cwhy"))


def service_edges(flows: pl.DataFrame, procs: pl.DataFrame, writes: pl.DataFrame | None = None,
                  s: GraphSettings = DEFAULT, outward: pl.DataFrame | None = None) -> pl.DataFrame:
    """Lateral movement through a service: a process's connection into another pod → what that
    pod did next within ``service_window``: a process it started (``service``), a file it
    wrote (``service_write``; ``writes`` from :func:`file_accesses`) and an address outside the
    cluster it connected to (``service_connect``; ``outward``: ``namespace``, ``pod``,
    ``time_ns``, ``dst_ip``, ``dst_port``, ``event_id`` — pass the connections that are not the
    pod's workload's routine: a server made to fetch from the attacker).  Each such process, write
    or connection is linked to the latest connection into its pod before it (so the builder's size
    is bounded by the pod's processes, writes and unusual connections, not by its traffic); pass
    the connections worth following (the engine passes those of non-routine processes).  A
    process outside the container's own tree (``in_init_tree`` false: exec'd in by the runtime,
    a kubelet exec probe, ``kubectl exec``, and its children) is no service's hand-off.

    >>> f = pl.DataFrame({"event_id": ["f1"], "time_ns": [100], "exec_id": ["cli"], "src_pod": ["app-1"],
    ...                   "src_namespace": ["a"], "dst_namespace": ["b"], "dst_pod": ["sched-0"], "dst_port": [8080]})
    >>> p = pl.DataFrame({"exec_id": ["job"], "namespace": ["b"], "pod": ["sched-0"], "start_ns": [150],
    ...                   "binary": ["/bin/sh"], "args": ["x.sh"]})
    >>> service_edges(f, p).select("src", "dst", "kind").rows()
    [('proc:cli', 'proc:job', 'service')]
    """
    conns = _connections_into_pods(flows)
    if conns.height == 0:
        return empty_edges()
    # a process the container runtime exec'd into the pod (a kubelet exec probe, ``kubectl exec``)
    # and what it started are outside the container's own tree: no server of the pod started them
    own = pl.col("in_init_tree").fill_null(True) if "in_init_tree" in procs.columns else pl.lit(True)
    p = procs.filter(pl.col("pod").is_not_null() & own).select(
        pod_id("namespace", "pod").alias("_pod"), pl.col("start_ns").alias("_t"), "exec_id",
        pl.col("binary"), _col(procs, "event_id"))
    hit = _asof_into_pod(p, conns, s.service_window_ns)
    parts = [hit.select(
        pl.col("_src").alias("src"), proc_id().alias("dst"), pl.lit(SERVICE).alias("kind"),
        pl.col("_t").alias("time_ns"),
        pl.format("{} started {} {} ms after a connection to {}", pl.col("_pod").str.replace("^pod:", ""),
                  pl.col("binary").fill_null("?"), ((pl.col("_t") - pl.col("_ct")) // 1_000_000),
                  "_cwhy").alias("why"), "event_id")]
    if writes is not None and writes.height:
        w = writes.filter((pl.col("access") == "write") & pl.col("pod").is_not_null()).select(
            pod_id("namespace", "pod").alias("_pod"), pl.col("time_ns").alias("_t"), file_id().alias("_file"),
            "path", "event_id")
        wh = _asof_into_pod(w, conns, s.service_window_ns)
        parts.append(wh.select(
            pl.col("_src").alias("src"), pl.col("_file").alias("dst"), pl.lit(SERVICE_WRITE).alias("kind"),
            pl.col("_t").alias("time_ns"),
            pl.format("{} wrote {} {} ms after a connection to {}", pl.col("_pod").str.replace("^pod:", ""),
                      "path", ((pl.col("_t") - pl.col("_ct")) // 1_000_000), "_cwhy").alias("why"), "event_id"))
    if outward is not None and outward.height:
        o = outward.filter(pl.col("pod").is_not_null()).select(
            pod_id("namespace", "pod").alias("_pod"), pl.col("time_ns").alias("_t"),
            ext_id("dst_ip", "dst_port").alias("_ext"), "event_id")
        oh = _asof_into_pod(o, conns, s.service_window_ns)
        parts.append(oh.select(
            pl.col("_src").alias("src"), pl.col("_ext").alias("dst"), pl.lit(SERVICE_CONNECT).alias("kind"),
            pl.col("_t").alias("time_ns"),
            pl.format("{} connected out to {} {} ms after a connection to {}", pl.col("_pod").str.replace("^pod:", ""),
                      pl.col("_ext").str.replace("^ext:", ""), ((pl.col("_t") - pl.col("_ct")) // 1_000_000),
                      "_cwhy").alias("why"), "event_id").unique(["src", "dst"], keep="first", maintain_order=True))
    return _edges(pl.concat(parts))


# -- file written → the same path executed or read later ---------------------------------------------
def file_accesses(kprobes: pl.DataFrame) -> pl.DataFrame:
    """Hook events with a file path, as ``exec_id``, ``node``, ``namespace``, ``pod``, ``path``,
    ``time_ns``, ``event_id``, ``access`` (``write`` or ``read``) and ``mode_known``: a write hook by
    its function name (:data:`WRITE_FUNCTIONS`), a permission check by its mask argument
    (``int_arg``: 2 or 8 write, 4 read), any other hook on a file (an open, its mode unknown:
    ``mode_known`` false) a read — unless the path is later run (see :func:`file_edges`).

    >>> k = pl.DataFrame({"exec_id": ["a", "b", "c"], "file_path": ["/x", "/x", "/y"], "time_ns": [1, 2, 3],
    ...                   "function_name": ["security_file_permission", "security_file_permission", "vfs_rename"],
    ...                   "hook_args": ['[{"file_arg":{}},{"int_arg":2}]', '[{"int_arg":4}]', None]})
    >>> file_accesses(k)["access"].to_list()
    ['write', 'read', 'write']
    >>> file_accesses(k)["mode_known"].to_list()
    [True, True, True]
    """
    k = kprobes.filter(pl.col("file_path").is_not_null() & pl.col("time_ns").is_not_null())
    fn = _col(k, "function_name").fill_null("")
    mask = _col(k, "hook_args").str.extract(r'"int_arg"\s*:\s*(\d+)', 1).cast(pl.Int64, strict=False)
    write = (fn.str.contains(WRITE_FUNCTIONS)
             | (fn.str.contains(PERMISSION_FUNCTIONS) & ((mask.fill_null(0) & MAY_WRITE) != 0)))
    return k.select(
        "exec_id", _col(k, "node"), _col(k, "namespace"), _col(k, "pod"), pl.col("file_path").alias("path"),
        "time_ns", _col(k, "event_id"),
        pl.when(write).then(pl.lit("write")).otherwise(pl.lit("read")).alias("access"),
        (write | (fn.str.contains(PERMISSION_FUNCTIONS) & mask.is_not_null())).alias("mode_known"))


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


def file_edges(accesses: pl.DataFrame, procs: pl.DataFrame) -> pl.DataFrame:
    """A file written, then used: writer → ``file:…`` (``write``) and ``file:…`` → the process that
    later ran it (``exec_file``: its binary is the path, or an argument is) or read it
    (``read_file``, by another process).  Only paths both written and later used make edges.

    A read must be in the same container (or on the same node's host); a run may be in another pod
    of the same node (a shared volume, the host's path), since running a file that was just
    written there is rarely chance.

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
    same_place = (pl.col("node") == pl.col("node_w")).fill_null(False)
    ran = runs.join(first.rename({"node": "node_w", "namespace": "namespace_w", "pod": "pod_w"}), on="path") \
        .filter(same_place & (pl.col("start_ns") > pl.col("_w")))
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


# -- HTTP request into a pod → the process that handled it ---------------------------------------------
def http_edges(flows: pl.DataFrame, procs: pl.DataFrame, s: GraphSettings = DEFAULT) -> pl.DataFrame:
    """An HTTP request into a pod → the pod's process that started a child within ``http_window``
    after it (the handler; its child is then reached by a ``spawn`` edge).  The source is the
    requesting process when the flow is attributed, else its pod, else its address.  Each child
    is linked to the latest request before it; ``why`` quotes the request (method and whole URL).

    >>> f = pl.DataFrame({"event_id": ["r1"], "time_ns": [100], "exec_id": [None], "src_ip": ["203.0.113.9"],
    ...                   "src_port": [5555], "src_pod": [None], "src_namespace": [None], "dst_namespace": ["a"],
    ...                   "dst_pod": ["web-1"], "dst_port": [80], "http_method": ["POST"], "http_url": ["/up"]})
    >>> p = pl.DataFrame({"exec_id": ["srv", "sh"], "parent_exec_id": [None, "srv"], "namespace": ["a", "a"],
    ...                   "pod": ["web-1", "web-1"], "start_ns": [0, 900], "binary": ["/srv", "/bin/sh"]})
    >>> http_edges(f, p).select("src", "dst", "kind", "why").rows()
    [('ext:203.0.113.9:5555', 'proc:srv', 'http', 'POST /up → /bin/sh 800 ns later')]
    """
    if "http_method" not in flows.columns:
        return empty_edges()
    f = flows.filter(pl.col("http_method").is_not_null() & pl.col("dst_pod").is_not_null()
                     & pl.col("time_ns").is_not_null())
    if "l7_direction" in f.columns:
        f = f.filter(pl.col("l7_direction").fill_null("REQUEST") == "REQUEST")
    if "is_reply" in f.columns:
        f = f.filter(~pl.col("is_reply").fill_null(False))
    if f.height == 0:
        return empty_edges()
    src = (pl.when(_col(f, "exec_id").is_not_null()).then(proc_id())
           .when(_col(f, "src_pod").is_not_null()).then(pod_id("src_namespace", "src_pod"))
           .otherwise(ext_id("src_ip", "src_port")))
    req = f.select(pod_id("dst_namespace", "dst_pod").alias("_pod"), pl.col("time_ns").alias("_t"),
                   src.alias("_src"), pl.col("event_id").alias("_cev"),
                   pl.concat_str([pl.col("http_method"), pl.lit(" "),
                                  _col(f, "http_url").fill_null(_col(f, "http_path")).fill_null("")]).alias("_cwhy"))
    kids = procs.filter(pl.col("pod").is_not_null() & pl.col("parent_exec_id").is_not_null()).select(
        pod_id("namespace", "pod").alias("_pod"), pl.col("start_ns").alias("_t"), "parent_exec_id", "binary",
        _col(procs, "in_init_tree", pl.Boolean).alias("_init"))
    hit = _asof_into_pod(kids, req, s.http_window_ns)
    # the handler must be of the same pod (a child exec'd from outside has a parent elsewhere); a
    # parent the capture never saw start (a server started before it) is the pod's when its child
    # is in the container's own tree
    pods = procs.select(pl.col("exec_id").alias("parent_exec_id"), pod_id("namespace", "pod").alias("_ppod"))
    hit = hit.join(pods, on="parent_exec_id", how="left").filter(
        (pl.col("_ppod") == pl.col("_pod")).fill_null(False)
        | (pl.col("_ppod").is_null() & pl.col("_init").fill_null(False)))
    lag = pl.col("_t") - pl.col("_ct")
    lag_text = (pl.when(lag >= 1_000_000).then(pl.format("{} ms", lag // 1_000_000))
                .otherwise(pl.format("{} ns", lag)))
    e = hit.sort("_t").select(
        pl.col("_src").alias("src"), proc_id("parent_exec_id").alias("dst"), pl.lit(HTTP).alias("kind"),
        pl.col("_ct").alias("time_ns"),
        pl.format("{} → {} {} later", "_cwhy", pl.col("binary").fill_null("?"), lag_text).alias("why"),
        pl.col("_cev").alias("event_id"))
    return _edges(e.unique(["src", "dst", "event_id"], keep="first", maintain_order=True))


def requests_as_flows(requests: pl.DataFrame) -> pl.DataFrame:
    """Sidecar access-log requests (``case.http_requests()``) as the request flows
    :func:`http_edges` reads: a request a sidecar let into its pod (``inbound``, or unrouted) is a
    request into that pod from its downstream client (its process when attributed).

    >>> r = pl.DataFrame({"event_id": ["a1"], "time_ns": [5], "direction": ["inbound"], "namespace": ["a"],
    ...                   "pod": ["web-1"], "method": ["PUT"], "path": ["/up?x=1"], "exec_id": [None],
    ...                   "downstream_remote_ip": ["10.0.0.9"], "downstream_remote_port": [4000],
    ...                   "downstream_local_port": [80], "client_pod": [None], "client_namespace": [None]})
    >>> requests_as_flows(r).select("dst_pod", "http_method", "http_url", "src_ip").rows()
    [('web-1', 'PUT', '/up?x=1', '10.0.0.9')]
    """
    if requests.height == 0 or "method" not in requests.columns:
        return requests.clear().select()
    r = requests.filter((_col(requests, "direction").fill_null("inbound") == "inbound")
                        & pl.col("pod").is_not_null() & pl.col("method").is_not_null())
    return r.select("event_id", "time_ns", _col(r, "exec_id"), pl.col("downstream_remote_ip").alias("src_ip"),
                    pl.col("downstream_remote_port").alias("src_port"), _col(r, "client_pod").alias("src_pod"),
                    _col(r, "client_namespace").alias("src_namespace"), pl.col("namespace").alias("dst_namespace"),
                    pl.col("pod").alias("dst_pod"), pl.col("downstream_local_port").alias("dst_port"),
                    pl.col("method").alias("http_method"), pl.col("path").alias("http_url"))


def dns_edges(queries: pl.DataFrame) -> pl.DataFrame:
    """Process → ``dns:<domain>`` for each lookup of a DNS tunnel (``queries``: the rows of
    :func:`~kernelsec_nb.findings._evidence.dns_tunnel_queries` that name a process), one edge
    per lookup so that every lookup is evidence (``event_id``).

    >>> q = pl.DataFrame({"exec_id": ["p", "p"], "domain": ["t.x.net"] * 2, "time_ns": [1, 2],
    ...                   "event_id": ["d1", "d2"], "dns_query": ["a1.t.x.net.", "b2.t.x.net."]})
    >>> dns_edges(q).select("src", "dst", "kind", "event_id").rows()
    [('proc:p', 'dns:t.x.net', 'dns', 'd1'), ('proc:p', 'dns:t.x.net', 'dns', 'd2')]
    """
    q = queries.filter(pl.col("exec_id").is_not_null())
    if q.height == 0:
        return empty_edges()
    return _edges(q.select(proc_id().alias("src"), (pl.lit("dns:") + pl.col("domain")).alias("dst"),
                           pl.lit(DNS).alias("kind"), "time_ns",
                           pl.format("looked up {}", "dns_query").alias("why"), "event_id"))


def escape_edges(procs: pl.DataFrame, hits: pl.DataFrame, suspicious: list[str] | pl.Series,
                 s: GraphSettings = DEFAULT) -> pl.DataFrame:
    """A pod's process with an escape-to-host detection (technique :data:`ESCAPE_TECHNIQUE`) →
    each host process (no pod) of the same node in ``suspicious`` (it carries evidence of its own)
    that started after it, within ``escape_window``, and whose parent is not itself such a process
    (the top of what ran there; ``spawn`` edges reach the rest).  What the node's own agents start
    carries no evidence and is left alone.

    >>> p = pl.DataFrame({"exec_id": ["chroot", "sh", "pay", "early", "mnt"], "parent_exec_id": ["b", "cron", "sh", "cron", "kubelet"],
    ...                   "node": ["n"] * 5, "pod": ["web-1", None, None, None, None], "start_ns": [10, 20, 21, 5, 30],
    ...                   "binary": ["/usr/sbin/chroot", "/bin/sh", "/tmp/.p", "/tmp/.e", "/bin/mount"]})
    >>> h = pl.DataFrame({"exec_id": ["chroot"], "techniques": [["T1611"]]})
    >>> escape_edges(p, h, ["sh", "pay", "early"]).select("src", "dst", "kind").rows()
    [('proc:chroot', 'proc:sh', 'escape')]
    """
    if hits.height == 0 or procs.height == 0 or "techniques" not in hits.columns:
        return empty_edges()
    esc = hits.filter(pl.col("techniques").list.eval(pl.element().str.to_uppercase().str.starts_with(
        ESCAPE_TECHNIQUE)).list.any().fill_null(False) & pl.col("exec_id").is_not_null())["exec_id"].unique()
    src = procs.filter(pl.col("exec_id").is_in(esc.implode()) & pl.col("pod").is_not_null()).select(
        pl.col("exec_id").alias("_src"), "node", pl.col("start_ns").alias("_t0"), pl.col("binary").alias("_sb"))
    sus = pl.Series(list(suspicious), dtype=pl.String)
    host = procs.filter(pl.col("pod").is_null() & pl.col("exec_id").is_in(sus.implode())
                        & ~pl.col("parent_exec_id").is_in(sus.implode()).fill_null(False))
    if src.height == 0 or host.height == 0:
        return empty_edges()
    e = host.join(src, on="node").filter((pl.col("start_ns") > pl.col("_t0"))
                                         & (pl.col("start_ns") - pl.col("_t0") <= s.escape_window_ns))
    e = e.sort("start_ns").unique("exec_id", keep="first", maintain_order=True)
    return _edges(e.select(proc_id("_src").alias("src"), proc_id().alias("dst"), pl.lit(ESCAPE).alias("kind"),
                           pl.col("start_ns").alias("time_ns"),
                           pl.format("{} ran on the node's host after {} escaped to it", "binary", "_sb").alias("why"),
                           pl.lit(None, pl.String).alias("event_id")))


def api_edges(conns: pl.DataFrame, procs: pl.DataFrame, s: GraphSettings = DEFAULT) -> pl.DataFrame:
    """A call to the Kubernetes API → the first process of a pod that started within
    ``api_window`` after it (``kubectl run``, a Job created through the API).  ``conns``:
    ``exec_id``, ``dst_port``, ``time_ns``, ``event_id`` and optionally ``dst_labels``; a call is a
    connection to :data:`API_PORT` or to an endpoint labelled :data:`API_LABEL`.  A pod counts as
    started when its first process's start is in the capture (``seen_as`` ``exec``); each such pod
    is linked to the latest call before it from a process outside it (pass the calls worth
    following: operators call the API all day).

    >>> c = pl.DataFrame({"exec_id": ["k"], "dst_port": [6443], "time_ns": [10], "event_id": ["c1"]})
    >>> p = pl.DataFrame({"exec_id": ["k", "x"], "namespace": ["ci", "ci"], "pod": ["runner", "dbg"],
    ...                   "start_ns": [5, 20], "seen_as": ["exec", "exec"], "binary": ["/kubectl", "/sh"]})
    >>> api_edges(c, p).select("src", "dst", "kind").rows()
    [('proc:k', 'proc:x', 'api')]
    """
    is_api = pl.col("dst_port") == API_PORT
    if "dst_labels" in conns.columns and conns.schema["dst_labels"] != pl.Null:
        is_api = is_api | pl.col("dst_labels").map_elements(
            lambda m: m is not None and any(x.get("key") == API_LABEL for x in m) if isinstance(m, list)
            else bool(m and API_LABEL in m), return_dtype=pl.Boolean).fill_null(False)
    calls = conns.filter(pl.col("exec_id").is_not_null() & pl.col("time_ns").is_not_null() & is_api)
    if calls.height == 0 or procs.height == 0:
        return empty_edges()
    seen = _col(procs, "seen_as").fill_null("exec")
    first = (procs.filter(pl.col("pod").is_not_null() & pl.col("start_ns").is_not_null())
             .sort("start_ns").group_by("namespace", "pod", maintain_order=True).first()
             .filter(seen == "exec"))
    callers = procs.select(pl.col("exec_id").alias("_src"), pl.col("pod").alias("_spod"),
                           pl.col("namespace").alias("_sns"), pl.col("binary").alias("_sbin"))
    c = calls.select(pl.col("exec_id").alias("_src"), pl.col("time_ns").alias("_ct"), pl.col("event_id").alias("_cev")) \
        .join(callers.unique("_src"), on="_src", how="left").sort("_ct")
    hit = first.sort("start_ns").join_asof(c, left_on="start_ns", right_on="_ct", strategy="backward",
                                           tolerance=s.api_window_ns, check_sortedness=False)
    hit = hit.filter(pl.col("_src").is_not_null() & ((pl.col("_spod") != pl.col("pod")).fill_null(True)
                                                      | (pl.col("_sns") != pl.col("namespace")).fill_null(True)))
    return _edges(hit.select(
        proc_id("_src").alias("src"), proc_id().alias("dst"), pl.lit(API).alias("kind"),
        pl.col("start_ns").alias("time_ns"),
        pl.format("pod {}/{} started {} s after {} called the Kubernetes API", pl.col("namespace").fill_null(""),
                  "pod", ((pl.col("start_ns") - pl.col("_ct")) // NS), pl.col("_sbin").fill_null("?")).alias("why"),
        pl.col("_cev").alias("event_id")))


def api_call_edges(calls: pl.DataFrame) -> pl.DataFrame:
    """The audit log's named calls (``case.api_calls()``): the process that sent a ``create`` of a
    pod → that pod's first process, and the process that sent a ``pods/exec`` → the shell it
    started.  Only calls whose sending process is known make an edge (an admin's ``kubectl`` on
    a laptop is no process of the capture: the shell it started is an entry of its own).

    >>> c = pl.DataFrame({"exec_id": ["k"], "linked_exec_id": ["x"], "link": ["created-pod"],
    ...     "time_ns": [10], "event_id": ["e"], "verb": ["create"], "resource": ["pods"],
    ...     "namespace": ["ci"], "target_pod": ["dbg"], "user": ["system:serviceaccount:ci:runner"]})
    >>> api_call_edges(c).select("src", "dst", "kind", "why").rows()
    [('proc:k', 'proc:x', 'api', 'create pods ci/dbg by system:serviceaccount:ci:runner (audit log)')]
    """
    named = calls.filter(pl.col("exec_id").is_not_null() & pl.col("linked_exec_id").is_not_null())
    if named.height == 0:
        return empty_edges()
    what = pl.when(pl.col("link") == "exec").then(pl.lit("pods/exec")).otherwise(pl.col("resource"))
    return _edges(named.select(
        proc_id().alias("src"), proc_id("linked_exec_id").alias("dst"), pl.lit(API).alias("kind"), "time_ns",
        pl.format("{} {} {}/{} by {} (audit log)", "verb", what, pl.col("namespace").fill_null(""),
                  pl.col("target_pod").fill_null(""), pl.col("user").fill_null("?")).alias("why"),
        "event_id"))


__all__ = ["API", "BLOCKED", "api_call_edges", "api_edges", "CONNECT", "DNS", "ESCAPE", "SERVICE_CONNECT", "dns_edges", "DEFAULT", "EDGE_SCHEMA", "EXEC_FILE", "GraphSettings", "HTTP", "KINDS",
           "READ_FILE", "READ_SPAWN", "SERVICE", "SERVICE_WRITE", "SPAWN", "WRITE", "connect_edges", "empty_edges", "requests_as_flows",
           "ext_id", "escape_edges", "file_accesses", "file_edges", "file_id", "http_edges", "pod_id", "proc_id",
           "read_spawn_edges", "service_edges", "spawn_edges"]
