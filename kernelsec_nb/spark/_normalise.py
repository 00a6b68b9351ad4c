"""What a Spark task runs: the project's own loader over its share of the export files, the
rows written straight into the lake.

Each task opens an in-memory case (:func:`kernelsec_nb.open_case`, the same schema) and loads
its files one by one with the local loader (:func:`kernelsec_nb.store.load._load_one`: reading,
decompressing, splitting, the fast routes and the general path, quarantine and accounting).
After each file it writes the file's rows as part files of this run (:mod:`~kernelsec_nb.spark._parts`:
``part-<run>-<file's order>.parquet`` in each folder of the lake's layout it has rows for; the
alerts into the run's work folder, as the driver may fill their Kubernetes fields) and hands
Spark only what the global steps need, as plain Python values: the file's ``event_id`` s cut
into buckets (one Arrow IPC value per bucket, :mod:`~kernelsec_nb.spark._dedup`), its ``files``
row, its :class:`~kernelsec_nb.store.report.FileResult` and the part files it wrote.  Then it
removes the rows: memory holds one file's rows at a time.  A task's files see each other only
through their ``files`` rows (the same content loaded twice is "already loaded", as locally);
duplicates of events *across* files are a global step (:mod:`kernelsec_nb.spark._dedup`).

A file whose events turned out to be duplicates of an earlier file's (or of the lake's) is
loaded a second time with those ids *seeded*: placeholder rows with those ``event_id`` s, so
that the loader counts them as duplicates, reports exactly what ``case.load`` reports (counts,
warnings, first and last time) and writes exactly the rows ``case.load`` keeps; its part files
of the first pass are replaced (the same names).

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

from kernelsec_nb.spark import _dedup, _parts
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


def work_folder(root: str, run: str) -> str:
    """Where a run's tasks put the new alerts until the driver has filled them (the lake's writer
    removes ``.work-*`` folders)."""
    return str(Path(root) / f".work-{run}")


def _arrow(con, sql: str, params: list | None = None) -> pa.Table:
    return con.sql(sql, params=params).to_arrow_table()


def normalise(files: Iterable[tuple[int, str, list[str] | None, list[str] | None]], root: str, run: str, *,
              known_files: list[dict] | None = None, threads: int = 1, buckets: int = 0,
              block_bytes: int = BLOCK_BYTES) -> Iterator[tuple]:
    """Load each ``(order, path, seeded ids, part files to replace)`` with the local loader,
    write its rows into the lake ``root`` as run ``run``'s part files; yield per file
    ``(RESULT, (order, FileResult as JSON, its files row or None, written as JSON))`` (written:
    the part files and the rows per table) and, when ``buckets``, its event ids cut into that
    many buckets (:func:`kernelsec_nb.spark._dedup.bucketed`: ``(bucket, (order, Arrow IPC))``).

    ``known_files``: ``files`` rows of a lake this load adds to (the same content again is
    "already loaded", as it is for a case).  ``threads``: DuckDB's threads in the task (Spark
    gives a task one core unless ``spark.task.cpus`` says more).
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
        for order, path, seeded, old in sorted(files, key=lambda f: f[0]):
            for part in old or []:  # the first pass's files of a file loaded again
                Path(part).unlink(missing_ok=True)
            yield from _one(con, order, path, seeded or [], pool, root, run, block_bytes, buckets)
    finally:
        case.close()


def _one(con, order: int, path: str, seeded: list[str], pool: BufferPool, root: str, run: str,
         block_bytes: int, buckets: int) -> Iterator[tuple]:
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
    written: dict = {"paths": [], "rows": {}}
    if result.status in ("loaded", "damaged"):
        lake = _parts.Writers(root, run, order)
        work = _parts.Writers(work_folder(root, run), run, order)
        events = set(event_tables())
        ids: list[pa.Array] = []
        for table in row_tables():
            rows = _arrow(con, f"SELECT * FROM {table} WHERE file = ?", [path])  # noqa: S608 - our names
            if not rows.num_rows:
                continue
            (work if table == "alerts" else lake).write(table, rows)
            if table in events:
                ids += rows.column("event_id").cast(pa.string()).chunks
        for writers in (lake, work):
            writers.close()
            written["paths"] += writers.paths()
            written["rows"] |= writers.rows
        if buckets and ids:
            yield from _dedup.bucketed(con, order, pa.chunked_array(ids, pa.string()), buckets)
    _load.discard(con, path)
    row = files.to_pylist()[0] if result.status in ("loaded", "damaged") and files.num_rows else None
    yield RESULT, (order, json.dumps(dataclasses.asdict(result)), row, json.dumps(written))


def result_of(text: str) -> FileResult:
    """A :class:`FileResult` back from a task's JSON."""
    data = json.loads(text)
    data["sources"] = tuple(data["sources"])
    return FileResult(**data)
