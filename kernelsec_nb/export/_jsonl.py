"""JSON lines written from Arrow record batches (ECS): at most :data:`BATCH_ROWS` rows in memory.

Examples
--------
>>> iso_utc(1_715_674_801_123_456_789)
'2024-05-14T08:20:01.123456+00:00'
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
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


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return str(value)


def batches(con: Any, src: Source) -> Iterator[pa.RecordBatch]:
    """The rows of ``src`` as Arrow record batches of at most :data:`BATCH_ROWS` rows."""
    yield from con.sql(src.sql, params=src.params or None).to_arrow_reader(BATCH_ROWS)


def rows(con: Any, src: Source) -> Iterator[dict[str, Any]]:
    """The rows of ``src`` as dicts (maps as dicts), read batch by batch."""
    maps: list[str] | None = None
    for batch in batches(con, src):
        if maps is None:
            maps = [f.name for f in batch.schema if pa.types.is_map(f.type)]
        for row in batch.to_pylist():
            for m in maps:
                if row[m] is not None:
                    row[m] = dict(row[m])
            yield row


def time_column(src: Source) -> str:
    """The column holding the rows' time, or a ``ValueError`` naming the source."""
    for col in TIME_COLUMNS:
        if col in src.columns:
            return col
    raise ValueError(f"{src.name} has no time column ({', '.join(TIME_COLUMNS)}): export it as csv or parquet")


def write_lines(con: Any, src: Source, path: Path, document: Callable[[dict[str, Any]], dict[str, Any] | None]
                ) -> dict[str, int]:
    """Write ``document(row)`` of every row as one JSON line; rows it returns None for (no time)
    are counted as ``without_time``."""
    written = skipped = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for row in rows(con, src):
            doc = document(row)
            if doc is None:
                skipped += 1
                continue
            out.write(json.dumps(doc, ensure_ascii=False, default=_plain, separators=(",", ":")))
            out.write("\n")
            written += 1
    return {"rows": written, "without_time": skipped}
