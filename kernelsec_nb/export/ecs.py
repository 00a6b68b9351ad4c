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
  ``file``, ``line`` …): ECS's place for fields of one's own.

Examples
--------
>>> doc = document({"time_ns": 0, "kind": "process_exec", "source": "tetragon", "exec_id": "e1",
...                 "binary": "/bin/sh", "args": "-c 'id; ls'", "pid": 7})
>>> doc["process"]["args"], doc["event"]["category"]
(['/bin/sh', '-c', 'id; ls'], ['process'])
"""

from __future__ import annotations

import posixpath
import shlex
from pathlib import Path
from typing import Any

from kernelsec_nb.export import Exporter, register
from kernelsec_nb.export._jsonl import iso_utc, time_column, write_lines
from kernelsec_nb.export._source import select
from kernelsec_nb.sources import table_sources

#: Column → ECS field, for columns copied as they are.
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
_KEYWORDS = ("uid",)  # ECS keyword fields our tables hold as integers: written as strings
#: The source of a row of a table without a ``source`` column: the one source whose events go there.
_TABLE_SOURCE = {t: names[0] for t in ("flows", "alerts") if len(names := table_sources(t)) == 1}


def _put(doc: dict[str, Any], dotted: str, value: Any) -> None:
    if value is None:
        return
    *parents, leaf = dotted.split(".")
    for p in parents:
        doc = doc.setdefault(p, {})
    doc.setdefault(leaf, value)


def split_args(args: str) -> list[str]:
    """Arguments split as a shell would; on unbalanced quotes, at spaces.

    >>> split_args('-c "echo hi" x'), split_args("it's")
    (['-c', 'echo hi', 'x'], ["it's"])
    """
    try:
        return shlex.split(args)
    except ValueError:
        return args.split()


def _categories(row: dict[str, Any], kind: str) -> tuple[str, list[str], list[str]]:
    """``event.kind``, ``event.category``, ``event.type`` of a row."""
    if kind == "alert" or "rule" in row and "priority" in row and row.get("rule"):
        return "alert", ["intrusion_detection"], ["info"]
    if kind == "flow" or "verdict" in row and kind == "":
        verdict = str(row.get("verdict") or "").upper()
        types = ["connection"] + (["denied"] if verdict in ("DROPPED", "DENIED", "ERROR") else
                                  ["allowed"] if verdict in ("FORWARDED", "REDIRECTED", "TRANSLATED") else [])
        return "event", ["network"] + (["web"] if row.get("http_method") else []), types
    if kind == "process_exec" or (kind == "" and "start_ns" in row):
        return "event", ["process"], ["start"]
    if kind == "process_exit":
        return "event", ["process"], ["end"]
    if kind == "process_loader":
        return "event", ["library"], ["start"]
    cats = ["process"]
    if row.get("daddr") or row.get("dst_ip"):
        cats.append("network")
    if row.get("file_path"):
        cats.append("file")
    return "event", cats, ["connection"] if "network" in cats else ["info"]


def document(row: dict[str, Any], time_col: str = "time_ns", table: str = "events") -> dict[str, Any] | None:
    """The ECS document of one row, or None when it has no time."""
    ns = row.get(time_col)
    if ns is None:
        return None
    kind = str(row.get("kind") or "")
    doc: dict[str, Any] = {"@timestamp": iso_utc(ns)}
    message = row.get("summary") or row.get("output")
    if message:
        doc["message"] = message
    ev_kind, cats, types = _categories(row, kind)
    source = row.get("source") or _TABLE_SOURCE.get(table) or ("tetragon" if row.get("exec_id") else None)
    _put(doc, "event.kind", ev_kind)
    _put(doc, "event.category", cats)
    _put(doc, "event.type", types)
    _put(doc, "event.module", source)
    _put(doc, "event.dataset", source)
    for col, field in FIELDS.items():
        value = row.get(col)
        _put(doc, field, str(value) if col in _KEYWORDS and value is not None else value)
    binary = row.get("binary")
    args = row.get("args")
    if binary:
        _put(doc, "process.name", posixpath.basename(str(binary)))
    _put(doc, "process.name", row.get("proc_name"))  # Falco's name of the process (not a path)
    if binary or args:
        argv = ([str(binary)] if binary else []) + (split_args(str(args)) if args else [])
        _put(doc, "process.args", argv)
        _put(doc, "process.args_count", len(argv))
        _put(doc, "process.command_line", " ".join(str(x) for x in (binary, args) if x))
    elif row.get("cmdline"):
        _put(doc, "process.command_line", row["cmdline"])
    if row.get("pod") or row.get("namespace"):
        _put(doc, "orchestrator.type", "kubernetes")
        _put(doc, "orchestrator.resource.type", "pod")
    if row.get("protocol"):
        _put(doc, "network.transport", str(row["protocol"]).lower())
    l7 = row.get("l7_type") or ("http" if row.get("http_method") else "dns" if row.get("dns_query") else None)
    _put(doc, "network.protocol", l7.lower() if l7 else None)
    if row.get("priority"):
        _put(doc, "log.level", str(row["priority"]).lower())
    tags = row.get("team_tags")
    if tags:
        doc["tags"] = list(tags)
    extra = {k: v for k, v in row.items() if v is not None and k not in FIELDS and k not in _USED}
    for k in ("verdict", "source", "priority", "time_ns", "start_ns"):
        if row.get(k) is not None:
            extra[k] = row[k]
    if extra:
        doc["kernelsec"] = extra
    return doc


def write(case: Any, path: Path, **source: Any) -> dict[str, Any]:
    """Write the source (default: every event) as ECS NDJSON to ``path``."""
    with select(case, **source) as src:
        col = time_column(src)
        counts = write_lines(case.con, src, path, lambda row: document(row, col, src.name))
    return {"format": "ecs", "path": str(path), **counts, "files": [str(path)]}


EXPORTER = register(Exporter("ecs", "ECS NDJSON for Elastic (@timestamp, event.*, process.*, …)", write))
