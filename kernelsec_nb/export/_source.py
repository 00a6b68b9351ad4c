"""What an export writes: a table of the case or a query method's result, with the team's tags.

Every source becomes one SQL query on the case connection (a query method's DataFrame is
registered on it for the export), so the writers stream it from DuckDB: ``COPY`` for CSV,
Parquet and Timesketch, Arrow record batches for ECS.  Filter values are parameters.

Examples
--------
>>> import kernelsec_nb as kn
>>> case = kn.open_case()
>>> with select(case, table="flows", verdict="DROPPED") as src:
...     src.name, src.params
('flows', ['DROPPED'])
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kernelsec_nb.store import filters
from kernelsec_nb.store.notes import QUERY_METHODS

#: Tables of the case an export may name (``events`` is the view of every event).
EXPORT_TABLES = ("events", "processes", "process_events", "kprobes", "flows", "alerts", "other_events",
                 "files", "quarantine", "clock_offsets", "annotations", "saved_queries")
#: What a whole-case Parquet export writes: every stored table (not the ``events`` view, which
#: repeats the event tables).
STORED_TABLES = tuple(t for t in EXPORT_TABLES if t != "events")
#: The filter profile of a table, where it has one.
_TABLE_PROFILE = {"events": "events", "processes": "processes", "kprobes": "kprobes", "flows": "flows",
                  "alerts": "alerts"}
_names = itertools.count()
_lock = threading.Lock()


@dataclass
class Source:
    """One query to export: ``sql`` with ``params``, named ``name`` (a file name stem)."""

    name: str
    sql: str
    params: list[Any] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


def _with_tags(con: Any, sql: str, params: list[Any]) -> tuple[str, list[str]]:
    """``sql`` with a ``team_tags`` column (the tags of the row's event and of its process)."""
    columns = list(con.sql(sql, params=params or None).columns)
    parts = []
    if "event_id" in columns:
        parts.append("coalesce(te.tags, [])")
    if "exec_id" in columns:
        parts.append("coalesce(tx.tags, [])")
    if not parts or "team_tags" in columns:
        return sql, columns
    tags = ("SELECT target, list(DISTINCT tag ORDER BY tag) AS tags FROM annotations "
            "WHERE tag IS NOT NULL AND target_kind {} 'exec' GROUP BY target")
    joins = ""
    if "event_id" in columns:
        joins += f" LEFT JOIN ({tags.format('<>')}) te ON te.target = s.event_id"
    if "exec_id" in columns:
        joins += f" LEFT JOIN ({tags.format('=')}) tx ON tx.target = s.exec_id"
    expr = parts[0] if len(parts) == 1 else f"list_sort(list_distinct(list_concat({', '.join(parts)})))"
    return f"SELECT s.*, {expr} AS team_tags FROM ({sql}) s{joins}", [*columns, "team_tags"]  # noqa: S608


@contextlib.contextmanager
def select(case: Any, *, table: str | None = None, method: str | None = None, query: str | None = None,
           tags: bool = True, **flt: Any) -> Iterator[Source]:
    """The :class:`Source` of ``table`` (default ``events``), of a query ``method`` of the case
    (one of :data:`kernelsec_nb.store.notes.QUERY_METHODS`), or of a saved ``query``, filtered.

    A table is read by SQL as it is stored (filters of its profile where it has one: ``events``,
    ``processes``, ``kprobes``, ``flows``, ``alerts``) and streamed in the order the case holds
    its rows (file by file, as loaded: a sort would hold the whole table in memory); a method's
    result (``flows`` attributed to processes, ``alerts`` with their exec …) is computed by the
    method, then written in its order (time).  With ``tags`` a ``team_tags`` column holds the team's tags of the row's event and of
    its process (``case.tag``).
    """
    if sum(x is not None for x in (table, method, query)) > 1:
        raise ValueError("export a table, a method or a saved query, not several")
    if query is not None:
        method, saved = case.saved_query(query)
        flt = {**saved, **flt}
    if method is not None:
        if method not in QUERY_METHODS:
            raise ValueError(f"{method!r} is not a query method; one of {', '.join(QUERY_METHODS)}")
        frame = getattr(case, method)(**flt).with_row_index("_kn_row")
        with _lock:
            name = f"_kn_export_{next(_names)}"
        case.con.register(name, frame.to_arrow())
        try:
            base = f"SELECT * FROM {name}"  # noqa: S608 - our own name
            sql, columns = _with_tags(case.con, base, []) if tags else (base, frame.columns)
            columns = [c for c in columns if c != "_kn_row"]
            yield Source(query or method, f"SELECT * EXCLUDE (_kn_row) FROM ({sql}) ORDER BY _kn_row",  # noqa: S608
                         [], columns)
        finally:
            case.con.unregister(name)
        return
    table = table or "events"
    if table not in EXPORT_TABLES:
        raise ValueError(f"no table {table!r} to export; one of {', '.join(EXPORT_TABLES)}")
    params: list[Any] = []
    cond = "true"
    if flt:
        if table not in _TABLE_PROFILE:
            raise TypeError(f"the {table} table takes no filters (filters apply to "
                            f"{', '.join(_TABLE_PROFILE)})")
        cond, params = filters.where(_TABLE_PROFILE[table], **flt)
    base = f"SELECT * FROM {table} WHERE {cond}"  # noqa: S608 - our own names
    sql, columns = _with_tags(case.con, base, params) if tags else (
        base, list(case.con.sql(base, params=params or None).columns))
    yield Source(table, sql, params, columns)
