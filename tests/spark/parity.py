"""Compare a lake with a case, table by table, row by row (sorted).

The lake is read straight from its layout (the manifest's live runs' part files, ``node`` from
the files) with DuckDB, what any Parquet reader sees, and through ``kn.open_case(lake)``."""

from __future__ import annotations

from pathlib import Path

import duckdb

import kernelsec_nb as kn
from kernelsec_nb.lake import _layout
from kernelsec_nb.spark import _normalise

#: Columns that differ by design: when the file was loaded, when the derived tables were built.
_VOLATILE = {"files": ("loaded_at",), "case_state": ("built_at",)}


def rows(con, source: str, columns: list[str], params: list | None = None) -> list[tuple]:
    cols = ", ".join(f'"{c}"' for c in columns)
    return con.execute(f"SELECT {cols} FROM {source} ORDER BY ALL", params).fetchall()  # noqa: S608 - our names


def part_files(lake: Path, table: str) -> list[str]:
    """The part files that make ``table`` (the manifest's live runs)."""
    manifest = _layout.read_manifest(lake)
    live = set(_layout.live_runs(manifest, table))
    pattern = "*/*/*.parquet" if table in _layout.PARTITIONED else "*.parquet"
    return sorted(str(p) for p in (lake / table).glob(pattern) if _layout.run_of(p.name) in live)


def differences(case, lake: Path) -> dict[str, str]:
    """Per table, what differs between the case and the lake (empty: identical)."""
    out = {}
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    tables = [*_layout.TABLES, *(t for t in _normalise.row_tables() if t not in _layout.TABLES)]
    for table in tables:
        columns = [r[0] for r in case.con.execute(f"DESCRIBE {table}").fetchall()
                   if r[0] not in _VOLATILE.get(table, ())]
        want = rows(case.con, table, columns)
        parts = part_files(lake, table)
        got = rows(con, "read_parquet(?, hive_partitioning = false, union_by_name = true)", columns, [parts]) if parts else []
        if want != got:
            missing = [r for r in want if r not in set(got)][:3]
            extra = [r for r in got if r not in set(want)][:3]
            out[table] = f"case {len(want)} rows, lake {len(got)}; only in case: {missing}; only in lake: {extra}"
    # and as the lake opens as a case: its views, node from the files
    opened = kn.open_case(lake)
    try:
        for table in _layout.TABLES:
            columns = [c for c, _ in _layout.schema()[table] if c not in _VOLATILE.get(table, ())]
            if rows(case.con, table, columns) != rows(opened.con, table, columns):
                out[f"{table} (kn.open_case)"] = "differs"
    finally:
        opened.close()
    return out
