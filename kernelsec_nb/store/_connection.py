"""Connections to a case file: attached with small row groups, so that loads skip the log.

DuckDB writes an insert straight into the database file (compressed, in the inserting threads)
once it fills a whole row group; smaller inserts go to the write-ahead log first and are
compressed again, on one core, by the next checkpoint.  A load inserts each block of an export
(128 MB, ~40 000 events split over a few tables and two threads) in one statement per table:
with DuckDB's default row groups of 122 880 rows nearly all of it went through the log.  A case
file is therefore attached with :data:`ROW_GROUP_SIZE` rows a row group: a 1 GB load wrote
~60 MB of log instead of ~280 MB and used ~20 % less CPU, for a case file ~20 % larger;
spot-checked queries ran within ~10 % of the old layout (benchmarks/RESULTS.md).

The file is a plain DuckDB database: any DuckDB client opens it (its row group size is a
property of the connection, not of the file).  Here it is attached under the name
:data:`CATALOG` and made the connection's default, so SQL names its tables without a prefix;
a second connection to the same case is made with :func:`cursor`.  Opening the same case file
again in the same process (a notebook cell run twice) shares one DuckDB instance per file and
mode, as ``duckdb.connect(path)`` does.
"""

from __future__ import annotations

import hashlib
import os

import duckdb

#: Rows a row group of the case's tables holds (DuckDB's default: 122 880).
ROW_GROUP_SIZE = 8192
#: The name the case file is attached under (``current_database()`` in SQL).
CATALOG = "kn_case"


def connect(target: str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection whose default database is the case file ``target`` (or ``:memory:``), in UTC.

    Examples
    --------
    >>> con = connect(":memory:")
    >>> con.execute("SELECT 42").fetchall()
    [(42,)]
    """
    if target == ":memory:":
        return _in_utc(duckdb.connect(target))
    # one named in-memory instance per file and mode, in which the file is attached once
    mode = "ro" if read_only else "rw"
    key = hashlib.sha256(os.path.realpath(target).encode()).hexdigest()[:24]
    con = duckdb.connect(f":memory:kn-{key}-{mode}")
    # TYPE DUCKDB: DuckDB would otherwise attach an export (JSON, CSV, ...) as a database
    options = "TYPE DUCKDB, " + ("READ_ONLY" if read_only else f"ROW_GROUP_SIZE {ROW_GROUP_SIZE}")
    literal = "'" + target.replace("'", "''") + "'"  # the path as a SQL string literal
    try:
        con.execute(f"ATTACH IF NOT EXISTS {literal} AS {CATALOG} ({options})")
        con.execute(f"USE {CATALOG}")
    except BaseException:
        con.close()
        raise
    return _in_utc(con)


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Another connection to the same case, with the same default database and time zone.

    (``con.cursor()`` alone starts in DuckDB's in-memory database, not in the case.)

    Examples
    --------
    >>> con = connect(":memory:")
    >>> cursor(con).execute("SELECT current_setting('TimeZone')").fetchall()
    [('UTC',)]
    """
    database = con.execute("SELECT current_database()").fetchall()[0][0]
    other = con.cursor()
    other.execute(f'USE "{database}"')  # our own catalog name (see CATALOG), or DuckDB's
    return _in_utc(other)


def _in_utc(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Times read and shown in UTC (a setting of each connection, not of the database)."""
    con.execute("SET TimeZone = 'UTC'")
    return con
