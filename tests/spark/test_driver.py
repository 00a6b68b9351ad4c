"""The driver stays flat in the input's size: its DuckDB (the clock offsets and the flows seen
twice join every flow) is capped and spills into the run's work folder (no Spark needed)."""

from __future__ import annotations

import importlib
import types

from kernelsec_nb.spark import _normalise
from kernelsec_nb.store import _twice

spark_load = importlib.import_module("kernelsec_nb.spark.load")  # the package's `load` is the function


def test_the_drivers_duckdb_is_capped_and_spills_into_the_work_folder(tmp_path):
    store = types.SimpleNamespace(root=tmp_path / "it's a lake", run="r1")
    case = spark_load._driver_case(store)
    try:
        con = case.con
        limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        assert limit.endswith(("MiB", "KiB", "MB", "KB")) and float(limit.split()[0]) <= 64
        # one thread: with two, the join below ran out of memory in about half the runs
        assert con.execute("SELECT current_setting('threads')").fetchall()[0][0] == 1
        spill = con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
        assert spill.startswith(_normalise.work_folder(str(store.root), store.run))
        # the join of every flow still runs under the cap (it spills)
        con.execute("INSERT INTO flows (event_id, file, node, time_ns, src_ip, src_port, dst_ip, dst_port, protocol, "
                    "verdict, is_reply, traffic_direction) SELECT 'e' || i, 'f' || (i % 2), 'n', i // 2, "
                    "'10.0.0.' || (i // 2 % 250), i // 2 % 60000, '10.1.0.1', 80, 'TCP', 'FORWARDED', false, 'EGRESS' "
                    "FROM range(400000) t(i)")
        assert _twice.flows_seen_twice(con, ["f1"])
    finally:
        case.close()
