"""The derived tables, computed where the rows are: the project's own SQL per key, in each task.

``processes`` (store/processes.sql) is one row per ``exec_id``, built from the rows whose
``exec_id`` or ``parent_exec_id`` is that id (its exec and exit, its own events, its hooks, its
children's events naming it as their parent).  The ids are cut into buckets (DuckDB's ``hash``
of the id, modulo the number of buckets).  A first stage of tasks reads the lake's Tetragon part
files (:func:`bucket_rows`: only the columns processes.sql reads, :data:`PROCESS_COLUMNS`) and
sends each row to the bucket of its ``exec_id``, and to the bucket of each ``parent_exec_id``
only what processes.sql reads of the children (the first exec or exit naming it, by time then
event id, and each node and source naming it), each part file's share of a bucket as one Arrow
IPC value; Spark moves those values to their bucket's task (an RDD shuffle: the JVM converts no
row).  Each bucket's task (:func:`build_bucket`) takes the first child over every file, runs
processes.sql, unchanged, in an in-memory case over the rows it received, and keeps the
processes of the ids it was sent (those are complete there; another id, seen only through a
child, may be partial, and is built by its own task).  Spark's own rows (DataFrames shuffled by
id, then converted to Arrow for the tasks) cost the JVM more than the whole ingest costs Python
(benchmarks/RESULTS.md).

The alerts' Kubernetes fields (``store/_derived.py``: an alert without them takes the pod of
Tetragon's processes in its container) are filled the same way, per ``container_id``.

Nothing here imports pyspark.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

from kernelsec_nb.spark import _parts
from kernelsec_nb.store import _derived

#: The ids processes.sql reads each Tetragon table's rows by.
PROCESS_INPUTS = {
    "process_events": ("exec_id", "parent_exec_id"),
    "kprobes": ("exec_id", "parent_exec_id"),
    "other_events": ("parent_exec_id",),
}
#: The columns of those rows processes.sql reads (and ``kind``, ``event_id``: the ``events`` view,
#: the one copy per row); the others are left NULL, so the shuffle carries only these.
#: ``tests/spark/test_derive.py`` builds ``processes`` from these columns and from all of them.
PROCESS_COLUMNS = {
    "process_events": ("event_id", "kind", "time_ns", "source", "node", "exec_id", "parent_exec_id", "namespace",
                       "pod", "workload", "container_id", "container_full_id", "container_name", "image",
                       "pod_labels", "pid", "tid", "uid", "auid", "binary", "args", "cwd", "flags", "start_ns",
                       "in_init_tree", "cap_permitted", "cap_effective", "cap_inheritable", "exit_status", "signal",
                       "parent_pid", "parent_uid", "parent_binary", "parent_args", "parent_cwd", "parent_flags",
                       "parent_start_ns", "parent_parent_exec_id", "parent_namespace", "parent_pod",
                       "parent_workload", "parent_container_id", "parent_in_init_tree"),
    "kprobes": ("event_id", "kind", "time_ns", "source", "node", "exec_id", "parent_exec_id", "namespace", "pod",
                "workload", "container_id", "pid", "uid", "binary", "args", "start_ns", "in_init_tree"),
    "other_events": ("event_id", "kind", "source", "node", "parent_exec_id"),
}
#: The alerts that a fill may change (the condition of _FILL_ALERTS_SQL).
FILLABLE = "container_id IS NOT NULL AND pod IS NULL AND namespace IS NULL"
FILL_FROM = ("container_id", "namespace", "pod", "workload")


def _case():
    import kernelsec_nb as kn

    case = kn.open_case()
    case.con.execute("SET threads = 1")
    return case


@functools.cache
def processes_schema() -> pa.Schema:
    case = _case()
    try:
        return case.con.sql("SELECT * FROM processes LIMIT 0").to_arrow_table().schema
    finally:
        case.close()


def build_processes(tables: dict[str, pa.Table], keys: list, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """processes.sql over the rows of one task's ids ``keys`` (see the module): the processes of
    those ids."""
    if not keys:
        return
    case = _case()
    con = case.con
    try:
        for name, rows in tables.items():
            con.register("_rows", rows)
            # a row sent for two ids of the same task arrives twice: one copy (event ids are unique)
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _rows "  # noqa: S608 - our names
                        "QUALIFY row_number() OVER (PARTITION BY event_id) = 1")
            con.unregister("_rows")
        con.execute(_derived._PROCESSES_SQL)
        con.register("_keys", pa.table({"k": pa.array(keys, pa.string())}))
        out = con.sql("SELECT * FROM processes WHERE exec_id IN (SELECT k FROM _keys)").to_arrow_table()
        yield from out.cast(schema).to_batches(max_chunksize=8192)
    finally:
        case.close()


# -- processes without Spark's rows: the tasks bucket the part files' rows themselves ---------
#: What each bucket's share of a part file is sent as: the rows by their own ``exec_id``
#: (``exec``), each parent's first child in that file (``first``), the (node, source) pairs
#: naming a parent (``named``).
_BUCKET_SQL = {
    "exec": "SELECT exec_id AS k, {cols} FROM _part WHERE exec_id IS NOT NULL",
    "first": ("SELECT parent_exec_id AS k, {cols} FROM _part WHERE parent_exec_id IS NOT NULL "
              "QUALIFY row_number() OVER (PARTITION BY parent_exec_id "
              "ORDER BY time_ns IS NULL, time_ns, event_id) = 1"),
    "named": "SELECT DISTINCT parent_exec_id AS k, node, source FROM _part WHERE parent_exec_id IS NOT NULL",
}


def bucket_rows(parts: Iterable[tuple[str, str]], n: int) -> Iterator[tuple[int, tuple[str, str, bytes]]]:
    """What :func:`build_bucket` needs of the part files ``parts`` (``(table, path)`` of the
    Tetragon tables), split into ``n`` buckets by the id it is sent for (DuckDB's ``hash``, the
    same in every process): ``(bucket, (table, kind, Arrow IPC stream))`` per part file, kind and
    bucket.  Only :data:`PROCESS_COLUMNS` are read; a parent's children are reduced to the first
    and the distinct (node, source) pairs in each file already.  Spark then moves these few
    opaque values to their bucket's task (no row of them is converted by Spark)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")
        for table, path in parts:
            cols = ", ".join(f'"{c}"' for c in PROCESS_COLUMNS[table])
            con.execute(f"CREATE OR REPLACE TEMP TABLE _part AS SELECT {cols} FROM read_parquet(?)",  # noqa: S608
                        [path])
            kinds = ["exec"] if PROCESS_INPUTS[table][0] == "exec_id" else []
            kinds += ["first"] if table == "process_events" else []
            for kind in [*kinds, "named"]:
                rows = con.sql(f"SELECT hash(k) % {int(n)} AS _b, * FROM ({_BUCKET_SQL[kind].format(cols=cols)})"  # noqa: S608
                               ).to_arrow_table()
                if not rows.num_rows:
                    continue
                buckets = rows.column("_b").to_numpy()
                rows = rows.drop_columns(["_b"])
                for b in np.unique(buckets).tolist():
                    yield int(b), (table, kind, _parts.ipc(rows.filter(pa.array(buckets == b))))
    finally:
        con.close()


def build_bucket(items: Iterable[tuple[str, str, bytes]], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """processes.sql over one bucket's values from :func:`bucket_rows`: the processes of its ids
    (the ids of its rows by ``exec_id`` and the parents named), as :func:`build_processes` builds
    them from Spark's rows."""
    import duckdb

    got: dict[tuple[str, str], list[pa.Table]] = {}
    for table, kind, data in items:
        got.setdefault((table, kind), []).append(_parts.from_ipc(data))
    if not got:
        return
    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")
        tables: dict[str, list[pa.Table]] = {}
        keys: set = set()
        for (table, kind), parts in got.items():
            rows = pa.concat_tables(parts)
            keys.update(rows.column("k").to_pylist())
            con.register("_rows", rows)
            if kind == "first":  # the first child over every file
                rows = con.sql("SELECT * EXCLUDE (k) FROM _rows QUALIFY row_number() OVER (PARTITION BY k "
                               "ORDER BY time_ns IS NULL, time_ns, event_id) = 1").to_arrow_table()
                tables.setdefault(table, []).append(rows)
            elif kind == "named":  # as other_events rows, one per (parent, node, source)
                named = con.sql("SELECT DISTINCT k AS parent_exec_id, node, source FROM _rows").to_arrow_table()
                ids = [json.dumps(r) for r in zip(*(named.column(c).to_pylist()  # one id each, unambiguous
                                                      for c in ("parent_exec_id", "node", "source")), strict=True)]
                tables.setdefault("other_events", []).append(named.append_column("event_id", pa.array(ids, pa.string())))
            else:
                tables.setdefault(table, []).append(rows.drop_columns(["k"]))
            con.unregister("_rows")
    finally:
        con.close()
    yield from build_processes({t: pa.concat_tables(p, promote_options="default") for t, p in tables.items()},
                      sorted(keys), schema)


def bucket_alerts(items: Iterable[tuple[str, str]], n: int, schema: pa.Schema) -> Iterator[tuple[int, tuple[str, bytes]]]:
    """What the alerts' fill needs of the part files ``items`` (``("alerts", path)``: every column
    of ``schema``; ``("processes", path)``: :data:`FILL_FROM` of the processes with a container
    and a pod), cut into ``n`` buckets by ``container_id`` as :func:`bucket_rows` cuts by id:
    ``(bucket, (kind, Arrow IPC stream))`` per part file and bucket."""
    import duckdb

    cols = {"alerts": ", ".join(f'"{c}"' for c in schema.names), "processes": ", ".join(FILL_FROM)}
    where = {"alerts": "", "processes": " WHERE container_id IS NOT NULL AND pod IS NOT NULL"}
    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")
        for kind, path in items:
            rows = con.sql(f"SELECT hash(container_id) % {int(n)} AS _b, {cols[kind]} "  # noqa: S608 - our names
                           f"FROM read_parquet(?){where[kind]}", params=[path]).to_arrow_table()
            if not rows.num_rows:
                continue
            buckets = rows.column("_b").to_numpy()
            rows = rows.drop_columns(["_b"])
            if kind == "alerts":
                rows = rows.cast(schema)
            for b in np.unique(buckets).tolist():
                yield int(b), (kind, _parts.ipc(rows.filter(pa.array(buckets == b))))
    finally:
        con.close()


def fill_bucket(items: Iterable[tuple[int, tuple[str, bytes]]], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The alerts' fill (store/_derived.py) over one bucket's values from :func:`bucket_alerts`:
    its alerts, their Kubernetes fields taken from the processes in their containers."""
    got: dict[str, list[pa.Table]] = {"alerts": [], "processes": []}
    for _, (kind, data) in items:
        got[kind].append(_parts.from_ipc(data))
    if not got["alerts"]:
        return
    case = _case()
    con = case.con
    try:
        con.register("_rows", pa.concat_tables(got["alerts"]))
        con.execute("INSERT INTO alerts BY NAME SELECT * FROM _rows")
        con.unregister("_rows")
        if got["processes"]:
            con.execute("DROP TABLE processes")
            con.register("_rows", pa.concat_tables(got["processes"], promote_options="default"))
            con.execute("CREATE TABLE processes AS SELECT * FROM _rows")
            con.unregister("_rows")
            con.execute(_derived._FILL_ALERTS_SQL)
        out = con.sql("SELECT * FROM alerts").to_arrow_table()
        yield from out.cast(schema).to_batches(max_chunksize=8192)
    finally:
        case.close()


def any_fillable(paths: list[str]) -> bool:
    """Whether an alert of the part files ``paths`` may take its Kubernetes fields from a
    process (:data:`FILLABLE`): DuckDB on the driver, one thread, stopping at the first."""
    if not paths:
        return False
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")
        return bool(con.execute(f"SELECT 1 FROM read_parquet(?, union_by_name = true) WHERE {FILLABLE} LIMIT 1",  # noqa: S608
                                [paths]).fetchall())
    finally:
        con.close()
