"""Events seen in more than one file, found on bucketed ids (the copy of the first file in load
order stays, as ``case.load`` keeps it; none where the lake has the event already).

The ids are cut into buckets by DuckDB's ``hash`` of the ``event_id`` (the same in every process),
modulo the number of buckets: each task of the first pass hands Spark, per file and bucket, one
Arrow IPC value of that file's ids (:func:`bucketed`); the lake's ids are bucketed the same way
from its part files (:func:`lake_ids`, order ``-1``).  Spark moves those opaque values to their
bucket's task (an RDD shuffle: the JVM converts no row, plans no query); each bucket's task
(:func:`losers`) finds the ids of its bucket seen in more than one file and sends, per file that
lost events, the ids an earlier file (or the lake) has.
A bucket's task holds its bucket's ids in memory (the run's and the lake's, over the number of
buckets: a few per core of the cluster).

Nothing here imports pyspark.

Examples
--------
>>> import pyarrow as pa
>>> from kernelsec_nb.spark import _dedup, _parts
>>> ids = pa.table({"event_id": ["a", "b"]})
>>> items = [(0, (0, _parts.ipc(ids))), (0, (1, _parts.ipc(pa.table({"event_id": ["b", "c"]}))))]
>>> [(o, _parts.from_ipc(v).column("event_id").to_pylist()) for o, v in _dedup.losers(items)]
[(1, ['b'])]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

from kernelsec_nb.spark import _parts

#: The ids of a bucket seen in more than one file (``o``: the file's order, ``-1`` the lake),
#: and the files that lost them to an earlier one.
_LOSERS_SQL = """
WITH multi AS (SELECT event_id, min(o) AS first FROM _ids GROUP BY event_id HAVING count(*) > 1)
SELECT i.o, i.event_id FROM _ids AS i JOIN multi USING (event_id)
WHERE i.o >= 0 AND i.o > multi.first
ORDER BY i.o
"""


def _connect():
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 1")
    return con


def bucketed(con, order: int, ids: pa.ChunkedArray | pa.Array, n: int) -> Iterator[tuple[int, tuple[int, bytes]]]:
    """A file's ids (``order``) cut into ``n`` buckets: ``(bucket, (order, Arrow IPC))`` per bucket
    (``con``: a DuckDB connection, for its ``hash``)."""
    con.register("_ids", pa.table({"event_id": ids}))
    try:
        rows = con.sql(f"SELECT hash(event_id) % {int(n)} AS _b, event_id FROM _ids").to_arrow_table()  # noqa: S608
    finally:
        con.unregister("_ids")
    buckets = rows.column("_b").to_numpy()
    rows = rows.drop_columns(["_b"])
    for b in np.unique(buckets).tolist():
        yield int(b), (order, _parts.ipc(rows.filter(pa.array(buckets == b))))


def lake_ids(paths: Iterable[str], n: int) -> Iterator[tuple[int, tuple[int, bytes]]]:
    """The ids of the lake's part files ``paths`` (of its event tables), bucketed as the new
    files' ids with the order ``-1`` (before every file of the run)."""
    con = _connect()
    try:
        for path in paths:
            ids = con.sql("SELECT event_id FROM read_parquet(?)", params=[path]).to_arrow_table()
            if ids.num_rows:
                yield from bucketed(con, -1, ids.column("event_id"), n)
    finally:
        con.close()


def losers(items: Iterable[tuple[int, tuple[int, bytes]]]) -> Iterator[tuple[int, bytes]]:
    """One bucket's values from :func:`bucketed` and :func:`lake_ids`: per file that lost events
    of this bucket to an earlier file (or the lake), ``(order, Arrow IPC of those ids)``."""
    orders, tables = [], []
    for _, (order, data) in items:
        ids = _parts.from_ipc(data)
        orders.append(pa.array(np.full(ids.num_rows, order, np.int64)))
        tables.append(ids.column("event_id").cast(pa.string()))
    if not tables:
        return
    con = _connect()
    try:
        con.register("_ids", pa.table({"event_id": pa.chunked_array([c for t in tables for c in t.chunks], pa.string()),
                                       "o": pa.chunked_array(orders, pa.int64())}))
        lost = con.sql(_LOSERS_SQL).to_arrow_table()
    finally:
        con.close()
    if not lost.num_rows:
        return
    col = lost.column("o").to_numpy()
    for o in np.unique(col).tolist():
        yield int(o), _parts.ipc(lost.filter(pa.array(col == o)).select(["event_id"]))


__all__ = ["bucketed", "lake_ids", "losers"]
