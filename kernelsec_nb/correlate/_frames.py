"""Small helpers shared by the correlation modules: Arrow fetches, table state, SQL filtering.

Examples
--------
>>> import duckdb
>>> con = duckdb.connect()
>>> fetch(con, "SELECT ? AS a", [1])["a"].to_list()
[1]
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from typing import Any

import duckdb
import polars as pl

from kernelsec_nb.store import filters

_names = itertools.count()
_lock = threading.Lock()

#: Values Falco (and some exporters) write for "unknown".
NA_TEXT = ("", "<NA>", "N/A", "null", "<none>")


def fetch(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
    """Run ``query`` with ``params`` and return the whole result as polars (through Arrow).

    Examples
    --------
    >>> import duckdb
    >>> fetch(duckdb.connect(), "SELECT 41 + ? AS n", [1])["n"][0]
    42
    """
    rel = con.sql(query, params=list(params or []))
    if rel is None:  # a statement without result
        return pl.DataFrame()
    return pl.from_arrow(rel.to_arrow_table())  # type: ignore[return-value]


def table_state(con: duckdb.DuckDBPyConnection, *tables: str) -> tuple[Any, ...]:
    """A cheap fingerprint of tables: their oid and estimated row count (changes on load/rebuild).

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect(); _ = con.execute("CREATE TABLE t AS SELECT 1 AS a")
    >>> a = table_state(con, "t"); _ = con.execute("INSERT INTO t VALUES (2)")
    >>> a == table_state(con, "t")
    False
    """
    rows = con.execute(
        "SELECT table_name, table_oid, estimated_size FROM duckdb_tables() "
        "WHERE table_name IN (SELECT unnest(?::VARCHAR[])) ORDER BY table_name", [list(tables)]).fetchall()
    return tuple(rows)


def filter_frame(con: duckdb.DuckDBPyConnection, df: pl.DataFrame, profile: str,
                 order: str | None = None, **flt: Any) -> pl.DataFrame:
    """Filter a polars frame with the shared filter vocabulary, evaluated by DuckDB with parameters.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Any connection (the frame is registered on it for the query, then unregistered).
    df : polars.DataFrame
        The rows to filter; must hold the columns the profile reads.
    profile : str
        Name of a profile in :data:`kernelsec_nb.store.filters.PROFILES`.
    order : str, optional
        ``ORDER BY`` body made of our own column names.
    **flt
        Filters (values become parameters).

    Examples
    --------
    >>> import duckdb, polars as pl
    >>> df = pl.DataFrame({"exec_id": ["a", "b"], "node": ["n1", "n2"], "start_ns": [1, 2]})
    >>> filter_frame(duckdb.connect(), df, "processes", node="n2")["exec_id"].to_list()
    ['b']
    """
    flt = {k: v for k, v in flt.items() if v is not None}
    if not flt and order is None:
        return df
    cond, params = filters.where(profile, **flt)
    with _lock:
        name = f"_kn_frame_{next(_names)}"
    con.register(name, df.to_arrow())
    try:
        tail = f" ORDER BY {order}" if order else ""
        return fetch(con, f"SELECT * FROM {name} WHERE {cond}{tail}", params)  # noqa: S608
    finally:
        con.unregister(name)


def is_na(col: str) -> pl.Expr:
    """True where a text column is null or one of the "unknown" spellings (``<NA>`` …)."""
    return pl.col(col).is_null() | pl.col(col).cast(pl.String).str.strip_chars().is_in(list(NA_TEXT))
