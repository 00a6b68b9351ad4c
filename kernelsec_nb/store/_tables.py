"""The case's event tables as the sources fill them: which staged rows go to each table, its own
columns (SQL over the parsed line ``j``) and the event-model columns it stores.

Examples
--------
>>> [t.name for t in TABLES][:2]
['process_events', 'kprobes']
>>> q("binary")
'"binary"'
"""

from __future__ import annotations

from dataclasses import dataclass

from kernelsec_nb import sources

EVENT_COLUMNS = [
    "event_id", "source", "kind", "time", "time_ns", "node", "cluster", "namespace", "pod",
    "workload", "container_id", "exec_id", "parent_exec_id", "pid", "uid", "binary", "args",
    "src_ip", "src_port", "dst_ip", "dst_port", "protocol", "verdict", "http_method", "http_path",
    "http_code", "dns_query", "rule", "priority", "summary", "file", "line", "byte_offset",
]


def q(name: str) -> str:
    """Quote a column name (``binary`` is a keyword in DuckDB 2)."""
    return f'"{name}"'


#: The event-model columns a source's events give (``_COMMON`` of the staging statement).
COMMON = [c for c in EVENT_COLUMNS if c not in ("event_id", "source", "kind", "time", "file", "line", "byte_offset")]

# The event model's tables (schema.sql), with the event-model columns each stores; a source may
# add its own (Source.tables).
_TETRAGON_EVENT = ("kind", "time_ns", "node", "cluster", "namespace", "pod", "workload", "container_id",
                   "exec_id", "parent_exec_id", "pid", "uid", "binary", "args", "summary")
_MODEL_TABLES: dict[str, tuple[str, ...]] = {
    "process_events": ("source", *_TETRAGON_EVENT),
    "kprobes": ("source", *_TETRAGON_EVENT),
    "other_events": ("source", *COMMON, "kind"),
    "flows": ("time_ns", "node", "cluster", "verdict", "src_ip", "src_port", "dst_ip", "dst_port",
              "protocol", "summary"),
    "alerts": ("source", "time_ns", "node", "namespace", "pod", "workload", "container_id", "pid"),
}


@dataclass(frozen=True)
class Table:
    """A table of the case: which rows go there, its own columns, and the event-model columns."""

    name: str
    where: str  # over the staged row
    own: dict[str, str]  # its own columns: name -> SQL over ``j`` (CASE source when several map to it)
    event: tuple[str, ...]
    by_source: dict[str, dict[str, str]]  # each mapping source's own columns

    @property
    def staged(self) -> dict[str, str]:
        """Its own column name -> the staged column holding it."""
        return {name: q(f"{self.name}__{name}") for name in self.own}


def table_of(name: str, event: tuple[str, ...], group: tuple[sources.Source, ...] | None = None) -> Table:
    """The table ``name`` as the sources of ``group`` (all of them: None) fill it."""
    maps = [(s.name, m) for s in (group or sources.registry()) for m in s.maps if m.table == name]
    wheres = [f"source = '{src}'" if m.where == "true" else f"source = '{src}' AND {m.where}" for src, m in maps]
    where = (wheres[0] if len(wheres) == 1 else " OR ".join(f"({w})" for w in wheres)) if wheres else "false"
    by_source = {src: m.columns for src, m in maps}
    names = list(dict.fromkeys(c for _, m in maps for c in m.columns))
    own = {c: (by_source[maps[0][0]][c] if len(maps) == 1 else
               "CASE source " + " ".join(f"WHEN '{src}' THEN {cols[c]}" for src, cols in by_source.items()
                                         if c in cols) + " END")
           for c in names}
    return Table(name, where, own, event, by_source)


ALL_TABLES = [*_MODEL_TABLES.items(), *((t.name, t.event) for t in sources.tables())]
TABLES = [table_of(name, event) for name, event in ALL_TABLES]
_unmapped = {m.table for s in sources.registry() for m in s.maps} - {t.name for t in TABLES}
if _unmapped:
    raise ValueError(f"sources map events to tables no source declares: {sorted(_unmapped)}")
