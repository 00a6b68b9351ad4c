"""JSON lines written from Arrow record batches (ECS): at most :data:`BATCH_ROWS` rows in Python.

The lines are JSON text DuckDB built (``to_json``); Python only writes them.

Examples
--------
>>> iso_utc(1_715_674_801_123_456_789)
'2024-05-14T08:20:01.123456+00:00'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from kernelsec_nb.export._source import Source

#: Rows converted to JSON at a time.
BATCH_ROWS = 4096
#: The time columns a row's time is taken from, first present first.
TIME_COLUMNS = ("time_ns", "start_ns")


def iso_utc(ns: int) -> str:
    """Nanoseconds since the epoch as ISO-8601 UTC with microseconds (what both Timesketch and
    Elasticsearch read)."""
    sec, frac = divmod(int(ns), 10**9)
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=sec)).strftime(
        "%Y-%m-%dT%H:%M:%S") + f".{frac // 1000:06d}+00:00"


def batches(con: Any, src: Source) -> Iterator[pa.RecordBatch]:
    """The rows of ``src`` as Arrow record batches of at most :data:`BATCH_ROWS` rows."""
    yield from con.sql(src.sql, params=src.params or None).to_arrow_reader(BATCH_ROWS)


def time_column(src: Source) -> str:
    """The column holding the rows' time, or a ``ValueError`` naming the source."""
    for col in TIME_COLUMNS:
        if col in src.columns:
            return col
    raise ValueError(f"{src.name} has no time column ({', '.join(TIME_COLUMNS)}): export it as csv or parquet")


def write_text_lines(con: Any, src: Source, path: Path) -> int:
    """Write the one text column of ``src`` (a JSON document a row), a line each; the number of lines."""
    written = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for batch in batches(con, src):
            lines = batch.column(0).to_pylist()
            if lines:
                out.write("\n".join(lines))
                out.write("\n")
                written += len(lines)
    return written
