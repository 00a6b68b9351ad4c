"""Files a process named in its arguments and a later process ran: a write seen without file hooks.

``curl -o /tmp/x …`` (or ``wget -O``, ``chmod +x /tmp/x``, ``cp a /tmp/x``) names the path it
puts a program at; a later process whose binary is that path ran what it put there.  Without
Tetragon file hooks no event says the first wrote the file, but the two processes are one
attacker's steps (often two separate commands, e.g. two requests into an exploited service).
:func:`named_writes` returns such writes as file accesses (the columns of
:func:`kernelsec_nb.findings.graph.file_accesses`), so :func:`kernelsec_nb.findings.graph.file_edges`
joins writer and runner as it does for hooked writes.

Examples
--------
>>> p = pl.DataFrame({"exec_id": ["dl", "run"], "parent_exec_id": ["s1", "s2"], "node": ["n", "n"],
...                   "namespace": ["a", "a"], "pod": ["web", "web"], "binary": ["/usr/bin/curl", "/tmp/k"],
...                   "args": ["-sLo /tmp/k https://x/k", "get pods"], "start_ns": [10, 99]})
>>> named_writes(p).select("exec_id", "path", "access").rows()
[('dl', '/tmp/k', 'write')]
"""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import graph as G

_ACCESS = {"exec_id": pl.String, "node": pl.String, "namespace": pl.String, "pod": pl.String, "path": pl.String,
           "time_ns": pl.Int64, "event_id": pl.String, "access": pl.String, "mode_known": pl.Boolean}


def _col(f: pl.DataFrame, c: str) -> pl.Expr:
    return pl.col(c).cast(pl.String) if c in f.columns else pl.lit(None, pl.String)


def named_writes(procs: pl.DataFrame, escaped: pl.Series | list[str] | None = None) -> pl.DataFrame:
    """Writes by name: a process whose argument is an absolute path (alone, after ``--opt=`` or
    glued to a short option such as ``-o/tmp/x``) that a later process of the same pod (or of the
    same node's host) ran as its binary, when no process had run that path before the namer
    started (a program already in the image is not written by naming it) and the namer is not the
    runner's launcher (``nohup /tmp/x``, ``su-exec u /bin/sh -c …`` start it, they do not write it:
    an ancestor, the same pid, or arguments that go on with the runner's).  Of namers one above the
    other (``sh -c "curl -o /tmp/x …"`` and its ``curl``), the lower did it.  One access row per
    (namer, path), at the namer's start, ``access`` ``write``.

    ``escaped``: processes of pods that escaped to their node's host (an escape-to-host detection:
    ``nsenter -t 1 -m …``, ``chroot /host …``); what they and the processes below them name is
    the host's path, so a later run of it by a host process (no pod) of the node counts too —
    ``nsenter … bash -c "curl -so /usr/local/bin/x …"``, then systemd runs ``/usr/local/bin/x``.

    >>> p = pl.DataFrame({"exec_id": ["ns", "dl", "svc"], "parent_exec_id": ["c", "ns", "systemd"],
    ...                   "node": ["n"] * 3, "namespace": ["a", "a", None], "pod": ["x-1", "x-1", None],
    ...                   "binary": ["/usr/bin/nsenter", "/usr/bin/curl", "/usr/local/bin/h"],
    ...                   "args": ["-t 1 -m -- sh", "-so /usr/local/bin/h http://y/h", ""], "start_ns": [1, 2, 9]})
    >>> named_writes(p, ["ns"]).select("exec_id", "pod", "path").rows()
    [('dl', 'x-1', '/usr/local/bin/h')]
    >>> named_writes(p).height
    0
    """
    need = {"exec_id", "binary", "args", "start_ns"}
    if procs.height == 0 or not need <= set(procs.columns):
        return pl.DataFrame(schema=_ACCESS)
    p = procs.filter(pl.col("start_ns").is_not_null()).select(
        pl.col("exec_id"), _col(procs, "parent_exec_id").alias("parent"), _col(procs, "node").alias("node"),
        _col(procs, "namespace").alias("namespace"), _col(procs, "pod").alias("pod"), pl.col("binary"),
        pl.col("args"), pl.col("start_ns"), _col(procs, "exec_event_id").alias("event_id"),
        (pl.col("pid").cast(pl.Int64) if "pid" in procs.columns else pl.lit(None, pl.Int64)).alias("pid"))
    runs = p.filter(pl.col("binary").str.starts_with("/")).group_by("node", "namespace", "pod", "binary").agg(
        pl.col("start_ns").min().alias("_first"), pl.col("exec_id").sort_by("start_ns").first().alias("_runner"))
    if runs.height == 0:
        return pl.DataFrame(schema=_ACCESS)
    tok = p.filter(pl.col("args").is_not_null()).with_columns(
        pl.col("args").str.split(" ").alias("path")).explode("path").with_columns(
        pl.col("path").str.replace(r"^(--[\w-]+=|-[A-Za-z])(/)", "$2"))
    tok = tok.filter(pl.col("path").str.starts_with("/") & (pl.col("path") != pl.col("binary")))
    cand = tok.join(runs, left_on=["node", "namespace", "pod", "path"], right_on=["node", "namespace", "pod", "binary"],
                    nulls_equal=True).filter(pl.col("start_ns") < pl.col("_first"))
    parent = dict(zip(p["exec_id"].to_list(), p["parent"].to_list(), strict=True))
    out_of_pod = _below(set(escaped if escaped is not None else []), parent)
    if out_of_pod:
        # a namer below an escape names the host's path: the host's runs of it (no pod) count too
        host = runs.filter(pl.col("pod").is_null() & pl.col("namespace").is_null()).drop("namespace", "pod")
        up = tok.filter(pl.col("pod").is_not_null() & pl.col("exec_id").is_in(list(out_of_pod)))
        cand = pl.concat([cand, up.join(host, left_on=["node", "path"], right_on=["node", "binary"]).filter(
            pl.col("start_ns") < pl.col("_first")).select(cand.columns)])
    if cand.height == 0:
        return pl.DataFrame(schema=_ACCESS)

    def ancestor(a: str, b: str) -> bool:
        seen, cur = set(), parent.get(b)
        while cur is not None and cur not in seen:
            if cur == a:
                return True
            seen.add(cur)
            cur = parent.get(cur)
        return False

    info = {x: (pid, args) for x, pid, args in p.select("exec_id", "pid", "args").iter_rows()}

    def launched(a: str, r: str, path: str) -> bool:
        """``a`` started ``r`` (an ancestor, the same pid after an exec, or ``a``'s arguments go on
        with ``r``'s after the path: ``su-exec user /bin/sh -c …``, ``env X=1 /tmp/x --y``)."""
        (apid, aargs), (rpid, rargs) = info.get(a, (None, None)), info.get(r, (None, None))
        rest = str(aargs or "").split(path, 1)[-1].strip()
        return ancestor(a, r) or (apid is not None and apid == rpid) or (
            bool(rargs) and rest.startswith(str(rargs).strip()))

    keep = [not launched(a, r, path) for a, r, path in cand.select("exec_id", "_runner", "path").iter_rows()]
    out = cand.filter(pl.Series(keep, dtype=pl.Boolean)).unique(["exec_id", "path"], keep="first", maintain_order=True)
    # a shell whose command line names the path only passed it on when a process below it names it too
    namers: dict[str, list[str]] = {}
    for a, path in out.select("exec_id", "path").iter_rows():
        namers.setdefault(path, []).append(a)
    deepest = [not any(b != a and ancestor(a, b) for b in namers[path]) for a, path in out.select("exec_id", "path").iter_rows()]
    out = out.filter(pl.Series(deepest, dtype=pl.Boolean))
    return out.select("exec_id", "node", "namespace", "pod", "path", pl.col("start_ns").alias("time_ns"), "event_id",
                      pl.lit("write").alias("access"), pl.lit(True).alias("mode_known")).cast(_ACCESS)  # type: ignore[arg-type]


def _below(top: set[str], parent: dict[str, str | None]) -> set[str]:
    """``top`` and every process whose ancestors include one of them."""
    if not top:
        return set()
    out = set(top)
    for x in parent:
        seen, cur = [], x
        while cur is not None and cur not in out and cur not in seen:
            seen.append(cur)
            cur = parent.get(cur)
        if cur in out:
            out.update(seen)
    return out


def named_file_edges(procs: pl.DataFrame, hooked: pl.DataFrame | None = None,
                     escaped: pl.Series | list[str] | None = None) -> pl.DataFrame:
    """The ``write`` → ``exec_file`` edges (:func:`kernelsec_nb.findings.graph.file_edges`) of the
    :func:`named_writes` that no hooked write (``hooked``: file accesses) already shows."""
    named = named_writes(procs, escaped)
    if hooked is not None and named.height and hooked.height:
        named = named.join(hooked.filter(pl.col("access") == "write").select("exec_id", "path"),
                           on=["exec_id", "path"], how="anti")
    return G.file_edges(named, procs) if named.height else G.empty_edges()


__all__ = ["named_file_edges", "named_writes"]
