"""Compare a lake with a case, table by table, row by row (sorted)."""

from __future__ import annotations

from pathlib import Path

import duckdb

#: Columns that differ by design: when the file was loaded.
_VOLATILE = {"files": ("loaded_at",)}
TABLES = ("process_events", "kprobes", "other_events", "flows", "alerts", "processes", "quarantine",
          "files", "clock_offsets")


def lake_table(con: duckdb.DuckDBPyConnection, lake: Path, table: str, columns: list[str]) -> list[tuple]:
    """The lake's rows of ``table`` (partition columns read from the paths), ``columns`` in order."""
    parts = list((lake / table).rglob("*.parquet"))
    if not parts:
        return []
    cols = ", ".join(f'"{c}"' for c in columns)
    return con.execute(f"SELECT {cols} FROM read_parquet(?, hive_partitioning = true, hive_types_autocast = false) "
                       f"ORDER BY ALL", [[str(p) for p in parts]]).fetchall()


def differences(case, lake: Path) -> dict[str, str]:
    """Per table, what differs between the case and the lake (empty: identical)."""
    out = {}
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in TABLES:
        columns = [r[0] for r in case.con.execute(f"DESCRIBE {table}").fetchall()
                   if r[0] not in _VOLATILE.get(table, ())]
        cols = ", ".join(f'"{c}"' for c in columns)
        want = case.con.execute(f"SELECT {cols} FROM {table} ORDER BY ALL").fetchall()
        got = lake_table(con, lake, table, columns)
        if want != got:
            missing = [r for r in want if r not in set(got)][:3]
            extra = [r for r in got if r not in set(want)][:3]
            out[table] = f"case {len(want)} rows, lake {len(got)}; only in case: {missing}; only in lake: {extra}"
    return out
