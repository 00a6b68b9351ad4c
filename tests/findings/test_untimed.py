"""A source that writes no process start times (Inspektor Gadget): a process whose exec the
capture saw started at its exec event; one running before the capture began came before every
process the capture saw start (its pod's startup is not in the capture, its children are a
service's, it is its container's init)."""

from __future__ import annotations

import duckdb
import polars as pl

from kernelsec_nb.findings import _evidence as E
from kernelsec_nb.findings._frames import _exec_starts
from kernelsec_nb.findings._init_tree import with_init_tree
from kernelsec_nb.findings.routine import startup
from tests.findings.test_engine import frames, proc


class _Case:
    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("CREATE TABLE process_events AS SELECT * FROM (VALUES ('e1', 500), ('e2', 900)) "
                         "t(event_id, time_ns)")


def _untimed():
    """A JVM running before the capture (no start time) whose shell and curl the capture saw exec."""
    rows = [proc("rt", None, None, "/usr/bin/runc", "", None, seen="reference"),
            proc("java", "rt", "api-1", "java", "", None, seen="event", init=None),
            proc("sh", "java", "api-1", "/bin/sh", "-c curl", 500, init=None),
            proc("curl", "sh", "api-1", "/usr/bin/curl", "x", 900, init=None)]
    p = frames(rows)["procs"]
    return p.with_columns(pl.Series("exec_event_id", [None, None, "e1", "e2"], dtype=pl.String),
                          pl.lit(None, pl.Int64).alias("start_ns"))


def test_a_process_whose_exec_the_capture_saw_started_at_its_exec_event():
    got = _exec_starts(_Case(), _untimed())
    assert got["start_ns"].to_list() == [None, None, 500, 900]
    # a start time the source wrote is kept
    timed = _untimed().with_columns(pl.lit(7, pl.Int64).alias("start_ns"))
    assert _exec_starts(_Case(), timed)["start_ns"].to_list() == [7] * 4


def test_a_process_running_before_the_capture_came_first_in_its_pod():
    p = _exec_starts(_Case(), _untimed())
    # its pod's processes are not the pod's startup: the pod started before the capture
    two = pl.concat([p, p.with_columns(pl.col("pod").str.replace("1", "2"),
                                       pl.col("exec_id") + "-2")])
    assert startup(two.with_columns(pl.lit(True).alias("in_init_tree"))).filter(
        pl.col("reason").str.contains("own start"))["exec_id"].to_list() == []
    # it is its container's init; the shell a service's child
    tree = with_init_tree(p)
    assert dict(tree.select("exec_id", "in_init_tree").iter_rows()) == {
        "rt": None, "java": True, "sh": True, "curl": True}
    ev = E.entry_kinds(tree.with_columns(pl.lit(None, pl.String).alias("container_id")))
    assert ev.filter(pl.col("kind") == E.SERVICE_CHILD)["exec_id"].to_list() == ["sh"]
