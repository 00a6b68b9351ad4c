"""A client whose command line names a pod and a command → that command exec'd into that pod.

``kubectl exec <pod> -- <cmd> <args>`` (a plugin, a script's client alike) names both the pod and
what the runtime then starts in it, moments later, outside the container's own tree.  The audit
log names the sender of a ``pods/exec`` (``graph.api_call_edges``); without it, the two
processes — often on two nodes — are linked by nothing else, and what the exec'd command did
(an escape to the node, a theft) would be an incident of its own, its entry unexplained.
:func:`named_exec_edges` links the client to each process exec'd into a pod (outside its
container's tree, its parent not in the pod: the runtime) that started at most ``window_ns``
after the client, when the client's arguments hold the pod's name (or a prefix of 8 or more hex
digits of its container's id: ``crictl exec 5754cfe3e977a cat /app/.env`` on the node) as a word
and then the exec'd command — its program's name and, when it has any, its arguments, as they
were given.  An
interactive ``kubectl exec -it <pod> -- sh`` links to the ``sh`` it started the same way.  With an
audit log the rule still links what no audited call explains (``explained``: the processes the
log's ``pods/exec`` started): a client of a kubelet's own API (``POST :10250/run/<ns>/<pod>/<c>``,
``/exec/…``) reaches the runtime without passing through the API server, so no audit event names it.

>>> S = 1_000_000_000
>>> p = pl.DataFrame({"exec_id": ["k", "ns", "other"], "parent_exec_id": ["sh", "shim", "shim"],
...     "pod": ["ide-1", "dbg", "dbg"], "binary": ["/bin/kubectl", "/usr/bin/nsenter", "/bin/ls"],
...     "args": ["exec dbg -- nsenter -t 1 -m -- bash", "-t 1 -m -- bash", "-la"],
...     "start_ns": [10 * S, 10 * S + 200_000_000, 11 * S], "in_init_tree": [True, False, False]})
>>> named_exec_edges(p).select("src", "dst", "kind").rows()
[('proc:k', 'proc:ns', 'api')]
"""

from __future__ import annotations

import re

import polars as pl

from kernelsec_nb.findings import graph as G

NS = 1_000_000_000
#: A word of a client's command line taken for a container id (``crictl exec <id>`` takes any
#: unique prefix): 8 to 64 hex digits.
CONTAINER_ID = r"^[0-9a-f]{8,64}$"


def _names(client: str, pod: str, binary: str, args: str) -> bool:
    """Whether ``client`` (a command line) names ``pod`` as a word and then the command."""
    if not re.search(r"(?<![\w.-])" + re.escape(pod) + r"(?![\w.-])", client):
        return False
    name = binary.rsplit("/", 1)[-1]
    if not name:
        return False
    after = client.split(pod, 1)[1]
    cmd = f"{name} {args}".strip() if args else name
    return bool(re.search(r"(?<![\w.-])" + re.escape(cmd) + r"(?![\w.-])", after)) or (
        bool(args) and binary + " " + args in after)


def named_exec_edges(procs: pl.DataFrame, window_ns: int = 10 * NS,
                      explained: pl.Series | None = None) -> pl.DataFrame:
    """Edges (kind :data:`~kernelsec_nb.findings.graph.API`) from a client whose arguments name a
    pod and a command to the process of that command exec'd into that pod within ``window_ns``
    after the client started (see the module), but none to the processes ``explained`` (exec ids
    an audited call started).  ``procs``: ``exec_id``, ``parent_exec_id``, ``pod``, ``binary``,
    ``args``, ``start_ns``, ``in_init_tree``."""
    if procs.height == 0 or "in_init_tree" not in procs.columns:
        return G.empty_edges()
    par = procs.select(pl.col("exec_id").alias("parent_exec_id"), pl.col("pod").alias("_ppod")).unique(
        "parent_exec_id")
    came = procs.filter(pl.col("pod").is_not_null() & ~pl.col("in_init_tree").fill_null(True)
                        & pl.col("start_ns").is_not_null() & pl.col("binary").is_not_null()).join(
        par, on="parent_exec_id", how="left").filter(~(pl.col("_ppod") == pl.col("pod")).fill_null(False))
    if explained is not None and explained.len():
        came = came.filter(~pl.col("exec_id").is_in(explained.drop_nulls().implode()))
    if came.height == 0:
        return G.empty_edges()
    clients = procs.filter(pl.col("args").is_not_null() & pl.col("start_ns").is_not_null()).select(
        pl.col("exec_id").alias("_src"), pl.col("pod").alias("_spod"), pl.col("args").alias("_sargs"),
        pl.col("start_ns").alias("_st"))
    # what a client may name the target by: its pod, or its container's id (``crictl exec <id>``)
    named = [came.select("exec_id", "pod", "binary", pl.col("args").fill_null(""), "start_ns",
                         pl.col("pod").cast(pl.String).alias("_name"))]
    full = pl.coalesce(*(pl.col(c).cast(pl.String) for c in ("container_full_id", "container_id") if c in came.columns)) \
        if {"container_full_id", "container_id"} & set(came.columns) else None
    if full is not None:
        tok = clients.select(pl.col("_sargs").str.split(" ").alias("_name")).explode("_name").filter(
            pl.col("_name").str.contains(CONTAINER_ID)).unique()
        if tok.height:  # joined on the first 8 digits (every such word has them), then the prefix
            named.append(came.with_columns(full.alias("_full")).filter(pl.col("_full").is_not_null()).with_columns(
                pl.col("_full").str.slice(0, 8).alias("_key")).join(
                tok.with_columns(pl.col("_name").str.slice(0, 8).alias("_key")), on="_key").filter(
                pl.col("_full").str.starts_with(pl.col("_name"))).select(
                "exec_id", "pod", "binary", pl.col("args").fill_null(""), "start_ns", "_name"))
    targets = pl.concat(named)
    near = (pl.col("_st") <= pl.col("start_ns")) & (pl.col("start_ns") - pl.col("_st") <= window_ns) \
        & (pl.col("_spod") != pl.col("pod")).fill_null(True)
    # a name that is a word of [\w.-] (every pod name, every id) is one of the client's words: an
    # equality join on (word, time bucket) — a client starts in the target's window bucket or the
    # one before — instead of every target against every client (runc names each container it
    # runs a probe in: thousands of each in a day); any other name is searched as before
    word = pl.col("_name").str.contains(r"^[\w.-]+$")
    words = clients.select("_src", "_spod", "_sargs", "_st", pl.col("_sargs").str.extract_all(r"[\w.-]+").alias(
        "_name")).explode("_name").unique(["_src", "_name"]).with_columns(
        (pl.col("_st") // window_ns).alias("_b")).with_columns(
        pl.concat_list(pl.col("_b"), pl.col("_b") + 1).alias("_b")).explode("_b")
    by_word = targets.filter(word).with_columns((pl.col("start_ns") // window_ns).alias("_b")).join(
        words, on=["_name", "_b"]).drop("_b").filter(near)
    rest = targets.filter(~word)
    if rest.height:
        others = [w for w in rest["_name"].unique().to_list() if w]
        cand = clients.filter(pl.any_horizontal(pl.col("_sargs").str.contains(w, literal=True) for w in others)) \
            if others else clients.clear()
        by_word = pl.concat([by_word, rest.join(cand, how="cross").filter(
            near & pl.col("_sargs").str.contains(pl.col("_name"), literal=True)).select(by_word.columns)])
    pairs = by_word
    if pairs.height == 0:
        return G.empty_edges()
    ok = [_names(c, p, b, a) for c, p, b, a in pairs.select("_sargs", "_name", "binary", "args").iter_rows()]
    # of several clients naming it, the latest before it
    hit = pairs.filter(pl.Series(ok, dtype=pl.Boolean)).sort("_st", "_src").unique("exec_id", keep="last",
                                                                                   maintain_order=True)
    return G._edges(hit.select(
        G.proc_id("_src").alias("src"), G.proc_id().alias("dst"), pl.lit(G.API).alias("kind"),
        pl.col("start_ns").alias("time_ns"),
        pl.format("{} exec'd into pod {} {} ms after a client that names {} and the command started",
                  "binary", "pod", (pl.col("start_ns") - pl.col("_st")) // 1_000_000,
                  pl.when(pl.col("_name") == pl.col("pod")).then(pl.lit("the pod")).otherwise(
                      pl.format("its container ({})", "_name"))).alias("why"),
        pl.lit(None, pl.String).alias("event_id")))


def audited_execs(api: pl.DataFrame | None) -> pl.Series:
    """The processes an audited ``pods/exec`` or attach started (``case.api_calls()``'s
    ``linked_exec_id`` of its ``exec``/``attach`` links): the exec'd processes the audit log explains.

    >>> a = pl.DataFrame({"link": ["exec", "created-pod", None], "linked_exec_id": ["sh", "p1", None]})
    >>> audited_execs(a).to_list()
    ['sh']
    """
    if api is None or api.height == 0 or not {"link", "linked_exec_id"} <= set(api.columns):
        return pl.Series("exec_id", [], dtype=pl.String)
    return api.filter(pl.col("link").is_in(["exec", "attach"]) & pl.col("linked_exec_id").is_not_null())[
        "linked_exec_id"].cast(pl.String).unique().alias("exec_id")


__all__ = ["audited_execs", "named_exec_edges"]
