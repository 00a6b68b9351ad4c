"""Kubernetes API calls (the ``api_calls`` view) attributed to the pod and the process that sent
them, and linked to what they started.

Plain polars functions on plain frames (so they work on data from elsewhere); the case calls
them with its tables (:meth:`kernelsec_nb.Case.api_calls`), reading only what the rules need.

**Who sent the call** (``src_namespace``/``src_pod``/``src_node``, ``src_match``), first rule
that gives one pod:

1. ``'token'``: a pod-bound service-account token names its pod (``token_pod``: the API server
   writes ``authentication.kubernetes.io/pod-name`` into the user's extra since 1.30);
2. ``'ip'``: the call's source IP was that pod's IP at that time: the pod was seen with the IP
   (Hubble flow endpoints, Tetragon connects' source address) within :data:`IP_WINDOW` of the
   call.  Two pods seen with the IP around that time (a host-network IP) attribute nothing;
3. ``'sa'``: the call's own credential is a service account (``sa_of = 'user'``; an
   impersonated one is not a credential a pod holds) and exactly one pod of the case runs as it
   (the pods whose ``create`` the audit log shows with their ``spec.serviceAccountName``).

4. ``'timing'`` (:func:`by_timing`), for a call that acts on a pod (a ``pods/exec``, an attach, a
   pod's create) that no rule above names a pod for — its source address is no pod's (the
   cluster rewrote it: a NAT gateway, a node's address): the one process of the capture whose
   connection to the API server (port 6443, or a known API server address) opened within
   :data:`TIMING_WINDOW` before the call (:data:`TIMING_TOLERANCE` after it), compared on the
   reference clock.  Two processes connecting in that span name nothing; an operator's laptop
   is no process of the capture, so its calls stay unattributed unless a pod's process
   connected in the same second.

**Which process** (``exec_id``, ``conn_event_id``, ``conn_time_ns``): the last connect of that
pod to an API server port (:data:`API_PORTS`; to a known API server address when the case knows
one) at most :data:`CONNECT_WINDOW` before the call (and :data:`TOLERANCE` after it: clocks).
Two things keep a skewed clock from naming the previous process of the pod:

* the connects are compared on the reference clock when they carry ``ref_time_ns`` (the case
  puts them there: :meth:`kernelsec_nb.Case.on_reference_clock`, the node's offset taken out);
* when the first connect just after the call (within :data:`TOLERANCE`) is by a process whose
  arguments name the call's object (``name``: ``kubectl exec web-1``, ``get secret db``) and
  the last one before it is not, the one after sent it (``args`` on the connects): a process
  does not name a pod it has not yet been asked about.

**What it started** (``link``, ``linked_exec_id``, ``linked_exec_ids``, ``target_pod``):

* ``pods/exec``: the first process of the target pod that starts within :data:`EXEC_WINDOW`
  after the call (:data:`TOLERANCE` before) and whose parent is outside the pod (the container
  runtime), not in the container's init tree: the shell the exec started (``'exec'``);
* ``pods/attach`` starts nothing: the first process of the pod in the same window (what the
  attached terminal typed; ``'attach'``);
* ``create`` of a pod: the pod it created (``target_pod`` = its name) and its first processes, in
  start order, from :data:`TOLERANCE` before the call on (``'created-pod'``;
  ``linked_exec_ids`` holds up to :data:`FIRST_PROCESSES`).

Examples
--------
>>> import polars as pl
>>> calls = pl.DataFrame({"call_id": ["c1"], "time_ns": [10_000_000_000], "verb": ["create"],
...     "resource": ["pods"], "subresource": ["exec"], "namespace": ["default"], "name": ["web-1"],
...     "created_name": [None], "request_uri": ["/api/v1/namespaces/default/pods/web-1/exec"]},
...     schema_overrides={"created_name": pl.String})
>>> procs = pl.DataFrame({"exec_id": ["main", "sh"], "namespace": ["default"] * 2, "pod": ["web-1"] * 2,
...     "start_ns": [1, 10_200_000_000], "in_init_tree": [True, False], "parent_pod": [None, None],
...     "parent_namespace": [None, None], "container_name": ["web", "web"]},
...     schema_overrides={"parent_pod": pl.String, "parent_namespace": pl.String})
>>> link_started(calls, procs)["linked_exec_id"].to_list()
['sh']
"""

from __future__ import annotations

import polars as pl

from kernelsec_nb.store.filters import to_duration_ns

#: A pod seen with an IP this long before or after a call still had it.
IP_WINDOW = "10m"
#: The process's connect to the API server at most this long before the call.
CONNECT_WINDOW = "30s"
#: Clocks: a process or connect this long after (before) the call still matches.
TOLERANCE = "2s"
#: The shell a ``pods/exec`` started, within this long after the call.
EXEC_WINDOW = "15s"
#: The first processes of a created pod kept in ``linked_exec_ids``.
FIRST_PROCESSES = 5
#: :func:`by_timing`: the sender's connection at most this long before the call ...
TIMING_WINDOW = "1s"
#: ... or this long after it (what the reference clock leaves of the nodes' skew).
TIMING_TOLERANCE = "500ms"
#: The API server's ports (the ``kubernetes`` service's 443, the server's own 6443).
API_PORTS = (443, 6443)
#: The API server's own port (443 is every HTTPS server's: only a known address says it is the API's).
API_PORT_OWN = 6443

#: Columns :func:`attribute` adds.
SOURCE_COLUMNS = {"src_namespace": pl.String, "src_pod": pl.String, "src_node": pl.String,
                  "src_match": pl.String, "exec_id": pl.String, "conn_event_id": pl.String,
                  "conn_time_ns": pl.Int64}
#: Columns :func:`link_started` adds.
LINK_COLUMNS = {"link": pl.String, "target_pod": pl.String, "linked_exec_id": pl.String,
                "linked_exec_ids": pl.List(pl.String)}


def _ns(value: str | int) -> int:
    return to_duration_ns(value)


def pod_addresses(observations: pl.DataFrame) -> pl.DataFrame:
    """Which pod had which IP when: one row per (ip, namespace, pod) with the first and last
    time it was seen and its node.

    ``observations`` has ``ip``, ``namespace``, ``pod``, ``node``, ``time_ns`` (one row per
    sighting: a flow's endpoint, a connect's source address).

    >>> obs = pl.DataFrame({"ip": ["10.0.0.5"] * 2, "namespace": ["d"] * 2, "pod": ["a"] * 2,
    ...                     "node": ["n1"] * 2, "time_ns": [5, 9]})
    >>> pod_addresses(obs).row(0)
    ('10.0.0.5', 'd', 'a', 'n1', 5, 9)
    """
    typed = observations.select(*(pl.col(c).cast(pl.String) for c in ("ip", "namespace", "pod", "node")),
                                pl.col("time_ns").cast(pl.Int64))
    return (typed.drop_nulls(["ip", "pod", "time_ns"])
            .group_by("ip", "namespace", "pod")
            .agg(pl.col("node").drop_nulls().first(), pl.col("time_ns").min().alias("first_ns"),
                 pl.col("time_ns").max().alias("last_ns"))
            .sort("ip", "first_ns", "namespace", "pod"))


def _by_ip(calls: pl.DataFrame, addresses: pl.DataFrame, window: int) -> pl.DataFrame:
    """call_id -> the one pod seen with its source IP around its time."""
    cand = (calls.select("call_id", "time_ns", "src_ip").drop_nulls()
            .join(addresses, left_on="src_ip", right_on="ip")
            .filter((pl.col("time_ns") >= pl.col("first_ns") - window)
                    & (pl.col("time_ns") <= pl.col("last_ns") + window)))
    one = cand.group_by("call_id").agg(pl.len().alias("_n"), pl.col("namespace").first(),
                                       pl.col("pod").first(), pl.col("node").first())
    return one.filter(pl.col("_n") == 1).drop("_n")


def _by_sa(calls: pl.DataFrame, sa_pods: pl.DataFrame) -> pl.DataFrame:
    """call_id -> the only pod that runs as the call's own service account."""
    # the pod's node: the first one its creates name (a pod created twice may be named once)
    unique = (sa_pods.drop_nulls(["namespace", "sa_name", "pod"]).sort("namespace", "sa_name", "pod", "node")
              .group_by("namespace", "sa_name").agg(pl.col("pod").n_unique().alias("_n"), pl.col("pod").first(),
                                                    pl.col("node").drop_nulls().first())
              .filter(pl.col("_n") == 1).drop("_n"))
    own = calls.filter(pl.col("sa_of") == "user").select("call_id", "sa_namespace", "sa_name")
    return own.join(unique, left_on=["sa_namespace", "sa_name"], right_on=["namespace", "sa_name"]).select(
        "call_id", pl.col("sa_namespace").alias("namespace"), "pod", "node")


def attribute(calls: pl.DataFrame, addresses: pl.DataFrame, sa_pods: pl.DataFrame,
              connects: pl.DataFrame, *, ip_window: str | int = IP_WINDOW,
              connect_window: str | int = CONNECT_WINDOW, tolerance: str | int = TOLERANCE,
              api_addresses: list[str] | None = None, pod_nodes: pl.DataFrame | None = None) -> pl.DataFrame:
    """``calls`` with the pod and the process that sent each (see the module for the rules).

    Parameters
    ----------
    calls : polars.DataFrame
        ``call_id``, ``time_ns``, ``src_ip``, ``sa_namespace``, ``sa_name``, ``sa_of``,
        ``token_pod``, ``token_node``, and for the token rule the pod's namespace in
        ``sa_namespace`` (a pod-bound token is its service account's, in the pod's namespace).
    addresses : polars.DataFrame
        :func:`pod_addresses`.
    sa_pods : polars.DataFrame
        ``namespace``, ``sa_name``, ``pod``, ``node``: pods and the service account they run as.
    connects : polars.DataFrame
        Connect events: ``event_id``, ``time_ns``, ``namespace``, ``pod``, ``exec_id``,
        ``daddr``, ``dport``.
    api_addresses : list of str, optional
        The API server's addresses when known: only connects to them count.
    pod_nodes : polars.DataFrame, optional
        ``namespace``, ``pod``, ``node``: the node of each pod a rule may name, for when
        ``addresses`` holds only the calls' source IPs (the case's way); by default the node of
        the pod's first address in ``addresses`` (in ip, first-seen order) that names one.

    Returns
    -------
    polars.DataFrame
        ``calls`` in their order with :data:`SOURCE_COLUMNS`.

    >>> calls = pl.DataFrame({"call_id": ["c"], "time_ns": [100], "src_ip": ["10.0.0.5"],
    ...     "sa_namespace": [None], "sa_name": [None], "sa_of": [None], "token_pod": [None],
    ...     "token_node": [None]}, schema_overrides={k: pl.String for k in
    ...     ("sa_namespace", "sa_name", "sa_of", "token_pod", "token_node")})
    >>> addr = pod_addresses(pl.DataFrame({"ip": ["10.0.0.5"], "namespace": ["d"], "pod": ["a"],
    ...     "node": ["n1"], "time_ns": [90]}))
    >>> empty = pl.DataFrame(schema={"namespace": pl.String, "sa_name": pl.String, "pod": pl.String,
    ...     "node": pl.String})
    >>> conns = pl.DataFrame({"event_id": ["k"], "time_ns": [80], "namespace": ["d"], "pod": ["a"],
    ...     "exec_id": ["kubectl"], "daddr": ["10.96.0.1"], "dport": [443]})
    >>> attribute(calls, addr, empty, conns).select("src_pod", "src_match", "exec_id").row(0)
    ('a', 'ip', 'kubectl')
    """
    window, cwin, tol = _ns(ip_window), _ns(connect_window), _ns(tolerance)
    token = calls.filter(pl.col("token_pod").is_not_null()).select(
        "call_id", pl.col("sa_namespace").alias("namespace"), pl.col("token_pod").alias("pod"),
        pl.col("token_node").alias("node"))
    ip = _by_ip(calls, addresses, window)
    sa = _by_sa(calls, sa_pods)
    found = pl.concat([token.with_columns(pl.lit("token").alias("src_match"), pl.lit(0).alias("_rule")),
                       ip.with_columns(pl.lit("ip").alias("src_match"), pl.lit(1).alias("_rule")),
                       sa.with_columns(pl.lit("sa").alias("src_match"), pl.lit(2).alias("_rule"))],
                      how="vertical_relaxed")
    best = (found.sort("call_id", "_rule").unique("call_id", keep="first")
            .select("call_id", pl.col("namespace").alias("src_namespace"), pl.col("pod").alias("src_pod"),
                    pl.col("node").alias("src_node"), "src_match"))
    # a token or SA rule names no node: the pod's node from its addresses
    if pod_nodes is None:  # the node of its first address (in ip, first-seen order) that names one
        nodes = (addresses.drop_nulls("node").sort("ip", "first_ns", "namespace", "pod")
                 .group_by("namespace", "pod").agg(pl.col("node").first().alias("_node")))
    else:
        nodes = pod_nodes.select("namespace", "pod", pl.col("node").alias("_node"))
    best = (best.join(nodes, left_on=["src_namespace", "src_pod"], right_on=["namespace", "pod"], how="left")
            .with_columns(pl.coalesce("src_node", "_node").alias("src_node")).drop("_node"))
    out = calls.join(best, on="call_id", how="left", maintain_order="left")
    return _process(out, connects, cwin, tol, api_addresses)


def _process(calls: pl.DataFrame, connects: pl.DataFrame, window: int, tol: int,
             api_addresses: list[str] | None) -> pl.DataFrame:
    conn = connects.filter(pl.col("dport").is_in(list(API_PORTS)) & pl.col("pod").is_not_null())
    if api_addresses:
        conn = conn.filter(pl.col("daddr").is_in(api_addresses))
    # the last connect of the pod at or before the call (within the window), else the first one
    # just after it (within the tolerance): two as-of joins, no pairs of calls and connects
    name = (pl.col("name") if "name" in calls.columns else pl.lit(None)).cast(pl.String).alias("_name")
    left = (calls.select("call_id", "time_ns", pl.col("src_namespace").alias("_ns"), pl.col("src_pod").alias("_pod"), name)
            .drop_nulls(["call_id", "time_ns", "_ns", "_pod"]).sort("time_ns"))
    # the time compared: the connect's on the reference clock when the case gave it
    match = pl.col("ref_time_ns") if "ref_time_ns" in conn.columns else pl.col("time_ns")
    args = pl.col("args").cast(pl.String) if "args" in conn.columns else pl.lit(None, pl.String)
    right = (conn.select(pl.col("namespace").cast(pl.String).alias("_ns"), pl.col("pod").cast(pl.String).alias("_pod"),
                         pl.col("event_id").alias("conn_event_id"), pl.col("time_ns").cast(pl.Int64).alias("conn_time_ns"),
                         "exec_id", match.cast(pl.Int64).alias("_t"), args.alias("_args"))
             .drop_nulls(["_t"]).sort("_t", "conn_event_id"))
    cols = ["exec_id", "conn_event_id", "conn_time_ns"]
    before = left.join_asof(right, left_on="time_ns", right_on="_t", by=["_ns", "_pod"],
                            strategy="backward", tolerance=window, check_sortedness=False)
    after = left.join_asof(right, left_on="time_ns", right_on="_t", by=["_ns", "_pod"],
                           strategy="forward", tolerance=tol, check_sortedness=False)
    # an as-of join keeps its left rows in order: the two line up row for row
    both = before.select("call_id", "_name", *cols, "_args").hstack(
        after.select(*(pl.col(c).alias(f"_a_{c}") for c in [*cols, "_args"])).get_columns())

    def names(col: str) -> pl.Expr:
        return (pl.col("_name").is_not_null() & (pl.col("_name").str.len_chars() > 0)
                & pl.col(col).str.contains(pl.col("_name"), literal=True)).fill_null(False)

    use = pl.col("conn_time_ns").is_not_null() & ~(names("_a__args") & ~names("_args"))
    best = both.select(
        "call_id", *(pl.when(use).then(pl.col(c)).otherwise(pl.col(f"_a_{c}")).alias(c) for c in cols))
    return calls.join(best, on="call_id", how="left", maintain_order="left")


def unsourced(calls: pl.DataFrame) -> pl.DataFrame:
    """The calls that act on a pod (``pods/exec``, ``pods/attach``, a pod's ``create``) and that
    no rule of :func:`attribute` named a sending pod for: :func:`by_timing`'s work."""
    sub = pl.col("subresource") if "subresource" in calls.columns else pl.lit(None, pl.String)
    made = pl.col("created_name") if "created_name" in calls.columns else pl.lit(None, pl.String)
    pod = pl.col("src_pod") if "src_pod" in calls.columns else pl.lit(None, pl.String)
    acts = (pl.col("resource") == "pods") & (sub.is_in(["exec", "attach"]).fill_null(False)
                                             | (sub.is_null() & (pl.col("verb") == "create") & made.is_not_null()))
    return calls.filter(pod.is_null() & acts.fill_null(False) & pl.col("time_ns").is_not_null())


def by_timing(calls: pl.DataFrame, connects: pl.DataFrame, *, api_addresses: list[str] | None = None,
              window: str | int = TIMING_WINDOW, tolerance: str | int = TIMING_TOLERANCE) -> pl.DataFrame:
    """``calls`` (with :data:`SOURCE_COLUMNS`, from :func:`attribute`) where a call that acts on
    a pod (``pods/exec``, ``pods/attach``, a pod's ``create``) has no sending pod yet: the pod and
    process of the one process whose connection to the API server (:data:`API_PORT_OWN`, or
    ``api_addresses``) opened from ``window`` before the call to ``tolerance`` after it
    (``src_match`` ``'timing'``; see the module).

    ``connects``: ``event_id``, ``time_ns``, ``node``, ``namespace``, ``pod``, ``exec_id``,
    ``daddr``, ``dport``, and ``ref_time_ns`` when the case put them on the reference clock.

    >>> calls = pl.DataFrame({"call_id": ["c"], "time_ns": [1_000], "verb": ["create"], "resource": ["pods"],
    ...     "subresource": ["exec"], "created_name": [None], "src_pod": [None]},
    ...     schema_overrides={"created_name": pl.String, "src_pod": pl.String})
    >>> conns = pl.DataFrame({"event_id": ["k"], "time_ns": [980], "node": ["n1"], "namespace": ["ops"],
    ...     "pod": ["jump-1"], "exec_id": ["plugin"], "daddr": ["172.18.0.2"], "dport": [6443]})
    >>> by_timing(calls, conns).select("src_pod", "src_match", "exec_id").row(0)
    ('jump-1', 'timing', 'plugin')
    """
    win, tol = _ns(window), _ns(tolerance)
    for c, dtype in SOURCE_COLUMNS.items():
        if c not in calls.columns:
            calls = calls.with_columns(pl.lit(None, dtype).alias(c))
    todo = unsourced(calls)
    if todo.height == 0 or connects.height == 0:
        return calls
    to_api = pl.col("dport") == API_PORT_OWN
    if api_addresses:
        to_api = to_api | pl.col("daddr").cast(pl.String).is_in(api_addresses)
    match = pl.col("ref_time_ns") if "ref_time_ns" in connects.columns else pl.col("time_ns")
    right = (connects.filter(to_api.fill_null(False) & pl.col("pod").is_not_null() & pl.col("exec_id").is_not_null())
             .select(match.cast(pl.Int64).alias("_t"), pl.col("exec_id").alias("_x"),
                     pl.col("namespace").cast(pl.String).alias("_ns"), pl.col("pod").cast(pl.String).alias("_pod"),
                     pl.col("node").cast(pl.String).alias("_node"), pl.col("event_id").alias("_cev"),
                     pl.col("time_ns").cast(pl.Int64).alias("_ct"))
             .drop_nulls("_t").sort("_t", "_cev"))
    if right.height == 0:
        return calls
    # each call's connects in [t - window, t + tolerance]: two binary searches, no pairs of all
    t = todo["time_ns"].cast(pl.Int64)
    lo = right["_t"].search_sorted(t - win, side="left")
    hi = right["_t"].search_sorted(t + tol, side="right")
    span = todo.select("call_id").with_columns(lo.alias("_lo"), hi.alias("_hi")).filter(
        (pl.col("_hi") > pl.col("_lo")) & (pl.col("_hi") - pl.col("_lo") <= 16))
    if span.height == 0:
        return calls
    cand = span.with_columns(pl.int_ranges("_lo", "_hi").alias("_i")).explode("_i").join(
        right.with_row_index("_i").with_columns(pl.col("_i").cast(pl.Int64)), on="_i")
    one = (cand.sort("call_id", "_t").group_by("call_id")
           .agg(pl.col("_x").n_unique().alias("_n"), pl.col("_x", "_ns", "_pod", "_node", "_cev", "_ct").last())
           .filter(pl.col("_n") == 1))
    if one.height == 0:
        return calls
    out = calls.join(one, on="call_id", how="left", maintain_order="left")
    hit = pl.col("_x").is_not_null()
    fill = {"src_namespace": "_ns", "src_pod": "_pod", "src_node": "_node", "exec_id": "_x",
            "conn_event_id": "_cev", "conn_time_ns": "_ct"}
    out = out.with_columns(*(pl.when(hit).then(pl.col(v)).otherwise(pl.col(k)).cast(SOURCE_COLUMNS[k]).alias(k)
                             for k, v in fill.items()),
                           pl.when(hit).then(pl.lit("timing")).otherwise(pl.col("src_match")).alias("src_match"))
    return out.drop("_n", "_x", "_ns", "_pod", "_node", "_cev", "_ct")


def _container(uri: str) -> pl.Expr:
    return pl.col(uri).str.extract(r"[?&]container=([^&]+)", 1)


def _link_kind() -> pl.Expr:
    is_pods = pl.col("resource") == "pods"
    return (pl.when(is_pods & (pl.col("subresource") == "exec")).then(pl.lit("exec"))
            .when(is_pods & (pl.col("subresource") == "attach")).then(pl.lit("attach"))
            .when(is_pods & pl.col("subresource").is_null() & (pl.col("verb") == "create")
                  & pl.col("created_name").is_not_null()).then(pl.lit("created-pod")))


def link_targets(calls: pl.DataFrame) -> pl.DataFrame:
    """The (``namespace``, ``pod``) pairs whose processes :func:`link_started` reads: the pods
    the calls exec into, attach to or create (fetch only those processes)."""
    kind = _link_kind()
    pod = pl.when(kind == "created-pod").then(pl.col("created_name")).otherwise(pl.col("name"))
    return (calls.filter(kind.is_not_null()).select(pl.col("namespace").cast(pl.String), pod.cast(pl.String).alias("pod"))
            .drop_nulls().unique().sort("namespace", "pod"))


def link_started(calls: pl.DataFrame, processes: pl.DataFrame, *, exec_window: str | int = EXEC_WINDOW,
                 tolerance: str | int = TOLERANCE, first: int = FIRST_PROCESSES) -> pl.DataFrame:
    """``calls`` with what each started (see the module): :data:`LINK_COLUMNS`.

    ``processes`` has ``exec_id``, ``namespace``, ``pod``, ``start_ns``, ``in_init_tree``,
    ``parent_pod``, ``parent_namespace`` and ``container_name`` (times on the calls' clock).
    """
    window, tol = _ns(exec_window), _ns(tolerance)
    is_pods = pl.col("resource") == "pods"
    kind = _link_kind()
    target = pl.when(pl.col("link") == "created-pod").then(pl.col("created_name")).otherwise(
        pl.when(is_pods).then(pl.col("name")))
    calls = calls.with_columns(kind.alias("link")).with_columns(target.alias("target_pod"))
    todo = calls.filter(pl.col("link").is_not_null()).select(
        "call_id", "time_ns", "link", "namespace", "target_pod", _container("request_uri").alias("_container"))
    procs = processes.select("exec_id", "namespace", "pod", "start_ns", "in_init_tree", "parent_pod",
                             "parent_namespace", "container_name").drop_nulls(["pod", "start_ns"])
    cand = (todo.join(procs, left_on=["namespace", "target_pod"], right_on=["namespace", "pod"])
            .filter(pl.col("start_ns") >= pl.col("time_ns") - tol))
    outside = (~pl.col("in_init_tree").fill_null(False)
               & ((pl.col("parent_pod").is_null()) | (pl.col("parent_pod") != pl.col("target_pod"))
                  | (pl.col("parent_namespace") != pl.col("namespace")).fill_null(False)))
    same_container = pl.col("_container").is_null() | pl.col("container_name").is_null() | (
        pl.col("_container") == pl.col("container_name"))
    in_window = pl.col("start_ns") <= pl.col("time_ns") + window
    keep = (((pl.col("link") == "exec") & outside & same_container & in_window)
            | ((pl.col("link") == "attach") & same_container & in_window)
            | (pl.col("link") == "created-pod"))
    linked = (cand.filter(keep).sort("call_id", "start_ns", "exec_id")
              .group_by("call_id", maintain_order=True)
              .agg(pl.col("exec_id").first().alias("linked_exec_id"),
                   pl.col("exec_id").head(first).alias("linked_exec_ids")))
    # a created pod's first processes; an exec's (an attach's) one process
    out = calls.join(linked, on="call_id", how="left", maintain_order="left")
    return out.with_columns(
        pl.when(pl.col("link") == "created-pod").then(pl.col("linked_exec_ids"))
        .otherwise(pl.col("linked_exec_ids").list.head(1)).alias("linked_exec_ids"))
