"""Timesketch JSONL: one event a line with ``message``, ``datetime``, ``timestamp_desc``.

Each line also has ``timestamp`` (microseconds since the epoch), ``tag`` (the team's tags,
``case.tag``) and every column of the row under its own name (``event_id``, ``node``, ``pod``,
``exec_id``, ``binary``, ``args``, ``verdict`` …; times as ISO strings, maps as objects, a value
the row lacks as ``null``), so a sketch can be filtered on them.  ``datetime`` is ISO-8601 UTC
with microseconds (the exported nanoseconds are in ``time_ns``).  ``timestamp_desc`` says what
the time is: ``Process Exec``, ``Process Exit``, ``Kernel Hook``, ``Flow Observed``, ``Alert
Raised``, ``Process Start`` (a ``processes`` row) or ``Event Time``.  A row without a time is
left out and counted (``without_time``).  Upload with ``timesketch_importer`` or the web UI
(``.jsonl``).

The lines are written by DuckDB (``COPY … (FORMAT JSON)``), streamed: the documents are built in
SQL (:func:`document_sql`), each value a column of the case or a constant of this module.

Examples
--------
>>> import duckdb
>>> body = document_sql(["time_ns", "kind", "pod", "summary"], {}, "time_ns")
>>> duckdb.sql(f"SELECT {body} FROM (SELECT 0 AS time_ns, 'flow' AS kind, 'web' AS pod, "
...            "'a -> b' AS summary)").fetchall()[0][:4]
('[flow] web a -> b', '1970-01-01T00:00:00.000000+00:00', 0, 'Flow Observed')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kernelsec_nb.export import Exporter, register
from kernelsec_nb.export._copy import copy
from kernelsec_nb.export._jsonl import time_column
from kernelsec_nb.export._source import Source, select

_DESC = {"process_exec": "Process Exec", "process_exit": "Process Exit", "process_kprobe": "Kernel Hook",
         "process_tracepoint": "Kernel Hook", "process_uprobe": "Kernel Hook", "process_lsm": "Kernel Hook",
         "flow": "Flow Observed", "alert": "Alert Raised"}
#: Field names Timesketch gives a meaning to: a column of ours with one of them is renamed ``kn_<name>``.
_RESERVED = ("message", "datetime", "timestamp", "timestamp_desc", "tag", "__ts_timeline_id")
_ISO = "'%Y-%m-%dT%H:%M:%S.%f+00:00'"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(columns: list[str], *names: str) -> list[str]:
    """The non-empty text of those of ``names`` the source has."""
    return [f"nullif({_q(n)}::VARCHAR, '')" for n in names if n in columns]


def document_sql(columns: list[str], types: dict[str, str], time_col: str) -> str:
    """The SELECT list of one Timesketch event per row of a source with ``columns``.

    ``message``: ``[kind] namespace/pod summary`` (the node when there is no pod; the command or
    the rule when there is no summary).
    """
    what = _text(columns, "kind") + (["'process'"] if time_col == "start_ns" else []) + \
        _text(columns, "source") + ["'event'"]
    pod = f"nullif(concat_ws('/', {', '.join(_text(columns, 'namespace', 'pod'))}), '')" \
        if _text(columns, "namespace", "pod") else "NULL"
    where = f"coalesce({', '.join([pod, *_text(columns, 'node')])})"
    command = f"nullif(concat_ws(' ', {', '.join(_text(columns, 'binary', 'args'))}), '')" \
        if _text(columns, "binary", "args") else "NULL"
    detail = f"coalesce({', '.join([*_text(columns, 'summary'), command, *_text(columns, 'rule')])})"
    message = f"concat_ws(' ', '[' || coalesce({', '.join(what)}) || ']', {where}, {detail})"
    if time_col == "start_ns":
        desc = "'Process Start'"
    elif "kind" in columns:
        cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _DESC.items())
        desc = f"CASE kind {cases} ELSE 'Event Time' END"
    else:
        desc = "'Event Time'"
    tags = "coalesce(team_tags, [])" if "team_tags" in columns else "[]::VARCHAR[]"
    t = _q(time_col)
    parts = [f"{message} AS message",
             f"strftime(make_timestamp({t} // 1000), {_ISO}) AS datetime",
             f"{t} // 1000 AS \"timestamp\"", f"{desc} AS timestamp_desc", f"{tags} AS tag"]
    for col in columns:
        if col == "team_tags":
            continue
        name = _q(f"kn_{col}" if col in _RESERVED else col)
        value = f"strftime({_q(col)}, {_ISO})" if types.get(col, "").startswith("TIMESTAMP") else _q(col)
        parts.append(f"{value} AS {name}")
    return ", ".join(parts)


def write(case: Any, path: Path, **source: Any) -> dict[str, Any]:
    """Write the source (default: every event) as Timesketch JSONL to ``path``."""
    with select(case, **source) as src:
        col = time_column(src)
        rel = case.con.sql(src.sql, params=src.params or None)
        types = {n: str(t) for n, t in zip(rel.columns, rel.types, strict=True)}
        body = document_sql(src.columns, types, col)
        docs = Source(src.name, f"SELECT {body} FROM ({src.sql}) WHERE {_q(col)} IS NOT NULL",  # noqa: S608
                      src.params, src.columns)
        rows = copy(case.con, docs, path, "FORMAT JSON")
        missing = case.con.execute(f"SELECT count(*) FROM ({src.sql}) WHERE {_q(col)} IS NULL",  # noqa: S608
                                   src.params).fetchall()[0][0]
    return {"format": "timesketch", "path": str(path), "rows": rows, "without_time": int(missing),
            "files": [str(path)]}


EXPORTER = register(Exporter("timesketch", "Timesketch JSONL (message, datetime, timestamp_desc, tag)", write))
