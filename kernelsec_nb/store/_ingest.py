"""Turn one Arrow block of numbered lines into rows of the case tables.

Each event is stored once, in the table of its kind (``events`` is a view over those tables).
Two ways in, same rows:

* **fast routes** — a Tetragon or Hubble line that starts with its event key (as the tool writes
  it: ``{"process_kprobe":``, ``{"flow":``) and whose id is certainly new is parsed against its
  kind's own structure and inserted straight into its table by one statement per kind and block
  (see :class:`kernelsec_nb.sources._route.RouteSpec`);
* **the general path** — every other line is parsed once against the union structure of the
  three tools, staged in a temporary table, and split: quarantined lines (with a reason),
  duplicates (an ``event_id`` already in the case, or earlier in the same block), and new events.

All values travel as data; the SQL text below is built only from our own column names and the
structure constants.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kernelsec_nb import sources
from kernelsec_nb.sources._route import RouteSpec
from kernelsec_nb.sources._sql import INTEGER_COLUMNS, integer, integer_problem
from kernelsec_nb.sources._wrappers import UNWRAP_SQL
from kernelsec_nb.store import _arrow, _dupkeys, _lines, _lookups
from kernelsec_nb.store._known import KnownIds
from kernelsec_nb.store._split import split_records
from kernelsec_nb.store._tables import ALL_TABLES, COMMON, TABLES, Table, q, table_of

T = TypeVar("T")

#: Per source with a fallback for an event's time: (what the load counts when the written time is
#: unreadable and the fallback gave the time, the written time, the fallback), SQL over ``j``.
#: The written time is computed once per line (``written_ns``): a time parse is not cheap.
_TIME_FALLBACK: dict[str, tuple[str, str, str]] = {s.name: s.time_fallback for s in sources.registry()
                                                   if s.time_fallback is not None}


def _per_source(group: tuple[sources.Source, ...]) -> dict[str, dict[str, str]]:
    """Per source of ``group``, its expressions for the common columns (over the parsed line ``j``;
    ``time_ns`` reads ``written_ns`` where the source has a time fallback)."""
    out = {s.name: dict(s.event) for s in group}
    for name, (_, written, fallback) in _TIME_FALLBACK.items():
        if name not in out:
            continue
        if out[name]["time_ns"] != f"coalesce({written}, {fallback})":
            raise ValueError(f"source {name}: time_ns must be coalesce(written, fallback) of its time_fallback")
        out[name]["time_ns"] = f"coalesce(written_ns, {fallback})"
    return out


def _written_ns(group: tuple[sources.Source, ...]) -> tuple[str, str]:
    """SQL for ``written_ns`` and for the time note, over the sources of ``group``."""
    fb = {s.name: _TIME_FALLBACK[s.name] for s in group if s.name in _TIME_FALLBACK}
    if not fb:
        return "NULL::BIGINT", "NULL"
    return ("CASE source " + " ".join(f"WHEN '{src}' THEN {written}" for src, (_, written, _) in fb.items()) + " END",
            "CASE WHEN j.time IS NOT NULL AND written_ns IS NULL THEN CASE source " + " ".join(
                f"WHEN '{src}' THEN '{msg}'" for src, (msg, _, _) in fb.items()) + " END END")


#: The trailing whitespace of a line, in SQL: used to judge a line blank or cut short.
_WS = " || ".join(f"chr({ord(c)})" for c in _lines.TRAILING_WS)


def _case(per_source: dict[str, dict[str, str]], column: str) -> str:
    whens = " ".join(
        f"WHEN '{src}' THEN {cols[column]}" for src, cols in per_source.items() if column in cols
    )
    return f"CASE source {whens} END" if whens else "NULL"


_COMMON = COMMON

#: The line inside a container-log wrapper (the written line is kept for the quarantine).
_UNWRAP = UNWRAP_SQL


def _stage_sql(number: int, group: tuple[sources.Source, ...], tables: list[Table]) -> str:
    """The staging statement of the lines of group ``number`` (see :func:`kernelsec_nb.sources.groups`)."""
    parse = sources.parse_of(group)
    per_source = _per_source(group)
    written_ns, time_note = _written_ns(group)
    kind_sql = "CASE source " + " ".join(f"WHEN '{s.name}' THEN {s.kind}" for s in group) + " END"
    # a line that is not a JSON object, offered to the group's text parsers
    text_parse = f"WHEN trim(raw, {_WS}) <> '' THEN {parse.text_parse} " if parse.text_parse else ""
    # the per-table columns computed while the parsed line is at hand, named <table>__<column>
    extra = "".join(f", {expr} AS {q(t.name + '__' + name)}" for t in tables for name, expr in t.own.items())
    # the line's group, computed once for the block (see _general)
    mine = "" if sources.group_sql(_WS) is None else f" AND grp = {number}"
    prelude = "".join(f", {expr} AS {name}" for name, expr in parse.prelude.items())
    prelude_args = "".join(f"{expr} AS {name}, " for name, expr in parse.prelude_args.items())
    return _STAGE_SQL.format(
        ws=_WS, unwrap=_UNWRAP, mine=mine, normalise=parse.normalise_sql, structure=parse.structure,
        text_parse=text_parse, source_sql=parse.source_sql, kind_sql=kind_sql, prelude=prelude,
        prelude_args=prelude_args, written_ns=written_ns, time_note=time_note,
        common=", ".join(f"{_case(per_source, c)} AS {q(c)}" for c in _COMMON), extra=extra,
        titles=sources.titles(), warnings=_warnings(tables))


# One statement: parse each line once (``TRY`` turns malformed JSON into NULL instead of failing
# the block), recognise source and kind, compute every column, and say why a line is refused.
# A line the reader flagged (``note``: invalid UTF-8, too long, unreadable) is parsed like the
# others (a few kB at most) and refused with its note whatever the parse gives.  (A template:
# see _stage_sql.)
_STAGE_SQL = """
CREATE OR REPLACE TEMP TABLE _stage AS
WITH p AS (
    SELECT *,
           -- only an object can be an event: other lines (junk, numbers) go to the text parsers
           CASE WHEN left(ltrim(raw, {ws}), 1) = '{{'
                THEN TRY(json_transform({normalise}, '{structure}')) {text_parse}END AS j
    FROM (SELECT rec, file, line, byte_offset, raw AS written, {unwrap} AS raw, note, raw_bytes, event_id,
                 line_end, byte_end, repeat_count
          FROM _block WHERE NOT taken{mine})
), s AS (
    SELECT *, CASE WHEN j IS NOT NULL THEN {source_sql} END AS source FROM p
), k AS (
    SELECT *, CASE WHEN source IS NOT NULL THEN {kind_sql} END AS kind{prelude}
    FROM s
), a AS (
    SELECT *, {prelude_args}{written_ns} AS written_ns
    FROM k
), c AS (
    SELECT rec, file, line, byte_offset, raw, written, note, raw_bytes, event_id, line_end, byte_end, repeat_count,
           source, kind, j IS NULL AS unparsed, left(ltrim(raw, {ws}), 1) = '{{' AS json,
           {time_note} AS time_note,
           {common}{extra}
    FROM a
)
SELECT * EXCLUDE (raw, written, unparsed, json, time_note),
    {warnings} AS warnings,
    CASE
        WHEN note IS NOT NULL THEN note
        WHEN unparsed AND trim(raw, {ws}) = '' THEN 'blank'
        WHEN unparsed AND left(ltrim(raw), 1) = '{{'
             AND right(rtrim(raw, {ws}), 1) <> '}}'
            THEN 'malformed JSON: the line is cut short (truncated)'
        WHEN unparsed AND NOT json_valid(raw) THEN 'malformed JSON'
        WHEN unparsed OR (json AND json_type(raw) <> 'OBJECT')
            THEN 'not an event: JSON ' || lower(json_type(raw)) || ' instead of an object'
        WHEN source IS NULL AND NOT json
            THEN 'unknown event type: a text line that no {titles} event matches'
        WHEN source IS NULL
            THEN 'unknown event type: no {titles} keys (keys: '
                 || left(array_to_string(json_keys(raw), ', '), 200) || ')'
        WHEN time_ns IS NULL THEN source || ' ' || kind || ' event without a valid time'
    END AS reason,
    CASE WHEN unparsed OR source IS NULL OR time_ns IS NULL OR note IS NOT NULL
         THEN left(written, 4096) END AS bad_raw
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

# Each event is stored once, in the table of its kind, with the event-model columns its source
# has; the ``events`` view (events_view.sql and the sources' own tables) puts them together.
#: (``file``: each record's file, a column of the block, which may hold several small files)
_PROVENANCE = ("line", "byte_offset", "file")


def _columns(table: Table, event: dict[str, str], own: dict[str, str]) -> dict[str, str]:
    """Column name -> SQL for a row of ``table``; an event-model column wins over the table's own
    column of the same name (``parent_exec_id`` falls back to the parent's exec_id).  A column of
    the table that ``own`` lacks (another source's) is NULL."""
    return {"event_id": "event_id", **{c: own.get(c, "NULL") for c in table.own},
            **{c: event[c] for c in table.event}, **{c: c for c in _PROVENANCE}}


def _insert(table: Table, cols: dict[str, str], source: str, where: str) -> str:
    names = ", ".join(q(c) for c in (*cols, "time"))
    exprs = ", ".join(q(c) for c in cols)
    return (f"INSERT INTO {table.name} ({names}) SELECT {exprs}, {_TIME} "  # noqa: S608 - built from our own constants
            f"FROM ({source}) WHERE {where}")


def _typed(name: str, expr: str) -> str:
    """``expr`` as the column ``name`` stores it: an integer column's text becomes a number (see
    :func:`kernelsec_nb.sources._sql.integer`)."""
    return integer(expr, INTEGER_COLUMNS[name]) if name in INTEGER_COLUMNS else expr


def _general_insert(table: Table) -> str:
    cols = _columns(table, {c: q(c) for c in table.event}, table.staged)
    select = ", ".join(f"{_typed(k, v)} AS {q(k)}" for k, v in cols.items())
    return _insert(table, cols, f"SELECT {select} FROM _new WHERE {table.where}", "true")


def _staged(table: Table) -> dict[str, str]:
    """Column name -> the staged column a general-path row of ``table`` takes it from."""
    return _columns(table, {c: q(c) for c in table.event}, table.staged)


def _problems(cols: dict[str, str]) -> list[str]:
    """SQL for each integer column of ``cols`` whose text was not kept: '<column> <why>, stored
    as NULL' (NULL when it was kept)."""
    return [f"'{name} ' || ({integer_problem(expr, INTEGER_COLUMNS[name])}) || ', stored as NULL'"
            for name, expr in cols.items() if name in INTEGER_COLUMNS]


def _warnings(tables: list[Table]) -> str:
    """What the load warns about a staged row: '|'-separated messages of our own (NULL: nothing)."""
    whens = " ".join(f"WHEN {t.where} THEN concat_ws('|', {', '.join(_problems(_staged(t)))})"
                     for t in tables if _problems(_staged(t)))
    return ("nullif(concat_ws('|', CASE WHEN time_ns IS NOT NULL THEN time_note END"
            + (f", CASE {whens} END" if whens else "") + "), '')")


@dataclass(frozen=True)
class Group:
    """The general path of one group of sources: its staging statement and its inserts."""

    sources: tuple[str, ...]
    stage: str
    inserts: tuple[str, ...]


def _group(number: int, group: tuple[sources.Source, ...]) -> Group:
    tables = [t for t in (table_of(name, event, group) for name, event in ALL_TABLES) if t.by_source]
    return Group(tuple(s.name for s in group), _stage_sql(number, group, tables),
                 tuple(_general_insert(t) for t in tables))


#: The general path, per group of sources (:func:`kernelsec_nb.sources.groups`).
GROUPS = [_group(i, g) for i, g in enumerate(sources.groups())]
#: SQL: the group of each record of the block the routes did not take (-1: taken), in block order
#: (None: there is one group).  Computed once per block (the claims' test parses a line that
#: holds their keys' text): the staging statements read it as the column ``grp``.
_GROUP_SQL = sources.group_sql(_WS)
_GROUP_OF = (f"SELECT CASE WHEN taken THEN -1 ELSE {_GROUP_SQL} END AS grp "
             f"FROM (SELECT rec, taken, CASE WHEN NOT taken THEN {_UNWRAP} END AS raw FROM _block) ORDER BY rec"
             if _GROUP_SQL else None)
#: The shared group's staging statement (Tetragon, Hubble and Falco).
STAGE_SQL = GROUPS[0].stage
_WARNINGS_COUNT = """
SELECT file, w, count(*) FROM (SELECT file, unnest(string_split(warnings, '|')) AS w FROM _new WHERE warnings IS NOT NULL)
WHERE w <> '' GROUP BY file, w
"""


# A record may stand for a run of identical lines (``repeat_count``): one quarantine row says so.
INSERT_QUARANTINE = """
INSERT INTO quarantine SELECT file, line, byte_offset, reason, bad_raw, raw_bytes, line_end, byte_end, repeat_count
FROM _stage WHERE reason IS NOT NULL AND reason <> 'blank'
"""

# Lines, not records: a record of a run counts its repeat_count lines (the first one loaded, the
# others duplicates; or all refused, or all blank).
_COUNT_SQL = """
SELECT
    file,
    coalesce(sum(repeat_count) FILTER (WHERE reason = 'blank'), 0) AS blank,
    coalesce(sum(repeat_count) FILTER (WHERE reason IS NOT NULL AND reason <> 'blank'), 0) AS quarantined,
    coalesce(any_value(n.loaded), 0) AS loaded,
    coalesce(sum(repeat_count), 0) AS lines,
    list(DISTINCT source) FILTER (WHERE source IS NOT NULL AND reason IS NULL) AS sources,
    count(*) FILTER (WHERE source IS NOT NULL) AS recognised
FROM _stage LEFT JOIN (SELECT file, count(*) AS loaded FROM _new GROUP BY file) n USING (file)
GROUP BY file
"""
_REFUSED_SQL = "SELECT rec FROM _stage WHERE reason IS NOT NULL"


# -- fast routes -------------------------------------------------------------------------------
# A line that starts exactly as its tool writes it (the event key first) is parsed against
# its kind's own structure and inserted straight into its table, the same columns from the same
# expressions as the general path.  What a route cannot take (malformed, no valid time, a repeat
# in the block, an id perhaps already in the case, a line the reader flagged) goes on to the
# general path, which tells duplicates and says why a line is refused.


@dataclass(frozen=True)
class Route:
    source: str
    prefix: str  # SQL: the line starts as this route's lines do
    excluded: str  # SQL: ... but holds text that sends it to the general path
    insert: str  # INSERT ... (returns the count inserted); raises on a line it cannot load
    insert_try: str  # the same, a malformed line left out (the block's second try)
    missed: str  # SQL: lines the route took but could not load (unparsed, no valid time)


def _contains(text: str) -> str:
    """SQL: the line contains ``text``.  A text that starts with a quote is looked for without it
    first: DuckDB's search stops at every quote of a JSON line (2.6x slower on flows).

    >>> print(_contains('"process_'))
    (contains(raw, 'process_') AND contains(raw, '"process_'))
    """
    if text.startswith('"') and len(text) > 2:
        return f"(contains(raw, '{text[1:]}') AND contains(raw, '{text}'))"
    return f"contains(raw, '{text}')"


def _excluded(excludes: tuple[str | tuple[str, ...], ...]) -> str:
    """SQL: the line holds one of the texts of ``excludes`` (a tuple: all of its texts, in any
    order).  Several texts are looked for by one regular expression, in one pass over the line
    (a search per text cost ~3x more on Falco's and the audit log's lines); a single one by
    :func:`_contains`.  (Texts found apart but overlapping, ``"a"b"`` for ``"a"`` and ``"b"``,
    count for the searches and not for the expression: either way the line holds no two keys
    written apart, which is all an exclusion must see.)

    >>> print(_excluded(('"flow"', ('"a"', '"b"'))))
    regexp_matches(raw, '"flow"|"a".*"b"|"b".*"a"')
    >>> _excluded(()), _excluded(("x",))
    ('false', "contains(raw, 'x')")
    """
    alternatives = [".*".join(re.escape(t) for t in order)
                    for text in excludes for order in itertools.permutations((text,) if isinstance(text, str) else text)]
    if len(alternatives) == 1:
        return _contains(alternatives[0])
    return f"regexp_matches(raw, '{'|'.join(alternatives)}')" if alternatives else "false"


#: What a strict route statement fails with on a line it cannot load (the block is taken again).
_NOT_ROUTED = "kernelsec_nb route: a line for the general path"


def _route(number: int, spec: RouteSpec) -> Route:
    """The statements of route ``number``: they read the lines :data:`_ROUTE_OF` gave it."""
    table = next(t for t in TABLES if t.name == spec.table)
    cols = _columns(table, {"source": f"'{spec.source}'", **spec.event}, table.by_source[spec.source])
    # The columns as the parsed line gives them (an integer column as its JSON text) ...
    texts = {k: spec.rewrite(v) for k, v in cols.items()}
    # Columns that read only a part named by the route (a flow's labels) are computed once per
    # distinct value of the part (see _lookups); a column computed from another one's whole
    # expression (``dst_labels_text`` is the text of ``dst_labels``) reads that column instead.
    lookups = _lookups.plan(texts, tuple(spec.rewrite(p) for p in spec.distinct))
    reuse = _lookups.reused({k: e for k, e in texts.items() if k not in lookups.columns}, INTEGER_COLUMNS)
    inner = [f"{e} AS {q(k)}" for k, e in texts.items()
             if k != "time_ns" and k not in reuse and k not in lookups.columns]
    inner += [f"{part} AS _k{i}" for i, part in enumerate(lookups.keys)]
    inner.append(f"{spec.present} AS _present")
    fallback = _TIME_FALLBACK.get(spec.source)
    if fallback:  # the written time and its fallback apart, to tell which one gave the time
        inner += [f"{spec.rewrite(fallback[1])} AS _written", f"{spec.rewrite(fallback[2])} AS _fallback",
                  f"{spec.rewrite('j.time')} IS NOT NULL AS _time_written"]
        time_ns = "coalesce(_written, _fallback)"
    else:
        inner.append(f"{texts['time_ns']} AS time_ns")
        time_ns = "time_ns"
    # ... then, over those small columns (the parsed line is gone; each computed once), the
    # integers.  A line the load must warn about (an integer it could not keep, a time it
    # replaced) is left to the general path, which counts what it changed.
    odd = [f"({q(k)} IS NOT NULL AND {_typed(k, q(k))} IS NULL)" for k in texts if k in INTEGER_COLUMNS]
    odd += ["(_time_written AND _written IS NULL)"] if fallback else []
    typed = {k: _typed(k, reuse.get(k, q(k))) for k in texts}
    # A line the route cannot load (not this kind's event, no valid time, a warning) has a NULL
    # time_ns and is left out.  The test is folded into time_ns, the route's only filter: a
    # second filter over ``x`` was pushed below the projection and made DuckDB parse every line
    # twice.  The strict statement (the block's first try) has no filter at all: DuckDB pushed
    # ``time_ns IS NOT NULL`` below the projections and computed the times and integer checks
    # twice (~8 % of the flows route); such a line fails the statement instead, as malformed JSON
    # does, and the block is taken again with the filter (see ingest_block).
    loadable = f"_present AND NOT coalesce({' OR '.join(odd) or 'false'}, false)"

    def rows(parse: str, strict: bool) -> str:
        time = (f"CASE WHEN {loadable} THEN coalesce({time_ns}, error('{_NOT_ROUTED}')) ELSE error('{_NOT_ROUTED}') END"
                if strict else f"CASE WHEN {loadable} THEN {time_ns} END")
        select = ", ".join(f"{time if k == 'time_ns' else e} AS {q(k)}" for k, e in typed.items())
        # one projection per layer of named values; the columns read ``x`` directly
        sql = (f"SELECT line, byte_offset, file, event_id, {parse}(json_transform(raw, '{spec.structure}')) AS x "
               f"FROM _block WHERE route = {number}")
        for layer in spec.layers:
            named = ", ".join(f"{spec.rewrite(e)} AS {n}" for n, e in layer.items())
            sql = f"SELECT *, {named} FROM ({sql})"
        columns = lookups.join(f"SELECT {', '.join(inner)} FROM ({sql})")
        return f"SELECT {select} FROM ({columns})"

    ok = "time_ns IS NOT NULL"
    missed = f"SELECT file, line FROM ({rows('TRY', False)}) WHERE NOT ({ok})"  # noqa: S608
    excluded = _excluded(spec.excludes)
    return Route(spec.source, f"starts_with(raw, '{spec.prefix}')", excluded,
                 _insert(table, cols, rows("", True), "true"), _insert(table, cols, rows("TRY", False), ok), missed)


ROUTES = [_route(i, spec) for i, spec in enumerate(sources.routes(), start=1)]
#: Off: every line takes the general path (the tests compare both paths row by row).
USE_ROUTES = True
#: Which route (1-based; 0: the general path) each record of the block is for, in block order
#: (the case does not preserve insertion order: without ORDER BY, a block of several record
#: batches came back in another order and the mask went to the wrong lines).
#: (Nested CASEs: the exclusions, which scan the whole line, run only on lines with the prefix.)
_ROUTE_OF = "SELECT CASE WHEN NOT fast THEN 0 " + " ".join(
    f"WHEN {r.prefix} THEN CASE WHEN {r.excluded} THEN 0 ELSE {i} END" for i, r in enumerate(ROUTES, start=1)
) + " ELSE 0 END AS route FROM _block ORDER BY rec"


#: Rows per Arrow record batch handed to DuckDB (one batch is one unit of parallel work): DuckDB's
#: vector size, so that every vector its expressions run over is full (1024 cost the flows route
#: ~5 % more CPU: per-vector work, the label lambdas above all, was paid twice as often).
_BATCH_ROWS = 2048


@dataclass
class BlockCounts:
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    blank: int = 0
    sources: tuple[str, ...] = ()
    #: Lines taken for some source's events, loaded or not (a file of them is an export).
    recognised: int = 0
    input_bytes: int = 0
    #: What the load changed in the events it stored, and in how many: message -> count.
    warnings: dict[str, int] = field(default_factory=dict)
    #: Lines the block's records add to the file's accounting: a line holding several events (a
    #: webhook batch) counts as one line per event (see :mod:`kernelsec_nb.store._split`).
    split_lines: int = 0
    #: A route met lines it could not load (the loader takes the file's next block leniently).
    odd: bool = False


class _Malformed(Exception):
    """A strict route met a line that is not valid JSON (its statement failed)."""


def ingest_block(con: duckdb.DuckDBPyConnection, table: pa.Table, file: str, *,
                 routes: bool = True, known: KnownIds | None = None,
                 settle: Callable[[], None] = lambda: None, strict: bool = True) -> BlockCounts:
    """Parse one block of the file ``file`` and insert its rows; returns what happened to its
    lines (see :func:`ingest_files`, of which this is the one-file case)."""
    return ingest_files(con, table, [(file, table.num_rows)], routes=routes, known=known,
                        settle=settle, strict=strict)[0]


def ingest_files(con: duckdb.DuckDBPyConnection, table: pa.Table, files: list[tuple[str, int]], *,
                 routes: bool | Sequence[bool] = True, known: KnownIds | None = None,
                 settle: Callable[[], None] = lambda: None, strict: bool = True) -> list[BlockCounts]:
    """Parse one block and insert its rows; returns what happened to the lines of each file.

    The block holds the records of the ``files`` (name, number of records), one after the
    other (several small files are loaded as one block: the statements' planning is paid once);
    every row written names its record's file (the column ``file``), and the counts are told
    per file.  A record of a later file with the id of an earlier one's is its duplicate, as
    when the files are loaded one after the other.

    With ``routes`` (NDJSON blocks: one record per line; per file, or for all) and the case's
    ``known`` ids, lines a fast route recognises, and that are certainly new, are inserted by it
    first; the rest go through the general staging statement, which also tells duplicates.

    Routes parse without ``TRY`` (a tenth faster) and without a filter.  A malformed line, or one
    a route cannot load (no valid time, a value the load must warn about), fails their statement,
    which aborts the transaction: the block is then rolled back and taken again with ``TRY`` and
    the filter, so **the block must be the only work of the open transaction** (the loader
    commits after each block).  Without ``strict`` the routes take the block leniently at once:
    the loader asks so for the block after one with such lines (``BlockCounts.odd``), so that a
    file with odd lines scattered through it does not pay the routes twice per block.
    ``settle()`` is called before the general path checks ids against the case: the loader's
    earlier blocks, committed in the background, must be visible to ``con`` by then (see
    :meth:`kernelsec_nb.store._commits.BlockCommits.refresh`).
    """
    names = [name for name, _ in files]
    sizes = [n for _, n in files]
    table = table.append_column("file", _arrow.repeated_text(names, sizes))
    table = table.append_column("file_no", _arrow.array(np.repeat(np.arange(len(files), dtype=np.int64), sizes)))
    before = _per_file(table, "repeat_count", len(files))
    table, split_lines = split_records(table, sources.splitters())
    batch = _BlockFiles(names, _arrow.to_numpy(table.column("file_no")))
    table = table.drop_columns(["file_no"])
    table = table.append_column("rec", _arrow.array(np.arange(table.num_rows, dtype=np.int64)))
    # Several record batches (zero-copy slices), so that DuckDB parses them on every core.
    table = pa.Table.from_batches(table.to_batches(max_chunksize=_BATCH_ROWS))
    counts = batch.counts
    nbytes = _per_file(table, "raw_bytes", len(files), batch.file_no)
    added = _per_file(table, "repeat_count", len(files), batch.file_no) - before if split_lines else before * 0
    for c, b, a in zip(counts, nbytes.tolist(), added.tolist(), strict=True):
        c.input_bytes, c.split_lines = b, a
    keys = _arrow.to_numpy(table.column("key")) if known is not None else None
    routed = np.asarray([routes] * len(files) if isinstance(routes, bool) else routes, dtype=bool)
    fast = routed.any() and USE_ROUTES and known is not None and table.num_rows
    taken = None
    if fast:
        maybe_known = known.contains(keys)
        # a run of identical lines (repeat_count > 1) takes the general path, which counts its copies
        # (numpy, not a pyarrow scalar: pyarrow.scalar() imports pandas, ~0.35 s and ~50 MB a load)
        clean = pc.and_(pc.is_null(table.column("note")), pc.invert(table.column("repeat")))
        single = _arrow.to_numpy(table.column("repeat_count")) == 1
        ok = _arrow.to_numpy(clean) & single & ~maybe_known & routed[batch.file_no]
        block = table.append_column("fast", _arrow.array(ok))
        try:
            taken = _with_block(con, block, lambda: _fast_routes(con, batch, block, strict))
        except _Malformed:
            con.execute("ROLLBACK")
            con.execute("BEGIN TRANSACTION")
            batch.odd()
            taken = _with_block(con, block, lambda: _fast_routes(con, batch, block, False))
    if taken is None or not taken.all():
        rest = taken if taken is not None else np.zeros(table.num_rows, dtype=bool)
        # the general path reads only the lines the routes did not take
        block = table.append_column("taken", _arrow.array(rest))
        block = _dupkeys.mark(con, block)  # a line with a key twice: a note, so quarantined
        block = _with_block(con, block, lambda: _grouped(con, block))
        settle()
        refused = _with_block(con, block, lambda: _general(con, batch))
        if keys is not None and len(refused):  # refused lines are not in the case: not known
            keep = np.ones(len(keys), dtype=bool)
            keep[refused] = False
            keys = keys[keep]
    if known is not None and keys is not None:
        # a superset of the new ids (duplicates too; the general path checks ids exactly), without
        # the refused lines, so that millions of junk lines do not grow the set
        known.add(keys)
    return counts


def _per_file(table: pa.Table, column: str, files: int, file_no: np.ndarray | None = None) -> np.ndarray:
    """The sum of the number ``column`` over each file's records."""
    which = _arrow.to_numpy(table.column("file_no")) if file_no is None else file_no
    return np.bincount(which, weights=_arrow.to_numpy(table.column(column)), minlength=files).astype(np.int64)


class _BlockFiles:
    """The files of a block: each record's file (``file_no``, an index into ``names``) and each
    file's counts."""

    def __init__(self, names: list[str], file_no: np.ndarray) -> None:
        self.names = names
        self.index = {name: i for i, name in enumerate(names)}
        self.file_no = file_no
        self.counts = [BlockCounts() for _ in names]

    def odd(self) -> None:
        for c in self.counts:
            c.odd = True


def _with_block(con: duckdb.DuckDBPyConnection, block: pa.Table, run: Callable[[], T]) -> T:
    """``run()`` with ``block`` registered as ``_block``."""
    con.register("_block", block)
    try:
        return run()
    finally:
        try:
            con.unregister("_block")
        except duckdb.TransactionException:  # a failed statement aborted the transaction: the
            pass  # rollback that must follow drops the registration with it


def _fast_routes(con: duckdb.DuckDBPyConnection, batch: _BlockFiles, block: pa.Table, strict: bool) -> np.ndarray | None:
    """Run the routes that have lines in the registered ``block``; returns the mask of lines they
    inserted, None when no route ran.  Every line a route inserted is loaded (routes take only
    single lines whose ids are certainly new): each file counts its own, once all routes ran."""
    route = np.asarray(con.execute(_ROUTE_OF).fetchnumpy()["route"], dtype=np.int64)
    route = _dupkeys.unroute(con, block, route)  # a key twice: the general path quarantines the line
    wanted = np.bincount(route, minlength=len(ROUTES) + 1)
    if not wanted[1:].any():
        return None
    # the routes read their lines by this mask (in block order: see _ROUTE_OF)
    con.register("_block", block.append_column("route", _arrow.array(route)))
    taken = route > 0
    odd = False
    for i, r in enumerate(ROUTES, start=1):
        if not wanted[i]:
            continue
        try:
            inserted = con.execute(r.insert if strict else r.insert_try).fetchall()[0][0]
        except duckdb.InvalidInputException as exc:
            if not strict:
                raise
            raise _Malformed(str(exc)) from exc
        if inserted < wanted[i]:  # lines the route could not load: the general path says why
            odd = True
            missed = con.execute(r.missed).fetchnumpy()
            at = np.array([batch.index[f] for f in missed["file"]], dtype=np.int64)
            lines = _arrow.to_numpy(block.column("line"))
            taken &= ~np.isin((batch.file_no << 40) + lines, (at << 40) + np.asarray(missed["line"], dtype=np.int64))
    loaded = np.bincount(batch.file_no[taken], minlength=len(batch.names))
    for i, r in enumerate(ROUTES, start=1):
        if wanted[i]:
            for k in np.unique(batch.file_no[taken & (route == i)]).tolist():
                batch.counts[k].sources = tuple(sorted({*batch.counts[k].sources, r.source}))
    for c, n in zip(batch.counts, loaded.tolist(), strict=True):
        c.loaded += n
        c.odd = c.odd or odd
    return taken


def _grouped(con: duckdb.DuckDBPyConnection, block: pa.Table) -> pa.Table:
    """The registered ``block`` with the column ``grp``: the group of each line the routes did not
    take (-1: taken), told once for the block (see :data:`_GROUP_OF`); as it is without groups."""
    if _GROUP_OF is None:
        return block
    grp = con.execute(_GROUP_OF).fetchnumpy()["grp"]
    return block.append_column("grp", _arrow.array(np.asarray(grp, dtype=np.int64)))


def _general(con: duckdb.DuckDBPyConnection, batch: _BlockFiles) -> np.ndarray:
    """Stage, insert and count the records the routes did not take (a run of identical lines is
    one record of ``repeat_count`` lines), group by group of sources present; returns the block
    indices (``rec``) of the records refused (quarantined or blank)."""
    if _GROUP_OF is None:
        return _general_group(con, batch, GROUPS[0])
    present = sorted(k for (k,) in con.execute("SELECT DISTINCT grp FROM _block WHERE NOT taken").fetchall())
    refused = [_general_group(con, batch, GROUPS[k]) for k in present]
    return np.concatenate(refused) if refused else np.empty(0, dtype=np.int64)


def _general_group(con: duckdb.DuckDBPyConnection, batch: _BlockFiles, group: Group) -> np.ndarray:
    """The general path of the lines of one group (see :func:`_general`)."""
    con.execute(group.stage)
    con.execute(_MARK_SQL)
    con.execute(_NEW_VIEW)
    for sql in group.inserts:
        con.execute(sql)
    con.execute(INSERT_QUARANTINE)
    refusing = False
    for file, blank, quarantined, loaded, lines, srcs, recognised in con.execute(_COUNT_SQL).fetchall():
        c = batch.counts[batch.index[file]]
        c.recognised += recognised
        c.loaded += loaded
        c.duplicates += lines - loaded - quarantined - blank
        c.quarantined += quarantined
        c.blank += blank
        c.sources = tuple(sorted(set(c.sources) | set(srcs or ())))
        refusing = refusing or bool(quarantined or blank)
    for file, message, times in con.execute(_WARNINGS_COUNT).fetchall():
        warnings = batch.counts[batch.index[file]].warnings
        warnings[message] = warnings.get(message, 0) + times
    if not refusing:
        return np.empty(0, dtype=np.int64)
    return np.asarray(con.execute(_REFUSED_SQL).fetchnumpy()["rec"], dtype=np.int64)
