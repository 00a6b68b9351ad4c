"""ECS-style NDJSON for Elastic: one document a line with Elastic Common Schema field names.

What each column becomes (ECS 8 names; nested objects, not dotted keys):

* ``@timestamp`` (ISO-8601 UTC, microseconds), ``message`` (the summary, a Falco ``output``);
* ``event.kind`` (``alert`` for Falco, else ``event``), ``event.category`` and ``event.type``
  (``process``/``start`` for an exec, ``process``/``end`` for an exit, ``network``/``connection``
  plus ``allowed`` or ``denied`` for a flow, ``intrusion_detection``/``info`` for an alert …),
  ``event.action`` (the kind, e.g. ``process_exec``), ``event.id`` (``event_id``),
  ``event.module``/``event.dataset`` (tetragon, hubble, falco);
* ``process.entity_id`` (``exec_id``), ``process.parent.entity_id`` (``parent_exec_id``),
  ``process.executable`` (``binary``), ``process.name``, ``process.command_line`` (binary and
  args as exported), ``process.args`` (the executable and the arguments, split like a shell
  would; Tetragon exports them as one string, so ``command_line`` is the exact text),
  ``process.args_count``, ``process.pid``, ``process.parent.pid``, ``user.id``, ``user.name``;
* ``container.id``, ``container.name``, ``container.image.name``, ``orchestrator.type``
  (kubernetes), ``orchestrator.resource.type`` (pod), ``orchestrator.resource.name`` (pod),
  ``orchestrator.namespace``, ``orchestrator.cluster.name``, ``host.name`` (node);
* ``source.ip``/``source.port``, ``destination.ip``/``destination.port`` (a flow's endpoints, a
  socket hook's ``saddr``/``daddr``), ``network.transport`` (``tcp``, ``udp`` …),
  ``network.protocol`` (``http``, ``dns``), ``url.path``, ``url.original``,
  ``http.request.method``, ``http.response.status_code``, ``dns.question.name``, ``file.path``;
* ``rule.name`` and ``log.level`` (Falco's rule and priority), ``tags`` (the team's tags);
* every other column of the row under ``kernelsec.<column>`` (``verdict``, ``workload``,
  ``file``, ``line`` …): ECS's place for fields of one's own; times there as ISO-8601 UTC with
  microseconds, maps as objects, lists as arrays.

A field the row has no value for is left out (never ``null``), and so is an object left empty.

The documents are built in SQL (:func:`document_sql`), each value a column of the case or a
constant of this module, as JSON text DuckDB writes (``to_json``); Python only writes the lines,
batch by batch.  The one step SQL has no function for, splitting the arguments as a shell would,
is a vectorised function of DuckDB's (:func:`split_args` on each distinct argument string of a
batch of rows).  Before this, each document was built by Python, row by row: ~44x the time of
reading the table whole; benchmarks/RESULTS.md has the figures.

Examples
--------
>>> doc = document({"time_ns": 0, "kind": "process_exec", "source": "tetragon", "exec_id": "e1",
...                 "binary": "/bin/sh", "args": "-c 'id; ls'", "pid": 7})
>>> doc["process"]["args"], doc["event"]["category"]
(['/bin/sh', '-c', 'id; ls'], ['process'])
"""

from __future__ import annotations

import itertools
import json
import shlex
import threading
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from kernelsec_nb.export import Exporter, register
from kernelsec_nb.export._jsonl import time_column, write_text_lines
from kernelsec_nb.export._source import Source, select
from kernelsec_nb.sources import table_sources

#: Column → ECS field, for columns copied as they are (the first column present with a value
#: wins a field two columns map to).
FIELDS = {
    "event_id": "event.id", "kind": "event.action",
    "exec_id": "process.entity_id", "parent_exec_id": "process.parent.entity_id",
    "binary": "process.executable", "pid": "process.pid", "ppid": "process.parent.pid",
    "parent_pid": "process.parent.pid", "parent_binary": "process.parent.executable",
    "cwd": "process.working_directory", "uid": "user.id", "user_name": "user.name",
    "container_id": "container.id", "container_name": "container.name", "image": "container.image.name",
    "pod": "orchestrator.resource.name", "namespace": "orchestrator.namespace",
    "cluster": "orchestrator.cluster.name", "node": "host.name",
    "src_ip": "source.ip", "src_port": "source.port", "dst_ip": "destination.ip", "dst_port": "destination.port",
    "saddr": "source.ip", "sport": "source.port", "daddr": "destination.ip", "dport": "destination.port",
    "http_path": "url.path", "http_url": "url.original", "http_method": "http.request.method",
    "http_code": "http.response.status_code", "dns_query": "dns.question.name", "file_path": "file.path",
    "rule": "rule.name",
}
#: Columns used to build other fields (not copied to ``kernelsec.*``).
_USED = {"time_ns", "time", "summary", "output", "args", "cmdline", "proc_name", "protocol", "priority",
         "team_tags", "source", "verdict", "l7_type", "start_ns", "start_time"}
#: Columns of ``_USED`` also kept under ``kernelsec.*``.
_KEPT = ("verdict", "source", "priority", "time_ns", "start_ns")
_KEYWORDS = ("uid",)  # ECS keyword fields our tables hold as integers: written as strings
#: The source of a row of a table without a ``source`` column: the one source whose events go there.
_TABLE_SOURCE = {t: names[0] for t in ("flows", "alerts") if len(names := table_sources(t)) == 1}
_ISO = "'%Y-%m-%dT%H:%M:%S.%f+00:00'"
_DENIED = ("DROPPED", "DENIED", "ERROR")
_ALLOWED = ("FORWARDED", "REDIRECTED", "TRANSLATED")
_ARGV = "_kn_argv"  # the column holding the split arguments, added to the source's
_names = itertools.count()
_lock = threading.Lock()


def split_args(args: str) -> list[str]:
    """Arguments split as a shell would; on unbalanced quotes, at spaces.

    >>> split_args('-c "echo hi" x'), split_args("it's")
    (['-c', 'echo hi', 'x'], ["it's"])
    """
    try:
        return shlex.split(args)
    except ValueError:
        return args.split()


def _split_batch(args: pa.Array | pa.ChunkedArray) -> pa.Array:
    """:func:`split_args` of a batch of argument strings, once per distinct string (DuckDB's
    vectorised function: a command repeated in many rows is split once)."""
    if isinstance(args, pa.ChunkedArray):
        args = args.combine_chunks()
    codes = pc.dictionary_encode(args)
    argv = pa.array([split_args(a) for a in codes.dictionary.to_pylist()], pa.list_(pa.string()))
    return pc.take(argv, codes.indices)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Columns:
    """SQL of the columns a source has (a column it lacks is NULL)."""

    def __init__(self, columns: list[str], types: dict[str, str]) -> None:
        self.columns, self.types = columns, types

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def col(self, name: str) -> str:
        return _q(name) if name in self.columns else "NULL"

    def text(self, name: str) -> str:
        return f"{_q(name)}::VARCHAR" if name in self.columns else "NULL::VARCHAR"

    def truthy(self, name: str) -> str:
        """Whether the row's value is true for Python (present, not empty, not zero)."""
        if name not in self.columns:
            return "false"
        q, t = _q(name), self.types.get(name, "")
        if t == "VARCHAR":
            return f"coalesce({q} <> '', false)"
        if t == "BOOLEAN":
            return f"coalesce({q}, false)"
        if t.endswith("[]"):
            return f"coalesce(len({q}) > 0, false)"
        if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                 "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE") or t.startswith("DECIMAL"):
            return f"coalesce({q} <> 0, false)"
        return f"({q} IS NOT NULL)"

    def json(self, name: str) -> str:
        """The JSON text of a column's value (times as ISO-8601 UTC, durations in seconds)."""
        q, t = _q(name), self.types.get(name, "")
        if t.startswith("TIMESTAMP"):
            return f"to_json(strftime({q}, {_ISO}))"
        if t == "INTERVAL":
            return f"to_json(epoch({q}))"
        return f"to_json({q})"


def _fields(c: _Columns, time_col: str, table: str) -> list[tuple[tuple[str, ...], str]]:
    """Each ECS field (its path) and the JSON text of its value, in the order they are set."""
    out: list[tuple[tuple[str, ...], str]] = []

    def put(field: str | tuple[str, ...], json_text: str) -> None:
        out.append((tuple(field.split(".")) if isinstance(field, str) else field, json_text))

    put("@timestamp", f"to_json(strftime(make_timestamp({_q(time_col)} // 1000), {_ISO}))")
    message = [f"nullif({c.text(n)}, '')" for n in ("summary", "output") if n in c]
    if message:
        put("message", f"to_json(coalesce({', '.join(message)}))")
    kind = f"coalesce({c.text('kind')}, '')"
    alert = f"{kind} = 'alert'" + (f" OR {c.truthy('rule')}" if "rule" in c and "priority" in c else "")
    flow = f"{kind} = 'flow'" + (f" OR {kind} = ''" if "verdict" in c else "")
    start = f"{kind} = 'process_exec'" + (f" OR {kind} = ''" if "start_ns" in c else "")
    net = f"({c.truthy('daddr')} OR {c.truthy('dst_ip')})"
    verdict = f"upper(coalesce({c.text('verdict')}, ''))"
    none = "[]::VARCHAR[]"
    put("event.kind", f"to_json(CASE WHEN {alert} THEN 'alert' ELSE 'event' END)")
    put("event.category", f"""to_json(CASE WHEN {alert} THEN ['intrusion_detection']
        WHEN {flow} THEN list_concat(['network'], CASE WHEN {c.truthy('http_method')} THEN ['web'] ELSE {none} END)
        WHEN {start} OR {kind} = 'process_exit' THEN ['process']
        WHEN {kind} = 'process_loader' THEN ['library']
        ELSE list_concat(['process'], CASE WHEN {net} THEN ['network'] ELSE {none} END,
                         CASE WHEN {c.truthy('file_path')} THEN ['file'] ELSE {none} END) END)""")
    put("event.type", f"""to_json(CASE WHEN {alert} THEN ['info']
        WHEN {flow} THEN list_concat(['connection'],
            CASE WHEN {verdict} IN {_DENIED} THEN ['denied'] WHEN {verdict} IN {_ALLOWED} THEN ['allowed']
                 ELSE {none} END)
        WHEN {start} OR {kind} = 'process_loader' THEN ['start']
        WHEN {kind} = 'process_exit' THEN ['end']
        WHEN {net} THEN ['connection'] ELSE ['info'] END)""")
    table_source = _lit(_TABLE_SOURCE[table]) if table in _TABLE_SOURCE else "NULL"
    source = (f"to_json(coalesce(nullif({c.text('source')}, ''), {table_source}, "
              f"CASE WHEN {c.truthy('exec_id')} THEN 'tetragon' END))")
    put("event.module", source)
    put("event.dataset", source)
    for col, field in FIELDS.items():
        if col in c:
            put(field, f"to_json({c.text(col)})" if col in _KEYWORDS else c.json(col))
    if "binary" in c:  # the executable's file name; else Falco's name of the process (not a path)
        put("process.name", f"to_json(CASE WHEN {c.truthy('binary')} THEN string_split({c.text('binary')}, '/')[-1] END)")
    if "proc_name" in c:
        put("process.name", c.json("proc_name"))
    has_argv = f"({c.truthy('binary')} OR {c.truthy('args')})"
    if "binary" in c or "args" in c:
        put("process.args", f"CASE WHEN {has_argv} THEN to_json({_q(_ARGV)}) END")
        put("process.args_count", f"CASE WHEN {has_argv} THEN to_json(len({_q(_ARGV)})) END")
    line = (f"concat_ws(' ', CASE WHEN {c.truthy('binary')} THEN {c.text('binary')} END, "
            f"CASE WHEN {c.truthy('args')} THEN {c.text('args')} END)")
    put("process.command_line", f"to_json(CASE WHEN {has_argv} THEN {line} "
                                f"WHEN {c.truthy('cmdline')} THEN {c.text('cmdline')} END)")
    k8s = f"{c.truthy('pod')} OR {c.truthy('namespace')}"
    put("orchestrator.type", f"CASE WHEN {k8s} THEN '\"kubernetes\"' END")
    put("orchestrator.resource.type", f"CASE WHEN {k8s} THEN '\"pod\"' END")
    put("network.transport", f"to_json(CASE WHEN {c.truthy('protocol')} THEN lower({c.text('protocol')}) END)")
    put("network.protocol", f"""to_json(lower(CASE WHEN {c.truthy('l7_type')} THEN {c.text('l7_type')}
        WHEN {c.truthy('http_method')} THEN 'http' WHEN {c.truthy('dns_query')} THEN 'dns' END))""")
    put("log.level", f"to_json(CASE WHEN {c.truthy('priority')} THEN lower({c.text('priority')}) END)")
    if "team_tags" in c:
        put("tags", f"CASE WHEN {c.truthy('team_tags')} THEN to_json({_q('team_tags')}) END")
    own = [n for n in c.columns if n not in FIELDS and n not in _USED] + [n for n in _KEPT if n in c]
    for col in own:
        put(("kernelsec", col), c.json(col))
    return out


def _object(fields: list[tuple[tuple[str, ...], str]]) -> str:
    """SQL of a JSON object's members (NULL when it has none) from (path, JSON text) pairs: a
    field set twice keeps its first value, as does an object's member."""
    tree: dict[str, Any] = {}
    for path, value in fields:
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node.setdefault(path[-1], []).append(value)

    def members(node: dict[str, Any]) -> str:
        parts = []
        for name, sub in node.items():
            key = _lit(json.dumps(name, ensure_ascii=False) + ":")
            if isinstance(sub, dict):
                parts.append(f"{key} || '{{' || {members(sub)} || '}}'")
            else:
                parts.append(f"{key} || {sub[0] if len(sub) == 1 else 'coalesce(' + ', '.join(sub) + ')'}")
        return f"nullif(concat_ws(',', {', '.join(parts)}), '')"

    return members(tree)


def document_sql(columns: list[str], types: dict[str, str], time_col: str = "time_ns",
                 table: str = "events") -> str:
    """The SQL expression of one row's ECS document as JSON text, over a relation with
    ``columns`` (their DuckDB ``types``) and the split arguments in a column ``_kn_argv``."""
    return "'{' || " + _object(_fields(_Columns(columns, types), time_col, table)) + " || '}'"


def _documents(con: Any, src: Source, time_col: str) -> tuple[Source, str]:
    """The source of the documents of ``src``'s rows that have a time, and the name of the
    argument-splitting function it calls (registered on ``con``; removed by the caller)."""
    rel = con.sql(src.sql, params=src.params or None)
    types = {n: str(t) for n, t in zip(rel.columns, rel.types, strict=True)}
    with _lock:
        split = f"_kn_ecs_split_{next(_names)}"
    con.create_function(split, _split_batch, ["VARCHAR"], "VARCHAR[]", type="arrow",
                        null_handling="special")
    argv = f"{split}({_q('args')}::VARCHAR)" if "args" in types else "NULL::VARCHAR[]"
    c = _Columns(src.columns, types)
    binary = c.text("binary")
    argv = (f"list_concat(CASE WHEN {c.truthy('binary')} THEN [{binary}] ELSE []::VARCHAR[] END, "
            f"CASE WHEN {c.truthy('args')} THEN {argv} ELSE []::VARCHAR[] END)")
    sql = (f"SELECT {document_sql(src.columns, types, time_col, src.name)} AS doc "  # noqa: S608 - our SQL
           f"FROM (SELECT *, {argv} AS {_q(_ARGV)} FROM ({src.sql})) WHERE {_q(time_col)} IS NOT NULL")
    return Source(src.name, sql, src.params, ["doc"]), split


def document(row: dict[str, Any], time_col: str = "time_ns", table: str = "events") -> dict[str, Any] | None:
    """The ECS document of one row (a dict of column values), or None when it has no time."""
    if row.get(time_col) is None:
        return None
    con = duckdb.connect()
    try:
        con.register("one_row", pa.Table.from_pylist([row]))
        docs, _ = _documents(con, Source(table, "SELECT * FROM one_row", [], list(row)), time_col)
        return json.loads(con.execute(docs.sql).fetchall()[0][0])
    finally:
        con.close()


def write(case: Any, path: Path, **source: Any) -> dict[str, Any]:
    """Write the source (default: every event) as ECS NDJSON to ``path``."""
    with select(case, **source) as src:
        col = time_column(src)
        docs, split = _documents(case.con, src, col)
        try:
            rows = write_text_lines(case.con, docs, path)
        finally:
            case.con.remove_function(split)
        missing = case.con.execute(f"SELECT count(*) FROM ({src.sql}) WHERE {_q(col)} IS NULL",  # noqa: S608
                                   src.params).fetchall()[0][0]
    return {"format": "ecs", "path": str(path), "rows": rows, "without_time": int(missing),
            "files": [str(path)]}


EXPORTER = register(Exporter("ecs", "ECS NDJSON for Elastic (@timestamp, event.*, process.*, …)", write))
