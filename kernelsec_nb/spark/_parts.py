"""What a Spark task writes: its rows as part files of the lake, in the lake's layout.

Every task writes its own part files (``part-<run>-<n>.parquet``, one per folder it has rows
for; ``n`` the export file's order for a file's rows, the task's number for a derived table)
straight into the lake's folders (:mod:`kernelsec_nb.lake._layout`: ``node`` and the UTC day as
hive partitions, escaped as Hive and Spark escape them, every column in the file, ``node`` too).  Spark's own writer cannot do that (it takes the partition column out of the files).  The
files are not read before the run is in the manifest; a retried task writes the same names
again.  The lake's folder must be reachable by every executor at the same path (a local folder
in local mode, a shared mount on a cluster).

Nothing here imports pyspark.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kernelsec_nb.lake import _layout

#: What a writing task returns: rows written per table.
COUNTS = pa.schema([pa.field("table", pa.string()), pa.field("rows", pa.int64())])
_NS_PER_DAY = 86_400_000_000_000


def table_schema(table: str) -> pa.Schema:
    """The Arrow schema of a table's part files: the layout's, or (a table of a source the
    layout does not list yet: written unpartitioned, nothing dropped) the case's."""
    if table in _layout.TABLES:
        return _layout.arrow_schema(table)
    from kernelsec_nb.spark._normalise import arrow_schemas

    return arrow_schemas()[table]


class Writers:
    """One open Parquet writer per (table, folder) of a task."""

    def __init__(self, root: str, run: str, part: int) -> None:
        self.root, self.run, self.part = Path(root), run, part
        self.open: dict[tuple[str, str], pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}

    def write(self, table: str, rows: pa.Table) -> None:
        schema = table_schema(table)
        rows = rows.select(schema.names).cast(schema)
        self.rows[table] = self.rows.get(table, 0) + rows.num_rows
        if table not in _layout.PARTITIONED:
            self._to(table, table, rows)
            return
        nodes = rows.column("node").to_pylist()
        keys = {n: _layout.partition_node(n) for n in set(nodes)}
        col = rows.column(_layout.PARTITIONED[table])
        missing = pc.is_null(col).to_numpy(zero_copy_only=False)
        ns = pc.fill_null(col, 0).to_numpy(zero_copy_only=False).astype(np.int64)
        days = np.where(missing, np.iinfo(np.int64).min, np.floor_divide(ns, _NS_PER_DAY))
        groups: dict[tuple[str | None, int], list[int]] = {}
        for i, (node, day) in enumerate(zip(nodes, days.tolist(), strict=True)):
            groups.setdefault((keys[node], day), []).append(i)
        for (key, day), idx in groups.items():
            date = None if day == np.iinfo(np.int64).min else _layout.day_of(day * _NS_PER_DAY)
            self._to(table, _layout.folder(table, key, date), rows.take(pa.array(idx, pa.int64())))

    def _to(self, table: str, folder: str, rows: pa.Table) -> None:
        writer = self.open.get((table, folder))
        if writer is None:
            dest = self.root / folder
            if not dest.resolve().is_relative_to((self.root / table).resolve()):  # never: '/' is escaped
                raise _layout.LakeError(f"refusing to write outside the lake: {dest}")
            dest.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(dest / _layout.part_name(self.run, self.part), rows.schema,
                                      compression="zstd")
            self.open[(table, folder)] = writer
        writer.write_table(rows)

    def paths(self) -> list[str]:
        """The part files written (one per folder)."""
        return [str(self.root / folder / _layout.part_name(self.run, self.part)) for _, folder in self.open]

    def close(self) -> pa.RecordBatch:
        for writer in self.open.values():
            writer.close()
        return pa.RecordBatch.from_arrays([pa.array(list(self.rows), pa.string()),
                                           pa.array(list(self.rows.values()), pa.int64())], schema=COUNTS)


def write_rows(batches: Iterable[pa.RecordBatch], root: str, run: str, part: int, table: str) -> Iterator[pa.RecordBatch]:
    """Write a task's rows of ``table`` (plain columns); yield the counts."""
    writers = Writers(root, run, part)
    for batch in batches:
        if batch.num_rows:
            writers.write(table, pa.Table.from_batches([batch]))
    yield writers.close()


def write_empty(root: str, run: str, table: str) -> None:
    """One empty file of ``table`` (in the default partitions): every reader then finds the table
    and its schema, as the local writer leaves it."""
    folder = _layout.folder(table, None, None) if table in _layout.PARTITIONED else table
    dest = Path(root) / folder
    dest.mkdir(parents=True, exist_ok=True)
    pq.write_table(table_schema(table).empty_table(), dest / _layout.part_name(run, 0), compression="zstd")


def ipc(rows: pa.Table) -> bytes:
    """``rows`` as one Arrow IPC stream: what Spark moves between tasks (opaque bytes)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, rows.schema) as writer:
        writer.write_table(rows)
    return sink.getvalue().to_pybytes()


def from_ipc(data: bytes) -> pa.Table:
    """The rows of :func:`ipc`'s bytes."""
    return pa.ipc.open_stream(data).read_all()
