"""A file a session exec'd into a pod dropped under its server's working directory, then, with no
read hook to show the server opening it, an unusual child of that server (a web shell used half an
hour later): the session joins what the child did (``served`` edges)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import graph as G
from kernelsec_nb.findings.engine import find_in
from tests.findings.test_engine import S
from tests.findings.test_read_spawn import _dropped_then_served


def _with_cwd(fr, server_cwd="/www"):
    """The frames of ``_dropped_then_served(read=False)`` with the working directories Tetragon
    reports: the server's ``server_cwd``, the exec'd-in session's ``/``."""
    cwd = pl.when(pl.col("in_init_tree").fill_null(False)).then(pl.lit(server_cwd)).otherwise(pl.lit("/"))
    return {**fr, "procs": fr["procs"].with_columns(cwd.alias("cwd"))}


def _edges(fr, unusual=("drop", "b64", "id", "rs", "bi")):
    return G.served_edges(G.file_accesses(fr["kprobes"]), fr["procs"], list(unusual)).select("src", "dst", "kind").rows()


def test_a_file_dropped_under_the_servers_directory_links_the_dropper_to_the_servers_later_unusual_children():
    fr = _with_cwd(_dropped_then_served(read=False))
    assert _edges(fr) == [("proc:drop", "file:a/web-1:/www/up/x.php", "write"),
                          ("file:a/web-1:/www/up/x.php", "proc:id", "served"),
                          ("file:a/web-1:/www/up/x.php", "proc:rs", "served")]
    # the server's routine children (its mailer) link nothing
    assert _edges(fr, unusual=("drop", "b64", "bi")) == []


def test_no_link_outside_the_servers_directory_from_the_containers_own_tree_or_after_the_window():
    base = _dropped_then_served(read=False)
    assert _edges(_with_cwd(base, "/srv/app")) == []  # the file is not under what the server serves
    assert _edges(_with_cwd(base, "/")) == []  # a server working in / serves nothing in particular
    # a write by a process of the container's own tree (the server's own cache) is no drop
    own = _with_cwd(base)
    own = {**own, "procs": own["procs"].with_columns(
        pl.when(pl.col("exec_id") == "drop").then(True).otherwise(pl.col("in_init_tree")).alias("in_init_tree"))}
    assert _edges(own) == []
    # children started more than served_window (1 h) after the drop
    late = _with_cwd(base)
    late = {**late, "procs": late["procs"].with_columns(
        pl.when(pl.col("parent_exec_id") == "srv").then(pl.col("start_ns") + 3600 * S).otherwise(pl.col("start_ns"))
        .alias("start_ns"))}
    assert _edges(late) == []


def test_the_session_that_dropped_a_file_the_server_later_ran_a_shell_from_is_the_incidents_entry():
    f = find_in(**_with_cwd(_dropped_then_served(read=False)))
    (i,) = f.incidents
    assert i.entry is not None and i.entry.exec_id == "drop"
    assert not any("drop" in lead.exec_ids for lead in f.leads)
    # the same drop outside the server's directory stays apart (as without cwd: test_read_spawn)
    f = find_in(**_with_cwd(_dropped_then_served(read=False), "/srv/app"))
    assert all(i.entry is None or i.entry.exec_id != "drop" for i in f.incidents)
