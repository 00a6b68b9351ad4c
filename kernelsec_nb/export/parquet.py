"""Parquet per table: a folder with one ``<table>.parquet`` file per table, written by DuckDB's ``COPY``.

Without ``table``, ``method``, ``query`` or filters, every stored table of the case is written
as it is stored (``processes``, ``process_events``, ``kprobes``, ``flows``, ``alerts``,
``other_events``, ``files``, ``quarantine``, ``clock_offsets``, ``annotations``,
``saved_queries``; ``events`` is a view of the event tables and is not repeated): a copy any
Parquet reader opens.  With one of them, that one result is written (named after the table,
method or saved query) with a ``team_tags`` column.

Examples
--------
>>> import kernelsec_nb as kn, tempfile
>>> sorted(write(kn.open_case(), __import__("pathlib").Path(tempfile.mkdtemp()))["tables"])[:2]
['alerts', 'annotations']
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kernelsec_nb.export import Exporter, register
from kernelsec_nb.export._copy import copy
from kernelsec_nb.export._source import STORED_TABLES, select

_OPTIONS = "FORMAT PARQUET, COMPRESSION ZSTD, ROW_GROUP_SIZE 16384"


def _file_name(name: str) -> str:
    """A saved query's name as a file name (letters, digits, ``-``, ``_`` and ``.``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "query"


def write(case: Any, path: Path, **source: Any) -> dict[str, Any]:
    """Write the case's tables, or one source, to the folder ``path``."""
    whole = not any(v is not None for v in source.values())
    tables: dict[str, int] = {}
    files = []
    for table in (STORED_TABLES if whole else [None]):
        with select(case, **({"table": table, "tags": False} if whole else source)) as src:
            out = path / f"{_file_name(src.name)}.parquet"
            tables[src.name] = copy(case.con, src, out, _OPTIONS)
            files.append(str(out))
    return {"format": "parquet", "path": str(path), "rows": sum(tables.values()), "tables": tables, "files": files}


EXPORTER = register(Exporter("parquet", "a folder with one Parquet file per table", write, folder=True))
