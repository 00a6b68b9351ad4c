"""A pod that reaches an incident's outside address joins the incident (``shared_endpoint``).

An attacker's later steps often leave no causal trace the capture saw (a job pod a controller
started, a cron line written before the capture): what ties them to the incident is the address
they call back to.  :func:`shared_endpoint_edges` links an incident's key command to each process
of *another pod* that connected to one of the incident's outside addresses, when that address is
no workload's routine destination (a partner API every pod calls all day ties nothing) and the
incident did not only download from it (a public mirror is no attacker's own address); an
address the incident used as its C2 (role ``c2`` or ``callback``) is the attacker's own host, and
a connection to it on another port links too.  The engine adds these edges after a first pass and
joins the parts they link; :func:`own_host_endpoints` then adds to each incident the other ports
of its own hosts that processes no edge joins reached (the API server calling back a webhook).

Examples
--------
>>> import polars as pl
>>> inc = pl.DataFrame({"key": ["k"], "namespace": ["a"], "pod": ["web-1"], "ip": ["6.6.6.6"], "port": [443]})
>>> conns = pl.DataFrame({"exec_id": ["j", "w"], "namespace": ["b", "a"], "pod": ["job-1", "web-1"],
...     "dst_ip": ["6.6.6.6"] * 2, "dst_port": [443] * 2, "time_ns": [5, 6], "event_id": ["f1", "f2"]})
>>> shared_endpoint_edges(inc, conns).select("src", "dst", "kind").rows()
[('proc:k', 'proc:j', 'shared_endpoint')]
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from kernelsec_nb.findings import _evidence as E
from kernelsec_nb.findings import graph as G
from kernelsec_nb.findings._records import Endpoint
from kernelsec_nb.findings.routine import DEFAULT, RoutineSettings

#: Edge kind: an incident's key command → a process of another pod that reached one of its addresses.
SHARED_ENDPOINT = "shared_endpoint"


def incident_addresses(incidents: list) -> pl.DataFrame:
    """``key``, ``namespace``, ``pod``, ``ip``, ``port`` for each outside address of each incident
    (``Incident`` records) that is not only a download."""
    rows = [{"key": i.key_command.exec_id, "namespace": i.namespace, "pod": i.pod, "ip": e.ip, "port": e.port,
             "known": [f"{r.namespace or ''}/{r.pod}" for r in i.reached if r.pod], "role": e.role}
            for i in incidents for e in i.endpoints
            if e.ip and e.role != "download" and i.key_command.exec_id]
    return pl.DataFrame(rows, schema={"key": pl.String, "namespace": pl.String, "pod": pl.String,
                                      "ip": pl.String, "port": pl.Int64, "known": pl.List(pl.String),
                                      "role": pl.String})


#: Roles of an incident's address that make the host the attacker's own: reached on any port, it
#: is the same infrastructure (a C2 listening on 443 and on 8443).
OWN_HOST = ("c2", "callback")


def shared_endpoint_edges(addresses: pl.DataFrame, conns: pl.DataFrame,
                          routine_dest: pl.DataFrame | None = None) -> pl.DataFrame:
    """An incident's key command → each process of another pod than the incident's entry pod (and
    the pods it already reached: ``known``, ``namespace/pod``) that connected to one of its addresses (``addresses``: :func:`incident_addresses`; ``conns``:
    ``exec_id``, ``namespace``, ``pod``, ``dst_ip``, ``dst_port``, ``time_ns``, ``event_id``),
    one edge per process and address, unless ``routine_dest`` (:func:`routine.destinations`)
    names the address as a routine destination of any workload."""
    if addresses.height == 0 or conns.height == 0:
        return G.empty_edges()
    c = conns.filter(pl.col("exec_id").is_not_null() & pl.col("pod").is_not_null()).select(
        "exec_id", pl.col("namespace").cast(pl.String).alias("_ns"), pl.col("pod").cast(pl.String).alias("_pod"),
        pl.col("dst_ip").cast(pl.String).alias("ip"), pl.col("dst_port").cast(pl.Int64).alias("port"),
        "time_ns", "event_id")
    if routine_dest is not None and routine_dest.height:
        usual = routine_dest.select(pl.col("dst").cast(pl.String).alias("ip"),
                                    pl.col("dst_port").cast(pl.Int64).alias("port")).unique()
        c = c.join(usual, on=["ip", "port"], how="anti")
    if "known" not in addresses.columns:
        addresses = addresses.with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("known"))
    place = pl.concat_str([pl.col("_ns").fill_null(""), pl.lit("/"), pl.col("_pod")])
    if "role" not in addresses.columns:
        addresses = addresses.with_columns(pl.lit(None, pl.String).alias("role"))
    # the same address and port; or, of the attacker's own host (:data:`OWN_HOST`), any port
    hit = addresses.join(c, on="ip", suffix="_c").filter(
        (pl.col("port").eq_missing(pl.col("port_c")) | pl.col("role").is_in(list(OWN_HOST)).fill_null(False))
        & ((pl.col("_pod") != pl.col("pod")) | (pl.col("_ns") != pl.col("namespace")).fill_null(False))
        & ~pl.col("known").fill_null([]).list.contains(place))
    hit = hit.filter(pl.col("exec_id") != pl.col("key")).sort("time_ns").unique(
        ["key", "exec_id", "ip", "port_c"], keep="first", maintain_order=True)
    return G._edges(hit.select(
        G.proc_id("key").alias("src"), G.proc_id().alias("dst"), pl.lit(SHARED_ENDPOINT).alias("kind"), "time_ns",
        pl.when(pl.col("port").eq_missing(pl.col("port_c"))).then(
            pl.format("{}/{} also connected to {}:{}, an outside address of the incident", "_ns", "_pod", "ip",
                      "port_c")).otherwise(
            pl.format("{}/{} also connected to {}:{}, the host of the incident's {} {}:{}", "_ns", "_pod", "ip",
                      "port_c", "role", "ip", "port")).alias("why"), "event_id"))


def flagged_pods(hits: pl.DataFrame, procs: pl.DataFrame, level: str = "critical") -> pl.DataFrame:
    """``namespace``, ``pod`` of the pods a detection of ``level`` fired on (its own pod, else its
    process's): what they reach is no evidence of a namespace's routine.

    >>> hits = pl.DataFrame({"exec_id": ["m", "x"], "level": ["critical", "low"], "namespace": [None, "a"],
    ...                      "pod": [None, "web-1"]})
    >>> procs = pl.DataFrame({"exec_id": ["m"], "namespace": ["apps"], "pod": ["cj-1"]})
    >>> flagged_pods(hits, procs).rows()
    [('apps', 'cj-1')]
    """
    out = {"namespace": pl.String, "pod": pl.String}
    if hits.height == 0 or not {"level", "exec_id"} <= set(hits.columns):
        return pl.DataFrame(schema=out)
    h = hits.filter(pl.col("level") == level).select(
        "exec_id", *(pl.col(c).cast(pl.String).alias(f"_{c}") if c in hits.columns else pl.lit(None, pl.String).alias(f"_{c}")
                     for c in ("namespace", "pod")))
    if {"exec_id", "namespace", "pod"} <= set(procs.columns):
        h = h.join(procs.select("exec_id", pl.col("namespace").cast(pl.String), pl.col("pod").cast(pl.String))
                   .unique("exec_id"), on="exec_id", how="left")
    else:
        h = h.with_columns(pl.lit(None, pl.String).alias("namespace"), pl.lit(None, pl.String).alias("pod"))
    h = h.select(pl.when(pl.col("_pod").is_not_null()).then(pl.col("_namespace")).otherwise(pl.col("namespace"))
                 .alias("namespace"), pl.coalesce("_pod", "pod").alias("pod"))
    return h.filter(pl.col("pod").is_not_null()).unique().sort("namespace", "pod").cast(out)  # type: ignore[arg-type]


def flagged_destinations(conns: pl.DataFrame, procs: pl.DataFrame, flagged: pl.DataFrame,
                          min_pods: int = 2) -> pl.DataFrame:
    """``dst``, ``dst_port`` of the destinations reached only by pods a critical detection fired on
    (``flagged``: :func:`flagged_pods`), at least ``min_pods`` of them: no routine destination of
    any workload, however regularly reached (an attacker's CronJob, each run mining to the same
    pool, would otherwise teach the pool as its schedule's routine).  ``conns``: ``exec_id``,
    ``dst_ip``, ``dst_port`` (and ``dst_workload``, named as :func:`routine.destinations` names it).

    >>> conns = pl.DataFrame({"exec_id": ["r1", "r2", "w1", "w2"], "dst_ip": ["6.6.6.6"] * 2 + ["1.1.1.1"] * 2,
    ...     "dst_port": [3333] * 2 + [443] * 2})
    >>> procs = pl.DataFrame({"exec_id": ["r1", "r2", "w1", "w2"], "namespace": ["a"] * 4,
    ...     "pod": ["cj-1", "cj-2", "web-1", "web-2"]})
    >>> flagged = pl.DataFrame({"namespace": ["a", "a", "a"], "pod": ["cj-1", "cj-2", "web-1"]})
    >>> flagged_destinations(conns, procs, flagged).rows()
    [('6.6.6.6', 3333)]
    """
    out = {"dst": pl.String, "dst_port": pl.Int64}
    if flagged.height == 0 or conns.height == 0 or not {"exec_id", "namespace", "pod"} <= set(procs.columns):
        return pl.DataFrame(schema=out)
    dst = pl.coalesce(*(pl.col(c).cast(pl.String) for c in ("dst_workload", "dst_ip") if c in conns.columns))
    c = conns.select("exec_id", dst.alias("dst"), pl.col("dst_port").cast(pl.Int64)).join(
        procs.select("exec_id", pl.col("namespace").cast(pl.String), pl.col("pod").cast(pl.String)).unique("exec_id"),
        on="exec_id", how="inner").filter(pl.col("pod").is_not_null() & pl.col("dst").is_not_null())
    c = c.join(flagged.select(pl.col("namespace").cast(pl.String), pl.col("pod").cast(pl.String),
                              pl.lit(True).alias("_f")), on=["namespace", "pod"], how="left", nulls_equal=True)
    g = c.with_columns(pl.concat_str([pl.col("namespace").fill_null(""), pl.lit("/"), pl.col("pod")]).alias("_p")).group_by(
        "dst", "dst_port").agg(pl.col("_p").n_unique().alias("_n"),
                               pl.col("_p").filter(pl.col("_f").fill_null(False)).n_unique().alias("_nf"))
    return g.filter((pl.col("_n") >= min_pods) & (pl.col("_nf") == pl.col("_n"))).select(
        "dst", "dst_port").sort("dst", "dst_port").cast(out)  # type: ignore[arg-type]


def common_destinations(conns: pl.DataFrame, procs: pl.DataFrame, s: RoutineSettings = DEFAULT,
                        min_pods: int = 3, flagged: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per namespace, the outside destinations its pods reach all through the capture (in at least
    ``destination_share`` of the capture's ``destination_windows``), from at least ``min_pods``
    distinct pods (a CI namespace's every job pod — each a workload of its own — fetches from the
    forge and the package registry), as routine destinations (rows like
    :func:`routine.destinations`) of each workload of the namespace.  One pod's implant, however
    regular, and a few pods' runs of one planted job teach nothing; nor do pods a critical
    detection fired on (``flagged``: :func:`flagged_pods`): an attacker's own schedule, each of its
    runs mining to the same pool, would otherwise teach the pool as the namespace's routine.

    >>> h = 3_600_000_000_000
    >>> conns = pl.DataFrame({"exec_id": ["a", "b", "c", "d"], "dst_ip": ["104.16.2.35"] * 4,
    ...     "dst_port": [443] * 4, "time_ns": [0, h, 2 * h, 3 * h]})
    >>> procs = pl.DataFrame({"exec_id": ["a", "b", "c", "d"], "namespace": ["ci"] * 4,
    ...     "pod": ["job-1", "job-2", "job-3", "job-4"], "workload": ["j1", "j2", "j3", "j4"]})
    >>> common_destinations(conns, procs, RoutineSettings(destination_windows=4)).select("src_workload", "dst").rows()
    [('j1', '104.16.2.35'), ('j2', '104.16.2.35'), ('j3', '104.16.2.35'), ('j4', '104.16.2.35')]
    """
    cols = {"src_workload": pl.String, "dst": pl.String, "dst_port": pl.Int64, "weight": pl.Float64,
            "reason": pl.String}
    if conns.height == 0 or procs.height == 0 or "workload" not in procs.columns:
        return pl.DataFrame(schema=cols)
    c = E.unusual_outside(conns, None).filter(pl.col("time_ns").is_not_null())
    if c.height == 0:
        return pl.DataFrame(schema=cols)
    lo, hi = conns["time_ns"].min(), conns["time_ns"].max()
    width = max((int(hi) - int(lo)) // s.destination_windows + 1, 1)  # type: ignore[arg-type]
    n_windows = min(s.destination_windows, (int(hi) - int(lo)) // width + 1)  # type: ignore[arg-type]
    c = c.join(procs.select("exec_id", pl.col("namespace").cast(pl.String), "pod").unique("exec_id"),
               on="exec_id", how="inner").filter(pl.col("pod").is_not_null())
    if flagged is not None and flagged.height:
        c = c.join(flagged.select(pl.col("namespace").cast(pl.String), pl.col("pod").cast(c.schema["pod"])),
                   on=["namespace", "pod"], how="anti", nulls_equal=True)
    seen = c.with_columns(((pl.col("time_ns") - lo) // width).alias("_w")).group_by(
        "namespace", pl.col("dst_ip").cast(pl.String).alias("dst"), pl.col("dst_port").cast(pl.Int64)).agg(
        pl.col("pod").n_unique().alias("_pods"), pl.col("_w").n_unique().alias("_in"))
    good = seen.filter((pl.col("_pods") >= min_pods) & (pl.col("_in") >= 2)
                       & (pl.col("_in") >= s.destination_share * n_windows))
    # each workload of the namespace, under the names the connections give it (a flow of a pod
    # whose workload the flow exporter did not know names the pod)
    named = [procs.filter(pl.col("pod").is_not_null() & pl.col("workload").is_not_null()).select(
        pl.col("namespace").cast(pl.String), pl.col("workload").cast(pl.String).alias("src_workload"))]
    if "src_workload" in c.columns:
        named.append(c.select("namespace", pl.col("src_workload").cast(pl.String)))
    wl = pl.concat(named).drop_nulls().unique()
    return good.join(wl, on="namespace").sort("src_workload", "dst", "dst_port").select(
        "src_workload", "dst", "dst_port", pl.lit(s.w_destination).alias("weight"),
        pl.format("{} pods of {} reach {}:{} all through the capture ({} of {} windows)", "_pods", "namespace",
                  "dst", "dst_port", "_in", pl.lit(n_windows)).alias("reason")).cast(cols)  # type: ignore[arg-type]


def shared_edges(incidents: list, conns: pl.DataFrame, routine_dest: pl.DataFrame | None,
                 procs: pl.DataFrame) -> pl.DataFrame:
    """:func:`shared_endpoint_edges` for ``incidents`` over ``conns`` (the engine's connections:
    ``exec_id``, ``src_workload``, ``dst_ip``, ``dst_port``, ``time_ns``, ``event_id``) that go out
    of the cluster to a destination that is not their workload's routine, placed in their pods
    by ``procs``."""
    if not incidents or procs.height == 0:
        return G.empty_edges()
    odd = E.unusual_outside(conns, routine_dest).join(
        procs.select("exec_id", "namespace", "pod").unique("exec_id"), on="exec_id", how="inner")
    return shared_endpoint_edges(incident_addresses(incidents), odd, routine_dest)


def introduced_addresses(incidents: list, conns: pl.DataFrame, procs: pl.DataFrame) -> pl.DataFrame:
    """``dst``, ``dst_port`` of the incidents' C2 addresses (role in :data:`OWN_HOST`) that the
    incident itself brought into the capture: its first connection there (``conns``: ``exec_id``,
    ``dst_ip``, ``dst_port``, ``time_ns``) came from a process of the incident (its chain, entry,
    key command, reached pods' processes or evidence) that started during the capture (``procs``'
    ``start_ns`` at or after the capture's first connection).  No routine of any workload holds
    for them in the shared-endpoint join: an attacker's CronJob, each run mining to the pool its
    first run introduced, would otherwise teach the pool as its schedule's (or the namespace's)
    routine destination.  A destination something reached before the incident (the forge every
    CI job fetches from) keeps its routine.

    >>> from kernelsec_nb.findings._records import Endpoint, Incident, Entry, KeyCommand
    >>> i = Incident(rank=1, confidence="high", why=[], pod="p", namespace="a", workload=None, node="n",
    ...     entry=Entry("e", None, None, None), key_command=KeyCommand(None, None, "k", None), chain=["e", "k"],
    ...     reached=[], endpoints=[Endpoint("6.6.6.6", 3333, None, "c2"), Endpoint("1.1.1.1", 443, None, "c2")],
    ...     techniques={})
    >>> conns = pl.DataFrame({"exec_id": ["old", "k", "r2", "k"], "dst_ip": ["1.1.1.1", "6.6.6.6", "6.6.6.6", "1.1.1.1"],
    ...     "dst_port": [443, 3333, 3333, 443], "time_ns": [1, 5, 9, 6]})
    >>> procs = pl.DataFrame({"exec_id": ["old", "e", "k", "r2"], "start_ns": [0, 3, 4, 8]})
    >>> introduced_addresses([i], conns, procs).rows()
    [('6.6.6.6', 3333)]
    """
    out = {"dst": pl.String, "dst_port": pl.Int64}
    wanted = {(e.ip, e.port): n for n, i in enumerate(incidents) for e in i.endpoints
              if e.ip and e.port is not None and e.role in OWN_HOST}
    if not wanted or conns.height == 0 or procs.height == 0 or "start_ns" not in procs.columns:
        return pl.DataFrame(schema=out)
    c = conns.filter(pl.col("time_ns").is_not_null() & pl.col("exec_id").is_not_null())
    if c.height == 0:
        return pl.DataFrame(schema=out)
    began = c["time_ns"].min()
    first = (c.select(pl.col("dst_ip").cast(pl.String), pl.col("dst_port").cast(pl.Int64), "time_ns", "exec_id")
             .sort("time_ns", "exec_id").unique(["dst_ip", "dst_port"], keep="first", maintain_order=True))
    started = dict(procs.select("exec_id", "start_ns").unique("exec_id").iter_rows())
    rows = []
    for ip, port, _, x in first.iter_rows():
        n = wanted.get((ip, port))
        if n is None:
            continue
        i = incidents[n]
        ids = {*i.chain, *(r_ for r in i.reached for r_ in r.exec_ids),
               *(z for z in (i.entry.exec_id if i.entry else None, i.key_command.exec_id if i.key_command else None) if z)}
        if "exec_id" in i.evidence.columns:
            ids |= {str(z).removeprefix("proc:") for z in i.evidence["exec_id"].drop_nulls().to_list()}
        start = started.get(x)
        if x in ids and start is not None and start >= began:  # type: ignore[operator]
            rows.append((ip, port))
    return pl.DataFrame(rows, schema=out, orient="row")


def own_host_endpoints(incidents: list, conns: pl.DataFrame, routine_dest: pl.DataFrame | None) -> list:
    """``incidents`` (``Incident`` records), each with the other ports of its attacker's own hosts
    (an endpoint whose role is in :data:`OWN_HOST`) that any process of the capture reached
    (``conns``: the engine's connections), not as a routine destination (``routine_dest``), added
    to its endpoints with role ``unknown`` — a process no edge can join (the API server calling
    back an admission webhook registered there, a routine process) still names the host's other
    services.

    >>> from kernelsec_nb.findings._records import Endpoint, Incident, Entry, KeyCommand
    >>> i = Incident(rank=1, confidence="high", why=[], pod="p", namespace="a", workload=None, node="n",
    ...     entry=Entry("e", None, None, None), key_command=KeyCommand(None, None, "k", None), chain=[],
    ...     reached=[], endpoints=[Endpoint("6.6.6.6", 443, None, "c2")], techniques={})
    >>> conns = pl.DataFrame({"exec_id": ["api"], "src_workload": [None], "dst_ip": ["6.6.6.6"],
    ...     "dst_port": [8443], "time_ns": [5], "event_id": ["f"]}, schema_overrides={"src_workload": pl.String})
    >>> [(e.port, e.role) for e in own_host_endpoints([i], conns, None)[0].endpoints]
    [(443, 'c2'), (8443, 'unknown')]
    """
    if not incidents or conns.height == 0:
        return incidents
    odd = E.unusual_outside(conns, routine_dest).select(
        pl.col("dst_ip").cast(pl.String), pl.col("dst_port").cast(pl.Int64)).unique().sort("dst_ip", "dst_port")
    out = []
    for i in incidents:
        hosts = {e.ip for e in i.endpoints if e.ip and e.role in OWN_HOST}
        have = {(e.ip, e.port) for e in i.endpoints}
        more = [Endpoint(ip, port, None, "unknown") for ip, port in odd.filter(
            pl.col("dst_ip").is_in(list(hosts))).iter_rows() if (ip, port) not in have]
        out.append(replace(i, endpoints=[*i.endpoints, *more]) if more else i)
    return out


__all__ = ["OWN_HOST", "SHARED_ENDPOINT", "common_destinations", "flagged_destinations", "flagged_pods", "incident_addresses",
           "introduced_addresses", "own_host_endpoints",
           "shared_edges", "shared_endpoint_edges"]
