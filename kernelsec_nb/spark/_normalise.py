"""What a Spark task runs: the project's own loader over its share of the export files.

Each task opens an in-memory case (:func:`kernelsec_nb.open_case`, the same schema) and loads
its files one by one with the local loader (:func:`kernelsec_nb.store.load._load_one`: reading,
decompressing, splitting, the fast routes and the general path, quarantine and accounting).
After each file it hands over the file's rows, its ``files`` row and its
:class:`~kernelsec_nb.store.report.FileResult`, tagged by table, and removes the rows: memory
holds one file's rows at a time.  A task's files therefore see each other only through their
``files`` rows (the same content loaded twice is "already loaded", as locally); duplicates of
events *across* files are the driver's global step (:mod:`kernelsec_nb.spark.load`).

A file whose events turned out to be duplicates of an earlier file's (or of the lake's) is
loaded a second time with those ids *seeded*: placeholder rows with those ``event_id`` s, so
that the loader counts them as duplicates and reports exactly what ``case.load`` reports
(counts, warnings, first and last time).

Nothing here imports pyspark: the same functions run in a plain Python test.

Examples
--------
>>> from kernelsec_nb.spark import _normalise
>>> {"process_events", "flows", "alerts"} <= set(_normalise.event_tables())
True
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa

from kernelsec_nb.store import load as _load
from kernelsec_nb.store._commits import BlockCommits
from kernelsec_nb.store._ingest import TABLES as _EVENT_TABLES
from kernelsec_nb.store._known import KnownIds
from kernelsec_nb.store._lines import BLOCK_BYTES, MAX_LINE_BYTES, BufferPool
from kernelsec_nb.store.report import FileResult

#: The tag of a task's output row that carries a file's result (its ``files`` row and report line).
RESULT = "result"
#: A seeded placeholder row's file (no export's path: paths are absolute).
_SEED_FILE = "(seen before)"
_SEED = "INSERT INTO other_events (event_id, file) SELECT unnest(?::VARCHAR[]), ?"
_UNSEED = "DELETE FROM other_events WHERE file = ?"


def event_tables() -> list[str]:
    """The tables a loaded event goes to (one per kind; ``events`` is a view over them)."""
    return [t.name for t in _EVENT_TABLES]


def row_tables() -> list[str]:
    """The tables a task hands rows of: the event tables and ``quarantine``."""
    return [*event_tables(), "quarantine"]


@functools.cache
def arrow_schemas() -> dict[str, pa.Schema]:
    """Each table's Arrow schema as the case's DuckDB gives it (``files`` included)."""
    import kernelsec_nb as kn

    case = kn.open_case()
    try:
        return {t: _arrow(case.con, f"SELECT * FROM {t} LIMIT 0").schema  # noqa: S608 - our names
                for t in [*row_tables(), "files"]}
    finally:
        case.close()


def output_schema(schemas: dict[str, pa.Schema]) -> pa.Schema:
    """The schema of a task's output: the table tag ``t``, the file's order ``o``, one struct
    column per table (only the tagged one set), and the file's result as JSON."""
    fields = [pa.field("t", pa.string()), pa.field("o", pa.int64())]
    fields += [pa.field(t, pa.struct(list(s))) for t, s in schemas.items()]
    fields.append(pa.field(RESULT, pa.string()))
    return pa.schema(fields)


def _tagged(schema: pa.Schema, tag: str, order: int, rows: pa.Table | None,
            result: str | None = None) -> pa.RecordBatch:
    n = rows.num_rows if rows is not None else 1
    cols = [pa.array([tag] * n, pa.string()), pa.array([order] * n, pa.int64())]
    for f in list(schema)[2:-1]:
        if rows is not None and f.name == tag:
            cols.append(_struct(rows, f.type))
        else:
            cols.append(pa.nulls(n, f.type))
    cols.append(pa.array([result] * n, pa.string()))
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def _struct(rows: pa.Table, type_: pa.StructType) -> pa.StructArray:
    table = rows.cast(pa.schema(list(type_)))
    return pa.StructArray.from_arrays([c.combine_chunks() for c in table.columns], fields=list(type_))


def _arrow(con, sql: str, params: list | None = None) -> pa.Table:
    return con.sql(sql, params=params).to_arrow_table()


def _batches(schema: pa.Schema, tag: str, order: int, rows: pa.Table, size: int = 8192) -> Iterator[pa.RecordBatch]:
    for start in range(0, rows.num_rows, size):
        yield _tagged(schema, tag, order, rows.slice(start, size))


def normalise(files: Iterable[tuple[int, str, list[str] | None]], schema: pa.Schema, *,
              known_files: list[dict] | None = None, with_rows: bool = True, threads: int = 1,
              block_bytes: int = BLOCK_BYTES) -> Iterator[pa.RecordBatch]:
    """Load each ``(order, path, seeded ids)`` with the local loader; yield tagged Arrow batches.

    ``known_files``: ``files`` rows of a lake this load adds to (the same content again is
    "already loaded", as it is for a case).  ``with_rows=False``: only the results (the second
    pass over files whose events were seen before).  ``threads``: DuckDB's threads in the task
    (Spark gives a task one core unless ``spark.task.cpus`` says more).
    """
    import kernelsec_nb as kn

    case = kn.open_case()
    con = case.con
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute(f"SET memory_limit = '{_load.LOAD_MEMORY_LIMIT}'")
        for row in known_files or []:
            con.execute(f"INSERT INTO files ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608 - our names
                        list(row.values()))
        pool = BufferPool()
        for order, path, seeded in sorted(files, key=lambda f: f[0]):
            yield from _one(con, schema, order, path, seeded or [], pool, with_rows, block_bytes)
    finally:
        case.close()


def _one(con, schema: pa.Schema, order: int, path: str, seeded: list[str], pool: BufferPool,
         with_rows: bool, block_bytes: int) -> Iterator[pa.RecordBatch]:
    if seeded:
        con.execute(_SEED, [seeded, _SEED_FILE])
    commits = BlockCommits(con)
    try:
        result = _load._load_one(con, Path(path), None, 0, block_bytes, MAX_LINE_BYTES, pool, commits,
                                 KnownIds(con))
    finally:
        commits.close()
    if seeded:
        con.execute(_UNSEED, [_SEED_FILE])
    files = _arrow(con, "SELECT * FROM files WHERE path = ?", [path])
    if result.status in ("loaded", "damaged") and with_rows:
        for table in row_tables():
            rows = _arrow(con, f"SELECT * FROM {table} WHERE file = ?", [path])  # noqa: S608
            if rows.num_rows:
                yield from _batches(schema, table, order, rows)
    _load.discard(con, path)
    batch = _tagged(schema, RESULT, order, None, json.dumps(dataclasses.asdict(result)))
    if result.status in ("loaded", "damaged"):  # the files row under the "files" struct
        yield _tagged_files(schema, order, files, batch)
    else:
        yield batch


def _tagged_files(schema: pa.Schema, order: int, files: pa.Table, batch: pa.RecordBatch) -> pa.RecordBatch:
    """The result batch with the file's ``files`` row in its ``files`` column."""
    col = _struct(files, schema.field("files").type)
    i = schema.get_field_index("files")
    return batch.set_column(i, schema.field("files"), col)


def result_of(text: str) -> FileResult:
    """A :class:`FileResult` back from a task's JSON."""
    data = json.loads(text)
    data["sources"] = tuple(data["sources"])
    return FileResult(**data)
