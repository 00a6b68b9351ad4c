"""CSV: one file with a header row, written by DuckDB's ``COPY`` (streamed).

Lists and maps (``args`` lists, labels, ``team_tags``) are written as JSON text, times as DuckDB
writes a ``TIMESTAMPTZ`` (``2024-05-14 08:20:01.123456+00``), ``time_ns`` as the integer.

Examples
--------
>>> import kernelsec_nb as kn, tempfile, os
>>> write(kn.open_case(), os.path.join(tempfile.mkdtemp(), "e.csv"))["rows"]
0
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kernelsec_nb.export import Exporter, register
from kernelsec_nb.export._copy import copy
from kernelsec_nb.export._source import Source, select


def _nested_as_json(con: Any, src: Source) -> Source:
    """``src`` with every list, map or struct column as JSON text (CSV has no nesting)."""
    rel = con.sql(src.sql, params=src.params or None)
    cols = []
    for name, typ in zip(rel.columns, rel.types, strict=True):
        quoted = '"' + name.replace('"', '""') + '"'
        nested = any(x in str(typ) for x in ("[]", "MAP(", "STRUCT("))
        cols.append(f"to_json({quoted})::VARCHAR AS {quoted}" if nested else quoted)
    return Source(src.name, f"SELECT {', '.join(cols)} FROM ({src.sql})", src.params, src.columns)  # noqa: S608


def write(case: Any, path: Path, **source: Any) -> dict[str, Any]:
    """Write the source (see :func:`kernelsec_nb.export._source.select`) to the CSV file ``path``."""
    with select(case, **source) as src:
        rows = copy(case.con, _nested_as_json(case.con, src), path, "FORMAT CSV, HEADER")
    return {"format": "csv", "path": str(path), "rows": rows, "files": [str(path)]}


EXPORTER = register(Exporter("csv", "one CSV file with a header (lists and maps as JSON)", write))
