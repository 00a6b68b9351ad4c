"""Acts through the Kubernetes API that the audit log names (``case.api_calls()``).

Small functions of plain polars frames, each unit-tested on a few rows:

* :func:`controller_edges` — a ``create``/``patch`` of a controller object (CronJob, Job,
  Deployment, DaemonSet, StatefulSet, ReplicaSet) by a process of the capture → the first process
  of each pod its controllers made from it later: a pod of the same namespace whose name is the
  object's name and the suffix the controllers generate (CronJob ``x`` → Job ``x-<n>`` → pod
  ``x-<n>-<5 chars>``; Deployment ``x`` → ``x-<hash>-<5>``; Job, DaemonSet, ReplicaSet ``x`` →
  ``x-<5>``; StatefulSet ``x`` → ``x-<ordinal>``) whose first process started after the call
  (edge kind :data:`CONTROLLER`).  The controller-manager's own calls need not be in the log;
* :func:`controller_acts` — a ``create`` of one is an act of its sender (evidence kind
  ``persistence``, rule ``engine:api_controller``): ATT&CK T1053.007 for a CronJob, T1610 (deploy
  a container) for the others, whether or not its pods ran during the capture (a schedule may
  fire after it).  A ``patch`` is what every rollout does (a CI job's deploy step): it is no act
  by itself, only the link to the pods it makes, whose own acts then count;
* :func:`api_server_edges` — a process → the API server it called (edge kind :data:`API_SERVER`,
  node :data:`API_SERVER_NODE`): a connection to port 6443 or to the destination Cilium labels
  ``reserved:kube-apiserver``, or a call the audit log names.  No link between processes and no
  evidence (every operator calls the API all day): only the incident's key command among the
  processes of a line that did nothing else (see ``_incident._key``);
* :func:`routine_pod_creates` — a ``create`` of a pod through the API that is a workload's
  routine, not a deployment by an intruder: sent by the main process of a pod (a Spark driver, an
  operator, a CI runner's agent) into its own namespace, again and again from one template (two
  or more created names alike once numbers and hex ids are masked).  Such a call and what its
  rule says weigh nothing, and the pods it made are their own parts (each a lead at most) — an
  executor pod that then does something suspicious is found by what it does.

Examples
--------
>>> calls = pl.DataFrame({"exec_id": ["k"], "verb": ["create"], "resource": ["cronjobs"],
...     "subresource": [None], "namespace": ["pay"], "name": ["rec"], "created_name": ["rec"],
...     "time_ns": [10], "event_id": ["a1"], "user": ["system:serviceaccount:tools:x"]},
...     schema_overrides={"subresource": pl.String})
>>> procs = pl.DataFrame({"exec_id": ["j"], "namespace": ["pay"], "pod": ["rec-2864-dx7q2"],
...     "start_ns": [500], "binary": ["/bin/sh"]})
>>> controller_edges(calls, procs).select("src", "dst", "kind").rows()
[('proc:k', 'proc:j', 'controller')]
"""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import _evidence as E
from kernelsec_nb.findings import graph as G
from kernelsec_nb.findings.routine import arg_shape

#: Edge kind: a call creating a controller object → the first process of a pod made from it.
CONTROLLER = "controller"
#: Controller resources whose objects make pods, and the ATT&CK technique of creating one.
CONTROLLERS = {"cronjobs": "T1053.007", "jobs": "T1610", "deployments": "T1610", "daemonsets": "T1610",
               "statefulsets": "T1610", "replicasets": "T1610"}
#: Verbs that create or change a controller object's pod template.
WRITE_VERBS = ("create", "patch", "update")
#: Rule id of the engine's evidence for such a call.
RULE = "engine:api_controller"
#: Edge kind: a process → the Kubernetes API server it called (no link: who used the API).
API_SERVER = "api_server"
#: The graph's node id of the Kubernetes API server.
API_SERVER_NODE = "k8s:apiserver"


def _col(frame: pl.DataFrame, name: str, dtype: pl.DataType | type[pl.DataType] = pl.String) -> pl.Expr:
    return pl.col(name) if name in frame.columns else pl.lit(None, dtype).alias(name)


def pod_suffix(hash_min: int = 6) -> str:
    """The pattern of what the controllers append to an object's name for its pods (and a CronJob's
    Jobs, a Deployment's ReplicaSets): ``<n>-<5>`` (a CronJob's run) or ``<hash>-<5>`` (a
    ReplicaSet's template hash, ``hash_min`` to 10 characters), ``<5>`` (a Job, a DaemonSet), an
    ordinal (a StatefulSet).  A hash is nearly always 8 to 10 characters; ``hash_min`` 6 keeps a
    DaemonSet ``web-ab``'s pods from being taken for Deployment ``web``'s when the owner is only a
    name, 1 takes any when the pod's own workload is known.

    >>> import re
    >>> [bool(re.match(pod_suffix(), x)) for x in ("7d9f8c6b5-qx2lz", "qx2lz", "0", "28901234-ab1cd", "ab-qx2lz")]
    [True, True, True, True, False]
    >>> bool(re.match(pod_suffix(1), "ab-qx2lz"))
    True
    """
    return rf"^(\d+|[a-z0-9]{{5}}|(\d+|[a-z0-9]{{{hash_min},10}})-[a-z0-9]{{5}})$"


#: What the controllers append to an object's name for its pods (:func:`pod_suffix`).
POD_SUFFIX = pod_suffix()


def named_after(owner: pl.Expr, suffix: str = POD_SUFFIX, pod: pl.Expr | None = None) -> pl.Expr:
    """Whether ``pod`` (default the column ``pod``) is named as a controller names the pods it makes
    from ``owner``: ``<owner>-`` then what matches ``suffix`` (:data:`POD_SUFFIX`, or another
    controller's pattern, a CronJob run's).

    >>> f = pl.DataFrame({"pod": ["web-7d9f8c6b5-qx2lz", "web-api-qx2lz", "db-0"], "owner": ["web", "web", "db"]})
    >>> f.select(named_after(pl.col("owner")))["pod"].to_list()
    [True, False, True]
    """
    pod = pl.col("pod") if pod is None else pod
    return pod.str.starts_with(owner + "-") & pod.str.slice(owner.str.len_chars() + 1).str.contains(suffix)


#: The owner's name in the name of a pod its controllers made, per controller resource (what
#: :func:`pod_suffix` appends, taken off): a CronJob's ``x-<n>-<5>``, a Deployment's
#: ``x-<hash>-<5>``, a StatefulSet's ``x-<ordinal>``, the others' ``x-<5>``.
OWNER_IN_POD = {"cronjobs": r"^(.+)-\d+-[a-z0-9]{5}$", "deployments": r"^(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$",
                "statefulsets": r"^(.+)-\d+$", "jobs": r"^(.+)-[a-z0-9]{5}$", "daemonsets": r"^(.+)-[a-z0-9]{5}$",
                "replicasets": r"^(.+)-[a-z0-9]{5}$"}


def nameless_owners(own: pl.DataFrame, procs: pl.DataFrame) -> pl.DataFrame:
    """``own`` (calls as :func:`controller_calls` returns them, the nameless kept) with the name of
    each ``create`` whose audit event names no object (``generateName``, or a manifest's name the
    log's ``Metadata`` level does not echo) taken from the pods: of the owners (:data:`OWNER_IN_POD`
    for its resource) of the pods of its namespace, the one whose first pod started first after the
    call — no pod of it started before the call (nor ran before the capture), and no call of the
    log names it.  Still nameless when none is (its pods ran after the capture).

    >>> own = pl.DataFrame({"exec_id": ["k", "o"], "time_ns": [10, 1], "event_id": ["a", "b"],
    ...     "verb": ["create"] * 2, "resource": ["cronjobs"] * 2, "namespace": ["apps"] * 2,
    ...     "owner": [None, "warm"], "user": ["u"] * 2})
    >>> procs = pl.DataFrame({"exec_id": ["w", "o1", "m1", "m2"], "namespace": ["apps"] * 4,
    ...     "pod": ["warm-2861-ab1cd", "old-2860-zz9yy", "lc-2862-qx2lz", "lc-2863-p0o9i"],
    ...     "start_ns": [20, 5, 30, 40]})
    >>> nameless_owners(own, procs)["owner"].to_list()
    ['lc', 'warm']
    """
    blank = own.filter(pl.col("owner").is_null() & (pl.col("verb") == "create"))
    if blank.height == 0 or procs.height == 0 or not {"namespace", "pod", "start_ns"} <= set(procs.columns):
        return own.with_columns(pl.lit(False).alias("owner_from_pods"))
    pods = procs.filter(pl.col("pod").is_not_null()).group_by(
        pl.col("namespace").cast(pl.String), "pod").agg(pl.col("start_ns").min().alias("_first"),
                                                       pl.col("start_ns").null_count().alias("_before"))
    named = set(own.filter(pl.col("owner").is_not_null()).select("namespace", "owner").iter_rows())
    found: dict[str, str] = {}
    for event_id, t, resource, ns in blank.select("event_id", "time_ns", "resource", "namespace").iter_rows():
        o = pods.filter(pl.col("namespace").eq_missing(ns)).with_columns(
            pl.col("pod").str.extract(OWNER_IN_POD.get(resource, OWNER_IN_POD["jobs"]), 1).alias("_owner")
        ).filter(pl.col("_owner").is_not_null()).group_by("_owner").agg(
            pl.col("_first").min(), pl.col("_before").sum())
        o = o.filter((pl.col("_before") == 0) & (pl.col("_first") >= t)
                     & ~pl.col("_owner").is_in([n for s_, n in named if s_ == ns]))
        if o.height:
            found[event_id] = o.sort("_first", "_owner")["_owner"][0]
    return own.with_columns(pl.coalesce("owner", pl.col("event_id").replace_strict(
        found, default=None, return_dtype=pl.String)).alias("owner"),
        (pl.col("owner").is_null() & pl.col("event_id").is_in(list(found))).alias("owner_from_pods"))


def controller_calls(calls: pl.DataFrame, procs: pl.DataFrame | None = None) -> pl.DataFrame:
    """The calls that create or change a controller object, sent by a known process:
    ``exec_id``, ``time_ns``, ``event_id``, ``verb``, ``resource``, ``namespace``, ``owner``
    (the object's name; of a nameless ``create``, the one :func:`nameless_owners` finds in
    ``procs``), ``user``, ``owner_from_pods`` (the name is the pods', not the log's)."""
    if calls is None or calls.height == 0 or "resource" not in calls.columns:
        return pl.DataFrame(schema={"exec_id": pl.String, "time_ns": pl.Int64, "event_id": pl.String,
                                    "verb": pl.String, "resource": pl.String, "namespace": pl.String,
                                    "owner": pl.String, "user": pl.String, "owner_from_pods": pl.Boolean})
    c = calls.filter(pl.col("exec_id").is_not_null() & pl.col("verb").is_in(list(WRITE_VERBS))
                     & pl.col("resource").is_in(list(CONTROLLERS)) & _col(calls, "subresource").is_null()
                     & (_col(calls, "code", pl.Int64).fill_null(200) < 400))
    c = c.select("exec_id", pl.col("time_ns").cast(pl.Int64), _col(c, "event_id"), "verb", "resource",
                 pl.col("namespace").cast(pl.String),
                 pl.coalesce(_col(c, "created_name"), _col(c, "name")).alias("owner"), _col(c, "user"))
    c = nameless_owners(c, procs) if procs is not None else c.with_columns(pl.lit(False).alias("owner_from_pods"))
    return c.filter(pl.col("owner").is_not_null())


def _owner_text(c: pl.DataFrame) -> pl.Expr:
    """The object's name as the findings say it: one the pods gave (:func:`nameless_owners`) says so."""
    return pl.when(_col(c, "owner_from_pods", pl.Boolean).fill_null(False)).then(
        pl.format("{} (the log names none: its pods' name)", "owner")).otherwise(pl.col("owner"))


def controller_edges(calls: pl.DataFrame, procs: pl.DataFrame) -> pl.DataFrame:
    """A call creating or changing a controller object → the first process of each pod of the
    same namespace, named as its controllers name its pods (:data:`POD_SUFFIX` after the
    object's name), that started after the call (see the module).  ``procs``: ``exec_id``,
    ``namespace``, ``pod``, ``start_ns`` (``seen_as`` ``exec`` when given: the pod's start is in
    the capture)."""
    own = controller_calls(calls, procs)
    if own.height == 0 or procs.height == 0:
        return G.empty_edges()
    seen = _col(procs, "seen_as").fill_null("exec")
    first = (procs.filter(pl.col("pod").is_not_null() & pl.col("start_ns").is_not_null())
             .sort("start_ns").group_by("namespace", "pod", maintain_order=True).first()
             .filter(seen == "exec").select("exec_id", pl.col("namespace").cast(pl.String), "pod", "start_ns"))
    hit = own.rename({"exec_id": "_src"}).join(first, on="namespace").filter(
        named_after(pl.col("owner"))
        & (pl.col("start_ns") >= pl.col("time_ns")))
    # a pod made from the latest such call before it (a patch after the create: the patch's)
    hit = hit.sort("time_ns").unique("exec_id", keep="last", maintain_order=True).sort("start_ns")
    return G._edges(hit.select(
        G.proc_id("_src").alias("src"), G.proc_id().alias("dst"), pl.lit(CONTROLLER).alias("kind"),
        pl.col("start_ns").alias("time_ns"),
        pl.format("{} {} {}/{} by {} (audit log) → pod {} started {} s later", "verb", "resource", "namespace",
                  _owner_text(hit), pl.col("user").fill_null("?"), "pod",
                  (pl.col("start_ns") - pl.col("time_ns")) // G.NS).alias("why"),
        "event_id"))


def controller_acts(calls: pl.DataFrame, s: E.EvidenceSettings = E.DEFAULT, weight: float = 2.0,
                    procs: pl.DataFrame | None = None) -> pl.DataFrame:
    """Evidence (kind ``persistence``, rule :data:`RULE`) for the sender of each call that
    creates a controller object, with its ATT&CK technique (:data:`CONTROLLERS`); a ``patch`` is
    none (see the module).  A nameless ``create`` counts with the name found in ``procs``
    (:func:`nameless_owners`).

    >>> c = pl.DataFrame({"exec_id": ["k"], "verb": ["create"], "resource": ["cronjobs"], "namespace": ["p"],
    ...     "name": ["x"], "time_ns": [1], "event_id": ["a"], "user": ["u"]})
    >>> controller_acts(c).select("exec_id", "kind", "techniques").rows()
    [('k', 'persistence', ['T1053.007'])]
    """
    own = controller_calls(calls, procs).filter(pl.col("verb") == "create")
    if own.height == 0:
        return E.empty_evidence()
    return E._rows(own.select(
        "exec_id", pl.lit(E.PERSIST).alias("kind"), pl.lit(weight).alias("weight"),
        pl.format("{} {} {}/{} through the Kubernetes API (audit log): its controllers make pods from it",
                  "verb", "resource", "namespace", _owner_text(own)).alias("text"),
        "event_id", pl.lit(RULE).alias("rule_id"),
        pl.col("resource").replace_strict(CONTROLLERS, default="T1610").cast(pl.String)
        .map_elements(lambda t: [t], return_dtype=pl.List(pl.String)).alias("techniques")))


def _labelled_api(frame: pl.DataFrame) -> pl.Expr:
    """Whether a flow's ``dst_labels`` (a map, a list of keys or of key/value structs, or text)
    has Cilium's label of the API server."""
    if "dst_labels" not in frame.columns:
        return pl.lit(False)
    dtype = frame.schema["dst_labels"]
    col = pl.col("dst_labels")
    if isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct):
        hit = col.list.eval(pl.element().struct.field("key") == G.API_LABEL).list.any()
    elif isinstance(dtype, pl.List):
        hit = col.list.contains(G.API_LABEL)
    elif dtype == pl.String:
        hit = col.str.contains(G.API_LABEL, literal=True)
    elif hasattr(pl, "Map") and isinstance(dtype, pl.Map):  # polars >= 2: DuckDB's MAP
        hit = col.map.keys().list.contains(G.API_LABEL)
    else:
        return pl.lit(False)
    return hit.fill_null(False)


def _connection_calls(conns: pl.DataFrame) -> pl.DataFrame:
    if conns.height == 0 or not {"exec_id", "dst_port", "time_ns"} <= set(conns.columns):
        return G.empty_edges()
    went = ~_col(conns, "verdict").fill_null("").is_in(["DROPPED", "DENIED", "ERROR"]) \
        & ~_col(conns, "is_reply", pl.Boolean).fill_null(False)
    c = conns.filter(pl.col("exec_id").is_not_null() & pl.col("time_ns").is_not_null() & went
                     & ((pl.col("dst_port") == G.API_PORT).fill_null(False) | _labelled_api(conns)))
    return G._edges(c.select(
        G.proc_id().alias("src"), pl.lit(API_SERVER_NODE).alias("dst"), pl.lit(API_SERVER).alias("kind"),
        pl.col("time_ns").cast(pl.Int64),
        pl.format("called the Kubernetes API server ({}:{}; what it read or changed, only an audit log says)",
                  _col(c, "dst_ip"), "dst_port").alias("why"), _col(c, "event_id")))


def api_server_edges(conns: pl.DataFrame | list[pl.DataFrame], calls: pl.DataFrame | None = None) -> pl.DataFrame:
    """Each process that called the Kubernetes API server → the API server
    (:data:`API_SERVER_NODE`), once per process, at its first call: a sender of a call the audit
    log names (``calls``: ``case.api_calls()``, its ``verb``, ``resource``, ``namespace`` and
    ``name`` in ``why``), else a process of ``conns`` (flows or connect hooks: ``exec_id``,
    ``dst_ip``, ``dst_port``, ``time_ns``, ``event_id``, optionally ``dst_labels``, ``is_reply``,
    ``verdict``; one frame or several) whose connection to
    :data:`~kernelsec_nb.findings.graph.API_PORT`, or to a destination labelled
    :data:`~kernelsec_nb.findings.graph.API_LABEL`, went through — what that read or changed only
    an audit log says, and its ``why`` says so.

    >>> c = pl.DataFrame({"exec_id": ["curl", "web"], "dst_ip": ["172.18.0.2", "10.0.0.5"],
    ...     "dst_port": [6443, 8080], "time_ns": [5, 6], "event_id": ["f1", "f2"]})
    >>> api_server_edges(c).select("src", "dst", "kind").rows()
    [('proc:curl', 'k8s:apiserver', 'api_server')]
    """
    found = [_connection_calls(c) for c in (conns if isinstance(conns, list) else [conns]) if c is not None]
    named = G.empty_edges()
    if calls is not None and calls.height and {"exec_id", "verb", "resource", "time_ns"} <= set(calls.columns):
        a = calls.filter(pl.col("exec_id").is_not_null() & pl.col("time_ns").is_not_null())
        what = pl.when(_col(a, "subresource").is_not_null()).then(
            pl.concat_str([pl.col("resource"), pl.lit("/"), _col(a, "subresource")])).otherwise(pl.col("resource"))
        ns, name = _col(a, "namespace"), _col(a, "name")
        where = (pl.when(name.is_not_null()).then(pl.concat_str([pl.lit(" "), ns.fill_null(""), pl.lit("/"), name]))
                 .when(ns.is_not_null()).then(pl.lit(" in ") + ns).otherwise(pl.lit("")))
        named = G._edges(a.select(
            G.proc_id().alias("src"), pl.lit(API_SERVER_NODE).alias("dst"), pl.lit(API_SERVER).alias("kind"),
            pl.col("time_ns").cast(pl.Int64),
            pl.format("called the Kubernetes API: {} {}{} (audit log)", "verb", what, where).alias("why"),
            _col(a, "event_id")))
    # a process the audit log names keeps the log's words, not the connection's
    seen = pl.concat([G.empty_edges(), *found]).join(named.select("src"), on="src", how="anti")
    out = pl.concat([named, seen]).sort("time_ns")
    return out.unique("src", keep="first", maintain_order=True) if out.height else out


def routine_pod_creates(calls: pl.DataFrame, mains: list[str] | pl.Series, min_creates: int = 2) -> pl.DataFrame:
    """The ``create`` calls of pods that are their sender's routine (see the module): sent by a
    container's main process (``mains``) into its own pod's namespace (``src_namespace``),
    at least ``min_creates`` times with names alike once numbers and hex ids are masked
    (:func:`~kernelsec_nb.findings.routine.arg_shape`).  Returns ``event_id``, ``exec_id``,
    ``linked_exec_id``.

    >>> c = pl.DataFrame({"exec_id": ["drv"] * 2, "verb": ["create"] * 2, "resource": ["pods"] * 2,
    ...     "subresource": [None] * 2, "namespace": ["d"] * 2, "src_namespace": ["d"] * 2,
    ...     "created_name": ["agg-3f9a2c-exec-1", "agg-3f9a2c-exec-2"], "event_id": ["a", "b"],
    ...     "linked_exec_id": ["e1", "e2"]}, schema_overrides={"subresource": pl.String})
    >>> routine_pod_creates(c, ["drv"])["event_id"].to_list()
    ['a', 'b']
    >>> routine_pod_creates(c.head(1), ["drv"]).height
    0
    """
    cols = {"event_id": pl.String, "exec_id": pl.String, "linked_exec_id": pl.String}
    if calls is None or calls.height == 0 or "created_name" not in calls.columns:
        return pl.DataFrame(schema=cols)
    main = pl.Series(list(mains), dtype=pl.String).implode()
    c = calls.filter((pl.col("verb") == "create") & (pl.col("resource") == "pods")
                     & _col(calls, "subresource").is_null() & pl.col("created_name").is_not_null()
                     & pl.col("exec_id").is_in(main)
                     & (pl.col("namespace") == _col(calls, "src_namespace")).fill_null(False))
    if c.height == 0:
        return pl.DataFrame(schema=cols)
    c = c.with_columns(arg_shape(pl.col("created_name")).alias("_shape"))
    c = c.filter(pl.len().over("exec_id", "_shape") >= min_creates)
    return c.select(_col(c, "event_id"), "exec_id", _col(c, "linked_exec_id")).cast(cols)  # type: ignore[arg-type]


def unusual_senders(calls: pl.DataFrame | None, procs: pl.DataFrame) -> pl.Series:
    """The processes that sent a call the audit log links to what it started in a pod (a
    ``pods/exec``, an attach, a pod's ``create``: ``linked_exec_id``) while fewer than half of
    their command's runs (same workload, binary and :func:`~kernelsec_nb.findings.routine.arg_shape`
    of the arguments) sent one: a routine tool (a jump pod's log-tailing plugin, run in every
    session) that once also opened a shell in another pod did something its command does not
    do — that run is no routine, and it links its part to what the shell did.  An operator's
    ``kubectl exec`` sends its call on every run and stays routine.

    >>> calls = pl.DataFrame({"exec_id": ["p2"], "linked_exec_id": ["sh"]})
    >>> procs = pl.DataFrame({"exec_id": ["p1", "p2", "p3"], "workload": ["ops"] * 3,
    ...     "binary": ["/bin/plug"] * 3, "args": ["-n a web"] * 3})
    >>> unusual_senders(calls, procs).to_list()
    ['p2']
    """
    none = pl.Series("exec_id", [], dtype=pl.String)
    if calls is None or calls.height == 0 or procs.height == 0 or "linked_exec_id" not in calls.columns:
        return none
    sent = calls.filter(pl.col("exec_id").is_not_null() & pl.col("linked_exec_id").is_not_null())["exec_id"].unique()
    if sent.len() == 0:
        return none
    key = [_col(procs, "workload").fill_null(""), pl.col("binary").fill_null(""), arg_shape(_col(procs, "args"))]
    p = procs.select("exec_id", *(k.alias(f"_k{n}") for n, k in enumerate(key))).unique("exec_id").with_columns(
        pl.col("exec_id").is_in(sent.implode()).alias("_sent"))
    p = p.with_columns(pl.len().over("_k0", "_k1", "_k2").alias("_runs"),
                       pl.col("_sent").sum().over("_k0", "_k1", "_k2").alias("_senders"))
    return p.filter(pl.col("_sent") & (pl.col("_senders") * 2 < pl.col("_runs")))["exec_id"]


__all__ = ["API_SERVER", "API_SERVER_NODE", "CONTROLLER", "CONTROLLERS", "OWNER_IN_POD", "POD_SUFFIX", "RULE",
           "nameless_owners", "named_after", "pod_suffix", "controller_acts", "controller_calls",
           "controller_edges", "api_server_edges", "routine_pod_creates", "unusual_senders"]
