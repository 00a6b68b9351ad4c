"""Turn one Arrow block of numbered lines into rows of the case tables.

Each block is parsed once by DuckDB (``json_transform`` against the union structure of the three
tools), staged in a temporary table, and then split: quarantined lines, duplicates (an
``event_id`` already in the case, or earlier in the same block), and new events with their
per-source rows.  All values travel as data; the SQL text below is built only from our own
column names and the structure constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kernelsec_nb import sources
from kernelsec_nb.sources import falco, hubble, tetragon
from kernelsec_nb.store import _lines

EVENT_COLUMNS = [
    "event_id", "source", "kind", "time", "time_ns", "node", "cluster", "namespace", "pod",
    "workload", "container_id", "exec_id", "parent_exec_id", "pid", "uid", "binary", "args",
    "src_ip", "src_port", "dst_ip", "dst_port", "protocol", "verdict", "http_method", "http_path",
    "http_code", "dns_query", "rule", "priority", "summary", "file", "line", "byte_offset",
]

# Per-source expressions for the common columns (over the parsed line ``j``).
_PER_SOURCE: dict[str, dict[str, str]] = {
    "tetragon": tetragon.EVENT_COLUMNS,
    "hubble": {
        **hubble.EVENT_COLUMNS,
        "http_method": hubble.FLOW_COLUMNS["http_method"],
        "http_path": hubble.FLOW_COLUMNS["http_path"],
        "http_code": hubble.FLOW_COLUMNS["http_code"],
        "dns_query": hubble.FLOW_COLUMNS["dns_query"],
    },
    "falco": {**falco.EVENT_COLUMNS, "rule": "j.rule"},
}

_KIND_SQL = f"CASE source WHEN 'hubble' THEN 'flow' WHEN 'falco' THEN 'alert' ELSE {tetragon.KIND_SQL} END"


#: The trailing whitespace of a line, in SQL: used to judge a line blank or cut short.
_WS = " || ".join(f"chr({ord(c)})" for c in _lines.TRAILING_WS)


def q(name: str) -> str:
    """Quote a column name (``binary`` is a keyword in DuckDB 2)."""
    return f'"{name}"'


def _case(column: str) -> str:
    whens = " ".join(
        f"WHEN '{src}' THEN {cols[column]}" for src, cols in _PER_SOURCE.items() if column in cols
    )
    return f"CASE source {whens} END" if whens else "NULL"


_COMMON = [c for c in EVENT_COLUMNS if c not in ("event_id", "source", "kind", "time", "file", "line", "byte_offset")]

# The per-table columns computed while the parsed line is at hand, with a prefix each.
_TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "pe": tetragon.PROCESS_EVENT_COLUMNS,
    "kp": tetragon.HOOK_COLUMNS,
    "fl": hubble.FLOW_COLUMNS,
    "al": falco.ALERT_COLUMNS,
}
_EXTRA = ", ".join(
    f"{expr} AS {q(prefix + '__' + name)}"
    for prefix, cols in _TABLE_COLUMNS.items()
    for name, expr in cols.items()
)

# One statement: parse each line once (``TRY`` turns malformed JSON into NULL instead of failing
# the block), recognise source and kind, compute every column, and say why a line is refused.
# A line the reader flagged (``note``: invalid UTF-8, too long, unreadable) is parsed like the
# others (a few kB at most) and refused with its note whatever the parse gives.
STAGE_SQL = f"""
CREATE OR REPLACE TEMP TABLE _stage AS
WITH p AS (
    SELECT rec, line, byte_offset, raw, note, raw_bytes, event_id,
           TRY(json_transform({sources.NORMALISE_SQL}, '{sources.STRUCTURE}')) AS j
    FROM _block
), s AS (
    SELECT *, CASE WHEN j IS NOT NULL THEN {sources.SOURCE_SQL} END AS source FROM p
), k AS (
    SELECT *, CASE WHEN source IS NOT NULL THEN {_KIND_SQL} END AS kind,
           {", ".join(f"{expr} AS {name}" for name, expr in sources.PRELUDE.items())}
    FROM s
), a AS (
    SELECT *, {", ".join(f"{expr} AS {name}" for name, expr in sources.PRELUDE_ARGS.items())}
    FROM k
), c AS (
    SELECT rec, line, byte_offset, raw, note, raw_bytes, event_id, source, kind, j IS NULL AS unparsed,
           {", ".join(f"{_case(c)} AS {q(c)}" for c in _COMMON)},
           {_EXTRA}
    FROM a
)
SELECT * EXCLUDE (raw, unparsed),
    CASE
        WHEN note IS NOT NULL THEN note
        WHEN unparsed AND trim(raw, {_WS}) = '' THEN 'blank'
        WHEN unparsed AND left(ltrim(raw), 1) = '{{'
             AND right(rtrim(raw, {_WS}), 1) <> '}}'
            THEN 'malformed JSON: the line is cut short (truncated)'
        WHEN unparsed THEN 'malformed JSON'
        WHEN source IS NULL AND json_type(raw) <> 'OBJECT'
            THEN 'not an event: JSON ' || lower(json_type(raw)) || ' instead of an object'
        WHEN source IS NULL
            THEN 'unknown event type: no Tetragon, Hubble or Falco keys (keys: '
                 || left(array_to_string(json_keys(raw), ', '), 200) || ')'
        WHEN time_ns IS NULL THEN source || ' ' || kind || ' event without a valid time'
    END AS reason,
    CASE WHEN unparsed OR source IS NULL OR time_ns IS NULL OR note IS NOT NULL
         THEN left(raw, 4096) END AS bad_raw
FROM c
"""

# The records to insert: the first of each event_id in the block, and only when the case does not
# have it yet.  ``rec`` is the record's index in the block (unique even where records share a
# line, as the items of a JSON array do); the inserts read ``_stage`` through the view.
_MARK_SQL = """
CREATE OR REPLACE TEMP TABLE _keep AS
SELECT min(rec) AS rec FROM _stage
WHERE reason IS NULL AND event_id NOT IN (SELECT event_id FROM events)
GROUP BY event_id
"""
_NEW_VIEW = "CREATE OR REPLACE TEMP VIEW _new AS SELECT * FROM _stage SEMI JOIN _keep USING (rec)"

_TIME = "make_timestamp(time_ns // 1000)::TIMESTAMPTZ"


def _insert(table: str, cols: dict[str, str], where: str) -> str:
    names = ", ".join(q(c) for c in cols)
    exprs = ", ".join(cols.values())
    return f"INSERT INTO {table} ({names}) SELECT {exprs} FROM _new WHERE {where}"  # noqa: S608 - built from our own constants


def _own(prefix: str) -> dict[str, str]:
    return {name: q(f"{prefix}__{name}") for name in _TABLE_COLUMNS[prefix]}


INSERT_EVENTS = _insert(
    "events",
    {**{c: q(c) for c in EVENT_COLUMNS if c not in ("time", "file")}, "time": _TIME, "file": "$file"},
    "true",
)
INSERT_PROCESS_EVENTS = _insert(
    "process_events",
    {"event_id": "event_id", "kind": "kind", "time_ns": "time_ns", "node": "node", **_own("pe")},
    "kind IN ('process_exec', 'process_exit')",
)
_EVENT_BASE = {c: c for c in ("event_id", "time_ns", "node")} | {"time": _TIME}
INSERT_KPROBES = _insert(
    "kprobes",
    {**_EVENT_BASE, **{c: q(c) for c in ("kind", "namespace", "pod", "workload", "container_id",
                                           "exec_id", "parent_exec_id", "pid", "binary", "args")},
     **_own("kp")},
    "source = 'tetragon' AND kind NOT IN ('process_exec', 'process_exit', 'process_loader', 'process_throttle')",
)
INSERT_FLOWS = _insert(
    "flows",
    {**_EVENT_BASE, **{c: c for c in ("cluster", "verdict", "src_ip", "src_port", "dst_ip",
                                        "dst_port", "protocol", "summary")},
     **_own("fl")},
    "source = 'hubble'",
)
INSERT_ALERTS = _insert(
    "alerts",
    {**_EVENT_BASE, **{c: c for c in ("namespace", "pod", "container_id", "pid")}, **_own("al")},
    "source = 'falco'",
)
INSERT_QUARANTINE = """
INSERT INTO quarantine SELECT $file, line, byte_offset, reason, bad_raw, raw_bytes
FROM _stage WHERE reason IS NOT NULL AND reason <> 'blank'
"""

_COUNT_SQL = """
SELECT
    count(*) FILTER (WHERE reason = 'blank') AS blank,
    count(*) FILTER (WHERE reason IS NOT NULL AND reason <> 'blank') AS quarantined,
    (SELECT count(*) FROM _new) AS loaded,
    list(DISTINCT source) FILTER (WHERE source IS NOT NULL AND reason IS NULL) AS sources,
    (SELECT min(time_ns) FROM _new) AS first_ns,
    (SELECT max(time_ns) FROM _new) AS last_ns
FROM _stage
"""


#: Rows per Arrow record batch handed to DuckDB (one batch is one unit of parallel work).
_BATCH_ROWS = 1024


@dataclass
class BlockCounts:
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    blank: int = 0
    sources: tuple[str, ...] = ()
    first_ns: int | None = None
    last_ns: int | None = None
    input_bytes: int = 0


def ingest_block(con: duckdb.DuckDBPyConnection, table: pa.Table, file: str) -> BlockCounts:
    """Parse one block and insert its rows; returns what happened to its lines."""
    table = table.append_column("rec", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    # Several record batches (zero-copy slices), so that DuckDB parses them on every core.
    table = pa.Table.from_batches(table.to_batches(max_chunksize=_BATCH_ROWS))
    con.register("_block", table)
    try:
        con.execute(STAGE_SQL)
        con.execute(_MARK_SQL)
        con.execute(_NEW_VIEW)
        params = {"file": file}
        con.execute(INSERT_EVENTS, params)
        con.execute(INSERT_PROCESS_EVENTS)
        con.execute(INSERT_KPROBES)
        con.execute(INSERT_FLOWS)
        con.execute(INSERT_ALERTS)
        con.execute(INSERT_QUARANTINE, params)
        blank, quarantined, loaded, srcs, first_ns, last_ns = con.execute(_COUNT_SQL).fetchall()[0]
    finally:
        con.unregister("_block")
    n = table.num_rows
    return BlockCounts(
        loaded=loaded,
        duplicates=n - loaded - quarantined - blank,
        quarantined=quarantined,
        blank=blank,
        sources=tuple(srcs or ()),
        first_ns=first_ns,
        last_ns=last_ns,
        input_bytes=int(pc.sum(table.column("raw_bytes")).as_py() or 0),
    )
