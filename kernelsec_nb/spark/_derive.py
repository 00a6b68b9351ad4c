"""The derived tables, computed where the rows are: the project's own SQL per key, in each task.

``processes`` (store/processes.sql) is one row per ``exec_id``, built from the rows whose
``exec_id`` or ``parent_exec_id`` is that id (its exec and exit, its own events, its hooks, its
children's events naming it as their parent).  Spark sends each Tetragon row to the task of its
``exec_id``, and to the task of each ``parent_exec_id`` only what processes.sql reads of the
children (the first exec or exit naming it, by time then event id, and each node and source
naming it: ``kernelsec_nb.spark.load._process_rows``), with only the columns processes.sql reads
(:data:`PROCESS_COLUMNS`); each task runs processes.sql, unchanged, in an in-memory case over the
rows it received, and keeps the processes of the ids it was sent (those are complete there;
another id, seen only through a child, may be partial, and is built by its own task).

The alerts' Kubernetes fields (``store/_derived.py``: an alert without them takes the pod of
Tetragon's processes in its container) are filled the same way, per ``container_id``.

Nothing here imports pyspark.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator

import pyarrow as pa

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


def _grouped(batches: Iterable[pa.RecordBatch], tags: Iterable[str]) -> tuple[dict[str, pa.Table], list]:
    """The rows of each tag (as tables), and every key the task was sent."""
    parts: dict[str, list[pa.RecordBatch]] = {t: [] for t in tags}
    keys: list = []
    for batch in batches:
        if not batch.num_rows:
            continue
        table = pa.Table.from_batches([batch])
        keys.extend(table.column("k").to_pylist())
        for tag in parts:
            rows = table.filter(pa.compute.equal(table.column("t"), tag))
            if rows.num_rows:
                parts[tag].append(pa.Table.from_struct_array(rows.column(tag)))
    return {t: pa.concat_tables(p) for t, p in parts.items() if p}, keys


def build_processes(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """processes.sql over the rows of one task's ids (see the module)."""
    tables, keys = _grouped(batches, PROCESS_INPUTS)
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


def fill_alerts(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The alerts' fill (store/_derived.py) over one task's containers: rows tagged ``alerts``
    and ``processes`` (the processes' container, namespace, pod and workload)."""
    tables, _ = _grouped(batches, ("alerts", "processes"))
    if "alerts" not in tables:
        return
    case = _case()
    con = case.con
    try:
        con.register("_rows", tables["alerts"])
        con.execute("INSERT INTO alerts BY NAME SELECT * FROM _rows")
        con.unregister("_rows")
        if "processes" in tables:
            con.execute("DROP TABLE processes")
            con.register("_rows", tables["processes"])
            con.execute("CREATE TABLE processes AS SELECT * FROM _rows")
            con.unregister("_rows")
            con.execute(_derived._FILL_ALERTS_SQL)
        out = con.sql("SELECT * FROM alerts").to_arrow_table()
        yield from out.cast(schema).to_batches(max_chunksize=8192)
    finally:
        case.close()
