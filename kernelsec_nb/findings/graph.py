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

The vocabulary (schema, kinds, ids, windows) is :mod:`._edge_frame`, the file edges are built in
:mod:`._file_edges`; both are re-exported here.  Builders compare times as given: the engine puts
every frame on the reference clock first (``case.on_reference_clock``) when nodes' clocks disagree.

Examples
--------
>>> procs = pl.DataFrame({"exec_id": ["a", "b"], "parent_exec_id": [None, "a"],
...                       "binary": ["/bin/sh", "/bin/id"], "start_ns": [1, 2]})
>>> spawn_edges(procs).select("src", "dst", "kind").rows()
[('proc:a', 'proc:b', 'spawn')]
"""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._edge_frame import (  # the vocabulary, re-exported
    API,
    API_LABEL,
    API_PORT,
    BLOCKED,
    CONNECT,
    DEFAULT,
    DNS,
    EDGE_SCHEMA,
    ESCAPE,
    ESCAPE_TECHNIQUE,
    EXEC_FILE,
    HTTP,
    KINDS,
    MAY_READ,
    MAY_WRITE,
    NS,
    PERMISSION_FUNCTIONS,
    READ_FILE,
    READ_SPAWN,
    SERVED,
    SERVICE,
    SERVICE_CONNECT,
    SERVICE_WRITE,
    SPAWN,
    WRITE,
    WRITE_FUNCTIONS,
    GraphSettings,
    _col,
    _edges,
    empty_edges,
    ext_id,
    file_id,
    pod_id,
    proc_id,
)
from kernelsec_nb.findings._file_edges import (
    file_accesses,
    file_edges,
    read_spawn_edges,
    served_edges,
)


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
    :func:`~kernelsec_nb.findings._dns_tunnel.dns_tunnel_queries` that name a process), one edge
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


def escaping(hits: pl.DataFrame) -> pl.Series:
    """The ``exec_id`` of the processes with an escape-to-host detection (technique
    :data:`ESCAPE_TECHNIQUE`).

    >>> escaping(pl.DataFrame({"exec_id": ["a", "b"], "techniques": [["T1611"], ["T1059"]]})).to_list()
    ['a']
    """
    if hits.height == 0 or "techniques" not in hits.columns or "exec_id" not in hits.columns:
        return pl.Series("exec_id", [], dtype=pl.String)
    return hits.filter(pl.col("techniques").list.eval(pl.element().str.to_uppercase().str.starts_with(
        ESCAPE_TECHNIQUE)).list.any().fill_null(False) & pl.col("exec_id").is_not_null())["exec_id"].unique().sort()


def escape_edges(procs: pl.DataFrame, hits: pl.DataFrame, suspicious: list[str] | pl.Series,
                 s: GraphSettings = DEFAULT) -> pl.DataFrame:
    """A pod's process with an escape-to-host detection (technique :data:`ESCAPE_TECHNIQUE`) →
    each host process (no pod) of the same node in ``suspicious`` (it carries evidence of its own)
    that started after it, within ``escape_window``, and whose parent is not itself such a process
    (the top of what ran there; ``spawn`` edges reach the rest), from the latest such escape
    before it.  What the node's own agents start carries no evidence and is left alone.

    >>> p = pl.DataFrame({"exec_id": ["chroot", "sh", "pay", "early", "mnt"], "parent_exec_id": ["b", "cron", "sh", "cron", "kubelet"],
    ...                   "node": ["n"] * 5, "pod": ["web-1", None, None, None, None], "start_ns": [10, 20, 21, 5, 30],
    ...                   "binary": ["/usr/sbin/chroot", "/bin/sh", "/tmp/.p", "/tmp/.e", "/bin/mount"]})
    >>> h = pl.DataFrame({"exec_id": ["chroot"], "techniques": [["T1611"]]})
    >>> escape_edges(p, h, ["sh", "pay", "early"]).select("src", "dst", "kind").rows()
    [('proc:chroot', 'proc:sh', 'escape')]
    """
    if hits.height == 0 or procs.height == 0 or "techniques" not in hits.columns:
        return empty_edges()
    esc = escaping(hits)
    src = procs.filter(pl.col("exec_id").is_in(esc.implode()) & pl.col("pod").is_not_null()).select(
        pl.col("exec_id").alias("_src"), "node", pl.col("start_ns").alias("_t0"), pl.col("binary").alias("_sb"))
    sus = pl.Series(list(suspicious), dtype=pl.String)
    host = procs.filter(pl.col("pod").is_null() & pl.col("exec_id").is_in(sus.implode())
                        & ~pl.col("parent_exec_id").is_in(sus.implode()).fill_null(False))
    if src.height == 0 or host.height == 0:
        return empty_edges()
    e = host.join(src, on="node").filter((pl.col("start_ns") > pl.col("_t0"))
                                         & (pl.col("start_ns") - pl.col("_t0") <= s.escape_window_ns))
    # the latest escape before it: a DaemonSet's routine ``nsenter -t 1`` an hour earlier is not
    # what put there the program a pod's escape started seconds before
    e = e.sort(["_t0", "_src"], descending=[True, False]).unique("exec_id", keep="first", maintain_order=True) \
        .sort("start_ns", "exec_id")
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


__all__ = ["API", "API_LABEL", "API_PORT", "BLOCKED", "CONNECT", "DEFAULT", "DNS", "EDGE_SCHEMA", "ESCAPE",
           "ESCAPE_TECHNIQUE", "EXEC_FILE", "GraphSettings", "HTTP", "KINDS", "MAY_READ", "MAY_WRITE", "NS",
           "PERMISSION_FUNCTIONS", "READ_FILE", "READ_SPAWN", "SERVICE", "SERVICE_CONNECT", "SERVICE_WRITE", "SPAWN",
           "WRITE", "WRITE_FUNCTIONS", "api_call_edges", "api_edges", "connect_edges", "dns_edges", "empty_edges",
           "escape_edges", "escaping", "ext_id", "file_accesses", "file_edges", "file_id", "http_edges", "pod_id", "proc_id",
           "read_spawn_edges", "requests_as_flows", "SERVED", "served_edges", "service_edges", "spawn_edges"]
