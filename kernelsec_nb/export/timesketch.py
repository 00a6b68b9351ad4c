"""Timesketch JSONL: one event a line with ``message``, ``datetime``, ``timestamp_desc``.

Each line also has ``timestamp`` (microseconds since the epoch), ``tag`` (the team's tags,
``case.tag``) and every column of the row under its own name (``event_id``, ``node``, ``pod``,
``exec_id``, ``binary``, ``args``, ``verdict`` …; times as ISO strings, maps as objects), so a
sketch can be filtered on them.  ``datetime`` is ISO-8601 UTC with microseconds (the exported
nanoseconds are in ``time_ns``).  ``timestamp_desc`` says what the time is: ``Process Exec``,
``Process Exit``, ``Kernel Hook``, ``Flow Observed``, ``Alert Raised``, ``Process Start`` (a
``processes`` row) or ``Event Time``.  A row without a time is left out and counted
(``without_time``).  Upload with ``timesketch_importer`` or the web UI (``.jsonl``).

Examples
--------
>>> document({"time_ns": 0, "kind": "flow", "summary": "a -> b", "team_tags": ["c2"]})["timestamp_desc"]
'Flow Observed'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kernelsec_nb.export import Exporter, register
from kernelsec_nb.export._jsonl import iso_utc, time_column, write_lines
from kernelsec_nb.export._source import select

_DESC = {"process_exec": "Process Exec", "process_exit": "Process Exit", "process_kprobe": "Kernel Hook",
         "process_tracepoint": "Kernel Hook", "process_uprobe": "Kernel Hook", "process_lsm": "Kernel Hook",
         "flow": "Flow Observed", "alert": "Alert Raised"}
#: Field names Timesketch gives a meaning to: a column of ours with one of them is renamed ``kn_<name>``.
_RESERVED = ("message", "datetime", "timestamp", "timestamp_desc", "tag", "__ts_timeline_id")


def message(row: dict[str, Any]) -> str:
    """One line on the row: what, where and the summary or command (the exported text)."""
    where = "/".join(str(row[k]) for k in ("namespace", "pod") if row.get(k)) or row.get("node") or ""
    what = row.get("kind") or ("process" if "start_ns" in row else row.get("source")) or "event"
    detail = row.get("summary") or " ".join(str(row[k]) for k in ("binary", "args") if row.get(k)) or \
        row.get("rule") or ""
    return " ".join(str(x) for x in (f"[{what}]", where, detail) if x)


def document(row: dict[str, Any], time_col: str = "time_ns") -> dict[str, Any] | None:
    """The Timesketch event of one row, or None when it has no time."""
    ns = row.get(time_col)
    if ns is None:
        return None
    desc = "Process Start" if time_col == "start_ns" else _DESC.get(str(row.get("kind")), "Event Time")
    doc: dict[str, Any] = {"message": message(row), "datetime": iso_utc(ns), "timestamp": int(ns) // 1000,
                           "timestamp_desc": desc, "tag": list(row.get("team_tags") or [])}
    for key, value in row.items():
        if key == "team_tags" or value is None:
            continue
        doc[f"kn_{key}" if key in _RESERVED else key] = value
    return doc


def write(case: Any, path: Path, **source: Any) -> dict[str, Any]:
    """Write the source (default: every event) as Timesketch JSONL to ``path``."""
    with select(case, **source) as src:
        col = time_column(src)
        counts = write_lines(case.con, src, path, lambda row: document(row, col))
    return {"format": "timesketch", "path": str(path), **counts, "files": [str(path)]}


EXPORTER = register(Exporter("timesketch", "Timesketch JSONL (message, datetime, timestamp_desc, tag)", write))
