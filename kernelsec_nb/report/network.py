"""The network side of the postmortem heuristics: Hubble flows as evidence.

* a connection's sightings (Cilium sees it on the node it leaves and the one it reaches) share
  its 5-tuple (:data:`CONNECTION`): let out by one node and dropped by the other, it did not get
  through (:func:`with_connection_verdict`); counted once (:func:`one_sighting`);
* **rare requests**: an L7 method and path sent at most a few times (:func:`rare_requests`);
* **DNS tunnelling**: many new long names under one domain from one pod (:func:`dns_tunnels`);
* without process events, the pod those point at (:func:`network_suspect`).

Example
-------
>>> import kernelsec_nb as kn
>>> network_suspect(kn.open_case()) is None
True
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from kernelsec_nb.correlate._flows import CONNECTION_HOOKS
from kernelsec_nb.report.signals import HTTP_CLIENTS, INTERNAL_IPS, SENDS_DATA, tree_signals

#: HTTP methods that only read.
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

#: The columns of a flow in the findings.
FLOW_COLUMNS = ["node", "time", "src_pod", "src_ip", "src_port", "dst_pod", "dst_ip", "dst_port",
                "protocol", "http_method", "http_url", "dns_query", "verdict", "exec_id", "event_id"]

#: A connection's 5-tuple (its sightings on both nodes share it).
CONNECTION = ["src_ip", "src_port", "dst_ip", "dst_port", "protocol"]


def sources(case: Any) -> list[str]:
    """The sources that have events in the case."""
    return case.sql("SELECT DISTINCT source FROM events WHERE source IS NOT NULL ORDER BY 1")[
        "source"].to_list()


def with_connection_verdict(flows: pl.DataFrame) -> pl.DataFrame:
    """``flows`` with ``conn_dropped``: a sighting of the connection (same 5-tuple) was dropped.
    Cilium sees a connection on both nodes: let out by the source's node and dropped by the
    destination's, it did not get through."""
    return flows.with_columns((pl.col("verdict") == "DROPPED").any().over(CONNECTION).alias("conn_dropped"))


def one_sighting(flows: pl.DataFrame) -> pl.DataFrame:
    """``flows`` with each observation once (Hubble sees a connection, and each of its requests,
    on both nodes): each L7 request (method and URL, or DNS name) once per connection, and each
    connection's L4 flows once; the first sighting of each, by time.  (Which node sees a request
    at L7 depends on the policy: HTTP often at the destination's, DNS at the source's.)"""
    if flows.is_empty():
        return flows
    l7 = pl.col("http_method").is_not_null() | pl.col("dns_query").is_not_null()
    flows = flows.sort("time_ns")
    return pl.concat([
        flows.filter(l7).unique([*CONNECTION, "http_method", "http_url", "dns_query"], keep="first", maintain_order=True),
        flows.filter(~l7).unique(CONNECTION, keep="first", maintain_order=True),
    ], how="vertical_relaxed").sort("time_ns")


def l7_requests(flows: pl.DataFrame) -> pl.DataFrame:
    if flows.is_empty() or "http_method" not in flows.columns:
        return flows.head(0)
    return flows.filter(pl.col("http_method").is_not_null() & ~pl.col("is_reply").fill_null(False))


def flow_records(df: pl.DataFrame) -> list[dict[str, Any]]:
    """Flows as JSON-ready dicts (times as ISO text)."""
    if df.is_empty():
        return []
    cols = [c for c in FLOW_COLUMNS if c in df.columns]
    out = []
    for r in df.select(cols).iter_rows(named=True):
        r["time"] = r["time"].strftime("%Y-%m-%dT%H:%M:%S.%fZ") if r.get("time") is not None else None
        out.append(r)
    return out


def rare_requests(case: Any, max_count: int = 5) -> pl.DataFrame:
    """L7 requests whose method and path (query string left out, numeric and hex ids as one) were
    sent at most ``max_count`` times in the capture (a request seen on both nodes, egress and
    ingress, counts once: the count is that of the direction that saw it most)."""
    req = l7_requests(case.flows())
    if req.is_empty():
        return req
    # ids in paths (/orders/1234, /users/<uuid>) make every request look unique: they count as one
    one_id = r"/([0-9]+|[0-9a-fA-F-]{8,})(/|$)"
    shape = (pl.col("http_path").fill_null("").str.replace(r"\?.*$", "")
             .str.replace_all(one_id, "/:id$2").str.replace_all(one_id, "/:id$2"))  # twice: /1/2
    req = req.with_columns(shape.alias("_shape"))
    counts = req.group_by("http_method", "_shape", "traffic_direction").len("seen").group_by(
        "http_method", "_shape").agg(pl.col("seen").max())
    return req.join(counts, on=["http_method", "_shape"], how="left", nulls_equal=True).filter(
        pl.col("seen") <= max_count).drop("_shape")


#: Distinct long names under one domain, from one pod, that read as DNS tunnelling (exfiltration
#: or command and control encoded in the names); "long": a first label of this many characters.
DNS_TUNNEL_NAMES = 50


DNS_TUNNEL_LABEL = 20


def dns_tunnels(case: Any) -> pl.DataFrame:
    """Per source pod and domain (the query's last two labels): the distinct queried names whose
    first label is long, where there are at least :data:`DNS_TUNNEL_NAMES` of them and each was
    asked about twice at most on average (a CDN's hashed names recur).  Names in the cluster
    (``*.svc``, ``*.cluster.local``, search-path expansions) are left out."""
    q = case.sql("""
        SELECT src_namespace, src_pod, src_workload, rtrim(lower(dns_query), '.') AS name, time
        FROM flows WHERE dns_query IS NOT NULL AND NOT coalesce(is_reply, false) AND src_pod IS NOT NULL
          AND NOT regexp_matches(lower(dns_query), '[.](svc|cluster[.]local)[.]?$|[.]svc[.]')""")
    if q.is_empty():
        return q
    parts = pl.col("name").str.split(".")
    q = q.with_columns(parts.list.slice(-2).list.join(".").alias("domain"),
                       parts.list.first().str.len_chars().alias("_first"))
    # tunnelled names are new each time; a CDN's hashed names come back again and again
    return (q.filter((pl.col("_first") >= DNS_TUNNEL_LABEL) & (parts.list.len() > 2))
            .group_by("src_namespace", "src_pod", "src_workload", "domain")
            .agg(pl.col("name").n_unique().alias("names"), pl.len().alias("_queries"),
                 pl.col("time").min().alias("first"))
            .filter((pl.col("names") >= DNS_TUNNEL_NAMES) & (pl.col("_queries") <= 2 * pl.col("names")))
            .drop("_queries").sort("names", descending=True))


def network_suspect(case: Any) -> dict[str, Any] | None:
    """Without process events: the pod that Falco alerts name, a policy dropped, sent the rarest
    L7 requests or tunnelled names through DNS, and the node where its egress was seen; ``others``
    names the next pods pointed at (up to 3).

    Score per pod: 4 an alert, 2 a destination a policy refused it (each destination, port and
    request once: a misconfigured scraper retrying one target all day is one refusal, not
    hundreds), 1 a rare L7 request, 1 a tunnelled name.
    """
    parts = []
    srcs = sources(case)
    if "falco" in srcs:
        al = case.alerts() if "tetragon" in srcs else case.sql("SELECT * FROM alerts")
        if "match" in al.columns:
            # an alert a process explains counts when it is of a critical priority and the process
            # is no build's (Warning and below: a noisy agent's, an administrator's shell)
            critical = tree_signals(case).filter(pl.col("critical") > 0)["exec_id"]
            al = al.filter((pl.col("match") == "none") | pl.col("exec_id").is_in(critical.implode()))
        parts.append(al.filter(pl.col("pod").is_not_null()).select(
            "namespace", "pod", "workload", pl.lit(4).alias("score"), pl.lit("alerts").alias("why"), "time"))
    parts.append(case.sql("""
        SELECT src_namespace AS namespace, src_pod AS pod, any_value(src_workload) AS workload, 2 AS score,
               'dropped' AS why, min(time) AS time
        FROM flows WHERE verdict = 'DROPPED' AND NOT coalesce(is_reply, false) AND src_pod IS NOT NULL
        GROUP BY src_namespace, src_pod, coalesce(dst_pod, dst_ip), dst_port, http_method, http_path, dns_query"""))
    rare = rare_requests(case)
    if rare.height:
        parts.append(rare.filter(pl.col("src_pod").is_not_null()).select(
            pl.col("src_namespace").alias("namespace"), pl.col("src_pod").alias("pod"),
            pl.col("src_workload").alias("workload"), pl.lit(1).alias("score"),
            pl.lit("rare_requests").alias("why"), "time"))
    tunnels = dns_tunnels(case)
    if tunnels.height:
        parts.append(tunnels.select(
            pl.col("src_namespace").alias("namespace"), pl.col("src_pod").alias("pod"),
            pl.col("src_workload").alias("workload"), pl.col("names").alias("score"),
            pl.lit("dns_names").alias("why"), pl.col("first").alias("time")))
    parts = [x.with_columns(pl.col("score").cast(pl.Int64), pl.col("time").cast(pl.Datetime("us", "UTC")))
             for x in parts if x.height]
    if not parts:
        return None
    by_pod = (pl.concat(parts, how="vertical_relaxed")
              .group_by("namespace", "pod")
              .agg(pl.col("workload").drop_nulls().first(), pl.col("score").sum(), pl.col("time").min().alias("first"),
                   *[pl.col("score").filter(pl.col("why") == w).sum().alias(w)
                     for w in ("alerts", "dropped", "rare_requests", "dns_names")])
              .sort(["score", "first"], descending=[True, False]))
    top = by_pod.row(0, named=True)
    egress = case.flows(from_pod=top["pod"]).filter(pl.col("src_pod") == top["pod"])
    eg = egress.filter(pl.col("traffic_direction") == "EGRESS")
    node = None
    for frame in (eg, egress):
        if frame.height:
            node = frame.group_by("node").len().sort("len", descending=True)["node"][0]
            break
    if node is None and "falco" in srcs:
        hosts = case.sql("SELECT node FROM alerts WHERE pod = ? AND node IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC",
                         [top["pod"]])
        node = hosts["node"][0] if hosts.height else None
    others = [f"{r['namespace']}/{r['pod']}" for r in by_pod.slice(1, 3).iter_rows(named=True)]
    return {"namespace": top["namespace"], "pod": top["pod"], "workload": top["workload"], "node": node,
            "others": others,
            "alerts": int(top["alerts"] // 4), "dropped": int(top["dropped"] // 2),
            "rare_requests": int(top["rare_requests"]), "dns_names": int(top["dns_names"]),
            "tunnel_domains": tunnels.filter(pl.col("src_pod") == top["pod"])["domain"].to_list()
            if tunnels.height else []}


def alert_records(al: pl.DataFrame) -> list[dict[str, Any]]:
    return [{"time": r["time"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "rule": r["rule"],
             "exec_id": r.get("exec_id"), "pid": r["pid"]} for r in al.iter_rows(named=True)]


#: After the session's last process ended (or started), its pod's flows are still the session's
#: for this long.
SESSION_TAIL_NS = 10_000_000_000
def session_flows(case: Any, session: list[str]) -> pl.DataFrame:
    """The session's flows (Hubble, attributed to its processes), replies left out, with
    ``conn_dropped``; empty without Hubble."""
    mine = case.flows(exec_id=session)
    if mine.is_empty() or "verdict" not in mine.columns:
        return mine
    return with_connection_verdict(mine.filter(~pl.col("is_reply").fill_null(False)))


def reached(case: Any, session: list[str]) -> set[str]:
    """The processes of ``session`` whose connection got through (no sighting dropped) with an
    effect: a request that changes something (an HTTP method other than GET, HEAD or OPTIONS; without
    an L7 flow of it, as TLS hides it: an HTTP client whose arguments send data or such a method,
    :data:`~kernelsec_nb.report.signals.SENDS_DATA`), a connection out of the cluster (any address outside :data:`~kernelsec_nb.report.signals.INTERNAL_IPS`; Tetragon's connects
    too), or a connection to another port of a destination the session had been refused before (a
    way around a policy).  DNS is left out."""
    out: set[str] = set()
    flows = session_flows(case, session)
    refused_conns = set()
    if flows.height:
        dst = pl.coalesce(pl.col("dst_pod"), pl.col("dst_ip"))
        refused = flows.filter(pl.col("verdict") == "DROPPED").group_by(dst.alias("_dst")).agg(
            pl.col("time_ns").min().alias("_refused"), pl.col("dst_port").unique().alias("_refused_ports"))
        refused_conns = set(flows.filter(pl.col("conn_dropped")).select("exec_id", "dst_ip", "dst_port").iter_rows())
        through = flows.filter(~pl.col("conn_dropped") & (pl.col("dst_port") != 53)).with_columns(
            dst.alias("_dst")).join(refused, on="_dst", how="left")
        effect = ((pl.col("http_method").is_not_null() & ~pl.col("http_method").str.to_uppercase().is_in(SAFE_METHODS))
                  | (pl.col("dst_pod").is_null() & ~pl.col("dst_ip").fill_null("").str.contains(INTERNAL_IPS))
                  # another port of a destination refused before: a way around the policy (the same
                  # port getting through later is the policy changing, or a retry after a fix)
                  | ((pl.col("_refused") < pl.col("time_ns"))
                     & ~pl.col("dst_port").is_in(pl.col("_refused_ports").fill_null([]))))
        out |= set(through.filter(effect)["exec_id"].drop_nulls().to_list())
    conns = connections(case, session)
    out |= {c["exec_id"] for c in conns if c["dport"] != 53 and not re.search(INTERNAL_IPS, c["daddr"] or "")
            and (c["exec_id"], c["daddr"], c["dport"]) not in refused_conns}
    # a request Hubble did not read (TLS), told by its client's arguments
    read = set(flows.filter(pl.col("http_method").is_not_null())["exec_id"].drop_nulls()) if flows.height else set()
    senders = set(case.sql("""
        SELECT exec_id FROM processes WHERE exec_id IN (SELECT unnest(?::VARCHAR[]))
          AND regexp_matches("binary", ?) AND regexp_matches(coalesce(args, ''), ?)""",
                           [session, HTTP_CLIENTS, SENDS_DATA])["exec_id"].to_list())
    out |= {c["exec_id"] for c in conns if c["exec_id"] in senders - read and c["dport"] != 53
            and (c["exec_id"], c["daddr"], c["dport"]) not in refused_conns}
    return out


def connections(case: Any, session: list[str]) -> list[dict[str, Any]]:
    """The connections the session's processes opened (Tetragon connect hooks), oldest first."""
    df = case.sql("""
        SELECT time, exec_id, "binary", saddr, sport, daddr, dport, protocol, function_name
        FROM kprobes WHERE exec_id IN (SELECT unnest(?::VARCHAR[])) AND daddr IS NOT NULL
          AND regexp_matches(coalesce(function_name, kind), ?)
        ORDER BY time_ns, event_id LIMIT 100""", [session, CONNECTION_HOOKS])
    return [{**r, "time": r["time"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")} for r in df.iter_rows(named=True)]


#: At most this many of the pod's other flows are listed (the findings say when there are more).
POD_FLOWS_MAX = 100


def pod_flows(case: Any, entry: dict[str, Any], procs: pl.DataFrame) -> pl.DataFrame:
    """The flows the session's pod sent while the session ran that no process was matched to
    (DNS, ICMP, UDP: Tetragon's connect hooks see TCP): the first lookup of each DNS name, the
    first request of each HTTP method and URL, the first flow to each other destination."""
    end = procs.select(pl.max_horizontal("start_ns", "exit_ns").max()).item()
    if entry["start_ns"] is None or end is None:
        return pl.DataFrame()
    flows = case.flows(from_pod=entry["pod"], since=int(entry["start_ns"]), until=int(end) + SESSION_TAIL_NS)
    if flows.is_empty():
        return flows
    flows = one_sighting(flows.filter((pl.col("src_pod") == entry["pod"]) & pl.col("exec_id").is_null()
                                       & ~pl.col("is_reply").fill_null(False)))
    dns, http = pl.col("dns_query").is_not_null(), pl.col("http_method").is_not_null()
    # a lookup's or request's connection seen at L4 on the other node is that lookup, not another flow
    rest = flows.filter(~dns & ~http).join(flows.filter(dns | http).select(CONNECTION), on=CONNECTION,
                                           how="anti", nulls_equal=True)
    return pl.concat([
        flows.filter(dns).unique(pl.col("dns_query").str.to_lowercase(), keep="first", maintain_order=True),
        flows.filter(http).unique(["http_method", "http_url"], keep="first", maintain_order=True),
        rest.unique(["dst_ip", "dst_port", "protocol"], keep="first", maintain_order=True),
    ], how="vertical_relaxed").sort("time_ns")
