"""DuckDB ``COPY`` of a source to a file: streamed by DuckDB, never whole in Python."""

from __future__ import annotations

from pathlib import Path

from kernelsec_nb.export._source import Source


def literal(path: Path) -> str:
    """``path`` as a SQL string literal (COPY takes no parameter for its target).

    >>> literal(Path("/tmp/it's.csv"))
    "'/tmp/it''s.csv'"
    """
    return "'" + str(path).replace("'", "''") + "'"


def copy(con: object, src: Source, path: Path, options: str) -> int:
    """``COPY (src) TO path (options)``; the number of rows written."""
    rows = con.execute(f"COPY ({src.sql}) TO {literal(path)} ({options})", src.params).fetchall()  # type: ignore[attr-defined]
    return int(rows[0][0]) if rows else 0
