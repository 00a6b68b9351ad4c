"""DNS tunnelling as evidence: the lookups of one source that carry data out in random-looking names
under one domain (:func:`dns_tunnel_queries`), the process they belong to when no event names it
(:func:`attribute_to_lineage`), and the ``dns_tunnel`` evidence rows (:func:`dns_tunnels`).

Examples
--------
>>> random_labels(["metricscollector2", "kubernetesdashboard1"])
False
"""

from __future__ import annotations

import math
from collections import Counter

import polars as pl

from kernelsec_nb.findings._evidence_frame import (
    DEFAULT,
    DNS_TUNNEL,
    EvidenceSettings,
    _rows,
    empty_evidence,
)

#: A first DNS label that may carry data: 16 or more letters and digits, no hyphen (a service's name
#: has words joined by hyphens).  Whether a source's such labels do carry data is judged on all of
#: them together (:func:`random_labels`).
RANDOM_LABEL = r"^[a-z0-9]{16,63}$"


def random_labels(labels: list[str], bits: float = 4.5) -> bool:
    """True when ``labels`` (the first labels of one source's names under one domain) look like
    encoded data rather than words: a quarter of their characters digits (hex, numbers), or their
    characters pooled spread like random bytes' — a Shannon entropy of at least ``bits`` a
    character (base32 or base36 of random bytes: about 5; words, even with a digit or two: about 4.2).

    >>> import base64, random
    >>> r = random.Random(1)
    >>> random_labels([base64.b32encode(r.randbytes(20)).decode().lower().rstrip("=") for _ in range(20)])
    True
    >>> random_labels([f"{i:024x}" for i in range(20)])
    True
    >>> random_labels(["elasticsearch7data", "metricscollector2", "kubernetesdashboard1", "prometheusoperator01"])
    False
    """
    pooled = "".join(labels)
    if not pooled:
        return False
    if sum(c.isdigit() for c in pooled) * 4 >= len(pooled):
        return True
    n = len(pooled)
    return -sum(k / n * math.log2(k / n) for k in Counter(pooled).values()) >= bits


def _common_suffix(names: list[str]) -> str:
    """The labels every name ends with (``a.t.x.net``, ``b.t.x.net`` → ``t.x.net``)."""
    parts = [n.split(".")[::-1] for n in names]
    out = []
    for labels in zip(*parts, strict=False):
        if len(set(labels)) != 1:
            break
        out.append(labels[0])
    return ".".join(out[::-1])


#: The columns of :func:`dns_tunnel_queries`.
TUNNEL_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "exec_id": pl.String, "src_namespace": pl.String, "src_pod": pl.String, "domain": pl.String,
    "names": pl.Int64, "time_ns": pl.Int64, "event_id": pl.String, "dns_query": pl.String}


def dns_tunnel_queries(flows: pl.DataFrame, s: EvidenceSettings = DEFAULT) -> pl.DataFrame:
    """The DNS lookups that carry data out: of one source — the pod (``src_namespace``/``src_pod``),
    else the process (``exec_id``) — at least
    ``dns_tunnel_names`` distinct names under one registered domain (its last two labels) whose
    first labels (:data:`RANDOM_LABEL`) look like encoded data taken together (:func:`random_labels`).  One row per lookup (requests only), with the
    ``domain`` the names share (``t.exfil.example`` for ``<data>.<n>.t.exfil.example``) and the
    number of distinct ``names``; a resolver's answers are left out.  ``exec_id`` stays each
    lookup's own (null when no event names its process): :func:`attribute_to_lineage` gives the
    tunnel one process.

    >>> q = [f"{i:032x}.x.exfil.example.net." for i in range(25)] + ["a1b2c3d4e5f6a7b8c9.cdn.net."] * 30
    >>> f = pl.DataFrame({"exec_id": [None] * 55, "src_namespace": ["a"] * 55, "src_pod": ["web-1"] * 55,
    ...                   "dns_query": q, "event_id": [str(i) for i in range(55)], "time_ns": list(range(55))})
    >>> dns_tunnel_queries(f).group_by("src_pod", "domain", "names").len().rows()
    [('web-1', 'x.exfil.example.net', 25, 25)]
    """
    if "dns_query" not in flows.columns or flows.height == 0:
        return pl.DataFrame(schema=TUNNEL_SCHEMA)
    f = flows.filter(pl.col("dns_query").is_not_null())
    if "is_reply" in f.columns:
        f = f.filter(~pl.col("is_reply").fill_null(False))
    if "l7_direction" in f.columns:
        f = f.filter(pl.col("l7_direction").fill_null("REQUEST") == "REQUEST")
    for c in ("exec_id", "src_namespace", "src_pod"):
        if c not in f.columns:
            f = f.with_columns(pl.lit(None, pl.String).alias(c))
    f = f.filter(pl.col("exec_id").is_not_null() | pl.col("src_pod").is_not_null())
    if f.height == 0:
        return pl.DataFrame(schema=TUNNEL_SCHEMA)
    name = pl.col("dns_query").str.to_lowercase().str.strip_chars_end(".")
    labels = name.str.split(".")
    q = f.with_columns(name.alias("_name"), labels.list.first().alias("_l"),
                       labels.list.slice(-2, 2).list.join(".").alias("_dom"), labels.list.len().alias("_k")).filter(
        (pl.col("_k") >= 3) & pl.col("_l").str.contains(RANDOM_LABEL))
    if q.height == 0:
        return pl.DataFrame(schema=TUNNEL_SCHEMA)
    # the source is the pod when the flows name it (a loop of one lookup tool per chunk is many
    # processes, one tunnel), else the process
    who = pl.coalesce(pl.concat_str([pl.lit("pod:"), pl.col("src_namespace").fill_null(""), pl.lit("/"), pl.col("src_pod")]),
                      pl.lit("proc:") + pl.col("exec_id"))
    q = q.with_columns(who.alias("_who"), pl.col("_name").n_unique().over(who, "_dom").alias("names")) \
        .filter(pl.col("names") >= s.dns_tunnel_names)
    if q.height == 0:
        return pl.DataFrame(schema=TUNNEL_SCHEMA)
    data = {k for k, g in q.group_by("_who", "_dom") if random_labels(g["_l"].unique().to_list())}
    q = q.filter(pl.struct("_who", "_dom").map_elements(lambda r: (r["_who"], r["_dom"]) in data,
                                                        return_dtype=pl.Boolean))
    if q.height == 0:
        return pl.DataFrame(schema=TUNNEL_SCHEMA)
    shared = {k: _common_suffix(g["_name"].unique().to_list()) for k, g in q.group_by("_who", "_dom")}
    q = q.with_columns(pl.struct("_who", "_dom").map_elements(lambda r: shared[(r["_who"], r["_dom"])] or r["_dom"],
                                                              return_dtype=pl.String).alias("domain"))
    return q.sort("time_ns").select(list(TUNNEL_SCHEMA)).cast(TUNNEL_SCHEMA)  # type: ignore[arg-type]


def dns_tunnels(flows: pl.DataFrame, s: EvidenceSettings = DEFAULT,
                queries: pl.DataFrame | None = None) -> pl.DataFrame:
    """``dns_tunnel``: a process that sent data out in DNS names (:func:`dns_tunnel_queries`; pass
    ``queries`` when already computed, with pod-level rows given an ``exec_id``), one row per
    process and domain: an act (data left the cluster, whatever resolver carried it).

    >>> q = [f"{i:032x}.x.exfil.example.net." for i in range(25)] + ["a1b2c3d4e5f6a7b8c9.cdn.net."] * 30
    >>> f = pl.DataFrame({"exec_id": ["p"] * 55, "dns_query": q, "event_id": [str(i) for i in range(55)],
    ...                   "time_ns": list(range(55))})
    >>> dns_tunnels(f).select("exec_id", "text").rows()
    [('p', 'sent data out in 25 distinct random-looking DNS names under x.exfil.example.net')]
    """
    q = dns_tunnel_queries(flows, s) if queries is None else queries
    q = q.filter(pl.col("exec_id").is_not_null())
    if q.height == 0:
        return empty_evidence()
    g = q.sort("time_ns").group_by("exec_id", "domain", maintain_order=True).agg(
        pl.col("names").max().alias("_n"), pl.first("event_id"),
        *([pl.first("rule_id")] if "rule_id" in q.columns else []), *([pl.first("_how")] if "_how" in q.columns else []))
    how = pl.col("_how").fill_null("") if "_how" in g.columns else pl.lit("")
    return _rows(g.select("exec_id", pl.lit(DNS_TUNNEL).alias("kind"), pl.lit(s.weights[DNS_TUNNEL]).alias("weight"),
                          pl.format("sent data out in {} distinct random-looking DNS names under {}{}", "_n", "domain",
                                    how).alias("text"),
                          "event_id", *(["rule_id"] if "rule_id" in g.columns else [])))


#: ``rule_id`` of evidence the engine attributed to a process by time, not by an event naming it:
#: it joins the process's part, but does not make it the key command.
ATTRIBUTED = "engine:attributed_by_time"


def attribute_to_lineage(rows: pl.DataFrame, procs: pl.DataFrame, routine_ids: list[str] | pl.Series,
                         s: EvidenceSettings = DEFAULT) -> pl.DataFrame:
    """Give each pod's tunnel (rows of one ``src_namespace``/``src_pod`` and ``domain``) one
    process.  When events name the lookups' processes (``exec_id``), the nearest process that is
    all of them or their common ancestor (a loop running one lookup tool per chunk: the loop).
    When none is named, the process whose line they most likely came from: of the pod's processes that are not routine
    (``routine_ids``), the one started last at most ``attribute_window`` before the rows' first
    time, then its nearest ancestor in the pod still running then (the lookups came from a live
    process: a dead shell's parent that went on); such rows get ``rule_id`` :data:`ATTRIBUTED`
    and ``_how`` (a clause saying so).  Rows no process fits keep a null ``exec_id``.

    >>> S = 1_000_000_000
    >>> p = pl.DataFrame({"exec_id": ["init", "app", "side", "sh"], "parent_exec_id": [None, "init", "init", "side"],
    ...     "namespace": ["a"] * 4, "pod": ["w-1"] * 4, "binary": ["/bin/sh", "/app", "/side", "/bin/sh"],
    ...     "start_ns": [0, S, S, 100 * S], "exit_ns": [None, None, None, 101 * S]})
    >>> r = pl.DataFrame({"exec_id": [None], "src_namespace": ["a"], "src_pod": ["w-1"], "domain": ["t.x"],
    ...                   "time_ns": [104 * S]}, schema_overrides={"exec_id": pl.String})
    >>> attribute_to_lineage(r, p, ["app"])["exec_id"].to_list()
    ['side']
    """
    if rows.height == 0 or procs.height == 0 or rows["src_pod"].null_count() == rows.height:
        return rows.with_columns(pl.lit(None, pl.String).alias("rule_id"), pl.lit(None, pl.String).alias("_how"))
    usual = set(routine_ids)
    info = {r["exec_id"]: r for r in procs.filter(pl.col("pod").is_not_null()).select(
        "exec_id", "parent_exec_id", "namespace", "pod", "binary", "start_ns", "exit_ns").iter_rows(named=True)}
    chosen: dict[tuple[str, str, str], tuple[str, str | None]] = {}
    for (ns, pod, dom), g in rows.filter(pl.col("src_pod").is_not_null()).group_by("src_namespace", "src_pod", "domain"):
        named = g["exec_id"].drop_nulls()
        if named.len():
            owner = _common_ancestor(named.unique().sort().to_list(), info) or named.mode().sort()[0]
            chosen[(ns, pod, dom)] = (owner, None)
            continue
        t0 = g["time_ns"].min()
        cand = [r for r in info.values() if r["pod"] == pod and (r["namespace"] or "") == (ns or "")
                and r["exec_id"] not in usual and r["start_ns"] is not None
                and t0 - s.attribute_window_ns <= r["start_ns"] <= t0]
        if not cand:
            continue
        last = max(cand, key=lambda r: (r["start_ns"], r["exec_id"]))
        cur, seen = last, set()
        while cur is not None and cur["exec_id"] not in seen:
            seen.add(cur["exec_id"])
            if cur["exit_ns"] is None or cur["exit_ns"] >= t0:
                break
            cur = info.get(cur["parent_exec_id"])
            if cur is not None and (cur["pod"], cur["namespace"]) != (pod, ns):
                cur = None
        who = cur or last
        chosen[(ns, pod, dom)] = (who["exec_id"], f" (from the pod, no process named: attributed to {who['binary']}, "
                                                  f"whose line started {last['binary']} last before them)")
    key = pl.struct("src_namespace", "src_pod", "domain")
    pick = {k: v[0] for k, v in chosen.items()}
    how = {k: v[1] for k, v in chosen.items()}
    as_key = lambda r: (r["src_namespace"], r["src_pod"], r["domain"])  # noqa: E731
    out = rows.with_columns(
        pl.coalesce(key.map_elements(lambda r: pick.get(as_key(r)), return_dtype=pl.String), pl.col("exec_id"))
        .alias("exec_id"),
        key.map_elements(lambda r: how.get(as_key(r)), return_dtype=pl.String).alias("_how"))
    return out.with_columns(pl.when(pl.col("_how").is_not_null()).then(pl.lit(ATTRIBUTED)).alias("rule_id"))


def _common_ancestor(ids: list[str], info: dict[str, dict]) -> str | None:
    """The nearest process that is ``ids`` or an ancestor of every one of them (in their pod)."""
    def line(x: str) -> list[str]:
        out, seen = [], set()
        while x in info and x not in seen:
            seen.add(x)
            out.append(x)
            x = info[x]["parent_exec_id"]
        return out
    lines = [line(x) for x in ids]
    if not lines or not lines[0]:
        return None
    rest = [set(xs) for xs in lines[1:]]
    return next((x for x in lines[0] if all(x in r for r in rest)), None)


__all__ = ["ATTRIBUTED", "RANDOM_LABEL", "TUNNEL_SCHEMA", "attribute_to_lineage", "dns_tunnel_queries", "dns_tunnels",
           "random_labels"]
