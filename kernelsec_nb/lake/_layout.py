"""The lake's layout: which tables, how they are partitioned, how a partition value is written.

A *lake* is a folder of Parquet files holding the tables of a case, readable by any Parquet
reader (DuckDB, Spark, Trino/Athena, polars)::

    LAKE/
      _kernelsec_lake.json                              # the manifest (:func:`read_manifest`)
      files/part-*.parquet                              # loaded files with their line accounting
      quarantine/part-*.parquet
      <event table>/node=<node>/day=<YYYY-MM-DD>/part-*.parquet
      <other table>/part-*.parquet                      # clock_offsets, case_state

The event tables (:data:`PARTITIONED`) are hive-partitioned by ``node`` and by the UTC ``day``
of their time column.  Every column of the table is *in* the Parquet files, ``node`` included:
the file holds the exact value, the folder name is an index for pruning.  ``day`` is only in
the folder name (it is derived from the time column).

Partition values are attacker-controlled (a node name comes from the export).  A value is written
as Hive and Spark write it (:func:`encode_value`): the characters they escape, and control
characters, as ``%XX``; other characters (UTF-8 included) as they are, so every hive reader
decodes the folder name back to the value.  Four kinds of node value have no folder name every
reader reads back exactly, and go to ``node=__HIVE_DEFAULT_PARTITION__`` (Hive's and Spark's
folder for NULL): NULL, the empty string (which Spark cannot read back as a folder name), a value
longer than :data:`MAX_PARTITION_BYTES` bytes of UTF-8 (a folder name has at most 255 bytes) and
the text ``__HIVE_DEFAULT_PARTITION__`` itself.  A hive reader
sees NULL for their ``node``; the file still holds the value, and :func:`kernelsec_nb.open_case`
reads those files' ``node`` from the file (see :mod:`kernelsec_nb.lake`).

Each write (a *run*) names its files ``part-<run id>-<n>.parquet`` (:func:`part_name`) and
commits by adding itself to the manifest's ``runs``, last.  A run that rewrites a whole table
(``processes``, ``alerts``, ``files`` …, whose rows a later load changes) sets the table's
``base_run``; :func:`live_runs` says which runs' files make a table.  A reader reads those files
only: the files of a run still being written, or stopped, are left out.

This module is the one place that knows the layout: the local writer (:mod:`kernelsec_nb.lake`)
and the Spark ingest (:mod:`kernelsec_nb.spark`) both use it.

Examples
--------
>>> encode_value("a/b")
'a%2Fb'
>>> partition_dir("flows", "../x", 0)
'flows/node=..%2Fx/day=1970-01-01'
>>> partition_dir("flows", "", None)
'flows/node=__HIVE_DEFAULT_PARTITION__/day=__HIVE_DEFAULT_PARTITION__'
>>> decode_value(encode_value("\\u202eevil=1")) == "\\u202eevil=1"
True
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from kernelsec_nb import sources as _sources

#: The manifest's file name, in the lake's root folder.
MANIFEST = "_kernelsec_lake.json"
#: ``format`` and ``version`` of the manifest this code writes and reads.
FORMAT = "kernelsec-lake"
VERSION = 1

#: Tables partitioned by node and day, and the column (ns since epoch, UTC) ``day`` is taken from.
PARTITIONED: dict[str, str] = {
    "process_events": "time_ns",
    "kprobes": "time_ns",
    "flows": "time_ns",
    "alerts": "time_ns",
    "other_events": "time_ns",
    "processes": "start_ns",  # a process's start (NULL, for one only named as a parent: default)
}
#: Tables of one folder of Parquet files, not partitioned: the case's own, then the tables the
#: sources declare (:func:`kernelsec_nb.sources.tables`: ``audit_events``, ``http_requests`` … —
#: they name no node).
UNPARTITIONED: tuple[str, ...] = ("files", "quarantine", "clock_offsets", "case_state",
                                  *(t.name for t in _sources.tables()))
#: Every table a lake holds, in the order of the manifest.  (``events`` is a view over the event
#: tables; the team's ``annotations`` and ``saved_queries`` are not in a lake: it is read-only.)
TABLES: tuple[str, ...] = (*PARTITIONED, *UNPARTITIONED)
#: The partition columns of a partitioned table, outermost first.
PARTITION_COLUMNS: tuple[str, ...] = ("node", "day")
#: Their types when read (``hive_types`` of DuckDB's ``read_parquet``).
PARTITION_TYPES: dict[str, str] = {"node": "VARCHAR", "day": "DATE"}

#: Hive's and Spark's folder name for a NULL partition value.
DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
#: A node name longer than this (bytes of UTF-8) goes to the default partition: escaped, it could
#: pass the 255 bytes a folder name may have (3 bytes an escaped character).
MAX_PARTITION_BYTES = 80

# What Hive's FileUtils.escapePathName and Spark's ExternalCatalogUtils escape (the Windows set
# too), control characters and DEL: as %XX.  Everything else is written as it is.
_ESCAPED = frozenset('"#%\'*/:=?\\{}[]^<>|') | {chr(c) for c in range(0x20)} | {"\x7f"}
_NS_PER_DAY = 86_400_000_000_000


def partition_node(node: str | None) -> str | None:
    """The node value a row is partitioned by: ``node``, or None (the default partition) for
    NULL, the empty string, a name longer than :data:`MAX_PARTITION_BYTES` bytes, and the
    default partition's own name (polars reads even its escaped form as NULL).

    >>> partition_node("worker-1"), partition_node(""), partition_node("x" * 81)
    ('worker-1', None, None)
    """
    if (node is None or node == "" or node == DEFAULT_PARTITION
            or len(node.encode("utf-8", "surrogatepass")) > MAX_PARTITION_BYTES):
        return None
    return node


def encode_value(value: str | None) -> str:
    """The folder-name form of a partition value (``key=<this>``), as Hive and Spark escape it.

    None is :data:`DEFAULT_PARTITION`; a value that *is* that text is written with its first
    ``_`` escaped, so that it reads back as the text, not as NULL.

    >>> encode_value(None), encode_value("__HIVE_DEFAULT_PARTITION__"), encode_value("a b:c")
    ('__HIVE_DEFAULT_PARTITION__', '%5F_HIVE_DEFAULT_PARTITION__', 'a b%3Ac')
    """
    if value is None:
        return DEFAULT_PARTITION
    if value == "":
        raise ValueError("an empty partition value has no folder name (partition_node maps it to None)")
    if value == DEFAULT_PARTITION:
        return "%5F" + value[1:]
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in value)


def decode_value(text: str) -> str | None:
    """The partition value of a folder name written by :func:`encode_value` (or by Hive, Spark or
    DuckDB, which escape more characters the same way).

    >>> decode_value("a%2Fb"), decode_value("__HIVE_DEFAULT_PARTITION__")
    ('a/b', None)
    """
    if text == DEFAULT_PARTITION:
        return None
    return unquote(text, encoding="utf-8", errors="surrogateescape")


def day_of(time_ns: int | None) -> dt.date | None:
    """The UTC day of a time in ns since the epoch (None for None).

    >>> day_of(-1), day_of(0)
    (datetime.date(1969, 12, 31), datetime.date(1970, 1, 1))
    """
    if time_ns is None:
        return None
    return dt.date(1970, 1, 1) + dt.timedelta(days=time_ns // _NS_PER_DAY)


def day_sql(column: str) -> str:
    """A DuckDB expression for :func:`day_of` of ``column`` (a BIGINT column name we chose).

    >>> import duckdb
    >>> duckdb.sql(f"SELECT {day_sql('t')} AS d FROM (SELECT -1::BIGINT AS t)").fetchall()
    [(datetime.date(1969, 12, 31),)]
    """
    q = f'"{column}"'
    return (f"(DATE '1970-01-01' + (({q} // {_NS_PER_DAY}) - "
            f"CASE WHEN {q} % {_NS_PER_DAY} < 0 THEN 1 ELSE 0 END)::INTEGER)")


#: A DuckDB expression for :func:`partition_node` of the column ``node``.
NODE_SQL = (f"CASE WHEN node = '' OR node = '{DEFAULT_PARTITION}' OR strlen(node) > {MAX_PARTITION_BYTES} "
            "THEN NULL::VARCHAR ELSE node END")


def partition_dir(table: str, node: str | None, time_ns: int | None) -> str:
    """The folder (relative to the lake, ``/``-separated) of a row of ``table`` with this node and
    time; for a table of :data:`UNPARTITIONED`, the table's folder.

    >>> partition_dir("alerts", "a=b", 86_400 * 10**9)
    'alerts/node=a%3Db/day=1970-01-02'
    >>> partition_dir("files", None, None)
    'files'
    """
    if table not in PARTITIONED:
        return table
    return folder(table, partition_node(node), day_of(time_ns))


def folder(table: str, key: str | None, day: dt.date | None) -> str:
    """The folder of a partition of ``table``: ``key`` is :func:`partition_node` of the node,
    ``day`` :func:`day_of` of the time.

    >>> folder("flows", "a/b", dt.date(2024, 5, 14))
    'flows/node=a%2Fb/day=2024-05-14'
    """
    return f"{table}/node={encode_value(key)}/day={DEFAULT_PARTITION if day is None else day.isoformat()}"


def run_of(file_name: str) -> str | None:
    """The run id in a part file's name (:func:`part_name`), None for another name.

    >>> run_of("part-20261207T081500Z-0a1b2c3d-00003.parquet")
    '20261207T081500Z-0a1b2c3d'
    """
    found = re.fullmatch(r"part-([0-9A-Za-z_-]+)-\d+\.parquet", file_name)
    return found.group(1) if found else None


def new_run_id() -> str:
    """A run's id: UTC time and a random part, sortable, safe in a file name.

    >>> len(new_run_id()) == len("20261207T081500Z-") + 8
    True
    """
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


def part_name(run_id: str, n: int) -> str:
    """The name of the ``n``-th Parquet file a run writes into a folder.

    >>> part_name("20261207T081500Z-0a1b2c3d", 3)
    'part-20261207T081500Z-0a1b2c3d-00003.parquet'
    """
    if not re.fullmatch(r"[0-9A-Za-z_-]+", run_id):
        raise ValueError(f"not a run id: {run_id!r}")
    return f"part-{run_id}-{n:05d}.parquet"


# -- schema --------------------------------------------------------------------------------------
_STORE = Path(__file__).resolve().parent.parent / "store"


@functools.cache
def schema() -> dict[str, list[tuple[str, str]]]:
    """The columns of every lake table with their DuckDB types, from the case's own schema
    (``store/schema.sql`` and ``store/processes.sql``): the lake holds the same tables.

    >>> [c for c, _ in schema()["case_state"]]
    ['derived_from', 'built_at']
    """
    import duckdb

    from kernelsec_nb.store.case import _SCHEMA_SQL

    processes = (_STORE / "processes.sql").read_text().split(" AS\n", 1)[1].rstrip().rstrip(";")
    with duckdb.connect() as con:
        con.execute(_SCHEMA_SQL)  # schema.sql and the sources' own tables
        con.execute((_STORE / "events_view.sql").read_text())
        con.execute(f"CREATE TABLE processes AS SELECT * FROM ({processes}) WHERE false")  # noqa: S608
        rows = con.execute("SELECT table_name, column_name, data_type FROM duckdb_columns() "
                           "WHERE NOT internal ORDER BY table_name, column_index").fetchall()
    out: dict[str, list[tuple[str, str]]] = {t: [] for t in TABLES}
    for table, column, kind in rows:
        if table in out:
            out[table].append((column, kind))
    return out


def arrow_schema(table: str) -> Any:
    """The pyarrow schema of a lake table's Parquet files (partitioned tables: ``node`` included,
    ``day`` not).

    >>> arrow_schema("case_state").names
    ['derived_from', 'built_at']
    """
    import duckdb

    cols = ", ".join(f'NULL::{kind} AS "{name}"' for name, kind in schema()[table])
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.sql(f"SELECT {cols} WHERE false").to_arrow_table().schema  # noqa: S608


def schema_markdown() -> str:
    """The lake's schema as the README shows it: one row per table, its folder and its columns
    with their DuckDB types (a test keeps the README's copy equal to this).

    >>> schema_markdown().splitlines()[0]
    '| table | folder | columns (DuckDB type) |'
    """
    rows = ["| table | folder | columns (DuckDB type) |", "|---|---|---|"]
    for table in TABLES:
        where = f"`{table}/node=…/day=…/` (day of `{PARTITIONED[table]}`)" if table in PARTITIONED else f"`{table}/`"
        cols = ", ".join(f"`{c}` {kind.replace('TIMESTAMP WITH TIME ZONE', 'TIMESTAMPTZ')}" for c, kind in schema()[table])
        rows.append(f"| **{table}** | {where} | {cols} |")
    return "\n".join(rows)


# -- manifest ------------------------------------------------------------------------------------
def new_manifest(written_by: str) -> dict[str, Any]:
    """A manifest for a new lake: the tables with their columns and partitions, no run yet.

    >>> m = new_manifest("test"); m["format"], m["tables"]["flows"]["partitioned_by"]
    ('kernelsec-lake', ['node', 'day'])
    """
    tables = {t: {"columns": [[c, k] for c, k in schema()[t]],
                  "partitioned_by": list(PARTITION_COLUMNS) if t in PARTITIONED else [],
                  **({"day_from": PARTITIONED[t]} if t in PARTITIONED else {})}
              for t in TABLES}
    return {"format": FORMAT, "version": VERSION, "tables": tables, "written_by": written_by, "runs": []}


class LakeError(Exception):
    """A folder that is not a lake this version reads, or a lake that cannot be written."""


def is_lake(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder with a lake manifest."""
    return (Path(path) / MANIFEST).is_file()


def read_manifest(lake: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of the lake at ``lake``; :class:`LakeError` (one line) when there is none or
    it is of another format or a newer version."""
    path = Path(lake) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LakeError(f"{lake} is not a lake (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise LakeError(f"{path} cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise LakeError(f"{path} is not a {FORMAT} manifest")
    if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
        raise LakeError(f"{lake} was written by a newer kernelsec_nb (lake version "
                        f"{manifest.get('version')!r}; this one reads {VERSION})")
    return manifest


def live_runs(manifest: dict[str, Any], table: str) -> list[str]:
    """The runs whose part files make ``table`` now, oldest first: every run of the manifest from
    the table's ``base_run`` on (a run that rewrote the whole table sets it to itself; the parts
    of earlier runs are then obsolete).  Part files of a run not in the manifest are of a write
    that has not finished (or was stopped): readers leave them out.

    >>> m = {"runs": [{"id": "a"}, {"id": "b"}, {"id": "c"}], "tables": {"t": {"base_run": "b"}}}
    >>> live_runs(m, "t")
    ['b', 'c']
    """
    runs = [r["id"] for r in manifest.get("runs", [])]
    base = manifest.get("tables", {}).get(table, {}).get("base_run")
    return runs[runs.index(base):] if base in runs else runs


def write_manifest(lake: str | os.PathLike[str], manifest: dict[str, Any]) -> None:
    """Write the manifest atomically (a temporary file renamed over the old one)."""
    path = Path(lake) / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
