"""What each process did that counts: one evidence row per (process, kind of act).

Each builder is a function of plain polars frames returning :data:`EVIDENCE_SCHEMA` rows
(``exec_id``, ``kind``, ``weight``, ``text``, ``event_id``, ``rule_id``, ``techniques``).  The kinds
(:data:`KINDS`) are typed tags, never prose; the weights live in :class:`EvidenceSettings` (both in
:mod:`._evidence_frame`); DNS tunnelling is :mod:`._dns_tunnel`; all re-exported here.  The
engine lowers each weight by the process's routine (:mod:`kernelsec_nb.findings.routine`).

Examples
--------
>>> import polars as pl
>>> outside_connections(pl.DataFrame({"exec_id": ["a"], "src_workload": ["web"], "dst_ip": ["6.6.6.6"],
...     "dst_port": [4444], "time_ns": [1], "event_id": ["f1"]}), routine_dest=None).select("kind", "text").rows()
[('connect_out', 'connected out of the cluster to 6.6.6.6:4444')]
"""

from __future__ import annotations

import ipaddress
import signal as _signal

import polars as pl

from kernelsec_nb.findings._dns_tunnel import (  # re-exported
    ATTRIBUTED,
    RANDOM_LABEL,
    TUNNEL_SCHEMA,
    attribute_to_lineage,
    dns_tunnel_queries,
    dns_tunnels,
    random_labels,
)
from kernelsec_nb.findings._evidence_frame import (  # the vocabulary, re-exported
    ACTS,
    AROUND,
    BLOCKED,
    CONNECT_OUT,
    DEFAULT,
    DETECTION,
    DNS_TUNNEL,
    EVIDENCE_SCHEMA,
    EXEC_IN,
    HANDOFF,
    KINDS,
    LATERAL,
    METADATA,
    NS,
    PERSIST,
    PERSISTENCE_TECHNIQUES,
    REQUEST,
    SERVICE_CHILD,
    SIGNAL,
    STATE_CHANGING,
    EvidenceSettings,
    _rows,
    empty_evidence,
)
from kernelsec_nb.findings._init_tree import start_or_before
from kernelsec_nb.findings.routine import arg_shape

#: Networks inside a cluster or a host: RFC 1918, carrier-grade NAT, loopback, link-local,
#: multicast, "this network", IPv6 unique-local, loopback, link-local, multicast.  Documentation
#: ranges (TEST-NET) count as outside: captures made for training and tests use them for the internet.
_INTERNAL = [ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "224.0.0.0/4", "0.0.0.0/8", "255.255.255.255/32", "fc00::/7", "::1/128", "fe80::/10", "ff00::/8", "::/128")]


def is_internal(ip: str | None) -> bool:
    """True for an address inside a cluster's or host's networks (:data:`_INTERNAL`) or not an
    address at all.

    >>> is_internal("10.1.2.3"), is_internal("100.64.0.1"), is_internal("151.101.2.132"), is_internal("x")
    (True, True, False, True)
    >>> is_internal("203.0.113.50")
    False
    """
    try:
        a = ipaddress.ip_address(str(ip))
    except ValueError:
        return True
    return any(a in n for n in _INTERNAL if n.version == a.version)


def _internal(col: pl.Expr, frame: pl.DataFrame, name: str) -> pl.Expr:
    ips = frame[name].drop_nulls().unique().to_list() if name in frame.columns else []
    mapping = {ip: is_internal(ip) for ip in ips}
    return col.replace_strict(mapping, default=True, return_dtype=pl.Boolean)


def detections_on_processes(hits: pl.DataFrame, s: EvidenceSettings = DEFAULT) -> pl.DataFrame:
    """Detections with an ``exec_id``, weighed by level (informational ones count nothing)."""
    h = hits.filter(pl.col("exec_id").is_not_null())
    if h.height == 0:
        return empty_evidence()
    return _rows(h.select(
        "exec_id", pl.lit(DETECTION).alias("kind"),
        pl.col("level").fill_null("medium").str.to_lowercase().replace_strict(
            s.levels, default=s.levels["medium"], return_dtype=pl.Float64).alias("weight"),
        pl.format("{} ({})", pl.col("title").fill_null(pl.col("rule_id")), pl.col("level").fill_null("?")).alias("text"),
        "event_id", "rule_id", "techniques"))


def once(ev: pl.DataFrame) -> pl.DataFrame:
    """``ev`` with one piece of evidence per process, kind, rule and text: a rule that fires again
    and again on one process counts once, and so does one rule of two engines that watch the same
    process (a detection's text is its title and level: Falco and Tracee both naming "Launch
    Package Management Process in Container" on one ``apt-get`` saw one thing, not two).

    >>> ev = pl.DataFrame({"exec_id": ["a", "a", "a"], "kind": ["detection"] * 3, "weight": [1.0] * 3,
    ...                    "text": ["X (high)", "X (high)", "X (low)"], "rule_id": ["falco:X", "tracee:X", "falco:X"]})
    >>> once(ev)["rule_id"].to_list()
    ['falco:X', 'falco:X']
    """
    rule = pl.when(pl.col("kind") == DETECTION).then(pl.lit(None, pl.String)).otherwise(pl.col("rule_id"))
    return (ev.with_columns(rule.alias("_rule")).unique(["exec_id", "kind", "_rule", "text"], keep="first",
                                                         maintain_order=True).drop("_rule"))


def persistence(hits: pl.DataFrame, s: EvidenceSettings = DEFAULT) -> pl.DataFrame:
    """``persistence``: a process a detection of one of :data:`PERSISTENCE_TECHNIQUES` marked (its
    own weight is small: the detection itself counts as a ``detection``; this makes it an act).
    The technique names what the rule saw (T1053: a write to a cron table); a rule tagged only with
    the persistence *tactic* (Falco's ``mitre_persistence`` on "Drop and execute new binary in
    container": it saw an exec of a file not in the image) saw no persistence — its tactic is no act."""
    if "techniques" not in hits.columns:
        return empty_evidence()
    base = pl.col("techniques").list.eval(pl.element().str.extract(r"^(T\d{4})", 1))
    h = hits.filter(pl.col("exec_id").is_not_null()
                    & base.list.eval(pl.element().is_in(list(PERSISTENCE_TECHNIQUES))).list.any().fill_null(False))
    return _rows(h.select("exec_id", pl.lit(PERSIST).alias("kind"), pl.lit(s.weights[PERSIST]).alias("weight"),
                          pl.format("made itself persistent: {}", pl.col("title").fill_null(pl.col("rule_id")))
                          .alias("text"), "event_id", "rule_id"))


def entry_kinds(procs: pl.DataFrame, s: EvidenceSettings = DEFAULT) -> pl.DataFrame:
    """``exec_in``: a process of a pod outside its container's own tree whose parent is not in
    that pod (``kubectl exec``, the runtime); ``service_child``: a process of a pod's own tree
    started by a process of the same pod that had been running for ``service_age`` (a service)."""
    if "in_init_tree" not in procs.columns or procs.height == 0:
        return empty_evidence()
    # a parent running before the capture whose start the source does not write (Inspektor Gadget): long running
    par = procs.select(pl.col("exec_id").alias("parent_exec_id"), pl.col("pod").alias("_ppod"),
                       start_or_before(procs.columns).alias("_pstart"),
                       pl.col("binary").alias("_pbin"),
                       pl.col("in_init_tree").alias("_pinit"))
    p = procs.filter(pl.col("pod").is_not_null()).join(par.unique("parent_exec_id"), on="parent_exec_id",
                                                        how="left")
    same_pod = (pl.col("_ppod") == pl.col("pod")).fill_null(False)
    exec_in = p.filter(~pl.col("in_init_tree").fill_null(True) & ~same_pod).select(
        "exec_id", pl.lit(EXEC_IN).alias("kind"), pl.lit(s.weights[EXEC_IN]).alias("weight"),
        pl.format("{} exec'd into pod {} from outside its container's own tree", pl.col("binary").fill_null("?"),
                  "pod").alias("text"))
    child = p.filter(same_pod & pl.col("_pinit").fill_null(False)
                     & ((pl.col("start_ns") - pl.col("_pstart")) >= s.service_age_ns)).select(
        "exec_id", pl.lit(SERVICE_CHILD).alias("kind"), pl.lit(s.weights[SERVICE_CHILD]).alias("weight"),
        pl.format("started by the pod's service process {}", pl.col("_pbin").fill_null("?")).alias("text"))
    return _rows(pl.concat([exec_in, child]))


#: The ATT&CK technique that names how a process came into a container (T1609, a container
#: administration command: ``kubectl exec``) and the one of the shell it starts (T1059).
ARRIVAL = "T1609"
SHELL = "T1059"
#: Acts that only reach out (a connection out, a request, a refused connection): what an on-call
#: engineer's session does all the time (a download, an API call), unlike a kill or a file used later.
OUTWARD = (CONNECT_OUT, REQUEST, BLOCKED)


def arrivals(ev: pl.DataFrame) -> pl.Series:
    """Per row of ``ev``, whether it is a detection that only restates how an exec'd-in process
    arrived: its ATT&CK techniques are T1609 (exec'd into a container) and T1059.x (a shell) and
    nothing else ("interactive shell exec'd into a container", Falco's "terminal shell in
    container"), on a process with ``exec_in`` evidence.  Such a detection is no evidence about an
    act that only reaches out (:data:`OUTWARD`): ``kubectl exec -it pod -- sh`` then ``go mod
    download`` weighs like ``kubectl exec pod -- go mod download``.

    >>> ev = pl.DataFrame({"exec_id": ["sh", "sh", "x"], "kind": [EXEC_IN, DETECTION, DETECTION],
    ...     "weight": [1.0, 3.0, 3.0], "techniques": [None, ["T1609", "T1059.004"], ["T1609"]]})
    >>> arrivals(ev).to_list()
    [False, True, False]
    """
    if ev.height == 0:
        return pl.Series("arrival", [], dtype=pl.Boolean)
    came = ev.filter(pl.col("kind") == EXEC_IN)["exec_id"].unique().implode()
    t = pl.col("techniques").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    only = ((t.list.len() > 0)
            & t.list.eval((pl.element() == ARRIVAL) | pl.element().str.starts_with(SHELL)).list.all())
    hit = (pl.col("kind") == DETECTION) & pl.col("exec_id").is_in(came) & only.fill_null(False)
    return ev.select(hit.fill_null(False).alias("arrival"))["arrival"]


def _routine_mask(conns: pl.DataFrame, routine_dest: pl.DataFrame | None, dst: pl.Expr) -> pl.DataFrame:
    c = conns.with_columns(dst.alias("_dst"))
    if routine_dest is None or routine_dest.height == 0:
        return c.with_columns(pl.lit(None, pl.String).alias("_routine"))
    r = routine_dest.select(pl.col("src_workload"), pl.col("dst").alias("_dst"), pl.col("dst_port").cast(pl.Int64),
                            pl.col("reason").alias("_routine"))
    return c.with_columns(pl.col("dst_port").cast(pl.Int64)).join(r, on=["src_workload", "_dst", "dst_port"],
                                                                 how="left")


def unusual_outside(conns: pl.DataFrame, routine_dest: pl.DataFrame | None) -> pl.DataFrame:
    """The rows of ``conns`` (as :func:`outside_connections` reads them) that name a process and go
    out of the cluster to a destination that is not their workload's routine."""
    c = conns.filter(pl.col("exec_id").is_not_null() & pl.col("dst_ip").is_not_null())
    if c.height == 0:
        return c
    c = c.filter(~_internal(pl.col("dst_ip"), c, "dst_ip"))
    return _routine_mask(c, routine_dest, pl.col("dst_ip")).filter(pl.col("_routine").is_null()).drop("_dst", "_routine")


def outside_connections(conns: pl.DataFrame, routine_dest: pl.DataFrame | None,
                        s: EvidenceSettings = DEFAULT) -> pl.DataFrame:
    """Connections out of the cluster (``conns``: ``exec_id``, ``src_workload``, ``dst_ip``,
    ``dst_port``, ``time_ns``, ``event_id``; flows and connect hooks alike) to a destination that is
    not the workload's routine (``routine_dest`` from :func:`routine.destinations`): one row per
    process and destination."""
    c = unusual_outside(conns, routine_dest)
    if c.height == 0:
        return empty_evidence()
    c = c.sort("time_ns").unique(["exec_id", "dst_ip", "dst_port"], keep="first", maintain_order=True)
    return _rows(c.select("exec_id", pl.lit(CONNECT_OUT).alias("kind"), pl.lit(s.weights[CONNECT_OUT]).alias("weight"),
                          pl.format("connected out of the cluster to {}:{}", "dst_ip", "dst_port").alias("text"),
                          "event_id"))


#: The cloud instance metadata service's well-known addresses (AWS, GCP, Azure, OpenStack all answer
#: on the IPv4 link-local one; AWS also on the IPv6 one): what answers there hands out the node's
#: instance credentials.
METADATA_IPS = ("169.254.169.254", "fd00:ec2::254")
#: ATT&CK: unsecured credentials — cloud instance metadata API.
METADATA_TECHNIQUE = "T1552.005"


def metadata_contacts(conns: pl.DataFrame, routine_dest: pl.DataFrame | None,
                      s: EvidenceSettings = DEFAULT) -> pl.DataFrame:
    """``instance_metadata``: a process that connected to the cloud instance metadata service
    (:data:`METADATA_IPS`) when its workload does not do so all through the capture
    (``routine_dest``, :func:`routine.destinations`: an SDK refreshing the instance's credentials on
    a schedule is routine).  A credential-access act (:data:`METADATA_TECHNIQUE`), one row per
    process and address; the engine does not lower it by the process's own routine (a web server's
    main process made to fetch it by a forged request is the usual way, SSRF).

    >>> c = pl.DataFrame({"exec_id": ["web", "app"], "src_workload": ["web", "app"],
    ...     "dst_ip": ["169.254.169.254", "169.254.169.254"], "dst_port": [80, 80], "time_ns": [1, 2],
    ...     "event_id": ["f1", "f2"]})
    >>> r = pl.DataFrame({"src_workload": ["app"], "dst": ["169.254.169.254"], "dst_port": [80], "reason": ["app …"]})
    >>> metadata_contacts(c, r).select("exec_id", "techniques").rows()
    [('web', ['T1552.005'])]
    """
    if conns.height == 0 or not {"exec_id", "dst_ip", "src_workload"} <= set(conns.columns):
        return empty_evidence()
    c = conns.filter(pl.col("exec_id").is_not_null() & pl.col("dst_ip").cast(pl.String).is_in(list(METADATA_IPS)))
    if c.height == 0:
        return empty_evidence()
    c = _routine_mask(c, routine_dest, pl.col("dst_ip").cast(pl.String)).filter(pl.col("_routine").is_null())
    # (a connection seen by a flow and a hook alike is one: no count of them is given)
    c = c.sort("time_ns").unique(["exec_id", "dst_ip"], keep="first", maintain_order=True)
    return _rows(c.select(
        "exec_id", pl.lit(METADATA).alias("kind"), pl.lit(s.weights[METADATA]).alias("weight"),
        pl.format("reached the cloud instance metadata service {}:{}, where the node's instance credentials are "
                  "handed out; its workload does not do so all through the capture",
                  pl.col("dst_ip").cast(pl.String), "dst_port").alias("text"),
        "event_id", pl.lit("engine:instance_metadata").alias("rule_id"),
        pl.lit([METADATA_TECHNIQUE], dtype=pl.List(pl.String)).alias("techniques")))


def blocked_and_requests(flows: pl.DataFrame, routine_requests: pl.DataFrame | None,
                         s: EvidenceSettings = DEFAULT, usual: list[str] | None = None) -> pl.DataFrame:
    """``blocked``: an attributed flow a policy dropped (one row per process and destination),
    unless the policy also drops that destination and port for a routine process of the same pod
    (``usual``: the app's own main process — a misconfigured policy, no evidence against a shell);
    ``request``: an attributed state-changing HTTP request (POST, PUT, PATCH, DELETE) that got
    through (a dropped one is only ``blocked``), whose
    method and path shape the workload does not send all through the capture (``routine_requests``:
    :func:`routine.destinations` over :func:`request_keys`)."""
    f = flows.filter(pl.col("exec_id").is_not_null())
    if "is_reply" in f.columns:
        f = f.filter(~pl.col("is_reply").fill_null(False))
    if f.height == 0:
        return empty_evidence()
    dst = pl.coalesce(*(pl.col(c) for c in ("dst_pod", "dst_ip") if c in f.columns))
    parts = []
    if "verdict" in f.columns:
        b = f.filter(pl.col("verdict").is_in(["DROPPED", "DENIED"])).sort("time_ns").with_columns(dst.alias("_d"))
        b = b.unique(["exec_id", "_d", "dst_port"], keep="first", maintain_order=True)
        if usual and "src_pod" in b.columns:
            mis = b.filter(pl.col("exec_id").is_in(list(usual))).select("src_pod", "_d", "dst_port").unique()
            b = b.join(mis, on=["src_pod", "_d", "dst_port"], how="anti", nulls_equal=True)
        parts.append(b.select("exec_id", pl.lit(BLOCKED).alias("kind"), pl.lit(s.weights[BLOCKED]).alias("weight"),
                              pl.format("a policy dropped its connection to {}:{}", "_d", "dst_port").alias("text"),
                              "event_id"))
    if "http_method" in f.columns:
        sent = f.filter(pl.col("http_method").str.to_uppercase().is_in(STATE_CHANGING))
        if "verdict" in sent.columns:  # a request a policy dropped was not sent: it is ``blocked``
            sent = sent.filter(~pl.col("verdict").fill_null("").is_in(["DROPPED", "DENIED"]))
        r = request_keys(sent)
        r = _routine_mask(r, routine_requests, pl.col("dst_workload")).filter(pl.col("_routine").is_null())
        r = r.sort("time_ns").unique(["exec_id", "_dst"], keep="first", maintain_order=True)
        url = pl.coalesce(*(pl.col(c) for c in ("http_url", "http_path") if c in r.columns), pl.lit(""))
        parts.append(r.select("exec_id", pl.lit(REQUEST).alias("kind"), pl.lit(s.weights[REQUEST]).alias("weight"),
                              pl.format("sent {} {}", "http_method", url).alias("text"), "event_id"))
    return _rows(pl.concat(parts)) if parts else empty_evidence()


def around_policy(flows: pl.DataFrame, s: EvidenceSettings = DEFAULT) -> pl.DataFrame:
    """``around_policy``: an attributed connection that got through to a destination (pod, else
    address) a policy had refused its pod on *another* port, at most ``around_window`` before (a
    way around the policy; the same port getting through later is a policy fixed, not this).

    >>> S = 1_000_000_000
    >>> f = pl.DataFrame({"exec_id": ["w", "c", "x"], "src_pod": ["p"] * 3, "dst_pod": ["db-0"] * 3,
    ...     "dst_ip": ["10.0.0.5"] * 3, "dst_port": [80, 8081, 80], "verdict": ["DROPPED", "FORWARDED", "FORWARDED"],
    ...     "time_ns": [0, S, 2 * S], "event_id": ["f1", "f2", "f3"]})
    >>> around_policy(f).select("exec_id", "text").rows()
    [('c', 'got through to db-0:8081 after a policy refused its pod on port 80')]
    """
    need = {"exec_id", "src_pod", "dst_port", "verdict", "time_ns"}
    if not need <= set(flows.columns) or flows.height == 0:
        return empty_evidence()
    f = flows.filter(~pl.col("is_reply").fill_null(False)) if "is_reply" in flows.columns else flows
    dst = pl.coalesce(*(pl.col(c) for c in ("dst_pod", "dst_ip") if c in f.columns))
    dropped = pl.col("verdict").is_in(["DROPPED", "DENIED"])
    # only pods a policy refused something can have got around it
    pods = f.filter(dropped & pl.col("src_pod").is_not_null())["src_pod"].unique()
    if pods.len() == 0:
        return empty_evidence()
    f = f.filter(pl.col("src_pod").is_in(pods.implode())).with_columns(dst.cast(pl.String).alias("_d"))
    refused = f.filter(dropped).select(
        "src_pod", "_d", pl.col("dst_port").alias("_rport"), pl.col("time_ns").alias("_rt"))
    ok = f.filter(pl.col("exec_id").is_not_null() & ~pl.col("verdict").is_in(["DROPPED", "DENIED", "ERROR"]))
    # the same destination and port refused too (retried after a fix, or refused again): not a way
    # around; what is left, any refusal of that destination was on another port, so the latest one
    # before each connection is enough (an as-of join: a join of every connection with every
    # refusal of the same destination grows with their product — 12 GB on a day of 540k flows)
    ok = ok.join(refused.select("src_pod", "_d", pl.col("_rport").alias("dst_port")).unique(),
                 on=["src_pod", "_d", "dst_port"], how="anti")
    hit = ok.sort("time_ns").join_asof(
        refused.filter(pl.col("_d").is_not_null()).sort("_rt"), left_on="time_ns", right_on="_rt",
        by=["src_pod", "_d"], strategy="backward", tolerance=s.around_window_ns, check_sortedness=False,
    ).filter(pl.col("_rt").is_not_null())
    hit = hit.sort("time_ns").unique(["exec_id", "_d", "dst_port"], keep="first", maintain_order=True)
    return _rows(hit.select("exec_id", pl.lit(AROUND).alias("kind"), pl.lit(s.weights[AROUND]).alias("weight"),
                            pl.format("got through to {}:{} after a policy refused its pod on port {}", "_d",
                                      "dst_port", "_rport").alias("text"), "event_id"))


def request_keys(flows: pl.DataFrame) -> pl.DataFrame:
    """HTTP request flows with ``dst_workload`` replaced by ``<destination> <METHOD> <path shape>``,
    so :func:`routine.destinations` learns which requests a workload sends all day."""
    f = flows.filter(pl.col("http_method").is_not_null())
    dst = pl.coalesce(*(pl.col(c) for c in ("dst_workload", "dst_pod", "dst_ip") if c in f.columns))
    path = pl.col("http_path") if "http_path" in f.columns else pl.lit("")
    return f.with_columns(pl.concat_str([dst.fill_null("?"), pl.lit(" "), pl.col("http_method").str.to_uppercase(),
                                         pl.lit(" "), arg_shape(path)]).alias("dst_workload"))


#: A signal named in a command's arguments: ``-HUP``, ``-SIGHUP``, ``-s HUP``, ``-1``.
SIGNAL_ARG = r"(?:^|\s)-(?:s\s+|n\s+)?(?:SIG)?([A-Z][A-Z0-9]{1,5}|\d{1,2})(?:\s|$)"
SIGNAL_NAMES = {str(int(x)): x.name for x in _signal.Signals} | {x.name[3:]: x.name for x in _signal.Signals}


def named_signal(args: pl.Expr) -> pl.Expr:
    """The signal a command's arguments name (``SIGHUP``), else null.

    >>> pl.select(named_signal(pl.Series(["-HUP 1", "-9 1", "-s TERM 7", "nginx", "-X PUT x"]))).to_series().to_list()
    ['SIGHUP', 'SIGKILL', 'SIGTERM', None, None]
    """
    return args.str.extract(SIGNAL_ARG, 1).replace_strict(SIGNAL_NAMES, default=None, return_dtype=pl.String)


def signals(procs: pl.DataFrame, s: EvidenceSettings = DEFAULT) -> pl.DataFrame:
    """``signal``: a process running when another process on its node died by a signal, at most
    ``signal_window`` after it started; when some such process is in the dead one's pod, only
    those count (a ``kill`` in the pod, not a probe elsewhere on the node).  A process whose
    arguments name a signal (``kill -HUP 1``, :func:`named_signal`) counts only for a death by that
    signal (a reload is no kill of the shell that stopped by Ctrl-C meanwhile)."""
    if "signal" not in procs.columns:
        return empty_evidence()
    dead = procs.filter(pl.col("signal").is_not_null() & pl.col("exit_ns").is_not_null()).select(
        pl.col("exec_id").alias("_dead"), pl.col("node"), pl.col("pod").alias("_dpod"),
        pl.col("exit_ns").alias("_died"), pl.col("binary").alias("_dbin"), "signal")
    if dead.height == 0:
        return empty_evidence()
    named = named_signal(pl.col("args")) if "args" in procs.columns else pl.lit(None, dtype=pl.String)
    cand = procs.select("exec_id", "node", "pod", "start_ns", "exit_ns", named.alias("_sent")).join(dead, on="node").filter(
        pl.col("_sent").is_null() | (pl.col("_sent") == pl.col("signal"))).filter(
        (pl.col("exec_id") != pl.col("_dead")) & (pl.col("start_ns") <= pl.col("_died"))
        & (pl.col("_died") - pl.col("start_ns") <= s.signal_window_ns)
        & (pl.col("exit_ns").is_null() | (pl.col("exit_ns") + NS >= pl.col("_died"))))
    cand = cand.with_columns((pl.col("pod") == pl.col("_dpod")).fill_null(False).alias("_same"))
    cand = cand.filter(pl.col("_same") | ~pl.col("_same").any().over("_dead"))
    return _rows(cand.select("exec_id", pl.lit(SIGNAL).alias("kind"), pl.lit(s.weights[SIGNAL]).alias("weight"),
                             pl.format("{} died by {} while it ran", "_dbin", "signal").alias("text")))


def from_edges(edges: pl.DataFrame, s: EvidenceSettings = DEFAULT) -> pl.DataFrame:
    """``file_handoff`` for the writer of a file a later process ran or read (``write`` edges) and
    ``lateral`` for a process whose connection made another pod act (``service``,
    ``service_write`` edges)."""
    e = edges.filter(pl.col("src").str.starts_with("proc:"))
    w = e.filter(pl.col("kind") == "write").select(
        pl.col("src").str.replace("^proc:", "").alias("exec_id"), pl.lit(HANDOFF).alias("kind"),
        pl.lit(s.weights[HANDOFF]).alias("weight"),
        pl.format("{} (used later by another process)", "why").alias("text"), "event_id")
    lat = e.filter(pl.col("kind").is_in(["service", "service_write", "service_connect", "api"])).select(
        pl.col("src").str.replace("^proc:", "").alias("exec_id"), pl.lit(LATERAL).alias("kind"),
        pl.lit(s.weights[LATERAL]).alias("weight"), pl.col("why").alias("text"), "event_id")
    out = pl.concat([_rows(w), _rows(lat)])
    return out.unique(["exec_id", "kind", "text"], keep="first", maintain_order=True)


__all__ = ["ATTRIBUTED", "attribute_to_lineage", "ACTS", "ARRIVAL", "OUTWARD", "arrivals", "DNS_TUNNEL", "METADATA", "METADATA_IPS", "METADATA_TECHNIQUE", "metadata_contacts", "RANDOM_LABEL", "TUNNEL_SCHEMA", "dns_tunnel_queries", "dns_tunnels", "random_labels", "PERSIST", "BLOCKED", "CONNECT_OUT", "DEFAULT", "DETECTION", "EVIDENCE_SCHEMA", "EXEC_IN", "HANDOFF",
           "KINDS", "LATERAL", "AROUND", "around_policy", "REQUEST", "SERVICE_CHILD", "SIGNAL", "EvidenceSettings", "blocked_and_requests",
           "detections_on_processes", "empty_evidence", "entry_kinds", "from_edges", "is_internal",
           "once", "outside_connections", "persistence", "unusual_outside", "request_keys", "signals"]
